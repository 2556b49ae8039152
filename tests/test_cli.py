"""The CLI frame shared by every batch command, exercised through `addrcode normalize`.

Most tests use click's CliRunner; the ones about pipes, exit codes and stdin streaming run the
real console script in a subprocess.
"""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VT_ZONES

from addrcode import __version__
from addrcode.cli import cli

RUNNER = CliRunner()


def run(args, input=None):
    return RUNNER.invoke(cli, args, input=input, catch_exceptions=False)


def addrcode(*args, input=None, env=None):
    """Run the real command in a subprocess (python -m addrcode, same interpreter)."""
    return subprocess.run([sys.executable, "-m", "addrcode", *args], input=input, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def test_version_and_help():
    result = run(["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    result = run(["normalize", "--help"])
    assert result.exit_code == 0 and "--column" in result.output and "--format" in result.output


def test_issue_example_through_a_real_pipe():
    proc = addrcode("normalize", input="637 college street middlebury vermont 05753\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "637 COLLEGE ST, MIDDLEBURY, VT 05753\n"


def test_jsonl_has_components():
    proc = addrcode("normalize", "--format", "jsonl", "637 college street middlebury vermont 05753")
    record = json.loads(proc.stdout)
    assert record["number"] == "637" and record["street"] == "COLLEGE" and record["suffix"] == "ST"
    assert record["city"] == "MIDDLEBURY" and record["state"] == "VT" and record["postcode"] == "05753"
    assert record["status"] == "ok" and record["input"] == "637 college street middlebury vermont 05753"


def test_one_output_line_per_input_line_in_order_with_exit_1_on_rejects():
    lines = ["12 Main St, Barre VT 05641", "", "!!!", "5 Elm Street Montpelier VT"]
    proc = addrcode("normalize", "--format", "jsonl", input="\n".join(lines) + "\n")
    records = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["input"] for r in records] == lines
    assert [r["status"] for r in records] == ["ok", "rejected", "rejected", "ok"]
    assert records[1]["reason"] == "empty input"
    assert proc.returncode == 1
    assert "4 rows, 2 ok, 2 rejected" in proc.stderr


def test_csv_in_csv_out_keeps_columns_and_neutralises(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,address,note\n1,"12 Main St, Barre VT 05641",=HYPERLINK("x")\n2,"5 Elm St, Montpelier VT",ok\n')
    out = tmp_path / "out.csv"
    result = run(["normalize", "-i", str(src), "--column", "address", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["note"].startswith("'=")
    assert rows[0]["addrcode_line"] == "12 MAIN ST, BARRE, VT 05641"
    assert rows[1]["addrcode_status"] == "ok"
    assert list(rows[0])[:3] == ["id", "address", "note"]


def test_component_columns(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("street,town,st,zip\n637 College Street,Middlebury,Vermont,05753\n")
    result = run(["normalize", "-i", str(src), "--street", "street", "--city", "town", "--state", "st",
                  "--postcode", "zip", "--format", "jsonl"])
    record = json.loads(result.stdout.splitlines()[0])
    assert record["addrcode_line"] == "637 COLLEGE ST, MIDDLEBURY, VT 05753"


def test_ragged_rows_rejected_with_line_and_rejects_file(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,address\n1,12 Main St Barre VT\n2\n3,"5 Elm St\n4,9 Oak St Barre VT\n')
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    result = run(["normalize", "-i", str(src), "--column", "address", "-o", str(out), "--rejects", str(rej)])
    assert result.exit_code == 1
    ok_rows = list(csv.DictReader(out.open()))
    bad_rows = list(csv.DictReader(rej.open()))
    assert [r["id"] for r in ok_rows] == ["1", "4"]
    assert [r["id"] for r in bad_rows] == ["2", "3"]
    assert bad_rows[0]["addrcode_reason"].startswith("line 3:")
    assert "line 4" in bad_rows[1]["addrcode_reason"] and "quote" in bad_rows[1]["addrcode_reason"]
    # rows in = rows out + rejects
    assert len(ok_rows) + len(bad_rows) == 4


def test_column_is_guessed_or_asked_for(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,Address\n1,12 Main St Barre VT\n")
    assert run(["normalize", "-i", str(src), "-q"]).exit_code == 0
    src.write_text("id,where\n1,12 Main St Barre VT\n")
    result = RUNNER.invoke(cli, ["normalize", "-i", str(src)])
    assert result.exit_code == 2 and "--column" in result.output
    result = RUNNER.invoke(cli, ["normalize", "-i", str(src), "--column", "nope"])
    assert result.exit_code == 2 and "no column named nope" in result.output


def test_usage_errors_exit_2(tmp_path):
    assert RUNNER.invoke(cli, ["normalize", "-i", str(tmp_path / "missing.csv")]).exit_code == 2
    assert RUNNER.invoke(cli, ["normalize", "--column", "a", "x"]).exit_code == 2
    assert RUNNER.invoke(cli, ["normalize", "--format", "xml", "x"]).exit_code == 2
    assert RUNNER.invoke(cli, ["normalize", "--delimiter", ";;", "-i", "-"], input="a\n").exit_code == 2


def test_empty_csv_is_a_data_error_and_leaves_no_output(tmp_path):
    src = tmp_path / "empty.csv"
    src.write_bytes(b"")
    out = tmp_path / "out.csv"
    result = RUNNER.invoke(cli, ["normalize", "-i", str(src), "-o", str(out)])
    assert result.exit_code == 3 and "empty" in result.output
    assert list(tmp_path.iterdir()) == [src]


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl", "json"])
def test_every_format_has_one_record_per_input(fmt):
    inputs = ["12 Main St Barre VT", "", "5 Elm St Montpelier VT 05602"]
    result = run(["normalize", "--format", fmt, *inputs])
    out = result.stdout
    if fmt == "text":
        n = len(out.splitlines())
    elif fmt == "csv":
        n = len(list(csv.DictReader(io.StringIO(out))))
    elif fmt == "jsonl":
        n = len([json.loads(x) for x in out.splitlines()])
    else:
        n = len(json.loads(out))
    assert n == 3


def test_stdin_csv_with_semicolons_and_bom():
    data = "\ufeffid;address\r\n1;12 Main St, Barre VT\r\n"
    result = run(["normalize", "-i", "-", "--delimiter", ";", "--column", "address", "-q"], input=data.encode())
    rows = list(csv.DictReader(io.StringIO(result.stdout), delimiter=";"))
    assert rows[0]["id"] == "1" and rows[0]["addrcode_status"] == "ok"


def test_closed_pipe_is_quiet(tmp_path):
    lines = "".join(f"{i} Main St Barre VT\n" for i in range(1, 20001))
    proc = subprocess.run(f"{sys.executable} -m addrcode normalize | head -1", shell=True, input=lines,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout == "1 MAIN ST, BARRE, VT\n"
    assert "Traceback" not in proc.stderr


def test_streaming_answers_each_line_before_the_next_arrives():
    proc = subprocess.Popen([sys.executable, "-m", "addrcode", "normalize", "-q"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("12 Main St Barre VT\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "12 MAIN ST, BARRE, VT\n"  # would hang without per-line flush
        proc.stdin.write("5 Elm St Montpelier VT\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "5 ELM ST, MONTPELIER, VT\n"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_record_failure_never_stops_the_batch(monkeypatch):
    from addrcode import normalize

    real = normalize.normalize

    def flaky(query, locale="us", **kw):
        if "boom" in str(query):
            raise ValueError("secret address text must not leak")
        return real(query, locale=locale, **kw)

    monkeypatch.setattr(normalize, "normalize", flaky)
    result = RUNNER.invoke(cli, ["normalize", "--format", "jsonl", "12 Main St Barre VT", "boom", "5 Elm St Barre VT"])
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["ok", "error", "ok"]
    assert records[1]["reason"] == "internal error (ValueError)"
    assert "secret" not in result.output
    assert result.exit_code == 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_closed_pipe_is_quiet_and_exits_141(tmp_path, jobs):
    """`addrcode encode -i big.csv | head -2`: no traceback, and 128 + SIGPIPE rather than 1 ("rows rejected")."""
    rows = tmp_path / "rows.csv"
    rows.write_text("address\n" + "637 College St, Middlebury VT 05753\n" * 20_000)
    proc = subprocess.Popen([sys.executable, "-m", "addrcode", "encode", "-i", str(rows), "--jobs", jobs],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()  # what `head -2` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert first[0].startswith(b"address,") and b"addrcode_code" in first[0]
    assert "Traceback" not in err and "Error" not in err


@pytest.mark.parametrize("command", ["geocode", "encode"])
def test_input_warnings_reach_every_command(tmp_path, command):
    """NUL bytes and lines that are not UTF-8 are said on stderr by geocode and encode too, with line numbers."""
    src = tmp_path / "in.csv"
    src.write_bytes(b'id,address\n1,"637 College St\x00, Middlebury VT 05753"\n2,"5 Elm St, Montpelier VT"\n'
                    b'3,"Caf\xe9 St 12, Barre VT"\n')
    proc = addrcode(command, "-i", str(src), "--column", "address", "-o", str(tmp_path / "out.csv"))
    assert proc.returncode in (0, 1), proc.stderr
    assert "input warning: 1 × NUL bytes removed (line 2)" in proc.stderr
    assert "input warning: 1 × not UTF-8: read as cp1252 (line 4)" in proc.stderr


def test_encoding_an_encoded_file_replaces_its_columns(tmp_path):
    src, once, twice = tmp_path / "in.csv", tmp_path / "once.csv", tmp_path / "twice.csv"
    src.write_text("id,address\n1,\"637 College St, Middlebury VT 05753\"\n2,!!!\n")
    assert addrcode("encode", "-i", str(src), "--column", "address", "-o", str(once)).returncode == 1
    proc = addrcode("encode", "-i", str(once), "--column", "address", "-o", str(twice))
    assert proc.returncode == 1 and "they are replaced by this run's values" in proc.stderr
    header = next(csv.reader(twice.open()))
    assert len(header) == len(set(header)) == len(next(csv.reader(once.open())))
    assert twice.read_text() == once.read_text()  # same keyring, same answers, one set of columns


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_rejected_row_of_an_encoded_file_keeps_none_of_its_old_values(tmp_path, fmt):
    """Re-encoding an earlier output: a row rejected now (here a ragged one) gets empty `addrcode_*`
    cells, not the earlier run's code and zone, which would read as this run's."""
    src, once, twice = tmp_path / "in.csv", tmp_path / "once.csv", tmp_path / f"twice.{fmt}"
    src.write_text('id,address\n1,"637 College St, Middlebury VT 05753"\n2,"457 Fellows Rd, Guildhall VT 05905"\n')
    assert addrcode("encode", "-i", str(src), "--column", "address", "-o", str(once)).returncode == 0
    rows = list(csv.reader(once.open()))
    code_at = rows[0].index("addrcode_code")
    assert all(r[code_at] for r in rows[1:])
    rows[2].append("a stray cell")  # row 2 is now ragged: rejected by the next run
    with once.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    proc = addrcode("encode", "-i", str(once), "--column", "address", "-o", str(twice), "--format", fmt)
    assert proc.returncode == 1, proc.stderr
    if fmt == "csv":
        out = list(csv.DictReader(twice.open()))
    else:
        out = [json.loads(line) for line in twice.read_text().splitlines()]
    assert out[0]["addrcode_code"] == rows[1][code_at]  # same keyring, same answer
    assert out[1]["addrcode_status"] == "rejected" and "cells" in out[1]["addrcode_reason"]
    assert not out[1].get("addrcode_code") and not out[1].get("addrcode_zone")
    assert out[1]["id"] == "2"


@pytest.mark.parametrize("command", ["geocode", "decode"])
def test_text_points_are_lat_lon_as_the_readme_says(command):
    arg = "637 College St, Middlebury VT 05753"
    if command == "decode":
        arg = addrcode("encode", arg).stdout.strip()
    text = addrcode(command, arg).stdout
    record = json.loads(addrcode(command, "--format", "jsonl", arg).stdout)
    lat, lon = (text.split("centre ")[1] if command == "decode" else text).split()[0].split(",")
    lat_field, lon_field = ("lat", "lon") if command == "geocode" else ("cell_lat", "cell_lon")
    assert (float(lat), float(lon)) == pytest.approx((record[lat_field], record[lon_field]), abs=1e-6)
    assert 42 < float(lat) < 46 and -74 < float(lon) < -71  # Vermont: the first number is the latitude
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "Points are `lat,lon` in the text output of `geocode` and `decode`" in readme


@pytest.mark.parametrize("wait_for", [".out.csv.partial", ".out.csv.journal"])
def test_early_ctrl_c_says_what_was_kept_and_can_be_resumed(tmp_path, small_reference, wait_for):
    """Ctrl-C in the first second of a --jobs 2 run (as soon as the hidden output file, or the journal,
    exists): exit 130 with a message that says what to do, and doing it finishes the run."""
    import signal
    import time

    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,address\n" + "".join(f"{i},2610 Boudle Rd Bloomfield VT 05905\n" for i in range(30_000)))
    args = [sys.executable, "-m", "addrcode", "encode", "-i", str(src), "--column", "address", "-o", str(out),
            "--reference", str(small_reference), "--zones", VT_ZONES, "--jobs", "2", "-q"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 60
    while not (tmp_path / wait_for).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends to the whole foreground group
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err
    if "nothing was kept" in err and wait_for.endswith(".partial"):  # before the first checkpoint: no leftovers
        assert "interrupted after 0 rows; nothing was kept" in err
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        resume = []
    else:  # the journal was there: what it says is what --resume continues from
        assert "rows done; run the same command with --resume to continue" in err, err
        resume = ["--resume"]
    done = subprocess.run(args + resume, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in csv.DictReader(out.open())] == [str(i) for i in range(30_000)]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]

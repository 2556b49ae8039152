"""Hostile files: malformed CSV, odd encodings, truncated gzip, references, tables, keyrings and zones
files of the wrong kind. Each case checks the exit code, a message naming the file (and the line where
there is one), no traceback, and that no output or partial file is left behind when the run fails.

The cases are data (`CASES`) so that `scripts/robustness_report.py` reports exactly what is tested.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VT_ZONES

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
HOSTILE = DATA / "hostile"
ADDRESSES = ["2610 Boudle Rd, Bloomfield VT 05905", "133 Wilderness Dr, Guildhall VT 05905",
             "1377 BOUDLE RD BLOOMFIELD VT 05905", "221 Brown Road, Bloomfield, Vermont 05905"]


@dataclass
class World:
    """Built once: a small reference, a keyring with its public key, a signed station table."""

    root: Path
    reference: Path
    keyring: Path
    public_key: Path
    table: Path


def make_world(root: Path) -> World:
    from addrcode.codes.keyring import load_keyring, new_keyring, pub_path
    from addrcode.geocoding.build import build_reference
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.zones import default_zones_path, load_zones

    root.mkdir(parents=True, exist_ok=True)
    reference = root / "small.sqlite"
    build_reference([DATA / "oa_small.csv"], reference)
    (root / "keys").mkdir()
    keyring = root / "keys" / "ring.json"
    new_keyring(keyring)
    table = root / "station.sqlite"
    build_table(reference, load_zones(default_zones_path()), load_keyring(keyring), Grid(), table, serial=1)
    return World(root, reference, keyring, pub_path(keyring), table)


@dataclass
class Case:
    """One hostile file: `make(dir, world)` writes it and returns the command's arguments."""

    name: str
    make: Callable[[Path, World], list[str]]
    exit_code: int
    message: str = ""  # regex that stderr (or a reject reason, for row-level cases) must match
    output: bool = False  # is an output file expected (the run finishes)?
    check: Callable[[Path, str], None] | None = None  # further checks on (output file, stderr)
    kind: str = "csv"


def _csv(tmp: Path, rows: list[str], *, name="in.csv", raw: bytes | None = None) -> Path:
    path = tmp / name
    path.write_bytes(raw if raw is not None else ("\n".join(rows) + "\n").encode("utf-8"))
    return path


def _normalize(path: Path, tmp: Path, *extra) -> list[str]:
    return ["normalize", "-i", str(path), "-o", str(tmp / "out.csv"), "--column", "address", *extra]


def _rows(out: Path) -> list[dict]:
    with open(out, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _expect_rows(n_ok: int, n_rejected: int, *, reason: str = "", warning: str = ""):
    def check(out: Path, stderr: str) -> None:
        rows = _rows(out)
        got = [r["addrcode_status"] for r in rows]
        assert got.count("ok") == n_ok and got.count("rejected") == n_rejected, got
        if reason:
            assert any(re.search(reason, r["addrcode_reason"]) for r in rows), [r["addrcode_reason"] for r in rows]
        if warning:
            assert any(warning in r["addrcode_warnings"] for r in rows)
    return check


def _header(tmp, *rows):
    return ["id,address,note", *rows]


GOOD_ROWS = [f'{i},"{a}",x' for i, a in enumerate(ADDRESSES)]


def _unclosed(tmp, w):
    rows = _header(tmp, GOOD_ROWS[0], '1,"2610 Boudle Rd, Bloomfield VT 05905,x', *GOOD_ROWS[2:])
    return _normalize(_csv(tmp, rows), tmp)


def _nul(tmp, w):
    raw = ("id,address,note\n" + "\n".join(GOOD_ROWS) + "\n").encode().replace(b"Boudle", b"Bou\0dle")
    return _normalize(_csv(tmp, [], raw=raw), tmp)


def _mixed(tmp, w):
    raw = ("id,address,note\n" + "\n".join(GOOD_ROWS) + "\n").encode()
    raw += '9,"12 Caf\u00e9 St, Bloomfield VT 05905",latin\n'.encode("cp1252")
    return _normalize(_csv(tmp, [], raw=raw), tmp)


def _latin1(tmp, w):
    text = "id,address,note\n" + "\n".join(GOOD_ROWS) + '\n9,"12 Ch\u00e2teau St, Bloomfield VT 05905",\u00e9\n'
    return _normalize(_csv(tmp, [], raw=text.encode("latin-1")), tmp, "--encoding", "latin-1")


def _utf16(tmp, w):
    text = "id,address,note\r\n" + "\r\n".join(GOOD_ROWS) + "\r\n"
    return _normalize(_csv(tmp, [], raw=codecs.BOM_UTF16_LE + text.encode("utf-16-le")), tmp)


def _utf16_be(tmp, w):
    text = "id,address,note\n" + "\n".join(GOOD_ROWS) + "\n"
    return _normalize(_csv(tmp, [], raw=codecs.BOM_UTF16_BE + text.encode("utf-16-be")), tmp)


def _ragged(tmp, w):
    rows = _header(tmp, GOOD_ROWS[0], '1,"2610 Boudle Rd"', GOOD_ROWS[2], '3,"221 Brown Rd",x,extra,cells')
    return _normalize(_csv(tmp, rows), tmp)


def _big_field(tmp, w):
    big = "12 Boudle Rd " * (10 * 1024 * 1024 // 13 + 1)
    return _normalize(_csv(tmp, _header(tmp, GOOD_ROWS[0], f'1,"{big}",x', GOOD_ROWS[2])), tmp)


def _empty(tmp, w):
    return _normalize(_csv(tmp, [], raw=b""), tmp)


def _header_only(tmp, w):
    return _normalize(_csv(tmp, ["id,address,note"]), tmp)


def _dup_header(tmp, w):
    rows = ["address,address,id", *(f'"{a}",second {i},{i}' for i, a in enumerate(ADDRESSES))]
    return ["normalize", "-i", str(_csv(tmp, rows)), "-o", str(tmp / "out.csv")]


def _binary(tmp, w):
    return _normalize(_csv(tmp, [], raw=bytes(range(256)) * 64), tmp)


def _crlf_bom(tmp, w):
    text = "id,address,note\r\n" + "\r\n".join(GOOD_ROWS) + "\r\n"
    return _normalize(_csv(tmp, [], raw=codecs.BOM_UTF8 + text.encode()), tmp)


def _input_is_dir(tmp, w):
    (tmp / "adir").mkdir()
    return _normalize(tmp / "adir", tmp)


def _missing_column(tmp, w):
    return ["normalize", "-i", str(_csv(tmp, _header(tmp, *GOOD_ROWS))), "-o", str(tmp / "out.csv"), "--column", "nope"]


def _rejects_is_output(tmp, w):
    return _normalize(_csv(tmp, _header(tmp, *GOOD_ROWS)), tmp, "--rejects", str(tmp / "out.csv"))


def _csv_gzipped(tmp, w):
    raw = gzip.compress(("id,address,note\n" + "\n".join(GOOD_ROWS) + "\n").encode())
    return _normalize(_csv(tmp, [], name="in.csv.gz", raw=raw), tmp)


def _parquet_truncated(tmp, w):
    """A Parquet file cut short (a copy that was still being written)."""
    path = tmp / "orders.parquet"
    path.write_bytes(b"PAR1" + b"\x15\x04\x15" * 40)
    return _normalize(path, tmp)


def _xlsx(tmp, w):
    import zipfile

    path = tmp / "orders.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return _normalize(path, tmp)


def _truncated_gzip(tmp, w):
    src = (DATA / "oa_small.csv").read_bytes()
    gz = gzip.compress(src * 20)
    path = tmp / "oa.csv.gz"
    path.write_bytes(gz[: len(gz) // 2])
    return ["reference", "build", str(path), "-o", str(tmp / "ref.sqlite"), "-q"]


def _gzip_not_gzip(tmp, w):
    path = tmp / "oa.csv.gz"
    path.write_bytes((DATA / "oa_small.csv").read_bytes())
    return ["reference", "build", str(path), "-o", str(tmp / "ref.sqlite"), "-q"]


def _reference_not_sqlite(tmp, w):
    path = tmp / "ref.sqlite"
    path.write_bytes(b"LON,LAT,NUMBER\n" * 500)
    return ["geocode", "--reference", str(path), "-o", str(tmp / "out.txt"), ADDRESSES[0]]


def _reference_other_schema(tmp, w):
    path = tmp / "ref.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE points (x, y)")
    db.commit()
    db.close()
    return ["geocode", "--reference", str(path), "-o", str(tmp / "out.txt"), ADDRESSES[0]]


def _reference_other_version(tmp, w):
    path = tmp / "ref.sqlite"
    shutil.copy(w.reference, path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    return ["encode", "--reference", str(path), "--zones", VT_ZONES, "-o", str(tmp / "out.txt"), ADDRESSES[0]]


def _reference_truncated(tmp, w):
    path = tmp / "ref.sqlite"
    data = w.reference.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return ["geocode", "--reference", str(path), "-o", str(tmp / "out.txt"), ADDRESSES[0]]


def _resolve_args(w, tmp, table):
    return ["resolve", "--table", str(table), "--public-key", str(w.public_key), "-o", str(tmp / "out.txt"),
            "AAT-0EM53-6"]


def _table_not_sqlite(tmp, w):
    path = tmp / "table.sqlite"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(4000))
    return _resolve_args(w, tmp, path)


def _table_other_schema(tmp, w):
    path = tmp / "table.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE codes (body INTEGER PRIMARY KEY, zone TEXT)")
    db.commit()
    db.close()
    return _resolve_args(w, tmp, path)


def _table_other_version(tmp, w):
    """A table signed with the right key but of another format version (a future addrcode's)."""
    from addrcode.codes.keyring import load_keyring
    from addrcode.stations import signing

    path = tmp / "table.sqlite"
    shutil.copy(w.table, path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    off = signing._sig_offset(bytes(data))
    data[off: off + signing.SIG_LEN] = bytes(signing.SIG_LEN)
    path.write_bytes(bytes(data))
    signing.sign_file(path, load_keyring(w.keyring).signing_key)
    return _resolve_args(w, tmp, path)


def _table_truncated(tmp, w):
    path = tmp / "table.sqlite"
    data = w.table.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    return ["table", "verify", str(path), "--public-key", str(w.public_key)]


def _public_key_garbage(tmp, w):
    path = tmp / "ring.pub"
    path.write_text("not a key\n")
    return ["resolve", "--table", str(w.table), "--public-key", str(path), "-o", str(tmp / "out.txt"), "AAT-0EM53-6"]


def _keyring_not_json(tmp, w):
    path = tmp / "ring.json"
    path.write_bytes(b"\xff\xfe{ this is not a keyring")
    path.chmod(0o600)
    return ["encode", "--reference", str(w.reference), "--zones", VT_ZONES,
            "--keyring", str(path), "-o", str(tmp / "out.txt"), ADDRESSES[0]]


def _zones(tmp, w, name):
    return ["encode", "--reference", str(w.reference), "--zones", str(DATA / name), "-o", str(tmp / "out.txt"),
            ADDRESSES[0]]


def _zones_inline(tmp, w, text):
    path = tmp / "zones.geojson"
    path.write_text(text)
    return ["encode", "--reference", str(w.reference), "--zones", str(path), "-o", str(tmp / "out.txt"), ADDRESSES[0]]


_FEATURE = ('{"type": "Feature", "properties": {"zone": "Z", "sort_center": "SC"}, "geometry": %s}')

CASES = [
    Case("unclosed quote", _unclosed, 1, output=True,
         check=_expect_rows(3, 1, reason=r"^line 3: (unclosed quote|malformed CSV)")),
    Case("NUL bytes", _nul, 0, output=True, check=_expect_rows(4, 0, warning="NUL bytes removed")),
    Case("mixed encodings (a cp1252 line in UTF-8)", _mixed, 0, output=True,
         check=_expect_rows(5, 0, warning="not UTF-8: read as cp1252")),
    Case("Latin-1 file (--encoding latin-1)", _latin1, 0, output=True,
         check=lambda out, err: (_expect_rows(5, 0)(out, err), _assert_in(out, "12 Ch\u00e2teau St"))),
    Case("UTF-16 LE with BOM, CRLF", _utf16, 0, output=True, check=_expect_rows(4, 0)),
    Case("UTF-16 BE with BOM", _utf16_be, 0, output=True, check=_expect_rows(4, 0)),
    Case("UTF-8 BOM and CRLF", _crlf_bom, 0, output=True, check=_expect_rows(4, 0)),
    Case("ragged rows (missing and extra cells)", _ragged, 1, output=True,
         check=_expect_rows(2, 2, reason=r"^line 3: 2 cells, expected 3")),
    Case("10 MB field", _big_field, 0, output=True, check=_expect_rows(3, 0)),
    Case("empty file", _empty, 3, r"in\.csv: the file is empty"),
    Case("header only", _header_only, 0, output=True, check=lambda out, err: _assert_rows(out, 0)),
    Case("duplicate header names", _dup_header, 0, output=True,
         check=lambda out, err: _assert_columns(out, ["address", "address_2", "id"])),
    Case("binary garbage as CSV", _binary, 2, r"in\.csv: no column named address"),
    Case("input is a directory", _input_is_dir, 2, r"adir: is a directory"),
    Case("missing column", _missing_column, 2, r"in\.csv: no column named nope"),
    Case("gzipped CSV given as -i", _csv_gzipped, 3, r"in\.csv\.gz: line 1: this is a gzip file"),
    Case("Excel workbook given as -i", _xlsx, 3, r"orders\.xlsx: line 1: this is a zip archive or an Excel"),
    Case("truncated Parquet file", _parquet_truncated, 3, r"orders\.parquet: not a readable Parquet file"),
    Case("--rejects is the -o file", _rejects_is_output, 2, r"out\.csv: --rejects must name another file"),
    Case("truncated gzip (reference source)", _truncated_gzip, 3, r"oa\.csv\.gz: .*line \d+", kind="reference"),
    Case("plain CSV named .gz (read by content)", _gzip_not_gzip, 0, output=True, kind="reference"),
    Case("reference not SQLite", _reference_not_sqlite, 3, r"ref\.sqlite: not an addrcode reference", kind="reference"),
    Case("reference: SQLite of another schema", _reference_other_schema, 3,
         r"ref\.sqlite: SQLite file but not an addrcode reference", kind="reference"),
    Case("reference: another format version", _reference_other_version, 3, r"ref\.sqlite: reference format version 999",
         kind="reference"),
    Case("reference truncated", _reference_truncated, 3, r"ref\.sqlite: ", kind="reference"),
    Case("table not SQLite", _table_not_sqlite, 3, r"table\.sqlite: ", kind="table"),
    Case("table: SQLite of another schema (unsigned)", _table_other_schema, 3, r"table\.sqlite: .*unsigned",
         kind="table"),
    Case("table: signed, another format version", _table_other_version, 3, r"table\.sqlite: station table format "
         r"version 999", kind="table"),
    Case("table truncated", _table_truncated, 3, r"table\.sqlite: ", kind="table"),
    Case("public key file garbage", _public_key_garbage, 3, r"ring\.pub: not an addrcode public key", kind="table"),
    Case("keyring not JSON", _keyring_not_json, 3, r"ring\.json: keyring is corrupt", kind="keyring"),
    Case("keyring is /dev/zero (endless)", lambda t, w: ["encode", "--reference", str(w.reference), "--zones", VT_ZONES,
                                                         "--keyring",
                                                          "/dev/zero", "-o", str(t / "out.txt"), ADDRESSES[0]], 3,
         r"/dev/zero: not a regular file", kind="keyring"),
    Case("zones file is /dev/zero (endless)", lambda t, w: ["encode", "--reference", str(w.reference), "--zones",
                                                            "/dev/zero", "-o", str(t / "out.txt"), ADDRESSES[0]], 3,
         r"/dev/zero: not a regular file", kind="zones"),
    Case("public key is /dev/zero (endless)", lambda t, w: ["table", "verify", str(w.table), "--public-key",
                                                            "/dev/zero"], 3, r"/dev/zero: ", kind="table"),
    Case("zones: self-intersecting polygon", lambda t, w: _zones(t, w, "zones_bowtie.geojson"), 1, output=True,
         kind="zones", message=r"zones_bowtie\.geojson: 1 invalid zone polygons repaired"),
    Case("zones: empty geometry", lambda t, w: _zones(t, w, "zones_empty.geojson"), 3,
         r"zones_empty\.geojson.*feature.*empty geometry", kind="zones"),
    Case("zones: not JSON", lambda t, w: _zones(t, w, "zones_notjson.geojson"), 3, r"zones_notjson\.geojson: not valid "
         r"JSON", kind="zones"),
    Case("zones: null geometry", lambda t, w: _zones_inline(t, w, '{"type":"FeatureCollection","features":[%s]}'
                                                            % (_FEATURE % "null")), 3,
         r"zones\.geojson.*feature", kind="zones"),
    Case("zones: no features", lambda t, w: _zones_inline(t, w, '{"type":"FeatureCollection","features":[]}'), 3,
         r"zones\.geojson: no features", kind="zones"),
    Case("zones: polygon with NaN / out-of-range coordinates",
         lambda t, w: _zones_inline(t, w, '{"type":"FeatureCollection","features":[%s]}' % (
             _FEATURE % '{"type":"Polygon","coordinates":[[[0,0],[500,0],[500,500],[0,0]]]}')), 3,
         r"zones\.geojson.*feature.*not lon/lat", kind="zones"),
]


def _assert_in(out: Path, text: str) -> None:
    assert text in out.read_text("utf-8")


def _assert_rows(out: Path, n: int) -> None:
    assert len(_rows(out)) == n


def _assert_columns(out: Path, first: list[str]) -> None:
    rows = _rows(out)
    assert list(rows[0])[: len(first)] == first
    assert [r["address_2"] for r in rows] == [f"second {i}" for i in range(len(rows))]


def run_case(case: Case, world: World, tmp: Path) -> dict:
    """Run one case in a fresh directory; return what happened (used by the tests and the report)."""
    from addrcode.cli import cli

    tmp.mkdir(parents=True, exist_ok=True)
    args = case.make(tmp, world)
    before = {p.name for p in tmp.iterdir()}
    t0 = time.perf_counter()
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    seconds = time.perf_counter() - t0
    after = {p.name for p in tmp.iterdir()}
    left = sorted(after - before)
    stderr = result.stderr
    message = next((ln for ln in stderr.splitlines() if ln.startswith(("Error:", "warning:"))), "")
    return {"case": case.name, "kind": case.kind, "exit": result.exit_code, "expected_exit": case.exit_code,
            "stderr": stderr, "message": message, "left": left, "seconds": seconds,
            "exception": None if result.exception is None or isinstance(result.exception, SystemExit)
            else repr(result.exception), "dir": tmp}


def judge(case: Case, outcome: dict) -> list[str]:
    """What went wrong in one outcome (empty list: the case passed)."""
    problems = []
    if outcome["exception"]:
        problems.append(f"uncaught {outcome['exception']}")
    if "Traceback" in outcome["stderr"]:
        problems.append("traceback on stderr")
    if outcome["exit"] != case.exit_code:
        problems.append(f"exit {outcome['exit']}, expected {case.exit_code}")
    if case.message and not re.search(case.message, outcome["stderr"]):
        problems.append(f"message {outcome['stderr'][-300:]!r} does not match {case.message!r}")
    outputs = [n for n in outcome["left"] if n.startswith(("out.", "ref.sqlite", "table.sqlite"))]
    hidden = [n for n in outcome["left"] if n.startswith(".")]
    if hidden:
        problems.append(f"partial files left: {hidden}")
    if case.output:
        if not outputs:
            problems.append("no output file")
        elif case.check is not None:
            try:
                case.check(outcome["dir"] / outputs[0], outcome["stderr"])
            except AssertionError as exc:
                problems.append(f"check failed: {exc}")
    elif outputs:
        problems.append(f"output left behind: {outputs}")
    return problems


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return make_world(tmp_path_factory.mktemp("hostile_files") / "world")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_file(case, world, tmp_path):
    outcome = run_case(case, world, tmp_path / "run")
    assert judge(case, outcome) == []


def test_fixture_files_are_small():
    """tests/data/hostile holds small fixtures only; big ones are generated in tmp."""
    for path in HOSTILE.glob("*"):
        assert path.stat().st_size < 64 * 1024, path


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.csv")), ids=lambda p: p.name)
def test_hostile_fixture_csv_gives_one_record_per_row(path, tmp_path):
    """Hand-made fixtures (tests/data/hostile/*.csv): every data row comes out once, in order; the
    expected counts are in the file name: NAME.<rows>rows.csv."""
    from addrcode.cli import cli

    out = tmp_path / "out.csv"
    result = CliRunner().invoke(cli, ["normalize", "-i", str(path), "-o", str(out), "--column", "address", "-q"])
    assert result.exit_code in (0, 1), result.stderr
    expected = int(re.search(r"\.(\d+)rows\.csv$", path.name).group(1))
    rows = _rows(out)
    assert len(rows) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_stdin_lines_with_hostile_bytes_give_one_line_each():
    """Stdin mode: NUL, CR, invalid UTF-8, an unclosed quote: one output line per input line."""
    from addrcode.cli import cli

    lines = [b"2610 Boudle Rd\0, Bloomfield VT", b"\xff\xfe\xfd", b'"unclosed 12 Main St', b"a\rb", b"",
             b"\xe2\x80\xae12 Main St", b"=cmd|' /C calc'!A0"]
    result = CliRunner().invoke(cli, ["normalize", "--format", "jsonl", "-q"], input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 1
    out = result.stdout.split("\n")
    assert len(out) == len(lines) + 1 and out[-1] == ""


@pytest.mark.parametrize("crs", ["EPSG:99999", "EPSG:4326", "not a crs"])
def test_bad_grid_crs_is_one_usage_error(crs):
    """`Grid.check()` turns an unknown or non-metric CRS into a UsageError up front (see the report:
    the encode job should call it, so a bad `crs` is not an error on every record)."""
    from addrcode.errors import UsageError
    from addrcode.grid import Grid

    with pytest.raises(UsageError, match="grid CRS"):
        Grid(crs=crs).check()
    assert Grid().check().cell(-73.1673, 44.0153) is not None


@pytest.mark.parametrize("how", ["csv", "stdin", "utf-16"])
def test_endless_line_stops_with_a_clear_error(how, tmp_path, monkeypatch):
    """A line longer than io.MAX_LINE_CHARS (64 MB; 1,000 here) stops the run: exit 3, file and line
    named, no output left, memory bounded (`-i /dev/zero` used to end in MemoryError)."""
    from addrcode.batch import io as aio
    from addrcode.cli import cli

    monkeypatch.setattr(aio, "MAX_LINE_CHARS", 1000)
    text = "id,address\n1,12 Main St\n2," + "A" * 5000 + "\n3,4 Elm St\n"
    raw = codecs.BOM_UTF16_LE + text.encode("utf-16-le") if how == "utf-16" else text.encode()
    src = tmp_path / "in.csv"
    src.write_bytes(raw)
    out = tmp_path / "out.csv"
    args = ["normalize", "-o", str(out)] + (["-i", str(src)] if how != "stdin" else [])
    result = CliRunner().invoke(cli, args, input=raw if how == "stdin" else None)
    assert result.exit_code == 3, result.output
    assert re.search(r"(in\.csv|<stdin>): line 3: longer than", result.stderr), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_dev_zero_as_input_is_refused_quickly():
    from addrcode.cli import cli

    t0 = time.perf_counter()
    result = CliRunner().invoke(cli, ["normalize", "-i", "/dev/zero", "-q"])
    assert result.exit_code == 3 and "/dev/zero: line 1: longer than 64 MB" in result.stderr
    assert time.perf_counter() - t0 < 30

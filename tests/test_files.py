"""Output files (`addrcode.files`): what every writing command does with the path it is given.

Real FIFOs, a private device node (`mknod`, root only), symlinks, process substitution and real
subprocess runs of the CLI. The guarantees are listed in SECURITY.md ("Output files").
"""

from __future__ import annotations

import csv
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import VT_ZONES

from addrcode import files
from addrcode.errors import DataError, UsageError

DATA = Path(__file__).parent / "data"
ADDRESSES = ["2610 Boudle Rd, Bloomfield VT 05905", "1033 Boudle Road, Bloomfield, VT", "!!!",
             "1377 BOUDLE RD BLOOMFIELD VT 05905"]  # points of tests/data/oa_small.csv, and one reject


def addrcode(*args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.fixture(scope="module")
def kit(tmp_path_factory, small_reference):
    """A keyring, a station table, an address CSV and an encode output of it, for every writing command."""
    work = tmp_path_factory.mktemp("kit")
    ring = work / "ring.json"
    assert addrcode("key", "new", str(ring)).returncode == 0
    table = work / "table.sqlite"
    proc = addrcode("table", "build", "-o", str(table), "--reference", str(small_reference), "--zones", VT_ZONES,
                    "--keyring", str(ring),
                    "-q")
    assert proc.returncode == 0, proc.stderr
    orders = work / "orders.csv"
    with open(orders, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "address", "phone", "amount"])
        for i, a in enumerate(ADDRESSES):
            w.writerow([i, a, "+1 802-555-0142", "-12.50"])
    coded = work / "coded.csv"
    proc = addrcode("encode", "-i", str(orders), "--column", "address", "-o", str(coded), "--reference",
                    str(small_reference), "--zones", VT_ZONES, "--keyring", str(ring), "-q", "--jobs", "1")
    assert proc.returncode in (0, 1), proc.stderr
    codes = [r["addrcode_code"] for r in csv.DictReader(coded.open()) if r["addrcode_code"]]
    assert codes
    return {"work": work, "ref": str(small_reference), "ring": str(ring), "pub": str(ring) + ".pub",
            "table": str(table), "orders": str(orders), "coded": str(coded), "codes": codes}


def commands(kit: dict, out: str) -> dict[str, list[str]]:
    """Every command that writes a file, writing the file under test to `out`."""
    w, ref, ring = kit["work"], kit["ref"], kit["ring"]
    enc = ["encode", "-i", kit["orders"], "--column", "address", "--reference", ref, "--zones", VT_ZONES,
           "--keyring", ring, "-q",
           "--jobs", "1"]
    station = ["--table", kit["table"], "--public-key", kit["pub"]]
    return {
        "normalize -o": ["normalize", "-i", kit["orders"], "--column", "address", "-o", out, "-q"],
        "geocode -o": ["geocode", "-i", kit["orders"], "--column", "address", "--reference", ref, "-o", out, "-q"],
        "encode -o": [*enc, "-o", out],
        "encode --rejects": [*enc, "-o", str(w / "x-coded.csv"), "--rejects", out],
        "encode --report": [*enc, "-o", str(w / "y-coded.csv"), "--report", out],
        "decode -o": ["decode", "--keyring", ring, "-o", out, "-q", *kit["codes"]],
        "resolve -o": ["resolve", *station, "-o", out, "-q", *kit["codes"]],
        "label -o": ["label", "-i", kit["coded"], "-o", out, "-q"],
        "scan -o": ["scan", str(DATA / "oa_small.csv"), "-o", out, *station],
        "report -o": ["report", kit["coded"], "-o", out],
        "zones map -o": ["zones", "map", "-o", out],
        "reference build -o": ["reference", "build", str(DATA / "oa_small.csv"), "-o", out, "-q"],
        "reference build --rejects": ["reference", "build", str(DATA / "oa_small.csv"), "-o",
                                      str(w / "z-ref.sqlite"), "--rejects", out, "-q"],
        "table build -o": ["table", "build", "-o", out, "--reference", ref, "--zones", VT_ZONES,
                           "--keyring", ring, "-q"],
    }


COMMANDS = list(commands({"work": Path("."), "ref": "", "ring": "", "pub": "", "table": "", "orders": "",
                          "coded": "", "codes": []}, "OUT"))


def _suffix(name: str) -> str:
    return ".html" if name.startswith("zones map") else ""  # the map's format follows the suffix


def _drain(path: Path, into: list) -> threading.Thread:
    def read():
        with open(path, "rb") as fh:
            into.append(fh.read())
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("name", COMMANDS)
def test_fifo_and_device_targets_are_streamed_never_replaced(kit, tmp_path, name):
    fifo = tmp_path / f"out{_suffix(name)}"
    os.mkfifo(fifo, 0o600)
    got: list[bytes] = []
    reader = _drain(fifo, got)
    proc = addrcode(*commands(kit, str(fifo))[name])
    reader.join(60)
    assert proc.returncode in (0, 1), proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO
    assert got and got[0], "nothing was streamed into the FIFO"
    if name.startswith(("reference build -o", "table build")):
        assert got[0].startswith(b"SQLite format 3\0")  # built aside, then its bytes streamed
    assert not [p.name for p in tmp_path.iterdir() if p.name != fifo.name]  # no temp file beside it

    node = tmp_path / f"null{_suffix(name)}"
    try:
        os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a private /dev/null
    except PermissionError:
        return  # not root: the FIFO above is the stream target
    proc = addrcode(*commands(kit, str(node))[name])
    assert proc.returncode in (0, 1), proc.stderr
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_symlink_of_yours_is_written_through(kit, tmp_path, name):
    real = tmp_path / "real"
    real.mkdir()
    target = real / f"target{_suffix(name)}"
    target.write_text("old\n")
    link = tmp_path / f"link{_suffix(name)}"
    link.symlink_to(target)
    proc = addrcode(*commands(kit, str(link))[name])
    assert proc.returncode in (0, 1), proc.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays
    assert target.read_bytes() != b"old\n" and target.stat().st_size > 0  # its file got the output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in real.iterdir()) == [target.name]  # no temp file left


def test_a_symlink_planted_by_another_user_is_refused(kit, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    try:
        os.lchown(link, 4242, 4242)
    except PermissionError:
        pytest.skip("changing a symlink's owner needs root")
    proc = addrcode(*commands(kit, str(link))["encode -o"])
    assert proc.returncode == 3 and "symlink owned by another user" in proc.stderr
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_a_dangling_symlink_is_refused(tmp_path):
    link = tmp_path / "out.csv"
    link.symlink_to(tmp_path / "nowhere" / "x.csv")
    with pytest.raises(DataError, match="folder does not exist"):
        files.output_place(link)


@pytest.mark.parametrize("name", ["encode -o", "geocode -o", "decode -o"])
def test_dev_stdout_and_process_substitution_stream_the_same_bytes(kit, tmp_path, name):
    if shutil.which("bash") is None:
        pytest.skip("needs bash for process substitution")
    plain = addrcode(*commands(kit, "-")[name])
    assert plain.returncode in (0, 1) and plain.stdout
    via_dev = addrcode(*commands(kit, "/dev/stdout")[name])
    assert via_dev.stdout == plain.stdout
    sub = tmp_path / "sub.out"
    argv = " ".join(f"'{a}'" for a in [sys.executable, "-m", "addrcode", *commands(kit, "OUT")[name]])
    script = argv.replace("'OUT'", f'>(cat > "{sub}")') + "; wait $!"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert sub.read_text() == plain.stdout


def test_appending_through_dev_stdout_keeps_what_was_there(kit, tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    argv = " ".join(f"'{a}'" for a in [sys.executable, "-m", "addrcode", *commands(kit, "/dev/stdout")["decode -o"]])
    subprocess.run(["bash", "-c", f'{argv} >> "{log}"'], check=True, timeout=300)
    text = log.read_text()
    assert text.startswith("earlier\n") and len(text.splitlines()) == 1 + len(kit["codes"])


def test_planted_symlinks_at_the_run_files_are_never_followed(kit, tmp_path):
    out, rej = tmp_path / "out.csv", tmp_path / "rej.csv"
    victims = {}
    for name in (".out.csv.partial", ".out.csv.journal", ".out.csv.journal.tmp", ".rej.csv.partial"):
        victim = tmp_path / f"victim{len(victims)}"
        victim.write_text("precious\n")
        (tmp_path / name).symlink_to(victim)
        victims[name] = victim
    args = commands(kit, str(out))["encode -o"]
    proc = addrcode(*args, "--rejects", str(rej))
    assert proc.returncode == 1, proc.stderr
    assert all(v.read_text() == "precious\n" for v in victims.values())
    assert len(list(csv.DictReader(out.open()))) + len(list(csv.DictReader(rej.open()))) == len(ADDRESSES)
    # addrcode's own names are gone (the planted links were removed, never followed); the
    # `.journal.tmp` name is no longer one of them (the journal is replaced from a random name)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".out.csv.journal.tmp"]


def test_resume_refuses_a_partial_file_swapped_for_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    partial = tmp_path / ".out.csv.partial"
    partial.symlink_to(victim)
    with pytest.raises(DataError, match="is not a file addrcode wrote"):
        files.open_private(partial)
    assert victim.read_text() == "precious\n"


def test_outputs_are_private_unless_file_mode_says_otherwise(kit, tmp_path):
    for name in ("encode -o", "report -o", "table build -o"):
        out = tmp_path / f"{name.split()[0]}.out"
        assert addrcode(*commands(kit, str(out))[name]).returncode in (0, 1)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, name
        out.unlink()
        proc = addrcode(*commands(kit, str(out))[name], env={"ADDRCODE_FILE_MODE": "0640"})
        assert proc.returncode in (0, 1), proc.stderr
        assert stat.S_IMODE(out.stat().st_mode) == 0o640, name
    proc = addrcode(*commands(kit, str(tmp_path / "x"))["encode -o"], env={"ADDRCODE_FILE_MODE": "rw-r--r--"})
    assert proc.returncode == 2 and "file_mode must be an octal mode" in proc.stderr


def test_output_equal_to_input_is_refused(kit, tmp_path):
    src = tmp_path / "orders.csv"
    shutil.copy(kit["orders"], src)
    before = src.read_bytes()
    alias = tmp_path / "alias.csv"
    alias.symlink_to(src)
    for out in (src, alias):
        for option in ("-o", "--rejects", "--report"):
            args = commands(kit, str(tmp_path / "elsewhere.csv"))["encode -o"]
            args[args.index("-i") + 1] = str(src)
            if option == "-o":
                args[args.index("-o") + 1] = str(out)
            else:
                args += [option, str(out)]
            proc = addrcode(*args)
            assert proc.returncode == 2 and f"{option} names the input file itself" in proc.stderr, proc.stderr
            assert src.read_bytes() == before
    proc = addrcode("label", "-i", str(src), "-o", str(src))
    assert proc.returncode == 2 and src.read_bytes() == before


def test_numbers_and_phones_stay_exact_and_coordinates_are_floats(kit, tmp_path):
    pandas = pytest.importorskip("pandas")
    out = tmp_path / "g.csv"
    proc = addrcode(*commands(kit, str(out))["geocode -o"])
    assert proc.returncode in (0, 1), proc.stderr
    frame = pandas.read_csv(out)
    assert frame["addrcode_lon"].dtype.kind == "f" and frame["addrcode_lat"].dtype.kind == "f"
    assert frame["addrcode_lon"].dropna().lt(0).all()  # Vermont: west, written as a plain negative number
    with open(kit["orders"], newline="") as fh_in, open(out, newline="") as fh_out:
        for row_in, row_out in zip(csv.DictReader(fh_in), csv.DictReader(fh_out), strict=True):
            assert {k: row_out[k] for k in row_in} == row_in  # every input column byte for byte


def test_output_place_classifies_paths(tmp_path):
    assert files.output_place(tmp_path / "new.csv").path == tmp_path / "new.csv"
    assert files.output_place("/dev/stdout").is_stream and files.output_place("/dev/stdout").fd == 1
    assert files.output_place("/dev/fd/7").fd == 7 and files.output_place("/proc/self/fd/3").fd == 3
    assert files.output_place("/dev/null").is_stream
    with pytest.raises(DataError, match="is a directory"):
        files.output_place(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        files.output_place(tmp_path / "no" / "x.csv")


def test_create_private_replaces_a_planted_link_and_refuses_a_race(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    name = tmp_path / ".x.partial"
    name.symlink_to(victim)
    with files.create_private(name) as fh:
        fh.write(b"mine")
    assert victim.read_text() == "precious\n" and name.read_bytes() == b"mine" and not name.is_symlink()
    assert stat.S_IMODE(name.stat().st_mode) == 0o600
    real_unlink = os.unlink

    def unlink_then_plant(path, *a, **kw):  # another process plants the name again right after the unlink
        real_unlink(path, *a, **kw)
        Path(path).symlink_to(victim)
    monkeypatch.setattr(os, "unlink", unlink_then_plant)
    with pytest.raises(DataError, match="appeared while addrcode was creating it"):
        files.create_private(name)
    assert victim.read_text() == "precious\n"


def test_a_failed_write_to_a_regular_file_leaves_the_old_one(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    with pytest.raises(RuntimeError):
        with files.output_stream(out, "w") as fh:
            fh.write("half")
            raise RuntimeError
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_journal_save_killed_midway_leaves_nothing_once_the_run_ends(tmp_path):
    """A SIGKILL inside `Journal.save` leaves its random-named temporary file; the run's end removes it
    (only regular files of this user: a planted symlink under that pattern is not touched)."""
    from addrcode.batch.runner import Journal

    journal = Journal(tmp_path / "out.csv", {"input": "x"})
    journal.save({"records": 1})
    stale = tmp_path / f".{journal.path.name}.k3x9q1.tmp"
    stale.write_text("{}")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = tmp_path / f".{journal.path.name}.evil.tmp"
    planted.symlink_to(victim)
    journal.remove()
    assert not journal.path.exists() and not stale.exists()
    assert planted.is_symlink() and victim.read_text() == "precious\n"

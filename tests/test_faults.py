"""Faults: a batch killed with SIGKILL (twice) and resumed, a full disk (file-size limit and a real tiny
tmpfs), and references / tables on read-only storage opened by an unprivileged user.

Nothing may be lost or duplicated (rows in = rows out + rejects), nothing half-written may appear
under a final name, and every failure is one clear line with exit code 3.
"""

from __future__ import annotations

import csv
import functools
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import VT_ZONES

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent


def addrcode_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "addrcode", *args]


def run(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(addrcode_cmd(*args), capture_output=True, text=True, timeout=timeout, **kw)


def write_orders(path: Path, n: int, *, seed: int = 1, bad_every: int = 997) -> None:
    """n orders with real addresses of tests/data/oa_small.csv, some noisy, some broken rows."""
    with open(DATA / "oa_small.csv", newline="") as fh:
        points = [r for r in csv.DictReader(fh) if r["NUMBER"] and r["street"] and r["city"] and r["LON"][:1] == "-"]
    rng = random.Random(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "address"])
        for i in range(n):
            if bad_every and i % bad_every == 5:
                fh.write(f'{i},"unclosed quote {i}\n')  # rejected with its line number, never lost
                continue
            p = rng.choice(points)
            number = p["NUMBER"] if rng.random() < 0.9 else str(int(p["NUMBER"]) + 2)  # some interpolated
            w.writerow([i, f"{number} {p['street'].title()}, {p['city'].title()} VT {p['POSTCODE']}"])


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from addrcode.geocoding.build import build_reference

    out = tmp_path_factory.mktemp("faults_ref") / "small.sqlite"
    build_reference([DATA / "oa_small.csv"], out)
    return out


# --------------------------------------------------------------------------- SIGKILL + --resume


def kill_and_resume(reference: Path, work: Path, *, rows: int = 6000, kills: int = 2, jobs: int = 2,
                    chunk: int = 100) -> dict:
    """Encode `rows` orders, SIGKILL the whole process group `kills` times mid-run, resume each time.

    Returns counts for the report: rows in, ok rows out, rejects, kills that hit a running batch,
    whether a final file ever appeared early, and whether every row matches an uninterrupted encode.
    """
    src, out, rej = work / "orders.csv", work / "coded.csv", work / "rejects.csv"
    write_orders(src, rows)
    args = ["encode", "-i", str(src), "-o", str(out), "--rejects", str(rej), "--reference", str(reference),
            "--zones", VT_ZONES, "--jobs", str(jobs), "--chunk-size", str(chunk), "-q"]
    journal = work / f".{out.name}.journal"
    hits, early_final = 0, False
    for attempt in range(kills):
        resume = ["--resume"] if attempt else []
        # A new session: the kill takes the workers too, like a power cut or the OOM killer would.
        proc = subprocess.Popen(addrcode_cmd(*args, *resume), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        seen = _journal_rows(journal)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and _journal_rows(journal) <= seen:
            time.sleep(0.02)  # wait until this run has checkpointed at least one more chunk
        time.sleep(random.Random(attempt).uniform(0.05, 0.4))
        if proc.poll() is not None:  # finished before it could be killed
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        state = _journal_state(journal)
        if proc.returncode >= 0 or not state:  # it finished (journal removed) before the kill: not a hit
            break
        hits += 1
        # A final name may exist only once every row is done: the journal says "committing" before the
        # first rename and is removed after the last, so a final file beside a journal that does not say
        # so is one that appeared early.
        early_final |= (out.exists() or rej.exists()) and not state.get("committing")
    done = run(*args, "--resume") if journal.exists() else None
    ok_rows, bad_rows = read_rows(out), read_rows(rej)
    ids = sorted(int(r["order_id"]) for r in ok_rows + bad_rows)
    leftovers = sorted(p.name for p in work.iterdir() if p.name.startswith("."))
    return {"rows_in": rows, "rows_out": len(ok_rows), "rejects": len(bad_rows), "kills": hits,
            "early_final": early_final, "ids_exact": ids == list(range(rows)), "leftovers": leftovers,
            "resume_exit": done.returncode if done else None, "resume_stderr": done.stderr if done else "",
            "ok_rows": ok_rows, "bad_rows": bad_rows, "source": src}


def _journal_state(journal: Path) -> dict:
    import json

    try:
        return json.loads(journal.read_text())
    except (OSError, ValueError):
        return {}


def _journal_rows(journal: Path) -> int:
    return _journal_state(journal).get("records", 0)


def test_sigkill_twice_then_resume_loses_and_duplicates_nothing(reference, tmp_path):
    from addrcode.batch.jobs import make_job
    from addrcode.config import Config

    result = kill_and_resume(reference, tmp_path)
    if result["kills"] == 0:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    assert not result["early_final"], "a final output file appeared before the run finished"
    assert result["resume_exit"] in (1, None), result["resume_stderr"]
    assert result["rows_out"] + result["rejects"] == result["rows_in"]
    assert result["ids_exact"]  # every order exactly once
    assert result["leftovers"] == []  # no .partial, no journal
    assert result["rejects"] >= 4 and result["rows_out"] > 0.8 * result["rows_in"]
    # Every row is what an uninterrupted encode gives (same code, same status).
    job = make_job("encode", Config(reference=reference, zones=Path(VT_ZONES)))
    for row in result["ok_rows"][::7] + result["bad_rows"]:
        if row["addrcode_reason"].startswith("line "):
            continue  # a broken CSV row: there is no address to compare
        want = job(row["address"])
        assert (row["addrcode_status"], row["addrcode_code"]) == (want["status"], want["code"])


# --------------------------------------------------------------------------- disk full


def _fsize_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    return apply


def disk_full_cases(reference: Path, work: Path) -> list[tuple[str, list[str], Path]]:
    """(name, command, the file it must not leave behind) for every command that writes a file."""
    orders = work / "orders.csv"
    write_orders(orders, 3000, bad_every=0)
    keys = work / "keys"
    keys.mkdir(exist_ok=True)
    from addrcode.codes.keyring import new_keyring

    ring = keys / "ring.json"
    if not ring.exists():
        new_keyring(ring)
    return [
        ("encode -o", ["encode", "-i", str(orders), "-o", str(work / "coded.csv"), "--reference", str(reference),
                       "--zones", VT_ZONES, "--jobs", "1", "-q"], work / "coded.csv"),
        ("encode -o --rejects", ["encode", "-i", str(orders), "-o", str(work / "coded2.csv"), "--rejects",
                                 str(work / "rej.csv"), "--reference", str(reference), "--zones", VT_ZONES,
                                 "--jobs", "1", "-q"],
         work / "coded2.csv"),
        ("reference build", ["reference", "build", str(DATA / "oa_small.csv"), "-o", str(work / "ref.sqlite"), "-q"],
         work / "ref.sqlite"),
        ("table build", ["table", "build", "-o", str(work / "table.sqlite"), "--reference", str(reference),
                         "--zones", VT_ZONES, "--keyring", str(ring), "-q"], work / "table.sqlite"),
        ("key new", ["key", "new", str(keys / "new.json")], keys / "new.json"),
    ]


def _listing(work: Path) -> set[str]:
    return {str(p.relative_to(work)) for p in work.rglob("*")}


def disk_full_run(name: str, args: list[str], final: Path, work: Path) -> dict:
    """Run one command under a file-size limit; what happened (used by the test and the report)."""
    limit = 200 if name == "key new" else 20_000
    before = _listing(work)
    p = subprocess.run(addrcode_cmd(*args), capture_output=True, text=True, timeout=300,
                       preexec_fn=_fsize_limit(limit))
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("Error: ")]
    return {"name": name, "limit": limit, "exit": p.returncode, "traceback": "Traceback" in p.stderr,
            "errors": errors, "stderr": p.stderr, "final_exists": final.exists(),
            "left": sorted(_listing(work) ^ before), "final": final}


def disk_full_problems(outcome: dict) -> list[str]:
    problems = []
    if outcome["exit"] != 3:
        problems.append(f"exit {outcome['exit']}")
    if outcome["traceback"]:
        problems.append("traceback")
    if len(outcome["errors"]) != 1 or not any(str(outcome["final"].parent) in e for e in outcome["errors"]):
        problems.append("no one-line error naming the file")
    if outcome["final_exists"] or outcome["left"]:
        problems.append(f"left behind: {outcome['left']}")
    return problems


@pytest.mark.parametrize("index", [1, 2, 3, 4],
                         ids=["encode+rejects", "reference", "table", "key"])
def test_file_size_limit_fails_cleanly(reference, tmp_path, index):
    outcome = disk_full_run(*disk_full_cases(reference, tmp_path)[index], tmp_path)
    assert disk_full_problems(outcome) == [], outcome["stderr"][-600:]


def mount_tiny_tmpfs() -> Path | None:
    """A real 64 kB tmpfs (root only); None where mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="addrcode-tmpfs-"))
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if p.returncode != 0:
        where.rmdir()
        return None
    return where


def unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], check=False)
    where.rmdir()


@pytest.fixture()
def tiny_tmpfs():
    where = mount_tiny_tmpfs()
    if where is None:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        unmount(where)


def tmpfs_run(reference: Path, work: Path, fs: Path) -> dict:
    """Encode 3000 rows onto a 64 kB file system, then 20 rows once there is room."""
    orders = work / "orders.csv"
    write_orders(orders, 3000, bad_every=0)
    full = run("encode", "-i", str(orders), "-o", str(fs / "coded.csv"), "--reference", str(reference),
               "--zones", VT_ZONES, "--jobs", "1", "-q")
    left = sorted(p.name for p in fs.iterdir())
    small = work / "few.csv"
    write_orders(small, 20, bad_every=0)
    again = run("encode", "-i", str(small), "-o", str(fs / "coded.csv"), "--reference", str(reference),
                "--zones", VT_ZONES, "-q")
    rows = len(read_rows(fs / "coded.csv")) if (fs / "coded.csv").exists() else 0
    return {"exit": full.returncode, "stderr": full.stderr, "left": left, "again_exit": again.returncode,
            "again_rows": rows}


def test_full_tmpfs_fails_cleanly(reference, tmp_path, tiny_tmpfs):
    got = tmpfs_run(reference, tmp_path, tiny_tmpfs)
    assert got["exit"] == 3, got["stderr"][-500:]
    assert "No space left on device" in got["stderr"] and "Traceback" not in got["stderr"]
    assert got["left"] == []  # no partial, no journal, no final file
    assert got["again_exit"] in (0, 1) and got["again_rows"] == 20  # with room again, the same command works


# --------------------------------------------------------------------------- read-only storage


@functools.lru_cache(maxsize=1)
def unprivileged() -> list[str] | None:
    """A command prefix that runs as `nobody` with no capabilities when we are root (root ignores file
    modes, so a read-only test as root proves nothing); [] when we are not root; None if impossible:
    no setpriv, or `nobody` cannot import addrcode (a checkout inside a directory only root can enter)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(prefix + [sys.executable, "-c", "import addrcode"], capture_output=True, timeout=60)
    return prefix if probe.returncode == 0 else None


def readonly_run(reference: Path) -> dict:
    """Geocode, encode and resolve from a directory chmod 555 (files 444), as an unprivileged user."""
    from addrcode.codes.keyring import load_keyring, new_keyring, pub_path
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.zones import default_zones_path, load_zones

    nobody = unprivileged()
    base = Path(tempfile.mkdtemp(prefix="addrcode-ro-"))
    os.chmod(base, 0o755)  # pytest's tmp dirs are 0700: an unprivileged user could not even reach them
    ro = base / "ro"
    ro.mkdir()
    try:
        shutil.copy(reference, ro / "ref.sqlite")
        ring = base / "ring.json"
        new_keyring(ring)
        build_table(reference, load_zones(default_zones_path()), load_keyring(ring), Grid(), ro / "table.sqlite",
                    serial=1)
        shutil.copy(pub_path(ring), ro / "ring.pub")
        for f in ro.iterdir():
            os.chmod(f, 0o444)
        os.chmod(ro, 0o555)
        before = {p.name: p.stat().st_mtime_ns for p in ro.iterdir()}
        state = base / "state"  # the station's rollback state: the one place it writes (a folder of its own)
        state.mkdir(mode=0o777)
        os.chmod(state, 0o777)
        env = dict(os.environ, HOME="/nonexistent", ADDRCODE_CACHE_DIR="/nonexistent/cache",
                   PYTHONDONTWRITEBYTECODE="1", XDG_STATE_HOME=str(state))
        address = "2610 Boudle Rd, Bloomfield VT 05905"
        results = {}
        for command in ("geocode", "encode"):
            p = subprocess.run((nobody or []) + addrcode_cmd(command, "--reference", str(ro / "ref.sqlite"),
                                                             *(["--zones", VT_ZONES] if command == "encode" else []),
                                                             "--format", "jsonl", "-q", address),
                               capture_output=True, text=True, timeout=120, env=env, cwd="/")
            results[command] = (p.returncode, '"status": "ok"' in p.stdout, p.stderr[-300:])
        code = subprocess.run(addrcode_cmd("encode", "--reference", str(ro / "ref.sqlite"), "--zones", VT_ZONES,
                                           "--keyring", str(ring),
                                           "-q", address), capture_output=True, text=True, timeout=120,
                              env=env).stdout.strip()
        p = subprocess.run((nobody or []) + addrcode_cmd("resolve", "--table", str(ro / "table.sqlite"),
                                                         "--public-key", str(ro / "ring.pub"), "--format", "jsonl",
                                                         "-q", code),
                           capture_output=True, text=True, timeout=120, env=env, cwd="/")
        results["resolve"] = (p.returncode, '"status": "ok"' in p.stdout, p.stderr[-300:])
        results["station state recorded"] = (0, (state / "addrcode" / "station-state.json").is_file(), "")
        touched = {p.name: p.stat().st_mtime_ns for p in ro.iterdir()} != before
        return {"user": "nobody (setpriv)" if nobody else "current user", "results": results, "touched": touched,
                "privileged": nobody is None}
    finally:
        os.chmod(ro, 0o755)
        shutil.rmtree(base)


def test_readonly_reference_and_table_work(reference):
    if unprivileged() is None:
        pytest.skip("running as root and cannot run addrcode as an unprivileged user (no setpriv, or the "
                    "checkout is in a directory only root can enter)")
    got = readonly_run(reference)
    for command, (code, ok, stderr) in got["results"].items():
        assert code == 0 and ok, (command, stderr)
    assert not got["touched"]  # nothing created or modified in the read-only directory


def test_unwritable_output_directory_is_one_clear_error(tmp_path):
    """-o or --rejects in a directory the user cannot write: exit 3, one line, the other file not left."""
    nobody = unprivileged()
    if nobody is None:
        pytest.skip("running as root and cannot run addrcode as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="addrcode-unwritable-"))
    try:
        os.chmod(base, 0o755)
        (base / "ro").mkdir(mode=0o555)
        (base / "rw").mkdir()
        os.chmod(base / "rw", 0o777)
        src = base / "in.csv"
        write_orders(src, 10, bad_every=0)
        os.chmod(src, 0o644)
        for out, rej in ((base / "ro" / "out.csv", None), (base / "rw" / "out.csv", base / "ro" / "rej.csv")):
            args = ["normalize", "-i", str(src), "-o", str(out), "-q"] + (["--rejects", str(rej)] if rej else [])
            p = subprocess.run(nobody + addrcode_cmd(*args), capture_output=True, text=True, timeout=60, cwd="/")
            assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr[-400:]
            assert "cannot write the output (Permission denied)" in p.stderr
            assert list((base / "rw").iterdir()) == [] and list((base / "ro").iterdir()) == []
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_kill_between_the_final_renames_is_resumable(tmp_path, monkeypatch, fmt):
    """Killed after the output was renamed into place but before the rejects file was: --resume puts
    the output back and finishes both, rows in = rows out + rejects (was: "nothing to resume" and the
    rejects lost in their .partial file)."""
    from addrcode.batch import runner as batch
    from addrcode.batch.io import InputRecord

    records = [InputRecord(line=i + 2, fields={"address": str(i)}) for i in range(25)]
    out, rej = tmp_path / f"out.{fmt}", tmp_path / f"rej.{fmt}"

    def plan(resume):
        return batch.RunPlan(fmt=fmt, columns=["address", "addrcode_status"], text=str,
                             to_output=lambda r, res: {**r.fields, "addrcode_status": res["status"]},
                             output=str(out), rejects=str(rej), resume=resume,
                             identity={"input": "x", "size": 1, "mtime_ns": 1, "options": "y"})

    def job(query):
        return {"status": "ok" if int(query) % 3 else "rejected", "reason": ""}

    real_commit = batch.OutputTarget.commit
    calls = []

    def dying_commit(self):
        calls.append(self.path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands for SIGKILL: no clean-up code runs
        real_commit(self)

    monkeypatch.setattr(batch.OutputTarget, "commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        batch.execute(records, job, plan(False), chunk_size=10, column="address")
    assert out.exists() and not rej.exists()
    monkeypatch.setattr(batch.OutputTarget, "commit", real_commit)
    summary = batch.execute(records, job, plan(True), chunk_size=10, column="address")
    assert summary.rows == 25
    if fmt == "csv":
        ok_rows, bad_rows = read_rows(out), read_rows(rej)
    else:
        import json

        ok_rows, bad_rows = json.loads(out.read_text()), json.loads(rej.read_text())
    assert len(ok_rows) + len(bad_rows) == 25 and len(bad_rows) == 9
    assert sorted(int(r["address"]) for r in ok_rows + bad_rows) == list(range(25))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, rej.name])

"""The batch core: chunks, worker processes, order, flat memory, --resume after a kill."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from addrcode.batch import runner as batch
from addrcode.batch.io import InputRecord

STREETS = ["Main St", "Elm Street", "N Pleasant St", "VT Route 12A", "College St", "Oak Ave"]


def write_input(path, n, *, bad_every=0):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "address"])
        for i in range(n):
            if bad_every and i % bad_every == 0:
                f.write(f'{i},"unclosed {i} Main St\n')  # a broken row: rejected, never lost
                continue
            w.writerow([i, f"{i + 1} {STREETS[i % len(STREETS)]}, Barre VT 0564{i % 10}"])


def addrcode(*args, **kw):
    return subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True, timeout=300, **kw)


def wait_for_checkpoint(journal, proc, timeout: float = 120) -> None:
    """Until the run's journal exists (its first completed chunk), or the run ended."""
    deadline = time.time() + timeout
    while not journal.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)


def test_chunked_keeps_everything_in_order():
    records = [InputRecord(line=i, text=str(i)) for i in range(10)]
    chunks = list(batch.chunked(records, 3))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert [r.text for c in chunks for r in c] == [str(i) for i in range(10)]


def test_summary_counts_every_status():
    s = batch.Summary()
    for status, reason in [("ok", ""), ("rejected", "line 3: 2 cells, expected 3"),
                           ("rejected", "line 9: 1 cells, expected 3"),
                           ("error", "internal error (ValueError)"), ("rejected", "score 0.31 below --min-score 0.5")]:
        s.add({"status": status, "reason": reason})
    assert (s.rows, s.ok, s.n_rejected, s.n_errors) == (5, 1, 3, 1)
    assert s.rejected["2 cells, expected 3"] == 1 and s.rejected["score below --min-score"] == 1
    assert batch.Summary.from_state(s.to_state()).to_state() == s.to_state()


def test_apply_turns_exceptions_into_error_records():
    def job(query):
        raise KeyError(query)

    assert batch.apply(job, "12 Main St") == {"status": "error", "reason": "internal error (KeyError)"}
    assert batch.apply(job, "x", error="line 4: unclosed quote")["status"] == "rejected"


def test_two_workers_give_the_same_output_in_the_same_order(tmp_path):
    src = tmp_path / "in.csv"
    write_input(src, 5000, bad_every=997)
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    p1 = addrcode("normalize", "-i", str(src), "-o", str(one), "--jobs", "1", "--chunk-size", "300")
    p2 = addrcode("normalize", "-i", str(src), "-o", str(two), "--jobs", "2", "--chunk-size", "300")
    assert p1.returncode == p2.returncode == 1  # the broken rows are rejected
    assert one.read_bytes() == two.read_bytes()
    rows = list(csv.DictReader(two.open()))
    assert len(rows) == 5000 - 0  # every input row has one output row (the broken ones as rejects)
    assert [r["id"] for r in rows] == [str(i) for i in range(5000)]
    assert "5000 rows" in p2.stderr


def test_parquet_input_gives_what_the_same_rows_give_as_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    src = tmp_path / "in.csv"
    write_input(src, 1200)
    rows = list(csv.DictReader(src.open()))
    pq.write_table(pa.table({"id": [r["id"] for r in rows], "address": [r["address"] for r in rows]}),
                   tmp_path / "in.parquet", row_group_size=500)
    from_csv, from_parquet = tmp_path / "csv.csv", tmp_path / "parquet.csv"
    p1 = addrcode("normalize", "-i", str(src), "-o", str(from_csv), "--jobs", "1", "--chunk-size", "300")
    p2 = addrcode("normalize", "-i", str(tmp_path / "in.parquet"), "-o", str(from_parquet), "--jobs", "2",
                  "--chunk-size", "300")
    assert p1.returncode == p2.returncode == 0, p2.stderr
    assert from_parquet.read_bytes() == from_csv.read_bytes()
    assert "1200 rows" in p2.stderr
    refused = addrcode("normalize", "-i", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.parquet"))
    assert refused.returncode == 2 and "--engine dask or spark" in refused.stderr
    assert not (tmp_path / "out.parquet").exists()


def test_killed_run_leaves_no_output_and_resume_finishes_it(tmp_path):
    src = tmp_path / "in.csv"
    write_input(src, 30000, bad_every=1999)
    reference_out, out, rejects = tmp_path / "ref.csv", tmp_path / "out.csv", tmp_path / "rej.csv"
    full = addrcode("normalize", "-i", str(src), "-o", str(reference_out), "--jobs", "1", "--chunk-size", "500", "-q")
    assert full.returncode == 1
    expected_rows = list(csv.DictReader(reference_out.open()))
    args = ["normalize", "-i", str(src), "-o", str(out), "--rejects", str(rejects), "--jobs", "1",
            "--chunk-size", "500", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "addrcode", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = tmp_path / ".out.csv.journal"
    wait_for_checkpoint(journal, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and not rejects.exists()  # nothing half-written under the final names
    if not journal.exists():
        pytest.skip("the run finished before it could be killed (machine too fast)")
    done = addrcode(*args[:-1], "--resume")
    assert done.returncode == 1, done.stderr
    assert "resumed after" in done.stderr
    ok_rows = list(csv.DictReader(out.open()))
    bad_rows = list(csv.DictReader(rejects.open()))
    # rows in = rows out + rejects, no duplicates, same content as an uninterrupted run
    assert len(ok_rows) + len(bad_rows) == 30000
    merged = sorted(ok_rows + bad_rows, key=lambda r: int(r["id"]))
    assert merged == expected_rows
    assert not journal.exists() and not (tmp_path / ".out.csv.partial").exists()


def _pool_workers(pid: int) -> set[int]:
    """The multiprocessing workers whose parent is `pid` (from /proc)."""
    kids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text() and \
                    b"spawn_main" in (status.parent / "cmdline").read_bytes():
                kids.add(int(status.parent.name))
        except OSError:
            continue
    return kids


def _kill_parent_and_see_workers_end(tmp_path, settle: float) -> None:
    """Start a 2-job run, SIGKILL it `settle` s after both its workers exist, and check they end."""
    src = tmp_path / "in.csv"
    write_input(src, 60000)
    proc = subprocess.Popen([sys.executable, "-m", "addrcode", "normalize", "-i", str(src), "-o",
                             str(tmp_path / "out.csv"), "--jobs", "2", "--chunk-size", "500", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    workers: set[int] = set()
    while len(workers) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
        workers = _pool_workers(proc.pid)
    if proc.poll() is not None:
        pytest.skip("the run finished before its workers could be seen")
    time.sleep(settle)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def running(pid):  # a zombie (exited, not yet reaped by init) is not running
        try:
            return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False

    deadline = time.time() + 15
    while time.time() < deadline and any(running(w) for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if running(w)]
    for w in alive:  # do not leave them behind even when the test fails
        os.kill(w, signal.SIGKILL)
    assert workers and not alive


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to find the worker processes")
def test_workers_end_when_the_parent_is_killed(tmp_path):
    """SIGKILL leaves the pool no chance to stop its workers: they notice and exit on their own."""
    _kill_parent_and_see_workers_end(tmp_path, settle=1.0)  # workers running chunks


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to find the worker processes")
def test_workers_end_when_the_parent_is_killed_while_they_start(tmp_path):
    """Killed while its spawned workers are still starting (their interpreter importing: the usual
    case on a busy machine, where it made the test above flaky): a worker that then finds its
    parent gone exits at once instead of watching init forever."""
    _kill_parent_and_see_workers_end(tmp_path, settle=0.0)


def test_ctrl_c_while_workers_start_is_raised_after_they_have_started():
    """A Ctrl-C that the kernel hands to another thread (numpy's BLAS thread has SIGINT unblocked)
    still makes Python raise KeyboardInterrupt in the main thread at once, even with SIGINT
    blocked there: inside the pool's start-up that cut a worker off from its start-up data. It is
    held back until the block ends, then raised."""
    import threading

    def ctrl_c_from_another_thread():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # as a thread started before the block
        os.kill(os.getpid(), signal.SIGINT)

    reached_end = False
    with pytest.raises(KeyboardInterrupt):
        with batch._spawning_without_sigint():
            other = threading.Thread(target=ctrl_c_from_another_thread)
            other.start()
            other.join()
            time.sleep(0.05)  # the main thread passes many points where Python raises a pending signal
            reached_end = True
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_ctrl_c_stops_workers_quietly_and_resume_finishes(tmp_path):
    """Ctrl-C (SIGINT to the whole process group): exit 130, one message saying how to resume, no
    traceback from the workers, and the resumed run gives what an uninterrupted one gives."""
    src = tmp_path / "in.csv"
    write_input(src, 60000)
    whole = tmp_path / "whole.csv"
    assert addrcode("normalize", "-i", str(src), "-o", str(whole), "--jobs", "1", "-q").returncode == 0
    out = tmp_path / "out.csv"
    args = ["normalize", "-i", str(src), "-o", str(out), "--jobs", "2", "--chunk-size", "500"]
    proc = subprocess.Popen([sys.executable, "-m", "addrcode", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    journal = tmp_path / ".out.csv.journal"
    wait_for_checkpoint(journal, proc)
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be interrupted (machine too fast)")
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "--resume" in err and "Traceback" not in err, err
    assert not out.exists()
    done = addrcode(*args, "--resume", "-q")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == whole.read_bytes()


def test_resume_refuses_other_input_or_nothing_to_resume(tmp_path):
    src = tmp_path / "in.csv"
    write_input(src, 10)
    out = tmp_path / "out.csv"
    p = addrcode("normalize", "-i", str(src), "-o", str(out), "--resume")
    assert p.returncode == 2 and "nothing to resume" in p.stderr
    p = addrcode("normalize", "--resume", "12 Main St")
    assert p.returncode == 2 and "--resume needs" in p.stderr


def test_failed_run_leaves_no_partial_files(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"")
    out = tmp_path / "out.csv"
    p = addrcode("normalize", "-i", str(src), "-o", str(out))
    assert p.returncode == 3
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.csv"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc for a file size limit test")
def test_disk_full_fails_cleanly(tmp_path):
    import resource

    src = tmp_path / "in.csv"
    write_input(src, 20000)
    out = tmp_path / "out.csv"

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed

    p = subprocess.run([sys.executable, "-m", "addrcode", "normalize", "-i", str(src), "-o", str(out), "-q"],
                       capture_output=True, text=True, timeout=300, preexec_fn=limit)
    assert p.returncode == 3, p.stderr
    assert "cannot write the output" in p.stderr and "Traceback" not in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.csv"]


def test_a_failing_chunk_path_is_redone_row_by_row_and_said(capsys, monkeypatch):
    """`many` failing is a bug, not a bad row: no row is lost, and it is said once (type only, no data)."""
    monkeypatch.setattr(batch, "_FALLBACK_NOTED", set())

    class Job:
        def __call__(self, query):
            return {"status": "ok", "reason": "", "echo": query.upper()}

        def many(self, queries):
            raise KeyError(queries[0])

    items = [("12 main st", "", ()), ("", "line 3: unclosed quote", ()), ("9 elm st", "", ("note",))]
    for _ in range(2):
        out = batch.apply_chunk(Job(), items)
        assert [r["status"] for r in out] == ["ok", "rejected", "ok"]
        assert out[0]["echo"] == "12 MAIN ST" and out[2]["warnings"] == ["note"]
    err = capsys.readouterr().err
    assert err.count("internal error in the chunk path (KeyError)") == 1
    assert "main" not in err.lower()


def test_the_collector_is_quiet_during_a_run_and_restored_after(tmp_path):
    """The job's objects are frozen out of the cyclic collector and its thresholds raised while the
    rows run (a full collection walked every cache object and cost a fifth of a row's time), and
    a library caller gets the collector back as it was, a cycle made during the run still freed."""
    import gc
    import weakref

    class Cyclic:
        pass

    seen, refs = [], []

    def job(query):
        node = Cyclic()
        node.self = node  # garbage only the cyclic collector can free
        refs.append(weakref.ref(node))
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return {"status": "ok", "reason": "", "query": query}

    before = gc.get_threshold()
    plan = batch.RunPlan(fmt="csv", columns=["address", "status"], text=str,
                         to_output=lambda record, result: {"address": result["query"], "status": result["status"]},
                         output=str(tmp_path / "out.csv"))
    records = [InputRecord(line=i + 2, fields={"address": f"{i} Main St"}) for i in range(50)]
    summary = batch.execute(records, job, plan, column="address")
    assert summary.rows == 50 and len(seen) == 50
    assert all(t == batch._BATCH_GC_THRESHOLDS and frozen > 0 for t, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.collect()
    assert all(r() is None for r in refs)

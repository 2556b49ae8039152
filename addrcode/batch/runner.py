"""Run a job over a stream of input records: one output record per input record, in order.

A *job* (see `addrcode.batch.jobs`) turns one query into an ordered dict of fields with at least
`status` and `reason`. This module owns the guarantees around it:

- a record that fails gets `status=error` and never stops the batch; unusable input rows become
  rejects with their line number; rows in = ok + rejected + error, always (`Summary`);
- records are processed in chunks, in worker processes with `jobs > 1` (each worker builds its
  job -- reference, zones, keyring -- once), with at most `2 * jobs` chunks in flight, so memory
  stays flat however long the input is, and output stays in input order;
- output files are written under a `.partial` name with a journal updated after every completed
  chunk; a run killed halfway continues with `resume=True` from the last completed chunk, and the
  final file appears (renamed) only when the whole input is done.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from addrcode import files
from addrcode.batch.failures import internal_error, show_traceback
from addrcode.batch.io import InputRecord, RecordWriter
from addrcode.batch.summary import Summary
from addrcode.errors import DataError, UsageError
from addrcode.records import Parcel

DEFAULT_CHUNK_SIZE = 2000


# --------------------------------------------------------------------------- one record


def query_of(record: InputRecord, column: str | None, components: dict[str, str] | None,
             details: dict[str, str] | None = None):
    """What the job processes for one input record: a text, or a dict of address components; with
    `details` (name, phone, notes -> column), a `Parcel` of that address and those cells."""
    if components:
        query = {part: record.fields.get(col, "") for part, col in components.items()}
    elif column is not None:
        query = record.fields.get(column, "")
    else:
        query = record.text
    if details:
        return Parcel(query, **{part: record.fields.get(col, "") for part, col in details.items()})
    return query


def apply(job: Callable, query, error: str = "", warnings: Iterable[str] = ()) -> dict:
    """Run `job` on one query; never raises.

    An unusable input row (`error`) becomes `rejected`; an exception inside the job becomes
    `error` with the exception's class as the reason (never its text, which might hold the address).
    """
    if error:
        result = {"status": "rejected", "reason": error}
    else:
        try:
            result = job(query)
        except Exception as exc:  # a bad row must never stop the batch
            result = internal_error(exc)
    if warnings:
        result["warnings"] = list(result.get("warnings") or []) + list(warnings)
    return result


def apply_chunk(job: Callable, items: list[tuple]) -> list[dict]:
    """Run `job` on a chunk of (query, error, warnings) items; never raises.

    A job with a `many(queries)` method (vectorised over a chunk, e.g. encode) gets the usable
    rows in one call; if that call fails, the chunk is redone row by row so only the bad row errs.
    `many` already turns a bad row into an error record, so its failing is a bug in the chunk path:
    said once per process on stderr (the exception type only, never data) rather than hidden.
    """
    many = getattr(job, "many", None)
    if many is not None and not any(error or warnings for _, error, warnings in items):  # the usual chunk
        results = _many(many, [query for query, _, _ in items])
        if results is not None:
            return results
    elif many is not None:
        usable = [n for n, (_, error, _) in enumerate(items) if not error]
        results = _many(many, [items[n][0] for n in usable])
        if results is not None:
            by_position = dict(zip(usable, results))
            out = []
            for n, (query, error, warnings) in enumerate(items):
                result = by_position.get(n) or apply(job, query, error)
                if warnings:
                    result["warnings"] = list(result.get("warnings") or []) + list(warnings)
                out.append(result)
            return out
    return [apply(job, query, error, warnings) for query, error, warnings in items]


def _many(many: Callable, queries: list) -> list[dict] | None:
    """`many(queries)`, or None when it failed or lost a row (the chunk is then redone row by row)."""
    try:
        results = many(queries)
    except Exception as exc:
        _note_chunk_fallback(exc)
        return None
    return results if len(results) == len(queries) else None


_FALLBACK_NOTED: set = set()


def _note_chunk_fallback(exc: Exception) -> None:
    import sys

    kind = type(exc).__name__
    show_traceback(exc)
    if kind not in _FALLBACK_NOTED:
        _FALLBACK_NOTED.add(kind)
        print(f"addrcode: internal error in the chunk path ({kind}); chunks are redone row by row "
              "(results are complete, but slower). Please report it.", file=sys.stderr)


def run(records: Iterable[InputRecord], job: Callable, *, column: str | None = None,
        components: dict[str, str] | None = None,
        details: dict[str, str] | None = None) -> Iterator[tuple[InputRecord, dict]]:
    """Apply `job` to every record in this process, in order, yielding (input record, result)."""
    for chunk in chunked(records, DEFAULT_CHUNK_SIZE):
        yield from zip(chunk, apply_chunk(job, _items(chunk, column, components, details)))


def _items(chunk: list[InputRecord], column, components, details=None) -> list[tuple]:
    return [(query_of(r, column, components, details), r.error, r.warnings) for r in chunk]


# --------------------------------------------------------------------------- chunks and workers


def chunked(records: Iterable[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    chunk: list[InputRecord] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_WORKER_JOB = None


def _init_worker(parent: int, make_job: Callable, args: tuple) -> None:
    import signal

    global _WORKER_JOB
    # Ctrl-C reaches the whole process group: the parent handles it (checkpoint, message, exit);
    # a worker would only print a traceback from inside its queue. The worker starts with SIGINT
    # blocked (see `_spawning_without_sigint`): ignore it first, then unblock, so a Ctrl-C that
    # arrived while this process was starting is discarded rather than raised.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _watch_parent(parent)  # the pid the parent gave: one read here may already be init's
    _WORKER_JOB = make_job(*args)
    _quiet_collector()  # for the worker's whole life: it only runs chunks


# The cyclic garbage collector during a batch. With the default thresholds it ran a full collection
# every ~10,000 rows, walking every object of the reference's caches, and took 20 of the 92 µs a row
# cost (issue 21, benchmarks/RESULTS.md). Per-row objects die by reference counting; what the caches
# keep lives for the run. So: the job's objects (built before the rows) are frozen out of the
# collector's reach, and young collections run every 100,000 allocations instead of 700, the oldest
# generation rarely. At 20,000 a young collection still ran every ~5,000 rows (a chunk's records
# and results are alive until written) and cost 2.9-3.9 µs a row; at 100,000, 1.6 (same peak RSS,
# same output). Cycles are still collected, later.
_BATCH_GC_THRESHOLDS = (100_000, 20, 100)


def _quiet_collector() -> tuple[int, int, int]:
    """Freeze what exists now (the job) out of the collector and raise its thresholds; returns the old ones."""
    import gc

    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_BATCH_GC_THRESHOLDS)
    return old


@contextmanager
def _batch_collector() -> Iterator[None]:
    """`_quiet_collector` for the duration of one run, then the collector as it was."""
    import gc

    old = _quiet_collector()
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """End this worker when its parent `parent` is gone. A parent killed with SIGKILL (the OOM
    killer, `kill -9`) cannot stop its pool, and the workers would wait on their queue forever,
    each holding a reference and its caches. A parent killed while this worker was still starting
    (a spawned interpreter takes a while on a busy machine) is already gone: exit now."""
    import threading

    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="addrcode-parent-watch", daemon=True).start()


def _work(payload: list[tuple]) -> list[dict]:
    return apply_chunk(_WORKER_JOB, payload)


def map_chunks(chunks: Iterator[list[InputRecord]], job: Callable, *, jobs: int = 1,
               make_job: Callable | None = None, make_job_args: tuple = (), column: str | None = None,
               components: dict[str, str] | None = None,
               details: dict[str, str] | None = None) -> Iterator[list[tuple[InputRecord, dict]]]:
    """Process chunks in order, yielding each chunk's (record, result) pairs.

    With `jobs > 1` and more than one chunk of input, chunks go to `jobs` worker processes, each
    building its own job with `make_job(*make_job_args)` (picklable); at most `2 * jobs` chunks
    are in flight. Otherwise `job` runs here.
    """
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None) if jobs > 1 and make_job is not None else None
    if second is None:  # one chunk of input, or one job: no worker start-up cost
        for chunk in _prepend([first], chunks):
            yield list(zip(chunk, apply_chunk(job, _items(chunk, column, components, details))))
        return

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no SQLite handle or lock crosses a fork
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                               initargs=(os.getpid(), make_job, make_job_args))
    finished = False
    try:
        pending: deque = deque()
        for chunk in _prepend([first, second], chunks):
            items = _items(chunk, column, components, details)
            with _spawning_without_sigint():  # the pool starts its worker processes inside submit
                future = pool.submit(_work, items)
            pending.append((chunk, future))
            if len(pending) >= 2 * jobs:
                chunk_done, future = pending.popleft()
                yield list(zip(chunk_done, future.result()))
        while pending:
            chunk_done, future = pending.popleft()
            yield list(zip(chunk_done, future.result()))
        finished = True
    finally:
        # interrupted or failed (Ctrl-C, the reader of stdout gone): drop the queued chunks rather
        # than compute them, and wait for the workers to end their current chunk. Waiting costs
        # nothing (the interpreter's exit waits for the pool anyway) and is needed on Python 3.11:
        # there the exit hook wakes the pool's manager thread through a pipe that thread may be
        # closing at that moment (a flag checked without a lock; CPython added one, gh-125451),
        # and `| head` printed "OSError: Bad file descriptor" about one run in twenty.
        pool.shutdown(wait=True, cancel_futures=not finished)


@contextmanager
def _spawning_without_sigint() -> Iterator[None]:
    """Hold Ctrl-C back while worker processes may be started, and raise it right after.

    Two things: SIGINT is blocked in this thread, so a worker starts with it blocked (a child
    inherits the signal mask; without this a Ctrl-C landing between a worker's start and its
    initializer's `SIG_IGN` prints a `KeyboardInterrupt` traceback from the worker). And the
    interrupt is deferred: the mask alone does not stop it, since the kernel gives the signal to
    any thread not blocking it (numpy's BLAS thread, started at import) and Python then raises
    `KeyboardInterrupt` in the main thread wherever it is, e.g. between starting a worker and
    sending it its start-up data (the worker then printed "EOFError: Ran out of input")."""
    import signal
    import threading

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    caught: list = []
    in_main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    handler = signal.signal(signal.SIGINT, lambda *got: caught.append(got)) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        if caught and callable(handler):
            handler(*caught[0])  # the default one raises KeyboardInterrupt here, outside the start-up
        elif caught and handler == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


def _prepend(items: list, rest: Iterator) -> Iterator:
    yield from items
    yield from rest


# --------------------------------------------------------------------------- resumable output


@dataclass
class OutputTarget:
    """One output of a run. A regular file is written as `.NAME.partial` beside it (created exclusively,
    never through a symlink, with `mode`) and renamed at the end; a stream (device, FIFO, `/dev/fd/N`;
    see `addrcode.files`) is written directly and cannot be resumed."""

    place: files.OutputPlace
    mode: int = files.DEFAULT_FILE_MODE

    @property
    def path(self) -> Path | None:
        return self.place.path

    @property
    def partial(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    def open(self, resume_bytes: int | None):
        if self.place.is_stream:
            raw = os.fdopen(self.place.open_fd(), "wb")
        elif resume_bytes is None:
            raw = files.create_private(self.partial, self.mode)
        else:
            raw = files.open_private(self.partial)
            raw.truncate(resume_bytes)  # drop whatever a killed run wrote after its last checkpoint
            raw.seek(resume_bytes)
        import io

        self.stream = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
        return self.stream

    def checkpoint(self) -> int:
        self.stream.flush()
        if self.place.is_stream:
            return 0
        os.fsync(self.stream.fileno())
        return os.fstat(self.stream.fileno()).st_size

    def commit(self) -> None:
        if self.place.is_stream:
            self.stream.close()
            return
        self.checkpoint()
        self.stream.close()
        os.chmod(self.partial, self.mode)  # a resumed .partial may come from a run with another mode
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        try:
            self.stream.close()
        except (OSError, AttributeError, ValueError):
            pass
        if not self.place.is_stream:
            try:
                os.unlink(self.partial)
            except OSError:
                pass


class Journal:
    """The checkpoint of a run writing to files: how many input records are done, and where.

    Written atomically after each completed chunk, next to the output (`.NAME.journal`), by renaming
    a fresh private file over it (a symlink planted under that name is replaced, not followed).
    """

    def __init__(self, output: Path, identity: dict):
        self.path = output.with_name(f".{output.name}.journal")
        self.identity = identity

    def load(self) -> dict | None:
        try:
            with files.open_private(self.path, "rb") as fh:
                state = json.loads(fh.read())
        except (OSError, ValueError):
            return None
        return state if state.get("identity") == self.identity else {"mismatch": True}

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def save(self, state: dict) -> None:
        files.write_private(self.path, json.dumps({"identity": self.identity, **state}))

    def remove(self) -> None:
        """Remove the journal, and the temporary files of saves a kill interrupted."""
        files.remove_private(self.path)


def input_identity(input_path: str, options: dict) -> dict:
    """What must not change between a run and its resumption: the input file and the options."""
    st = os.stat(input_path)
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"input": os.path.abspath(input_path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "options": digest}


# --------------------------------------------------------------------------- the whole run


@dataclass
class RunPlan:
    """Everything `execute` needs besides the records: output shapes and where they go."""

    fmt: str
    columns: list[str]
    text: Callable[[dict], str]
    to_output: Callable[[InputRecord, dict], dict]
    # with fmt "csv": the same record's cells in `columns` order, without the dict (None: from `to_output`)
    row_of: Callable[[InputRecord, dict], list] | None = None
    delimiter: str = ","
    streaming: bool = False  # records arrive one at a time (stdin): process each as it comes
    output: str | None = None  # None or "-" = stdout
    rejects: str | None = None
    identity: dict | None = None  # input identity for a resumable run (file in, file out)
    resume: bool = False
    file_mode: int = files.DEFAULT_FILE_MODE  # of the output and rejects files


def execute(records: Iterable[InputRecord], job: Callable, plan: RunPlan, *, jobs: int = 1,
            chunk_size: int = DEFAULT_CHUNK_SIZE, make_job: Callable | None = None, make_job_args: tuple = (),
            column: str | None = None, components: dict[str, str] | None = None,
            details: dict[str, str] | None = None, notify: Callable[[str], None] | None = None, stdout=None,
            observe: Callable[[InputRecord, dict], None] | None = None) -> Summary:
    """Run `job` over `records` and write the outputs described by `plan`. Returns the summary.

    `observe(record, result)` sees every record in order (e.g. to build a run report on the way).
    """
    import sys

    run_files = _RunFiles(plan)
    state = run_files.earlier_state(notify)
    done = state["records"] if state else 0
    summary = Summary.from_state(state["summary"]) if state else Summary()
    out, rej = run_files.open(state, stdout or sys.stdout)
    try:
        writer, rej_writer = _writers(plan, out, rej, state)
        if run_files.journal is not None and state is None:  # resumable from the first moment
            run_files.journal.save(run_files.checkpoint(0, writer, rej_writer, summary))
        records = iter(records)
        for _ in range(done):  # re-read, through the same parser, what is already written
            next(records, None)
        size = 1 if plan.streaming else chunk_size
        with _batch_collector():  # see _BATCH_GC_THRESHOLDS
            for pairs in map_chunks(chunked(records, size), job, jobs=1 if plan.streaming else jobs,
                                    make_job=make_job, make_job_args=make_job_args, column=column,
                                    components=components, details=details):
                summary.add_pairs(pairs)
                if plan.row_of is not None and rej_writer is None and observe is None:  # the usual CSV run
                    writer.write_rows([plan.row_of(record, result) for record, result in pairs])
                else:
                    _write_pairs(pairs, plan, writer, rej_writer, observe)
                done += len(pairs)
                if run_files.journal is not None:
                    run_files.journal.save(run_files.checkpoint(done, writer, rej_writer, summary))
        # offsets before the closing trailers, for a kill between the renames
        final = run_files.checkpoint(done, writer, rej_writer, summary) if run_files.journal is not None else None
        writer.close()
        if rej_writer is not None:
            rej_writer.close()
        run_files.commit(final)
    except KeyboardInterrupt:
        if run_files.journal is not None and run_files.journal.exists():
            message = f"interrupted: {done} rows done; run the same command with --resume to continue"
        else:  # nothing to resume from (stdin in, or stdout or a stream out): no hidden leftovers
            run_files.discard()
            message = f"interrupted after {done} rows" + ("; nothing was kept" if run_files.to_file else "")
        if notify:
            notify(message)
        raise
    except OSError as err:
        run_files.discard()
        if isinstance(err, BrokenPipeError):
            raise
        name = plan.output if run_files.to_file else "stdout"
        raise DataError(f"{name}: cannot write the output ({err.strerror or err}); nothing was kept") from None
    except BaseException:
        run_files.discard()
        raise
    return summary


def _write_pairs(pairs: list, plan: RunPlan, writer: RecordWriter, rej_writer: RecordWriter | None,
                 observe: Callable | None) -> None:
    """Write a chunk's (record, result) pairs one by one: rejects to their own file, each seen by `observe`."""
    for record, result in pairs:
        if observe is not None:
            observe(record, result)
        w = rej_writer if rej_writer is not None and result.get("status") != "ok" else writer
        if plan.row_of is not None:
            w.write_row(plan.row_of(record, result))
        else:
            w.write(plan.to_output(record, result))


def _writers(plan: RunPlan, out, rej, state: dict | None) -> tuple[RecordWriter, RecordWriter | None]:
    """The writers of the output and of the rejects file (None without one), continuing a resumed run."""
    writer = RecordWriter(out, plan.fmt, plan.columns, plan.text, delimiter=plan.delimiter,
                          resume_count=state["written"] if state else None)
    if rej is None:
        return writer, None
    rej_fmt = "csv" if plan.fmt == "text" else plan.fmt
    return writer, RecordWriter(rej, rej_fmt, plan.columns, plan.text, delimiter=plan.delimiter,
                                resume_count=state["rejects_written"] if state else None)


class _RunFiles:
    """The files of one run: the output and rejects targets (None for stdout or no rejects), and the
    journal that makes the run resumable (None unless file in, file out)."""

    def __init__(self, plan: RunPlan):
        self.plan = plan
        self.to_file = plan.output not in (None, "-")
        self.target = self._target(plan.output) if self.to_file else None
        self.rejects = self._target(plan.rejects) if plan.rejects else None
        regular = [t.path for t in (self.target, self.rejects) if t is not None and not t.place.is_stream]
        if len(regular) == 2 and regular[0] == regular[1]:
            raise UsageError(f"{plan.rejects}: --rejects must name another file than -o "
                             "(one would overwrite the other)")
        # resumable only when every output is a regular file: a stream cannot be truncated and continued
        resumable = self.to_file and plan.identity and len(regular) == 1 + (self.rejects is not None)
        self.journal = Journal(self.target.path, plan.identity) if resumable else None

    def _target(self, path: str) -> OutputTarget:
        return OutputTarget(files.output_place(path), self.plan.file_mode)

    def earlier_state(self, notify) -> dict | None:
        """The checkpoint of the unfinished run to continue (`plan.resume`), else None; an unfinished
        earlier run that is not resumed is discarded (with a note)."""
        target, journal = self.target, self.journal
        if not self.plan.resume:
            if journal is not None and journal.exists():
                if notify:
                    notify(f"note: discarding an unfinished earlier run of {target.path} (use --resume to continue it)")
                journal.remove()
            return None
        if journal is None:
            raise UsageError("--resume needs an input file (-i FILE) and an output file (-o FILE)")
        state = journal.load()
        if state is not None and state.get("committing"):
            # Killed while renaming the finished files into place: put back the ones already renamed,
            # and let this run rename all of them (no rows to add; offsets drop the closing trailers).
            for t in (target, self.rejects):
                if t is not None and not os.path.lexists(t.partial) and t.path.exists():
                    os.replace(t.path, t.partial)
        if state is None or not os.path.lexists(target.partial):
            raise UsageError(f"{target.path}: nothing to resume (no unfinished run); run without --resume")
        if state.get("mismatch"):
            raise UsageError(f"{target.path}: the unfinished run used another input file or other options; "
                             "run without --resume to start over")
        return state

    def open(self, state: dict | None, stdout) -> tuple:
        """(output stream, rejects stream or None), positioned after the checkpoint of `state`."""
        target, rejects = self.target, self.rejects
        try:  # an unwritable directory is a clear error, and never leaves the other file's .partial behind
            out = target.open(state["output_bytes"] if state else None) if target else stdout
            rej = rejects.open(state["rejects_bytes"] if state else None) if rejects else None
        except (OSError, DataError) as err:
            for t in (target, rejects):
                if t is not None and state is None:
                    t.discard()
            if isinstance(err, DataError):
                raise
            name = err.filename or (self.plan.output if self.to_file else self.plan.rejects)
            raise DataError(f"{name}: cannot write the output ({err.strerror or err}); check the directory's "
                            "permissions") from None
        return out, rej

    def checkpoint(self, done: int, writer: RecordWriter, rej_writer: RecordWriter | None, summary: Summary) -> dict:
        """The journal state after `done` input records: the bytes and records written so far, and the counts."""
        return {"records": done, "output_bytes": self.target.checkpoint(),
                "rejects_bytes": self.rejects.checkpoint() if self.rejects else 0, "written": writer.count,
                "rejects_written": rej_writer.count if rej_writer else 0, "summary": summary.to_state()}

    def commit(self, final: dict | None) -> None:
        """Rename the finished files into place (the journal says so first, for a kill in between)."""
        if self.journal is not None:
            self.journal.save({**final, "committing": True})
        for t in (self.target, self.rejects):
            if t is not None:
                t.commit()
        if self.journal is not None:
            self.journal.remove()

    def discard(self) -> None:
        """Remove the `.partial` files and the journal: nothing of a failed run is kept."""
        for t in (self.target, self.rejects):
            if t is not None:
                t.discard()
        if self.journal is not None:
            self.journal.remove()

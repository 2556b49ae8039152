"""The batch frame: one call runs a batch command from its input to its outputs.

`run_batch(command, config, InputSpec(...), OutputSpec(...), RunSpec(...))` is what `addrcode
normalize|geocode|encode|decode|resolve` do: it picks the input reader (TEXT arguments, stdin lines,
CSV or Parquet), chooses the address columns (`addrcode.batch.columns`), builds the job once
(`addrcode.batch.jobs.make_job`), describes the outputs and their resume state for
`addrcode.batch.runner.execute`, builds the run report on the way if asked, and returns the
`Summary`. With `RunSpec(engine="dask"|"spark")` the run goes to `addrcode.batch.engines` instead.

Nothing here prints or exits: messages go through `notify`, the progress bar is the caller's
(`progress`), and the caller turns the summary into an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

from addrcode.batch.runner import DEFAULT_CHUNK_SIZE
from addrcode.errors import UsageError

PREFIX = "addrcode_"  # output columns appended to a CSV or Parquet input's own columns


@dataclass(frozen=True)
class InputSpec:
    """Where a batch run's records come from, and which columns hold the address.

    `texts`: addresses given as arguments; else `path` (`-i FILE`): a CSV file (`-` = CSV on
    stdin) or a Parquet file (by its magic bytes); else one record per stdin line. `column` is
    the one-line address column, `components` maps parts (number, street, unit, city, state,
    postcode) to columns; with neither, the columns are guessed from the header. `details` maps
    the delivery details sealed by `encode --seal` (name, phone, notes) to columns.
    """

    texts: tuple[str, ...] = ()
    path: str | None = None
    column: str | None = None
    components: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    delimiter: str = ","
    encoding: str | None = None

    @property
    def is_file(self) -> bool:
        """Whether the input is a named file (not arguments, not stdin)."""
        return self.path not in (None, "-")


@dataclass(frozen=True)
class OutputSpec:
    """Where a batch run's records go. `path` `-` is stdout; `fmt` None is csv for CSV or
    Parquet input, else text. `rejects`: rejected and failed records go there instead.
    `report`: also write the HTML run report (encode): no address text unless `show_addresses`;
    `row_hash` adds each example's keyed hash (`addrcode.outputs.report.ReportBuilder`)."""

    path: str = "-"
    fmt: str | None = None
    rejects: str | None = None
    report: str | None = None
    show_addresses: bool = False
    row_hash: bool = False

    @property
    def is_file(self) -> bool:
        """Whether the output is a named file (not stdout)."""
        return self.path not in (None, "-")


@dataclass(frozen=True)
class RunSpec:
    """How a batch run is executed: `jobs` worker processes (None: all cores; 1 for resolve),
    records per chunk, resuming an interrupted run, and the engine (local, dask or spark;
    `scheduler` and `workers` are Dask's)."""

    jobs: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    resume: bool = False
    engine: str = "local"
    scheduler: str | None = None
    workers: int = 2


class Progress(Protocol):
    """A progress display by bytes of input read (the CLI's bar on a terminal)."""

    def update_to(self, n: int) -> None: ...

    def finish(self) -> None: ...


def run_batch(command: str, config, source: InputSpec, target: OutputSpec, how: RunSpec | None = None, *,
              options: Mapping | None = None, notify: Callable[[str], None] | None = None,
              progress: Callable[[int], Progress] | None = None):
    """Run `command` (normalize, geocode, encode, decode, resolve) over `source` into `target`.

    One output record per input record, in input order. `config` is an `addrcode.config.Config`;
    `options` are the job's own (encode: `with_coords`). `progress(total_bytes)` makes a progress
    display for a file input. Returns the run's `Summary` (an `EngineRun` on Dask or Spark).
    Raises `UsageError` for contradictory or missing choices, `DataError` for unusable data.
    """
    from addrcode.batch import runner
    from addrcode.batch.jobs import make_job, prepare_config

    how = how or RunSpec()
    if how.engine != "local":
        return _run_on_engine(command, config, source, target, how, dict(options or {}), notify)
    _check_local_choices(source, target)
    _check_details(command, source, options or {})
    config = prepare_config(command, config, notify)
    job = make_job(command, config, options, notify=notify)
    if target.is_file and target.path.lower().endswith(".parquet"):
        raise UsageError(f"{target.path}: Parquet output needs --engine dask or spark; write CSV or JSONL here")
    shown = _ProgressRelay()
    header, records, column, components = _open_records(source, shown.update_to, flush_idle=not target.is_file)
    if source.details:
        from addrcode.batch.columns import check_columns

        check_columns(header, source.details.values(), source.path)
    plan = _run_plan(command, config, options, job, source, target, how, header, column, components, notify)
    if progress is not None and source.is_file:
        shown.display = progress(os.path.getsize(source.path))
    jobs = how.jobs
    if jobs is None:  # resolving is a dictionary look-up: worker start-up would cost more than it saves
        jobs = 1 if command == "resolve" else os.cpu_count() or 1
    builder = observe = None
    if target.report:  # `encode --report FILE`: the run report is built on the way, refused rows included
        builder, observe = _report_observer(config, target, column, components)
    summary = runner.execute(records, job, plan, jobs=jobs, chunk_size=how.chunk_size, make_job=make_job,
                             make_job_args=(command, config, options), column=column,
                             components=components or None, details=dict(source.details) or None, notify=notify,
                             observe=observe)
    if builder is not None:
        builder.write(Path(target.report), source_name=os.path.basename(source.path or "stdin"),
                      file_mode=config.file_mode)
    shown.finish()
    return summary


def _check_local_choices(source: InputSpec, target: OutputSpec) -> None:
    from addrcode.files import refuse_same_file

    for option, path in (("-o", target.path), ("--rejects", target.rejects), ("--report", target.report)):
        refuse_same_file(path, source.path, option)
    if source.texts and source.path:
        raise UsageError("give addresses as arguments or with -i FILE, not both")
    if (source.column or source.components) and not source.path:
        raise UsageError("--column and the component columns (--street, --city ...) need a CSV input (-i FILE)")
    if source.column and source.components:
        raise UsageError("use either --column or the component columns (--street, --city ...), not both")


def _check_details(command: str, source: InputSpec, options: Mapping) -> None:
    if source.details and not options.get("seal"):
        raise UsageError("--name-column, --phone-column and --notes-column name what is sealed for the delivering "
                         "station: add --seal" + ("" if command == "encode" else " (encode only)"))
    if source.details and not source.path:
        raise UsageError("--name-column, --phone-column and --notes-column need a CSV input (-i FILE)")


def _run_on_engine(command, config, source: InputSpec, target: OutputSpec, how: RunSpec, options: dict, notify):
    from addrcode.batch import engines

    if not source.is_file or not target.is_file:
        raise UsageError(f"--engine {how.engine} needs an input file or folder (-i) and an output folder (-o)")
    if target.report or target.rejects or how.resume:
        raise UsageError("--report, --rejects and --resume work with --engine local only")
    _check_details(command, source, options)
    components = dict(source.components)
    common = dict(command=command, config=config, column=source.column if source.column or components else "address",
                  components=components or None, details=dict(source.details) or None, notify=notify, **options)
    common["demo"] = True  # the CLI's rule: the demo keyring with its warning on stderr (said by prepare_config)
    if how.engine == "dask":
        return engines.run_dask(source.path, target.path, scheduler=how.scheduler, n_workers=how.workers, **common)
    return engines.run_spark(source.path, target.path, **common)


def _open_records(source: InputSpec, progress: Callable[[int], None], *, flush_idle: bool):
    """(header or None, records, one-line column, component columns) of the input."""
    from addrcode.batch import io
    from addrcode.batch.columns import choose_columns

    if source.path:
        name = "<stdin>" if source.path == "-" else source.path
        if source.is_file and io.is_parquet(source.path):
            header, records = io.read_parquet(source.path, progress=progress)
        else:
            header, records = io.read_csv(io.open_input(source.path), name=name, delimiter=source.delimiter,
                                          encoding=source.encoding, progress=progress)
        column, components = choose_columns(header, source.column, source.components, name)
        return header, records, column, components
    if source.texts:
        return None, (io.InputRecord(line=0, text=t) for t in source.texts), None, {}
    # Answer each line at once when the input pauses (a scanner, a person typing): flush stdout
    # whenever the next read would block, not after every line of a big file.
    records = io.read_lines(sys.stdin.buffer, encoding=source.encoding,
                            on_idle=sys.stdout.flush if flush_idle else None)
    return None, records, None, {}


def _run_plan(command, config, options, job, source: InputSpec, target: OutputSpec, how: RunSpec, header,
              column, components, notify=None):
    """The output shapes and their resume identity, for `runner.execute`."""
    from addrcode.batch import runner

    if header is not None:
        ours = [PREFIX + f for f in job.fields]
        replaced = [h for h in header if h in ours]  # an input that is an earlier output: one set of columns
        if replaced and notify:
            notify(f"note: the input already has {len(replaced)} of this command's columns ({replaced[0]} ...); "
                   "they are replaced by this run's values")
        kept = [h for h in header if h not in ours]
        fmt, columns = target.fmt or "csv", kept + ours
        to_output = partial(_to_output_replacing, frozenset(replaced)) if replaced else _to_output
        row_of = _CsvRow(kept, job.fields) if fmt == "csv" else None
    else:
        fmt, columns = target.fmt or "text", ["input"] + job.fields
        to_output, row_of = _to_text_output, None
    identity = None
    if source.is_file and target.is_file:  # what must not change between a run and its resumption
        identity = runner.input_identity(source.path, {
            "command": command, "config": repr(config), "options": repr(sorted((options or {}).items())),
            "column": column, "components": components, "details": dict(source.details), "fmt": fmt,
            "delimiter": source.delimiter,
            "rejects": target.rejects, "chunk_size": how.chunk_size})
    return runner.RunPlan(fmt=fmt, columns=columns, text=job.text if header is None else _PrefixedText(job.text),
                          to_output=to_output, row_of=row_of,
                          delimiter=source.delimiter if fmt == "csv" and header is not None else ",",
                          streaming=not source.path and not source.texts and not target.is_file,
                          output=target.path, rejects=target.rejects, identity=identity, resume=how.resume,
                          file_mode=config.file_mode)


_PREFIXED: dict[str, str] = {}  # field -> PREFIX + field, made once (this runs per output row)


def _to_output(record, result: dict) -> dict:
    """A CSV/Parquet input row with the result appended as `addrcode_*` columns."""
    out = dict(record.fields)
    for k, v in result.items():
        name = _PREFIXED.get(k)
        if name is None:
            name = _PREFIXED[k] = PREFIX + k
        out[name] = v
    return out


def _to_output_replacing(replaced: frozenset, record, result: dict) -> dict:
    """`_to_output` of an input that has some of this command's columns (an earlier output): this
    run's result alone fills them (a rejected row has no code, not the earlier run's)."""
    return _to_output(replace(record, fields={k: v for k, v in record.fields.items() if k not in replaced}), result)


class _CsvRow:
    """A CSV output row's cells in column order, `_to_output`'s values without building its dict (this
    runs per row): the input's cells of `kept` (its columns but this command's), then the result's
    `fields` (None for a field the result lacks, as for a cell the input row lacks)."""

    def __init__(self, kept: list[str], fields: list[str]):
        self.kept, self.fields = kept, fields

    def __call__(self, record, result: dict) -> list:
        return [*map(record.fields.get, self.kept), *map(result.get, self.fields)]


def _to_text_output(record, result: dict) -> dict:
    return {"input": record.text, **result}


class _PrefixedText:
    """The job's text line, for records whose result fields carry the `addrcode_` prefix."""

    def __init__(self, text: Callable[[dict], str]):
        self.text = text

    def __call__(self, record: dict) -> str:
        return self.text({k[len(PREFIX):]: v for k, v in record.items() if k.startswith(PREFIX)})


def _report_observer(config, target: OutputSpec, column, components):
    """A `ReportBuilder` and the `observe(record, result)` that feeds it every record of the run."""
    from addrcode.batch import runner
    from addrcode.batch.jobs import open_zones
    from addrcode.outputs.report import ReportBuilder

    builder = ReportBuilder(open_zones(config), show_addresses=target.show_addresses, row_hash=target.row_hash)

    def observe(record, result):
        query = runner.query_of(record, column, components or None)
        builder.add({**result, "address": " ".join(query.values()) if isinstance(query, dict) else query})

    return builder, observe


class _ProgressRelay:
    """Forwards the readers' byte counts to a progress display made once the input is open."""

    def __init__(self):
        self.display: Progress | None = None

    def update_to(self, n: int) -> None:
        if self.display is not None:
            self.display.update_to(n)

    def finish(self) -> None:
        if self.display is not None:
            self.display.finish()


# --------------------------------------------------------------------------- records for labels


def rows_for_labels(path: str, delimiter: str, *, column: str | None, load_config: Callable[[], object],
                    notify: Callable[[str], None] | None = None) -> list[dict]:
    """The rows of an `addrcode label` input (CSV or JSON Lines, by suffix) as dicts.

    Rows of an encode output (a `code` or `addrcode_code` column) come as they are; plain
    addresses are encoded on the way (with `load_config()`, called only then), their results
    appended as `addrcode_*` fields.
    """
    from addrcode.batch import io

    header, rows = io.read_rows(path, delimiter)
    keys = set(header or (rows[0] if rows else {}))
    if not rows or keys & {"code", "addrcode_code"}:
        return rows
    return encode_rows(rows, sorted(keys) if header is None else header, load_config(), column=column,
                       name=path, notify=notify)


def encode_rows(rows: list[dict], header: list[str], config, *, column: str | None = None, name: str = "",
                notify: Callable[[str], None] | None = None) -> list[dict]:
    """Encode rows of address columns in this process: each row with `addrcode_*` fields appended."""
    from addrcode.batch import runner
    from addrcode.batch.columns import choose_columns
    from addrcode.batch.io import InputRecord
    from addrcode.batch.jobs import make_job, prepare_config

    config = prepare_config("encode", config, notify)
    job = make_job("encode", config, notify=notify)
    chosen, components = choose_columns(header, column, {}, name)
    records = [InputRecord(line=n, fields=row) for n, row in enumerate(rows, 2)]
    return [_to_output(record, result)
            for record, result in runner.run(records, job, column=chosen, components=components or None)]


def write_records(records: Iterable[dict], output: str, fmt: str, fields: list[str],
                  text: Callable[[dict], str], *, file_mode: int = 0o600) -> int:
    """Write `records` to `output` (`-` = stdout; a file atomically); return how many are not ok."""
    from addrcode.batch import io

    failed = 0
    with io.OutputFile(output, mode=file_mode) as out:
        writer = io.RecordWriter(out, fmt, fields, text)
        for record in records:
            failed += record.get("status") != "ok"
            writer.write(record)
        writer.close()
    return failed


def scan_images(images: Iterable[str], config, output: str, fmt: str, *, dpi: int = 200,
                notify: Callable[[str], None] | None = None) -> int:
    """`addrcode scan`: read the codes on label images, resolve them with the configured station table,
    write one record per code found (or per unreadable file) to `output`; return how many are not ok."""
    from addrcode.batch.jobs import open_resolver
    from addrcode.outputs.scan import ScanJob

    job = ScanJob(open_resolver(config, notify), dpi=dpi)
    return write_records(job(images), output, fmt, job.fields, job.text, file_mode=config.file_mode)

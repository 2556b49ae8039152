"""The batch jobs as a function over pandas frames, for Dask, Spark and any other engine.

`process_frame(df, command="encode", column="address")` runs one job (`addrcode.batch.jobs`) over one
chunk of rows and returns the chunk with `addrcode_*` columns appended: every input column kept,
one output row per input row, in order, and a bad row never raises (it gets status `error` or
`rejected` with a reason, exactly as in `addrcode encode -i FILE`, because the rows go through the
same `addrcode.batch.runner.run`).

Resources (reference, zones, keyring) are loaded once per worker process and thread, on the first
chunk, and kept in a module-level cache keyed by the command, the `Config` and the options. So
an engine can call the plain function on every partition:

    ddf.map_partitions(process_frame, command="encode", column="address",
                       meta=frame_meta("encode", ddf._meta))                  # Dask
    sdf.mapInPandas(lambda it: (process_frame(b, column="address") for b in it),
                    schema=spark_schema("encode", sdf.columns))                 # Spark

`run_dask` and `run_spark` do exactly that for CSV/Parquet inputs and write a directory of part
files (plus `_addrcode.json`, the run's counts). Data files are opened by path on the workers:
on a multi-machine cluster the reference, zones and keyring must sit at the same path on every
machine (a shared or copied read-only folder), as must the input and output folders. Before
any worker starts, `addrcode.batch.engine_setup` checks that the input matches files and that
a `--scheduler` answers, and starts Spark logging errors only.

No silent demo keyring: encode and decode refuse (`UsageError`) a configuration whose keyring is the
public demo keyring (or none, which means the demo keyring) unless `demo=True` is passed, and then
warn (`DemoKeyringWarning`; the CLI says it on stderr instead) that its codes are not private.

Output column types are stable across engines: every column is a string except the scores and
coordinates (`score`, `lon`, `lat`, `cell_lon`, `cell_lat`), which are floats (NaN when absent).
Missing input cells (None/NaN) are read as empty text.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from addrcode.batch.columns import check_columns
from addrcode.batch.engine_setup import (
    CONNECT_TIMEOUT,
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    check_scheduler,
    input_files,
    quiet_warnings,
    spark_session,
)
from addrcode.batch.summary import Summary
from addrcode.errors import UsageError

PREFIX = "addrcode_"
COMMANDS = ("normalize", "geocode", "encode", "decode")
FLOAT_FIELDS = frozenset({"score", "lon", "lat", "cell_lon", "cell_lat"})
ENCODE_OPTIONS = frozenset({"min_precision", "min_score", "with_coords", "seal"})
MARKER = "_addrcode.json"  # written last into an output folder: the run's counts (no row data)
KEYRING_COMMANDS = ("encode", "decode")
_REPORTED = "reported"  # `demo` of workers whose client already warned: allowed, said once, not per worker


class DemoKeyringWarning(UserWarning):
    """Codes are being made or read with the published demo keyring: they are not private."""


def check_keyring(command: str, config, demo: bool | str = False, notify: Callable[[str], None] | None = None):
    """Refuse the demo keyring for encode/decode unless `demo`; with `demo=True` warn that it is in use.

    The keyring is the configured one, or the packaged demo keyring when none is configured; a
    configured demo keyring counts as the demo keyring. The warning goes to `notify` when given
    (the CLI's stderr line), else through `warnings.warn` (`DemoKeyringWarning`)."""
    from addrcode.batch import jobs

    if command not in KEYRING_COMMANDS:
        return
    if not jobs.open_keyring(config, notify if demo is True else None).is_demo:  # notify: the CLI's line
        return
    if not demo:
        raise UsageError(f"{command}: no keyring of your own is configured, so the public DEMO keyring would be "
                         "used, whose codes are NOT private (anyone can decode them). Pass a config with "
                         "`keyring` set (create one with `addrcode key new FILE`), or demo=True to use the "
                         "demo keyring knowingly")
    if demo is True and notify is None:
        warnings.warn("using the DEMO keyring: its codes are NOT private (anyone can decode them); "
                      "create your own with `addrcode key new FILE`", DemoKeyringWarning, stacklevel=3)


# --------------------------------------------------------------------------- jobs and schema


def job_fields(command: str, **options) -> list[str]:
    """The ordered output fields of `command` (without the `addrcode_` prefix), loading nothing."""
    from addrcode.batch import jobs

    _check_command(command, options)
    return jobs.job_fields(command, options)


def output_schema(command: str, input_columns: Iterable[str] = (), **options) -> dict[str, str]:
    """Column name -> type ("string" or "double") of the frames `process_frame` returns.

    Input columns are listed as strings (read CSV input as text); an input column that has the
    name of an output column is replaced in place, as the CLI does.
    """
    schema = {str(c): "string" for c in input_columns}
    for name in job_fields(command, **options):
        schema[PREFIX + name] = "double" if name in FLOAT_FIELDS else "string"
    return schema


def frame_meta(command: str, input_frame_or_columns, **options):
    """An empty pandas frame shaped like `process_frame`'s output, for Dask's `meta=`.

    Pass the input frame (or Dask's `ddf._meta`) to keep the input columns' own dtypes, or a
    list of column names to have them typed as strings.
    """
    import pandas as pd

    if isinstance(input_frame_or_columns, pd.DataFrame):
        base = input_frame_or_columns.iloc[:0].copy()
    else:
        base = pd.DataFrame({c: pd.Series([], dtype=_STRING()) for c in input_frame_or_columns})
    for name in job_fields(command, **options):
        base[PREFIX + name] = pd.Series([], dtype="float64" if name in FLOAT_FIELDS else _STRING(),
                                        index=base.index)
    return base


def spark_schema(command: str, input_columns: Iterable[str], **options) -> str:
    """The Spark DDL schema string for `mapInPandas(..., schema=...)`."""
    return ", ".join(f"`{name.replace('`', '``')}` {kind}"
                     for name, kind in output_schema(command, input_columns, **options).items())


def _STRING():
    # One string dtype for every output string column, whatever pandas' default string
    # inference is (object in pandas 2, "str" in pandas 3): meta and data always agree.
    import pandas as pd

    return pd.StringDtype()


def _check_command(command: str, options: Mapping) -> None:
    if command not in COMMANDS:
        raise UsageError(f"command {command!r} cannot run on an engine; choose one of {', '.join(COMMANDS)}")
    allowed = ENCODE_OPTIONS if command == "encode" else frozenset()
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"{command}: unknown option(s) {', '.join(unknown)}"
                         + (f" (known: {', '.join(sorted(allowed))})" if allowed else ""))


def build_job(command: str, config, notify: Callable[[str], None] | None = None, *, demo: bool | str = False,
              **options):
    """A fresh job for `command`, loading its resources from `config` (an `addrcode.config.Config`):
    the command and options checked for an engine, the keyring checked (`check_keyring`: the demo
    keyring only with `demo=True`), then the one job factory, `jobs.make_job`."""
    from addrcode.batch import jobs

    _check_command(command, options)
    check_keyring(command, config, demo if notify is None else bool(demo) and _REPORTED)  # make_job says it
    return jobs.make_job(command, config, options, notify)


_LOCAL = threading.local()  # per thread: the geocoder's caches are not made for concurrent use
_BUILT: dict[str, int] = {}  # "command options" -> jobs built in this process, all threads
_BUILT_LOCK = threading.Lock()


def get_job(command: str = "encode", config=None, *, demo: bool | str = False, **options):
    """The cached job for (command, config, options) in this process and thread; built on first use.

    `config` is a `Config`, a path to a TOML file, or None (the layered default, read on the worker).
    `demo`: allow the demo keyring (see `check_keyring`).
    """
    config = _as_config(config)
    key = (command, config, bool(demo), tuple(sorted(options.items())))
    cache = getattr(_LOCAL, "jobs", None)
    if cache is None:
        cache = _LOCAL.jobs = {}
    job = cache.get(key)
    if job is None:
        job = cache[key] = build_job(command, config, demo=demo, **options)
        with _BUILT_LOCK:
            label = " ".join([command] + [f"{k}={v}" for k, v in key[3]])
            _BUILT[label] = _BUILT.get(label, 0) + 1
    return job


def jobs_built() -> dict[str, int]:
    """How many jobs this process has built, by command and options (to check "once per worker")."""
    with _BUILT_LOCK:
        return dict(_BUILT)


def clear_cache() -> None:
    """Forget this thread's cached jobs (tests; long-lived workers switching data)."""
    _LOCAL.jobs = {}


def _as_config(config):
    from addrcode.config import Config, load_config

    if config is None or isinstance(config, (str, os.PathLike)):
        return load_config(config)
    if not isinstance(config, Config):
        raise UsageError(f"config must be an addrcode Config or a path to addrcode.toml, not {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- one frame


def process_frame(df, *, command: str = "encode", config=None, column: str | None = "address",
                  components: Mapping[str, str] | None = None, details: Mapping[str, str] | None = None,
                  demo: bool | str = False, **options):
    """Run `command` over every row of `df`; return `df`'s columns plus `addrcode_*` columns.

    `df` is a pandas DataFrame, or a `pyarrow.Table` (for Arrow-native engines: Ray, DuckDB,
    Polars via `to_arrow()`), in which case a `pyarrow.Table` is returned.
    The address is the text in `column`, or, with `components` (e.g. ``{"street": "addr1",
    "city": "town", "state": "st", "postcode": "zip"}``), the given columns as components.
    Options are the command's (`min_precision`, `min_score`, `with_coords`, `seal` for encode; with
    `seal=True`, `details` maps name/phone/notes to the columns sealed with the address). One output
    row per input row, same index, same order; a row that fails is reported in its status and
    reason columns and never raises. A missing column or unknown option raises `UsageError`, and so
    does a configuration without a keyring of its own (encode, decode) unless `demo=True`, which
    uses the public demo keyring with a `DemoKeyringWarning`: its codes are not private.
    """
    import pandas as pd

    from addrcode.batch.io import InputRecord
    from addrcode.batch.runner import run

    if _is_arrow_table(df):
        import pyarrow as pa

        out = process_frame(df.to_pandas(), command=command, config=config, column=column,
                            components=components, details=details, demo=demo, **options)
        return pa.Table.from_pandas(out, preserve_index=False)

    fields = job_fields(command, **options)
    components, details = dict(components or {}), dict(details or {})
    if details and not options.get("seal"):
        raise UsageError("details are sealed for the delivering station: pass seal=True")
    check_columns(df.columns, _wanted(column, components) + list(details.values()))
    job = get_job(command, config, demo=demo, **options)

    if components or details:
        cols = list(dict.fromkeys([*(components.values() if components else [column]), *details.values()]))
        records = (InputRecord(line=i, fields=dict(zip(cols, map(_text, values))))
                   for i, values in enumerate(zip(*(df[c].tolist() for c in cols)), 1))
    else:
        records = (InputRecord(line=i, text=_text(v)) for i, v in enumerate(df[column].tolist(), 1))

    columns: dict[str, list] = {name: [] for name in fields}
    for _, result in run(records, job, column=column if details and not components else None,
                         components=components or None, details=details or None):
        for name in fields:
            columns[name].append(result.get(name))

    out = df.copy(deep=False)
    for name in fields:
        values = columns[name]
        if name in FLOAT_FIELDS:
            series = pd.Series([float("nan") if v is None or v == "" else float(v) for v in values],
                               index=df.index, dtype="float64")
        else:
            series = pd.Series([_cell(v) for v in values], index=df.index, dtype=_STRING())
        out[PREFIX + name] = series
    return out


def _is_arrow_table(obj) -> bool:
    # by type name: pyarrow is only imported when the caller already passed one of its tables
    return type(obj).__module__.startswith("pyarrow") and type(obj).__name__ == "Table"


def _text(value) -> str:
    """An input cell as text: None/NaN/NA -> "" (a missing cell is an empty address, not an error)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, str):
        return value
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _cell(value) -> str:
    """An output value as text, as the CLI's CSV writer renders it (lists joined with "; ")."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


class FrameProcessor:
    """`process_frame` bound to its arguments: a picklable callable for engines that want one.

    Dask: ``ddf.map_partitions(FrameProcessor("encode", column="address"), meta=...)``;
    Ray Data: ``ds.map_batches(FrameProcessor, fn_constructor_kwargs=..., batch_format="pandas")``;
    Spark: ``sdf.mapInPandas(FrameProcessor(...).batches, schema=...)``.
    """

    def __init__(self, command: str = "encode", *, config=None, column: str | None = "address",
                 components: Mapping[str, str] | None = None, details: Mapping[str, str] | None = None,
                 demo: bool | str = False, **options):
        job_fields(command, **options)  # fail early on a bad command or option
        self.command, self.config, self.column, self.demo = command, config, column, demo
        self.components = dict(components) if components else None
        self.details = dict(details) if details else None
        self.options = options

    def __call__(self, df):
        return process_frame(df, command=self.command, config=self.config, column=self.column,
                             components=self.components, details=self.details, demo=self.demo, **self.options)

    def batches(self, frames: Iterable) -> Iterator:
        """For Spark's `mapInPandas`: an iterator of frames in, an iterator of frames out."""
        for df in frames:
            yield self(df)

    def meta(self, input_frame_or_columns):
        """The Dask `meta` for this processor's output."""
        return frame_meta(self.command, input_frame_or_columns, **self.options)


# --------------------------------------------------------------------------- whole runs


@dataclass
class EngineRun(Summary):
    """What a `run_dask`/`run_spark` run did: the batch summary's counts (rows = ok + rejected +
    errors, reasons grouped alike) plus the engine, partitions, wall time and files."""

    engine: str = ""
    command: str = ""
    partitions: int = 0
    seconds: float = 0.0
    output: str = ""
    files: list[str] = field(default_factory=list)

    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def _how(self) -> str:
        return f" ({self.engine}, {self.partitions} partitions)"

    def to_dict(self) -> dict:
        return {"engine": self.engine, "command": self.command, "rows": self.rows, "ok": self.ok,
                "rejected": dict(self.rejected), "errors": dict(self.errors), "partitions": self.partitions,
                "seconds": round(self.seconds, 3), "files": [Path(f).name for f in self.files]}


def count_statuses(df) -> dict:
    """Per-partition counts {"rows", "ok", "rejected": {kind: n}, "errors": {kind: n}} of an output frame."""
    counts = Summary()
    for status, reason in zip(df[PREFIX + "status"].tolist(), df[PREFIX + "reason"].tolist()):
        counts.count(status, reason)
    return counts.to_state()


def file_format(path, given: str | None = None) -> str:
    """"csv" or "parquet": the given format, else from the suffix (a folder: from its files)."""
    if given:
        if given not in ("csv", "parquet"):
            raise UsageError(f"format must be csv or parquet, got {given!r}")
        return given
    p = Path(path)
    names = [p.name]
    if p.is_dir():
        names = [c.name for c in sorted(p.iterdir()) if not c.name.startswith(("_", "."))]
    for name in names:
        name = name.lower()
        if name.endswith(PARQUET_SUFFIXES):
            return "parquet"
        if name.endswith(CSV_SUFFIXES):
            return "csv"
    raise UsageError(f"{path}: cannot tell the format from the name; say csv or parquet")


def _input_format(path, files: list[str], given: str | None) -> str:
    """The input's format: given, from its name, else from its first file (a glob such as `in/*`)."""
    try:
        return file_format(path, given)
    except UsageError:
        if given or not files:
            raise
        return file_format(files[0])


def prepare_config(command: str, config=None, notify: Callable[[str], None] | None = None, *,
                   demo: bool | str = False, **options):
    """Check the data files on the client before any worker starts, and pin the paths.

    The embedded default reference is built here once (not by every worker at the same time),
    and the returned `Config` names it, so workers never look at their own cache folder. The
    keyring is checked here too (`check_keyring`: the demo keyring only with `demo=True`).
    """
    from addrcode.batch import jobs

    config = _as_config(config)
    _check_command(command, options)
    config = jobs.prepare_config(command, config, notify)
    if command in ("geocode", "encode"):  # absolute: the workers may run in another folder
        config = replace(config, reference=config.reference.resolve())
    if command in KEYRING_COMMANDS:
        check_keyring(command, config, demo, notify)
        jobs.open_zones(config, notify)
    if options.get("seal"):  # every region key read once here: a bad .pub fails before the workers start
        jobs.open_sealer(config)
        config = replace(config, delivery_keys=config.delivery_keys.resolve())
    return config


def _staging(output_path: Path) -> Path:
    """A fresh folder next to the output, renamed into place at the end (no half-written output)."""
    output_path = Path(output_path)
    if output_path.exists():
        if not output_path.is_dir() or (any(output_path.iterdir()) and not (output_path / MARKER).is_file()):
            raise UsageError(f"{output_path}: exists and is not an addrcode output folder; "
                             "choose a new output folder or remove it")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f".{output_path.name}.", suffix=".tmp", dir=output_path.parent))


def _publish(staging: Path, output_path: Path, run: EngineRun) -> None:
    output_path = Path(output_path)
    run.files = sorted(str(output_path / p.name) for p in staging.iterdir() if not p.name.startswith(("_", ".")))
    (staging / MARKER).write_text(json.dumps(run.to_dict(), indent=2) + "\n")
    if output_path.exists():
        shutil.rmtree(output_path)  # a previous addrcode output (checked in _staging)
    os.replace(staging, output_path)
    run.output = str(output_path)


@quiet_warnings()
def run_dask(input_path, output_path, *, command: str = "encode", config=None, column: str | None = "address",
             components: Mapping[str, str] | None = None, details: Mapping[str, str] | None = None,
             scheduler: str | None = None, n_workers: int = 2,
             threads_per_worker: int = 1, input_format: str | None = None, output_format: str | None = None,
             blocksize: str | int | None = None, npartitions: int | None = None,
             connect_timeout: float = CONNECT_TIMEOUT, notify: Callable[[str], None] | None = None,
             demo: bool = False, **options) -> EngineRun:
    """Run `command` over a CSV or Parquet input with Dask; write a folder of part files.

    `input_path`: a file, a glob or a folder of part files. `output_path`: a folder, written as
    `part-00000.csv` ... (or `.parquet`) in input order, plus `_addrcode.json` with the counts;
    it appears only when the run succeeds. With `scheduler` (an address such as
    ``tcp://10.0.0.5:8786``) the job runs on that cluster, which must answer within
    `connect_timeout` seconds (else `DataError`), else on a `distributed.LocalCluster`
    of `n_workers` processes × `threads_per_worker`. CSV is read as text (ZIP codes keep their
    leading zeros); `blocksize` sets the CSV partition size (default: about 8 partitions per
    worker thread, between 64 kB and 4 MB, so every core stays busy to the end),
    `npartitions` repartitions. `demo`: allow the demo keyring (said once, here, not by each worker).
    Raises `UsageError`/`DataError` for bad arguments or data files, before any worker starts.
    """
    try:
        import dask.dataframe as dd
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UsageError(f"the Dask engine needs `pip install 'addrcode[dask]'` ({exc.name} is missing)") from None

    started = time.perf_counter()
    # Checked first, in the order a user fixes them: the input, the cluster, then the data files
    # (prepare_config may build the default reference, which takes seconds).
    in_fmt = _input_format(input_path, input_files(input_path), input_format)
    out_fmt = file_format(output_path, output_format or in_fmt)
    # absolute paths: the workers may run in another folder (or on another machine sharing it)
    files = [os.path.abspath(f) for f in input_files(input_path, in_fmt)]
    compressed = in_fmt == "csv" and _compressed(input_path, files)
    input_path, output_path = Path(input_path).absolute(), Path(output_path).absolute()
    if scheduler:
        check_scheduler(scheduler, connect_timeout)
    config = prepare_config(command, config, notify, demo=demo, **options)
    processor = FrameProcessor(command, config=config, column=column, components=components, details=details,
                               demo=_REPORTED if demo else False, **options)
    run = EngineRun(engine="dask", command=command)

    cluster = None
    client = Client(scheduler, timeout=connect_timeout) if scheduler else None
    if client is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    staging = _staging(Path(output_path))
    try:
        if in_fmt == "csv":
            if compressed:
                blocksize = None  # a compressed file cannot be split: one partition per file
            elif blocksize is None:
                blocksize = _auto_blocksize(files, sum(client.nthreads().values()) or 1)
            ddf = dd.read_csv(files, dtype=str, keep_default_na=False, na_filter=False, blocksize=blocksize,
                              compression="infer")
        else:
            ddf = dd.read_parquet(files)
        if npartitions:
            ddf = ddf.repartition(npartitions=npartitions)
        check_columns(list(ddf.columns), _wanted(column, components) + list((details or {}).values()), input_path)
        # Each partition is processed and written by one task, which returns only its counts:
        # one pass over the data, nothing but the counts comes back to the client.
        writer = _PartitionWriter(processor, str(staging), out_fmt)
        counts = ddf.map_partitions(writer, meta=_COUNTS_META(), align_dataframes=False)
        run.partitions = counts.npartitions
        parts = counts.compute().to_dict("records")
        for p in parts:
            run.merge(json.loads(p["counts"]))
        run.seconds = time.perf_counter() - started
        _publish(staging, Path(output_path), run)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return run


def _COUNTS_META():
    import pandas as pd

    return pd.DataFrame({"part": pd.Series([], dtype="int64"), "counts": pd.Series([], dtype=object)})


class _PartitionWriter:
    """A Dask task: process one partition, write it as `part-NNNNN.csv|parquet`, return its counts."""

    def __init__(self, processor: FrameProcessor, folder: str, fmt: str):
        self.processor, self.folder, self.fmt = processor, folder, fmt

    def __call__(self, df, partition_info=None):
        import pandas as pd

        if partition_info is None:  # dask calls once on an empty meta frame, without a partition
            return _COUNTS_META()
        number = partition_info["number"]
        out = self.processor(df)
        path = Path(self.folder) / f"part-{number:05d}.{self.fmt}"  # zero-padded: file order = row order
        if self.fmt == "csv":
            _neutralise_frame(out).to_csv(path, index=False, encoding="utf-8")
        else:
            out.to_parquet(path, index=False)
        return pd.DataFrame({"part": [number], "counts": [json.dumps(count_statuses(out))]})


def _compressed(input_path, files: list[str]) -> bool:
    """Whether the CSV files are compressed; Dask takes the compression of the first file for all,
    so a mix of plain and compressed files is refused rather than misread."""
    kinds = {os.path.splitext(f)[1].lower() if f.lower().endswith(_COMPRESSED) else "" for f in files}
    if len(kinds) > 1:
        raise UsageError(f"{input_path}: mixes plain and compressed ({', '.join(sorted(kinds - {''}))}) CSV "
                         "files; Dask reads one kind per run: give a glob such as *.csv or *.csv.gz")
    return kinds != {""}


_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


def _auto_blocksize(source: str | list[str], threads: int) -> int:
    """CSV partition size: ~8 partitions per worker thread, 64 kB to 4 MB. Many partitions keep
    every worker busy to the end (with 7 partitions on 2 workers, the last one runs alone). The
    cap bounds a worker's memory, which holds a whole partition and its output: 4 MB is ~80,000
    rows, ~600 MB per worker and ~15 s of work at ~5,000 rows/s, so the per-task overhead (~ms)
    does not count (benchmarks/RESULTS.md, batch)."""
    import glob

    if isinstance(source, str):
        paths = glob.glob(source) if any(c in source for c in "*?[") else [source]
    else:
        paths = source
    size = sum(os.path.getsize(p) for p in paths)
    return int(min(4 << 20, max(64 << 10, size // (8 * threads) + 1)))


def _wanted(column, components) -> list:
    """The input columns a run reads: the component columns, else the one-line column."""
    return list(components.values()) if components else [column]


def _neutralise_frame(df):
    """Text cells a spreadsheet would evaluate get a leading quote, by the rule of the CLI's CSV output
    (`addrcode.batch.io.neutralise`); numbers and number columns are never touched."""
    from addrcode.batch.io import neutralise

    df = df.copy(deep=False)
    for name in df.columns:
        if df[name].dtype.kind in "OUT" or str(df[name].dtype) in ("string", "str"):
            col = df[name]
            quoted = col.map(lambda v: neutralise(v) if isinstance(v, str) else v)
            if not quoted.equals(col):
                df[name] = quoted
    return df


@quiet_warnings()
def spark_map(sdf, *, command: str = "encode", config=None, column: str | None = "address",
              components: Mapping[str, str] | None = None, details: Mapping[str, str] | None = None,
              csv_safe: bool = False, demo: bool | str = False, **options):
    """`sdf.mapInPandas(process_frame)`: the Spark DataFrame with `addrcode_*` columns appended, lazily.

    Input columns must be strings (read CSV without schema inference); the order of rows within
    and across partitions is kept (no shuffle). `csv_safe` neutralises formula-like cells (for
    CSV output). `demo`: allow the demo keyring (said here, on the driver, not by each executor).
    """
    check_columns(list(sdf.columns), _wanted(column, components) + list((details or {}).values()), "input")
    if demo is True:
        check_keyring(command, _as_config(config), True)
    processor = FrameProcessor(command, config=config, column=column, components=components, details=details,
                               demo=_REPORTED if demo else False, **options)
    fn = _SafeBatches(processor) if csv_safe else processor.batches
    return sdf.mapInPandas(fn, schema=spark_schema(command, sdf.columns, **options))


class _SafeBatches:
    def __init__(self, processor: FrameProcessor):
        self.processor = processor

    def __call__(self, frames):
        for df in frames:
            yield _neutralise_frame(self.processor(df))


@quiet_warnings()
def run_spark(input_path, output_path, *, command: str = "encode", config=None, column: str | None = "address",
              components: Mapping[str, str] | None = None, details: Mapping[str, str] | None = None,
              spark=None, input_format: str | None = None,
              output_format: str | None = None, multiline: bool = False,
              notify: Callable[[str], None] | None = None, demo: bool = False, **options) -> EngineRun:
    """Run `command` over a CSV or Parquet input with PySpark `mapInPandas`; write a folder of part files.

    `spark`: a SparkSession (default: `spark_session()`, local mode on 2 cores). Output: Spark's
    part files (in partition order) plus `_addrcode.json` with the counts. `multiline`: CSV
    input has quoted fields spanning lines (Spark then cannot split a file across tasks).
    """
    started = time.perf_counter()
    # Spark lists the input itself (a folder of partition folders too); this checks, before the
    # JVM starts, that there is something to list.
    in_fmt = _input_format(input_path, input_files(input_path), input_format)
    out_fmt = file_format(output_path, output_format or in_fmt)
    config = prepare_config(command, config, notify, demo=demo, **options)
    spark = spark or spark_session()
    import pyspark.sql.functions as F  # after spark_session, which says how to install pyspark
    if in_fmt == "csv":
        sdf = spark.read.csv(str(input_path), header=True, inferSchema=False, multiLine=multiline, escape='"')
    else:
        sdf = spark.read.parquet(str(input_path))
    out = spark_map(sdf, command=command, config=config, column=column, components=components, details=details,
                    csv_safe=out_fmt == "csv", demo=_REPORTED if demo else False, **options)
    staging = _staging(Path(output_path))
    shutil.rmtree(staging)  # Spark creates the folder itself
    run = EngineRun(engine="spark", command=command)
    try:
        if out_fmt == "csv":
            out.write.csv(str(staging), header=True, escape='"', emptyValue="",
                          ignoreLeadingWhiteSpace=False, ignoreTrailingWhiteSpace=False)
            written = spark.read.csv(str(staging), header=True, inferSchema=False, escape='"')
        else:
            out.write.parquet(str(staging))
            written = spark.read.parquet(str(staging))
        # Counted from the files just written (two columns, no geocoding), not by caching the
        # whole output or running the job twice.
        counts = written.groupBy(F.col(PREFIX + "status"), F.col(PREFIX + "reason")).count().collect()
        for row in counts:
            run.count(row[0], row[1], row[2])
        run.partitions = out.rdd.getNumPartitions()
        for crc in staging.glob(".*.crc"):
            crc.unlink()
        (staging / "_SUCCESS").unlink(missing_ok=True)
        run.seconds = time.perf_counter() - started
        _publish(staging, Path(output_path), run)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return run

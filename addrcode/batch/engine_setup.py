"""What a Dask or Spark run needs before any data moves: its input files, a reachable Dask
scheduler, and a quiet Spark session.

These checks run on the client, before a worker starts, so that a wrong path or address ends
in one line and the documented exit code instead of a late, misleading engine traceback:
no matching input -> `UsageError` (exit 2), an unreachable scheduler -> `DataError` (exit 3).
Imports nothing from `addrcode.batch.engines` (which imports this module).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import sys
import tempfile
import warnings
from pathlib import Path

from addrcode.errors import DataError, UsageError

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zst")
PARQUET_SUFFIXES = (".parquet", ".pq")
CONNECT_TIMEOUT = 5.0  # seconds: a scheduler that answers at all answers in milliseconds


# --------------------------------------------------------------------------- input files


def input_files(path, fmt: str | None = None) -> list[str]:
    """The files an engine run reads for `path`, sorted: the file, the files directly inside a
    folder, or a glob's files; names starting with `_` or `.` (`_SUCCESS`, `.crc`, `_addrcode.json`)
    are left out, as Spark does.
    With `fmt` ("csv" or "parquet") a folder's files must have that format's suffix; without it,
    a folder's subfolders count too (Spark reads a folder of partition folders).

    Raises `UsageError` ("<path>: no input files match") when there are none, so that an empty
    glob or folder is reported as such rather than as a missing column of an empty frame.
    """
    text = str(path)
    if os.path.isdir(text):
        suffixes = {"csv": CSV_SUFFIXES, "parquet": PARQUET_SUFFIXES}.get(fmt or "")
        files = sorted(str(p) for p in Path(text).iterdir()
                       if not p.name.startswith(("_", ".")) and (p.is_file() or fmt is None)
                       and (suffixes is None or p.name.lower().endswith(suffixes)))
        if not files:
            kind = f"{fmt.upper()} " if fmt else ""
            raise UsageError(f"{path}: no input files match (the folder holds no {kind}data files)")
        return files
    if os.path.isfile(text):  # before the glob test: a file's name may hold [ or ?
        return [text]
    if not any(c in text for c in "*?["):
        raise UsageError(f"{path}: no such input file")
    files = sorted(f for f in glob.glob(text, recursive=True)
                   if os.path.isfile(f) and not os.path.basename(f).startswith(("_", ".")))
    if not files:
        raise UsageError(f"{path}: no input files match")
    return files


# --------------------------------------------------------------------------- Dask


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Connect once to the Dask scheduler at `address` (within `timeout` seconds) and hang up.

    `distributed.Client` would retry for 30 s, then fail with a long traceback, and a Client
    whose start failed stalls again when it is garbage-collected; this probe fails in
    `timeout` seconds with `DataError` (unreachable, with the reason) or `UsageError` (not an
    address), and creates no Client.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend
    from distributed.security import Security

    async def probe() -> str:
        """"" when a Dask scheduler answered, else why not."""
        scheme, location = parse_address(address)
        get_backend(scheme)  # both raise ValueError for a malformed address or an unknown scheme
        host_port = parse_host_port(location) if scheme in ("tcp", "tls", "ws", "wss") else None
        if host_port:
            # `connect` retries a name that does not resolve until the timeout: say so at once
            try:
                await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(*host_port), timeout)
            except socket.gaierror:
                return f"unknown host name {host_port[0]!r}"
            except (asyncio.TimeoutError, TimeoutError):
                return f"the host name {host_port[0]!r} did not resolve within {timeout:g} s"
        try:
            # the outer limit too: `connect` waits for the handshake's answer without one
            comm = await asyncio.wait_for(
                connect(address, timeout=timeout, **Security().get_connection_args("client")), timeout)
        except Exception as exc:  # timeouts, and any reply that is not Dask's (misread as a frame)
            # `connect` says "timed out" whatever the cause; a plain TCP connection tells which
            # (made only on failure, so a healthy scheduler never logs a connection without handshake)
            return (await _tcp_reason(*host_port, timeout) if host_port else "") or str(exc) or "timed out"
        await comm.close()
        return ""

    try:
        # in a thread of its own: the caller may already run an event loop (a notebook)
        with ThreadPoolExecutor(1) as pool:
            reason = pool.submit(asyncio.run, probe()).result()
    except ValueError as exc:  # distributed's word for a malformed address
        raise UsageError(f"--scheduler {address}: not a Dask scheduler address ({exc}); "
                         "give one like tcp://10.0.0.5:8786") from None
    if reason:
        raise DataError(f"cannot reach the Dask scheduler at {address}: {reason}; "
                        "check the address or run without --scheduler for a local cluster")


async def _tcp_reason(host: str, port: int, timeout: float) -> str:
    """Why a Dask connection to host:port failed, from one plain TCP connection attempt."""
    import asyncio

    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except (asyncio.TimeoutError, TimeoutError):
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    writer.close()
    return "the port is open, but no Dask scheduler answered there"


# --------------------------------------------------------------------------- quiet engines


@contextlib.contextmanager
def quiet_warnings():
    """Hide the FutureWarnings that pyspark, pandas and pyarrow raise about each other's versions
    ("PySpark does not yet fully support pandas >= 3.0.0", ...) within addrcode's engine code:
    the user can do nothing about them, and they bury the run's summary. Only warnings attributed
    to those libraries are hidden; one attributed to addrcode's own code still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(pyspark|pandas|pyarrow|py4j)(\.|$)")
        yield


# Spark's JVM logs WARN lines (loopback hostname, native-hadoop library, hidden paths) and,
# with no log4j2 configuration of its own, a "default log4j profile" banner: errors only here.
# PySpark's gateway counts as a shell: Spark prints "Setting default log level to WARN" unless
# the gateway's logger has a level of its own, equal to the root's.
_LOG4J2 = """\
status = error
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


def spark_session(app_name: str = "addrcode", master: str = "local[2]", **conf):
    """A local SparkSession whose Python workers run this interpreter (so they import addrcode),
    logging errors only and without a console progress bar.

    `conf`: extra Spark settings, e.g. ``{"spark.sql.files.maxPartitionBytes": "8m"}`` (keyword
    names with dots: pass them as ``**{...}``). A session that already runs is returned as it
    is, with its log level set to ERROR.
    """
    with quiet_warnings():
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise UsageError("the Spark engine needs `pip install 'addrcode[spark]'` and Java 17") from None
        # Spark starts its Python workers with `python3` from PATH unless told otherwise; they
        # must be this interpreter (the one with addrcode, pandas and pyarrow installed).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        # The JVM reads its log configuration once, at start-up: a private file, removed after.
        folder = Path(tempfile.mkdtemp(prefix="addrcode-spark-"))
        try:
            log_conf = folder / "log4j2.properties"
            log_conf.write_text(_LOG4J2, encoding="utf-8")
            java_options = " ".join(filter(None, [f"-Dlog4j2.configurationFile={log_conf.as_uri()}",
                                                  conf.pop("spark.driver.extraJavaOptions", "")]))
            builder = SparkSession.builder
            for key, value in conf.items():
                builder = builder.config(key, value)
            session = (builder.master(master).appName(app_name)
                       .config("spark.pyspark.python", sys.executable)
                       .config("spark.pyspark.driver.python", sys.executable)
                       .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.driver.extraJavaOptions", java_options)
                       .config("spark.sql.shuffle.partitions", "2")
                       .getOrCreate())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        session.sparkContext.setLogLevel("ERROR")  # also for a session started elsewhere
        return session

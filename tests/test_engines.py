"""The engine adapters: `process_frame` on pandas, Dask on a real LocalCluster, Spark local mode.

The engine runs are compared row by row with the single-process jobs (`EncodeJob` over the same
rows through `addrcode.batch.runner.run`) on noisy rows generated from the embedded Vermont data
(`data/vt-e911`), seeded, with bad rows mixed in (empty, junk, non-existent streets and towns,
formula-looking text, missing cells).
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import VT_ZONES

pd = pytest.importorskip("pandas")

from addrcode.batch import engines  # noqa: E402
from addrcode.config import Config  # noqa: E402
from addrcode.errors import DataError, UsageError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VT = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
N_ROWS = 2000  # ~5 s single-process at today's geocoder speed; enough for several partitions

_SUFFIX = {"RD": "Road", "ST": "Street", "LN": "Lane", "DR": "Drive", "AVE": "Avenue", "HL": "Hill"}
_BAD = ["", "   ", "asdf qwerty zxcv", "=HYPERLINK(\"http://x\")", "12 Quillfeather Lane, Zorbinville, VT 05999",
        "PO BOX", "ÅÄÖ ☃ 東京都", "-1 +2 @3", "1" * 300, "c/o nobody, nowhere"]


def noisy_rows(n: int, seed: int = 7) -> list[dict]:
    """`n` rows {id, address, street, city, state, zip}: real Vermont points, varied forms, ~10 % bad."""
    rng = random.Random(seed)
    with gzip.open(VT, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        pool = []
        for i, row in enumerate(reader):
            if i % 37 == 0:  # a spread-out sample of the 248k points, read quickly
                pool.append(row)
    rows = []
    for i in range(n):
        r = rng.choice(pool)
        num, street, city, zc = r["NUMBER"], r["STREET"], r["CITY"], r["POSTCODE"]
        kind = rng.random()
        if kind < 0.10:
            text = rng.choice(_BAD)
            street_c, city_c, zip_c = text, "", ""
        elif kind < 0.15:  # a street that does not exist in a real town
            text = f"{num} {rng.choice(['Zorbin', 'Yarrowmere', 'Pellucid'])} Road, {city}, VT {zc}"
            street_c, city_c, zip_c = f"{num} Zorbin Road", city, zc
        else:
            words = street.split()
            if words and words[-1] in _SUFFIX and rng.random() < 0.5:
                words[-1] = _SUFFIX[words[-1]]
            if rng.random() < 0.2:  # a typo in the longest word
                j = max(range(len(words)), key=lambda k: len(words[k]))
                w = words[j]
                if len(w) > 4:
                    k = rng.randrange(1, len(w) - 1)
                    words[j] = w[:k] + w[k + 1:]
            st = " ".join(words)
            form = rng.random()
            if form < 0.4:
                text = f"{num} {st}, {city}, VT {zc}"
            elif form < 0.6:
                text = f"{num} {st} {city} vt {zc}".lower()
            elif form < 0.8:
                text = f"{num} {st.title()}, {city.title()}, Vermont"
            else:
                text = f"{num} {st.title()} Apt {rng.randint(1, 9)}, {city.title()} VT {zc}"
            street_c, city_c, zip_c = f"{num} {st}", city, zc
        rows.append({"id": str(i), "address": text, "street": street_c, "city": city_c, "state": "VT",
                     "zip": zip_c})
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def addrcode(*args, timeout: float = 300):
    """The real command in a subprocess (python -m addrcode, same interpreter); stderr is a pipe,
    not a terminal, as when it goes to a file."""
    return subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True,
                          timeout=timeout)


def spark_missing() -> str:
    """Why Spark cannot run here ("" when it can): PySpark needs its package and Java 17."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Java not found: PySpark needs Java 17 (Debian: apt-get install -y openjdk-17-jre-headless)"
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'addrcode[spark]')"
    return ""


def single_process(job, rows: list[dict], column="address", components=None) -> list[dict]:
    """The reference: the job over the rows through the single-process batch loop."""
    from addrcode.batch.io import InputRecord
    from addrcode.batch.runner import run

    records = [InputRecord(line=i, text=r[column] if not components else "", fields=dict(r))
               for i, r in enumerate(rows, 1)]
    return [result for _, result in run(records, job, components=components)]


def assert_same(frame, rows: list[dict], expected: list[dict], fields: list[str]) -> None:
    """Row by row: input columns passed through, every output field equal to the single-process one."""
    assert len(frame) == len(rows) == len(expected)
    assert frame["id"].astype(str).tolist() == [r["id"] for r in rows]  # order kept
    for i, (got, want) in enumerate(zip(frame.to_dict("records"), expected)):
        for name in fields:
            g, w = got[engines.PREFIX + name], want.get(name)
            if name in engines.FLOAT_FIELDS:
                g = None if g is None or (isinstance(g, float) and math.isnan(g)) or g == "" else float(g)
                assert g == (None if w is None else float(w)), (i, name)
            else:
                g = "" if g is None or (isinstance(g, float) and math.isnan(g)) else str(g)
                assert g == engines._cell(w), (i, name)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def demo_config(vt_reference, tmp_path_factory) -> Config:
    """The embedded data with no keyring configured: the demo keyring, allowed only with demo=True."""
    return Config(reference=vt_reference, zones=Path(VT_ZONES), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def config(demo_config, tmp_path_factory) -> Config:
    """The embedded data with a keyring of its own, as a real caller's configuration names one."""
    from dataclasses import replace

    from addrcode.codes.keyring import new_keyring

    ring = tmp_path_factory.mktemp("keys") / "keyring.json"
    new_keyring(ring)
    return replace(demo_config, keyring=ring)


@pytest.fixture(scope="session")
def rows() -> list[dict]:
    if not VT.is_file():
        pytest.skip("embedded Vermont data (data/vt-e911) absent")
    return noisy_rows(N_ROWS)


@pytest.fixture(scope="session")
def expected(config, rows) -> list[dict]:
    """Single-process encode of `rows` (a fresh job, not the engines' cache)."""
    job = engines.build_job("encode", config)
    return single_process(job, rows)


@pytest.fixture(scope="session")
def input_csv(tmp_path_factory, rows) -> Path:
    return write_csv(tmp_path_factory.mktemp("in") / "orders.csv", rows)


# --------------------------------------------------------------------------- schema and frames


@pytest.mark.parametrize("command,options", [("normalize", {}), ("geocode", {}), ("encode", {}),
                                             ("encode", {"with_coords": True}), ("decode", {})])
def test_job_fields_match_the_jobs(config, command, options):
    """The schema known without loading anything is the one the loaded job produces."""
    job = engines.build_job(command, config, **options)
    assert engines.job_fields(command, **options) == list(job.fields)


def test_output_schema_and_meta_agree_with_process_frame(config):
    df = pd.DataFrame({"id": ["1", "2"], "address": ["637 College St, Middlebury VT 05753", ""]})
    out = engines.process_frame(df, config=config, with_coords=True)
    schema = engines.output_schema("encode", df.columns, with_coords=True)
    assert list(out.columns) == list(schema)
    assert [k for k, v in schema.items() if v == "double"] == ["addrcode_score", "addrcode_lon", "addrcode_lat"]
    meta = engines.frame_meta("encode", df, with_coords=True)
    assert list(meta.columns) == list(out.columns) and len(meta) == 0
    assert meta.dtypes.equals(out.dtypes)
    assert engines.spark_schema("encode", ["a`b"]).startswith("`a``b` string, `addrcode_status` string")


def test_process_frame_keeps_rows_index_and_input(config):
    df = pd.DataFrame({"address": ["637 College St, Middlebury VT 05753", None, float("nan"), "", "=1+1",
                                   "12 Zorbin Road, Middlebury, VT 05753"],
                       "other": list("abcdef")}, index=[10, 11, 12, 13, 14, 15])
    out = engines.process_frame(df, config=config)
    assert out.index.tolist() == df.index.tolist()
    assert out["other"].tolist() == list("abcdef")
    assert pd.isna(out["address"].iloc[1])  # the missing input cell itself is passed through untouched
    status = out["addrcode_status"].tolist()
    assert status[0] == "ok" and out["addrcode_code"].iloc[0].count("-") == 2
    assert status[1:] == ["rejected"] * 5  # missing cells are empty addresses, not errors
    assert out["addrcode_reason"].iloc[1] == out["addrcode_reason"].iloc[3]
    assert (out["addrcode_code"].iloc[1:] == "").all()
    assert df.columns.tolist() == ["address", "other"]  # the caller's frame is not modified


def test_process_frame_takes_and_returns_an_arrow_table(config):
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"id": [1, 2, 3], "address": ["637 College St, Middlebury VT 05753", None, "=1+1"]})
    table = pa.Table.from_pandas(df, preserve_index=False)
    out = engines.process_frame(table, config=config, with_coords=True)
    assert isinstance(out, pa.Table) and out.num_rows == 3
    assert out.column_names == list(engines.output_schema("encode", df.columns, with_coords=True))
    assert out.schema.field("addrcode_score").type == pa.float64()
    want = engines.process_frame(df, config=config, with_coords=True)
    got = out.to_pandas()
    for name in want.columns:
        if name.startswith("addrcode_"):
            assert got[name].fillna(-1).tolist() == want[name].fillna(-1).tolist(), name
    assert got["id"].tolist() == [1, 2, 3] and got["addrcode_status"].tolist() == ["ok", "rejected", "rejected"]


def test_process_frame_components_and_numbers(config):
    df = pd.DataFrame({"street": ["637 College St", "637 College St"], "town": ["Middlebury", "Middlebury"],
                       "st": ["VT", "VT"], "zip": ["05753", None]})
    out = engines.process_frame(df, config=config, components={"street": "street", "city": "town",
                                                                   "state": "st", "postcode": "zip"})
    assert out["addrcode_status"].tolist() == ["ok", "ok"]
    one = engines.process_frame(pd.DataFrame({"address": ["637 College St, Middlebury VT 05753"]}), config=config)
    assert out["addrcode_code"].tolist() == [one["addrcode_code"].iloc[0]] * 2


def test_process_frame_bad_row_is_an_error_row_not_an_exception(config, monkeypatch):
    job = engines.get_job("encode", config)
    real = job.geocoder.geocode

    def flaky(text, *a, **k):
        if "boom" in text:
            raise RuntimeError("secret 12 Main St")  # the text must not leak into the reason
        return real(text, *a, **k)

    monkeypatch.setattr(job.geocoder, "geocode", flaky)
    df = pd.DataFrame({"address": ["637 College St, Middlebury VT 05753", "boom", "637 College St, Middlebury VT"]})
    out = engines.process_frame(df, config=config)
    assert out["addrcode_status"].tolist() == ["ok", "error", "ok"]
    assert out["addrcode_reason"].iloc[1] == "internal error (RuntimeError)"
    counts = engines.count_statuses(out)
    assert counts == {"rows": 3, "ok": 2, "rejected": {}, "errors": {"internal error": 1}, "warnings": {}}


def test_resources_loaded_once_per_process(config, monkeypatch):
    engines.clear_cache()
    calls = []
    real = engines.build_job
    monkeypatch.setattr(engines, "build_job", lambda *a, **k: calls.append(a) or real(*a, **k))
    df = pd.DataFrame({"address": ["637 College St, Middlebury VT 05753"]})
    for _ in range(3):
        engines.process_frame(df, config=config)
    engines.process_frame(df, config=config, min_score=0.9)  # other options: another job
    assert len(calls) == 2


def test_usage_errors(config):
    df = pd.DataFrame({"addr": ["x"]})
    with pytest.raises(UsageError, match="no column named address; columns are: addr"):
        engines.process_frame(df, config=config)
    with pytest.raises(UsageError, match="cannot run on an engine"):
        engines.process_frame(df, command="label", column="addr", config=config)
    with pytest.raises(UsageError, match="unknown option"):
        engines.process_frame(df, column="addr", config=config, min_scor=0.3)
    with pytest.raises(UsageError, match="format"):
        engines.file_format("orders.xlsx")


def test_demo_keyring_refused_unless_asked_for(demo_config, config, input_csv, tmp_path, recwarn):
    """No silent demo keyring in the library: encode and decode with no keyring configured (or the packaged
    demo keyring named) raise a UsageError naming `demo=True` and `keyring`, before any resource or worker is
    loaded; `demo=True` works and warns that the codes are not private; a real keyring never warns."""
    import warnings

    from addrcode.codes.keyring import load_keyring
    from addrcode.config import embedded

    df = pd.DataFrame({"address": ["637 College St, Middlebury VT 05753"]})
    named_demo = Config(reference=demo_config.reference, zones=demo_config.zones, cache_dir=demo_config.cache_dir,
                        keyring=Path(embedded("demo-keyring.json")))
    engines.clear_cache()
    for cfg in (demo_config, named_demo):
        for command, column in (("encode", "address"), ("decode", "address")):
            with pytest.raises(UsageError, match=r"DEMO keyring.*NOT private.*`keyring`.*demo=True"):
                engines.process_frame(df, command=command, column=column, config=cfg)
        with pytest.raises(UsageError, match="demo=True"):
            engines.FrameProcessor("encode", config=cfg)(df)
        with pytest.raises(UsageError, match="demo=True"):
            engines.build_job("encode", cfg)
    with pytest.raises(UsageError, match="demo=True"):  # refused on the client, before a cluster starts
        engines.run_dask(input_csv, tmp_path / "out", config=demo_config)
    assert not (tmp_path / "out").exists()
    assert engines.process_frame(df, command="geocode", config=demo_config)["addrcode_status"].tolist() == ["ok"]
    assert not [w for w in recwarn if issubclass(w.category, engines.DemoKeyringWarning)]

    with pytest.warns(engines.DemoKeyringWarning, match="NOT private"):
        out = engines.process_frame(df, config=demo_config, demo=True)
    code = out["addrcode_code"].iloc[0]
    assert out["addrcode_status"].tolist() == ["ok"] and code.count("-") == 2
    assert load_keyring(embedded("demo-keyring.json")).is_demo
    codes = pd.DataFrame({"code": [code]})
    with pytest.warns(engines.DemoKeyringWarning):
        back = engines.process_frame(codes, command="decode", column="code", config=demo_config, demo=True)
    assert back["addrcode_status"].tolist() == ["ok"]  # made with the demo keyring, which decodes it
    with warnings.catch_warnings():
        warnings.simplefilter("error", engines.DemoKeyringWarning)
        mine = engines.process_frame(df, config=config)  # a real keyring: no warning, another code
        other = engines.process_frame(codes, command="decode", column="code", config=config)
        # another keyring cannot read it: its epoch is outside that keyring's window (rejected), or, when
        # the epoch character happens to be one of its own, it decodes to an unrelated cell
        assert (other["addrcode_status"].tolist() != ["ok"]
                or (other["addrcode_cell_ix"].iloc[0], other["addrcode_cell_iy"].iloc[0])
                != (back["addrcode_cell_ix"].iloc[0], back["addrcode_cell_iy"].iloc[0]))
    assert mine["addrcode_status"].tolist() == ["ok"] and mine["addrcode_code"].iloc[0] != code
    with pytest.raises(UsageError, match="demo=True"):  # an allowed job is not reused for a caller that did not ask
        engines.process_frame(df, config=demo_config)


def test_process_frame_matches_single_process(config, rows, expected):
    """The pandas function alone, in one chunk, equals the single-process batch loop."""
    out = engines.process_frame(pd.DataFrame(rows), config=config)
    assert_same(out, rows, expected, engines.job_fields("encode"))
    assert {"ok", "rejected"} <= set(out["addrcode_status"])


# --------------------------------------------------------------------------- Dask


def read_parts(folder: Path, fmt: str):
    files = sorted(p for p in folder.iterdir() if p.name.startswith("part-"))
    if fmt == "csv":
        return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in files], ignore_index=True)
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


@pytest.fixture(scope="module")
def dask_cluster():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    yield cluster
    cluster.close()


def test_dask_equals_single_process(dask_cluster, config, rows, expected, input_csv, tmp_path):
    """A real LocalCluster (2 worker processes), CSV in -> Parquet out, row by row equal."""
    import distributed

    out_dir = tmp_path / "coded"
    run = engines.run_dask(input_csv, out_dir, config=config, scheduler=dask_cluster.scheduler_address,
                           blocksize=40_000, output_format="parquet")
    assert run.partitions >= 3  # really split across partitions (and so across both workers)
    frame = read_parts(out_dir, "parquet")
    assert list(frame.columns) == list(engines.output_schema("encode", rows[0]))
    assert_same(frame, rows, expected, engines.job_fields("encode"))
    assert frame["zip"].tolist() == [r["zip"] for r in rows]  # text kept as text: 05753 stays 05753
    assert run.rows == len(rows) == run.ok + run.n_rejected + run.n_errors
    assert run.ok == sum(e["status"] == "ok" for e in expected)
    assert (out_dir / engines.MARKER).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging folder renamed away
    with distributed.Client(dask_cluster) as client:  # resources loaded once per worker process
        built = client.run(engines.jobs_built)
    assert len(built) == 2 and all(b.get("encode", 0) <= 1 for b in built.values())
    assert sum(b.get("encode", 0) for b in built.values()) >= 1


def test_dask_csv_output_components_and_rerun(dask_cluster, config, rows, input_csv, tmp_path):
    """Parquet in, components, CSV parts out (formula cells neutralised), an existing output replaced."""
    part = rows[:300]
    src = tmp_path / "part.parquet"
    pd.DataFrame(part).to_parquet(src, index=False)
    components = {"street": "street", "city": "city", "state": "state", "postcode": "zip"}
    want = single_process(engines.build_job("encode", config, min_score=0.7), part, components=components)
    out_dir = tmp_path / "coded"
    for _ in range(2):  # the second run replaces the first run's folder
        run = engines.run_dask(src, out_dir, config=config, scheduler=dask_cluster.scheduler_address,
                               components=components, min_score=0.7, npartitions=2, output_format="csv")
    frame = read_parts(out_dir, "csv")
    assert run.partitions == 2 and len(frame) == len(part)
    formula = [i for i, r in enumerate(part) if r["address"][:1] in ("=", "+", "-", "@")]
    assert formula and all(frame["address"][i].startswith("'") for i in formula)
    frame["address"] = [r["address"] for r in part]  # undo the neutralising before comparing
    assert_same(frame, part, want, engines.job_fields("encode"))
    (tmp_path / "notours").mkdir()
    (tmp_path / "notours" / "precious.txt").write_text("x")
    with pytest.raises(UsageError, match="not an addrcode output folder"):
        engines.run_dask(src, tmp_path / "notours", config=config, scheduler=dask_cluster.scheduler_address)
    assert (tmp_path / "notours" / "precious.txt").read_text() == "x"


def test_dask_bad_column_fails_before_writing(dask_cluster, config, input_csv, tmp_path):
    with pytest.raises(UsageError, match="no column named nope"):
        engines.run_dask(input_csv, tmp_path / "out", config=config, column="nope",
                         scheduler=dask_cluster.scheduler_address)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- Spark


@pytest.fixture(scope="session")
def spark():
    if spark_missing():
        pytest.skip(spark_missing())
    # small input splits, so that even the test file is processed as several ordered partitions
    session = engines.spark_session(master="local[2]", **{"spark.sql.files.maxPartitionBytes": "40000"})
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_equals_single_process(spark, config, rows, expected, input_csv, tmp_path):
    """PySpark local mode, mapInPandas over CSV in -> CSV parts out, row by row equal."""
    out_dir = tmp_path / "coded"
    run = engines.run_spark(input_csv, out_dir, config=config, spark=spark)
    assert run.partitions >= 3
    files = sorted(p for p in out_dir.iterdir() if p.name.startswith("part-"))
    frame = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in files], ignore_index=True)
    assert list(frame.columns) == list(engines.output_schema("encode", rows[0]))
    frame["address"] = [r["address"] for r in rows]  # input cells were neutralised / nulls written empty
    assert_same(frame, rows, expected, engines.job_fields("encode"))
    assert run.rows == len(rows) and run.ok == sum(e["status"] == "ok" for e in expected)


def test_spark_map_in_memory_with_coords(spark, config, rows):
    part = rows[:200]
    sdf = spark.createDataFrame(pd.DataFrame(part))
    out = engines.spark_map(sdf, config=config, with_coords=True).toPandas()
    want = single_process(engines.build_job("encode", config, with_coords=True), part)
    assert_same(out, part, want, engines.job_fields("encode", with_coords=True))


def test_auto_partition_size_bounds_worker_memory(tmp_path):
    """~8 partitions per worker thread, but never above 4 MB (a worker holds a partition and its output)."""
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    with open(big, "wb") as f:
        f.truncate(200 << 20)  # sparse: the size is what counts
    with open(small, "wb") as f:
        f.truncate(8 << 20)
    assert engines._auto_blocksize(str(big), 2) == 4 << 20
    assert engines._auto_blocksize(str(small), 2) == (8 << 20) // 16 + 1
    assert engines._auto_blocksize(str(tmp_path / "*.csv"), 64) == (208 << 20) // 512 + 1  # a glob: all files
    assert engines._auto_blocksize(str(small), 1024) == 64 << 10


# --------------------------------------------------------------------------- the CLI on an engine


def test_input_files_lists_what_an_engine_reads(tmp_path):
    """A glob's files, a folder's visible data files (by format), or the file; none is a usage error."""
    (tmp_path / "a.csv").write_text("address\n")
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(b"address\n"))
    (tmp_path / "c.parquet").write_bytes(b"")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "_old.csv").write_text("")
    (tmp_path / ".a.csv.crc").write_text("")
    names = lambda files: [Path(f).name for f in files]
    assert names(engines.input_files(tmp_path, "csv")) == ["a.csv", "b.csv.gz"]
    assert names(engines.input_files(tmp_path, "parquet")) == ["c.parquet"]
    assert names(engines.input_files(tmp_path / "*.csv*")) == ["a.csv", "b.csv.gz"]
    assert names(engines.input_files(tmp_path / "a.csv")) == ["a.csv"]
    with pytest.raises(UsageError, match="mixes plain and compressed"):  # Dask reads one compression per run
        engines._compressed(tmp_path, engines.input_files(tmp_path, "csv"))
    assert engines._compressed(tmp_path, [str(tmp_path / "b.csv.gz")])
    with pytest.raises(UsageError, match=r"\*\.pq: no input files match$"):
        engines.input_files(tmp_path / "*.pq")
    with pytest.raises(UsageError, match="no such input file"):
        engines.input_files(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_text("")  # what is left of an engine's output: not data
    with pytest.raises(UsageError, match="empty: no input files match"):
        engines.input_files(tmp_path / "empty")


@pytest.mark.parametrize("engine", ["dask", "spark"])
@pytest.mark.parametrize("kind", ["glob", "folder"])
def test_engine_without_input_files_says_so(engine, kind, tmp_path):
    """A glob or a folder that matches no files: "no input files match", exit 2, before any worker
    or JVM starts (it used to say "no column named address; columns are: ", or show a traceback)."""
    if engine == "dask":
        pytest.importorskip("distributed")
    elif spark_missing():
        pytest.skip(spark_missing())
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "_SUCCESS").write_text("")  # hidden from engines: the folder still holds no data
    source = str(folder / "*.parquet") if kind == "glob" else str(folder)
    proc = addrcode("encode", "--engine", engine, "-i", source, "-o", str(tmp_path / "coded"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert f"{source}: no input files match" in proc.stderr
    assert "Traceback" not in proc.stderr and "column" not in proc.stderr
    assert not (tmp_path / "coded").exists()


def test_dask_unreachable_scheduler_fails_fast_with_one_line(tmp_path):
    """Nothing listens at --scheduler: one line naming the address and what to do, exit 3, no
    traceback, within a few seconds (it used to retry for 30 s, then print a 60-line traceback)."""
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    src = write_csv(tmp_path / "x.csv", [{"id": "1", "address": "637 College St, Middlebury VT 05753"}])
    proc = addrcode("encode", "--engine", "dask", "--scheduler", address, "-i", str(src), "-o",
                    str(tmp_path / "coded"), timeout=25)  # a guard, not a timing test
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning: using the DEMO")]
    assert lines == [f"Error: cannot reach the Dask scheduler at {address}: connection refused (nothing "
                     "listens on that port); check the address or run without --scheduler for a local cluster"]
    assert not (tmp_path / "coded").exists()
    with pytest.raises(UsageError, match="not a Dask scheduler address"):  # a malformed address: exit 2
        engines.check_scheduler("foo://10.0.0.5:8786", timeout=1)
    with pytest.raises(DataError, match="cannot reach the Dask scheduler at tcp://no-such-host.invalid:8786: "):
        engines.check_scheduler("tcp://no-such-host.invalid:8786", timeout=3)  # the reason depends on the DNS


# The JVM's own start-up notice when Spark adds the jdk.incubator.vector module: printed by Java
# itself, before any logging is configured, and not a setting of Spark's.
_JVM_NOTICE = "WARNING: Using incubator modules: jdk.incubator.vector"


def test_spark_cli_stderr_holds_addrcode_lines_only(vt_reference, rows, tmp_path):
    """`--engine spark` with stderr not a terminal: no log4j banner, WARN lines, pandas
    FutureWarnings or stage progress bar; the summary is the last thing written."""
    if spark_missing():
        pytest.skip(spark_missing())
    src = write_csv(tmp_path / "orders.csv", rows[:60])
    proc = addrcode("encode", "--engine", "spark", "-i", str(src), "-o", str(tmp_path / "coded"))
    assert proc.returncode in (0, 1), proc.stderr
    ours = re.compile(r"^(\d+ rows, \d+ ok, |  \S|warning: using the DEMO keyring|building the default|note: )")
    noise = [line for line in proc.stderr.splitlines() if line != _JVM_NOTICE and not ours.match(line)]
    assert noise == []
    assert re.match(r"^60 rows, \d+ ok, .*\(spark, \d+ partitions\)$",
                    [line for line in proc.stderr.splitlines() if not line.startswith("  ")][-1])
    assert (tmp_path / "coded" / engines.MARKER).is_file()

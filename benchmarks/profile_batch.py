#!/usr/bin/env python3
"""Where the time of batch encoding goes, stage by stage (issue 21: profile first).

    python benchmarks/profile_batch.py [--rows 200000] [--seed 5] [--py-spy]

Rows: `noisy_rows` of `benchmarks/batch.py` (the same seeded noisy one-line addresses and ~3 % junk
rows), written to a CSV (columns id, address). Parts (nothing prints an address or a coordinate:
only counts, timings and function names):

- `plain`: the library path of `addrcode encode -i rows.csv --column address -o out.csv --jobs 1`
  (`addrcode.batch.frame.run_batch`, which reads the CSV, runs `EncodeJob.many` per chunk of 2,000
  through `addrcode.batch.runner.execute` and writes the CSV) in a fresh child process, without a
  profiler: the wall time the profile is compared with. Building the job (reference, zones,
  keyring: `jobs.make_job`) is start-up, timed apart and kept out of both figures.
- `profile`: the same run under cProfile in another fresh child. Each function's own time (tottime)
  goes to a stage by `STAGE_OF_MODULE` / `STAGE_OF_FUNCTION` below; functions of no stage (the
  stdlib: `re`, dataclass `__init__`s, builtins such as `str.split`, `_csv` reader/writer, numpy)
  take the stage of their callers, weighted by the time spent under each caller. The profiler adds
  a cost per call, so stages made of many small calls look bigger than they are: the table also
  gives an estimate with that cost taken out (`c` per call, fitted so that the profiled total minus
  `c` x calls equals the plain run's time).
- `hand-off`: what `--jobs 2` adds per row: pickling a chunk of 2,000 input items (the
  `(query, error, warnings)` tuples the runner sends) and of their 2,000 result dicts (what a
  worker sends back), both ways (dumps and loads, `multiprocessing`'s pickler), and the same bytes
  through an OS pipe to a child process and back.
- `rows`: one geocode per row (fresh geocoder, unprofiled, in file order), timed row by row, with
  each row's readings checked against an exact key index of the reference: a row is *clean* when
  its house number + street full key (`keys.street_key`, what `streets.full` holds) + town
  (`city_key` -> the reference's town ids) or + ZIP (first 5 digits) is exactly a reference point's
  (`points.number` + `streets.full`/`street_aliases.full` + `city_id`/`postcode`), by the normalize
  stage's reading or by the guided reading: what a one-look-up fast path would answer. Prints the
  clean share, the clean rows that come out `point`, and the geocode time spent on clean rows vs the
  others; and the share of rows of a 2,000-row chunk that repeat an earlier row of the same chunk.
- `--py-spy`: the real CLI run under `py-spy record --format raw` (if py-spy is installed), each
  sample given to the stage of its innermost frame that has one (start-up: under `make_job` or an
  import).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 2000  # addrcode.batch.runner.DEFAULT_CHUNK_SIZE, what the CLI uses

# --------------------------------------------------------------------------- stages

# (stage id, label), in the order of the table
STAGES = [
    ("read", "read CSV (io readers, _csv)"),
    ("guided", "parse: guided reading (geocoding.guided)"),
    ("normalize", "parse: normalize stage (addrcode.normalize)"),
    ("keys", "matching keys (geocoding.keys)"),
    ("lookup", "geocode: blocking, candidates (geocoder.py)"),
    ("store", "geocode: reference store, caches (store.py)"),
    ("sqlite", "geocode: SQLite calls (sqlite3, C)"),
    ("scoring", "scoring (geocoding.scoring)"),
    ("fuzzy", "fuzzy matching (rapidfuzz + its callers)"),
    ("grid", "grid (addrcode.grid, pyproj)"),
    ("zone", "zone lookup (addrcode.zones, shapely)"),
    ("code", "code (addrcode.codes FF1, cryptography)"),
    ("job", "encode job: result dicts, placing (jobs.py)"),
    ("write", "write CSV (RecordWriter, output row)"),
    ("plumbing", "batch plumbing (runner, frame, summary, journal)"),
    ("other", "other / unattributed"),
]
LABEL = dict(STAGES)

# Module (dotted prefix, longest wins) -> stage. Modules not here (stdlib, numpy, dataclass
# `__init__`s from `<string>`, addrcode.records) take their callers' stage.
STAGE_OF_MODULE = {
    "addrcode.batch": "plumbing",
    "addrcode.files": "plumbing",
    "addrcode.batch.jobs": "job",
    "addrcode.batch.io": "write",  # its readers: STAGE_OF_FUNCTION
    "addrcode.geocoding.guided": "guided",
    "addrcode.normalize": "normalize",
    "addrcode.geocoding.keys": "keys",
    "addrcode.geocoding.rules": "keys",
    "addrcode.geocoding.geocoder": "lookup",
    "addrcode.geocoding.store": "store",
    "addrcode.geocoding.reference": "store",
    "addrcode.geocoding.scoring": "scoring",
    "rapidfuzz": "fuzzy",
    "addrcode.grid": "grid",
    "pyproj": "grid",
    "addrcode.zones": "zone",
    "shapely": "zone",
    "addrcode.codes": "code",
    "cryptography": "code",
}
_READERS = ("_bounded", "_decode", "__iter__", "__next__", "push_back", "_strip_eol", "read_lines", "_input_waiting",
            "is_parquet", "read_parquet", "records", "read_csv", "_csv_records", "feed", "_loose_split", "_cells",
            "open_input", "read_rows")
# (module, function name) -> stage (None: the callers' stage), before the module's own
STAGE_OF_FUNCTION = {
    **{("addrcode.batch.io", name): "read" for name in _READERS},
    ("addrcode.batch.io", "__init__"): None,  # _LineSource (read) and RecordWriter (write) share the name
    ("addrcode.batch.frame", "_to_output"): "write",
    ("addrcode.geocoding.geocoder", "_read"): "normalize",
    ("addrcode.geocoding.geocoder", "_normalize"): "normalize",
    ("addrcode.geocoding.geocoder", "_fuzzy_streets"): "fuzzy",
    ("addrcode.geocoding.geocoder", "_fuzzy_hits"): "fuzzy",
    ("addrcode.geocoding.store", "fuzzy_cities"): "fuzzy",
}
# builtins (cProfile file "~") by a word of their name; the others take their callers' stage
STAGE_OF_BUILTIN = (("sqlite3", "sqlite"), ("rapidfuzz", "fuzzy"), ("pyproj", "grid"), ("shapely", "zone"),
                    ("cryptography", "code"))


def module_of(path: str) -> str | None:
    """The dotted module of a source path (addrcode or an installed package), None for the others."""
    path = path.replace("\\", "/")
    if "/site-packages/" in path:
        rest = path.rsplit("/site-packages/", 1)[1]
    elif "/addrcode/" in path:
        rest = "addrcode/" + path.rsplit("/addrcode/", 1)[1]
    else:
        return None
    rest = rest[:-3] if rest.endswith(".py") else rest
    return rest.replace("/__init__", "").replace("/", ".")


def stage_of(path: str, func: str) -> str | None:
    """The stage of one profiled function, None when it takes its callers' stage."""
    if path == "~":
        return next((stage for word, stage in STAGE_OF_BUILTIN if word in func), None)
    return stage_of_module(module_of(path), func)


def stage_of_module(mod: str | None, func: str) -> str | None:
    """The stage of function `func` of module `mod` (dotted), None when it takes its callers' stage."""
    if mod is None or (func.startswith("<") and func != "<module>"):  # comprehensions, lambdas: their caller's
        return None
    parts = mod.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if (prefix, func) in STAGE_OF_FUNCTION:
            return STAGE_OF_FUNCTION[(prefix, func)]
    for n in range(len(parts), 0, -1):
        stage = STAGE_OF_MODULE.get(".".join(parts[:n]))
        if stage is not None:
            return stage
    return None


def func_label(key: tuple) -> str:
    path, _line, func = key
    if path == "~":
        return func.replace("<built-in method ", "").replace("<method ", "").rstrip(">").replace(" objects", "")
    mod = module_of(path) or Path(path).stem
    return f"{mod.replace('addrcode.', '')}.{func}"


def attribute(stats: dict) -> dict:
    """function -> {stage: weight}: its own stage, else its callers' (by time under each), recursively."""
    memo: dict = {}

    def dist(key, seen: frozenset) -> dict:
        if key in memo:
            return memo[key]
        stage = stage_of(key[0], key[2])
        if stage is not None:
            memo[key] = {stage: 1.0}
            return memo[key]
        callers = stats[key][4] if key in stats else {}
        if not callers or key in seen:
            return {"other": 1.0}
        weights = {c: e[2] for c, e in callers.items()}
        if sum(weights.values()) <= 0:
            weights = {c: e[1] for c, e in callers.items()}
        total = sum(weights.values()) or 1.0
        out: dict = defaultdict(float)
        for caller, w in weights.items():
            for stage, share in dist(caller, seen | {key}).items():
                out[stage] += share * w / total
        memo[key] = dict(out)
        return memo[key]

    return {key: dist(key, frozenset()) for key in stats}


def stage_table(stats: dict, rows: int, per_call: float) -> tuple[list[dict], dict]:
    """Per stage: own time, calls, own time less `per_call` x calls (the estimate without the profiler's
    cost, at least 0), and its top functions by profiled own time."""
    shares = attribute(stats)
    acc = {s: {"tt": 0.0, "calls": 0.0, "funcs": defaultdict(float)} for s, _ in STAGES}
    for key, (_cc, nc, tt, _ct, _callers) in stats.items():
        for stage, share in shares[key].items():
            a = acc[stage]
            a["tt"] += tt * share
            a["calls"] += nc * share
            a["funcs"][func_label(key)] += tt * share
    for a in acc.values():
        a["est"] = max(0.0, a["tt"] - a["calls"] * per_call)
    total = sum(a["tt"] for a in acc.values()) or 1.0
    total_est = sum(a["est"] for a in acc.values()) or 1.0
    table = []
    for stage, label in STAGES:
        a = acc[stage]
        top = sorted(a["funcs"].items(), key=lambda kv: -kv[1])[:5]
        table.append({"stage": stage, "label": label, "us_row": a["tt"] / rows * 1e6, "share": a["tt"] / total,
                      "est_us_row": a["est"] / rows * 1e6, "est_share": a["est"] / total_est,
                      "calls_row": a["calls"] / rows,
                      "top": [(name, t / rows * 1e6) for name, t in top if t > 0]})
    return table, {"tt": total, "est": total_est}


def call_counts(stats: dict, names: list[tuple[str, str]]) -> dict:
    """Calls of some functions, by (module suffix, function name), summed over the matching entries."""
    out = dict.fromkeys(names, 0)
    for (path, _line, func), (_cc, nc, *_rest) in stats.items():
        mod = "~" if path == "~" else module_of(path) or ""
        for want_mod, want_func in names:
            if func == want_func and mod.endswith(want_mod):
                out[(want_mod, want_func)] += nc
    return out


# --------------------------------------------------------------------------- the runs (child processes)


def _batch_module():
    spec = importlib.util.spec_from_file_location("batch_bench", ROOT / "benchmarks" / "batch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _quiet(_message: str) -> None:
    pass


def run_encode(src: Path, out: Path, stats_path: Path | None, freeze: bool = False) -> dict:
    """`run_batch("encode", ...)` over `src` (jobs=1), optionally under cProfile; job build timed apart.
    `freeze`: `gc.freeze()` once the job is built (a what-if: the collector no longer walks its objects)."""
    import cProfile
    import gc

    from addrcode.batch import frame, jobs
    from addrcode.config import load_config

    config = jobs.prepare_config("encode", load_config(), _quiet)  # builds the demo reference once if needed
    profiler = cProfile.Profile() if stats_path else None
    real_make_job, built = jobs.make_job, {}

    def make_job(*args, **kwargs):  # start-up, not per-row work: outside the profile and the timing
        if profiler:
            profiler.disable()
        t, c = time.perf_counter(), time.process_time()
        job = real_make_job(*args, **kwargs)
        if freeze:
            gc.freeze()
        built.update(wall=time.perf_counter() - t, cpu=time.process_time() - c)
        if profiler:
            profiler.enable()
        return job

    jobs.make_job = make_job  # run_batch imports it from the module when called
    collected = {"s": 0.0, "n": [0, 0, 0], "t": 0.0}

    from addrcode.batch import runner

    def gc_timer(phase, info):  # the cyclic collector's pauses: charged to whatever function allocated
        if gc.get_threshold() != runner._BATCH_GC_THRESHOLDS:
            return  # the job build's collections (default thresholds) are start-up, not per-row work
        if phase == "start":
            collected["t"] = time.perf_counter()
        else:
            collected["s"] += time.perf_counter() - collected["t"]
            collected["n"][info["generation"]] += 1

    gc.callbacks.append(gc_timer)
    t, c = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    summary = frame.run_batch("encode", config, frame.InputSpec(path=str(src), column="address"),
                              frame.OutputSpec(path=str(out)), frame.RunSpec(jobs=1), options={"with_coords": False},
                              notify=_quiet)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(stats_path))
    wall, cpu = time.perf_counter() - t - built["wall"], time.process_time() - c - built["cpu"]
    gc.callbacks.remove(gc_timer)
    return {"rows": summary.rows, "ok": summary.ok, "wall": wall, "cpu": cpu, "startup_wall": built["wall"],
            "gc_s": collected["s"], "gc_n": collected["n"]}


def _child(phase: str, src: Path, out: Path, stats: Path | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--csv", str(src), "--out", str(out)]
    if stats:
        cmd += ["--stats", str(stats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} run failed ({proc.returncode}): {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def per_call_overhead(n: int = 300_000) -> float:
    """Seconds the profiler adds to one call of an empty Python function (micro-benchmark)."""
    import cProfile

    def f():
        return None

    def loop():
        for _ in range(n):
            f()

    t = time.perf_counter()
    loop()
    plain = time.perf_counter() - t
    p = cProfile.Profile()
    t = time.perf_counter()
    p.runcall(loop)
    return max(0.0, (time.perf_counter() - t - plain) / n)


# --------------------------------------------------------------------------- hand-off (--jobs 2)


def _echo(conn) -> None:
    while True:
        data = conn.recv_bytes()
        if not data:
            return
        conn.send_bytes(data)


def handoff(src: Path, job, repeat: int = 15) -> dict:
    """µs per row to pickle/unpickle a chunk of input items and of results, and to pipe their bytes."""
    import multiprocessing
    from multiprocessing.reduction import ForkingPickler

    from addrcode.batch import io, runner

    _header, records = io.read_csv(io.open_input(str(src)), name=str(src))
    chunk = [r for _, r in zip(range(CHUNK), records)]
    items = [(runner.query_of(r, "address", None), r.error, r.warnings) for r in chunk]  # what runner sends
    results = runner.apply_chunk(job, items)  # what a worker sends back
    rows = len(items)

    def best(fn) -> float:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times) / rows * 1e6

    out = {"rows": rows}
    for name, obj in (("items", items), ("results", results)):
        data = bytes(ForkingPickler.dumps(obj))
        out[f"{name}_bytes_row"] = len(data) / rows
        out[f"{name}_dumps"] = best(lambda o=obj: ForkingPickler.dumps(o))
        out[f"{name}_loads"] = best(lambda d=data: pickle.loads(d))
    ctx = multiprocessing.get_context("fork")  # the child only echoes bytes: no handle of ours is used there
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child,), daemon=True)
    proc.start()
    try:
        for name, obj in (("items", items), ("results", results)):
            data = bytes(ForkingPickler.dumps(obj))

            def roundtrip(d=data):
                parent.send_bytes(d)
                parent.recv_bytes()

            out[f"{name}_pipe_roundtrip"] = best(roundtrip)
    finally:
        parent.send_bytes(b"")
        proc.join(5)
    return out


# --------------------------------------------------------------------------- clean rows, duplicates


def exact_index(store) -> tuple[dict, dict]:
    """{(number, street full key, town id): ref ids} and {(number, street full key, ZIP5): ref ids} of
    every reference point (a number holds several points when the source lists units)."""
    by_town, by_zip = defaultdict(set), defaultdict(set)
    for sql in ("SELECT p.number, s.full, s.city_id, p.postcode, p.ref_id FROM points p "
                "JOIN streets s ON s.id = p.street_id",
                "SELECT p.number, a.full, a.city_id, p.postcode, p.ref_id FROM street_aliases a "
                "JOIN points p ON p.street_id = a.street_id"):
        for number, full, cid, postcode, ref_id in store.db.execute(sql):
            by_town[(number, full, cid)].add(ref_id)
            by_zip[(number, full, postcode[:5])].add(ref_id)
    return dict(by_town), dict(by_zip)


def exact_hits(address, store, rules, by_town: dict, by_zip: dict) -> set:
    """The ref ids whose number + street full key + (town or ZIP) are exactly the reading's (empty: not clean)."""
    from addrcode.geocoding.keys import city_key, number_key, street_key

    if address is None or not address.number or not address.street:
        return set()
    full = street_key(address, rules).full
    number = number_key(address.number)[0]
    hits = set(by_zip.get((number, full, address.postcode[:5]), ())) if address.postcode else set()
    if address.city:
        for cid in store.city_ids(city_key(address.city, rules)):
            hits.update(by_town.get((number, full, cid), ()))
    return hits


def row_costs(texts: list[str], reference: Path) -> dict:
    """Geocode each row (fresh geocoder, in order, timed) and check whether its readings are clean."""
    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.geocoding.guided import guided_parse
    from addrcode.normalize import normalize

    geocoder = Geocoder(reference)
    times, precisions, ref_ids = [], [], []
    for text in texts:
        t = time.perf_counter()
        m = geocoder.geocode(text)
        times.append(time.perf_counter() - t)
        precisions.append(m.precision)
        ref_ids.append(m.ref_id)
    store, rules = geocoder.store, geocoder.rules
    t = time.perf_counter()
    by_town, by_zip = exact_index(store)
    index_s = time.perf_counter() - t
    cities = store.town_names()
    clean_norm, clean_guided, same, unique, t_norm, t_guided = [], [], [], [], 0.0, 0.0
    for text, ref_id, precision in zip(texts, ref_ids, precisions):
        t = time.perf_counter()
        a = normalize(text, locale=store.locale, cities=cities) if text.strip() else None
        t_norm += time.perf_counter() - t
        t = time.perf_counter()
        g = guided_parse(text, store.known_city, rules) if text.strip() else None
        t_guided += time.perf_counter() - t
        hits_norm, hits_guided = exact_hits(a, store, rules, by_town, by_zip), exact_hits(g, store, rules, by_town,
                                                                                          by_zip)
        clean_norm.append(bool(hits_norm))
        clean_guided.append(bool(hits_guided))
        hits = hits_guided or hits_norm  # the guided reading first, as the geocoder reads
        unique.append(len(hits) == 1)
        same.append(precision == "point" and ref_id in hits)
    n = len(texts)
    clean = [a or b for a, b in zip(clean_norm, clean_guided)]
    point = [p == "point" for p in precisions]
    t_clean = sum(t for t, c in zip(times, clean) if c)
    t_all = sum(times)
    n_clean = sum(clean)
    return {
        "rows": n, "index_points": len(by_town), "index_s": index_s,
        "clean_norm": sum(clean_norm) / n, "clean_guided": sum(clean_guided) / n, "clean": n_clean / n,
        "clean_point": sum(c and p for c, p in zip(clean, point)) / n,
        "point": sum(point) / n, "point_not_clean": sum(p and not c for c, p in zip(clean, point)) / n,
        "clean_not_point": sum(c and not p for c, p in zip(clean, point)) / n,
        "clean_unique": sum(c and u for c, u in zip(clean, unique)) / n,
        "clean_same": sum(same) / n, "clean_unique_same": sum(s and u for s, u in zip(same, unique)) / n,
        "geocode_us_row": t_all / n * 1e6,
        "geocode_us_clean": t_clean / max(n_clean, 1) * 1e6,
        "geocode_us_rest": (t_all - t_clean) / max(n - n_clean, 1) * 1e6,
        "geocode_share_clean": t_clean / t_all,
        "normalize_us_row": t_norm / n * 1e6, "guided_us_row": t_guided / n * 1e6,
    }


def duplicates(texts: list[str], junk: set) -> dict:
    """Share of rows repeating an earlier row of their 2,000-row chunk (exact text; case and spaces folded)."""
    exact = folded = exact_real = real = 0
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start:start + CHUNK]
        seen, seen_folded = set(), set()
        for text in chunk:
            key = " ".join(text.upper().replace(",", " ").split())
            is_junk = text in junk
            real += not is_junk
            if text in seen:
                exact += 1
                exact_real += not is_junk
            if key in seen_folded:
                folded += 1
            seen.add(text)
            seen_folded.add(key)
    n = len(texts)
    return {"exact": exact / n, "folded": folded / n, "exact_real": exact_real / max(real, 1),
            "file_exact": 1 - len(set(texts)) / n}


# --------------------------------------------------------------------------- py-spy


def py_spy(src: Path, out: Path, rate: int) -> dict | None:
    """The CLI run under `py-spy record --format raw`: samples by stage (None without py-spy)."""
    exe = shutil.which("py-spy") or (str(Path(sys.executable).with_name("py-spy"))
                                     if Path(sys.executable).with_name("py-spy").exists() else None)
    if exe is None:
        return None
    raw = out.with_suffix(".raw")
    cmd = [exe, "record", "--format", "raw", "-r", str(rate), "-o", str(raw), "--", sys.executable, "-m", "addrcode",
           "encode", "-i", str(src), "--column", "address", "-o", str(out), "--jobs", "1", "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if not raw.exists():
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]}
    by_stage, by_func, total = defaultdict(int), defaultdict(int), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        if any(f.startswith(("make_job ", "prepare_config ", "_find_and_load ")) for f in frames):
            by_stage["startup"] += n
            continue
        if not stack.strip():
            by_stage["no Python stack"] += n
            continue
        stage, leaf = "other", frames[-1]
        for frame in reversed(frames):  # `Class.func (package/module.py:line)`
            func, _, where = frame.partition(" (")
            path = where.rsplit(":", 1)[0]  # relative to its sys.path entry; `<frozen runpy>` for the frozen
            mod = None if path.startswith("<") else path.removesuffix(".py").replace("/__init__", "").replace("/", ".")
            got = stage_of_module(mod, func.rsplit(".", 1)[-1])
            if got is not None:
                stage, leaf = got, frame
                break
        by_stage[stage] += n
        func, _, where = leaf.partition(" (")
        by_func[f"{where.rsplit(':', 1)[0].removesuffix('.py').replace('/', '.').replace('addrcode.', '')}:{func}"] += n
    return {"wall": wall, "samples": total, "by_stage": dict(by_stage), "by_func": dict(by_func), "rc": proc.returncode}


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--py-spy", action="store_true", help="also sample the CLI run with py-spy (if installed)")
    parser.add_argument("--py-spy-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=3, help="top functions shown per stage")
    parser.add_argument("--phase", choices=["plain", "profile", "frozen"], help=argparse.SUPPRESS)  # the child runs
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(run_encode(args.csv, args.out, args.stats if args.phase == "profile" else None,
                                    freeze=args.phase == "frozen")))
        return 0

    import pstats

    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    batch = _batch_module()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        texts = batch.noisy_rows(args.rows, args.seed)
        src = batch.write_rows(tmp / "rows.csv", texts)
        print(f"rows: {len(texts):,} noisy rows (seed {args.seed}, benchmarks/batch.py noisy_rows) generated in "
              f"{time.perf_counter() - t:.1f} s")

        plain = _child("plain", src, tmp / "out-plain.csv", None)
        prof = _child("profile", src, tmp / "out-prof.csv", tmp / "encode.pstats")
        frozen = _child("frozen", src, tmp / "out-frozen.csv", None)
        n = plain["rows"]
        print(f"\nplain run (run_batch encode, jobs=1, no profiler): {n:,} rows, {plain['ok']:,} ok, "
              f"{plain['wall']:.1f} s wall, {plain['cpu']:.1f} s CPU = {plain['wall'] / n * 1e6:.1f} µs/row wall, "
              f"{n / plain['wall']:,.0f} rows/s (job build {plain['startup_wall']:.2f} s, not counted)")
        print(f"cyclic GC in the plain run: {plain['gc_s'] / n * 1e6:.1f} µs/row ({plain['gc_s'] / plain['wall']:.1%}; "
              f"collections by generation {plain['gc_n']}), charged in a profile to whatever function allocated; "
              f"with gc.freeze() after the job build (what-if): {frozen['wall'] / n * 1e6:.1f} µs/row, GC "
              f"{frozen['gc_s'] / n * 1e6:.1f} µs/row, outputs identical: "
              f"{(tmp / 'out-plain.csv').read_bytes() == (tmp / 'out-frozen.csv').read_bytes()}")
        print(f"profiled run: {prof['wall']:.1f} s wall = {prof['wall'] / n * 1e6:.1f} µs/row "
              f"({prof['wall'] / plain['wall']:.2f}x the plain run)")

        stats = pstats.Stats(str(tmp / "encode.pstats")).stats
        calls = sum(v[1] for v in stats.values())
        total_tt = sum(v[2] for v in stats.values())
        fitted = max(0.0, (total_tt - plain["wall"]) / calls)
        micro = per_call_overhead()
        table, totals = stage_table(stats, n, fitted)
        print(f"profiler: {calls / n:,.0f} calls/row; own times sum to {total_tt / n * 1e6:.1f} µs/row; per-call cost "
              f"fitted to the plain run {fitted * 1e9:.0f} ns (micro-benchmark of an empty call: {micro * 1e9:.0f} ns)")
        print(f"\n{'stage':<52} {'µs/row':>8} {'share':>6} {'est µs':>7} {'share':>6} {'calls':>6}  top functions "
              "(profiled µs/row)")
        for r in table:
            if r["us_row"] < 0.005:
                continue
            top = ", ".join(f"{name} {us:.1f}" for name, us in r["top"][:args.top])
            print(f"{r['label']:<52} {r['us_row']:8.1f} {r['share']:6.1%} {r['est_us_row']:7.1f} {r['est_share']:6.1%} "
                  f"{r['calls_row']:6.0f}  {top}")
        print(f"{'total':<52} {totals['tt'] / n * 1e6:8.1f} {1:6.0%} {totals['est'] / n * 1e6:7.1f} {1:6.0%} "
              f"{calls / n:6.0f}")
        counts = call_counts(stats, [("guided", "guided_parse"), ("normalize", "normalize"),
                                     ("geocoder", "geocode_address"), ("geocoder", "_run"),
                                     ("geocoder", "_fuzzy_streets"), ("store", "fuzzy_cities"),
                                     ("scoring", "score_candidate"), ("store", "_load_street"),
                                     ("~", "<method 'execute' of 'sqlite3.Connection' objects>"),
                                     ("jobs", "_place"), ("scheme", "encode_cells")])
        print("calls per row: " + ", ".join(f"{func.strip('<>')} {c / n:.3f}" for (_m, func), c in counts.items()))

        from addrcode.batch import jobs
        from addrcode.config import load_config

        config = jobs.prepare_config("encode", load_config(), _quiet)
        job = jobs.make_job("encode", config, {"with_coords": False}, notify=_quiet)
        h = handoff(src, job)
        parent = h["items_dumps"] + h["results_loads"]
        worker = h["items_loads"] + h["results_dumps"]
        print(f"\nhand-off for --jobs 2, chunk of {h['rows']:,} rows (µs/row): input items {h['items_bytes_row']:.0f} "
              f"B/row, dumps {h['items_dumps']:.2f}, loads {h['items_loads']:.2f}; result dicts "
              f"{h['results_bytes_row']:.0f} B/row, dumps {h['results_dumps']:.2f}, loads {h['results_loads']:.2f}")
        print(f"  parent side (dumps items + loads results) {parent:.2f} µs/row, worker side {worker:.2f} µs/row; "
              f"the bytes through a pipe to a child and back: items {h['items_pipe_roundtrip']:.2f}, results "
              f"{h['results_pipe_roundtrip']:.2f} µs/row (each direction about half)")

        c = row_costs(texts, jobs.reference_path(config))
        print(f"\nclean rows (exact number + street full key + town, or + ZIP5, of one of "
              f"{c['index_points']:,} reference keys; index built in {c['index_s']:.1f} s):")
        print(f"  clean by the normalize reading {c['clean_norm']:.1%}, by the guided reading {c['clean_guided']:.1%}, "
              f"by either {c['clean']:.1%} of rows")
        print(f"  geocode precision point: {c['point']:.1%} of rows; clean and point {c['clean_point']:.1%}, point but "
              f"not clean {c['point_not_clean']:.1%}, clean but not point {c['clean_not_point']:.1%}")
        print(f"  the geocoder's point is one of the exact key's points for {c['clean_same']:.1%} of rows; the key "
              f"names one point only for {c['clean_unique']:.1%} ({c['clean_unique_same']:.1%} it too)")
        print(f"  geocode alone (fresh geocoder, unprofiled, timed per row): {c['geocode_us_row']:.1f} µs/row; clean "
              f"rows {c['geocode_us_clean']:.1f} µs, the rest {c['geocode_us_rest']:.1f} µs; clean rows take "
              f"{c['geocode_share_clean']:.1%} of the geocode time")
        print(f"  one reading alone, unprofiled: normalize stage {c['normalize_us_row']:.1f} µs/row, guided reading "
              f"{c['guided_us_row']:.1f} µs/row")
        d = duplicates(texts, set(batch.BAD_ROWS))
        print(f"duplicates within a {CHUNK:,}-row chunk: {d['exact']:.2%} of rows repeat an earlier row exactly "
              f"({d['folded']:.2%} with case, commas and spaces folded); without the junk rows "
              f"{d['exact_real']:.2%}; over the whole file {d['file_exact']:.2%}")

        if args.py_spy:
            s = py_spy(src, tmp / "out-spy.csv", args.py_spy_rate)
            if s is None:
                print("\npy-spy: not installed (pip install py-spy); cProfile only")
            elif "error" in s:
                print(f"\npy-spy: failed ({s['error'][0][:200]}); cProfile only")
            else:
                work = s["samples"] - s["by_stage"].get("startup", 0) - s["by_stage"].get("no Python stack", 0)
                print(f"\npy-spy record ({args.py_spy_rate}/s) of `addrcode encode ... --jobs 1 --quiet`: "
                      f"{s['samples']:,} samples, {s['wall']:.1f} s wall; start-up "
                      f"{s['by_stage'].get('startup', 0) / max(s['samples'], 1):.1%} of samples, no Python stack "
                      f"{s['by_stage'].get('no Python stack', 0) / max(s['samples'], 1):.1%}")
                per_sample = 1e6 / args.py_spy_rate / n  # µs/row of one sample
                for stage, label in [*STAGES]:
                    k = s["by_stage"].get(stage, 0)
                    if k:
                        print(f"  {label:<52} {k * per_sample:8.1f} µs/row {k / max(work, 1):6.1%}")
                top = sorted(s["by_func"].items(), key=lambda kv: -kv[1])[:12]
                print("  innermost staged frames: " + ", ".join(f"{f} {k / max(work, 1):.1%}" for f, k in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

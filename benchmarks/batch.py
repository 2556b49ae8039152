#!/usr/bin/env python3
"""Batch encode at scale (issue 21): the CLI batch core, the Dask engine and a usaddress peer, in one run.

    python benchmarks/batch.py [--rows 20000] [--workers 2] [--peer-sample 5000] [--seed 5]
                               [--cli-rows 1000000] [--cli-small 100000] [--states 1] [--work DIR]
                               [--cache-size N] [--skip single dask peer cli]

    # issue 21's "Done when", all of it: Vermont and the 20-state synthetic reference, 1 M rows
    python benchmarks/batch.py --skip single dask --states 20 --work /tmp/addrcode-batch

Rows: noisy one-line addresses generated (seeded) from the embedded Vermont E911 points by
`scripts/make_geocode_queries.py` (clean, lower, typo, missing ZIP/town, wrong ZIP, aliases, units,
leading names, directionals, absent numbers, non-existent streets) plus ~3 % bad rows (empty,
junk, formula-like text), shuffled; written to a CSV (columns id, address).

States (`--states K`): 1 (default) is the embedded Vermont demo (no configuration, demo keyring). K > 1
builds (or reuses from `--work`, default a temp dir removed at the end) the synthetic K-state nation of
`benchmarks/scale.py`: `ensure_copies` writes K moved, relabelled copies of ../shared/data/vt-e911 as
OpenAddresses CSV.gz files (exit 2 when that folder is missing), `build_reference` (in a child, through
scale.py's `run_child`) builds the reference of copy 0 alone (Vermont) and of all K, `write_zones` their
zones; a keyring from `addrcode key new` and one `addrcode-kN.toml` per reference (reference, zones,
keyring) in the work folder, passed to the CLI with `--config`, so Vermont and K states run alike.
References carry addrcode's `code_version()` in their name (a stale one is rebuilt). The K-state rows
are the Vermont rows moved: each row's copy drawn uniformly (seeded), its state word and ZIP prefix
replaced by the copy's (scale.py's `restate` and `zip_prefix_map`), so both see the same noise.

Parts (each prints rows/s; nothing prints an address or a coordinate):
- `single`: `addrcode.batch.engines.process_frame` over the whole frame (`--rows`) in this process (one
  core): the baseline the engines are compared with.
- `dask`: `addrcode.batch.engines.run_dask` on a `distributed.LocalCluster` (`--workers` processes × 1
  thread), CSV in -> Parquet parts out, wall time including reading/writing (cluster start-up
  reported apart); peak RSS of each worker process.
- `cli`: the streaming batch core through the real command line, `addrcode encode -i rows.csv --column
  address -o out.csv --jobs 1` and `--jobs 2` on `--cli-rows` rows (default 1,000,000), and `--jobs 1` on
  `--cli-small` rows (default 100,000) to show that peak memory does not grow with the input: wall rows/s,
  rows per CPU-second, peak RSS of the largest process (/usr/bin/time), rows in = rows out, --jobs 2
  output identical to --jobs 1. With K > 1 each run is made three times, in turn: Vermont rows on
  the Vermont reference; the same Vermont rows on the K-state reference (what a larger reference
  costs the same work); the rows spread over the K states (each state's streets then met ~K times
  less often, so mostly cold: what a national batch of the same size costs); the ratio of each to
  the first printed (wall and per CPU-second). `--cache-size N` (with K > 1) adds a fourth: the spread
  rows again with `cache_size = N` in the config (the geocoder's caches; default 20,000), what a
  national shipper gives memory for speed.
- `peer`: what a reasonable engineer would write in an afternoon without addrcode, on `--peer-sample`
  rows drawn (seeded) from the CLI's Vermont rows: `usaddress.tag`, street words upper-cased with the
  USPS suffix and directional abbreviations, an exact dict lookup (number, street, town), else
  (number, street, ZIP), over the Vermont points read from the source CSV; on a miss, rapidfuzz
  `process.extractOne` over the streets of the parsed town (else of the ZIP; else of the town
  fuzzy-matched among all towns), then the number on the street found. Printed: rows/s, rows per
  CPU-second, the share of rows it found a point for (right or wrong), and each CLI figure as a
  multiple of it.

Last, a goals block (issue 21's "Done when"), each PASS / FAIL / NOT MEASURED: cli --jobs 1 >= 20,000
rows/s; --jobs 2 / --jobs 1 >= 1.8; cli --jobs 1 / peer >= 3; peak RSS --cli-rows / --cli-small <= 1.1;
each K-state run / Vermont >= 0.8 (--jobs 1 and --jobs 2). A run smaller than the goal's (rows, K) says so.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import importlib.util
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
NATION_SOURCE = ROOT.parent / "shared" / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
BAD_ROWS = ["", "  ", "asdf qwerty", "=SUM(A1:A9)", "+1 555 0100", "@home", "-", "n/a", "??", "c/o front desk",
            "PO BOX", "ÅÄÖ ☃ 東京都", "1" * 120]
GOAL_ROWS, GOAL_STATES = 1_000_000, 20


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mq():
    return _load("mq", ROOT / "scripts" / "make_geocode_queries.py")


_SCALE = None


def _scale():
    """benchmarks/scale.py (the synthetic nation), loaded once."""
    global _SCALE
    if _SCALE is None:
        _SCALE = _load("scale", ROOT / "benchmarks" / "scale.py")
    return _SCALE


def noisy_rows(n: int, seed: int = 5, bad_share: float = 0.03) -> list[str]:
    """`n` noisy one-line addresses (seeded), about `bad_share` of them unusable."""
    mq = _mq()
    points = mq.load_rows(SOURCE)
    good = math.ceil(n * (1 - bad_share))
    per_kind = math.ceil(good / len(mq.KINDS))
    texts = [q["query"] for q in mq.make_queries(points, per_kind, seed=seed)][:good]
    rng = random.Random(seed)
    texts += [rng.choice(BAD_ROWS) for _ in range(n - len(texts))]
    rng.shuffle(texts)
    return texts


def write_rows(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "address"])
        w.writerows((i, t) for i, t in enumerate(texts))
    return path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- the K-state nation


_ZIP_END = re.compile(r"(?<= )(\d{3})(\d{2})$")  # make_queries puts the ZIP last, after the state word


def _zip_prefixes(source: Path) -> list[str]:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return sorted({r[8][:3] for r in reader if r[8]})


def restated_rows(texts: list[str], k: int, seed: int) -> list[str]:
    """The Vermont rows moved into the K copies: each row's copy drawn uniformly (seeded), its state word
    and ZIP prefix replaced by that copy's (copy 0 is Vermont itself; bad rows stay as they are)."""
    sc = _scale()
    prefixes = _zip_prefixes(SOURCE)
    maps = [sc.zip_prefix_map(prefixes, c) for c in range(k)]
    rng = random.Random(f"copy-of-row-{k}-{seed}")
    bad = set(BAD_ROWS)
    out = []
    for text in texts:
        c = rng.randrange(k)
        if c == 0 or text in bad:
            out.append(text)
            continue
        code, name = sc.STATES[c]
        zmap = maps[c]
        out.append(_ZIP_END.sub(lambda m, z=zmap: z[m.group(1)] + m.group(2), sc.restate(text, code, name)))
    return out


def _build(files: list[Path], out: Path) -> dict:
    """The reference over `files` at `out` (reused when present), built in a child process by scale.py."""
    sc = _scale()
    if out.is_file():
        return {"reused": True, "size": out.stat().st_size}
    for stale in out.parent.glob(f"ref-*-{out.name.rsplit('-', 1)[-1]}"):  # built by other addrcode code
        stale.unlink()
    t = time.perf_counter()
    res = sc.run_child("build", {"sources": [str(f) for f in files], "out": str(out)},
                       timeout=900 + 300 * len(files), mem_limit_gb=8.0)
    if "error" in res:
        raise SystemExit(f"reference build over {len(files)} state(s) failed: {res['error']}")
    res["wall"] = time.perf_counter() - t
    return res


def prepare_states(k: int, work: Path, cache_size: int | None = None) -> dict:
    """Copies, references (Vermont alone and K states), zones, keyring and one config per reference (and,
    with `cache_size`, a K-state config with that cache size, under the key "cache")."""
    from addrcode.geocoding.default import code_version
    from addrcode.packaged import VT_ZONES, data_path

    sc = _scale()
    if k > len(sc.STATES):
        raise SystemExit(f"--states: at most {len(sc.STATES)} (one per state code in benchmarks/scale.py)")
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    files = sc.ensure_copies(NATION_SOURCE, work, k)
    print(f"states: {k} copies of Vermont's points in {work} ({time.perf_counter() - t:.0f} s)")
    keyring = work / "keyring.json"
    if not keyring.is_file():
        subprocess.run([sys.executable, "-m", "addrcode", "key", "new", str(keyring)], check=True,
                       capture_output=True, text=True)
    configs = {}
    for n in (1, k):
        ref = work / f"ref-{code_version()}-k{n}.sqlite"
        r = _build(files[:n], ref)
        if r.get("reused"):
            print(f"  reference {n} state(s): reused ({r['size'] / 1e6:,.0f} MB)")
        else:
            print(f"  reference {n} state(s): {r['points']:,} points, {r['streets']:,} streets, built in "
                  f"{r['seconds']:.0f} s ({r['cpu']:.0f} s CPU, peak RSS {r['rss_mb']:,.0f} MB, "
                  f"{r['size'] / 1e6:,.0f} MB)")
        zones = sc.write_zones(data_path(VT_ZONES), work / f"zones-k{n}.geojson", n)
        configs[n] = work / f"addrcode-k{n}.toml"
        configs[n].write_text(f'reference = "{ref}"\nzones = "{zones}"\nkeyring = "{keyring}"\n', encoding="utf-8")
    if cache_size:
        configs["cache"] = work / f"addrcode-k{k}-cache{cache_size}.toml"
        configs["cache"].write_text(configs[k].read_text(encoding="utf-8") + f"cache_size = {cache_size}\n",
                                    encoding="utf-8")
    return configs


# --------------------------------------------------------------------------- the CLI batch core


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _count(path: Path, status: str | None = None) -> tuple[int, int]:
    """Data rows of a CSV and, with `status`, how many have addrcode_status == status (streamed)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("addrcode_status") if status else None
        rows = ok = 0
        for row in reader:
            rows += 1
            ok += col is not None and row[col] == status
    return rows, ok


def bench_cli(src: Path, out: Path, jobs: int, config: Path | None = None) -> dict:
    """One real `addrcode encode` run over `src` (`--config` when given); wall time, CPU and peak RSS of
    its processes; the output's sha256 (then the output is removed)."""
    # Peak RSS through /usr/bin/time: a child forked from this (big) process would report this
    # process's memory as its own until it execs.
    timer = shutil.which("time") or "/usr/bin/time"
    rss_file = out.with_suffix(".rss")
    cmd = [timer, "-f", "%M", "-o", str(rss_file), sys.executable, "-m", "addrcode", "encode", "-i", str(src),
           "--column", "address", "-o", str(out), "--jobs", str(jobs), "-q"]
    cmd += ["--config", str(config)] if config else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = float(rss_file.read_text().split()[-1])
    rss_file.unlink()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"addrcode encode failed ({proc.returncode}): {proc.stderr[-500:]}")
    rows_in, _ = _count(src)
    rows, ok = _count(out, "ok")
    digest = _digest(out)
    out.unlink()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"jobs": jobs, "rows": rows, "rows_in": rows_in, "ok": ok, "seconds": seconds,
            "rows_s": rows / seconds, "cpu_s": cpu, "rows_cpu_s": rows / cpu,
            "peak_rss_mb": peak_kb / 1024, "sha256": digest}


def _print_cli(r: dict, label: str) -> None:
    same = "rows in = rows out" if r["rows"] == r["rows_in"] else f"ROWS LOST: {r['rows_in']} in, {r['rows']} out"
    print(f"cli encode --jobs {r['jobs']} ({label}): {r['rows_s']:,.0f} rows/s wall ({r['rows']:,} rows, "
          f"{r['ok']:,} ok, {r['seconds']:.1f} s), {r['rows_cpu_s']:,.0f} rows per CPU-second, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB; {same}")


def run_cli(args, tmp: Path, big: list[str], states: list[tuple[str, Path | None, int]]) -> dict:
    """Small --jobs 1, big --jobs 1, big --jobs 2; each for every (label, config, K of the rows) in
    turn (paired in time). Rows of K > 1 are the Vermont rows spread over the K copies."""
    t = time.perf_counter()
    small = noisy_rows(args.cli_small, args.seed + 1)
    files = {}
    for k in dict.fromkeys(k for _label, _config, k in states):
        b, s = (big, small) if k == 1 else (restated_rows(big, k, args.seed), restated_rows(small, k, args.seed + 1))
        files[k] = {"big": write_rows(tmp / f"cli-{k}-big.csv", b), "small": write_rows(tmp / f"cli-{k}-small.csv", s)}
    print(f"cli rows: {args.cli_rows:,} and {args.cli_small:,} noisy rows per state set written in "
          f"{time.perf_counter() - t:.0f} s")
    res: dict = {label: {} for label, _c, _k in states}
    for part, jobs, size in (("small", 1, args.cli_small), ("big", 1, args.cli_rows), ("big", 2, args.cli_rows)):
        for label, config, k in states:
            r = res[label][f"{part}{jobs}"] = bench_cli(files[k][part], tmp / "cli-out.csv", jobs, config)
            _print_cli(r, f"{label}, {size:,} rows")
    for label, _config, _k in states:
        r = res[label]
        print(f"  {label}: speed-up --jobs 2 / --jobs 1: {r['big2']['rows_s'] / r['big1']['rows_s']:.2f}x; "
              f"outputs identical: {r['big2']['sha256'] == r['big1']['sha256']}; peak RSS {args.cli_rows:,} rows / "
              f"{args.cli_small:,} rows (--jobs 1): {r['big1']['peak_rss_mb'] / r['small1']['peak_rss_mb']:.2f}")
    for k_files in files.values():
        for f in k_files.values():
            f.unlink()
    vt = states[0][0]
    for kl, _c, _k in states[1:]:
        for key in ("small1", "big1", "big2"):
            a, b = res[vt][key], res[kl][key]
            print(f"  {kl} / {vt}, --jobs {a['jobs']} on {a['rows']:,} rows: {b['rows_s'] / a['rows_s']:.2f}x wall, "
                  f"{b['rows_cpu_s'] / a['rows_cpu_s']:.2f}x per CPU-second")
    return res


# --------------------------------------------------------------------------- engines (Dask)


def bench_single(texts: list[str], config) -> dict:
    """process_frame over all rows in this process, one core (fresh job: cold caches)."""
    import pandas as pd

    from addrcode.batch import engines

    engines.clear_cache()
    df = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "address": texts})
    t = time.perf_counter()
    engines.get_job("encode", config, demo=True)  # the benchmark's data: the demo keyring is fine (said once)
    load = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    out = engines.process_frame(df, config=config, demo=True)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    ok = int((out["addrcode_status"] == "ok").sum())
    return {"rows": len(texts), "ok": ok, "load_s": load, "seconds": seconds, "rows_s": len(texts) / seconds,
            "cpu_s": cpu, "rows_cpu_s": len(texts) / cpu}


def _worker_stats() -> dict:
    from addrcode.batch import engines

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime, "built": engines.jobs_built()}


def bench_dask(input_csv: Path, out_dir: Path, config, workers: int = 2, blocksize=None) -> dict:
    """run_dask on a fresh LocalCluster: wall rows/s and the workers' peak RSS."""
    from distributed import Client, LocalCluster

    from addrcode.batch import engines

    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    client = Client(cluster)
    startup = time.perf_counter() - t
    try:
        before = client.run(_worker_stats)
        t = time.perf_counter()
        run = engines.run_dask(input_csv, out_dir, config=config, scheduler=cluster.scheduler_address,
                               output_format="parquet", blocksize=blocksize, demo=True)
        seconds = time.perf_counter() - t
        after = client.run(_worker_stats)
    finally:
        client.close()
        cluster.close()
    cpu = sum(after[w]["cpu_s"] - before[w]["cpu_s"] for w in after)
    return {"rows": run.rows, "ok": run.ok, "partitions": run.partitions, "startup_s": startup,
            "seconds": seconds, "rows_s": run.rows / seconds, "cpu_s": cpu, "rows_cpu_s": run.rows / cpu,
            "worker_rss_mb": sorted(a["rss_mb"] for a in after.values()),
            "jobs_built": [sum(a["built"].values()) for a in after.values()]}


# --------------------------------------------------------------------------- peer

# USPS Publication 28 abbreviations (street suffixes and directionals): what the peer normalizes with.
USPS_SUFFIX = {"ROAD": "RD", "STREET": "ST", "LANE": "LN", "DRIVE": "DR", "AVENUE": "AVE", "HILL": "HL",
               "CIRCLE": "CIR", "COURT": "CT", "EXTENSION": "EXT", "TERRACE": "TER", "PLACE": "PL", "HIGHWAY": "HWY",
               "TRAIL": "TRL", "HEIGHTS": "HTS", "RIDGE": "RDG", "POINT": "PT", "BOULEVARD": "BLVD", "HOLLOW": "HOLW",
               "VIEW": "VW", "ESTATE": "EST", "MOUNTAIN": "MTN", "CROSSING": "XING", "SQUARE": "SQ",
               "PARKWAY": "PKWY", "MEADOW": "MDW", "MEADOWS": "MDWS", "BROOK": "BRK", "LANDING": "LNDG",
               "GREEN": "GRN", "CENTER": "CTR", "FALLS": "FLS", "JUNCTION": "JCT", "KNOLL": "KNL", "LAKE": "LK",
               "SPRING": "SPG", "VALLEY": "VLY", "ORCHARD": "ORCH", "AVE.": "AVE", "ST.": "ST", "RD.": "RD"}
USPS_DIRECTION = {"NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
                  "SOUTHEAST": "SE", "SOUTHWEST": "SW", "N.": "N", "S.": "S", "E.": "E", "W.": "W"}
_STREET_LABELS = (("StreetNamePreDirectional", USPS_DIRECTION), ("StreetNamePreModifier", {}),
                  ("StreetNamePreType", {}), ("StreetName", {}), ("StreetNamePostType", USPS_SUFFIX),
                  ("StreetNamePostDirectional", USPS_DIRECTION))


def peer_index(source: Path) -> dict:
    """Exact keys (number, street, town) and (number, street, ZIP) -> point, and the streets of each town/ZIP."""
    by_town: dict = {}
    by_zip: dict = {}
    town_streets: dict = defaultdict(set)
    zip_streets: dict = defaultdict(set)
    with gzip.open(source, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for lon, lat, number, street, _unit, city, _district, _region, postcode, *_ in reader:
            point = (lon, lat)
            by_town.setdefault((number, street, city), point)
            by_zip.setdefault((number, street, postcode), point)
            town_streets[city].add(street)
            zip_streets[postcode].add(street)
    return {"town": by_town, "zip": by_zip, "town_streets": {t: sorted(s) for t, s in town_streets.items()},
            "zip_streets": {z: sorted(s) for z, s in zip_streets.items()}, "towns": sorted(town_streets)}


def peer_parse(text: str) -> tuple[str, str, str, str]:
    """(number, street, town, ZIP), upper-cased, the street with USPS abbreviations."""
    import usaddress

    try:
        parts, _ = usaddress.tag(text)
    except usaddress.RepeatedLabelError as exc:  # usaddress gives up on such rows; keep what it saw first
        parts = {}
        for value, label in exc.parsed_string:
            parts.setdefault(label, value)
    words = []
    for label, abbr in _STREET_LABELS:
        for w in parts.get(label, "").upper().replace(",", " ").split():
            words.append(abbr.get(w, w))
    town = " ".join(parts.get("PlaceName", "").upper().replace(",", " ").split())
    return parts.get("AddressNumber", "").strip(" ,"), " ".join(words), town, parts.get("ZipCode", "")[:5]


def peer_find(text: str, idx: dict):
    """The point of one row: exact key, else fuzzy street within the town (else ZIP, else fuzzy town); or None."""
    from rapidfuzz import fuzz, process

    number, street, town, zipcode = peer_parse(text)
    if not number or not street:
        return None
    point = idx["town"].get((number, street, town)) or idx["zip"].get((number, street, zipcode))
    if point:
        return point
    if town not in idx["town_streets"] and zipcode not in idx["zip_streets"] and town:
        best = process.extractOne(town, idx["towns"], scorer=fuzz.ratio, score_cutoff=85)
        town = best[0] if best else town
    if town in idx["town_streets"]:
        table, key, streets = idx["town"], town, idx["town_streets"][town]
    elif zipcode in idx["zip_streets"]:
        table, key, streets = idx["zip"], zipcode, idx["zip_streets"][zipcode]
    else:
        return None
    best = process.extractOne(street, streets, scorer=fuzz.ratio, score_cutoff=80)
    return table.get((number, best[0], key)) if best else None


def bench_peer(texts: list[str]) -> dict:
    """The usaddress + exact key + blocked rapidfuzz pipeline over `texts` (one core)."""
    t = time.perf_counter()
    idx = peer_index(SOURCE)
    load = time.perf_counter() - t
    peer_find(texts[0], idx)  # imports, untimed
    t, cpu = time.perf_counter(), time.process_time()
    found = sum(peer_find(text, idx) is not None for text in texts)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"rows": len(texts), "found": found, "load_s": load, "seconds": seconds, "rows_s": len(texts) / seconds,
            "rows_cpu_s": len(texts) / cpu, "points": len(idx["town"])}


# --------------------------------------------------------------------------- goals


def goals(results: dict, args) -> list[str]:
    """Issue 21's "Done when", each PASS / FAIL / NOT MEASURED, on the figures of this run."""
    lines = ["goals (issue 21, on this run):"]

    def check(what: str, value, target: float, op: str, detail: str = "", missing: str = "cli skipped") -> None:
        if value is None:
            lines.append(f"- {what}: NOT MEASURED ({missing})")
            return
        ok = value >= target if op == ">=" else value <= target
        shown = f"{value:,.0f}" if target >= 100 else f"{value:.2f}"
        lines.append(f"- {what}: {shown} ({op} {target:,}) {'PASS' if ok else 'FAIL'}{detail}")

    cli = results.get("cli") or {}
    labels = list(cli)
    vt = cli[labels[0]] if labels else {}
    short = f" (on {args.cli_rows:,} rows; the goal is on {GOAL_ROWS:,})" if args.cli_rows < GOAL_ROWS else ""
    j1, j2, peer = vt.get("big1"), vt.get("big2"), results.get("peer")
    check("cli --jobs 1 rows/s", j1 and j1["rows_s"], 20_000, ">=", short)
    check("cli --jobs 2 / --jobs 1", j1 and j2["rows_s"] / j1["rows_s"], 1.8, ">=", short)
    check("cli --jobs 1 / usaddress peer, rows/s", j1 and peer and j1["rows_s"] / peer["rows_s"], 3, ">=",
          missing="needs both cli and peer")
    check(f"peak RSS {args.cli_rows:,} rows / {args.cli_small:,} rows", j1 and j1["peak_rss_mb"]
          / vt["small1"]["peak_rss_mb"], 1.1, "<=", "" if args.cli_rows >= 10 * args.cli_small else
          " (the goal compares 1,000,000 with 100,000 rows)")
    if len(labels) > 1 and j1:
        few = f" (K={args.states}; the goal is on {GOAL_STATES})" if args.states < GOAL_STATES else ""
        for label in labels[1:]:
            big = cli[label]
            ratio = min(big["big1"]["rows_s"] / j1["rows_s"], big["big2"]["rows_s"] / j2["rows_s"])
            check(f"{label} / Vermont rows/s, lower of --jobs 1 and --jobs 2", ratio, 0.8, ">=", few + short)
    else:
        check(f"{GOAL_STATES} states / Vermont rows/s", None, 0.8, ">=",
              missing="cli skipped" if "cli" in args.skip else f"run with --states {GOAL_STATES}")
    for label in labels:
        r = cli[label]
        lost = any(r[key]["rows"] != r[key]["rows_in"] for key in r)
        same = r["big1"]["sha256"] == r["big2"]["sha256"]
        lines.append(f"- ({label}: rows in = rows out {'PASS' if not lost else 'FAIL'}; --jobs 2 output identical "
                     f"to --jobs 1 {'PASS' if same else 'FAIL'})")
    load = os.getloadavg()[0]
    lines.append(f"load average at the end {load:.1f} on {os.cpu_count()} cores"
                 + (" (other work shared the machine: wall figures are low)" if load > 1.5 else ""))
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows for the single and dask parts")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-sample", type=int, default=5000, help="rows of the CLI's Vermont rows for the peer")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--blocksize", default=None, help="Dask CSV partition size [default: automatic]")
    parser.add_argument("--skip", nargs="*", default=[], choices=["single", "dask", "peer", "cli"])
    parser.add_argument("--cli-rows", type=int, default=1_000_000, help="rows for the --jobs 1/2 CLI runs")
    parser.add_argument("--cli-small", type=int, default=100_000, help="rows for the flat-memory comparison")
    parser.add_argument("--states", type=int, default=1, help="1: the embedded Vermont demo; K > 1: also the "
                        "synthetic K-state reference of benchmarks/scale.py, against Vermont built the same way")
    parser.add_argument("--cache-size", type=int, help="with --states K: also the spread rows with this "
                        "cache_size in the config (default 20,000)")
    parser.add_argument("--work", help="folder for the K-state copies, references, zones, keyring and configs "
                        "(reused; default: a temp dir, removed)")
    args = parser.parse_args(argv)
    if args.states < 1:
        parser.error("--states must be >= 1")
    return args


def run_engines(args, tmp: Path, results: dict) -> None:
    from addrcode.batch import engines
    from addrcode.config import load_config

    t = time.perf_counter()
    texts = noisy_rows(args.rows, args.seed)
    src = write_rows(tmp / "rows.csv", texts)
    print(f"rows: {len(texts):,} noisy rows (seed {args.seed}) generated in {time.perf_counter() - t:.1f} s")
    config = engines.prepare_config("encode", load_config(), lambda m: print(m, file=sys.stderr), demo=True)
    if "single" not in args.skip:
        r = results["single"] = bench_single(texts, config)
        print(f"single process_frame, 1 core: {r['rows_s']:,.0f} rows/s ({r['rows']:,} rows, {r['ok']:,} ok, "
              f"{r['seconds']:.1f} s; resources loaded in {r['load_s']:.2f} s); "
              f"{r['rows_cpu_s']:,.0f} rows per CPU-second")
    if "dask" not in args.skip:
        r = results["dask"] = bench_dask(src, tmp / "out", config, args.workers, args.blocksize)
        print(f"dask LocalCluster {args.workers}x1: {r['rows_s']:,.0f} rows/s ({r['rows']:,} rows, {r['ok']:,} ok, "
              f"{r['partitions']} partitions, {r['seconds']:.1f} s; cluster start {r['startup_s']:.1f} s); "
              f"{r['rows_cpu_s']:,.0f} rows per worker CPU-second; "
              f"worker peak RSS {', '.join(f'{m:.0f}' for m in r['worker_rss_mb'])} MB; "
              f"jobs built per worker {r['jobs_built']}")
        if "single" in results:
            print(f"  dask / single: {r['rows_s'] / results['single']['rows_s']:.2f}x")


def run_peer(args, big: list[str], results: dict) -> None:
    sample = random.Random(args.seed).sample(big, min(args.peer_sample, len(big)))
    r = results["peer"] = bench_peer(sample)
    print(f"peer usaddress + exact key + rapidfuzz blocked by town/ZIP, {r['rows']:,} of the CLI's Vermont rows: "
          f"{r['rows_s']:,.0f} rows/s wall, {r['rows_cpu_s']:,.0f} rows per CPU-second, a point found for "
          f"{100 * r['found'] / r['rows']:.1f} % (index of {r['points']:,} exact keys built in {r['load_s']:.1f} s)")
    ours = [("single", results.get("single")), ("dask", results.get("dask"))]
    for label, res in (results.get("cli") or {}).items():
        ours += [(f"cli --jobs 1 ({label})", res["big1"]), (f"cli --jobs 2 ({label})", res["big2"])]
    for name, res in ours:
        if res:
            print(f"  {name} / peer: {res['rows_s'] / r['rows_s']:.2f}x wall, "
                  f"{res['rows_cpu_s'] / r['rows_cpu_s']:.2f}x per CPU-second")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.states > 1 and "cli" not in args.skip and not NATION_SOURCE.is_file():
        print(f"--states {args.states}: {NATION_SOURCE} not found (the Vermont E911 points the synthetic "
              "states are made from, ../shared/data/vt-e911)", file=sys.stderr)
        return 2
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        work = Path(args.work) if args.work else tmp / "work"
        if not {"single", "dask"} <= set(args.skip):
            run_engines(args, tmp, results)
        big = noisy_rows(args.cli_rows, args.seed) if not {"cli", "peer"} <= set(args.skip) else []
        if "cli" not in args.skip:
            states = [("Vermont demo", None, 1)]
            if args.states > 1:
                configs = prepare_states(args.states, work, args.cache_size)
                k = args.states
                states = [("Vermont", configs[1], 1), (f"Vermont rows, {k}-state reference", configs[k], 1),
                          (f"rows spread over {k} states", configs[k], k)]
                if args.cache_size:
                    states.append((f"rows spread over {k} states, cache_size {args.cache_size:,}", configs["cache"], k))
            results["cli"] = run_cli(args, tmp, big, states)
            if "dask" in results and args.rows == args.cli_rows:  # the same rows (same count, same seed)
                print(f"  dask {args.workers} workers / cli --jobs 2 (Vermont), same rows: "
                      f"{results['dask']['rows_s'] / next(iter(results['cli'].values()))['big2']['rows_s']:.2f}x")
        if "peer" not in args.skip:
            run_peer(args, big, results)
        print(f"peak RSS of this process: {_rss_mb():.0f} MB")
    print("\n".join(goals(results, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

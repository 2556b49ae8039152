#!/usr/bin/env python3
"""Batch encode at scale: the Dask engine path and a naive peer, measured in the same run.

    python benchmarks/batch.py [--rows 20000] [--workers 2] [--peer-sample 300] [--seed 5]

Rows: noisy one-line addresses generated (seeded) from the embedded Vermont E911 points by
`scripts/make_geocode_queries.py` (clean, lower, typo, missing ZIP/town, wrong ZIP, aliases, units,
leading names, directionals, absent numbers, non-existent streets) plus ~3 % bad rows (empty,
junk, formula-like text), shuffled; written to a CSV (columns id, address).

Parts (each prints rows/s; nothing prints an address or a coordinate):
- `single`: `addrcode.batch.engines.process_frame` over the whole frame in this process (one core): the
  baseline the engines are compared with.
- `dask`: `addrcode.batch.engines.run_dask` on a `distributed.LocalCluster` (`--workers` processes × 1
  thread), CSV in -> Parquet parts out, wall time including reading/writing (cluster start-up
  reported apart); peak RSS of each worker process.
- `peer`: on a sample, `usaddress.tag` parse + rapidfuzz `extractOne` of the street over *all*
  streets of the source (no blocking) + house number lookup: what one would write without addrcode.
- `cli`: the streaming batch core through the real command line, `addrcode encode -i rows.csv -o out.csv
  --jobs 1` and `--jobs 2` on `--cli-rows` rows (default 1,000,000), and `--jobs 1` on `--cli-small` rows
  (default 100,000) to show that peak memory does not grow with the input: wall rows/s, speed-up, CPU,
  peak RSS of the largest process, and rows in = rows out checked.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import math
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
BAD_ROWS = ["", "  ", "asdf qwerty", "=SUM(A1:A9)", "+1 555 0100", "@home", "-", "n/a", "??", "c/o front desk",
            "PO BOX", "ÅÄÖ ☃ 東京都", "1" * 120]


def _mq():
    spec = importlib.util.spec_from_file_location("mq", ROOT / "scripts" / "make_geocode_queries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


# --------------------------------------------------------------------------- the CLI batch core


def bench_cli(src: Path, out: Path, jobs: int) -> dict:
    """One real `addrcode encode` run over `src`; wall time, CPU and peak RSS of its processes."""
    import shutil
    import subprocess

    # Peak RSS through /usr/bin/time: a child forked from this (big) process would report this
    # process's memory as its own until it execs.
    timer = shutil.which("time") or "/usr/bin/time"
    rss_file = out.with_suffix(".rss")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([timer, "-f", "%M", "-o", str(rss_file), sys.executable, "-m", "addrcode", "encode",
                           "-i", str(src), "--column", "address", "-o", str(out), "--jobs", str(jobs), "-q"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = float(rss_file.read_text().split()[-1])
    rss_file.unlink()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"addrcode encode failed ({proc.returncode}): {proc.stderr[-500:]}")
    with open(src, encoding="utf-8", newline="") as f:
        rows_in = sum(1 for _ in csv.reader(f)) - 1
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    ok = sum(r["addrcode_status"] == "ok" for r in rows)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"jobs": jobs, "rows": len(rows), "rows_in": rows_in, "ok": ok, "seconds": seconds,
            "rows_s": len(rows) / seconds, "cpu_s": cpu, "rows_cpu_s": len(rows) / cpu,
            "peak_rss_mb": peak_kb / 1024}


def _print_cli(r: dict, label: str) -> None:
    same = "rows in = rows out" if r["rows"] == r["rows_in"] else f"ROWS LOST: {r['rows_in']} in, {r['rows']} out"
    print(f"cli encode --jobs {r['jobs']} ({label}): {r['rows_s']:,.0f} rows/s wall ({r['rows']:,} rows, "
          f"{r['ok']:,} ok, {r['seconds']:.1f} s), {r['rows_cpu_s']:,.0f} rows per CPU-second, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB; {same}")


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


def bench_peer(texts: list[str]) -> dict:
    """usaddress parse + rapidfuzz over all streets (no blocking) + number lookup, on `texts`."""
    import usaddress
    from rapidfuzz import fuzz, process

    t = time.perf_counter()
    names: dict[str, int] = {}
    numbers: dict[tuple[int, str], tuple[str, str]] = {}
    with gzip.open(SOURCE, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            key = f"{row['STREET']} {row['CITY']}".upper()
            sid = names.setdefault(key, len(names))
            numbers.setdefault((sid, row["NUMBER"]), (row["LON"], row["LAT"]))
    choices = list(names)
    load = time.perf_counter() - t

    street_labels = ("StreetNamePreDirectional", "StreetNamePreType", "StreetName", "StreetNamePostType",
                     "StreetNamePostDirectional")
    found = 0
    t = time.perf_counter()
    for text in texts:
        try:
            parts, _ = usaddress.tag(text)
        except usaddress.RepeatedLabelError as exc:  # usaddress gives up on such rows; keep what it saw
            parts = {label: value for value, label in exc.parsed_string}
        street = " ".join(parts.get(k, "") for k in street_labels).strip()
        key = f"{street} {parts.get('PlaceName', '')}".upper().strip()
        if not street:
            continue
        best = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=60)
        if best and (best[2], parts.get("AddressNumber", "")) in numbers:
            found += 1
    seconds = time.perf_counter() - t
    return {"rows": len(texts), "found": found, "load_s": load, "seconds": seconds,
            "rows_s": len(texts) / seconds, "streets": len(choices)}


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-sample", type=int, default=300)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--blocksize", default=None, help="Dask CSV partition size [default: automatic]")
    parser.add_argument("--skip", nargs="*", default=[], choices=["single", "dask", "peer", "cli"])
    parser.add_argument("--cli-rows", type=int, default=1_000_000, help="rows for the --jobs 1/2 CLI runs")
    parser.add_argument("--cli-small", type=int, default=100_000, help="rows for the flat-memory comparison")
    args = parser.parse_args(argv)
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    from addrcode.batch import engines
    from addrcode.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        texts = noisy_rows(args.rows, args.seed)
        src = write_rows(tmp / "rows.csv", texts)
        print(f"rows: {len(texts):,} noisy rows (seed {args.seed}) generated in {time.perf_counter() - t:.1f} s")
        config = engines.prepare_config("encode", load_config(), lambda m: print(m, file=sys.stderr), demo=True)
        results = {}
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
        if "cli" not in args.skip:
            t = time.perf_counter()
            big = write_rows(tmp / "cli-rows.csv", noisy_rows(args.cli_rows, args.seed))
            small = write_rows(tmp / "cli-small.csv", noisy_rows(args.cli_small, args.seed + 1))
            print(f"cli rows: {args.cli_rows:,} and {args.cli_small:,} noisy rows generated in "
                  f"{time.perf_counter() - t:.0f} s")
            r_small = bench_cli(small, tmp / "cli-small-out.csv", 1)
            _print_cli(r_small, f"{args.cli_small:,} rows")
            r1 = results["cli1"] = bench_cli(big, tmp / "cli-out-1.csv", 1)
            _print_cli(r1, f"{args.cli_rows:,} rows")
            r2 = results["cli2"] = bench_cli(big, tmp / "cli-out-2.csv", 2)
            _print_cli(r2, f"{args.cli_rows:,} rows")
            same = (tmp / "cli-out-1.csv").read_bytes() == (tmp / "cli-out-2.csv").read_bytes()
            print(f"  speed-up --jobs 2 / --jobs 1: {r2['rows_s'] / r1['rows_s']:.2f}x; outputs identical: {same}")
            print(f"  peak RSS {args.cli_rows:,} rows / {args.cli_small:,} rows (--jobs 1): "
                  f"{r1['peak_rss_mb'] / r_small['peak_rss_mb']:.2f}")
            if "dask" in results and args.rows == args.cli_rows:  # the same rows (same count, same seed)
                print(f"  dask {args.workers} workers / cli --jobs 2, same rows: "
                      f"{results['dask']['rows_s'] / r2['rows_s']:.2f}x")
            for name in ("cli-rows.csv", "cli-small.csv", "cli-small-out.csv", "cli-out-1.csv", "cli-out-2.csv"):
                (tmp / name).unlink()
        if "peer" not in args.skip:
            sample = random.Random(args.seed).sample(texts, min(args.peer_sample, len(texts)))
            r = results["peer"] = bench_peer(sample)
            print(f"peer usaddress + rapidfuzz over all {r['streets']:,} streets, {r['rows']} rows: "
                  f"{r['rows_s']:,.1f} rows/s ({r['found']} found; source loaded in {r['load_s']:.1f} s)")
            for name in ("single", "dask", "cli1", "cli2"):
                if name in results:
                    print(f"  {name} / peer: {results[name]['rows_s'] / r['rows_s']:,.0f}x")
        print(f"peak RSS of this process: {_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

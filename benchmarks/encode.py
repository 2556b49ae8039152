"""Benchmark of `addrcode encode`: the code step alone, and end to end from text.

Code step: (district, index) -> delivery code under one key epoch, on a realistic batch where many
rows share cells: 200,000 rows drawn with replacement from the Vermont E911 address points
(../shared/data/vt-e911), mapped to cells with the default grid. Compared in the same run with:

- `encode_cell` row by row (a row-at-a-time pipeline, with its LRU cache),
- the general `addrcode.codes.ff1.FF1` class, one call per distinct cell (textbook FF1, no batching),
- a floor: HMAC-SHA256 of the cell truncated to 20 bits (not a permutation, so not usable as a code,
  but the cheapest keyed function one could write).

End to end: `--texts` noisy one-line addresses (seeded, from `scripts/make_geocode_queries.py`: all
kinds, including non-existent addresses) through `EncodeJob.many` in chunks of 2,000 (what the batch
core calls), against the geocode stage alone on the same texts with a fresh geocoder (the peer in this
run: what encode adds on top of geocoding is the grid, zone and code steps).

Usage: python benchmarks/encode.py [--rows N] [--texts N]
Prints rates (codes/s) and ratios; peak RSS at the end. No address or coordinate is printed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import hmac
import random
import resource
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from addrcode.codes import scheme as codes  # noqa: E402
from addrcode.codes.ff1 import FF1  # noqa: E402
from addrcode.codes.keyring import Epoch  # noqa: E402

E911 = ROOT.parent / "shared" / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"


def realistic_cells(rows: int, rng: random.Random) -> tuple[list[tuple[int, int]], str]:
    """`rows` (district, index) pairs drawn with replacement from real address points."""
    if E911.is_file():
        import numpy as np

        from addrcode.grid import Grid

        lon, lat = [], []
        with gzip.open(E911, "rt", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                lon.append(float(row["LON"]))
                lat.append(float(row["LAT"]))
        district, index, _ = Grid().cells(np.array(lon), np.array(lat))
        points = list(zip(district.tolist(), index.tolist()))
        return [rng.choice(points) for _ in range(rows)], "Vermont E911 points"
    pool = [(rng.randrange(codes.DISTRICTS), rng.randrange(codes.CELLS_PER_DISTRICT)) for _ in range(rows // 5)]
    return [rng.choice(pool) for _ in range(rows)], "synthetic (shared data absent)"


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def code_step(rows: int) -> None:
    rng = random.Random(1)
    cells, source = realistic_cells(rows, rng)
    distinct = list(dict.fromkeys(cells))
    epoch = Epoch(id="0", created="", status="active", secret=secrets.token_bytes(32))
    print(f"code step: {len(cells):,} rows, {len(distinct):,} distinct cells ({source})")

    def batch():
        codes._encode_cached.cache_clear()
        codes.encode_cells(cells, epoch)

    def per_row():
        codes._encode_cached.cache_clear()
        for d, i in cells:
            codes.encode_cell(d, i, epoch)

    general = FF1(epoch.secret, 32)

    def textbook():
        for d, i in distinct:
            general.encrypt([(i >> 15) & 31, (i >> 10) & 31, (i >> 5) & 31, i & 31], codes.tweak(d, "0"))

    def hmac_floor():
        key = epoch.secret
        for d, i in cells:
            hmac.new(key, d.to_bytes(2, "big") + i.to_bytes(4, "big"), hashlib.sha256).digest()

    results = {
        "encode_cells (batch)": len(cells) / timed(batch),
        "encode_cell per row (cached)": len(cells) / timed(per_row),
        "textbook FF1 per distinct cell": len(distinct) / timed(textbook, 1),
        "floor: HMAC-SHA256 per row": len(cells) / timed(hmac_floor),
    }
    base = results["encode_cells (batch)"]
    for name, rate in results.items():
        print(f"  {name:34s} {rate:>12,.0f} codes/s   batch is {base / rate:5.2f}x")
    goal = 50_000
    print(f"  goal >= {goal:,}/s per core for the code step: {'met' if base >= goal else 'NOT met'}")


def end_to_end(n: int, seed: int = 9) -> None:
    import importlib.util

    from addrcode.batch.jobs import make_job, open_geocoder, prepare_config
    from addrcode.config import load_config

    spec = importlib.util.spec_from_file_location("mq", ROOT / "scripts" / "make_geocode_queries.py")
    mq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mq)
    points = mq.load_rows(mq.DEFAULT_SOURCE)
    texts = [q["query"] for q in mq.make_queries(points, -(-n // len(mq.KINDS)), seed=seed)][:n]
    random.Random(seed).shuffle(texts)
    del points
    config = prepare_config("encode", load_config(), lambda m: print(m, file=sys.stderr))
    print(f"end to end: {len(texts):,} noisy texts (seed {seed})")

    warm = open_geocoder(config)  # a throwaway pass so both measured runs find the file in the OS cache
    for text in texts[:2000]:
        warm.geocode(text)
    warm.close()
    geocoder = open_geocoder(config)
    t, c = time.perf_counter(), time.process_time()
    for text in texts:
        geocoder.geocode(text)
    geo_wall, geo_cpu = time.perf_counter() - t, time.process_time() - c

    job = make_job("encode", config)
    t, c = time.perf_counter(), time.process_time()
    ok = 0
    for start in range(0, len(texts), 2000):
        ok += sum(r["status"] == "ok" for r in job.many(texts[start:start + 2000]))
    enc_wall, enc_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"  geocode only (fresh geocoder)      {len(texts) / geo_cpu:>12,.0f} rows per CPU-second "
          f"({len(texts) / geo_wall:,.0f}/s wall)")
    print(f"  encode end to end (EncodeJob.many) {len(texts) / enc_cpu:>12,.0f} rows per CPU-second "
          f"({len(texts) / enc_wall:,.0f}/s wall, {ok:,} codes issued); "
          f"encode / geocode: {geo_cpu / enc_cpu:.2f}x")
    goal = 5_000
    print(f"  goal >= {goal:,} rows/s per core end to end: {'met' if len(texts) / enc_cpu >= goal else 'NOT met'}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--texts", type=int, default=20_000, help="noisy texts for the end-to-end part (0: skip)")
    args = parser.parse_args(argv)
    code_step(args.rows)
    if args.texts:
        end_to_end(args.texts)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kb / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

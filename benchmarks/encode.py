"""Benchmark of `addrcode encode`: the code step alone (this part), end to end (to be added).

Code step: (district, index) -> delivery code under one key epoch, on a realistic batch where many
rows share cells: 200,000 rows drawn with replacement from the Vermont E911 address points
(../shared/data/vt-e911), mapped to cells with the default grid. Compared in the same run with:

- `encode_cell` row by row (a row-at-a-time pipeline, with its LRU cache),
- the general `addrcode.ff1.FF1` class, one call per distinct cell (textbook FF1, no batching),
- a floor: HMAC-SHA256 of the cell truncated to 20 bits (not a permutation, so not usable as a code,
  but the cheapest keyed function one could write).

Usage: python benchmarks/encode.py [--rows N]
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

from addrcode import codes  # noqa: E402
from addrcode.ff1 import FF1  # noqa: E402
from addrcode.keys import Epoch  # noqa: E402

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args(argv)
    code_step(args.rows)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak_kb / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Geocoding throughput and memory, with a naive baseline measured in the same run.

    python benchmarks/geocode.py [--n 20000] [--reference REF.sqlite]

- addrcode: `Geocoder.geocode` over N noisy queries (all kinds of scripts/make_geocode_queries.py),
  one core, cold caches first then a second (warm) pass; peak RSS of the process.
- naive baseline: parse the same way, then rapidfuzz `extractOne` of the street over *all* streets
  of the reference (no blocking), then the house number on the winner - on a sample, as it is slow.
The ratio of the two is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _mq():
    spec = importlib.util.spec_from_file_location("mq", ROOT / "scripts" / "make_geocode_queries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def naive(ref: Path, queries: list[str]) -> tuple[float, int]:
    """rapidfuzz over every street of the reference: (queries/s, found)."""
    import sqlite3

    from rapidfuzz import fuzz, process

    from addrcode.normalize import normalize

    db = sqlite3.connect(ref)
    streets = db.execute("SELECT s.id, s.full || ' ' || c.name FROM streets s JOIN cities c ON c.id=s.city_id").fetchall()
    ids = [s[0] for s in streets]
    names = [s[1] for s in streets]
    found = 0
    t = time.perf_counter()
    for q in queries:
        a = normalize(q)
        key = " ".join(p for p in (a.predir, a.street, a.suffix, a.postdir, a.city) if p)
        best = process.extractOne(key, names, scorer=fuzz.ratio)
        if best:
            row = db.execute("SELECT lon, lat FROM points WHERE street_id=? AND number=?",
                             (ids[best[2]], a.number)).fetchone()
            found += row is not None
    return len(queries) / (time.perf_counter() - t), found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--naive-sample", type=int, default=300)
    ap.add_argument("--reference", help="a built reference (default: build the embedded one in a temp dir)")
    args = ap.parse_args()
    from addrcode.geocode import Geocoder
    from addrcode.reference import EMBEDDED_SOURCE, build_reference

    mq = _mq()
    rows = mq.load_rows(EMBEDDED_SOURCE)
    per_kind = -(-args.n // len(mq.KINDS))
    queries = [q["query"] for q in mq.make_queries(rows, per_kind, seed=11)][: args.n]
    random.Random(1).shuffle(queries)
    del rows
    with tempfile.TemporaryDirectory() as td:
        ref = Path(args.reference) if args.reference else Path(td) / "vt.sqlite"
        if not args.reference:
            t = time.perf_counter()
            build_reference([EMBEDDED_SOURCE], ref)
            print(f"reference build (248k points): {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        g = Geocoder(ref)
        g.geocode(queries[0])
        print(f"open + first query: {1000 * (time.perf_counter() - t):.0f} ms")
        t = time.perf_counter()
        for q in queries:
            g.geocode(q)
        cold = len(queries) / (time.perf_counter() - t)
        t = time.perf_counter()
        for q in queries:
            g.geocode(q)
        warm = len(queries) / (time.perf_counter() - t)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sample = queries[: args.naive_sample]
        nv, _found = naive(ref, sample)
    print(f"addrcode geocode: {len(queries):,} noisy queries, cold caches {cold:,.0f} q/s, warm {warm:,.0f} q/s "
          f"(one core); peak RSS {rss:.0f} MB")
    print(f"naive rapidfuzz over all streets (no blocking), {len(sample)} queries: {nv:,.0f} q/s")
    print(f"ratio addrcode/naive: {cold / nv:,.0f}x (cold), {warm / nv:,.0f}x (warm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Geocoding throughput and memory, with a naive baseline measured in the same run.

    python benchmarks/geocode.py [--n 20000] [--reference REF.sqlite] [--repeat 2] [--by-kind]

- addrcode: `Geocoder.geocode` over N noisy queries (all kinds of scripts/make_geocode_queries.py,
  shuffled), one core, in a fresh child process: open + first query, then three passes:
  *cold*: set A (seed 11) with empty caches; *warm*: set B (seed 12, other addresses, same kinds)
  with the reference caches warm from A - the steady state of a long batch of distinct rows;
  *repeat*: set A again, so every per-query memo (street keys, fuzzy verdicts) hits as well - an
  upper bound, flattering, shown for comparison only.
  Queries/s by wall clock and by the process's own CPU time (on a shared machine the CPU figure is
  the one-core rate; wall time includes waiting for the core), and the child's peak RSS (the
  geocoder alone: the query generator runs in the parent). `--repeat` runs the child that many
  times (each fresh), to show the spread.
- naive baseline: parse the same way, then rapidfuzz `extractOne` of the street over *all* streets
  of the reference (no blocking), then the house number on the winner - on a sample, as it is slow.
The ratio of the two is printed.
- `--by-kind`: where the warm pass's time goes, per kind of noisy query (µs each, share of the time,
  share answered by the clean-row short path `Geocoder._clean_point`): which rows a fast path must
  target (issue 21). Timing each query costs ~0.2 µs of the warm figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import peak_rss_mb  # noqa: E402

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
    streets = db.execute("SELECT s.id, s.full || ' ' || c.name FROM streets s "
                         "JOIN cities c ON c.id=s.city_id").fetchall()
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


def by_kind(g, queries: list[str], kinds: list[str]) -> dict:
    """Geocode `queries` timing each: kind -> [queries, seconds, answered by the clean-row short path]."""
    from addrcode.geocoding.guided import guided_parse

    out: dict = {}
    clock = time.process_time
    for q, kind in zip(queries, kinds):
        t = clock()
        g.geocode(q)
        d = clock() - t
        alt = guided_parse(q, g.store.known_city, g.rules)  # outside the timing: the same look-ups again
        row = out.setdefault(kind, [0, 0.0, 0])
        row[0] += 1
        row[1] += d
        row[2] += g._clean_point(alt) is not None
    return out


def child(ref: Path, queries_file: Path) -> dict:
    """Geocode the queries in this (fresh) process: rates, first-query latency, peak RSS (and, when
    the file carries the warm set's kinds, the warm pass by kind)."""
    from addrcode.geocoding.geocoder import Geocoder

    set_a, set_b, *kinds = (part.split("\n") for part in queries_file.read_text(encoding="utf-8").split("\n\f\n"))
    t = time.perf_counter()
    g = Geocoder(ref)
    g.geocode(set_a[0])
    out = {"open_ms": 1000 * (time.perf_counter() - t)}
    for name, queries in (("cold", set_a), ("warm", set_b), ("repeat", set_a)):
        t, c = time.perf_counter(), time.process_time()
        if name == "warm" and kinds:
            out["kinds"] = by_kind(g, queries, kinds[0])
        else:
            for q in queries:
                g.geocode(q)
        out[name] = len(queries) / (time.perf_counter() - t)
        out[name + "_cpu"] = len(queries) / (time.process_time() - c)
    out["rss_mb"] = peak_rss_mb()
    return out


def print_kinds(kinds: dict) -> None:
    """The warm pass per kind of query, costliest first."""
    total = sum(v[1] for v in kinds.values())
    n = sum(v[0] for v in kinds.values())
    print(f"  warm pass by kind: {total / n * 1e6:.1f} µs a query on average (CPU)")
    print(f"  {'kind':<14} {'queries':>7} {'µs each':>8} {'share of time':>14} {'short path':>11}")
    for kind, (count, secs, short) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"  {kind:<14} {count:>7,} {secs / count * 1e6:>8.1f} {secs / total:>14.1%} {short / count:>11.1%}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--naive-sample", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=2, help="fresh geocoder processes to run (default 2)")
    ap.add_argument("--reference", help="a built reference (default: build the embedded one in a temp dir)")
    ap.add_argument("--by-kind", action="store_true", help="the warm pass's time per kind of noisy query")
    ap.add_argument("--child", nargs=2, metavar=("REF", "QUERIES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]))))
        return 0
    from addrcode.geocoding.build import build_reference
    from addrcode.packaged import VT_SOURCE, data_path

    embedded_source = data_path(VT_SOURCE)

    mq = _mq()
    rows = mq.load_rows(embedded_source)
    per_kind = -(-args.n // len(mq.KINDS))
    queries = [q["query"] for q in mq.make_queries(rows, per_kind, seed=11)][: args.n]
    random.Random(1).shuffle(queries)
    other = mq.make_queries(rows, per_kind, seed=12)[: args.n]
    random.Random(2).shuffle(other)
    other_kinds = [q["kind"] for q in other]
    other = [q["query"] for q in other]
    del rows
    with tempfile.TemporaryDirectory() as td:
        ref = Path(args.reference) if args.reference else Path(td) / "vt.sqlite"
        if not args.reference:
            t = time.perf_counter()
            build_reference([embedded_source], ref)
            print(f"reference build (248k points): {time.perf_counter() - t:.1f} s")
        qfile = Path(td) / "queries.txt"
        sets = (queries, other, other_kinds) if args.by_kind else (queries, other)
        qfile.write_text("\n\f\n".join("\n".join(" ".join(q.split()) for q in qs) for qs in sets), encoding="utf-8")
        runs = []
        for i in range(args.repeat):
            res = subprocess.run([sys.executable, __file__, "--child", str(ref), str(qfile)],
                                 check=True, capture_output=True, text=True)
            r = json.loads(res.stdout)
            runs.append(r)
            print(f"run {i + 1}: open + first query {r['open_ms']:.0f} ms; "
                  f"cold {r['cold']:,.0f} q/s wall, {r['cold_cpu']:,.0f} q/s CPU; "
                  f"warm {r['warm']:,.0f} q/s wall, {r['warm_cpu']:,.0f} q/s CPU; "
                  f"repeat {r['repeat']:,.0f} q/s wall, {r['repeat_cpu']:,.0f} q/s CPU; peak RSS {r['rss_mb']:.0f} MB")
            if "kinds" in r:
                print_kinds(r["kinds"])
        sample = queries[: args.naive_sample]
        c = time.process_time()
        nv, _found = naive(ref, sample)
        nv_cpu = len(sample) / (time.process_time() - c)
    best = max(runs, key=lambda r: r["cold_cpu"])
    print(f"addrcode geocode: {len(queries):,} noisy queries (one core), best of {len(runs)}: "
          f"cold {best['cold_cpu']:,.0f} q/s CPU ({best['cold']:,.0f} wall), "
          f"warm {best['warm_cpu']:,.0f} q/s CPU ({best['warm']:,.0f} wall), "
          f"repeat {best['repeat_cpu']:,.0f} q/s CPU; "
          f"peak RSS {max(r['rss_mb'] for r in runs):.0f} MB")
    print(f"naive rapidfuzz over all streets (no blocking), {len(sample)} queries: {nv:,.0f} q/s wall, "
          f"{nv_cpu:,.0f} q/s CPU")
    print(f"ratio addrcode/naive (CPU): {best['cold_cpu'] / nv_cpu:,.0f}x cold, {best['warm_cpu'] / nv_cpu:,.0f}x warm")
    return 0


if __name__ == "__main__":
    sys.exit(main())

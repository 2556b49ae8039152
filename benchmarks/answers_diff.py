#!/usr/bin/env python3
"""Row-by-row comparison of geocoding answers between two versions of the code (issue 21: faster,
with identical answers).

    python benchmarks/answers_diff.py --base a0ea3b7 [--per-kind 1000] [--seed 1] [--batch-csv F]

The query set is docs/ACCURACY.md's (`scripts/make_geocode_queries.py`, 13 kinds x `--per-kind`,
`--seed`) plus the postal-village queries, on the embedded Vermont reference. The `--base` commit is
checked out in a temporary git worktree and run in a child process with that tree first on
`sys.path`; the working tree is run the same way. Every field of each `Match` (precision, score,
lon, lat, matched label, ref id, reason, and the reading it came from) is compared; differences are
listed with the query's kind (never the query text: the set is made from real addresses). Exit 1
when any answer differs.

`--batch-csv F`: also compare `addrcode encode -i F --column address -o OUT` outputs byte for byte
(both trees, same demo keyring, so codes must match too).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("precision", "score", "lon", "lat", "matched", "ref_id", "reason")


def _queries(per_kind: int, seed: int) -> list[dict]:
    spec = importlib.util.spec_from_file_location("mq", ROOT / "scripts" / "make_geocode_queries.py")
    mq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mq)
    rows = mq.load_rows(mq.DEFAULT_SOURCE)
    return mq.make_queries(rows, per_kind, seed=seed) + mq.village_queries(rows, 270, seed=seed)


def dump(tree: Path, queries_path: Path, out: Path) -> None:
    """In a child: geocode every query with the code of `tree`; one JSON answer per line to `out`."""
    code = f"""
import json, sys
sys.path.insert(0, {str(tree)!r})
from addrcode.batch import jobs
from addrcode.config import load_config
from addrcode.geocoding.geocoder import Geocoder
config = jobs.prepare_config("encode", load_config(), lambda m: None)
queries = json.load(open({str(queries_path)!r}))
with Geocoder(jobs.reference_path(config)) as g, open({str(out)!r}, "w") as fh:
    for q in queries:
        m = g.geocode(q["query"])
        row = {{f: getattr(m, f) for f in {FIELDS!r}}}
        row["reading"] = m.address.to_dict() if m.address is not None else None
        fh.write(json.dumps(row, sort_keys=True) + "\\n")
import addrcode
print(addrcode.__file__)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree)
    if proc.returncode != 0:
        raise SystemExit(f"geocoding with {tree} failed: {proc.stderr[-1500:]}")
    if not proc.stdout.strip().startswith(str(tree)):
        raise SystemExit(f"the child imported addrcode from {proc.stdout.strip()}, not {tree}")


def compare(queries: list[dict], base: Path, head: Path) -> Counter:
    """Differences by (query kind, field), printed; empty when every answer is the same."""
    diffs: Counter = Counter()
    with open(base) as fb, open(head) as fh:
        for q, lb, lh in zip(queries, fb, fh, strict=True):
            a, b = json.loads(lb), json.loads(lh)
            for field in (*FIELDS, "reading"):
                if a[field] != b[field]:
                    diffs[(q["kind"], field)] += 1
    return diffs


def encode_outputs(tree: Path, src: Path, out: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); "
                           "from addrcode.cli import main; sys.exit(main())",
                           "encode", "-i", str(src), "--column", "address", "-o", str(out), "--quiet"],
                          capture_output=True, text=True, cwd=tree)
    if proc.returncode not in (0, 1):  # 1: some rows rejected, as a noisy file has
        raise SystemExit(f"encode with {tree} failed ({proc.returncode}): {proc.stderr[-800:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the commit to compare the working tree with")
    ap.add_argument("--per-kind", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-csv", type=Path, help="also compare encode outputs of this CSV (column address)")
    args = ap.parse_args(argv)
    queries = _queries(args.per_kind, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base_tree), args.base],
                       check=True)
        try:
            qpath = tmp / "queries.json"
            qpath.write_text(json.dumps(queries))
            dump(base_tree, qpath, tmp / "base.jsonl")
            dump(ROOT, qpath, tmp / "head.jsonl")
            diffs = compare(queries, tmp / "base.jsonl", tmp / "head.jsonl")
            print(f"{len(queries):,} queries ({args.per_kind} per kind x 13 kinds + villages, seed {args.seed}): "
                  f"{sum(diffs.values())} differing fields, base {args.base} vs working tree")
            for (kind, field), n in sorted(diffs.items()):
                print(f"  {kind:<14} {field:<10} {n}")
            same_batch = True
            if args.batch_csv:
                encode_outputs(base_tree, args.batch_csv, tmp / "base.csv")
                encode_outputs(ROOT, args.batch_csv, tmp / "head.csv")
                same_batch = (tmp / "base.csv").read_bytes() == (tmp / "head.csv").read_bytes()
                print(f"encode of {args.batch_csv.name}: outputs {'byte-identical' if same_batch else 'DIFFER'}")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    return 0 if not diffs and same_batch else 1


if __name__ == "__main__":
    sys.exit(main())

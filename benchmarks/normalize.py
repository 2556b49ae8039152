"""Normalization throughput: addrcode vs usaddress vs usaddress-scourgify, same rows, same run.

    python benchmarks/normalize.py [--rows 20000] [--seed 7] [--src vt_e911_addresses_oa.csv.gz]

Rows are real Vermont E911 address points written in mixed human styles (the generator of
scripts/make_parse_testset.py). Each parser runs in its own child process so its peak RSS is its own
(ru_maxrss of the child, which includes the interpreter and the parser's imports and tables).
Prints rows/s per parser, peak RSS, and the ratio addrcode / usaddress.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rows(src: Path, n: int, seed: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_parse_testset import build

    return [r["text"] for r in build(src, n, seed)]


def _run(name: str, texts: list[str], queue) -> None:
    errors = 0
    if name == "addrcode":
        from addrcode.normalize import normalize as fn

        fn("warm up 1 Main St")  # tables load once per process; not part of the per-row figure
    elif name == "usaddress":
        import usaddress

        def fn(text):
            return usaddress.tag(text)
    else:
        from scourgify import normalize_address_record

        def fn(text):
            return normalize_address_record(text)

    # CPU time of this process: the machine is shared (2 cores), wall time would measure the neighbours
    t0 = time.process_time()
    w0 = time.perf_counter()
    for text in texts:
        try:
            fn(text)
        except Exception:  # usaddress raises RepeatedLabelError, scourgify raises on unparseable rows
            errors += 1
    dt = time.process_time() - t0
    wall = time.perf_counter() - w0
    rss_mb = peak_rss_mb()
    queue.put({"name": name, "rows": len(texts), "cpu_seconds": dt, "wall_seconds": wall,
               "rows_per_s": len(texts) / dt,
               "errors": errors, "peak_rss_mb": rss_mb})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--src", type=Path,
                    default=ROOT.parent / "shared" / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz")
    ap.add_argument("--only", nargs="*", default=["addrcode", "usaddress", "scourgify"])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)
    if not args.src.exists():
        print(f"source data not found: {args.src} (needs ../shared/data/vt-e911)", file=sys.stderr)
        return 3
    texts = _rows(args.src, args.rows, args.seed)
    ctx = mp.get_context("spawn")  # a fresh interpreter per parser: RSS not shared
    results = []
    for name in args.only:
        q = ctx.Queue()
        proc = ctx.Process(target=_run, args=(name, texts, q))
        proc.start()
        results.append(q.get())
        proc.join()
    by = {r["name"]: r for r in results}
    if args.json:
        print(json.dumps({"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "results": results}))
        return 0
    print(f"{len(texts)} real VT E911 addresses, mixed styles; python {platform.python_version()}")
    print(f"{'parser':<12}{'rows/s (CPU)':>13}{'CPU s':>8}{'wall s':>8}{'errors':>8}{'peak RSS MB':>13}")
    for r in results:
        print(f"{r['name']:<12}{r['rows_per_s']:>13.0f}{r['cpu_seconds']:>8.2f}{r['wall_seconds']:>8.2f}"
              f"{r['errors']:>8}{r['peak_rss_mb']:>13.1f}")
    if "addrcode" in by:
        for other in ("usaddress", "scourgify"):
            if other in by:
                print(f"addrcode / {other}: {by['addrcode']['rows_per_s'] / by[other]['rows_per_s']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

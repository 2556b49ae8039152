#!/usr/bin/env python3
"""Station table build memory and resolve cold start, one stage per fresh child process (issue 17).

    python benchmarks/stations.py build REF ZONES OUT [--station SC] [--code-root DIR]
    python benchmarks/stations.py cold TABLE [--repeat 7] [--code-root DIR]
    python benchmarks/stations.py same A.sqlite B.sqlite

`build`: `build_table` exactly as benchmarks/scale.py calls it (demo keyring, default grid), in a
child; prints wall and CPU seconds, peak RSS (VmHWM) and the VmHWM reached at each progress
message. `cold`: median wall and CPU ms from process start to the first answer of
`python -m addrcode resolve CODE --table T --public-key P -q` (bytecode compiled once, untimed), and
of `python -c pass`. `--code-root` runs another checkout's `addrcode` (e.g. the previous commit
extracted with `git archive HEAD addrcode | tar -x -C DIR`), so before and after run side by side.
`same`: compares every table but `meta` row by row (and `meta` without `built_at`/`serial`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_build(a: dict) -> dict:
    from addrcode.codes.keyring import demo_keyring_path, load_keyring
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.zones import load_zones

    stages = []
    t, c = time.perf_counter(), time.process_time()
    say = lambda msg: stages.append((round(time.perf_counter() - t, 1), round(_hwm_mb()), msg[:60]))
    info = build_table(a["ref"], load_zones(a["zones"]), load_keyring(demo_keyring_path()), Grid(), Path(a["out"]),
                       station=a.get("station"), serial=a.get("serial"), progress=say)
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": info.rows,
            "size": info.size_bytes, "stages": stages, "rss_mb": _hwm_mb()}


def _env(code_root: str | None, pycache: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root or ROOT))
    if pycache:
        env["PYTHONPYCACHEPREFIX"] = pycache
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_build(args) -> None:
    a = {"ref": args.ref, "zones": args.zones, "out": args.out, "station": args.station, "serial": args.serial}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(a)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(args.code_root))
    if res.returncode:
        raise SystemExit(res.stderr[-2000:])
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"build {args.out}: {out['rows']:,} rows, {out['size'] / 1e6:.1f} MB; wall {out['seconds']:.1f} s, "
          f"CPU {out['cpu']:.1f} s, peak RSS {out['rss_mb']:.0f} MB")
    for at, hwm, msg in out["stages"]:
        print(f"   {at:7.1f} s  VmHWM {hwm:6d} MB  {msg}")


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _a_code(table: str) -> str:
    sys.path.insert(0, str(ROOT))
    from addrcode.stations.table import code_of_body

    db = sqlite3.connect(f"file:{table}?mode=ro", uri=True)
    n = db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
    body = db.execute("SELECT body FROM codes LIMIT 1 OFFSET ?", (n // 2,)).fetchone()[0]
    db.close()
    return code_of_body(body)


def run_cold(args) -> None:
    from addrcode.packaged import data_path

    pub = str(data_path("demo-keyring.json.pub").resolve())
    code = _a_code(args.table)
    pycache = tempfile.mkdtemp(prefix="stations-pycache-", dir="/tmp/stations-work")
    env = _env(args.code_root, pycache)
    py = sys.executable
    cmds = {"floor": [py, "-c", "pass"],
            "cli": [py, "-m", "addrcode", "resolve", code, "--table", str(Path(args.table).resolve()), "--public-key",
                    pub, "-q"],
            "which": [py, "-c", "import addrcode.stations.signing as s; print(s.__file__)"]}
    for name, cmd in cmds.items():
        # cwd outside any checkout: `python -m` puts the working directory first on sys.path
        subprocess.run(cmd, capture_output=True, env=env, cwd=pycache)
        walls, cpus = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), _child_cpu()
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=pycache)
            walls.append(time.perf_counter() - t)
            cpus.append(_child_cpu() - c)
            if res.returncode:
                raise SystemExit(f"{name}: exit {res.returncode}: {res.stderr[-500:]}")
        if name == "which":
            print(f"code: {res.stdout.strip()}")
            continue
        print(f"{name:6s} {args.table}: wall {1000 * statistics.median(walls):.0f} ms (min "
              f"{1000 * min(walls):.0f}), CPU {1000 * statistics.median(cpus):.0f} ms")


def run_same(args) -> None:
    dbs = [sqlite3.connect(f"file:{p}?mode=ro", uri=True) for p in (args.a, args.b)]
    names = [[r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table' ORDER BY name")]
             for db in dbs]
    if names[0] != names[1]:
        raise SystemExit(f"different tables: {names}")
    for name in names[0]:
        q = f"SELECT * FROM {name} ORDER BY 1"
        if name == "meta":
            q = "SELECT * FROM meta WHERE key NOT IN ('built_at', 'serial') ORDER BY 1"
        if name == "signature":
            continue
        n = 0
        for ra, rb in zip(*(db.execute(q) for db in dbs), strict=True):
            if ra != rb:
                raise SystemExit(f"{name}: row {n} differs: {ra} != {rb}")
            n += 1
        print(f"{name}: {n:,} rows identical")
    schema = [db.execute("SELECT sql FROM sqlite_schema ORDER BY name").fetchall() for db in dbs]
    print("schema identical" if schema[0] == schema[1] else "SCHEMA DIFFERS")


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child_build(json.loads(sys.argv[2]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build")
    b.add_argument("ref")
    b.add_argument("zones")
    b.add_argument("out")
    b.add_argument("--station")
    b.add_argument("--serial", type=int, default=20261203000000)
    b.add_argument("--code-root")
    c = sub.add_parser("cold")
    c.add_argument("table")
    c.add_argument("--repeat", type=int, default=7)
    c.add_argument("--code-root")
    s = sub.add_parser("same")
    s.add_argument("a")
    s.add_argument("b")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    {"build": run_build, "cold": run_cold, "same": run_same}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

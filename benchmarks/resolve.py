"""Benchmark of `addrcode resolve` at a sorting station.

Table: the default Vermont station table (every issuable cell of the embedded reference, demo
keyring), built once into the cache directory like the CLI does. Measured in one run:

- cold start: process start to answer for one code, median of `--repeat` runs, of
  `python -m addrcode resolve CODE --table T --public-key P` (the CLI), of the library call
  (`python -c` with `Resolver`), and of a bare `python -c pass` (the interpreter's own floor); then
  the CLI again from a regular (non-editable) install in a temporary venv, as users get it;
- streaming throughput on one core: `Resolver.resolve` and `ResolveJob` over `--codes` issued codes
  (mixed with 5 % typos), against a plain sqlite3 lookup loop (`SELECT zone FROM codes WHERE body=?`
  on precomputed integer keys: the floor) and a Python dict lookup; then the CLI end to end
  (codes piped through stdin, answers read back);
- table size: bytes per million codes.

Usage: python benchmarks/resolve.py [--codes N] [--repeat N] [--cache DIR] [--no-install]
Prints figures and ratios; no address or coordinate is printed (codes are opaque).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from addrcode.stations import default as table_default  # noqa: E402
from addrcode.stations import table as T  # noqa: E402
from addrcode.stations.resolver import ResolveJob, Resolver  # noqa: E402

CPU: dict = {}  # command label -> median CPU seconds (user + sys) of the child: robust on a busy machine


def _child_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def median_run(cmd: list[str], repeat: int, env: dict, stdin: str | None = None, label: str = "") -> tuple[float, str]:
    times, cpus, out = [], [], ""
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), _child_cpu()
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t0)
        cpus.append(_child_cpu() - c0)
        out = res.stdout
        if res.returncode not in (0, 1):
            raise SystemExit(f"command failed ({res.returncode}): {' '.join(cmd[:4])} ...\n{res.stderr[-500:]}")
    CPU[label or cmd[1]] = statistics.median(cpus)
    return statistics.median(times), out


def regular_install(where: Path) -> Path:
    """A non-editable install of this checkout (what `pip install .` gives a user: bytecode compiled at
    install time, no editable-import hook) in a fresh venv at `where`; its dependencies are borrowed
    from the running interpreter's site-packages. Returns the venv's python."""
    import sysconfig
    import venv

    venv.create(where, with_pip=False)
    py = where / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # paths listed in a .pth are not scanned for .pth files: the dev install's editable hook stays off
    (site / "_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(ROOT)],
                   check=True, capture_output=True)
    return py


def rate(fn, items) -> float:
    t0 = time.perf_counter()
    for x in items:
        fn(x)
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codes", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--cache", default=None, help="cache directory (default: addrcode's user cache)")
    ap.add_argument("--no-install", action="store_true",
                    help="skip the cold start from a regular (non-editable) install in a temporary venv")
    args = ap.parse_args()

    if args.cache:
        cache = Path(args.cache)
    else:
        from platformdirs import user_cache_dir

        cache = Path(user_cache_dir("addrcode"))
    t0 = time.perf_counter()
    table, pub = table_default.default_table(cache, lambda m: print(m, file=sys.stderr))
    print(f"table: {table.name} (ready in {time.perf_counter() - t0:.1f} s)")

    with Resolver(table, pub) as r:
        info = r.info
        bodies = [b for (b,) in r.db.execute("SELECT body FROM codes")]
    rng = random.Random(3)
    sample = [rng.choice(bodies) for _ in range(args.codes)]
    codes = [T.code_of_body(b) for b in sample]
    for k in range(0, len(codes), 20):  # 5 % typos: a wrong check character
        c = codes[k]
        codes[k] = c[:-1] + ("0" if c[-1] != "0" else "1")

    # -- table size
    per_million = info.size_bytes / info.rows * 1e6
    print(f"table size: {info.size_bytes:,} bytes for {info.rows:,} codes = "
          f"{per_million / 1e6:.1f} MB per million codes"
          f" ({info.size_bytes / info.rows:.1f} B/code)")

    # -- cold start
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    one = codes[1]
    py = sys.executable
    floor, _ = median_run([py, "-c", "pass"], args.repeat, env, label="floor")
    lib, out_lib = median_run([py, "-c", "import sys; from addrcode.stations.resolver import Resolver; "
                               f"print(Resolver({str(table)!r}, {str(pub)!r}).resolve(sys.argv[1])['zone'])", one],
                              args.repeat, env, label="lib")
    cli, out_cli = median_run([py, "-m", "addrcode", "resolve", one, "--table", str(table), "--public-key", str(pub),
                               "-q"], args.repeat, env, label="cli")
    cli_default, _ = median_run([py, "-m", "addrcode", "resolve", one, "-q"], args.repeat,
                                dict(env, ADDRCODE_CACHE_DIR=str(cache)), label="cli_default")
    assert out_lib.strip() and out_lib.strip() in out_cli, "library and CLI disagree"
    print(f"cold start (median of {args.repeat}): python -c pass {floor * 1e3:.0f} ms | library call "
          f"{lib * 1e3:.0f} ms | CLI with --table {cli * 1e3:.0f} ms | CLI default table {cli_default * 1e3:.0f} ms "
          f"(goal <= 150 ms)")
    print(f"  same, CPU time (user+sys, robust when other jobs share the cores): floor {CPU['floor'] * 1e3:.0f} ms | "
          f"library {CPU['lib'] * 1e3:.0f} ms | CLI --table {CPU['cli'] * 1e3:.0f} ms | CLI default "
          f"{CPU['cli_default'] * 1e3:.0f} ms")

    if not args.no_install:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            ipy = regular_install(Path(tmp) / "venv")
            ienv = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            icli, out_icli = median_run([str(ipy), "-m", "addrcode", "resolve", one, "--table", str(table),
                                         "--public-key", str(pub), "-q"], args.repeat, ienv, label="icli")
            idefault, _ = median_run([str(ipy), "-m", "addrcode", "resolve", one, "-q"], args.repeat,
                                     dict(ienv, ADDRCODE_CACHE_DIR=str(cache)), label="idefault")
            assert out_icli == out_cli, "the installed CLI disagrees with the checkout"
        print(f"  from a regular install (`pip install .` into a fresh venv): CLI with --table {icli * 1e3:.0f} ms "
              f"(CPU {CPU['icli'] * 1e3:.0f} ms) | CLI default table {idefault * 1e3:.0f} ms "
              f"(CPU {CPU['idefault'] * 1e3:.0f} ms)")

    # -- streaming throughput, one core
    with Resolver(table, pub) as r:
        r_lib = rate(r.resolve, codes)
    job = ResolveJob(table, pub)
    r_job = rate(job, codes)
    job.close()
    db = sqlite3.connect(":memory:")
    db.deserialize(table.read_bytes())
    cur = db.cursor()
    r_sql = rate(lambda b: cur.execute("SELECT zone FROM codes WHERE body = ?", (b,)).fetchone(), sample)
    as_dict = dict(db.execute("SELECT body, zone FROM codes"))
    r_dict = rate(as_dict.get, sample)
    db.close()
    n_cli = min(len(codes), 100_000)
    t_cli, out = median_run([py, "-m", "addrcode", "resolve", "--table", str(table), "--public-key", str(pub), "-q",
                             "--format", "jsonl"], 1, env, stdin="\n".join(codes[:n_cli]) + "\n")
    assert out.count("\n") == n_cli
    r_cli = n_cli / t_cli
    print(f"throughput, one core ({len(codes):,} codes, 5 % typos):")
    print(f"  Resolver.resolve      {r_lib:>10,.0f} codes/s   (goal >= 100,000)")
    print(f"  ResolveJob            {r_job:>10,.0f} codes/s")
    print(f"  CLI, stdin -> jsonl   {r_cli:>10,.0f} codes/s   ({n_cli:,} codes, start-up included)")
    print(f"  floor: sqlite3 loop   {r_sql:>10,.0f} lookups/s (integer keys, no parsing, no check)")
    print(f"  floor: dict.get       {r_dict:>10,.0f} lookups/s")
    print(f"ratios: Resolver / sqlite3 loop = {r_lib / r_sql:.2f}; CLI / Resolver = {r_cli / r_lib:.2f}; "
          f"cold start CLI / python floor = {cli / floor:.1f}x")


if __name__ == "__main__":
    main()

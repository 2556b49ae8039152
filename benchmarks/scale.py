#!/usr/bin/env python3
"""How cost grows with the reference: a synthetic nation of K moved copies of Vermont (issue 17).

    python benchmarks/scale.py [--ks 1,5,20] [--queries 3000] [--work DIR] [--keep]
                               [--mem-limit-gb 8] [--timeout 1500] [--repeat 7] [--json OUT.json]

The nation: K copies of the Vermont E911 points (../shared/data/vt-e911, 248,105 points), copy 0
in place as VT, copy c >= 1 moved by a whole-degree lon/lat offset (a 3-degree grid inside the
continental US, inside EPSG:5070's area of use: copies never overlap), with its own USPS state code
(NH, NY, PA, ...: fixed order), its own ZIPs (each 3-digit ZIP prefix of the source, 050-059 and
128, mapped to a distinct prefix per copy, the last 2 digits kept, order kept) and the SAME town and
street names (real countries repeat Springfield and Franklin). One OpenAddresses-layout CSV.gz per
state in the work folder (reused when present); the zones are K moved copies of data/vt-zones.geojson
(shapely `affinity.translate` by the same offset, zone ids and sort centers prefixed by the state
code), one GeoJSON per K. Nothing generated is written inside the repository unless `--work` says so.

Measured for each K, every stage in a fresh child process (`python benchmarks/scale.py --child ...`,
exec'd: its VmHWM is its own peak RSS, read from /proc/self/status at exit) under RLIMIT_AS
(`--mem-limit-gb`) and a wall-clock timeout, so a stage that blows up is recorded, not fatal:

- reference build (`build_reference` over the K files): wall and CPU time, points/s, file size, peak RSS;
- geocode (`Geocoder.geocode`, one core): set A (seed 11) with cold caches, then set B (seed 12) warm,
  queries per CPU-second (`time.process_time`), open + first query, peak RSS, and accuracy: share of
  answers within 50 m of the true point, per query kind and overall (A + B), false confidence on
  non-existent addresses. Queries come from scripts/make_geocode_queries.py `make_queries`, given the
  points of one copy at a time (so the text carries that copy's ZIPs; its state word, written `VT` /
  `Vt` / `vt` / `Vermont` by make_queries, is replaced by the copy's code or name). Each query's copy
  is drawn uniformly from the K copies; the same seed in every copy makes query i the same Vermont
  point and noise in whichever copy it lands, so every K sees the same queries (`--queries` per set,
  rounded to a multiple of the 13 kinds), moved: accuracy differences between K are paired, not
  sampling noise;
- geocode paired with the base K (the first of `--ks`; its reference is kept for this): in one child,
  the base reference and this K's answer chunks of 50 queries in turn, so the machine's noise falls
  on both alike. `same`: the base's own queries against both (a shipper's orders do not change when
  the reference grows: the speed goal is checked on this); `spread`: each its own queries, whose
  copies are spread over K, so a street or town comes back 1/K as often and the caches hit less;
- station table build (`build_table`, demo keyring, the K zones): time, codes, size, peak RSS;
- resolve (the table): cold start, process start to first answer (median of `--repeat`) of
  `python -m addrcode resolve CODE --table T --public-key P` and of a library call (bytecode compiled
  once into the work folder, as an install would have it); `Resolver.resolve`
  over `--codes` codes (5 % typos) in a child, codes per CPU-second and peak RSS.

Printed: one table of figures per K with the ratio of each K to K = 1 (accuracy as a difference in
points), the per-kind accuracy, and the issue 17 goals checked on the largest K.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak import peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
OA_COLUMNS = ["LON", "LAT", "NUMBER", "STREET", "UNIT", "CITY", "DISTRICT", "REGION", "POSTCODE", "ID", "HASH"]
COPY_VERSION = "v1"  # part of the copy file names: bump when the way copies are made changes

# Copy c gets STATES[c]. Codes and names that the US reading treats as ambiguous (ME, OR, IN, ...;
# Washington, Georgia, Virginia ...) are left out so the state word itself is never in doubt.
STATES = (("VT", "Vermont"), ("NH", "New Hampshire"), ("NY", "New York"), ("PA", "Pennsylvania"), ("OH", "Ohio"),
          ("MI", "Michigan"), ("WI", "Wisconsin"), ("MN", "Minnesota"), ("IA", "Iowa"), ("MO", "Missouri"),
          ("KS", "Kansas"), ("NJ", "New Jersey"), ("MD", "Maryland"), ("NC", "North Carolina"),
          ("SC", "South Carolina"), ("TN", "Tennessee"), ("KY", "Kentucky"), ("AL", "Alabama"), ("AR", "Arkansas"),
          ("TX", "Texas"), ("NM", "New Mexico"), ("AZ", "Arizona"), ("UT", "Utah"), ("ID", "Idaho"),
          ("WY", "Wyoming"), ("ND", "North Dakota"), ("SD", "South Dakota"), ("MA", "Massachusetts"),
          ("RI", "Rhode Island"), ("WV", "West Virginia"), ("IL", "Illinois"), ("CA", "California"))
# Vermont spans 1.95 x 2.29 degrees: a 3-degree grid keeps copies apart. Copy 0 stays in place; then the
# rows 3 and 6 degrees south (lat 39.7-42.0 and 36.7-39.0, lon -118.4 .. -74.5: from PA/MD to NV/CA; the
# easternmost and westernmost copies lie partly over water, which does not matter here), then the western
# part of Vermont's own row (lat 42.7-45.0, lon -118.4 .. -95.5: MN/SD to ID/OR), no copy over Canada.
OFFSETS = ((0, 0), *((-3 * i, -3) for i in range(1, 16)), *((-3 * i, -6) for i in range(1, 16)),
           *((-3 * i, 0) for i in range(8, 16)))


def _mq():
    spec = importlib.util.spec_from_file_location("mq", ROOT / "scripts" / "make_geocode_queries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The synthetic nation
# --------------------------------------------------------------------------------------------

def zip_prefix_map(prefixes: list[str], copy: int) -> dict[str, str]:
    """Source 3-digit ZIP prefix -> this copy's prefix: identity for copy 0, else a distinct block from 200 up,
    in the same order (so sorted ZIPs stay sorted and make_queries draws the same ZIP in every copy)."""
    if copy == 0:
        return {p: p for p in prefixes}
    base = 200 + len(prefixes) * (copy - 1)
    if base + len(prefixes) > 1000:
        raise SystemExit(f"copy {copy}: out of 3-digit ZIP prefixes")
    return {p: f"{base + j:03d}" for j, p in enumerate(sorted(prefixes))}


def _copy_row(row: list[str], code: str, dlon: float, dlat: float, zmap: dict) -> list[str]:
    lon, lat, number, street, unit, city, district, _region, postcode, ident = row[:10]
    out = [f"{float(lon) + dlon:.7f}", f"{float(lat) + dlat:.7f}", number, street, unit, city, district, code,
           zmap[postcode[:3]] + postcode[3:] if postcode else "", f"{code}{ident}"]
    return out + [hashlib.sha1(",".join(out).encode()).hexdigest()[:16]]


def ensure_copies(source: Path, work: Path, k: int) -> list[Path]:
    """The OA CSV.gz files of copies 0..k-1 in `work` (made when missing; written to a temp name, then renamed)."""
    files = [work / f"nation-{COPY_VERSION}-{c:02d}-{STATES[c][0]}.csv.gz" for c in range(k)]
    missing = [c for c, f in enumerate(files) if not f.is_file()]
    if not missing:
        return files
    with gzip.open(source, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.upper() for h in next(reader)]
        if header[:10] != OA_COLUMNS[:10]:
            raise SystemExit(f"{source}: unexpected columns {header}")
        rows = list(reader)
    prefixes = sorted({r[8][:3] for r in rows if r[8]})
    for c in missing:
        code, _name = STATES[c]
        dlon, dlat = OFFSETS[c]
        zmap = zip_prefix_map(prefixes, c)
        tmp = files[c].with_name(files[c].name + ".partial")
        with gzip.open(tmp, "wt", encoding="utf-8", newline="", compresslevel=1) as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(OA_COLUMNS)
            w.writerows(_copy_row(r, code, dlon, dlat, zmap) for r in rows)
        tmp.rename(files[c])
        _say(f"copy {c} {code}: offset {dlon:+d}/{dlat:+d} deg, {len(rows):,} points -> {files[c].name}")
    return files


def write_zones(zones_src: Path, out: Path, k: int) -> Path:
    """K moved copies of the Vermont zones as one GeoJSON (copy 0 unchanged)."""
    from shapely import affinity
    from shapely.geometry import mapping, shape

    src = json.loads(zones_src.read_text(encoding="utf-8"))
    feats = []
    for c in range(k):
        code, _name = STATES[c]
        dlon, dlat = OFFSETS[c]
        for f in src["features"]:
            props = dict(f["properties"])
            if c:
                props["zone"] = f"{code}-{props['zone'].removeprefix('VT-')}"
                props["sort_center"] = f"{code}-{props['sort_center']}"
                geom = mapping(affinity.translate(shape(f["geometry"]), xoff=dlon, yoff=dlat))
            else:
                geom = f["geometry"]
            feats.append({"type": "Feature", "properties": props, "geometry": geom})
    out.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return out


_STATE_WORD = re.compile(r"(?<=[ ,])(VT|Vt|vt|Vermont|vermont)((?: \d{5})?)$")


def restate(text: str, code: str, name: str) -> str:
    """The query with make_queries' Vermont state word (just before the ZIP, or last) replaced by the copy's."""
    forms = {"VT": code, "Vt": code.title(), "vt": code.lower(), "Vermont": name, "vermont": name.lower()}
    new, n = _STATE_WORD.subn(lambda m: forms[m.group(1)] + m.group(2), text)
    if n != 1:
        raise SystemExit(f"no state word where make_queries puts it: {text!r}")
    return new


class QueryMaker:
    """make_queries over one copy's points at a time, memoised per (copy, seed): copies are shared across K."""

    def __init__(self, n_queries: int):
        self.mq = _mq()
        self.per_kind = max(1, round(n_queries / len(self.mq.KINDS)))
        self._made: dict[tuple[int, int], list] = {}

    def of_copy(self, copy: int, path: Path, seeds: tuple[int, ...]) -> None:
        todo = [s for s in seeds if (copy, s) not in self._made]
        if not todo:
            return
        rows = self.mq.load_rows(path)
        code, name = STATES[copy]
        for s in todo:
            self._made[copy, s] = [(q["kind"], restate(q["query"], code, name),
                                    float(q["lon"]) if q["lon"] != "" else None,
                                    float(q["lat"]) if q["lat"] != "" else None)
                                   for q in self.mq.make_queries(rows, self.per_kind, seed=s)]

    def query_set(self, files: list[Path], seed: int) -> list:
        """Query i of the set from copy c_i (uniform over the K copies), then shuffled (same order every K)."""
        k = len(files)
        rng = random.Random(f"copy-of-query-{k}-{seed}")
        n = None
        for c in range(k):
            self.of_copy(c, files[c], (seed,))
            n = len(self._made[c, seed]) if n is None else min(n, len(self._made[c, seed]))
        chosen = [self._made[rng.randrange(k), seed][i] for i in range(n)]
        random.Random(seed).shuffle(chosen)
        return chosen


# --------------------------------------------------------------------------------------------
# Children: each stage in a fresh process (its own peak RSS, a memory limit, a timeout)
# --------------------------------------------------------------------------------------------

def child_build(a: dict) -> dict:
    from addrcode.geocoding.build import build_reference

    t, c = time.perf_counter(), time.process_time()
    rep = build_reference([Path(s) for s in a["sources"]], Path(a["out"]))
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "points": rep.rows_kept,
            "rejected": rep.rows_rejected, "cities": rep.cities, "streets": rep.streets,
            "postcodes": rep.postcodes, "size": Path(a["out"]).stat().st_size}


def child_geocode(a: dict) -> dict:
    from addrcode.geocoding.geocoder import Geocoder

    sets = json.loads(Path(a["queries"]).read_text(encoding="utf-8"))
    t = time.perf_counter()
    g = Geocoder(a["ref"])
    g.geocode(sets["A"][0][1])
    out = {"open_ms": 1000 * (time.perf_counter() - t)}
    answers = []
    for name in ("A", "B"):
        texts = [q[1] for q in sets[name]]
        ms = []
        t, c = time.perf_counter(), time.process_time()
        for text in texts:
            ms.append(g.geocode(text))
        out[name + "_wall"] = len(texts) / (time.perf_counter() - t)
        out[name + "_cpu"] = len(texts) / (time.process_time() - c)
        answers += [(q, m) for q, m in zip(sets[name], ms)]
    out["rss_mb"] = peak_rss_mb()
    out["accuracy"] = _accuracy(answers)
    return out


def _accuracy(answers) -> dict:
    """Per kind: [n, within 50 m, scored >= 0.5 (non-existent: false confidence), answered 'ambiguous']."""
    from addrcode.geocoding.scoring import distance_m

    acc: dict[str, list] = {}
    for (kind, _text, lon, lat), m in answers:
        s = acc.setdefault(kind, [0, 0, 0, 0])
        s[0] += 1
        s[3] += m.reason.startswith("ambiguous")
        if lon is None:
            s[2] += m.score >= 0.5
        elif m.lon is not None and distance_m(lon, lat, m.lon, m.lat) <= 50:
            s[1] += 1
    return acc


def child_table(a: dict) -> dict:
    from addrcode.codes.keyring import demo_keyring_path, load_keyring
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.zones import load_zones

    stages = []
    t, c = time.perf_counter(), time.process_time()
    say = lambda msg: stages.append((round(time.perf_counter() - t, 1), msg))
    try:
        info = build_table(a["ref"], load_zones(a["zones"]), load_keyring(demo_keyring_path()), Grid(), Path(a["out"]),
                           progress=say)
    except Exception as exc:  # MemoryError under the RLIMIT_AS guard, or a DataError from a failed write
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}", "stages": stages,
                "seconds": time.perf_counter() - t, "rss_mb": peak_rss_mb()}
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": info.rows,
            "zones": info.zones, "size": info.size_bytes, "stages": stages}


def child_resolve(a: dict) -> dict:
    from addrcode.stations.resolver import Resolver

    codes = Path(a["codes"]).read_text().split()
    t = time.perf_counter()
    r = Resolver(a["table"], a["pub"])
    first = r.resolve(codes[0])["status"]
    out = {"open_ms": 1000 * (time.perf_counter() - t), "first": first}
    resolve = r.resolve
    t, c = time.perf_counter(), time.process_time()
    statuses = [resolve(code)["status"] for code in codes]
    out.update(wall=len(codes) / (time.perf_counter() - t), cpu=len(codes) / (time.process_time() - c),
               ok=statuses.count("ok"), bad_check=statuses.count("bad-check"), n=len(codes))
    return out


def child_paired(a: dict) -> dict:
    """Per-query CPU of the base reference and of this K's, in one process, chunks of 50 queries
    interleaved (order alternating), so the machine's noise falls on both alike. Two workloads:
    `same` (the base's queries against both: a shipper's orders do not change when the reference
    grows) and `spread` (each reference its own queries, spread over its K copies: 1/K the repeats)."""
    from addrcode.geocoding.geocoder import Geocoder

    base_sets = json.loads(Path(a["base_queries"]).read_text(encoding="utf-8"))
    k_sets = json.loads(Path(a["queries"]).read_text(encoding="utf-8"))
    out = {}
    for workload, theirs in (("same", base_sets), ("spread", k_sets)):
        geos = {"base": Geocoder(a["base_ref"]), "k": Geocoder(a["ref"])}
        sets = {"base": base_sets, "k": theirs}
        for who in geos:
            geos[who].geocode(sets[who]["A"][0][1])
        for name in ("A", "B"):
            cpu = {"base": 0.0, "k": 0.0}
            n = len(base_sets[name])
            for i in range(0, n, 50):
                for who in (("base", "k") if i // 50 % 2 == 0 else ("k", "base")):
                    texts = [q[1] for q in sets[who][name][i:i + 50]]
                    c = time.process_time()
                    for text in texts:
                        geos[who].geocode(text)
                    cpu[who] += time.process_time() - c
            out[f"{workload}_{name}"] = {"base": n / cpu["base"], "k": n / cpu["k"]}
        for g in geos.values():
            g.close()
    return out


CHILDREN = {"build": child_build, "geocode": child_geocode, "table": child_table, "resolve": child_resolve,
            "paired": child_paired}


def child_main(name: str, arg: str) -> int:
    a = json.loads(arg)
    limit = int(a["mem_limit_gb"] * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = CHILDREN[name](a)
    except MemoryError as exc:
        out = {"error": f"MemoryError (RLIMIT_AS {a['mem_limit_gb']:g} GB): {str(exc)[:200]}"}
    out.setdefault("rss_mb", peak_rss_mb())
    print(json.dumps(out))
    return 0


def run_child(name: str, args: dict, timeout: float, mem_limit_gb: float) -> dict:
    """Run one stage in a fresh interpreter; a crash, a kill or a timeout comes back as {"error": ...}."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
           json.dumps(dict(args, mem_limit_gb=mem_limit_gb))]
    t = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s (killed)", "seconds": time.perf_counter() - t}
    lines = res.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " | ".join(res.stderr.strip().splitlines()[-3:])
        return {"error": f"exit {res.returncode}: {tail[-300:]}", "seconds": time.perf_counter() - t}


# --------------------------------------------------------------------------------------------
# Resolve: codes to ask, cold start
# --------------------------------------------------------------------------------------------

def sample_codes(table: Path, n: int, out: Path) -> Path:
    """`n` codes of the table drawn at random (fixed seed), every 20th with a wrong check character."""
    import sqlite3

    from addrcode.stations.table import code_of_body

    db = sqlite3.connect(f"file:{table}?mode=ro", uri=True)
    bodies = array("q")
    for (b,) in db.execute("SELECT body FROM codes"):
        bodies.append(b)
    db.close()
    rng = random.Random(3)
    codes = [code_of_body(bodies[rng.randrange(len(bodies))]) for _ in range(n)]
    for i in range(0, len(codes), 20):
        codes[i] = codes[i][:-1] + ("0" if codes[i][-1] != "0" else "1")
    out.write_text("\n".join(codes) + "\n")
    return out


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU only: children's maxrss would not be their own
    return ru.ru_utime + ru.ru_stime


def cold_start(table: Path, pub: Path, code: str, repeat: int, pycache: Path) -> dict:
    """Median wall / CPU ms from process start to one answer: bare interpreter, library call, CLI.

    Bytecode as after an install: compiled once (an untimed first run of each command) into `pycache`
    (PYTHONPYCACHEPREFIX, so nothing is written into the checkout), then read from there.
    """
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmds = {"floor": [py, "-c", "pass"],
            "lib": [py, "-c", "import sys; from addrcode.stations.resolver import Resolver; "
                    "print(Resolver(sys.argv[1], sys.argv[2]).resolve(sys.argv[3])['status'])",
                    str(table), str(pub), code],
            "cli": [py, "-m", "addrcode", "resolve", code, "--table", str(table), "--public-key", str(pub), "-q"]}
    out = {}
    for name, cmd in cmds.items():
        walls, cpus = [], []
        subprocess.run(cmd, capture_output=True, env=env)  # compile, untimed
        for _ in range(repeat):
            t, c = time.perf_counter(), _child_cpu()
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            walls.append(time.perf_counter() - t)
            cpus.append(_child_cpu() - c)
            if res.returncode != 0 or (name == "lib" and res.stdout.strip() != "ok"):  # CLI: exit 0 = ok
                return {"error": f"{name}: exit {res.returncode}: {res.stderr.strip()[-200:]}"}
        out[name + "_ms"] = 1000 * statistics.median(walls)
        out[name + "_cpu_ms"] = 1000 * statistics.median(cpus)
    return out


# --------------------------------------------------------------------------------------------
# One K
# --------------------------------------------------------------------------------------------

def measure_k(k: int, files: list[Path], work: Path, maker: QueryMaker, args) -> dict:
    """Every stage for the nation of the first k copies; big outputs removed unless --keep."""
    from addrcode.packaged import VT_ZONES, data_path

    run = lambda name, a: run_child(name, a, args.timeout, args.mem_limit_gb)
    res: dict = {"k": k}
    ref = work / f"ref-k{k}.sqlite"
    _say(f"K={k}: reference build over {len(files)} file(s)")
    res["build"] = run("build", {"sources": [str(f) for f in files], "out": str(ref)})
    if "error" in res["build"]:
        return res
    _say(f"K={k}: built in {res['build']['seconds']:.0f} s; making queries")
    qfile = work / f"queries-k{k}.json"
    sets = {"A": maker.query_set(files, 11), "B": maker.query_set(files, 12)}
    res["queries"] = len(sets["A"])
    qfile.write_text(json.dumps(sets), encoding="utf-8")
    _say(f"K={k}: geocoding")
    res["geocode"] = run("geocode", {"ref": str(ref), "queries": str(qfile)})
    if args.base is not None and k != args.base:
        _say(f"K={k}: geocoding paired with K={args.base}")
        res["paired"] = run("paired", {"base_ref": str(work / f"ref-k{args.base}.sqlite"), "ref": str(ref),
                                       "base_queries": str(work / f"queries-k{args.base}.json"),
                                       "queries": str(qfile)})
    zones = write_zones(data_path(VT_ZONES), work / f"zones-k{k}.geojson", k)
    table = work / f"table-k{k}.sqlite"
    _say(f"K={k}: station table build")
    res["table"] = run("table", {"ref": str(ref), "zones": str(zones), "out": str(table)})
    if "error" not in res["table"]:
        pub = data_path("demo-keyring.json.pub")
        codes = sample_codes(table, args.codes, work / f"codes-k{k}.txt")
        _say(f"K={k}: resolve")
        res["cold"] = cold_start(table, pub, codes.read_text().split()[1], args.repeat,
                                 work / "pycache")
        res["resolve"] = run("resolve", {"table": str(table), "pub": str(pub), "codes": str(codes)})
    if not args.keep:
        for p in (ref, table) if k != args.base else (table,):  # the base reference pairs with every K
            p.unlink(missing_ok=True)
    return res


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _get(res: dict, stage: str, key, scale: float = 1.0):
    d = res.get(stage) or {}
    if "error" in d:
        return None
    v = key(d) if callable(key) else d.get(key)
    return None if v is None else v * scale


def _pair(res: dict, key: str) -> str | None:
    """`base / this K (ratio)` of one paired measurement, as text."""
    d = (res.get("paired") or {}).get(key)
    return None if not d else f"{d['base']:,.0f} / {d['k']:,.0f} ({d['k'] / d['base']:.2f}x)"


def _overall(acc: dict, col: int, kinds) -> float | None:
    n = sum(acc[k][0] for k in kinds if k in acc)
    return 100 * sum(acc[k][col] for k in kinds if k in acc) / n if n else None


def _acc(res: dict, col: int, real: bool):
    d = res.get("geocode") or {}
    if "accuracy" not in d:
        return None
    acc = d["accuracy"]
    kinds = [k for k in acc if (k != "nonexistent") == real]
    return _overall(acc, col, kinds)


# (label, value of one K's results, format, how K compares to K = 1: "x" ratio, "pt" difference, "" none)
METRICS = (
    ("points", lambda r: _get(r, "build", "points"), "{:,.0f}", "x"),
    ("towns in the reference", lambda r: _get(r, "build", "cities"), "{:,.0f}", "x"),
    ("streets in the reference", lambda r: _get(r, "build", "streets"), "{:,.0f}", "x"),
    ("reference build, wall s", lambda r: _get(r, "build", "seconds"), "{:,.1f}", "x"),
    ("reference build, points/s (wall)", lambda r: _get(r, "build", lambda d: d["points"] / d["seconds"]),
     "{:,.0f}", "x"),
    ("reference build, CPU µs per point", lambda r: _get(r, "build", lambda d: 1e6 * d["cpu"] / d["points"]),
     "{:,.1f}", "x"),
    ("reference build, peak RSS MB", lambda r: _get(r, "build", "rss_mb"), "{:,.0f}", "x"),
    ("reference size MB", lambda r: _get(r, "build", "size", 1e-6), "{:,.1f}", "x"),
    ("reference bytes per point", lambda r: _get(r, "build", lambda d: d["size"] / d["points"]), "{:,.0f}", "x"),
    ("geocode open + first query, ms", lambda r: _get(r, "geocode", "open_ms"), "{:,.0f}", "x"),
    ("geocode cold (set A), queries/s CPU", lambda r: _get(r, "geocode", "A_cpu"), "{:,.0f}", "x"),
    ("geocode warm (set B), queries/s CPU", lambda r: _get(r, "geocode", "B_cpu"), "{:,.0f}", "x"),
    ("paired, same queries: cold (A), K=1 / this K, q/s CPU", lambda r: _pair(r, "same_A"), "{}", ""),
    ("paired, same queries: warm (B), K=1 / this K, q/s CPU", lambda r: _pair(r, "same_B"), "{}", ""),
    ("paired, own spread queries: cold (A), K=1 / this K", lambda r: _pair(r, "spread_A"), "{}", ""),
    ("paired, own spread queries: warm (B), K=1 / this K", lambda r: _pair(r, "spread_B"), "{}", ""),
    ("geocode peak RSS MB", lambda r: _get(r, "geocode", "rss_mb"), "{:,.0f}", "x"),
    ("geocode within 50 m, % (A + B, real addresses)", lambda r: _acc(r, 1, True), "{:.2f}", "pt"),
    ("non-existent scored >= 0.5, %", lambda r: _acc(r, 2, False), "{:.2f}", "pt"),
    ("answers marked ambiguous, % (real addresses)", lambda r: _acc(r, 3, True), "{:.2f}", "pt"),
    ("station table build, wall s", lambda r: _get(r, "table", "seconds"), "{:,.1f}", "x"),
    ("station table codes", lambda r: _get(r, "table", "rows"), "{:,.0f}", "x"),
    ("station table size MB", lambda r: _get(r, "table", "size", 1e-6), "{:,.1f}", "x"),
    ("station table build, peak RSS MB", lambda r: _get(r, "table", "rss_mb"), "{:,.0f}", "x"),
    ("resolve cold start, CLI, ms wall (median)", lambda r: _get(r, "cold", "cli_ms"), "{:,.0f}", "x"),
    ("resolve cold start, CLI, ms CPU", lambda r: _get(r, "cold", "cli_cpu_ms"), "{:,.0f}", "x"),
    ("resolve cold start, library call, ms wall", lambda r: _get(r, "cold", "lib_ms"), "{:,.0f}", "x"),
    ("(python -c pass, ms wall)", lambda r: _get(r, "cold", "floor_ms"), "{:,.0f}", "x"),
    ("Resolver.resolve, codes/s CPU", lambda r: _get(r, "resolve", "cpu"), "{:,.0f}", "x"),
    ("resolve peak RSS MB", lambda r: _get(r, "resolve", "rss_mb"), "{:,.0f}", "x"),
)


def _cell(v, fmt: str) -> str:
    if v is None:
        return "–" if fmt == "{}" else "failed"  # text figures (the paired ones) have none for the base
    return fmt.format(v)


def _compare(v, base, how: str) -> str:
    if v is None or base is None or not how:
        return ""
    if how == "pt":
        return f"{v - base:+.2f} pt"
    if how == "x" and base:
        return f"{v / base:.2f}x"
    return ""


def main_table(results: list[dict]) -> list[str]:
    ks = [r["k"] for r in results]
    head = ["figure"] + [f"K={k}" for k in ks] + [f"K={k} vs K={ks[0]}" for k in ks[1:]]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for label, get, fmt, how in METRICS:
        vals = [get(r) for r in results]
        if all(v is None for v in vals):
            continue
        comp = [_compare(v, vals[0], how) for v in vals[1:]]
        lines.append("| " + " | ".join([label] + [_cell(v, fmt) for v in vals] + comp) + " |")
    return lines


def kinds_table(results: list[dict]) -> list[str]:
    accs = [(r.get("geocode") or {}).get("accuracy") for r in results]
    if not accs[0]:
        return []
    kinds = list(accs[0])
    ks = [r["k"] for r in results]
    lines = ["| kind (n per K) | " + " | ".join(f"K={k}" for k in ks) + f" | K={ks[-1]} - K={ks[0]} |",
             "|---" + "|---:" * (len(ks) + 1) + "|"]
    for kind in kinds:
        col = 2 if kind == "nonexistent" else 1
        vals = [100 * a[kind][col] / a[kind][0] if a and kind in a else None for a in accs]
        label = f"{kind} ({accs[0][kind][0]})" + (" - scored >= 0.5" if col == 2 else " - within 50 m")
        lines.append(f"| {label} | " + " | ".join("failed" if v is None else f"{v:.1f} %" for v in vals)
                     + f" | {_compare(vals[-1], vals[0], 'pt')} |")
    return lines


def goals(results: list[dict]) -> list[str]:
    """Issue 17's "Done when", checked on the largest K against the first (K = 1)."""
    base, big = results[0], results[-1]
    k = big["k"]
    out = []

    def check(what, ok, detail):
        out.append(f"- {what}: {'n/a' if ok is None else 'met' if ok else 'NOT met'} ({detail})")

    a0, a1 = _acc(base, 1, True), _acc(big, 1, True)
    check("accuracy within 0.5 points of K=1", None if None in (a0, a1) else a1 >= a0 - 0.5,
          "n/a" if None in (a0, a1) else f"{a1:.2f} % vs {a0:.2f} %, {a1 - a0:+.2f} pt")
    for key, name in (("same_A", "cold"), ("same_B", "warm")):
        d = (big.get("paired") or {}).get(key)
        check(f"per-query speed ({name}, same queries, paired) >= 0.8x", None if not d else d["k"] >= 0.8 * d["base"],
              "n/a" if not d else f"{d['k']:,.0f} vs {d['base']:,.0f} q/s CPU, {d['k'] / d['base']:.2f}x")
    r0, r1 = _get(base, "geocode", "rss_mb"), _get(big, "geocode", "rss_mb")
    check("geocode peak RSS <= 1.5x", None if None in (r0, r1) else r1 <= 1.5 * r0,
          "n/a" if None in (r0, r1) else f"{r1:,.0f} vs {r0:,.0f} MB, {r1 / r0:.2f}x")
    p0 = _get(base, "build", lambda d: d["cpu"] / d["points"])
    p1 = _get(big, "build", lambda d: d["cpu"] / d["points"])
    m1 = _get(big, "build", "rss_mb")
    check("build linear in points (CPU per point <= 1.25x K=1) with < 2 GB",
          None if None in (p0, p1, m1) else p1 <= 1.25 * p0 and m1 < 2048,
          "n/a" if None in (p0, p1, m1) else f"{p1 / p0:.2f}x per point, peak {m1:,.0f} MB")
    c1 = _get(big, "cold", "cli_ms")
    check("resolve cold start <= 0.3 s", None if c1 is None else c1 <= 300,
          "no table" if c1 is None else f"CLI {c1:,.0f} ms wall")
    return [f"Goals on K={k} against K={base['k']}:", *out]


def failures(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        for stage in ("build", "geocode", "paired", "table", "cold", "resolve"):
            d = r.get(stage)
            if d and "error" in d:
                where = ""
                if d.get("stages"):
                    at, msg = d["stages"][-1]
                    where = f"; last stage reached at {at} s: {msg}"
                peak = f"; peak RSS {d['rss_mb']:,.0f} MB" if d.get("rss_mb") else ""
                out.append(f"- K={r['k']} {stage}: {d['error']}{where}{peak}")
    return ["Failures:", *out] if out else []


def code_state() -> str:
    """The commit measured, and whether addrcode/ differs from it (someone may be editing the checkout)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "addrcode"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{ROOT} is not a git checkout"
    return f"commit {head}" + (" + uncommitted changes under addrcode/" if dirty else ", addrcode/ clean")


def report(results: list[dict], args) -> str:
    n_queries = results[0].get("queries", 0)
    lines = [f"code: {code_state()}; load average at the end {os.getloadavg()[0]:.1f} (2 cores: > 1 means "
             "other work shared the machine)",
             f"{n_queries:,} queries per set (A cold, B warm) for every K, {args.codes:,} codes to resolve; "
             f"children under RLIMIT_AS {args.mem_limit_gb:g} GB, timeout {args.timeout:.0f} s.", "",
             *main_table(results), "", *kinds_table(results), "", *goals(results)]
    fail = failures(results)
    return "\n".join(lines + ([""] + fail if fail else []))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", default="1,5,20", help="copies per run, comma-separated (default 1,5,20; the first is "
                    "the base of the ratios)")
    ap.add_argument("--queries", type=int, default=3000, help="queries per set, same for every K (default 3000)")
    ap.add_argument("--codes", type=int, default=100_000, help="codes to resolve per K (default 100,000)")
    ap.add_argument("--repeat", type=int, default=7, help="cold-start runs, median (default 7)")
    ap.add_argument("--source", default=str(DEFAULT_SOURCE), help="the Vermont OA file")
    ap.add_argument("--work", help="folder for the copies, references and tables (default: a temp dir, removed)")
    ap.add_argument("--keep", action="store_true", help="keep each K's reference and table")
    ap.add_argument("--mem-limit-gb", type=float, default=8.0, help="RLIMIT_AS of every child (default 8)")
    ap.add_argument("--timeout", type=float, default=1500.0, help="wall seconds per child (default 1500)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(*args.child)
    source = Path(args.source)
    if not source.is_file():
        print(f"skipped: {source} not found (the Vermont E911 points, ../shared/data/vt-e911)")
        return 0
    ks = sorted({int(k) for k in args.ks.split(",")})
    if ks[-1] > len(STATES):
        raise SystemExit(f"at most {len(STATES)} copies (one per state code in STATES)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="addrcode-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        maker = QueryMaker(args.queries)
        args.base = ks[0]
        results = [measure_k(k, ensure_copies(source, work, k), work, maker, args) for k in ks]
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(report(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

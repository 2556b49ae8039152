#!/usr/bin/env python3
"""Noisy geocoding query sets from real address points, and the accuracy report over them.

    # query set only (CSV: kind, query, lon, lat, ref_id)
    python scripts/make_geocode_queries.py queries -o /tmp/queries.csv --per-kind 1000 --seed 1
    # the full accuracy report (builds two references in a temp dir, ~1 minute)
    python scripts/make_geocode_queries.py report -o docs/ACCURACY.md --per-kind 1000 --seed 1

Every query is made from one real point of the source file, so its true location is known.
Kinds (see docs/ACCURACY.md): clean, title, lower, typo, missing_zip, missing_city, wrong_zip,
alias, unit, leading_name, dir_ordinal, absent_number, nonexistent, and interpolation (a reference
built with 5 % of the points withheld, geocoding the withheld points).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import random
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the variant makers live in the library (`addrcode calibrate` uses them too), under their old names here
from addrcode.geocoding.variants import NAMES as _NAMES  # noqa: E402
from addrcode.geocoding.variants import UNITS as _UNITS  # noqa: E402
from addrcode.geocoding.variants import alias as _alias  # noqa: E402
from addrcode.geocoding.variants import dir_ordinal as _dir_ordinal  # noqa: E402
from addrcode.geocoding.variants import expand as _expand  # noqa: E402
from addrcode.geocoding.variants import split_street as _split_street  # noqa: E402
from addrcode.geocoding.variants import typo as _typo  # noqa: E402

DEFAULT_SOURCE = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"

KINDS = ("clean", "title", "lower", "typo", "missing_zip", "missing_city", "wrong_zip", "alias", "unit",
         "leading_name", "dir_ordinal", "absent_number", "nonexistent")

_FAKE_WORDS = ["Quillfeather", "Zorbin", "Maplewoodshire", "Thistlecrown", "Yarrowmere", "Brinkleby", "Oxhollow",
               "Cindervale", "Wrenfield", "Larkspire", "Hobbleton", "Grimsworth", "Pellucid", "Vantaloon",
               "Quarrystone", "Ebonwick", "Fernhaven", "Dunmorrow", "Kestrelwood", "Ashgrove"]


def load_rows(source: Path) -> list[dict]:
    """All rows of an OA CSV(.gz) as dicts (upper-case column names)."""
    opener = gzip.open if str(source).endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = [h.upper() for h in next(r)]
        return [dict(zip(header, row)) for row in r]


def make_queries(rows: list[dict], per_kind: int, seed: int = 1, kinds=KINDS) -> list[dict]:
    """`per_kind` noisy queries of each kind, each with its true lon/lat (empty for nonexistent)."""
    rng = random.Random(seed)
    by_street = defaultdict(list)
    town_zips = defaultdict(set)
    town_cores = defaultdict(set)
    for r in rows:
        by_street[(r["CITY"], r["STREET"])].append(r)
        town_zips[r["CITY"]].add(r["POSTCODE"])
        town_cores[r["CITY"]].add(_split_street(r["STREET"])[1] and " ".join(_split_street(r["STREET"])[1]))
    all_zips = sorted({r["POSTCODE"] for r in rows})
    streets = sorted(by_street)
    # a point whose (town, street, number) is unique, so the truth is one location
    counts = defaultdict(int)
    for r in rows:
        counts[(r["CITY"], r["STREET"], r["NUMBER"])] += 1

    def pick(cond=None, tries=2000):
        for _ in range(tries):
            r = rows[rng.randrange(len(rows))]
            if counts[(r["CITY"], r["STREET"], r["NUMBER"])] == 1 and (cond is None or cond(r)):
                return r
        return None

    def q(kind, text, r, lon=None, lat=None):
        return {"kind": kind, "query": text, "lon": r["LON"] if lon is None else lon,
                "lat": r["LAT"] if lat is None else lat, "ref_id": r.get("ID", "")}

    out = []
    for kind in kinds:
        made = 0
        guard = 0
        while made < per_kind and guard < per_kind * 50:
            guard += 1
            r = pick()
            num, st, city, zc = r["NUMBER"], r["STREET"], r["CITY"], r["POSTCODE"]
            text = None
            if kind == "clean":
                text = f"{num} {st}, {city}, VT {zc}"
            elif kind == "title":
                text = f"{num} {_expand(st)}, {city.title()}, {rng.choice(['Vermont', 'VT', 'Vt'])} {zc}"
            elif kind == "lower":
                text = f"{num} {st} {city} vt {zc}".lower()
            elif kind == "typo":
                pre, toks, suf, post = _split_street(st)
                long_idx = [i for i, t in enumerate(toks) if len(t) >= 4 and t.isalpha()]
                if not long_idx:
                    continue
                i = rng.choice(long_idx)
                toks = list(toks)
                toks[i] = _typo(toks[i], rng)
                if rng.random() < 0.25 and len(toks[i]) >= 7:  # a second edit
                    toks[i] = _typo(toks[i], rng)
                city_t = _typo(city, rng) if rng.random() < 0.3 and len(city) >= 5 else city
                street_t = " ".join(([pre] if pre else []) + toks + ([suf] if suf else []) + ([post] if post else []))
                text = f"{num} {street_t.title()}, {city_t.title()}, VT {zc}"
            elif kind == "missing_zip":
                text = f"{num} {_expand(st) if rng.random() < .5 else st}, {city}, VT"
            elif kind == "missing_city":
                text = f"{num} {_expand(st) if rng.random() < .5 else st}, VT {zc}"
            elif kind == "wrong_zip":
                others = [z for z in all_zips if z not in town_zips[city]]
                text = f"{num} {st}, {city}, VT {rng.choice(others)}"
            elif kind == "alias":
                r = pick(lambda x: _alias(x["STREET"], rng) is not None)
                if r is None:
                    continue
                num, city, zc = r["NUMBER"], r["CITY"], r["POSTCODE"]
                text = f"{num} {_alias(r['STREET'], rng)}, {city.title()}, VT {zc}"
            elif kind == "unit":
                u = rng.choice(_UNITS)
                text = (f"{num} {_expand(st)} {u}, {city.title()}, VT {zc}" if rng.random() < 0.7
                        else f"{num} {st}, {u}, {city}, VT {zc}")
            elif kind == "leading_name":
                text = f"{rng.choice(_NAMES)}, {num} {_expand(st)}, {city.title()}, VT {zc}"
            elif kind == "dir_ordinal":
                r = pick(lambda x: _dir_ordinal(x["STREET"]) is not None)
                if r is None:
                    continue
                num, city, zc = r["NUMBER"], r["CITY"], r["POSTCODE"]
                text = f"{num} {_dir_ordinal(r['STREET'])}, {city.title()}, VT {zc}"
            elif kind == "absent_number":
                nums = {x["NUMBER"] for x in by_street[(city, st)]}
                if not num.isdigit():
                    continue
                cand = [int(num) + d for d in (2, -2, 4, -4) if int(num) + d > 0 and str(int(num) + d) not in nums]
                if not cand:
                    continue
                text = f"{cand[0]} {_expand(st)}, {city.title()}, VT {zc}"
            elif kind == "nonexistent":
                how = rng.random()
                if how < 0.4:  # a made-up street name in a real town
                    name = f"{rng.choice(_FAKE_WORDS)} {rng.choice(['Rd', 'St', 'Ln', 'Dr', 'Way'])}"
                    text = f"{num} {name}, {city.title()}, VT {zc}"
                elif how < 0.7:  # a real street of another town, absent from this one
                    os_ = streets[rng.randrange(len(streets))]
                    core = " ".join(_split_street(os_[1])[1])
                    if core in town_cores[city]:
                        continue
                    text = f"{num} {_expand(os_[1])}, {city.title()}, VT {zc}"
                else:  # a real street, a house number far beyond its range
                    top = max(int(re.sub(r"\D", "", x["NUMBER"]) or 0) for x in by_street[(city, st)])
                    text = f"{top * 3 + 1000} {_expand(st)}, {city.title()}, VT {zc}"
                out.append({"kind": kind, "query": text, "lon": "", "lat": "", "ref_id": ""})
                made += 1
                continue
            if text is None:
                continue
            out.append(q(kind, text, r))
            made += 1
    return out


def withhold(rows: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Split rows into (kept, withheld): `share` of the points whose number has numeric neighbours."""
    rng = random.Random(seed)
    kept, held = [], []
    for r in rows:
        (held if rng.random() < share and r["NUMBER"].isdigit() else kept).append(r)
    return kept, held


def write_oa(rows: list[dict], path: Path) -> None:
    cols = ["LON", "LAT", "NUMBER", "STREET", "UNIT", "CITY", "DISTRICT", "REGION", "POSTCODE", "ID", "HASH"]
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([r.get(c, "") for c in cols])


def interpolation_queries(held: list[dict], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    sample = rng.sample(held, min(n, len(held)))
    return [{"kind": "interpolation", "query": f"{r['NUMBER']} {r['STREET']}, {r['CITY']}, VT {r['POSTCODE']}",
             "lon": r["LON"], "lat": r["LAT"], "ref_id": r["ID"]} for r in sample]


# Mailing addresses often name the village or post office, not the E911 town (Morrisville is in the
# town of Morristown): (E911 town, ZIP, postal name). Measured as its own kind, outside KINDS, so the
# benchmarks' query mix stays as it was.
POSTAL_VILLAGES = (("MORRISTOWN", "05661", "Morrisville"), ("LYNDON", "05851", "Lyndonville"),
                   ("ENOSBURGH", "05450", "Enosburg Falls"), ("CAMBRIDGE", "05464", "Jeffersonville"),
                   ("CAVENDISH", "05153", "Proctorsville"), ("WATERBURY", "05677", "Waterbury Center"),
                   ("BURKE", "05832", "East Burke"), ("BURKE", "05871", "West Burke"),
                   ("ROCKINGHAM", "05154", "Saxtons River"))


def village_queries(rows: list[dict], n: int, seed: int) -> list[dict]:
    """`n` queries naming the postal village instead of the town (kind `postal_village`)."""
    rng = random.Random(seed)
    by_place = defaultdict(list)
    wanted = {(town, z): name for town, z, name in POSTAL_VILLAGES}
    for r in rows:
        name = wanted.get((r["CITY"], r["POSTCODE"]))
        if name and not r["UNIT"]:
            by_place[name].append(r)
    out = []
    names = sorted(by_place)
    for k in range(n):
        name = names[k % len(names)]
        r = rng.choice(by_place[name])
        street = r["STREET"] if rng.random() < 0.5 else _expand(r["STREET"]).title()
        out.append({"kind": "postal_village", "query": f"{r['NUMBER']} {street}, {name}, VT {r['POSTCODE']}",
                    "lon": r["LON"], "lat": r["LAT"], "ref_id": r["ID"]})
    return out


def _dist(lon1, lat1, lon2, lat2) -> float:
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * k, lat2 - lat1) * 111_195.0


def evaluate(geocoder, queries: list[dict]) -> dict:
    """Per kind: n, share within 50 m, median/p95 error, false-confident rate, precision counts."""
    from addrcode.geocoding.scoring import distance_m

    res = defaultdict(lambda: {"errors": [], "n": 0, "fc": 0, "hi": 0, "hi_ok": 0, "prec": defaultdict(int),
                               "score50": 0, "examples": []})
    for qd in queries:
        m = geocoder.geocode(qd["query"])
        s = res[qd["kind"]]
        s["n"] += 1
        s["prec"][m.precision] += 1
        if qd["lon"] == "":  # does not exist: any score >= 0.5 is false confidence
            if m.score >= 0.5:
                s["fc"] += 1
                s["examples"].append((qd["query"], m.precision, m.score, m.matched))
            continue
        err = distance_m(float(qd["lon"]), float(qd["lat"]), m.lon, m.lat) if m.lon is not None else float("inf")
        s["errors"].append(err)
        if m.score >= 0.9:
            s["hi"] += 1
            s["hi_ok"] += err <= 50
        if m.score >= 0.5 and err > 50:
            s["fc"] += 1
        if err > 50:
            s["examples"].append((qd["query"], m.precision, m.score, m.matched))
    out = {}
    for kind, s in res.items():
        e = sorted(s["errors"])
        finite = [x for x in e if x != float("inf")]
        out[kind] = {
            "n": s["n"],
            "within50": (sum(1 for x in e if x <= 50) / len(e)) if e else None,
            "median": statistics.median(finite) if finite else None,
            "p95": (finite[min(len(finite) - 1, int(0.95 * len(e)))] if finite and len(finite) >= 0.95 * len(e)
                    else float("inf") if e else None),
            "false_confident": s["fc"] / s["n"],
            "hi": s["hi"], "hi_ok": s["hi_ok"],
            "precision": dict(s["prec"]),
            "examples": s["examples"][:8],
        }
    return out


def _fmt(v, pct=False):
    if v is None:
        return "–"
    if v == float("inf"):
        return "∞"
    return f"{100 * v:.1f} %" if pct else f"{v:.0f}"


def accuracy_table(stats: dict, kinds, hi: int, hi_ok: int, t0: float) -> list[str]:
    """The Markdown lines shared by the US and AU accuracy reports: legend, per-kind table, calibration."""
    lines = [
        "*within 50 m*: share of queries whose result lies within 50 m of the truth (no result counts as a miss). "
        "*false-confident*: share scored ≥ 0.5 yet more than 50 m off (for `nonexistent`: scored ≥ 0.5 at all).",
        "",
        "| kind | n | within 50 m | median error (m) | p95 error (m) | false-confident | precisions |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for kind in list(kinds) + ["interpolation"]:
        s = stats.get(kind)
        if not s:
            continue
        prec = ", ".join(f"{k} {v}" for k, v in sorted(s["precision"].items(), key=lambda t: -t[1]))
        lines.append(f"| {kind} | {s['n']} | {_fmt(s['within50'], True)} | {_fmt(s['median'])} | {_fmt(s['p95'])} "
                     f"| {_fmt(s['false_confident'], True)} | {prec} |")
    return lines + [
        "",
        f"Calibration: {hi:,} results scored ≥ 0.9, of which {hi_ok:,} "
        f"({100 * hi_ok / max(1, hi):.2f} %) lie within 50 m of the truth (target ≥ 98 %).",
        "",
        f"Generated {time.strftime('%Y-%m-%d')} in {time.time() - t0:.0f} s.",
        "",
    ]


def report(out: Path, source: Path, per_kind: int, seed: int) -> str:
    from addrcode.geocoding.build import build_reference
    from addrcode.geocoding.geocoder import Geocoder

    rows = load_rows(source)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as td:
        ref = Path(td) / "ref.sqlite"
        build_reference([source], ref)
        kept, held = withhold(rows, 0.05, seed)
        src2 = Path(td) / "withheld.csv.gz"
        write_oa(kept, src2)
        ref2 = Path(td) / "ref95.sqlite"
        build_reference([src2], ref2)
        queries = make_queries(rows, per_kind, seed) + village_queries(rows, per_kind, seed)
        with Geocoder(ref) as g:
            stats = evaluate(g, queries)
        with Geocoder(ref2) as g:
            stats.update(evaluate(g, interpolation_queries(held, per_kind, seed)))
    hi = sum(s["hi"] for s in stats.values())
    hi_ok = sum(s["hi_ok"] for s in stats.values())
    lines = [
        "# Geocoding accuracy",
        "",
        f"Reference: `{source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}` ({len(rows):,} points). "
        f"{per_kind} queries per kind, seed {seed}, generated from real points by "
        "`scripts/make_geocode_queries.py` (truth = the point the query was made from; only points whose "
        "town/street/number is unique are used). Interpolation: a reference built with 5 % of the points "
        "withheld, geocoding the withheld points. `postal_village`: the town named by its post office or "
        "village (Morrisville for Morristown, Lyndonville for Lyndon ...: nine such names with their ZIPs).",
        "",
        "Regenerate (about a minute):",
        "",
        "```",
        f"python scripts/make_geocode_queries.py report -o docs/ACCURACY.md --per-kind {per_kind} --seed {seed}",
        "```",
        "",
    ] + accuracy_table(stats, KINDS + ("postal_village",), hi, hi_ok, t0)
    text = "\n".join(lines)
    Path(out).write_text(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["queries", "report"])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--source", default=str(DEFAULT_SOURCE))
    ap.add_argument("--per-kind", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--examples", action="store_true", help="print failing examples on stderr (report)")
    args = ap.parse_args(argv)
    source = Path(args.source)
    if args.what == "queries":
        rows = load_rows(source)
        qs = make_queries(rows, args.per_kind, args.seed)
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["kind", "query", "lon", "lat", "ref_id"])
            w.writeheader()
            w.writerows(qs)
        print(f"{len(qs)} queries -> {args.output}", file=sys.stderr)
    else:
        print(report(Path(args.output), source, args.per_kind, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Noisy Australian geocoding query sets from the AU reference points, and the accuracy report.

    python scripts/make_au_queries.py queries -o /tmp/au-queries.csv --per-kind 500 --seed 1
    python scripts/make_au_queries.py report -o docs/ACCURACY-AU.md --per-kind 500 --seed 1

The AU counterpart of `scripts/make_geocode_queries.py` (whose evaluation, withholding and OA writing
it reuses, so figures are computed the same way). Every query is made from one real point of
`data/au/` (Vicmap and NSW), so its true location is known. Kinds:

clean (`15 PHILIP CT, PAKENHAM VIC 3810`, AU canonical), title (`15 Philip Court, Pakenham, Victoria 3810`),
lower, no_comma (`15 philip court pakenham vic 3810`: the street/locality boundary is only found
through the street type and the known localities), typo, missing_postcode, missing_locality (VIC,
postcode only), wrong_postcode (VIC), unit (`2/15 ...`, `Unit 2, 15 ...`, `U2 15 ...`, `Flat 2 ...`,
`Shop 2/15 ...`, `Level 1, 15 ...`), leading_name, absent_number, nonexistent, and interpolation (a
reference built with 5 % of the points withheld, geocoding the withheld points).
NSW rows have no postcode in the source, so their queries carry the state only.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AU = ROOT / "data" / "au"
SOURCES = (AU / "vicmap_ycb_addresses_oa.csv.gz", AU / "nsw_bml_addresses_oa.csv.gz")
KINDS = ("clean", "title", "lower", "no_comma", "typo", "missing_postcode", "missing_locality", "wrong_postcode",
         "unit", "leading_name", "absent_number", "nonexistent")
_STATE_LONG = {"VIC": "Victoria", "NSW": "New South Wales"}
_NAMES = ["John Smith", "Mary O'Brien", "Dr. Alan Green", "Acme Pty Ltd", "Attn: Accounts", "c/o Jane Doe",
          "Yarra Valley Dairy", "Nguyen Family", "Blue Mountains Grammar", "Pat Lee"]
_FAKE = ["Quillfeather", "Zorbin", "Wombatvale", "Thistlecrown", "Yarrowmere", "Brinkleby", "Koalaburn",
         "Cindervale", "Wrenfield", "Larkspire", "Dunmorrow", "Kestrelwood"]


def _mq():
    spec = importlib.util.spec_from_file_location("make_geocode_queries", ROOT / "scripts" / "make_geocode_queries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_rows(sources=SOURCES) -> list[dict]:
    rows = []
    for s in sources:
        rows += _mq().load_rows(Path(s))
    return rows


def _abbr(street: str) -> str:
    """`PHILIP COURT` -> `PHILIP CT` (the standard abbreviation of the last type word)."""
    from addrcode.normalize.au import street_parts
    from addrcode.normalize.tables_au import load_au_tables

    name, stype, suffix = street_parts(street, load_au_tables())
    return " ".join(x for x in (name, stype, suffix) if x)


def _title(s: str) -> str:
    return " ".join(w.title() if not w[0].isdigit() else w for w in s.split())


def _last(r, full_state=False, postcode=True) -> str:
    st = _STATE_LONG[r["REGION"]] if full_state else r["REGION"]
    return " ".join(x for x in (st, r["POSTCODE"] if postcode else "") if x)


def _unit_form(rng, num, street, unit) -> str:
    forms = [f"{unit}/{num} {street}", f"Unit {unit}, {num} {street}", f"U{unit} {num} {street}",
             f"Flat {unit} {num} {street}", f"Apt {unit}/{num} {street}", f"Shop {unit}/{num} {street}",
             f"{num} {street} Unit {unit}", f"Level 1, {unit}/{num} {street}"]
    return rng.choice(forms)


def make_queries(rows: list[dict], per_kind: int, seed: int = 1, kinds=KINDS) -> list[dict]:
    """`per_kind` noisy queries of each kind, each with its true lon/lat (empty for nonexistent)."""
    mq = _mq()
    rng = random.Random(seed)
    by_street = defaultdict(list)
    town_pcs = defaultdict(set)
    town_streets = defaultdict(set)
    counts = defaultdict(int)
    for r in rows:
        by_street[(r["CITY"], r["STREET"])].append(r)
        if r["POSTCODE"]:
            town_pcs[r["CITY"]].add(r["POSTCODE"])
        town_streets[r["CITY"]].add(r["STREET"])
        counts[(r["CITY"], r["STREET"], r["NUMBER"], r["UNIT"])] += 1
    all_pcs = sorted({r["POSTCODE"] for r in rows if r["POSTCODE"]})
    streets = sorted(by_street)

    def pick(cond=None):
        for _ in range(2000):
            r = rows[rng.randrange(len(rows))]
            if counts[(r["CITY"], r["STREET"], r["NUMBER"], r["UNIT"])] == 1 and (cond is None or cond(r)):
                return r
        return None

    out = []
    for kind in kinds:
        made = guard = 0
        while made < per_kind and guard < per_kind * 50:
            guard += 1
            r = pick(lambda x: not x["UNIT"]) if kind not in ("unit",) else pick()
            if r is None:
                continue
            num, st, city = r["NUMBER"], r["STREET"], r["CITY"]
            text = None
            if kind == "clean":
                text = f"{num} {_abbr(st)}, {city} {_last(r)}"
            elif kind == "title":
                text = f"{num} {_title(st)}, {_title(city)}, {_last(r, full_state=True)}"
            elif kind == "lower":
                text = f"{num} {_abbr(st)}, {city}, {_last(r)}".lower()
            elif kind == "no_comma":
                text = f"{num} {st if rng.random() < .5 else _abbr(st)} {city} {_last(r)}".lower()
            elif kind == "typo":
                words = st.split()
                idx = [i for i, w in enumerate(words[:-1]) if len(w) >= 4 and w.isalpha()]
                if not idx:
                    continue
                i = rng.choice(idx)
                words[i] = mq._typo(words[i], rng)
                city_t = mq._typo(city, rng) if rng.random() < 0.3 and len(city) >= 5 else city
                text = f"{num} {_title(' '.join(words))}, {_title(city_t)} {_last(r)}"
            elif kind == "missing_postcode":
                text = f"{num} {_title(_abbr(st))}, {_title(city)} {r['REGION']}"
            elif kind == "missing_locality":
                if not r["POSTCODE"]:
                    continue
                text = f"{num} {_title(st)}, {_last(r)}"
            elif kind == "wrong_postcode":
                others = [p for p in all_pcs if p not in town_pcs[city]]
                if not r["POSTCODE"] or not others:
                    continue
                text = f"{num} {_abbr(st)}, {city} {r['REGION']} {rng.choice(others)}"
            elif kind == "unit":
                unit = r["UNIT"] or str(rng.randint(1, 12))
                text = f"{_unit_form(rng, num, _title(_abbr(st)), unit)}, {_title(city)} {_last(r)}"
            elif kind == "leading_name":
                text = f"{rng.choice(_NAMES)}, {num} {_title(st)}, {_title(city)} {_last(r)}"
            elif kind == "absent_number":
                nums = {x["NUMBER"] for x in by_street[(city, st)]}
                if not num.isdigit():
                    continue
                cand = [int(num) + d for d in (2, -2, 4, -4) if int(num) + d > 0 and str(int(num) + d) not in nums]
                if not cand:
                    continue
                text = f"{cand[0]} {_title(st)}, {_title(city)} {_last(r)}"
            elif kind == "nonexistent":
                how = rng.random()
                if how < 0.4:
                    text = f"{num} {rng.choice(_FAKE)} {rng.choice(['Rd', 'St', 'Cres', 'Pde', 'Ct'])}, " \
                           f"{_title(city)} {_last(r)}"
                elif how < 0.7:
                    other = streets[rng.randrange(len(streets))][1]
                    core = re.sub(r" \w+$", "", other)
                    if any(s.startswith(core + " ") for s in town_streets[city]):
                        continue
                    text = f"{num} {_title(other)}, {_title(city)} {_last(r)}"
                else:
                    top = max(int(re.sub(r"\D", "", x["NUMBER"].split("-")[-1]) or 0) for x in by_street[(city, st)])
                    text = f"{top * 3 + 1000} {_title(st)}, {_title(city)} {_last(r)}"
                out.append({"kind": kind, "query": text, "lon": "", "lat": "", "ref_id": ""})
                made += 1
                continue
            if text is None:
                continue
            out.append({"kind": kind, "query": text, "lon": r["LON"], "lat": r["LAT"], "ref_id": r.get("ID", "")})
            made += 1
    return out


def interpolation_queries(held: list[dict], n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    sample = rng.sample(held, min(n, len(held)))
    return [{"kind": "interpolation", "query": f"{r['NUMBER']} {r['STREET']}, {r['CITY']} {_last(r)}",
             "lon": r["LON"], "lat": r["LAT"], "ref_id": r["ID"]} for r in sample]


def report(out: Path, per_kind: int, seed: int) -> str:
    from addrcode.geocoding.build import build_reference
    from addrcode.geocoding.geocoder import Geocoder

    mq = _mq()
    rows = load_rows()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as td:
        ref = Path(td) / "au.sqlite"
        build_reference(list(SOURCES), ref, locale="au")
        kept, held = mq.withhold([r for r in rows if not r["UNIT"]], 0.05, seed)
        kept += [r for r in rows if r["UNIT"]]
        src2 = Path(td) / "withheld.csv.gz"
        mq.write_oa(kept, src2)
        ref2 = Path(td) / "au95.sqlite"
        build_reference([src2], ref2, locale="au")
        queries = make_queries(rows, per_kind, seed)
        with Geocoder(ref) as g:
            stats = mq.evaluate(g, queries)
        with Geocoder(ref2) as g:
            stats.update(mq.evaluate(g, interpolation_queries(held, per_kind, seed)))
    hi = sum(s["hi"] for s in stats.values())
    hi_ok = sum(s["hi_ok"] for s in stats.values())
    lines = [
        "# Geocoding accuracy — Australia (locale `au`)",
        "",
        f"Reference: `data/au/vicmap_ycb_addresses_oa.csv.gz` + `data/au/nsw_bml_addresses_oa.csv.gz` "
        f"({len(rows):,} points, Vicmap and NSW). {per_kind} queries per kind, seed {seed}, generated from real "
        "points by `scripts/make_au_queries.py` (truth = the point the query was made from; only points whose "
        "locality/street/number/unit is unique). Interpolation: a reference built with 5 % of the points "
        "withheld, geocoding the withheld points. Same measures as docs/ACCURACY.md (US).",
        "",
        "```",
        f"python scripts/make_au_queries.py report -o docs/ACCURACY-AU.md --per-kind {per_kind} --seed {seed}",
        "```",
        "",
    ] + mq.accuracy_table(stats, KINDS, hi, hi_ok, t0)
    text = "\n".join(lines)
    Path(out).write_text(text)
    return text, stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["queries", "report"])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--per-kind", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--examples", action="store_true", help="print failing examples on stderr (report)")
    args = ap.parse_args(argv)
    if args.what == "queries":
        qs = make_queries(load_rows(), args.per_kind, args.seed)
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["kind", "query", "lon", "lat", "ref_id"])
            w.writeheader()
            w.writerows(qs)
        print(f"{len(qs)} queries -> {args.output}", file=sys.stderr)
    else:
        text, stats = report(Path(args.output), args.per_kind, args.seed)
        print(text)
        if args.examples:
            for kind, s in stats.items():
                for ex in s["examples"]:
                    print(kind, ex, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Does an issued code name the right delivery zone? The figures behind encode's default thresholds.

    python scripts/encode_accuracy.py -o docs/ZONE_ACCURACY.md --per-kind 1000 --seed 5

For every noisy query of `scripts/make_geocode_queries.py` (real Vermont points written in many
human styles, plus non-existent addresses), geocode once, then for each (min_precision, min_score)
pair decide whether `encode` would issue a code, and if so whether the code's cell lies in the same
zone as the cell of the true point (the zone a station routes the parcel to when the code is right).
Also reported: the zone containing the true point itself (differs at borders by the cell-centre rule).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from make_geocode_queries import DEFAULT_SOURCE, KINDS, load_rows, make_queries  # noqa: E402

PRECISIONS = ("point", "interpolated", "street")
SCORES = (0.0, 0.3, 0.5, 0.7, 0.9)


def measure(per_kind: int, seed: int, cache_dir: Path | None = None) -> dict:
    """Geocode the query set once and return per-query facts for any threshold choice."""
    from addrcode.batch.jobs import open_geocoder, open_grid, open_zones, precision_rank
    from addrcode.config import load_config

    config = load_config(env={}, cache_dir=str(cache_dir) if cache_dir else None)
    geocoder, grid, zones = open_geocoder(config), open_grid(config), open_zones(config)
    queries = make_queries(load_rows(DEFAULT_SOURCE), per_kind, seed=seed)
    facts = []
    for q in queries:
        m = geocoder.geocode(q["query"])
        issued_zone = None
        if m.lon is not None and m.precision != "none":
            cell = grid.cell(m.lon, m.lat)
            zone = zones.zone_of_cell(grid, cell.district, cell.index) if cell else None
            issued_zone = zone.id if zone else None
        true_cell_zone = true_point_zone = None
        if q["lon"] != "":
            lon, lat = float(q["lon"]), float(q["lat"])
            cell = grid.cell(lon, lat)
            zone = zones.zone_of_cell(grid, cell.district, cell.index) if cell else None
            true_cell_zone = zone.id if zone else None
            point_zone = zones.zone_at(lon, lat)
            true_point_zone = point_zone.id if point_zone else None
        facts.append({"kind": q["kind"], "rank": precision_rank(m.precision), "score": m.score,
                      "zone": issued_zone, "true_cell_zone": true_cell_zone, "true_point_zone": true_point_zone})
    return {"facts": facts, "per_kind": per_kind, "seed": seed}


def tally(facts: list[dict], min_precision: str, min_score: float) -> dict:
    """Per kind: queries, codes issued, issued codes naming the right zone (by cell and by point)."""
    from addrcode.batch.jobs import precision_rank

    limit = precision_rank(min_precision)
    out = defaultdict(lambda: {"n": 0, "issued": 0, "right_cell": 0, "right_point": 0})
    for f in facts:
        t = out[f["kind"]]
        t["n"] += 1
        if f["zone"] is None or f["rank"] > limit or f["score"] < min_score:
            continue
        t["issued"] += 1
        t["right_cell"] += f["zone"] == f["true_cell_zone"]
        t["right_point"] += f["zone"] == f["true_point_zone"]
    return dict(out)


def totals(per_kind: dict, kinds=None) -> dict:
    keys = ("n", "issued", "right_cell", "right_point")
    return {k: sum(v[k] for kind, v in per_kind.items() if kinds is None or kind in kinds) for k in keys}


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.2f} %" if b else "–"


def report(measured: dict, default=("interpolated", 0.5)) -> str:
    facts = measured["facts"]
    real_kinds = [k for k in KINDS if k != "nonexistent"]
    lines = ["# Zone accuracy of issued codes", "",
             f"{measured['per_kind']} queries per kind, seed {measured['seed']}, from "
             "`scripts/make_geocode_queries.py` (real Vermont E911 points in many human styles; kinds as in "
             "`docs/ACCURACY.md`). For each threshold pair: the share of real addresses that get a code "
             "(*issued*), the share of issued codes whose cell is in the same zone as the true point's cell "
             "(*right zone*: where a station routes the parcel), the same against the zone containing the "
             "true point itself (*right zone, point*: lower at borders because a cell belongs to the zone of "
             "its centre), and the share of non-existent addresses that still get a code.", "",
             "Regenerate: `python scripts/encode_accuracy.py -o docs/ZONE_ACCURACY.md --per-kind 1000 --seed 5`",
             "", "| --min-precision | --min-score | issued | right zone | right zone (point) | non-existent issued |",
             "|---|---:|---:|---:|---:|---:|"]
    for precision in PRECISIONS:
        for score in SCORES:
            per_kind = tally(facts, precision, score)
            t = totals(per_kind, real_kinds)
            ne = per_kind.get("nonexistent", {"n": 0, "issued": 0})
            mark = " **(default)**" if (precision, score) == default else ""
            lines.append(f"| {precision}{mark} | {score:g} | {pct(t['issued'], t['n'])} | "
                         f"{pct(t['right_cell'], t['issued'])} | {pct(t['right_point'], t['issued'])} | "
                         f"{pct(ne['issued'], ne['n'])} |")
    per_kind = tally(facts, *default)
    lines += ["", f"Per kind at the defaults (`--min-precision {default[0]} --min-score {default[1]:g}`):", "",
              "| kind | n | issued | right zone | right zone (point) |", "|---|---:|---:|---:|---:|"]
    for kind in KINDS:
        t = per_kind.get(kind)
        if t:
            lines.append(f"| {kind} | {t['n']} | {pct(t['issued'], t['n'])} | {pct(t['right_cell'], t['issued'])} | "
                         f"{pct(t['right_point'], t['issued'])} |")
    lines += ["", f"Generated {time.strftime('%Y-%m-%d')}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, help="write the Markdown report here (default: stdout)")
    parser.add_argument("--per-kind", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    text = report(measure(args.per_kind, args.seed))
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

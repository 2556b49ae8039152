"""Attack a station table with the public reference and zones: how far does a code's row narrow its cell?

Two attacks (issue 19, "tables that say nothing about where people live"):

- **Class recomputation** (`class_attack`): a row gives a code's (district, zone) class (the district
  is the code's plain prefix, the zone the row's destination). The attacker recomputes, from the public
  reference and zones, each class's issuable cells and the table's cover (`covered_cells` is a public
  function of them), and matches the table's row count per class and epoch. Codes of one class are
  indistinguishable (FF1), so a code's anonymity set is its class's row count; a class of one row pins
  its code.
- **Difference of two tables** (`diff_attack`): the codes added between an old and a new table. The
  attacker, who can recompute both covers, knows which cells are newly covered in each class, so an
  added code's candidate set is the number of codes added in its class (and epoch). A new address
  whose cell was already in the old table has no added code at all: its code is one of its class's old
  codes.

Run on the Vermont reference::

    python scripts/attack_table_classes.py TABLE.sqlite --public-key KEY.pub --reference REF \\
        [--zones Z] [--old OLD.sqlite]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path


def table_classes(table, public_key) -> Counter:
    """Rows per (district, zone id, epoch character) of a verified table."""
    from addrcode.stations.signing import connect, verified_bytes
    from addrcode.stations.table import ALPHABET

    data = verified_bytes(table, public_key)
    db = connect(table, data)
    try:
        zone_id = dict(db.execute("SELECT idx, zone FROM zones"))
        rows = db.execute("SELECT body >> 25, (body >> 20) & 31, zone, count(*) FROM codes GROUP BY 1, 2, 3")
        return Counter({(d, zone_id[z], ALPHABET[e]): n for d, e, z, n in rows})
    finally:
        db.close()


def table_bodies(table, public_key) -> dict:
    """body -> (district, zone id, epoch character) of every row of a verified table."""
    from addrcode.stations.signing import connect, verified_bytes
    from addrcode.stations.table import ALPHABET

    db = connect(table, verified_bytes(table, public_key))
    try:
        zone_id = dict(db.execute("SELECT idx, zone FROM zones"))
        rows = db.execute("SELECT body, zone FROM codes")
        return {b: (b >> 25, zone_id[z], ALPHABET[(b >> 20) & 31]) for b, z in rows}
    finally:
        db.close()


def public_classes(reference, zones, grid, **cover_options) -> tuple[Counter, Counter, Counter]:
    """What the attacker recomputes: (issuable cells, covered cells, all zone cells) per (district, zone id).

    The last counts a class's zone cells in its district, for the classes of the cover only: it bounds
    what any table can hide (a code names its district, its row the zone).
    """
    import numpy as np

    from addrcode.stations.cells import issuable_cells
    from addrcode.stations.cover import covered_cells, zone_district_cells, zone_positions

    ids = [z.id for z in zones.zones]

    def per_class(district, index):
        pos = zone_positions(zones, grid, district, index)
        keep = pos >= 0
        pairs = Counter(zip(np.asarray(district)[keep].tolist(), pos[keep].tolist()))
        return Counter({(d, ids[p]): n for (d, p), n in pairs.items()})

    issuable = issuable_cells(reference, grid)
    covered = per_class(*covered_cells(reference, zones, grid, issuable=issuable, **cover_options)[:2])
    whole = Counter()
    for d, zid in covered:
        whole[(d, zid)] = len(zone_district_cells(zones, grid, ids.index(zid), d)[0])
    return per_class(*issuable), covered, whole


def class_attack(table, public_key, reference, zones, grid, k: int, **cover_options) -> dict:
    """The class-recomputation attack on one table: counts, pinned codes, anonymity sets (see module doc)."""
    rows = table_classes(table, public_key)
    issuable, covered, whole = public_classes(reference, zones, grid, **cover_options)
    anonymity = sorted(n for n in rows.values() for _ in range(n))  # one entry per code: its class's size
    per_class = {c: n for c, n in rows.items()}
    below_k = {c: n for c, n in per_class.items() if n < k}
    return {
        "codes": sum(rows.values()),
        "classes": len(per_class),
        "matched_issuable_count": sum(1 for (d, z, _), n in per_class.items() if issuable.get((d, z)) == n),
        "matched_cover_count": sum(1 for (d, z, _), n in per_class.items() if covered.get((d, z)) == n),
        "pinned_codes": sum(n for n in per_class.values() if n == 1),
        "min_anonymity": anonymity[0] if anonymity else 0,
        "median_anonymity": anonymity[len(anonymity) // 2] if anonymity else 0,
        "codes_below_k": sum(below_k.values()),
        # classes under k that are not the whole zone fragment: what the cover itself failed to hide
        "classes_below_k_not_whole": sorted(f"{d}/{z}/{e}" for (d, z, e), n in below_k.items()
                                            if n < whole.get((d, z), 0)),
        "classes_below_k": sorted(f"{d}/{z}/{e}: {n} cells, {issuable.get((d, z), 0)} issuable"
                                  for (d, z, e), n in below_k.items()),
        "populated_codes_below_k": sum(issuable.get((d, z), 0) for (d, z, _) in below_k),
    }


def diff_attack(old_table, new_table, public_key) -> dict:
    """Codes added between two tables and each one's candidate set (codes added in its class and epoch)."""
    old = table_bodies(old_table, public_key)
    new = table_bodies(new_table, public_key)
    added = [cls for b, cls in new.items() if b not in old]
    per_class = Counter(added)
    candidates = sorted(per_class[c] for c in added)
    return {
        "old_rows": len(old), "new_rows": len(new), "added": len(added),
        "removed": sum(1 for b in old if b not in new),
        "added_classes": len(per_class),
        "median_candidates": candidates[len(candidates) // 2] if candidates else None,
        "min_candidates": candidates[0] if candidates else None,
        "pinned_added_codes": sum(1 for n in candidates if n == 1),
    }


def main(argv=None) -> int:
    from addrcode.grid import Grid
    from addrcode.stations.cover import MIN_CLASS_SIZE
    from addrcode.zones import default_zones_path, load_zones

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--reference", required=True, help="the public reference the table was built from")
    ap.add_argument("--zones", default=str(default_zones_path()))
    ap.add_argument("--old", help="an older table: also run the difference attack (old -> TABLE)")
    ap.add_argument("-k", type=int, default=MIN_CLASS_SIZE)
    args = ap.parse_args(argv)
    out = class_attack(args.table, args.public_key, args.reference, load_zones(args.zones), Grid(), args.k)
    if args.old:
        out["diff"] = diff_attack(args.old, args.table, args.public_key)
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (sqlite3.DatabaseError, OSError) as exc:
        sys.exit(f"{Path(sys.argv[0]).name}: {exc}")

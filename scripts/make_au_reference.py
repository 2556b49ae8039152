#!/usr/bin/env python3
"""Build the Australian reference sources in `data/au/` from ../shared/data (OpenAddresses layout).

    python scripts/make_au_reference.py            # writes data/au/*.csv.gz, prints figures

* Victoria (`vic-yarra-cardinia-bawbaw`): already OA layout in lon/lat; copied unchanged
  (`data/au/vic_ycb_addresses_oa.csv.gz`) with its mesh-block side file.
* New South Wales (`nsw-bluemountains-lithgow`): a single-line `ADDRESS` without postcode or state and
  coordinates as X/Y in EPSG:7855 (GDA2020 / MGA zone 55). Converted to OA layout:
  - LON/LAT computed **from X/Y with pyproj** (EPSG:7855 -> EPSG:4326, always_xy); the file's own
    LON/LAT column is only used to check the transformation (the largest difference is printed).
  - ADDRESS is read with the AU normalizer (`addrcode.normalize`, locale `au`) in two passes: the
    first without help (the street type is the anchor) counts the localities it finds; the second
    passes the localities seen at least `MIN_LOCALITY` times as known names, which settles lines such
    as `6 FAIRVIEW DRIVE SOUTH BOWENFELS` or `90 CALOOLA HALT ROAD MEGALONG VALLEY`.
  - NUMBER = house number or range (`43-45`), UNIT = the flat id of `9/43-45`, STREET = the source
    words between the number and the locality (unabbreviated, as Vicmap writes them), CITY = the
    locality, REGION = `NSW`, POSTCODE empty (the source has none), ID = the source ID.
  Rows the normalizer cannot split (no number, no street) are counted and left out.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
VIC_DIR = SHARED / "vic-yarra-cardinia-bawbaw"
NSW_SRC = SHARED / "nsw-bluemountains-lithgow" / "nsw_bml_addresses.csv.gz"
OUT = ROOT / "data" / "au"
MIN_LOCALITY = 3
OA_COLUMNS = ["LON", "LAT", "NUMBER", "STREET", "UNIT", "CITY", "DISTRICT", "REGION", "POSTCODE", "ID", "HASH"]


def split_nsw_address(address: str, cities=None):
    """(number, unit, street words, locality) of one NSW `ADDRESS`, or None when it cannot be split."""
    from addrcode.normalize import normalize

    a = normalize(address, "au", cities=cities)
    if not a.number or not a.street or not a.city:
        return None
    words = address.split()
    k = len(a.city.split())
    if len(words) < k + 2:
        return None
    street = " ".join(words[1 : len(words) - k])
    unit = a.unit_id if a.unit_type else ""
    return a.number, unit, street, a.city


def convert_nsw(src: Path, out: Path) -> dict:
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:7855", "EPSG:4326", always_xy=True)
    with gzip.open(src, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # pass 1: localities found with the street type as the only anchor
    first = Counter()
    for r in rows:
        got = split_nsw_address(r["ADDRESS"])
        if got:
            first[got[3]] += 1
    known = frozenset(c for c, n in first.items() if n >= MIN_LOCALITY)
    kept = []
    dropped = Counter()
    max_diff = 0.0
    for r in rows:
        got = split_nsw_address(r["ADDRESS"], known)
        if got is None:
            dropped["not split (no number/street/locality)"] += 1
            continue
        lon, lat = t.transform(float(r["X_EPSG7855"]), float(r["Y_EPSG7855"]))
        max_diff = max(max_diff, abs(lon - float(r["LON"])), abs(lat - float(r["LAT"])))
        number, unit, street, city = got
        row = [f"{lon:.7f}", f"{lat:.7f}", number, street, unit, city, "", "NSW", "", r["ID"]]
        row.append(hashlib.sha1(",".join(row).encode()).hexdigest()[:16])
        kept.append(row)
    with gzip.open(out, "wt", encoding="utf-8", newline="") as fo:
        w = csv.writer(fo, lineterminator="\n")
        w.writerow(OA_COLUMNS)
        w.writerows(kept)
    localities = Counter(r[5] for r in kept)
    return {"rows": len(rows), "kept": len(kept), "dropped": dict(dropped), "localities": len(localities),
            "known_after_pass1": len(known), "max_lonlat_diff_deg": max_diff}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("vicmap_ycb_addresses_oa.csv.gz", "vicmap_ycb_meshblock.csv.gz"):
        shutil.copyfile(VIC_DIR / name, OUT / name)
    stats = convert_nsw(NSW_SRC, OUT / "nsw_bml_addresses_oa.csv.gz")
    print(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Derive the Australian delivery zones `data/au/au-zones.geojson` from the AU reference points.

    python scripts/make_au_zones.py          # writes data/au/au-zones.geojson and prints figures

There are no suburb polygons in the data, so zones are grown from the address points themselves
(all geometry in the grid CRS, EPSG:3577 GDA94 / Australian Albers, metres):

* **Seeds.** Victoria: one seed per (ABS 2016 mesh block, locality) pair at the centroid of its points
  (`vicmap_ycb_meshblock.csv.gz` gives every point's mesh block; ABS suburbs are built from mesh blocks,
  so a mesh block almost always lies in one locality). NSW has no mesh blocks in the data: one seed per
  (locality, 1 km square) pair at the centroid of its points.
* **Cells.** A Voronoi diagram of the seeds, clipped to the convex hull of the state's points grown by
  `BUFFER_M` (2 km), so every address point and every interpolated position between them lies in a zone.
* **Zones.** Voronoi cells dissolved per locality: one zone per locality = one delivery route.
  Sort centres: Victoria, the ABS SA3 (statistical area level 3: `Yarra Ranges`, `Cardinia`, `Baw Baw`,
  ...) holding most of the locality's points, via the ABS mesh-block table; NSW, one sort centre for
  the whole Blue Mountains / Lithgow extract (the data carries no LGA).
* Properties: `zone` = `VIC-`/`NSW-` + locality slug, `route` = locality slug, `sort_center` = `SC-` + SA3
  slug (VIC) or `SC-NSW-BLUE-MOUNTAINS-LITHGOW`; extra `locality`, `state`, `sa3` (VIC).
* Back to lon/lat with pyproj on a 1e-6 degree grid (about 0.1 m).

The figures it prints (points whose 100 m cell centre falls in the zone of their own locality, points
outside every zone) are copied into `data/au/au-zones.md`.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AU = ROOT / "data" / "au"
ABS_MB = ROOT.parent / "shared" / "data" / "vic-yarra-cardinia-bawbaw" / "abs_MB_2016_VIC.csv.gz"
CRS = "EPSG:3577"
BUFFER_M = 2000.0
NSW_SEED_M = 1000.0
NSW_SORT_CENTER = "SC-NSW-BLUE-MOUNTAINS-LITHGOW"


def slug(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-")


def _rows(name: str) -> list[dict]:
    with gzip.open(AU / name, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _project(rows):
    import numpy as np
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    lon = np.array([float(r["LON"]) for r in rows])
    lat = np.array([float(r["LAT"]) for r in rows])
    return t.transform(lon, lat)


def _zones_for(rows, seed_keys, x, y, attrs_of_locality):
    """Voronoi of the seed centroids, clipped to the buffered hull, dissolved per locality."""
    import numpy as np
    import shapely

    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(seed_keys):
        groups[key].append(i)
    keys = list(groups)
    sx = np.array([x[groups[k]].mean() for k in keys])
    sy = np.array([y[groups[k]].mean() for k in keys])
    # identical centroids (two localities sharing one mesh block centroid) would give one Voronoi cell:
    # nudge duplicates by a centimetre so every seed keeps its own cell
    seen = {}
    for i, (a, b) in enumerate(zip(sx, sy)):
        k = (round(a, 2), round(b, 2))
        if k in seen:
            sx[i] += 0.01 * (1 + seen[k])
            seen[k] += 1
        else:
            seen[k] = 0
    pts = shapely.points(sx, sy)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y]))).buffer(BUFFER_M)
    vor = shapely.voronoi_polygons(shapely.multipoints(np.column_stack([sx, sy])), extend_to=hull)
    cells = list(shapely.get_parts(vor))
    # voronoi_polygons does not keep input order: match each cell to the seed inside it
    tree = shapely.STRtree(pts)
    by_loc: dict[str, list] = defaultdict(list)
    for cell in cells:
        hits = tree.query(cell, predicate="contains")
        if len(hits) == 0:
            continue
        loc = keys[hits[0]][-1]
        by_loc[loc].append(shapely.intersection(cell, hull))
    out = []
    for loc in sorted(by_loc):
        geom = shapely.union_all(by_loc[loc])
        out.append((loc, geom, attrs_of_locality(loc)))
    return out


def build() -> tuple[dict, dict]:
    import numpy as np
    import shapely
    from pyproj import Transformer

    vic = _rows("vicmap_ycb_addresses_oa.csv.gz")
    mb_of = {r["ID"]: r["MB_CODE_2016"] for r in _rows("vicmap_ycb_meshblock.csv.gz")}
    with gzip.open(ABS_MB, "rt", encoding="utf-8", newline="") as f:
        sa3 = {r["MB_CODE_2016"]: r["SA3_NAME_2016"] for r in csv.DictReader(f)}
    vx, vy = _project(vic)
    vkeys = [(mb_of.get(r["ID"], ""), r["CITY"]) for r in vic]
    loc_sa3: dict[str, Counter] = defaultdict(Counter)
    for _r, (mb, loc) in zip(vic, vkeys):
        loc_sa3[loc][sa3.get(mb, "UNKNOWN")] += 1

    def vic_attrs(loc):
        s = loc_sa3[loc].most_common(1)[0][0]
        return {"zone": "VIC-" + slug(loc), "sort_center": "SC-" + slug(s), "route": slug(loc),
                "locality": loc, "state": "VIC", "sa3": s}

    nsw = _rows("nsw_bml_addresses_oa.csv.gz")
    nx, ny = _project(nsw)
    nkeys = [(int(a // NSW_SEED_M), int(b // NSW_SEED_M), r["CITY"]) for r, a, b in zip(nsw, nx, ny)]

    def nsw_attrs(loc):
        return {"zone": "NSW-" + slug(loc), "sort_center": NSW_SORT_CENTER, "route": slug(loc),
                "locality": loc, "state": "NSW"}

    zones = _zones_for(vic, vkeys, vx, vy, vic_attrs) + _zones_for(nsw, nkeys, nx, ny, nsw_attrs)
    inv = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)

    def to_lonlat(coords):
        lon, lat = inv.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([np.round(lon, 6), np.round(lat, 6)])

    features = []
    for _loc, geom, props in zones:
        g = shapely.make_valid(shapely.transform(geom, to_lonlat))
        features.append({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(g)})
    fc = {"type": "FeatureCollection", "features": features}
    stats = {"zones": len(features), "vic_zones": sum(1 for f in features if f["properties"]["state"] == "VIC"),
             "sort_centers": len({f["properties"]["sort_center"] for f in features})}
    return fc, stats


def measure(path: Path) -> dict:
    """Points whose 100 m cell centre lies in their own locality's zone / in no zone."""
    import numpy as np

    from addrcode.grid import Grid
    from addrcode.zones import load_zones

    zones = load_zones(path)
    grid = Grid(crs=CRS, cell_size_m=100)
    out = {}
    for name in ("vicmap_ycb_addresses_oa.csv.gz", "nsw_bml_addresses_oa.csv.gz"):
        rows = _rows(name)
        lon = np.array([float(r["LON"]) for r in rows])
        lat = np.array([float(r["LAT"]) for r in rows])
        district, index, valid = grid.cells(lon, lat)
        assert valid.all(), "a point outside the EPSG:3577 grid"
        got = zones.zone_of_cells(grid, district, index)
        own = sum(1 for r, z in zip(rows, got) if z is not None and dict(z.fields).get("locality") == r["CITY"])
        none = sum(1 for z in got if z is None)
        out[name] = {"points": len(rows), "own_locality": own / len(rows), "outside": none}
    return out


def main() -> int:
    fc, stats = build()
    out = AU / "au-zones.geojson"
    out.write_text(json.dumps(fc, separators=(",", ":")))
    print(stats, f"{out.stat().st_size / 1e6:.1f} MB")
    print(measure(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Derive the embedded default delivery zones `data/vt-zones.geojson` from the Vermont town polygons.

Usage (from the repository root; needs ../shared/data next to the repo)::

    python scripts/make_vt_zones.py                       # writes data/vt-zones.geojson, prints figures
    python scripts/make_vt_zones.py --grid-stats          # also compares 50 / 100 / 200 m cells

Inputs: `vt-towns/vt_towns.geojson` (251 town polygons, 2013 VCGI boundaries via vprnet/vermont-map,
TopoJSON-quantised to ~20 m, 10 invalid) and `vt-e911/vt_e911_addresses_oa.csv.gz` (248k address
points, used only to measure coverage; nothing from them is written).

Derivation (all geometry work in the grid CRS, EPSG:5070 metres):

1. **Repair.** Invalid town polygons (self-touching rings from quantisation) go through
   `shapely.make_valid`, keeping polygonal parts.
2. **Missing cities.** The 2013 file has holes where two cities sit inside their namesake towns
   (St. Albans City inside St. Albans, Rutland City inside Rutland). Every hole of the state union
   larger than 0.5 km^2 becomes a zone of its own, named after the enclosing town + " CITY", same county.
   Smaller holes are slivers and are filled by step 3.
3. **Outer border and slivers.** The state outline (union of all towns) is grown by `--extend`
   metres (default 500, with holes filled); this covers address points whose 100 m cell centre falls
   just outside a coarse (quantised, simplified) border or lake shore. The added ring is split among
   towns by nearest border: a Voronoi diagram of points every 50 m along the state outline, each point
   labelled with its nearest town, cells dissolved per town. Each zone = its town + its share of the ring.
4. **Simplify.** `shapely.coverage_simplify` (topology-preserving across shared edges, so no new gaps
   or overlaps) with `--simplify` metres tolerance (default 10), then back to lon/lat on a 1e-5 degree
   (~1 m) precision grid.

Zone properties: `zone` = `VT-` + town slug (`VT-MIDDLEBURY`, `VT-ST-JOHNSBURY`: stable, derived from
the name only), `route` = town slug, `sort_center` = `SC-` + county slug (`SC-ADDISON`), extra fields
`town` (name as in the source) and `county`.

Figures measured with the defaults are written to `data/vt-zones.md` by hand from this script's output.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping, shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from addrcode.grid import Grid  # noqa: E402
from addrcode.zones import Zone, Zones, _polygonal, load_zones  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
TOWNS = SHARED / "vt-towns" / "vt_towns.geojson"
E911 = SHARED / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
CITY_HOLE_MIN_M2 = 0.5e6


def slug(name: str) -> str:
    """`ST. JOHNSBURY` -> `ST-JOHNSBURY`, `AVERY'S GORE` -> `AVERYS-GORE` (stable, ASCII, upper case)."""
    s = name.upper().replace("'", "")
    return re.sub(r"[^A-Z0-9]+", "-", s).strip("-")


def project(geom, tr):
    return shapely.transform(geom, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def load_towns():
    """[(town, county, lon/lat geometry repaired)], number of repaired polygons."""
    doc = json.loads(TOWNS.read_text())
    out, repaired = [], 0
    for f in doc["features"]:
        g = shape(f["geometry"])
        if not g.is_valid:
            g = _polygonal(shapely.make_valid(g))
            repaired += 1
        out.append((f["properties"]["town"], f["properties"]["county"], g))
    return out, repaired


def load_points():
    lon, lat, city = [], [], []
    with gzip.open(E911, "rt", encoding="utf-8", newline="") as fh:
        r = csv.reader(fh)
        next(r)
        for row in r:
            lon.append(float(row[0]))
            lat.append(float(row[1]))
            city.append(row[5])
    return np.array(lon), np.array(lat), np.array(city)


def coverage(zones: Zones, grid: Grid, lon, lat):
    """Share of points whose cell centre lies in some zone, and the number outside."""
    d, i, v = grid.cells(lon, lat)
    ud, inv = np.unique(d.astype(np.int64) * (1 << 20) + i, return_inverse=True)
    pos = zones.zone_positions_of_cells(grid, ud >> 20, ud & ((1 << 20) - 1))[inv]
    outside = int(((pos < 0) | ~v).sum())
    return 1 - outside / len(lon), outside


def zones_from(items) -> Zones:
    """In-memory Zones from [(town, county, lon/lat geometry)] (for measuring, not written)."""
    zs = [Zone("VT-" + slug(t), "SC-" + slug(c), slug(t), (("county", c), ("town", t)), g) for t, c, g in items]
    return Zones(tuple(sorted(zs, key=lambda z: z.id)), "")


def derive(towns, grid: Grid, extend_m: float, simplify_m: float):
    fwd, inv = grid._transformers()
    items = [(t, c, project(g, fwd)) for t, c, g in towns]
    union = shapely.union_all([g for _, _, g in items])
    # 2. holes of the state union: missing cities (big) or slivers (small, filled in step 3)
    cities = []
    for part in shapely.get_parts(union):
        for ring in part.interiors:
            hole = shapely.Polygon(ring)
            if hole.area < CITY_HOLE_MIN_M2:
                continue
            probe = hole.buffer(50).exterior
            host = max(items, key=lambda it: it[2].intersection(probe).length)
            cities.append((host[0] + " CITY", host[1], hole))
    items += cities
    covered = shapely.union_all([g for _, _, g in items])
    # 3. grown outline, holes filled, minus what the towns already cover = the ring to share out
    parts = shapely.get_parts(covered.buffer(extend_m, quad_segs=4))
    grown = shapely.union_all([shapely.Polygon(p.exterior) for p in parts])
    ring = grown.difference(covered)
    seeds = shapely.get_coordinates(shapely.segmentize(covered.boundary, 50.0))
    seeds = np.unique(np.round(seeds, 1), axis=0)
    seed_pts = shapely.points(seeds)
    tree = shapely.STRtree([g for _, _, g in items])
    near = tree.query_nearest(seed_pts, return_distance=False, all_matches=False)
    label = np.empty(len(seed_pts), dtype=np.int64)
    label[near[0]] = near[1]
    vor = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seed_pts), extend_to=grown, ordered=True))
    zones = []
    for k, (t, c, g) in enumerate(items):
        share = shapely.union_all(vor[label == k]) if (label == k).any() else shapely.Polygon()
        z = _polygonal(shapely.union_all([g, share.intersection(ring)]))
        zones.append((t, c, z))
    # 4. simplify the coverage as a whole (shared edges stay shared), then back to lon/lat
    geoms = [g for _, _, g in zones]
    if simplify_m > 0:
        geoms = list(shapely.coverage_simplify(np.array(geoms, dtype=object), simplify_m))
    geoms = clean([project(g, inv) for g in geoms], [slug(t) for t, _, _ in zones])
    return [(t, c, g) for (t, c, _), g in zip(zones, geoms)], [t for t, _, _ in cities]


def clean(geoms, ids, grid_size: float = 1e-5):
    """Snap to a 1e-5 degree grid and make the zones a clean coverage: no overlaps, no slivers.

    All overlay operations use `grid_size`, so results stay on the grid (snap rounding) and
    stay valid. Overlaps (4 edges of the 2013 towns overlap by a few m^2) go to the lowest id; holes
    left inside the state go to the zone sharing the longest edge with them.
    """
    geoms = [shapely.set_precision(g, grid_size) for g in geoms]
    order = sorted(range(len(geoms)), key=lambda k: ids[k])
    tree = shapely.STRtree(geoms)
    done = set()
    for k in order:
        earlier = [j for j in tree.query(geoms[k], predicate="intersects") if j in done]
        if earlier:
            taken = shapely.union_all([geoms[j] for j in earlier], grid_size=grid_size)
            geoms[k] = _polygonal(shapely.difference(geoms[k], taken, grid_size=grid_size))
        done.add(k)
    for _ in range(3):
        # coverage union (edges matched exactly, not snapped): a snapped or order-dependent union hides
        # centimetre-wide slivers between zones that are real gaps in the written file
        holes = [shapely.Polygon(r) for p in shapely.get_parts(shapely.coverage_union_all(geoms)) for r in p.interiors]
        if not holes:
            break
        tree = shapely.STRtree(geoms)
        for hole in holes:
            near = tree.query(hole, predicate="intersects")
            j = max(near, key=lambda j: shapely.intersection(geoms[j].boundary, hole.exterior).length)
            geoms[j] = _polygonal(shapely.union(geoms[j], hole))
    return geoms


def write(zones, path: Path):
    feats = []
    for t, c, g in sorted(zones, key=lambda z: slug(z[0])):
        props = {"zone": "VT-" + slug(t), "sort_center": "SC-" + slug(c), "route": slug(t), "town": t, "county": c}
        geom = mapping(g)
        feats.append({"type": "Feature", "properties": props, "geometry": _round(geom)})
    doc = {"type": "FeatureCollection", "features": feats}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def _round(geom):
    def r(c):
        if isinstance(c[0], (float, int)):
            return [round(c[0], 5), round(c[1], 5)]
        return [r(x) for x in c]

    return {"type": geom["type"], "coordinates": r(geom["coordinates"])}


def grid_stats(zones: Zones, lon, lat):
    """Per cell size: populated cells, addresses per cell, border cells and misassigned addresses."""
    own = np.array([z.id if z else "" for z in zones.zones_at(lon, lat)])
    print("\ncell | populated cells | addr/cell median p95 max | cells w/ >1 zone | addr in such cells | "
          "addr whose cell centre is in another zone")
    for size in (50.0, 100.0, 200.0):
        g = Grid(cell_size_m=size)
        d, i, _ = g.cells(lon, lat)
        key = d.astype(np.int64) * (1 << 20) + i
        uk, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        cz = np.array([z.id if z else "" for z in zones.zone_of_cells(g, uk >> 20, uk & ((1 << 20) - 1))])
        pairs = np.unique(np.stack([inv, np.unique(own, return_inverse=True)[1]]), axis=1)
        nz = np.bincount(pairs[0], minlength=len(uk))
        border = nz > 1
        moved = (own != cz[inv]) & (own != "")
        print(
            f"{size:>4.0f} m | {len(uk):>7,} | {np.median(counts):.0f} {np.percentile(counts, 95):.0f} {counts.max()} |"
            f" {border.sum():,} ({border.mean():.2%}) | {border[inv].mean():.2%} | {moved.sum():,} ({moved.mean():.3%})"
        )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "data" / "vt-zones.geojson")
    ap.add_argument("--extend", type=float, default=500.0, help="metres to grow the state outline (default 500)")
    ap.add_argument("--simplify", type=float, default=10.0,
                    help="coverage simplification tolerance, metres (default 10)")
    ap.add_argument("--grid-stats", action="store_true", help="compare 50/100/200 m cells on the E911 points")
    args = ap.parse_args(argv)
    if not TOWNS.exists():
        sys.exit(f"{TOWNS} not found: this script needs ../shared/data next to the repository")
    grid = Grid()
    towns, repaired = load_towns()
    print(f"towns: {len(towns)}, repaired with make_valid: {repaired}")
    lon, lat, city = load_points()
    share, outside = coverage(zones_from(towns), grid, lon, lat)
    print(f"raw towns: {share:.4%} of {len(lon):,} E911 points have their 100 m cell centre in a town "
          f"({outside:,} outside)")
    zones, cities = derive(towns, grid, args.extend, args.simplify)
    print(f"added city zones for holes: {cities}")
    write(zones, args.output)
    loaded = load_zones(args.output)
    share, outside = coverage(loaded, grid, lon, lat)
    size = args.output.stat().st_size
    centers = {z.sort_center for z in loaded}
    print(f"derived: {len(loaded)} zones, {len(centers)} sort centers, {size:,} bytes, "
          f"repairs on load: {len(loaded.repairs)}")
    print(f"derived: {share:.4%} of E911 points have their 100 m cell centre in a zone ({outside:,} outside)")
    print(f"sha256 {loaded.sha256}")
    # agreement of the zone's town with the E911 town name (2013 boundaries, names differ: ST. vs SAINT)
    zt = np.array([dict(z.fields)["town"] if z else "" for z in loaded.zones_at(lon, lat)])
    norm = np.char.replace(np.char.replace(city, "SAINT ", "ST. "), " TOWN", "")
    print(f"zone town == E911 town (point itself): {(zt == norm).mean():.2%}")
    if args.grid_stats:
        grid_stats(loaded, lon, lat)
    return 0


if __name__ == "__main__":
    sys.exit(main())

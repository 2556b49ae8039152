"""Delivery zones for a region of one's own: built from the reference's points or from a polygon file; checked.

`build_zones` writes the schema `addrcode.zones.load_zones` reads: a GeoJSON FeatureCollection (lon/lat
WGS84) of Polygon/MultiPolygon features with properties `zone` (unique id), `sort_center`, optionally
`route`, and extra properties kept as destination fields (here `points`, the reference points routed to the
zone, and the postcode or town and state it was drawn from). From the reference, in the grid's CRS:

1. Every point votes for its group (postcode, or town: one (name, state, district) row of the reference) in
   its cell; a cell takes the group with most votes (ties: lowest zone id). Points without one do not vote.
2. Every issuable cell (`cells.issuable_cells`) and every point cell is a seed; seeds without a vote
   (interpolation only) take the label of the nearest voting cell.
3. The Voronoi diagram of the seed centres, dissolved per group, clipped to the seeds' blocks grown by
   `margin_m`: zones are disjoint by construction, cover every issuable cell with a margin, and every seed
   centre is at least half a cell inside its own zone, far beyond what reprojection moves an edge.
4. Edges densified to one cell, reprojected, rounded to 1e-7 degrees (1 cm; shared vertices round alike,
   so the zones still tile).

A polygon file's polygons (`source`, `id_field`) are used as they are (invalid ones repaired, reported).
Sort centers: from a CSV (header `zone,sort_center[,route,...]`, a row per built zone, further columns
become destination fields), or `sort_centers=N` balanced contiguous groups (`balanced_groups`, SC01...),
or by default **one**, SC01: a region building its own zones usually starts with one depot, and one sort
center keeps the station table one extract (a sort center per zone would make a station per zone).

The file is checked before it replaces anything: written to the safe writer's temporary file, loaded with
`load_zones`, checked for overlaps and (built zones) every seed cell in its own zone, then renamed.
`check_zones` reports overlaps, gaps and invalid polygons of any zones file. Nothing here prints an
address or a coordinate; cells are named by district:index.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.errors import DataError, UsageError

MARGIN_M = 2000.0  # how far zones reach beyond the outermost issuable cells
OVERLAP_TOLERANCE_M2 = 1.0  # overlaps smaller than this are rounding, not a drawing error
_BLOCK_M = 1000.0  # the clip mask is built from blocks of about this size (cheaper than buffering every cell)
_ROUND_DIGITS = 7  # 1e-7 degrees ~ 1 cm: a zone file a third the size of full doubles, same zones
_GROUP_BITS = 28  # a vote key is cell key (35 bits) << 28 | group: one int64, so votes are counted by sorting
_NO_GROUP = (1 << _GROUP_BITS) - 1
_CHUNK = 400_000
RESERVED = ("zone", "sort_center", "route", "points")


@dataclass(frozen=True)
class BuildSummary:
    """What `build_zones` wrote: counts only, never an address or a coordinate."""

    output: str
    by: str  # "postcode", "town" or "file"
    zones: int
    cells: int  # issuable cells
    points: int  # reference points read
    sort_centers: int
    unlabelled_points: int = 0  # points without a postcode / town: they did not vote
    absorbed_groups: tuple[str, ...] = ()  # postcodes / towns that won no cell: their points go to neighbours
    cells_outside: int = 0  # from a polygon file: issuable cells whose centre is in no zone
    overlaps: int = 0  # from a polygon file: overlapping zone pairs
    repaired: tuple[str, ...] = ()  # from a polygon file: zones repaired with make_valid
    seconds: float = 0.0
    warnings: tuple[str, ...] = field(default=(), repr=False)

    def to_text(self) -> str:
        """One line for stderr."""
        text = (f"wrote {self.output}: {self.zones:,} zone{'s' * (self.zones != 1)} (by {self.by}), "
                f"{self.cells:,} issuable cells, {self.points:,} points, "
                f"{self.sort_centers:,} sort center{'s' * (self.sort_centers != 1)}")
        extra = [text for count, text in (
            (self.unlabelled_points, f"{self.unlabelled_points:,} points without a {self.by} did not vote"),
            (self.absorbed_groups, f"{len(self.absorbed_groups):,} {self.by}s won no cell"),
            (self.cells_outside, f"{self.cells_outside:,} issuable cells in no zone"),
            (self.overlaps, f"{self.overlaps:,} overlapping zone pairs"),
            (self.repaired, f"{len(self.repaired):,} polygons repaired")) if count]
        return text + "".join(f"; {e}" for e in extra) + f" ({self.seconds:.1f} s)"


@dataclass(frozen=True)
class ZoneCheck:
    """What `check_zones` found in a zones file against a reference's issuable cells."""

    path: str
    zones: int
    cells: int
    overlaps: tuple[tuple[str, str, float], ...]  # (zone a, zone b, area m^2), largest first
    gaps: int  # issuable cells whose centre is in no zone
    gap_examples: tuple[str, ...]  # a few of them as "district:index"
    invalid: tuple[tuple[str, str], ...]  # (zone, reason) of polygons invalid in the file (repaired on load)

    @property
    def ok(self) -> bool:
        """No overlap, no gap, no invalid polygon."""
        return not (self.overlaps or self.gaps or self.invalid)

    def to_dict(self) -> dict:
        """JSON-ready: the counts and the problems found."""
        return {"path": self.path, "ok": self.ok, "zones": self.zones, "cells": self.cells,
                "overlaps": [{"zones": [a, b], "area_m2": round(area, 1)} for a, b, area in self.overlaps],
                "gaps": self.gaps, "gap_examples": list(self.gap_examples),
                "invalid": [{"zone": z, "reason": r} for z, r in self.invalid]}

    def to_text(self) -> str:
        """A few lines for people."""
        over = ", ".join(f"{a}/{b} {area:,.0f} m2" for a, b, area in self.overlaps[:10])
        gaps = ", ".join(self.gap_examples) + " ..." * (self.gaps > len(self.gap_examples))
        bad = ", ".join(f"{z} ({r})" for z, r in self.invalid[:10]) + " ..." * (len(self.invalid) > 10)
        lines = [f"{self.path}: {self.zones:,} zones, {self.cells:,} issuable cells checked",
                 f"overlaps: {len(self.overlaps):,} zone pairs ({over}{' ...' * (len(self.overlaps) > 10)})"
                 if self.overlaps else "overlaps: none",
                 f"gaps: {self.gaps:,} issuable cells in no zone (cells {gaps})" if self.gaps else "gaps: none",
                 f"invalid polygons (repaired on load): {bad}" if self.invalid else "invalid polygons: none"]
        lines.append("ok" if self.ok else "problems found")
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading the reference


@dataclass
class _Votes:
    """Points counted per (cell, group): `cell` keys (district << 20 | index), `group` ids, `count`."""

    cell: object
    group: object
    count: object
    names: list  # per group id: (zone id stem, extra properties); filled by the reader
    points: int
    unlabelled: int


def _town_arrays(db):
    """(city id of each street id, group id of each city id, [(state, name, district)] per group)."""
    import numpy as np

    streets = np.array(db.execute("SELECT id, city_id FROM streets").fetchall(), dtype=np.int64).reshape(-1, 2)
    street_city = np.zeros(int(streets[:, 0].max(initial=0)) + 1, dtype=np.int64)
    street_city[streets[:, 0]] = streets[:, 1]
    cities = db.execute("SELECT id, name, state, district FROM cities ORDER BY id").fetchall()
    city_group = np.full(max((c[0] for c in cities), default=0) + 1, _NO_GROUP, dtype=np.int64)
    towns = []
    for cid, name, state, district in cities:  # one row per town, not per point
        if (name or "").strip():
            city_group[cid] = len(towns)
            towns.append(((state or "").strip(), name.strip(), (district or "").strip()))
    return street_city, city_group, towns


def _postcode_groups(postcodes, states, town_state, known: dict) -> object:
    """Group id of each point of a chunk by (state, postcode); new pairs are added to `known` (one entry
    per distinct pair of the chunk, never per point)."""
    import numpy as np

    pcs = np.char.strip(np.asarray(postcodes, dtype=str))
    upc, pinv = np.unique(pcs, return_inverse=True)
    ust, sinv = np.unique(states, return_inverse=True)
    pair, inv = np.unique(pinv * len(ust) + sinv, return_inverse=True)
    ids = np.empty(len(pair), dtype=np.int64)
    for k, p in enumerate(pair.tolist()):
        pc, st = str(upc[p // len(ust)]), town_state[int(ust[p % len(ust)])]
        ids[k] = _NO_GROUP if not pc else known.setdefault((st, pc), len(known))
    return ids[inv]


def _read_votes(reference_path, grid, by: str | None) -> _Votes:
    """Count the reference's points per (cell, group), reading them in chunks (bounded memory)."""
    import numpy as np

    from addrcode.geocoding.reference import open_reference

    db = open_reference(Path(reference_path))
    parts, known, points, unlabelled, last = [], {}, 0, 0, 0
    try:
        street_city, city_group, towns = _town_arrays(db)
        town_state = [t[0] for t in towns] + [""]  # the state of group ids, "" for towns without a name
        city_state = np.where(city_group == _NO_GROUP, len(towns), city_group)
        while True:
            rows = db.execute("SELECT id, street_id, postcode, lon, lat FROM points WHERE id > ? ORDER BY id LIMIT ?",
                              (last, _CHUNK)).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            street = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            lon = np.fromiter((r[3] for r in rows), dtype=np.float64, count=len(rows))
            lat = np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows))
            city = street_city[np.clip(street, 0, len(street_city) - 1)]
            if by == "postcode":
                group = _postcode_groups([r[2] or "" for r in rows], city_state[city], town_state, known)
            elif by == "town":
                group = city_group[city]
            else:  # a polygon file: points are only counted
                group = np.zeros(len(rows), dtype=np.int64)
            d, i, ok = grid.cells(lon, lat)
            points += len(rows)
            unlabelled += int((group[ok] == _NO_GROUP).sum())
            key = (((d[ok].astype(np.int64) << 20) | i[ok]) << _GROUP_BITS) | group[ok]
            parts.append(np.unique(key, return_counts=True))
    except sqlite3.DatabaseError:
        raise DataError(f"{reference_path}: reference unreadable; rebuild it with `addrcode reference build`") from None
    finally:
        db.close()
    if parts:
        key, inv = np.unique(np.concatenate([k for k, _ in parts]), return_inverse=True)
        count = np.bincount(inv, weights=np.concatenate([c for _, c in parts])).astype(np.int64)
    else:
        key, count = np.empty(0, np.int64), np.empty(0, np.int64)
    names = _group_names(by, known, towns)
    return _Votes(key >> _GROUP_BITS, key & _NO_GROUP, count, names, points, unlabelled)


def _slug(text: str) -> str:
    """`ST. JOHNSBURY` -> `ST-JOHNSBURY`: a stable zone id part (letters and digits of any script)."""
    return re.sub(r"[\W_]+", "-", text.upper().replace("'", "")).strip("-")


def _group_names(by, known: dict, towns: list) -> list:
    """Per group id: (zone id, extra properties). A postcode is its own id unless it occurs in two states
    (then STATE-POSTCODE); a town is STATE-TOWN, plus -DISTRICT when one state has two towns of that name."""
    from collections import Counter

    if by == "postcode":
        states_of = Counter(pc for _, pc in known)
        out = [None] * len(known)
        for (st, pc), gid in known.items():
            out[gid] = (f"{st}-{pc}" if states_of[pc] > 1 and st else pc, {k: v for k, v in (("postcode", pc),
                        ("state", st)) if v})
        return out
    if by != "town":
        return [("", {})]
    base = [f"{st}-{_slug(name)}" if st else _slug(name) for st, name, _ in towns]
    twice = Counter(base)
    return [(f"{stem}-{_slug(district)}" if twice[stem] > 1 and district else stem,
             {k: v for k, v in (("town", name), ("state", st), ("district", district)) if v})
            for stem, (st, name, district) in zip(base, towns)]


def _label_seeds(votes: _Votes, grid, cell_d, cell_i):
    """(seed cells as sorted keys, group rank of each, group ids in rank order), or None without any vote.

    Seeds are the issuable cells and the point cells. A voting cell takes its majority; ranks are positions
    in zone id order, so a tie goes to the lowest zone id whatever order the reference lists its points in
    (points without a group rank last, never winning). The others (interpolation only, or only points
    without a group) take the group of the nearest voting cell, equidistant ones the lowest zone id.
    """
    import numpy as np
    import shapely

    ids = [n[0] for n in votes.names]
    order = sorted(range(len(ids)), key=lambda g: ids[g])
    rank = np.full(len(ids) + 1, len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    grp = rank[np.where(votes.group == _NO_GROUP, len(ids), votes.group)]
    voted = grp < len(ids)
    o = np.lexsort((grp[voted], -votes.count[voted], votes.cell[voted]))
    cell, grp = votes.cell[voted][o], grp[voted][o]
    first = np.ones(len(cell), dtype=bool)
    first[1:] = cell[1:] != cell[:-1]
    if not first.any():
        return None
    issuable = (np.asarray(cell_d, dtype=np.int64) << 20) | np.asarray(cell_i, dtype=np.int64)
    seeds = np.union1d(issuable, votes.cell)
    label = np.full(len(seeds), -1, dtype=np.int64)
    label[np.searchsorted(seeds, cell[first])] = grp[first]
    todo, done = np.flatnonzero(label < 0), np.flatnonzero(label >= 0)
    if len(todo):
        pts = shapely.points(*grid.center_xy(seeds >> 20, seeds & 0xFFFFF))
        src, hit = shapely.STRtree(pts[done]).query_nearest(pts[todo], all_matches=True)
        best = np.full(len(todo), len(ids), dtype=np.int64)
        np.minimum.at(best, src, label[done][hit])
        label[todo] = best
    return seeds, label, order


def _mask(grid, seeds, margin_m: float):
    """Where zones may reach: the blocks (~1 km, aligned to the cells) holding a seed, grown by `margin_m`.
    Blocks, not cells: the union of a few thousand squares is buffered in well under a second."""
    import numpy as np
    import shapely

    k = max(1, round(_BLOCK_M / grid.cell_size_m))
    x0, y0 = grid.origin
    x, y = grid.corner_xy(seeds >> 20, seeds & 0xFFFFF)
    cells = np.rint(np.stack([x - x0, y - y0], axis=1) / grid.cell_size_m).astype(np.int64)  # column, row
    blocks = np.unique(cells // k, axis=0)
    side = k * grid.cell_size_m
    bx, by = x0 + blocks[:, 0] * side, y0 + blocks[:, 1] * side
    squares = shapely.box(bx, by, bx + side, by + side)
    # the squares share exact edges (same arithmetic on the same integers), a valid coverage: the fast union
    area = shapely.coverage_union_all(squares)
    return area.buffer(margin_m, quad_segs=4).simplify(grid.cell_size_m)


def _polygonal(geom):
    """A valid polygonal geometry (make_valid, polygon parts only), or None when nothing is left."""
    import shapely

    from addrcode.zones import _polygonal as parts_only

    if geom is None or geom.is_empty:
        return None
    return parts_only(geom if geom.is_valid else shapely.make_valid(geom))


def _draw(grid, seeds, label, n_zones: int, margin_m: float):
    """One projected polygon per zone rank 0..n_zones-1: the Voronoi cells of its seeds, dissolved, clipped."""
    import numpy as np
    import shapely

    mask = _mask(grid, seeds, margin_m)
    if n_zones == 1:  # one zone: everything (a Voronoi diagram of one site is empty)
        return [_polygonal(mask)]
    sites = shapely.multipoints(shapely.points(*grid.center_xy(seeds >> 20, seeds & 0xFFFFF)))
    cells = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=mask, ordered=True))
    if len(cells) != len(seeds):
        raise DataError(f"zones build: the Voronoi diagram has {len(cells)} cells for {len(seeds)} sites; "
                        "please report this")
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_zones + 1))
    # Voronoi cells tile the plane with exactly shared edges: coverage_union is exact and fast
    merged = [shapely.coverage_union_all(cells[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]
    clipped = shapely.intersection(np.array(merged, dtype=object), mask)
    return [_polygonal(g) for g in clipped]


def _to_lonlat(geom, grid):
    """Projected polygon -> lon/lat, edges densified to one cell first (a straight projected edge is a curve
    in lon/lat), vertices rounded to `_ROUND_DIGITS` (shared vertices round alike: the tiling is kept)."""
    import numpy as np
    import shapely

    _, inv = grid._transformers()
    lonlat = lambda c: np.round(np.column_stack(inv.transform(c[:, 0], c[:, 1])), _ROUND_DIGITS)
    return _polygonal(shapely.transform(shapely.segmentize(geom, grid.cell_size_m), lonlat))


def _project(geom, grid):
    """lon/lat polygon -> grid CRS, densified first (0.005 degrees, as `addrcode.zones` does for lookups)."""
    import numpy as np
    import shapely

    dense = shapely.segmentize(geom, 0.005)
    return shapely.transform(dense, lambda c: np.column_stack(grid.project(c[:, 0], c[:, 1])))


def _overlaps(geoms, ids, tolerance_m2: float):
    """(id a, id b, area m^2) of every pair of projected polygons overlapping by more than the tolerance."""
    import numpy as np
    import shapely

    geoms = np.array(geoms, dtype=object)
    if len(geoms) < 2:
        return ()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    area = shapely.area(shapely.intersection(geoms[a], geoms[b]))
    big = np.flatnonzero(area > tolerance_m2)
    found = [(ids[a[k]], ids[b[k]], float(area[k])) for k in big.tolist()]
    return tuple(sorted(found, key=lambda t: (-t[2], t[0], t[1])))


@dataclass
class _Plan:
    """Zones ready to be given sort centers and written: everything in zone id order."""

    ids: list
    geometries: list  # GeoJSON geometry dicts (lon/lat)
    extras: list  # extra properties per zone
    points: object  # points routed to each zone
    x: object  # point-weighted centre of each zone (grid CRS), for balancing sort centers
    y: object
    verify: object  # callable(Zones) raising DataError when the written file is wrong
    info: dict


def _centres(zone_of_cell, cell_keys, weights, n_zones, grid, fallback=None):
    """Point-weighted mean cell centre of each zone; `fallback` (x, y arrays) for zones without a point."""
    import numpy as np

    x, y = grid.center_xy(cell_keys >> 20, cell_keys & 0xFFFFF)
    inside = zone_of_cell >= 0
    z, w = zone_of_cell[inside], weights[inside].astype(np.float64)
    total = np.bincount(z, weights=w, minlength=n_zones)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.bincount(z, weights=w * x[inside], minlength=n_zones) / total
        cy = np.bincount(z, weights=w * y[inside], minlength=n_zones) / total
    if fallback is not None:
        empty = total == 0
        cx[empty], cy[empty] = fallback[0][empty], fallback[1][empty]
    return cx, cy


def _plan_from_reference(votes: _Votes, grid, cell_d, cell_i, by: str, margin_m: float) -> _Plan:
    """Label the cells, draw the zones and say how to verify the written file."""
    import numpy as np
    from shapely.geometry import mapping

    labelled = _label_seeds(votes, grid, cell_d, cell_i)
    if labelled is None:
        raise DataError(f"zones build: no point of the reference has a {by}; use --by "
                        f"{'town' if by == 'postcode' else 'postcode'} or --from FILE.geojson --id-field NAME")
    seeds, rank, order = labelled
    used, label = np.unique(rank, return_inverse=True)  # zones: the groups that won a cell, in id order
    ids = [votes.names[order[r]][0] for r in used.tolist()]
    extras = [votes.names[order[r]][1] for r in used.tolist()]
    per_seed = np.bincount(np.searchsorted(seeds, votes.cell), weights=votes.count, minlength=len(seeds))
    points = np.bincount(label, weights=per_seed, minlength=len(ids)).astype(np.int64)
    drawn = [_to_lonlat(g, grid) for g in _draw(grid, seeds, label, len(ids), margin_m)]
    lost = [ids[k] for k, g in enumerate(drawn) if g is None]
    if lost:
        raise DataError(f"zones build: zone {lost[0]} has no area left after drawing; please report this")
    cx, cy = _centres(label, seeds, per_seed, len(ids), grid)

    def verify(zones) -> None:
        over = _overlaps([_project(z.geometry, grid) for z in zones], [z.id for z in zones], OVERLAP_TOLERANCE_M2)
        if over:
            raise DataError(f"zones build: the drawn zones {over[0][0]} and {over[0][1]} overlap by "
                            f"{over[0][2]:.0f} m2 after reprojection; nothing was written (please report this)")
        pos = zones.zone_positions_of_cells(grid, seeds >> 20, seeds & 0xFFFFF)
        wrong = int((pos != label).sum())
        if wrong:
            raise DataError(f"zones build: {wrong} cells are not in their own zone in the written file; "
                            "nothing was written (please report this)")

    absorbed = sorted(set(n[0] for n in votes.names) - set(ids))
    return _Plan(ids, [mapping(g) for g in drawn], extras, points, cx, cy, verify,
                 {"absorbed_groups": tuple(absorbed)})


# --------------------------------------------------------------------------- zones from a polygon file


def _read_polygons(source, id_field: str):
    """[(zone id, lon/lat geometry, GeoJSON geometry to write, extra properties)] and the repaired ids."""
    import math

    from shapely.geometry import mapping, shape

    where = f"polygon file {source}"
    try:
        doc = json.loads(Path(source).read_bytes())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        why = f"cannot read it ({exc.strerror})" if isinstance(exc, OSError) else "not valid JSON"
        raise DataError(f"{where}: {why}; give a GeoJSON FeatureCollection") from None
    feats = doc.get("features") if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else None
    if not isinstance(feats, list) or not feats:
        raise DataError(f"{where}: not a GeoJSON FeatureCollection with features")
    props = [f.get("properties") or {} if isinstance(f, dict) else {} for f in feats]
    names = sorted({k for p in props if isinstance(p, dict) for k in p})
    out, repaired, seen = [], [], {}
    for n, (feat, prop) in enumerate(zip(feats, props)):
        value = prop.get(id_field) if isinstance(prop, dict) else None
        zid = "" if value is None else str(int(value) if isinstance(value, float) and value.is_integer() else value)
        if not zid.strip():
            shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "") if names else "none"
            raise DataError(f"{where}, feature {n}: no property {id_field!r} (--id-field); the features' "
                            f"properties are: {shown}")
        if (zid := zid.strip()) in seen:
            raise DataError(f"{where}, feature {n}: zone id {zid!r} already used by feature {seen[zid]}")
        seen[zid] = n
        gj = feat.get("geometry")
        if not isinstance(gj, dict) or gj.get("type") not in ("Polygon", "MultiPolygon"):
            raise DataError(f"{where}, feature {n} (zone {zid!r}): not a Polygon or MultiPolygon")
        try:
            geom = shape(gj)
            b = geom.bounds
            lonlat = all(map(math.isfinite, b)) and -180 <= b[0] <= b[2] <= 180 and -90 <= b[1] <= b[3] <= 90
        except Exception:  # shapely raises several types for malformed coordinate arrays
            geom, lonlat = None, False
        if geom is None or geom.is_empty or not lonlat:
            raise DataError(f"{where}, feature {n} (zone {zid!r}): malformed, empty or not lon/lat degrees (WGS84)")
        if not geom.is_valid:
            geom = _polygonal(geom)
            if geom is None:
                raise DataError(f"{where}, feature {n} (zone {zid!r}): invalid polygon with no area after repair")
            repaired.append(zid)
            gj = mapping(geom)
        extra = {k: v for k, v in prop.items() if k not in RESERVED and k != id_field}
        out.append((zid, geom, gj, extra))
    out.sort(key=lambda t: t[0])
    return out, sorted(repaired)


def _plan_from_file(votes: _Votes, grid, cell_d, cell_i, polygons, repaired) -> _Plan:
    """The file's polygons (`_read_polygons`) as zones; the points and issuable cells counted against them."""
    import numpy as np
    import shapely

    from addrcode.zones import Zone, Zones

    ids = [p[0] for p in polygons]
    zones = Zones(tuple(Zone(p[0], "-", "", (), p[1]) for p in polygons), "")
    cell, inv = np.unique(votes.cell, return_inverse=True)
    counts = np.bincount(inv, weights=votes.count, minlength=len(cell))
    where = zones.zone_positions_of_cells(grid, cell >> 20, cell & 0xFFFFF)
    points = np.bincount(where[where >= 0], weights=counts[where >= 0], minlength=len(ids)).astype(np.int64)
    outside = int((zones.zone_positions_of_cells(grid, cell_d, cell_i) < 0).sum())
    projected = [_project(p[1], grid) for p in polygons]
    overlaps = _overlaps(projected, ids, OVERLAP_TOLERANCE_M2)

    middle = shapely.centroid(np.array(projected, dtype=object))
    cx, cy = _centres(where, cell, counts, len(ids), grid, (shapely.get_x(middle), shapely.get_y(middle)))
    info = {"cells_outside": outside, "overlaps": len(overlaps), "repaired": tuple(repaired)}
    return _Plan(ids, [p[2] for p in polygons], [p[3] for p in polygons], points, cx, cy, lambda zones: None, info)


# --------------------------------------------------------------------------- sort centers


def balanced_groups(x, y, weight, n: int):
    """Group numbers 0..n-1 for points (x, y) with weights: n contiguous groups of about equal weight.

    Recursive bisection: a set due k groups is cut across its longer side at the weighted quantile
    floor(k/2)/k (the weighted median when k is even), each side keeping at least one point per group;
    group numbers run from the low side (west or south) up. All-zero weights count every point as 1.
    """
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.sum() <= 0:
        weight = np.ones(len(x))
    groups = np.zeros(len(x), dtype=np.int64)
    todo = [(np.arange(len(x)), n, 0)]
    while todo:
        idx, k, first = todo.pop()
        if k == 1:
            groups[idx] = first
            continue
        xs, ys = x[idx], y[idx]
        along, across = (xs, ys) if np.ptp(xs) >= np.ptp(ys) else (ys, xs)
        idx = idx[np.lexsort((idx, across, along))]
        cum = np.cumsum(weight[idx])
        low = k // 2
        cuts = np.arange(low, len(idx) - (k - low) + 1)  # points on the low side
        best = int(cuts[np.argmin(np.abs(cum[cuts - 1] - cum[-1] * low / k))])
        todo += [(idx[:best], low, first), (idx[best:], k - low, first + low)]
    return groups


def _read_sort_csv(path, zone_ids, warn):
    """{zone: (sort center, route, extra columns)} from a CSV with a header `zone,sort_center[,route,...]`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        why = f"cannot read it ({exc.strerror})" if isinstance(exc, OSError) else "not a UTF-8 CSV file"
        raise DataError(f"sort centers file {path}: {why}") from None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "zone" not in header or "sort_center" not in header:
        raise DataError(f"sort centers file {path}: the first row must be the header zone,sort_center[,route,...]")
    col = {h: k for k, h in enumerate(header)}
    table = {}
    for line, row in enumerate(rows[1:], start=2):
        cell = {h: row[k].strip() if k < len(row) else "" for h, k in col.items()}
        if not any(cell.values()):
            continue
        if not (zone := cell["zone"]) or not cell["sort_center"]:
            raise DataError(f"sort centers file {path}, line {line}: a zone and its sort center are both needed")
        if zone in table:
            raise DataError(f"sort centers file {path}, line {line}: zone {zone!r} is listed twice")
        extra = {h: v for h, v in cell.items() if h not in RESERVED and h and v}
        table[zone] = (cell["sort_center"], cell.get("route", ""), extra)
    missing = [z for z in zone_ids if z not in table]
    if missing:
        raise DataError(f"sort centers file {path}: no row for {len(missing)} of the {len(zone_ids)} zones built "
                        f"({', '.join(missing[:5])}{' ...' * (len(missing) > 5)}); add a row per zone")
    unknown = sorted(set(table) - set(zone_ids))
    if unknown:
        warn(f"sort centers file {path}: {len(unknown)} zones are not among the zones built "
             f"({', '.join(unknown[:5])}{' ...' * (len(unknown) > 5)}); their rows are ignored")
    return table


def _assign_sort_centers(plan: _Plan, n, csv_path, warn):
    """(sort center, route, extra properties) per zone."""
    if csv_path is not None:
        table = _read_sort_csv(csv_path, plan.ids, warn)
        return [table[z] for z in plan.ids]
    n = n or 1
    if n > len(plan.ids):
        raise UsageError(f"--sort-centers {n}: only {len(plan.ids)} zones were built; give at most {len(plan.ids)}")
    width = max(2, len(str(n)))  # SC01, SC02 ... (SC001 from 100 on): names that sort in order
    return [(f"SC{g + 1:0{width}d}", "", {}) for g in balanced_groups(plan.x, plan.y, plan.points, n).tolist()]


def _write_checked(output, features: list, file_mode: int, verify):
    """Write the FeatureCollection through the safe writer, and load and verify the very bytes written
    before they are renamed into place: a file that fails leaves the old `output` as it was."""
    import os

    from addrcode.files import output_path
    from addrcode.zones import load_zones

    text = ('{"type":"FeatureCollection","features":[\n'
            + ",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features) + "\n]}\n")
    try:
        with output_path(output, mode=file_mode) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                verify(load_zones(tmp))
            except DataError as exc:
                raise DataError(str(exc).replace(str(tmp), str(output))) from None
    except OSError as exc:
        raise DataError(f"{output}: cannot write the zones file ({exc.strerror}); nothing was written") from None


def build_zones(reference_path, grid, *, by: str = "postcode", source=None, id_field: str | None = None,
                sort_centers: int | None = None, sort_centers_csv=None, output, file_mode: int = 0o600,
                progress=None, margin_m: float = MARGIN_M) -> BuildSummary:
    """Build a zones file for the reference's region (see the module docstring) and return its summary.

    `by` "postcode" or "town" draws zones from the reference's points; `source` (a GeoJSON polygon file)
    with `id_field` (the property holding each zone's id) takes them from the file instead. Sort centers
    from `sort_centers_csv`, or `sort_centers` balanced groups, else one (SC01). `progress(text)` gets
    the warnings. Raises DataError for unusable files (nothing is then written), UsageError for bad options.
    """
    from addrcode.stations.cells import issuable_cells

    start = time.monotonic()
    if source is None and by not in ("postcode", "town"):
        raise UsageError(f"zones build: --by must be postcode or town, not {by!r}")
    if source is not None and not id_field:
        raise UsageError("zones build: --from FILE.geojson needs --id-field NAME (the property holding the zone id)")
    if sort_centers is not None and (sort_centers_csv is not None or sort_centers < 1):
        raise UsageError("zones build: --sort-centers N must be at least 1, and not given with --sort-centers-csv")
    warnings: list[str] = []

    def warn(text: str) -> None:
        warnings.append(text)
        if progress is not None:
            progress(f"warning: {text}")

    polygons = _read_polygons(source, id_field) if source is not None else None  # a bad file fails first
    cell_d, cell_i = issuable_cells(reference_path, grid)
    votes = _read_votes(reference_path, grid, None if source is not None else by)
    if polygons is not None:
        plan = _plan_from_file(votes, grid, cell_d, cell_i, *polygons)
    else:
        plan = _plan_from_reference(votes, grid, cell_d, cell_i, by, margin_m)
    centers = _assign_sort_centers(plan, sort_centers, sort_centers_csv, warn)
    features = []
    for zid, geometry, extra, points, (center, route, more) in zip(plan.ids, plan.geometries, plan.extras,
                                                                    plan.points.tolist(), centers):
        props = {"zone": zid, "sort_center": center} | ({"route": route} if route else {})
        props |= extra | more | {"points": int(points)}
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    _write_checked(output, features, file_mode, plan.verify)
    info, absorbed = plan.info, plan.info.get("absorbed_groups", ())
    if absorbed:
        warn(f"{len(absorbed)} {by}s won no cell (their points are in neighbouring zones): "
             + ", ".join(absorbed[:5]) + " ..." * (len(absorbed) > 5))
    if info.get("cells_outside") or info.get("overlaps"):
        warn(f"{info.get('cells_outside', 0):,} issuable cells are in no zone, {info.get('overlaps', 0):,} zone "
             f"pairs overlap; see `addrcode zones check {output}`")
    return BuildSummary(str(output), "file" if source is not None else by, len(plan.ids), len(cell_d),
                        votes.points, len({c[0] for c in centers}), unlabelled_points=votes.unlabelled,
                        seconds=time.monotonic() - start, warnings=tuple(warnings), **info)


def _invalid_in_file(path, zones) -> tuple:
    """(zone, reason) of each polygon `load_zones` repaired; GEOS's reason without its coordinate (no places)."""
    import shapely
    from shapely.geometry import shape

    reasons = {}
    for feat in json.loads(Path(path).read_bytes())["features"]:
        zid = str((feat.get("properties") or {}).get("zone", "")).strip()
        try:
            reasons[zid] = shapely.is_valid_reason(shape(feat["geometry"]))
        except Exception:  # load_zones accepted the file; a feature it read differently is just "invalid"
            reasons[zid] = "invalid"
    return tuple((z, re.sub(r"\s*\[[^\]]*\]", "", reasons.get(z, "invalid"))) for z in zones.repairs)


def check_zones(zones_path, reference_path, grid, *, tolerance_m2: float = OVERLAP_TOLERANCE_M2,
                examples: int = 5) -> ZoneCheck:
    """Overlapping zones (grid CRS, above `tolerance_m2`), gaps (issuable cells whose centre is in no zone) and
    polygons invalid in the file. DataError when the zones file or the reference cannot be read."""
    import numpy as np

    from addrcode.stations.cells import issuable_cells
    from addrcode.zones import load_zones

    zones = load_zones(zones_path)
    invalid = _invalid_in_file(zones_path, zones)
    overlaps = _overlaps([_project(z.geometry, grid) for z in zones], [z.id for z in zones], tolerance_m2)
    d, i = issuable_cells(reference_path, grid)
    missing = np.flatnonzero(zones.zone_positions_of_cells(grid, d, i) < 0)
    shown = tuple(f"{d[k]}:{i[k]}" for k in missing[:examples].tolist())
    return ZoneCheck(str(zones_path), len(zones), len(d), overlaps, len(missing), shown, invalid)

"""Zone stage: grid cell -> delivery zone (sort center, route and any destination fields).

A zones file is a GeoJSON FeatureCollection (RFC 7946, lon/lat WGS84) of Polygon / MultiPolygon
features. Each feature's properties carry the zone id (`zone`), the `sort_center`, the `route`
and any extra destination fields (chute, town, ...); the property names are configurable.

A cell belongs to the zone that contains its **centre** (boundary included). Zones may touch, so a
centre lying exactly on a shared border hits two zones: it goes to the one with the lowest zone id
(string order), which makes the assignment deterministic and independent of file order. A centre
outside every zone gives None; the caller rejects the row ("outside every delivery zone").

Codes never depend on zones (see DESIGN.md): this module is only consulted to fill the `zone`
field of `encode` and to build station tables, so redrawing zones changes tables, not labels.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addrcode.errors import DataError

OUTSIDE_REASON = "outside every delivery zone"
"""The reject reason callers use when a cell's centre is in no zone."""

# Straight GeoJSON edges are straight in lon/lat (RFC 7946); densify long edges before projecting so
# the projected polygon follows them (0.005 degrees ~ 400-550 m; the curvature error is then < 1 cm).
_SEGMENT_DEG = 0.005


@dataclass(frozen=True)
class Zone:
    """One delivery zone. `fields` holds the extra destination properties as sorted (name, value) strings.

    `geometry` (shapely Polygon/MultiPolygon in lon/lat, already repaired) takes no part in
    equality or hashing: two zones are the same destination when their attributes are.
    """

    id: str
    sort_center: str
    route: str
    fields: tuple[tuple[str, str], ...] = ()
    geometry: Any = field(default=None, compare=False, hash=False, repr=False)

    def to_dict(self) -> dict[str, str]:
        """Destination as a flat dict: zone, sort_center, route, then the extra fields."""
        d = {"zone": self.id, "sort_center": self.sort_center, "route": self.route}
        d.update(self.fields)
        return d


@dataclass(frozen=True)
class Zones:
    """A loaded zones file: zones sorted by id, the file's SHA-256 and the ids that needed repair."""

    zones: tuple[Zone, ...]
    sha256: str
    repairs: tuple[str, ...] = ()
    path: str = ""
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __len__(self) -> int:
        return len(self.zones)

    def __iter__(self):
        return iter(self.zones)

    def __getstate__(self) -> dict:
        # STRtrees and transformers are rebuilt lazily in each process.
        return {"zones": self.zones, "sha256": self.sha256, "repairs": self.repairs, "path": self.path}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_cache", {})

    def get(self, zone_id: str) -> Zone | None:
        """The zone with this id, or None."""
        by_id = self._cache.get("by_id")
        if by_id is None:
            by_id = self._cache["by_id"] = {z.id: z for z in self.zones}
        return by_id.get(zone_id)

    def _tree(self, grid=None):
        """(STRtree, prepared polygons) of the zones, in lon/lat (grid None) or projected into grid's CRS once."""
        import numpy as np
        import shapely

        key = ("tree", None if grid is None else (grid.crs, grid.cell_size_m))
        tree = self._cache.get(key)
        if tree is None:
            geoms = [z.geometry for z in self.zones]
            if grid is not None:
                fwd, _ = grid._transformers()
                geoms = [
                    shapely.transform(
                        shapely.segmentize(g, _SEGMENT_DEG),
                        lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])),
                    )
                    for g in geoms
                ]
            geoms = np.array(geoms, dtype=object)
            # Prepared polygons make the exact point-in-polygon test ~4x faster than letting the tree
            # run the predicate (which would prepare the points, not the polygons).
            shapely.prepare(geoms)
            tree = (shapely.STRtree(geoms), geoms)
            self._cache[key] = tree
        return tree

    def _first_hit(self, tree, points):
        """For each point, the position (= id order) of the lowest-id zone covering it, or -1.

        `tree` is a (STRtree, polygons) pair; the polygons' order is the zones' (id) order.
        """
        import numpy as np
        import shapely

        strtree, geoms = tree
        n = len(points)
        best = np.full(n, len(geoms), dtype=np.int64)
        if n and len(geoms):
            pi, ti = strtree.query(points)  # bounding-box candidates
            # "intersects" (not "within"): a point on a polygon's boundary belongs to it, so a centre on a
            # shared border hits both zones and the lowest id wins instead of falling through to None.
            hit = shapely.intersects(geoms[ti], points[pi])
            np.minimum.at(best, pi[hit], ti[hit])
        best[best == len(geoms)] = -1
        return best

    def zone_positions_of_cells(self, grid, district, index):
        """Vectorised core of `zone_of_cells`: position in `self.zones` of each cell's zone, or -1."""
        import numpy as np
        import shapely

        district = np.atleast_1d(np.asarray(district, dtype=np.int64))
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        x, y = grid.center_xy(district, index)
        return self._first_hit(self._tree(grid), shapely.points(x, y))

    def zone_of_cells(self, grid, district, index) -> list[Zone | None]:
        """The zone holding each cell's centre (lowest zone id on a shared border), or None.

        `district` and `index` are equal-length int arrays from `Grid.cells`; polygons are projected
        into the grid's CRS once and kept in an STRtree for the life of this object.
        """
        pos = self.zone_positions_of_cells(grid, district, index)
        zones = self.zones
        return [zones[p] if p >= 0 else None for p in pos.tolist()]

    def zone_of_cell(self, grid, district: int, index: int) -> Zone | None:
        """Scalar `zone_of_cells` for row-at-a-time callers, memoised per cell (rows often share cells).

        The memo is bounded (cleared past 200,000 cells) so a long stream keeps constant memory.
        """
        memo = self._cache.get(("memo", grid.crs, grid.cell_size_m))
        if memo is None or len(memo) > 200_000:
            memo = self._cache[("memo", grid.crs, grid.cell_size_m)] = {}
        key = (int(district), int(index))
        if key not in memo:
            memo[key] = self.zone_of_cells(grid, [key[0]], [key[1]])[0]
        return memo[key]

    def zones_at(self, lon, lat) -> list[Zone | None]:
        """The zone containing each lon/lat point itself (not its cell), vectorised."""
        import numpy as np
        import shapely

        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        pos = self._first_hit(self._tree(None), shapely.points(lon, lat))
        return [self.zones[p] if p >= 0 else None for p in pos.tolist()]

    def zone_at(self, lon: float, lat: float, grid=None) -> Zone | None:
        """The zone at one lon/lat point; with `grid`, the zone of the point's cell (what codes use)."""
        if grid is not None:
            cell = grid.cell(lon, lat)
            if cell is None:
                return None
            return self.zone_of_cell(grid, cell.district, cell.index)
        return self.zones_at([lon], [lat])[0]


def _as_text(value: Any) -> str:
    """Property value -> the string a station table stores."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _polygonal(geom):
    """Only the polygonal parts of a geometry (make_valid may add lines/points), or None."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, (Polygon, MultiPolygon)):
        return None if geom.is_empty else geom
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, (Polygon, MultiPolygon)) and not p.is_empty]
    if not parts:
        return None
    out = shapely.union_all(parts)
    return None if out.is_empty else out


def load_zones(
    path,
    *,
    id_field: str = "zone",
    fields: Iterable[str] | None = None,
    sort_center_field: str = "sort_center",
    route_field: str = "route",
) -> Zones:
    """Read a GeoJSON zones file into `Zones`.

    `id_field`, `sort_center_field` and `route_field` name the properties holding the zone id
    (required, unique), sort center (required) and route (may be absent: empty string). `fields`
    lists the extra properties to keep as destination fields (None: every other property).
    Invalid polygons are repaired with `shapely.make_valid` (polygonal parts kept) and their ids
    listed in `Zones.repairs` for the caller to warn about. Raises `DataError` naming the file and
    feature index for: unreadable file, not JSON, not a FeatureCollection, a feature without a
    polygonal geometry (empty, point, line), missing id or sort center, duplicate id, or
    coordinates that are not lon/lat degrees.
    """
    import shapely
    from shapely.geometry import shape

    p = Path(path)
    try:
        if p.exists() and not p.is_file():  # a device or FIFO (/dev/zero) would be read for ever
            raise DataError(f"zones file {p}: not a regular file; give a GeoJSON file")
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"zones file {p}: cannot read it ({exc.strerror}); check the --zones path or config") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"zones file {p}: not valid JSON; give a GeoJSON FeatureCollection of zone polygons") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise DataError(f"zones file {p}: not a GeoJSON FeatureCollection; give one feature per zone polygon")
    keep = None if fields is None else list(fields)
    reserved = {id_field, sort_center_field, route_field}
    zones: list[Zone] = []
    repairs: list[str] = []
    seen: dict[str, int] = {}
    for i, feat in enumerate(doc["features"]):
        where = f"zones file {p}, feature {i}"
        if not isinstance(feat, dict):
            raise DataError(f"{where}: not a GeoJSON Feature object")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise DataError(f"{where}: `properties` must be an object")
        zid = _as_text(props.get(id_field)).strip()
        if not zid:
            raise DataError(f"{where}: no zone id in property {id_field!r}; give every feature a unique id")
        if zid in seen:
            raise DataError(f"{where}: zone id {zid!r} already used by feature {seen[zid]}; zone ids must be unique")
        seen[zid] = i
        sort_center = _as_text(props.get(sort_center_field)).strip()
        if not sort_center:
            raise DataError(f"{where} (zone {zid!r}): no sort center in property {sort_center_field!r}")
        route = _as_text(props.get(route_field)).strip()
        gj = feat.get("geometry")
        if not isinstance(gj, dict) or gj.get("type") not in ("Polygon", "MultiPolygon"):
            kind = gj.get("type") if isinstance(gj, dict) else "no geometry"
            raise DataError(f"{where} (zone {zid!r}): geometry is {kind}, expected Polygon or MultiPolygon")
        try:
            geom = shape(gj)
        except Exception:  # shapely raises several types for malformed coordinate arrays
            raise DataError(f"{where} (zone {zid!r}): malformed polygon coordinates") from None
        if geom.is_empty:
            raise DataError(f"{where} (zone {zid!r}): empty geometry; remove the feature or draw its polygon")
        minx, miny, maxx, maxy = geom.bounds
        if not all(math.isfinite(v) for v in geom.bounds) or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise DataError(f"{where} (zone {zid!r}): coordinates are not lon/lat degrees; reproject the file to WGS84")
        if not geom.is_valid:
            geom = _polygonal(shapely.make_valid(geom))
            if geom is None:
                raise DataError(f"{where} (zone {zid!r}): invalid polygon with no area left after repair; redraw it")
            repairs.append(zid)
        names = keep if keep is not None else sorted(k for k in props if k not in reserved)
        extra = tuple(sorted((k, _as_text(props.get(k))) for k in names if k not in reserved))
        zones.append(Zone(zid, sort_center, route, extra, geom))
    if not zones:
        raise DataError(f"zones file {p}: no features; it must hold at least one zone polygon")
    zones.sort(key=lambda z: z.id)
    return Zones(tuple(zones), digest, tuple(sorted(repairs)), str(p))


def default_zones_path() -> Path:
    """Path of the embedded Vermont zones file (`data/vt-zones.geojson`, package `addrcode.data`)."""
    from addrcode.packaged import VT_ZONES, data_path

    return data_path(VT_ZONES)

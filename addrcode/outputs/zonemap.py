"""Zones drawn as inline SVG: the map of a zones file (or of the zones a station table covers).

Everything here produces self-contained text (SVG paths, CSS colours, HTML): no tile server, no
CDN, no font download, so a map opens offline and can be mailed as one file.

Projection. Zone files are lon/lat (RFC 7946). Plotting lon/lat as x/y stretches a state east-west
by 1/cos(latitude) (~40 % in Vermont), so the map uses an equirectangular projection centred on the
zones' mid-latitude: x = lon * cos(lat0), y = lat. Over a state or a few hundred kilometres the
shape error is a few percent, invisible on a screen, and it needs no CRS (works for any locale).

Simplification. Polygons are simplified *after* projection, with a tolerance in screen pixels, so
the detail kept is exactly what the screen can show. Zones that tile the land share borders; they
are simplified together (`shapely.coverage_simplify`) so neighbours keep one common border and no
slivers or gaps open between them. A set that is not a clean coverage falls back to per-zone
simplification.

Routing keys. A code's first three characters name its grid district (a ~100 km square, see
`grid.py`); the map draws the districts over the zones and labels each with that routing key, and
every zone lists the routing keys of the districts it overlaps.

Public API: `render_zone_map`, `read_table_zones` and the building blocks the run report reuses
(`MapFrame`, `frame_for`, `zone_paths`, `routing_districts`, `routing_key`, `palette`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from addrcode.errors import DataError, UsageError
from addrcode.files import DEFAULT_FILE_MODE, write_output

# Light, distinct fills that keep black labels readable (Tableau-20 light/dark pairs reordered).
_CATEGORICAL = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
                "#9edae5", "#fdd0a2", "#c7e9c0", "#bcbddc", "#fcbba1", "#a1d99b", "#9ecae1",
                "#fdae6b", "#dadaeb", "#e7cb94", "#cedb9c")
NO_DATA = "#eeeeee"


def palette(n: int) -> list[str]:
    """`n` categorical fill colours (cycled past 20)."""
    return [_CATEGORICAL[i % len(_CATEGORICAL)] for i in range(n)]


def routing_key(district: int) -> str:
    """The 3-character routing prefix codes of this grid district start with (e.g. ``A6R``)."""
    from addrcode.codes.scheme import ALPHABET, PREFIX_LEN

    out = []
    for _ in range(PREFIX_LEN):
        district, digit = divmod(int(district), 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


@dataclass(frozen=True)
class MapFrame:
    """lon/lat -> SVG user units (y down): equirectangular at `lat0`, scaled to `width` plus `pad`."""

    lon0: float
    lat0: float
    kx: float  # cos(lat0)
    scale: float  # SVG units per projected degree
    maxy: float  # northmost latitude
    width: float
    height: float
    pad: float

    def xy(self, lon, lat):
        """Arrays (or scalars) of lon/lat degrees -> SVG x, y."""
        import numpy as np

        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        return (self.pad + (lon - self.lon0) * self.kx * self.scale,
                self.pad + (self.maxy - lat) * self.scale)

    def project(self, geom):
        """A shapely geometry in lon/lat -> the same geometry in SVG units."""
        import numpy as np
        import shapely

        def fn(c):
            x, y = self.xy(c[:, 0], c[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geom, fn)

    @property
    def view_box(self) -> str:
        return f"0 0 {_num(self.width + 2 * self.pad)} {_num(self.height + 2 * self.pad)}"


def frame_for(bounds: Sequence[float], width: float = 800.0, pad: float = 8.0) -> MapFrame:
    """The frame that fits lon/lat `bounds` (minx, miny, maxx, maxy) into `width` SVG units."""
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    lat0 = (miny + maxy) / 2.0
    kx = max(math.cos(math.radians(lat0)), 0.05)
    span_x = max((maxx - minx) * kx, 1e-9)
    scale = width / span_x
    return MapFrame(minx, lat0, kx, scale, maxy, width, (maxy - miny) * scale, pad)


def _num(v: float) -> str:
    """Shortest text of a coordinate at 0.1 unit precision (an SVG unit is about a screen pixel)."""
    r = round(float(v), 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def _ring_d(coords) -> str:
    pts = [f"{_num(x)},{_num(y)}" for x, y in coords[:-1]]  # the closing point is implied by Z
    # drop consecutive duplicates left by rounding
    out = [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]
    if len(out) < 3:
        return ""
    return "M" + " ".join(out) + "Z"


def path_d(geom) -> str:
    """SVG path data of a projected (Multi)Polygon; holes are rings drawn with fill-rule evenodd."""
    import shapely
    from shapely.geometry import Polygon

    parts = []
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        for ring in (poly.exterior, *poly.interiors):
            d = _ring_d(list(ring.coords))
            if d:
                parts.append(d)
    return "".join(parts)


def zone_paths(zones, frame: MapFrame, tolerance: float = 0.6) -> list[str]:
    """SVG path data for each zone (in `zones` order), simplified to `tolerance` SVG units.

    Zones that form a clean coverage are simplified together so shared borders stay shared.
    """
    import shapely

    projected = [frame.project(z.geometry) for z in zones]
    simplified = None
    try:
        if shapely.coverage_is_valid(projected):
            simplified = list(shapely.coverage_simplify(projected, tolerance))
    except Exception:  # GEOS coverage operations refuse some inputs; plain simplification still works
        simplified = None
    if simplified is None:
        simplified = [shapely.simplify(g, tolerance, preserve_topology=True) for g in projected]
    out = []
    for original, simple in zip(projected, simplified):
        d = path_d(simple)
        if not d:  # a zone smaller than the tolerance: keep it visible unsimplified
            d = path_d(original)
        out.append(d)
    return out


def label_points(zones, frame: MapFrame) -> list[tuple[float, float, float]]:
    """(x, y, size) per zone: a point well inside its largest part and the part's inscribed radius."""
    import shapely
    from shapely.ops import polylabel

    out = []
    for z in zones:
        parts = list(shapely.get_parts(frame.project(z.geometry)))
        big = max(parts, key=lambda p: p.area)
        try:
            pt = polylabel(big, tolerance=1.0)
            radius = big.exterior.distance(pt)
        except Exception:  # degenerate part: fall back to a point on its surface
            pt = big.point_on_surface()
            radius = 2.0
        out.append((pt.x, pt.y, radius))
    return out


def routing_districts(zones, grid=None) -> tuple[list[tuple[int, object]], list[tuple[str, ...]]]:
    """The grid districts the zones overlap and each zone's routing keys.

    Returns ([(district, lon/lat square polygon)], [routing keys per zone, most overlap first]).
    """
    import numpy as np
    import shapely
    from shapely.geometry import box

    from addrcode.grid import DISTRICTS_PER_SIDE, Grid

    grid = grid or Grid()
    fwd, inv = grid._transformers()
    union_bounds = shapely.total_bounds([z.geometry for z in zones])
    outline = shapely.segmentize(box(*union_bounds), 0.01)
    xs, ys = fwd.transform(*np.asarray(outline.exterior.coords).T)
    D = grid.district_size_m
    x0, y0 = grid.origin
    dx_range = range(int(math.floor((min(xs) - x0) / D)), int(math.floor((max(xs) - x0) / D)) + 1)
    dy_range = range(int(math.floor((min(ys) - y0) / D)), int(math.floor((max(ys) - y0) / D)) + 1)
    squares = []
    for dx in dx_range:
        for dy in dy_range:
            if not (0 <= dx < DISTRICTS_PER_SIDE and 0 <= dy < DISTRICTS_PER_SIDE):
                continue
            sq = shapely.segmentize(box(x0 + dx * D, y0 + dy * D, x0 + (dx + 1) * D, y0 + (dy + 1) * D), D / 64)
            lon, lat = inv.transform(*np.asarray(sq.exterior.coords).T)
            squares.append((dx * DISTRICTS_PER_SIDE + dy, shapely.Polygon(np.column_stack([lon, lat]))))
    keys = []
    for z in zones:
        area = z.geometry.area or 1.0
        hits = []
        for d, sq in squares:
            share = z.geometry.intersection(sq).area / area
            if share > 0.001:
                hits.append((-share, routing_key(d)))
        keys.append(tuple(k for _, k in sorted(hits)))
    used = {k for ks in keys for k in ks}
    return [(d, sq) for d, sq in squares if routing_key(d) in used], keys


@dataclass(frozen=True)
class TableZones:
    """What a station table lists: its station, zones (id -> sort center, route, code rows) and next hops."""

    station: str
    serial: int
    zones: dict  # zone id -> (sort_center, route, rows)
    next_hop: dict  # routing key -> sort center


def read_table_zones(table, public_key) -> TableZones:
    """Verify a station table's signature and read which zones it covers (no codes are kept)."""
    from addrcode.stations.signing import open_table

    db, info = open_table(table, public_key)
    try:
        rows = dict(db.execute("SELECT zone, COUNT(*) FROM codes GROUP BY zone").fetchall())
        listed = {}
        for idx, zone, sort_center, route, _fields in db.execute(
                "SELECT idx, zone, sort_center, route, fields FROM zones"):
            listed[zone] = (sort_center, route, int(rows.get(idx, 0)))
        hop_rows = db.execute("SELECT prefix, sort_center, sort_centers FROM next_hop")
        hops = {routing_key(p): sc for p, sc, _all in hop_rows}
    except Exception as exc:  # a verified table with an unexpected schema
        raise DataError(f"{table}: station table unreadable ({type(exc).__name__}); rebuild it with "
                        "`addrcode table build`") from None
    finally:
        db.close()
    return TableZones(info.station, info.serial, listed, hops)


# --------------------------------------------------------------------------- the zones map

_MAP_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 4px}
.note{color:#555;margin:2px 0 10px}
.wrap{display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap}
svg.map{max-width:100%;height:auto;border:1px solid #ccc;background:#fff}
table{border-collapse:collapse;font-size:12px}
td,th{padding:2px 6px;border-bottom:1px solid #e5e5e5;text-align:left}
th{background:#f3f3f3;position:sticky;top:0}
.sw{display:inline-block;width:12px;height:12px;border:1px solid #888;vertical-align:middle;margin-right:4px}
.scroll{max-height:900px;overflow:auto}
"""


def _svg_zone_map(zones, frame, paths, labels, colours, districts, zone_keys, tips, legend, title,
                  centre_labels=()) -> str:
    w = frame.width + 2 * frame.pad
    legend_h = 16 * len(legend) + 24
    h = frame.height + 2 * frame.pad
    lines = [f'<svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox="0 0 {_num(w)} {_num(h + legend_h)}" '
             f'width="{_num(w)}" height="{_num(h + legend_h)}" font-family="sans-serif" role="img">',
             f"<title>{html.escape(title)}</title>",
             '<g stroke="#555" stroke-width="0.5" stroke-linejoin="round" fill-rule="evenodd">']
    for d, colour, tip in zip(paths, colours, tips):
        lines.append(f'<path d="{d}" fill="{colour}"><title>{html.escape(tip)}</title></path>')
    lines.append("</g>")
    # routing districts, clipped to the zones: dashed borders, key at a point inside each piece
    import shapely
    from shapely.ops import polylabel

    land = shapely.union_all([z.geometry for z in zones])
    pieces = []
    for d, sq in districts:
        piece = frame.project(sq.intersection(land))
        if not piece.is_empty:
            pieces.append((d, piece))
    lines.append('<g fill="none" stroke="#1f4e9c" stroke-width="1.6" stroke-dasharray="7 4">')
    for _d, piece in pieces:
        lines.append(f'<path d="{path_d(shapely.simplify(piece, 0.6))}"/>')
    lines.append("</g>")
    lines.append('<g fill="#1f4e9c" font-size="16" font-weight="bold" text-anchor="middle" '
                 'stroke="#fff" stroke-width="3" paint-order="stroke">')
    for d, piece in pieces:
        big = max(shapely.get_parts(piece), key=lambda p: p.area)
        pt = polylabel(big, tolerance=1.0)
        lines.append(f'<text x="{_num(pt.x)}" y="{_num(pt.y)}">{html.escape(routing_key(d))}</text>')
    lines.append("</g>")
    lines.append('<g text-anchor="middle" fill="#111">')
    for z, (x, y, r), _keys in zip(zones, labels, zone_keys):
        size = max(4.0, min(9.0, r / 2.2))
        text = z.route or z.id
        lines.append(f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}">{html.escape(text)}</text>')
    lines.append("</g>")
    # one bold label per sort center, inside the largest piece of its zones' union
    lines.append('<g font-size="13" font-weight="bold" fill="#000" text-anchor="middle" font-style="italic" '
                 'stroke="#fff" stroke-width="3" paint-order="stroke" opacity="0.85">')
    for name, (x, y) in centre_labels:
        lines.append(f'<text x="{_num(x)}" y="{_num(y)}">{html.escape(name)}</text>')
    lines.append("</g>")
    # legend below the map
    y = h + 16
    lines.append(f'<g font-size="11"><text x="{_num(frame.pad)}" y="{_num(y)}" font-weight="bold">'
                 "fill: sort center · dashed squares: routing districts (first 3 characters of a code)</text>")
    for i, (colour, text) in enumerate(legend):
        yy = y + 8 + 16 * i
        lines.append(f'<rect x="{_num(frame.pad)}" y="{_num(yy)}" width="12" height="12" fill="{colour}" '
                     f'stroke="#555" stroke-width="0.5"/><text x="{_num(frame.pad + 18)}" y="{_num(yy + 10)}">'
                     f"{html.escape(text)}</text>")
    lines.append("</g></svg>")
    return "\n".join(lines)


def write_page(out: Path, text: str, *, file_mode: int = DEFAULT_FILE_MODE) -> None:
    """Write an HTML/SVG page (`addrcode.files.write_output`), creating its folder."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot write here ({exc.strerror}); choose another -o path") from None
    write_output(out, text, mode=file_mode, what="the page")


@dataclass(frozen=True)
class ZoneMapSummary:
    """What `render_zone_map` drew: counts, and the size of the file written."""

    path: str
    zones: int
    sort_centers: int
    routing_keys: tuple[str, ...]
    in_table: int | None  # zones the table lists that have a polygon (None: no table)
    table_only: tuple[str, ...]  # zone ids the table lists but the zones file lacks
    bytes: int


def render_zone_map(zones, out, *, table=None, public_key=None, grid=None, width: float = 1000.0,
                    file_mode: int = DEFAULT_FILE_MODE) -> ZoneMapSummary:
    """Draw the zones of `zones` (a `zones.Zones`) to `out`: HTML page or bare SVG by the suffix.

    Each zone is filled by sort center and labelled with its route; the routing districts (code
    prefixes) are drawn as dashed squares labelled with their key; hovering a zone shows its id,
    sort center, route and routing keys. With `table` (a station table path, verified with
    `public_key`, or a `TableZones`), the zones the table lists are coloured by the table's sort
    center and the others greyed, and the HTML lists the code rows per zone. Written atomically.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".svg"):
        raise UsageError(f"{out}: give a .html or .svg output file for the zones map")
    zs = list(zones)
    if not zs:
        raise DataError("zones map: the zones file holds no zone")
    tz = None
    if table is not None:
        if isinstance(table, TableZones):
            tz = table
        else:
            if public_key is None:
                raise UsageError("zones map from a station table: give the table's public key (the keyring's .pub)")
            tz = read_table_zones(table, public_key)
    import shapely

    frame = frame_for(shapely.total_bounds([z.geometry for z in zs]), width=width)
    paths = zone_paths(zs, frame)
    labels = label_points(zs, frame)
    districts, zone_keys = routing_districts(zs, grid)

    def centre_of(z):
        if tz is not None:
            hit = tz.zones.get(z.id)
            return hit[0] if hit else None
        return z.sort_center

    centres = sorted({c for c in (centre_of(z) for z in zs) if c})
    colour_of = dict(zip(centres, palette(len(centres))))
    colours, tips = [], []
    for z, keys in zip(zs, zone_keys):
        c = centre_of(z)
        colours.append(colour_of.get(c, NO_DATA))
        tip = f"{z.id} · sort center {c or '(not in this table)'} · route {z.route or '-'} · routing key " \
              f"{', '.join(keys) or '-'}"
        if tz is not None and z.id in tz.zones:
            tip += f" · {tz.zones[z.id][2]:,} code rows"
        tips.append(tip)
    counts = {}
    for z in zs:
        c = centre_of(z)
        counts[c] = counts.get(c, 0) + 1
    legend = [(colour_of[c], f"{c} ({counts[c]} zones)") for c in centres]
    if tz is not None and counts.get(None):
        legend.append((NO_DATA, f"not in this table ({counts[None]} zones)"))
    if tz is not None:
        title = f"Zones of station table {tz.station} (serial {tz.serial})"
    else:
        title = f"Zones of {Path(zones.path).name if getattr(zones, 'path', '') else 'the zones file'}"
    svg = _svg_zone_map(zs, frame, paths, labels, colours, districts, zone_keys, tips, legend, title,
                        _centre_labels(zs, centre_of, frame))
    known = {z.id for z in zs}
    table_only = tuple(sorted(k for k in tz.zones if k not in known)) if tz is not None else ()
    all_keys = tuple(sorted({routing_key(d) for d, _ in districts}))
    if suffix == ".svg":
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + svg + "\n"
    else:
        text = _zone_map_html(title, svg, zs, zone_keys, centre_of, tz, table_only, all_keys, len(centres))
    write_page(out, text, file_mode=file_mode)
    in_table = None if tz is None else sum(1 for z in zs if z.id in tz.zones)
    return ZoneMapSummary(str(out), len(zs), len(centres), all_keys, in_table, table_only,
                          len(text.encode("utf-8")))


def _centre_labels(zs, centre_of, frame) -> list[tuple[str, tuple[float, float]]]:
    """(sort center, (x, y)) at a point deep inside the largest piece of each sort center's zones."""
    import shapely
    from shapely.ops import polylabel

    groups: dict = {}
    for z in zs:
        c = centre_of(z)
        if c:
            groups.setdefault(c, []).append(z.geometry)
    out = []
    for c in sorted(groups):
        union = frame.project(shapely.union_all(groups[c]))
        big = max(shapely.get_parts(union), key=lambda p: p.area)
        try:
            pt = polylabel(big, tolerance=2.0)
        except Exception:  # degenerate geometry: any interior point will do
            pt = big.point_on_surface()
        out.append((c, (pt.x, pt.y - 10)))  # a little above, so the zone's own label stays readable
    return out


def _zone_map_html(title, svg, zs, zone_keys, centre_of, tz, table_only, all_keys, n_centres) -> str:
    e = html.escape
    rows = []
    for z, keys in zip(zs, zone_keys):
        c = centre_of(z)
        extra = ""
        if tz is not None:
            extra = f"<td>{tz.zones[z.id][2]:,}</td>" if z.id in tz.zones else "<td>-</td>"
        rows.append(f"<tr><td>{e(z.id)}</td><td>{e(c or '(not in table)')}</td><td>{e(z.route)}</td>"
                    f"<td>{e(' '.join(keys))}</td>{extra}</tr>")
    head_extra = "<th>code rows</th>" if tz is not None else ""
    note = f"{len(zs)} zones, {n_centres} sort centers, routing keys {e(', '.join(all_keys))}."
    if tz is not None:
        note += f" Table station: {e(tz.station)}, serial {tz.serial}."
        if table_only:
            note += f" {len(table_only)} zones of the table have no polygon in the zones file: " \
                    f"{e(', '.join(table_only[:20]))}{' ...' if len(table_only) > 20 else ''}."
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_MAP_CSS}</style></head>'
            f"<body><h1>{e(title)}</h1><p class=\"note\">{note} Hover a zone for its details.</p>"
            f'<div class="wrap"><div>{svg}</div><div class="scroll"><table><thead><tr><th>zone</th>'
            f"<th>sort center</th><th>route</th><th>routing keys</th>{head_extra}</tr></thead><tbody>"
            + "\n".join(rows) + "</tbody></table></div></div></body></html>\n")

"""Which cells a station table covers: a fixed set that does not say which cells people live in.

A table that holds exactly the issuable cells tells whoever also has the public reference which
codes are live, class by class: the issuable cells of each (district, zone) are a public function
of the reference and the zones, so a class with one issuable cell pins its code, and the codes added
between two tables are the newly populated cells. The covered set is built instead from three
public, coarse things only, so a code's row says nothing finer than them:

1. **Footprint**: the grid's blocks of `block_m` (default 1 km: 10 x 10 cells at 100 m, aligned to
   the grid's origin) that hold at least one issuable cell. Which cells of a block are populated,
   and how many, makes no difference.
2. **Buffer**: every cell whose centre lies within `buffer_m` of a footprint block (the block's
   square, Euclidean distance), and whose centre lies in a zone (the zone `encode` gives it). A new
   address inside a footprint block changes nothing; one in an empty cell within `buffer_m` of a
   footprint block is already covered (its code is an old row), and its block's new buffer adds
   rows around it. Measured on Vermont with 40 new addresses (benchmarks/RESULTS.md): 31 of 40 had
   an old row; the 9 others hid among 26 to 725 codes added in their class (median 250).
3. **Anchors**: each (district, zone) class also gets its *anchor*, the k (`min_class_size`) cells of
   that zone's part of the district nearest the part's centroid (ties by cell id), a public function
   of the zones alone. So every class has at least k cells, and because every class gets its anchor
   (not only small ones), a class that grows never drops decoys: a rebuild after new addresses only
   adds rows. A zone part with fewer than k cells in a district is covered whole: its class is then
   every cell it has, whoever lives there.

`covered_cells` returns the set; `addrcode.stations.build.build_table` writes one row per covered
cell and epoch. `encode` is unchanged (it codes real addresses), and every issuable cell inside a
zone is covered (checked on every build). See SECURITY.md ("Station tables") for the measurements
behind the defaults and what the cover does not hide (a label's zone).

numpy and shapely are imported inside the functions.
"""

from __future__ import annotations

from addrcode.errors import DataError, UsageError
from addrcode.grid import CELLS_PER_DISTRICT_SIDE, DISTRICTS_PER_SIDE, N_INDEX

BLOCK_M = 1000.0
"""Side of a footprint block in metres (rounded to whole cells): the resolution of what a table reveals."""
BUFFER_M = 500.0
"""Default buffer around the footprint: cells within this distance of a footprint block are covered."""
MIN_CLASS_SIZE = 64
"""Default k: every (district, zone) class has at least this many cells (its anchor), where its zone has them.

Why 64: a code read off a table alone is then at best a 1-in-64 guess of its cell (1.6 %), among at
least 64 ha of its zone; the buffer already gives nearly every Vermont class far more (median
class 9,922 cells), so k only matters for classes the buffer barely reaches, and anchors of 64
cells cost at most 64 x 322 classes (1 % of Vermont's cover). A larger k buys little: a zone part
with fewer cells is covered whole anyway, and what a *label* reveals is bounded by the populated
cells of its class (public: reference + zones), which no table-side k changes.
"""

SIDE = CELLS_PER_DISTRICT_SIDE * DISTRICTS_PER_SIDE  # grid cells per side of the whole grid (131,072)
# Footprint blocks expanded at once: the stencil's keys of this many blocks are made, then merged.
_BLOCKS_AT_ONCE = 1 << 14
# Cells looked up in the zones at once (shapely points are Python objects: bounded memory).
_ZONE_BATCH = 1 << 18


# --------------------------------------------------------------------------- grid coordinates


def global_xy(district, index):
    """(district, index) -> whole-grid column and row (gx, gy) int64 arrays, 0 at the grid's south-west."""
    import numpy as np

    district = np.asarray(district, dtype=np.int64)
    index = np.asarray(index, dtype=np.int64)
    gx = (district // DISTRICTS_PER_SIDE) * CELLS_PER_DISTRICT_SIDE + index % CELLS_PER_DISTRICT_SIDE
    gy = (district % DISTRICTS_PER_SIDE) * CELLS_PER_DISTRICT_SIDE + index // CELLS_PER_DISTRICT_SIDE
    return gx, gy


def cells_of_xy(gx, gy):
    """Inverse of `global_xy`: whole-grid column and row -> (district, index) int64 arrays."""
    import numpy as np

    gx = np.asarray(gx, dtype=np.int64)
    gy = np.asarray(gy, dtype=np.int64)
    dx, ix = np.divmod(gx, CELLS_PER_DISTRICT_SIDE)
    dy, iy = np.divmod(gy, CELLS_PER_DISTRICT_SIDE)
    return dx * DISTRICTS_PER_SIDE + dy, iy * CELLS_PER_DISTRICT_SIDE + ix


def cell_keys(district, index):
    """Sortable int64 key of each cell: district << 20 | index (the order `issuable_cells` returns)."""
    import numpy as np

    return (np.asarray(district, dtype=np.int64) << 20) | np.asarray(index, dtype=np.int64)


def block_cells_of(grid, block_m: float = BLOCK_M) -> int:
    """Cells per side of a footprint block of about `block_m` metres on `grid` (at least 1)."""
    return max(1, int(round(block_m / grid.cell_size_m)))


# --------------------------------------------------------------------------- footprint and buffer


def footprint_blocks(district, index, block_cells: int):
    """Sorted unique keys (bx * SIDE + by) of the blocks of `block_cells` x `block_cells` cells holding a cell."""
    import numpy as np

    gx, gy = global_xy(district, index)
    keys = np.unique((gx // block_cells) * SIDE + gy // block_cells)
    return keys.astype(np.int64)


def stencil(block_cells: int, cell_size_m: float, buffer_m: float):
    """Cell offsets (ox, oy) from a block's south-west cell whose centre is within `buffer_m` of the block.

    Distance from the cell centre to the block's square (zero inside it), Euclidean, in metres; the
    block's own cells are always included.
    """
    import numpy as np

    r = int(np.ceil(buffer_m / cell_size_m))
    o = np.arange(-r, block_cells + r, dtype=np.int64)
    ox, oy = (a.ravel() for a in np.meshgrid(o, o, indexing="ij"))
    side = block_cells * cell_size_m
    cx, cy = (ox + 0.5) * cell_size_m, (oy + 0.5) * cell_size_m
    dx = np.maximum(np.maximum(-cx, cx - side), 0.0)
    dy = np.maximum(np.maximum(-cy, cy - side), 0.0)
    keep = np.hypot(dx, dy) <= buffer_m + 1e-9
    return ox[keep], oy[keep]


def buffer_cells(blocks, block_cells: int, cell_size_m: float, buffer_m: float):
    """Every cell within `buffer_m` of a footprint block, as sorted unique (district, index) int64 arrays.

    Blocks are expanded a chunk at a time with `stencil` and the keys merged, so memory grows with the
    cells covered, not with blocks x stencil. Cells beyond the grid's edge are dropped.
    """
    import numpy as np

    ox, oy = stencil(block_cells, cell_size_m, buffer_m)
    blocks = np.asarray(blocks, dtype=np.int64)
    parts = []
    for s in range(0, len(blocks), _BLOCKS_AT_ONCE):
        b = blocks[s:s + _BLOCKS_AT_ONCE]
        gx = ((b // SIDE) * block_cells)[:, None] + ox[None, :]
        gy = ((b % SIDE) * block_cells)[:, None] + oy[None, :]
        ok = (gx >= 0) & (gx < SIDE) & (gy >= 0) & (gy < SIDE)
        d, i = cells_of_xy(gx[ok], gy[ok])
        parts.append(np.unique(cell_keys(d, i)))
    keys = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
    return keys >> 20, keys & (N_INDEX - 1)


def zone_positions(zones, grid, district, index):
    """Position in `zones.zones` of each cell's zone (the one `encode` gives it; -1: none), in batches."""
    import numpy as np

    pos = np.empty(len(district), dtype=np.int64)
    for s in range(0, len(district), _ZONE_BATCH):
        e = min(len(district), s + _ZONE_BATCH)
        pos[s:e] = zones.zone_positions_of_cells(grid, district[s:e], index[s:e])
    return pos


# --------------------------------------------------------------------------- padding


def _projected_bounds(zone, grid):
    """(minx, miny, maxx, maxy) of a zone's polygon in the grid's CRS (edges densified before projecting)."""
    import shapely

    xy = shapely.get_coordinates(shapely.segmentize(zone.geometry, 0.005))
    x, y = grid.project(xy[:, 0], xy[:, 1])
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def zone_district_cells(zones, grid, position: int, district: int):
    """Every cell of district `district` whose centre `zones` gives to the zone at `position`: (gx, gy) arrays.

    The cells of the zone's projected bounding box (one cell of margin) inside the district are
    looked up like any cell, so a cell on a border shared with a lower zone id is that zone's.
    """
    import numpy as np

    minx, miny, maxx, maxy = _projected_bounds(zones.zones[position], grid)
    (x0, y0), c = grid.origin, grid.cell_size_m
    dx, dy = divmod(int(district), DISTRICTS_PER_SIDE)
    lo_x, lo_y = dx * CELLS_PER_DISTRICT_SIDE, dy * CELLS_PER_DISTRICT_SIDE
    gx0 = max(lo_x, int(np.floor((minx - x0) / c)) - 1)
    gx1 = min(lo_x + CELLS_PER_DISTRICT_SIDE, int(np.ceil((maxx - x0) / c)) + 1)
    gy0 = max(lo_y, int(np.floor((miny - y0) / c)) - 1)
    gy1 = min(lo_y + CELLS_PER_DISTRICT_SIDE, int(np.ceil((maxy - y0) / c)) + 1)
    if gx1 <= gx0 or gy1 <= gy0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(gx0, gx1, dtype=np.int64),
                                             np.arange(gy0, gy1, dtype=np.int64), indexing="ij"))
    d, i = cells_of_xy(gx, gy)
    mine = zone_positions(zones, grid, d, i) == position
    return gx[mine], gy[mine]


def anchor_cells(zones, grid, district: int, position: int, k: int):
    """The class's fixed anchor: the `k` cells of the zone's part of `district` nearest that part's
    centroid (ties: by cell id), as (gx, gy) arrays; all of them if the part has fewer.

    A public function of the zones and the grid alone, so it is the same in every table, whoever lives
    there: adding it to a class never changes when the population does.
    """
    import numpy as np

    cx, cy = zone_district_cells(zones, grid, position, district)
    if not len(cx):
        return cx, cy
    mx, my = float(np.mean(cx)), float(np.mean(cy))
    d, i = cells_of_xy(cx, cy)
    order = np.lexsort((cell_keys(d, i), (cx - mx) ** 2 + (cy - my) ** 2))[:k]
    return cx[order], cy[order]


def pad_classes(zones, grid, district, index, pos, min_class_size: int, stats: dict | None = None):
    """Decoys: the anchor cells (`anchor_cells`) of every (district, zone) class of the covered cells
    that are not covered already, so every class has at least `min_class_size` cells where its zone has
    that many in the district.

    Every class gets its anchor, not only small ones: a class that grows past k then keeps its decoys,
    so a rebuild after new addresses only ever adds rows. Returns (district, index, zone position)
    int64 arrays. `stats`, if given, gets `padded_classes`, `decoys` and `short_classes` (classes still
    under k: their zone has fewer cells in the district, and the class is every cell it has there).
    """
    import numpy as np

    empty = np.empty(0, np.int64)
    n_pos = max(1, len(zones.zones))
    cls = np.asarray(district, dtype=np.int64) * n_pos + pos
    order = np.argsort(cls, kind="stable")
    ucls, start, count = np.unique(cls[order], return_index=True, return_counts=True)
    gx_all, gy_all = global_xy(district, index)
    out_d, out_i, out_p, short = [], [], [], 0
    for c, s, n in zip(ucls.tolist(), start.tolist(), count.tolist()):
        members = order[s:s + n]
        d, p = divmod(c, n_pos)
        gx, gy = anchor_cells(zones, grid, d, p, min_class_size)
        new = ~np.isin(gx * SIDE + gy, gx_all[members] * SIDE + gy_all[members])
        gx, gy = gx[new], gy[new]
        short += n + len(gx) < min_class_size
        dd, ii = cells_of_xy(gx, gy)
        out_d.append(dd)
        out_i.append(ii)
        out_p.append(np.full(len(dd), p, dtype=np.int64))
    if stats is not None:
        stats.update(padded_classes=int(sum(len(a) > 0 for a in out_d)), decoys=int(sum(len(a) for a in out_d)),
                     short_classes=int(short))
    if not out_d:
        return empty, empty, empty
    return np.concatenate(out_d), np.concatenate(out_i), np.concatenate(out_p)


# --------------------------------------------------------------------------- the covered set


def _check_options(buffer_m, min_class_size, block_m) -> None:
    import math

    for name, v in (("cover buffer", buffer_m), ("footprint block size", block_m)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise UsageError(f"{name} must be a number of metres >= 0 (got {v!r})")
    if block_m <= 0:
        raise UsageError("footprint block size must be more than 0 metres")
    if isinstance(min_class_size, bool) or not isinstance(min_class_size, int) or min_class_size < 1:
        raise UsageError(f"minimum class size must be an integer >= 1 (got {min_class_size!r})")


def covered_cells(reference_path, zones, grid, *, buffer_m: float = BUFFER_M, min_class_size: int = MIN_CLASS_SIZE,
                  block_m: float = BLOCK_M, issuable=None, stats: dict | None = None):
    """The cells a station table has rows for: sorted unique (district, index) int64 arrays, and each
    cell's zone position in `zones.zones`.

    Every cell in a zone within `buffer_m` of a footprint block (a `block_m` block holding an
    issuable cell of `reference_path`), plus decoys of the same zone so that each (district, zone)
    class has at least `min_class_size` cells where the zone has that many (see the module
    docstring). `issuable` (district, index arrays of `issuable_cells`) skips recomputing them.
    `stats`, if given, is filled with counts: issuable, issuable_in_zones, blocks, buffer_cells,
    covered (before padding), classes, padded_classes, decoys, short_classes, cells.

    Every issuable cell in a zone is in the result (`DataError` otherwise: do not ship that table).
    """
    import numpy as np

    from addrcode.stations.cells import issuable_cells

    _check_options(buffer_m, min_class_size, block_m)
    if issuable is None:
        issuable = issuable_cells(reference_path, grid)
    idist, iidx = (np.asarray(a, dtype=np.int64) for a in issuable)
    blocks = footprint_blocks(idist, iidx, block_cells_of(grid, block_m))
    district, index = buffer_cells(blocks, block_cells_of(grid, block_m), grid.cell_size_m, float(buffer_m))
    pos = zone_positions(zones, grid, district, index)
    inside = pos >= 0
    district, index, pos = district[inside], index[inside], pos[inside]
    pad = {}
    pd, pi, pp = pad_classes(zones, grid, district, index, pos, min_class_size, pad)
    keys = np.concatenate([cell_keys(district, index), cell_keys(pd, pi)])
    zone_pos = np.concatenate([pos, pp])
    order = np.argsort(keys, kind="stable")  # decoys are never covered cells: keys are unique
    keys, zone_pos = keys[order], zone_pos[order]
    ipos = zone_positions(zones, grid, idist, iidx)
    need = cell_keys(idist[ipos >= 0], iidx[ipos >= 0])
    at = np.searchsorted(keys, need)
    if len(need) and (np.any(at >= len(keys)) or np.any(keys[np.minimum(at, len(keys) - 1)] != need)):
        raise DataError("an issuable cell is not in the table's cover; the cover is broken, do not ship this table")
    if stats is not None:
        n_pos = max(1, len(zones.zones))
        stats.update(issuable=int(len(idist)), issuable_in_zones=int(len(need)), blocks=int(len(blocks)),
                     buffer_cells=int(len(inside)), covered=int(len(district)),
                     classes=int(len(np.unique(district * n_pos + pos))), cells=int(len(keys)), **pad)
    return keys >> 20, keys & (N_INDEX - 1), zone_pos

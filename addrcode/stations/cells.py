"""Which cells a station table has rows for: every cell `encode` can issue a code for.

Cells of the reference points (precision point/street) and every cell crossed by an
interpolation segment between consecutive house numbers of the same parity on one street
(precision interpolated). numpy (and the reference reader) are imported inside the functions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from addrcode.errors import DataError


def _points_chunks(reference_path, chunk: int = 400_000) -> Iterator[tuple]:
    """Yield (street_id, num, lon, lat) numpy arrays, whole streets per chunk, in (street, num) order.

    A read-only SELECT against the reference schema (`reference.py`: points clustered by
    (street_id, num) in id order), chunked so memory stays bounded for national files.
    """
    import numpy as np

    from addrcode.geocoding.reference import open_reference

    db = open_reference(Path(reference_path))
    try:
        last_id = 0
        carry = None
        while True:
            rows = db.execute(
                "SELECT id, street_id, num, lon, lat FROM points WHERE id > ? AND num IS NOT NULL "
                "ORDER BY id LIMIT ?", (last_id, chunk)).fetchall()
            if not rows:
                break
            arr = np.array([r[1:] for r in rows], dtype=np.float64)
            last_id = rows[-1][0]
            if carry is not None:
                arr = np.concatenate([carry, arr])
            if len(rows) < chunk:
                carry = None
                yield arr
                break
            # hold back the last street: its remaining points come in the next chunk
            last_street = arr[-1, 0]
            cut = int(np.searchsorted(arr[:, 0], last_street, side="left"))
            if cut == 0:  # one street larger than a chunk: keep accumulating
                carry = arr
                continue
            carry = arr[cut:]
            yield arr[:cut]
        if carry is not None and len(carry):
            yield carry
    except sqlite3.DatabaseError:
        raise DataError(f"{reference_path}: reference unreadable (no points table?); rebuild it with "
                        "`addrcode reference build`") from None
    finally:
        db.close()


def interpolation_pairs(street, num, x=None, y=None):
    """Index pairs (a, b) of points between which `geocode` interpolates.

    Input arrays are sorted by (street, num). For each street and parity, consecutive distinct
    numbers a < b with a gap of at least 4 (so some number of the same parity lies strictly
    between) give a segment; when several points share a number (units), every combination.
    With the points' projected `x`, `y` (metres), pairs further apart than the geocoder
    interpolates (`scoring.MAX_INTERPOLATION_GAP_M`, plus 2 % for the projection's scale error)
    are dropped: the cells, and the memory, then grow with the streets, never with the distance
    between two places a source put under one street.
    """
    a, b = _pairs(street, num)
    if x is None or not len(a):
        return a, b
    import numpy as np

    from addrcode.geocoding.scoring import MAX_INTERPOLATION_GAP_M

    near = np.hypot(x[b] - x[a], y[b] - y[a]) <= MAX_INTERPOLATION_GAP_M * 1.02
    return a[near], b[near]


def _pairs(street, num):
    import numpy as np

    street = np.asarray(street)
    num = np.asarray(num).astype(np.int64)
    parity = num & 1
    order = np.lexsort((num, parity, street))
    s, p, n = street[order], parity[order], num[order]
    if len(n) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    new_group = np.ones(len(n), dtype=bool)
    new_group[1:] = (s[1:] != s[:-1]) | (p[1:] != p[:-1]) | (n[1:] != n[:-1])
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(n)))
    g_s, g_p, g_n = s[starts], p[starts], n[starts]
    link = (g_s[1:] == g_s[:-1]) & (g_p[1:] == g_p[:-1]) & (g_n[1:] - g_n[:-1] >= 4)
    ga = np.flatnonzero(link)
    gb = ga + 1
    single = (sizes[ga] == 1) & (sizes[gb] == 1)
    a = [order[starts[ga[single]]]]
    b = [order[starts[gb[single]]]]
    for g1, g2 in zip(ga[~single].tolist(), gb[~single].tolist()):  # rare: units sharing a number
        i = order[starts[g1]: starts[g1] + sizes[g1]]
        j = order[starts[g2]: starts[g2] + sizes[g2]]
        a.append(np.repeat(i, len(j)))
        b.append(np.tile(j, len(i)))
    return np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)


def segment_cells(grid, xa, ya, xb, yb):
    """Every grid cell a straight projected segment passes through (supercover), as (district, index).

    Exact for the straight line: the crossings with every vertical and horizontal grid line are
    sorted along each segment, and the cell of each piece's midpoint is taken.
    """
    import numpy as np

    xa, ya, xb, yb = (np.asarray(v, dtype=np.float64) for v in (xa, ya, xb, yb))
    x0, y0 = grid.origin
    c = grid.cell_size_m
    seg = np.arange(len(xa))
    ts, ids = [np.zeros(len(xa)), np.ones(len(xa))], [seg, seg]
    for a, b, o in ((xa, xb, x0), (ya, yb, y0)):
        fa, fb = np.floor((a - o) / c), np.floor((b - o) / c)
        lo = np.minimum(fa, fb)
        count = np.abs(fb - fa).astype(np.int64)
        total = int(count.sum())
        if total == 0:
            continue
        sid = np.repeat(seg, count)
        first = np.repeat(np.cumsum(count) - count, count)
        k = np.repeat(lo, count) + 1 + (np.arange(total) - first)
        line = o + k * c
        ts.append((line - a[sid]) / (b[sid] - a[sid]))
        ids.append(sid)
    t = np.concatenate(ts)
    sid = np.concatenate(ids)
    order = np.lexsort((t, sid))
    t, sid = t[order], sid[order]
    same = sid[1:] == sid[:-1]
    mid = (t[1:][same] + t[:-1][same]) / 2
    ms = sid[1:][same]
    x = xa[ms] + mid * (xb[ms] - xa[ms])
    y = ya[ms] + mid * (yb[ms] - ya[ms])
    d, i, v = grid.cells_xy(x, y)
    return d[v], i[v]


def _sorted_unique(keys):
    """`np.unique` of an int64 array, by sorting (numpy 2's hash-based unique is several times slower here)."""
    import numpy as np

    keys = np.sort(keys)
    if len(keys) < 2:
        return keys
    keep = np.empty(len(keys), dtype=bool)
    keep[0] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _unique_cells(district, index):
    import numpy as np

    return _sorted_unique((np.asarray(district, dtype=np.int64) << 20) | np.asarray(index, dtype=np.int64))


# Pieces (grid-line crossings, densified sub-segments) handled at once: the interpolation cells of a
# chunk are found in batches of segments of at most this many pieces, so the scratch arrays stay
# bounded (~100 MB) however long the segments of a chunk are; the cells found are the same.
MAX_PIECES = 1 << 18
# Cell keys held before the per-batch unique sets are merged into one (bounded duplication).
_MERGE_AT = 1 << 23


class _CellKeys:
    """A growing set of cell keys (district << 20 | index) as sorted unique int64 arrays, merged as it grows."""

    def __init__(self):
        self.parts, self.pending = [], 0

    def add(self, keys) -> None:
        self.parts.append(keys)
        self.pending += len(keys)
        if self.pending > _MERGE_AT and len(self.parts) > 1:
            self.parts = [self.keys()]
            self.pending = len(self.parts[0])

    def keys(self):
        import numpy as np

        if not self.parts:
            return np.empty(0, np.int64)
        return self.parts[0] if len(self.parts) == 1 else _sorted_unique(np.concatenate(self.parts))


def _segment_batches(pieces, limit: int | None = None):
    """(start, stop) slices of consecutive segments with at most `limit` pieces each (a longer one alone)."""
    import numpy as np

    limit = MAX_PIECES if limit is None else limit
    ends = np.cumsum(pieces)
    start, n = 0, len(ends)
    while start < n:
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + limit, side="right")))
        yield start, stop
        start = stop


def _interpolation_cells(grid, lon, lat, x, y, a, b, add) -> None:
    """`add` the cell keys of segments a[i] -> b[i]: straight projected line and lon/lat-linear path.

    The lon/lat path is densified to pieces of <= 1 cell (its projected polyline is then within well
    under a millimetre of the curve). Done in batches of segments of at most `MAX_PIECES` pieces.
    """
    import numpy as np

    step = grid.cell_size_m  # pieces of one cell
    length = np.hypot(x[b] - x[a], y[b] - y[a])
    k_all = np.maximum(1, np.ceil(length / step)).astype(np.int64)
    # grid lines a straight segment crosses plus its 2 ends: the pieces segment_cells holds per segment
    (x0, y0), c = grid.origin, grid.cell_size_m
    cross = 2 + (np.abs(np.floor((x[b] - x0) / c) - np.floor((x[a] - x0) / c))
                 + np.abs(np.floor((y[b] - y0) / c) - np.floor((y[a] - y0) / c))).astype(np.int64)
    for s, e in _segment_batches(np.maximum(k_all, cross)):
        sa, sb, k = a[s:e], b[s:e], k_all[s:e]
        # straight projected segment
        d, i = segment_cells(grid, x[sa], y[sa], x[sb], y[sb])
        add(_unique_cells(d, i))
        # lon/lat-linear path, densified
        sub = np.repeat(np.arange(len(sa)), k)
        j = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        f0, f1 = j / k[sub], (j + 1) / k[sub]
        la, lb, pa, pb = lon[sa][sub], lon[sb][sub], lat[sa][sub], lat[sb][sub]
        xs0, ys0 = grid.project(la + f0 * (lb - la), pa + f0 * (pb - pa))
        xs1, ys1 = grid.project(la + f1 * (lb - la), pa + f1 * (pb - pa))
        del sub, j, f0, f1, la, lb, pa, pb
        d, i = segment_cells(grid, xs0, ys0, xs1, ys1)
        add(_unique_cells(d, i))


def issuable_cells(reference_path, grid, *, interpolation: bool = True, stats: dict | None = None):
    """Every cell `encode` can issue a code for, as sorted unique (district, index) int64 arrays.

    Cells of the reference points (precision point and street) plus, with `interpolation`, every
    cell crossed by an interpolation segment (precision interpolated): between consecutive house
    numbers of the same parity on a street, both as the straight projected line and as the
    lon/lat-linear path (densified to pieces of <= 1 cell), so either way of interpolating is covered.
    `stats`, if given, is filled with counts (points, point cells, segments, added cells).

    Memory: the reference is read in chunks of whole streets and the segments of a chunk are
    handled in bounded batches; what grows is the cells found, as int64 keys.
    """
    pt, seg = _CellKeys(), _CellKeys()
    n_points = n_segments = 0
    for arr in _points_chunks(reference_path):
        street, num, lon, lat = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        n_points += len(arr)
        x, y = grid.project(lon, lat)
        d, i, v = grid.cells_xy(x, y)
        pt.add(_unique_cells(d[v], i[v]))
        if not interpolation:
            continue
        a, b = interpolation_pairs(street, num, x, y)
        n_segments += len(a)
        if len(a):
            _interpolation_cells(grid, lon, lat, x, y, a, b, seg.add)
    pt_keys = pt.keys()
    seg.add(pt_keys)
    allk = seg.keys() if interpolation and n_segments else pt_keys
    if stats is not None:
        stats.update(points=n_points, point_cells=int(len(pt_keys)), segments=n_segments,
                     interpolation_only_cells=int(len(allk) - len(pt_keys)), cells=int(len(allk)))
    return allk >> 20, allk & 0xFFFFF

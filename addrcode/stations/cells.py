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


def _unique_cells(district, index):
    import numpy as np

    key = np.unique((np.asarray(district, dtype=np.int64) << 20) | np.asarray(index, dtype=np.int64))
    return key


def issuable_cells(reference_path, grid, *, interpolation: bool = True, stats: dict | None = None):
    """Every cell `encode` can issue a code for, as sorted unique (district, index) int64 arrays.

    Cells of the reference points (precision point and street) plus, with `interpolation`, every
    cell crossed by an interpolation segment (precision interpolated): between consecutive house
    numbers of the same parity on a street, both as the straight projected line and as the
    lon/lat-linear path (densified to pieces of <= 1 cell), so either way of interpolating is covered.
    `stats`, if given, is filled with counts (points, point cells, segments, added cells).
    """
    import numpy as np

    keys_pt, keys_seg = [], []
    n_points = n_segments = 0
    step = grid.cell_size_m  # pieces of one cell: the lon/lat curve then deviates by well under a millimetre
    for arr in _points_chunks(reference_path):
        street, num, lon, lat = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        n_points += len(arr)
        x, y = grid.project(lon, lat)
        d, i, v = grid.cells_xy(x, y)
        keys_pt.append(_unique_cells(d[v], i[v]))
        if not interpolation:
            continue
        a, b = interpolation_pairs(street, num, x, y)
        n_segments += len(a)
        if not len(a):
            continue
        # straight projected segment
        d, i = segment_cells(grid, x[a], y[a], x[b], y[b])
        keys_seg.append(_unique_cells(d, i))
        # lon/lat-linear path, densified so its projected polyline is within millimetres of the curve
        length = np.hypot(x[b] - x[a], y[b] - y[a])
        k = np.maximum(1, np.ceil(length / step)).astype(np.int64)
        sub = np.repeat(np.arange(len(a)), k)
        j = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
        f0, f1 = j / k[sub], (j + 1) / k[sub]
        la, lb, pa, pb = lon[a][sub], lon[b][sub], lat[a][sub], lat[b][sub]
        xs0, ys0 = grid.project(la + f0 * (lb - la), pa + f0 * (pb - pa))
        xs1, ys1 = grid.project(la + f1 * (lb - la), pa + f1 * (pb - pa))
        d, i = segment_cells(grid, xs0, ys0, xs1, ys1)
        keys_seg.append(_unique_cells(d, i))
    pt = np.unique(np.concatenate(keys_pt)) if keys_pt else np.empty(0, np.int64)
    allk = np.unique(np.concatenate([pt, *keys_seg])) if keys_seg else pt
    if stats is not None:
        stats.update(points=n_points, point_cells=int(len(pt)), segments=n_segments,
                     interpolation_only_cells=int(len(allk) - len(pt)), cells=int(len(allk)))
    return allk >> 20, allk & 0xFFFFF

"""Station tables: code -> destination, signed, holding no address, coordinate, cell index or key.

A station table is the only artefact that leaves the encoder. It is a small SQLite file:

- ``codes(body INTEGER PRIMARY KEY, zone INTEGER) WITHOUT ROWID``: the code body (routing prefix,
  epoch and opaque part: the 8 characters before the check character, 40 bits, read as a base-32
  number) -> index into ``zones``. The check character is not stored: it is a function of the body.
- ``zones(idx, zone, sort_center, route, fields)``: destinations; ``fields`` is the zones file's
  extra properties as JSON.
- ``epochs(id, status)``: the key epochs the table knows. Rows exist for active and retired epochs;
  revoked epochs are listed here only, so `resolve` can answer "revoked" instead of "unknown".
- ``next_hop(prefix, sort_center, sort_centers)``: routing prefix (district) -> the sort center
  holding most of its codes, and every sort center with codes there (JSON list, most codes first).
  A per-station extract uses it to say where a foreign parcel goes next.
- ``meta(key, value)``: JSON values: format, table format version, serial, build time, station
  ("all" or a sort center), epochs, zones file SHA-256, row count, signer's key fingerprint, grid.
- ``signature(blob)``: `MAGIC` followed by the 64-byte Ed25519 signature.

Signature over every byte of the file: the table is built, ``VACUUM INTO`` a fresh file (final
layout, no stale pages), then the SHA-256 of the whole file -- with the 64 signature bytes still
zero -- is signed, and the signature is written over those 64 bytes in place (same length, so
SQLite's layout is untouched); the file is then renamed into place atomically. To verify, find
`MAGIC` exactly once, zero the 64 bytes after it, hash, check the signature with the station's
public key. Any change to any byte (or a truncation, or a second `MAGIC`) is refused with
`IntegrityError`. The verified bytes themselves are then opened with
`sqlite3.Connection.deserialize`, so the file cannot be swapped between the check and the use.

Which cells get rows: every cell `encode` can issue a code for (`issuable_cells`): cells of the
reference points (precision point/street) and every cell crossed by an interpolation segment
between consecutive house numbers of the same parity on one street (precision interpolated).

This module imports nothing heavy at module level: `resolve` start-up uses `open_table`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from addrcode.errors import DataError, IntegrityError, UsageError

TABLE_FORMAT = "addrcode-station-table"
TABLE_VERSION = 1
APPLICATION_ID = 0x41445442  # "ADTB" in the SQLite header: an addrcode station table
# 16-byte marker in front of the signature slot; must occur exactly once in a signed file.
MAGIC = b"\xa9ADDRCODE.SIG\x01\xfe\x00"
SIG_LEN = 64
MAX_SERIAL = 99991231235959  # the largest build-time serial, YYYYMMDDHHMMSS
_SIGN_CONTEXT = b"addrcode-station-table-v1\x00"  # domain separation: this key signs only table digests
_SQLITE_HEADER = b"SQLite format 3\x00"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_PY32 = str.maketrans(CROCKFORD, "0123456789abcdefghijklmnopqrstuv")
_FROM_PY32 = str.maketrans("0123456789abcdefghijklmnopqrstuv", CROCKFORD)
FRESH_COPY = "get a fresh copy from whoever publishes your station tables (or rebuild it with `addrcode table build`)"

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE epochs(id TEXT PRIMARY KEY, status TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE zones(idx INTEGER PRIMARY KEY, zone TEXT NOT NULL, sort_center TEXT NOT NULL,
                   route TEXT NOT NULL, fields TEXT NOT NULL);
CREATE TABLE next_hop(prefix INTEGER PRIMARY KEY, sort_center TEXT NOT NULL, sort_centers TEXT NOT NULL);
CREATE TABLE codes(body INTEGER PRIMARY KEY, zone INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE signature(blob BLOB NOT NULL);
"""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class TableInfo:
    """What a table says about itself (its meta table) plus where it is and how big."""

    path: str
    serial: int
    built_at: str
    station: str
    epochs: tuple[tuple[str, str], ...]
    zones_sha256: str
    rows: int
    zones: int
    public_key_fingerprint: str
    demo: bool
    grid: dict = field(default_factory=dict)
    size_bytes: int = 0
    version: int = TABLE_VERSION

    def to_dict(self) -> dict:
        """A JSON-friendly dict (for `addrcode table verify --format json`)."""
        return {
            "path": self.path, "version": self.version, "serial": self.serial, "built_at": self.built_at,
            "station": self.station, "epochs": [{"id": i, "status": s} for i, s in self.epochs],
            "zones_sha256": self.zones_sha256, "rows": self.rows, "zones": self.zones,
            "public_key_fingerprint": self.public_key_fingerprint, "demo": self.demo, "grid": self.grid,
            "size_bytes": self.size_bytes,
        }


@dataclass(frozen=True)
class Diff:
    """What changes between two table versions (codes as printed text; no addresses exist here)."""

    old: TableInfo
    new: TableInfo
    added: int
    removed: int
    rerouted: int
    revoked: int
    unchanged: int
    samples: dict = field(default_factory=dict)  # kind -> [{"code", "old", "new"}]
    reroutes: tuple = ()  # ((old zone, new zone, count), ...) most codes first
    epochs_changed: tuple = ()  # ((epoch id, old status or "", new status or ""), ...)

    @property
    def changed(self) -> bool:
        """True if any code would resolve differently."""
        return bool(self.added or self.removed or self.rerouted or self.revoked)

    def to_dict(self) -> dict:
        """A JSON-friendly dict."""
        return {
            "old": self.old.to_dict(), "new": self.new.to_dict(),
            "counts": {"added": self.added, "removed": self.removed, "rerouted": self.rerouted,
                       "revoked": self.revoked, "unchanged": self.unchanged},
            "reroutes": [{"old_zone": a, "new_zone": b, "codes": n} for a, b, n in self.reroutes],
            "epochs_changed": [{"id": i, "old": a, "new": b} for i, a, b in self.epochs_changed],
            "samples": self.samples,
        }

    def text(self) -> str:
        """A short human summary for a station manager."""
        lines = [
            f"old: serial {self.old.serial}, {self.old.rows} codes, station {self.old.station}",
            f"new: serial {self.new.serial}, {self.new.rows} codes, station {self.new.station}",
            f"added {self.added}, removed {self.removed}, re-routed {self.rerouted}, revoked {self.revoked}, "
            f"unchanged {self.unchanged}",
        ]
        if self.new.serial <= self.old.serial:
            lines.append("WARNING: the new table's serial is not newer; `table verify --newer-than` will refuse it")
        for eid, a, b in self.epochs_changed:
            lines.append(f"epoch {eid}: {a or '-'} -> {b or '-'}")
        for a, b, n in self.reroutes[:20]:
            lines.append(f"  {n} codes re-routed {a} -> {b}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- code bodies


def body_of(compact: str) -> int:
    """The 40-bit table key of a normalized 9-character code (its first 8 characters, base 32)."""
    return int(compact[:8].translate(_TO_PY32), 32)


def code_of_body(body: int) -> str:
    """The printed code (``PPP-EOOOO-C``) of a table key."""
    from addrcode.codes.scheme import check_char

    digits = []
    for _ in range(8):
        body, d = divmod(body, 32)
        digits.append(CROCKFORD[d])
    text = "".join(reversed(digits))
    return f"{text[:3]}-{text[3:]}-{check_char(text)}"


def _bodies(district, epoch_value: int, opaque):
    """Vectorised body = district << 25 | epoch << 20 | opaque."""
    import numpy as np

    return (np.asarray(district, dtype=np.int64) << 25) | (epoch_value << 20) | np.asarray(opaque, dtype=np.int64)


# --------------------------------------------------------------------------- issuable cells


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


def interpolation_pairs(street, num):
    """Index pairs (a, b) of points between which `geocode` interpolates.

    Input arrays are sorted by (street, num). For each street and parity, consecutive distinct
    numbers a < b with a gap of at least 4 (so some number of the same parity lies strictly
    between) give a segment; when several points share a number (units), every combination.
    """
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
        a, b = interpolation_pairs(street, num)
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


# --------------------------------------------------------------------------- building


def _now_serial() -> tuple[int, str]:
    t = time.gmtime()
    return int(time.strftime("%Y%m%d%H%M%S", t)), time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def _encode_opaque(district, index, epoch):
    """Opaque parts (ints) of many cells under one epoch, via the code stage's batch path."""
    import numpy as np

    from addrcode.codes.scheme import encode_cells

    codes = encode_cells(zip(district.tolist(), index.tolist()), epoch)
    return np.array([int(c.opaque.translate(_TO_PY32), 32) for c in codes], dtype=np.int64)


def build_table(reference_path, zones, keyring, grid, out, *, station: str | None = None,
                serial: int | None = None, progress: Callable[[str], None] | None = None,
                cells=None, page_size: int = 4096) -> TableInfo:
    """Build and sign a station table at `out` (atomically) and return its `TableInfo`.

    One row per issuable cell (`issuable_cells`) inside a zone, for every active and retired epoch
    of `keyring`; revoked epochs are listed without rows. `zones` is a loaded `Zones`. With
    `station` (a sort center id), only that sort center's rows and zones are kept, plus the
    routing-prefix next-hop table every table carries. `serial` defaults to the build time in UTC
    as YYYYMMDDHHMMSS. `progress(message)` is called between stages. `cells` (district, index
    arrays from `issuable_cells`) skips recomputing them; `page_size` (SQLite, 512..65536) can be
    lowered for tiny extracts.
    """
    import numpy as np

    say = progress or (lambda msg: None)
    out = Path(out)
    default_serial, built_at = _now_serial()
    if serial is None:
        serial = default_serial
    if not isinstance(serial, int) or isinstance(serial, bool) or not 0 <= serial <= MAX_SERIAL:
        # A bound, because a station that installed a huge serial would refuse every later table.
        raise UsageError(f"--serial must be an integer from 0 to {MAX_SERIAL} (default: the build time "
                         "as YYYYMMDDHHMMSS)")
    usable = [e for e in keyring.epochs if e.status in ("active", "retired")]
    if not usable:
        raise UsageError("the keyring has no active or retired epoch; nothing to build a table for")

    if page_size not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        raise UsageError("page size must be a power of two from 512 to 65536")
    if cells is None:
        say("finding issuable cells")
        district, index = issuable_cells(reference_path, grid)
    else:
        district, index = (np.asarray(a, dtype=np.int64) for a in cells)
    say(f"{len(district)} issuable cells; assigning zones")
    pos = zones.zone_positions_of_cells(grid, district, index) if len(district) else np.empty(0, np.int64)
    inside = pos >= 0
    district, index, pos = district[inside], index[inside], pos[inside]
    all_zones = list(zones.zones)
    sc_of_pos = np.array([z.sort_center for z in all_zones], dtype=object)

    # next hop per routing prefix, from every zone (an extract still routes foreign parcels)
    next_hop = []
    if len(district):
        pairs = {}
        for dist, sc in zip(district.tolist(), sc_of_pos[pos].tolist()):
            pairs.setdefault(dist, {}).setdefault(sc, 0)
            pairs[dist][sc] += 1
        for dist in sorted(pairs):
            ranked = sorted(pairs[dist].items(), key=lambda kv: (-kv[1], kv[0]))
            next_hop.append((dist, ranked[0][0], json.dumps([sc for sc, _ in ranked])))

    if station is not None:
        centers = sorted({z.sort_center for z in all_zones})
        if station not in centers:
            shown = ", ".join(centers[:20]) + (" ..." if len(centers) > 20 else "")
            raise UsageError(f"no zone has sort center {station!r}; sort centers in the zones file: {shown}")
        keep = sc_of_pos[pos] == station
        district, index, pos = district[keep], index[keep], pos[keep]
        kept_pos = sorted({p for p, z in enumerate(all_zones) if z.sort_center == station})
    else:
        kept_pos = list(range(len(all_zones)))
    # renumber the zones kept, in zone id order
    new_idx = np.full(len(all_zones), -1, dtype=np.int64)
    new_idx[kept_pos] = np.arange(len(kept_pos))
    zone_col = new_idx[pos]

    say(f"encoding {len(district)} cells x {len(usable)} epoch(s)")
    bodies, zcols = [], []
    for ep in usable:
        opaque = _encode_opaque(district, index, ep)
        bodies.append(_bodies(district, CROCKFORD.index(ep.id), opaque))
        zcols.append(zone_col)
    body = np.concatenate(bodies) if bodies else np.empty(0, np.int64)
    zcol = np.concatenate(zcols) if zcols else np.empty(0, np.int64)
    order = np.argsort(body, kind="stable")
    body, zcol = body[order], zcol[order]
    if len(body) and np.any(body[1:] == body[:-1]):  # a permutation cannot collide; refuse if it did
        raise DataError("two cells got the same code; the code stage is broken, do not ship this table")

    verify_key = keyring.verify_key
    meta = {
        "format": TABLE_FORMAT,
        "version": TABLE_VERSION,
        "serial": serial,
        "built_at": built_at,
        "station": station or "all",
        "epochs": [{"id": e.id, "status": e.status} for e in keyring.epochs],
        "zones_sha256": zones.sha256,
        "rows": int(len(body)),
        "zones": len(kept_pos),
        "public_key_fingerprint": verify_key.fingerprint,
        "demo": bool(keyring.is_demo),
        "grid": {"crs": grid.crs, "cell_size_m": grid.cell_size_m},
    }
    import tempfile

    say(f"writing {len(body)} rows")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp1 = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".build", dir=out.parent)
    os.close(fd)
    tmp2 = tmp1[: -len(".build")] + ".tmp"
    try:
        db = sqlite3.connect(tmp1)
        db.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size={page_size};"
                         f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={TABLE_VERSION};")
        db.executescript(_SCHEMA)
        db.executemany("INSERT INTO meta VALUES (?,?)", [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()])
        db.executemany("INSERT INTO epochs VALUES (?,?)", [(e.id, e.status) for e in keyring.epochs])
        db.executemany("INSERT INTO zones VALUES (?,?,?,?,?)", [
            (n, all_zones[p].id, all_zones[p].sort_center, all_zones[p].route,
             json.dumps(dict(all_zones[p].fields), sort_keys=True, ensure_ascii=False))
            for n, p in enumerate(kept_pos)])
        db.executemany("INSERT INTO next_hop VALUES (?,?,?)", next_hop)
        db.executemany("INSERT INTO codes VALUES (?,?)", zip(body.tolist(), zcol.tolist()))
        db.execute("INSERT INTO signature VALUES (?)", (MAGIC + bytes(SIG_LEN),))
        db.commit()
        db.execute("VACUUM INTO ?", (tmp2,))  # fresh file: final layout, no free pages or stale bytes
        db.close()
        os.unlink(tmp1)
        say("signing")
        _sign_file(Path(tmp2), keyring.signing_key)
        os.chmod(tmp2, 0o644)
        os.replace(tmp2, out)
    except BaseException as exc:
        for t in (tmp1, tmp2):
            try:
                os.unlink(t)
            except FileNotFoundError:
                pass
        if isinstance(exc, (sqlite3.OperationalError, OSError)):  # disk full, file size limit, I/O error
            raise DataError(f"{out}: cannot write the station table ({exc}); nothing was written") from None
        raise
    return _info_from_meta(meta, out, out.stat().st_size)


def _digest(data: bytes, offset: int) -> bytes:
    """SHA-256 of the file bytes with the 64-byte signature slot at `offset` zeroed."""
    h = hashlib.sha256()
    mv = memoryview(data)
    h.update(mv[:offset])
    h.update(bytes(SIG_LEN))
    h.update(mv[offset + SIG_LEN:])
    return h.digest()


def _sig_offset(data: bytes) -> int:
    """Offset of the 64 signature bytes, or -1 if MAGIC is missing or not unique."""
    at = data.find(MAGIC)
    if at < 0 or data.find(MAGIC, at + 1) >= 0:
        return -1
    off = at + len(MAGIC)
    return off if off + SIG_LEN <= len(data) else -1


def _sign_file(path: Path, signing_key) -> None:
    data = path.read_bytes()
    off = _sig_offset(data)
    if off < 0 or data[off: off + SIG_LEN] != bytes(SIG_LEN):
        raise DataError(f"{path}: signature slot not found exactly once while signing; rebuild the table")
    sig = signing_key.sign(_SIGN_CONTEXT + _digest(data, off))
    with open(path, "r+b") as fh:
        fh.seek(off)
        fh.write(sig)
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------- opening and verifying


def load_public_key(public_key):
    """A `keys.VerifyKey` from a VerifyKey, 32 raw bytes, 64 hex digits, or a ``.pub`` file path."""
    from addrcode.codes.keyring import VerifyKey, read_verify_key

    if isinstance(public_key, VerifyKey):
        return public_key
    if isinstance(public_key, (bytes, bytearray)) and len(public_key) == 32:
        return VerifyKey(bytes(public_key))
    if isinstance(public_key, str) and len(public_key) == 64:
        try:
            return VerifyKey(bytes.fromhex(public_key))
        except ValueError:
            pass
    if isinstance(public_key, (str, os.PathLike)):
        return read_verify_key(public_key)
    raise UsageError("public key: give the keyring's .pub file (64 hex digits)")


def _signature_failed(path) -> IntegrityError:
    return IntegrityError(f"{path}: signature check failed: the file was modified or is corrupt; {FRESH_COPY}")


def verified_bytes(path, public_key) -> bytes:
    """Read the table file and check its signature over every byte; return the verified bytes.

    Raises `DataError` if missing/unreadable and `IntegrityError` if unsigned, truncated, modified,
    or signed by another key.
    """
    path = Path(path)
    vk = load_public_key(public_key)
    try:
        if path.exists() and not path.is_file():  # /dev/zero, a FIFO: never read without end
            raise DataError(f"{path}: not a regular file, not a station table")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: station table not found; build one with `addrcode table build -o {path.name}`"
                        " or copy it from your table publisher") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a station table") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the station table ({exc.strerror})") from None
    verify_bytes(data, vk, path)
    return data


def verify_bytes(data: bytes, public_key, name="station table") -> None:
    """Check the signature of a table's bytes (in memory); `IntegrityError` naming `name` if it fails."""
    vk = load_public_key(public_key)
    off = _sig_offset(data)
    if off < 0:
        raise IntegrityError(f"{name}: unsigned or corrupt station table (no single signature slot); {FRESH_COPY}")
    if not vk.verify(data[off: off + SIG_LEN], _SIGN_CONTEXT + _digest(data, off)):
        raise _signature_failed(name)


def _connect(path, data: bytes) -> sqlite3.Connection:
    if sys.version_info >= (3, 11):
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.deserialize(data)
    else:  # Python 3.10: no deserialize; the file could be swapped after the check (documented)
        uri = Path(path).resolve().as_uri() + "?mode=ro&immutable=1"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only=1")
    return db


def _info_from_meta(meta: dict, path, size: int) -> TableInfo:
    return TableInfo(
        path=str(path), serial=int(meta["serial"]), built_at=str(meta["built_at"]), station=str(meta["station"]),
        epochs=tuple((e["id"], e["status"]) for e in meta["epochs"]), zones_sha256=str(meta["zones_sha256"]),
        rows=int(meta["rows"]), zones=int(meta["zones"]),
        public_key_fingerprint=str(meta["public_key_fingerprint"]), demo=bool(meta["demo"]),
        grid=dict(meta.get("grid", {})), size_bytes=size, version=int(meta["version"]),
    )


def _check_and_info(db: sqlite3.Connection, path, size: int) -> TableInfo:
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError:
        raise DataError(f"{path}: signed, but not a readable SQLite station table; {FRESH_COPY}") from None
    if app_id != APPLICATION_ID:
        raise DataError(f"{path}: not an addrcode station table; {FRESH_COPY}")
    if version != TABLE_VERSION:
        raise DataError(f"{path}: station table format version {version}; this addrcode reads version "
                        f"{TABLE_VERSION}: upgrade addrcode or rebuild the table")
    try:
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        if meta.get("format") != TABLE_FORMAT or meta.get("version") != TABLE_VERSION:
            raise ValueError
        return _info_from_meta(meta, path, size)
    except (sqlite3.DatabaseError, ValueError, KeyError, TypeError):
        raise DataError(f"{path}: station table metadata unreadable; {FRESH_COPY}") from None


def open_table(path, public_key) -> tuple[sqlite3.Connection, TableInfo]:
    """Verify the signature, then open the verified bytes in memory (read-only); (connection, info).

    The connection never reads the file again, so the table cannot be swapped after the check.
    """
    data = verified_bytes(path, public_key)
    db = _connect(path, data)
    try:
        info = _check_and_info(db, path, len(data))
    except BaseException:
        db.close()
        raise
    return db, info


def _serial_of(newer_than, public_key) -> int:
    if isinstance(newer_than, int) and not isinstance(newer_than, bool):
        return newer_than
    if isinstance(newer_than, str) and newer_than.isdigit():
        return int(newer_than)
    db, info = open_table(newer_than, public_key)
    db.close()
    return info.serial


def verify_table(path, public_key, *, newer_than=None) -> TableInfo:
    """Check a table completely before installing it; return its `TableInfo`.

    Verifies the signature over every byte, the format, and that every code row points at a
    zone. `newer_than` (a serial, or the path of the installed table) refuses a table whose
    serial is not strictly greater, so an old table cannot be replayed over a newer one.
    """
    db, info = open_table(path, public_key)
    try:
        try:
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
            dangling = db.execute(
                "SELECT COUNT(*) FROM codes c LEFT JOIN zones z ON z.idx = c.zone WHERE z.idx IS NULL").fetchone()[0]
            rows = db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
        except sqlite3.DatabaseError:
            raise DataError(f"{path}: station table is not readable; {FRESH_COPY}") from None
        if ok != "ok" or dangling or rows != info.rows:
            raise DataError(f"{path}: station table is inconsistent although signed; {FRESH_COPY}")
    finally:
        db.close()
    if newer_than is not None:
        installed = _serial_of(newer_than, public_key)
        if info.serial <= installed:
            raise IntegrityError(
                f"{path}: serial {info.serial} is not newer than the installed table's serial {installed}; "
                "refusing to install an older (or the same) table. Ask your table publisher for the current one")
    return info


# --------------------------------------------------------------------------- diff


def diff_tables(old, new, public_key, *, sample: int = 10) -> Diff:
    """Compare two verified tables: which codes were added, removed, re-routed or revoked.

    Re-routed: same code, another destination (zone, sort center, route or extra fields).
    Revoked: a code of the old table whose epoch the new table lists as revoked. `sample` codes of
    each kind are listed (codes only: tables hold no addresses).
    """
    old_bytes = verified_bytes(old, public_key)
    new_bytes = verified_bytes(new, public_key)
    db = sqlite3.connect(":memory:")
    try:
        if sys.version_info >= (3, 11):
            db.deserialize(old_bytes)
            db.execute("ATTACH DATABASE ':memory:' AS new")
            db.deserialize(new_bytes, name="new")
        else:
            db.close()
            db = sqlite3.connect(Path(old).resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
            db.execute("ATTACH DATABASE ? AS new", (Path(new).resolve().as_uri() + "?mode=ro&immutable=1",))
        old_info = _check_and_info(db, old, len(old_bytes))
        new_db = _connect(new, new_bytes)
        try:
            new_info = _check_and_info(new_db, new, len(new_bytes))
        finally:
            new_db.close()

        def dests(schema):
            return {idx: {"zone": z, "sort_center": sc, "route": r, **json.loads(f)}
                    for idx, z, sc, r, f in db.execute(f"SELECT idx, zone, sort_center, route, fields FROM {schema}.zones")}

        old_dest, new_dest = dests("main"), dests("new")
        old_ep, new_ep = dict(old_info.epochs), dict(new_info.epochs)
        revoked_now = {CROCKFORD.index(e) for e, s in new_ep.items() if s == "revoked" and old_ep.get(e) != "revoked"}
        epochs_changed = tuple((e, old_ep.get(e, ""), new_ep.get(e, ""))
                               for e in sorted(set(old_ep) | set(new_ep), key=CROCKFORD.index)
                               if old_ep.get(e) != new_ep.get(e))
        samples = {"added": [], "removed": [], "rerouted": [], "revoked": []}
        counts = dict.fromkeys(samples, 0)
        same_dest = {}
        reroutes: dict = {}
        unchanged = 0
        q = ("SELECT o.body, o.zone, n.zone FROM main.codes o JOIN new.codes n ON n.body = o.body")
        for body, oz, nz in db.execute(q):
            key = (oz, nz)
            same = same_dest.get(key)
            if same is None:
                same = same_dest[key] = old_dest[oz] == new_dest[nz]
            if same:
                unchanged += 1
                continue
            counts["rerouted"] += 1
            pair = (old_dest[oz]["zone"], new_dest[nz]["zone"])
            reroutes[pair] = reroutes.get(pair, 0) + 1
            if len(samples["rerouted"]) < sample:
                samples["rerouted"].append({"code": code_of_body(body), "old": old_dest[oz], "new": new_dest[nz]})
        for body, oz in db.execute("SELECT o.body, o.zone FROM main.codes o LEFT JOIN new.codes n "
                                   "ON n.body = o.body WHERE n.body IS NULL"):
            kind = "revoked" if (body >> 20) & 31 in revoked_now else "removed"
            counts[kind] += 1
            if len(samples[kind]) < sample:
                samples[kind].append({"code": code_of_body(body), "old": old_dest[oz], "new": None})
        for body, nz in db.execute("SELECT n.body, n.zone FROM new.codes n LEFT JOIN main.codes o "
                                   "ON o.body = n.body WHERE o.body IS NULL"):
            counts["added"] += 1
            if len(samples["added"]) < sample:
                samples["added"].append({"code": code_of_body(body), "old": None, "new": new_dest[nz]})
    except sqlite3.DatabaseError:
        raise DataError(f"{old} / {new}: station tables unreadable although signed; {FRESH_COPY}") from None
    finally:
        db.close()
    ranked = tuple(sorted(((a, b, n) for (a, b), n in reroutes.items()), key=lambda t: (-t[2], t[0], t[1])))
    return Diff(old=old_info, new=new_info, added=counts["added"], removed=counts["removed"],
                rerouted=counts["rerouted"], revoked=counts["revoked"], unchanged=unchanged,
                samples=samples, reroutes=ranked, epochs_changed=epochs_changed)


# --------------------------------------------------------------------------- default table


def default_table(cache_dir, notify: Callable[[str], None] | None = None, *, reference=None, zones_path=None,
                  keyring_path=None, grid=None) -> tuple[Path, Path]:
    """The demo station table for the embedded data, built once into `cache_dir`: (table, public key).

    Defaults: the embedded Vermont reference (`addrcode.geocoding.default.default_reference`), `data/vt-zones.geojson`,
    the demo keyring and the EPSG:5070 100 m grid. The file name carries a hash of every input, so
    new data, zones, keys or a new table format build a new file.
    """
    # only what naming the file needs is imported up front: a station's start-up stays light
    from addrcode.codes.keyring import demo_keyring_path, pub_path

    cache_dir = Path(cache_dir)
    if reference is not None:
        ref = Path(reference)
    else:
        from addrcode.geocoding.default import default_reference

        ref = default_reference(cache_dir, notify)
    if zones_path is not None:
        zpath = Path(zones_path)
    else:
        from addrcode.zones import default_zones_path

        zpath = default_zones_path()
    kpath = Path(keyring_path) if keyring_path is not None else demo_keyring_path()
    if grid is None:
        from addrcode.grid import Grid

        grid = Grid()
    h = hashlib.sha256()
    for part in (ref.name, str(ref.stat().st_size), hashlib.sha256(zpath.read_bytes()).hexdigest(),
                 hashlib.sha256(kpath.read_bytes()).hexdigest(), grid.crs, repr(grid.cell_size_m),
                 str(TABLE_VERSION)):
        h.update(part.encode() + b"\x00")
    out = cache_dir / f"table-v{TABLE_VERSION}-{h.hexdigest()[:12]}.sqlite"
    pub = pub_path(kpath)
    if out.is_file():
        return out, pub
    if notify is not None:
        notify(f"building the default station table (once) into {out} ...")
    from addrcode.codes.keyring import load_keyring
    from addrcode.zones import load_zones

    build_table(ref, load_zones(zpath), load_keyring(kpath), grid, out)
    return out, pub

"""Building a station table: issuable cells -> zones -> codes under every usable epoch -> signed file.

`build_table` writes the format described in `addrcode.stations.table` and signs it with
`addrcode.stations.signing`. numpy is imported inside the functions.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from addrcode.errors import DataError, UsageError
from addrcode.stations.cells import issuable_cells
from addrcode.stations.cover import covered_cells, zone_positions
from addrcode.stations.signing import MAGIC, SIG_LEN, sign_file
from addrcode.stations.table import (
    ALPHABET,
    APPLICATION_ID,
    MAX_SERIAL,
    SCHEMA,
    TABLE_FORMAT,
    TABLE_VERSION,
    TO_PY32,
    TableInfo,
    info_from_meta,
)


def _bodies(district, epoch_value: int, opaque):
    """Vectorised body = district << 25 | epoch << 20 | opaque."""
    import numpy as np

    return (np.asarray(district, dtype=np.int64) << 25) | (epoch_value << 20) | np.asarray(opaque, dtype=np.int64)


def serial_of_time(moment) -> int:
    """The build-time serial of `moment`: its UTC time as the number YYYYMMDDHHMMSS."""
    from addrcode.codes.schedule import format_time

    return int(format_time(moment).translate(str.maketrans("", "", "-T:Z")))


def _expiry(keyring, valid_days, say):
    """When the table stops being accepted: by default when the keyring's window moves past the last
    period whose key the table holds (the lookahead period), else `valid_days` after the build."""
    from datetime import timedelta

    sched = keyring.schedule
    last_known = sched.start_of(keyring.current_period + sched.lookahead + 1)
    if valid_days is None:
        return last_known
    if not 0 < valid_days <= 366:
        raise UsageError("--valid-days must be more than 0 and at most 366")
    not_after = keyring.now + timedelta(days=valid_days)
    if not_after > last_known:
        say(f"note: valid until {not_after:%Y-%m-%d}, but codes of periods from {last_known:%Y-%m-%d} are not in "
            "this table (they answer `unknown`): publish a new table every key period")
    return not_after


# Cells handled at once where a step makes Python objects per cell (encoding, zone look-up, rows
# written): memory then grows with the cells only as numpy arrays, a few bytes per cell.
BATCH = 1 << 18


def _batches(n: int):
    size = BATCH
    return ((s, min(n, s + size)) for s in range(0, n, size))


def _encode_opaque(district, index, epoch):
    """Opaque parts (ints) of many cells under one epoch, via the code stage's batch path, in batches."""
    import numpy as np

    from addrcode.codes.scheme import encode_cells

    out = np.empty(len(district), dtype=np.int64)
    for s, e in _batches(len(district)):
        codes = encode_cells(zip(district[s:e].tolist(), index[s:e].tolist()), epoch)
        out[s:e] = np.fromiter((int(c.opaque.translate(TO_PY32), 32) for c in codes), dtype=np.int64,
                               count=e - s)
    return out


def build_table(reference_path, zones, keyring, grid, out, *, station: str | None = None,
                serial: int | None = None, progress: Callable[[str], None] | None = None,
                cells=None, page_size: int = 4096, file_mode: int = 0o600, cover: bool = True,
                valid_days: float | None = None) -> TableInfo:
    """Build and sign a station table at `out` (atomically) and return its `TableInfo`.

    One row per covered cell (`addrcode.stations.cover.covered_cells`: every in-zone cell near a
    populated 1 km block, padded with decoys, so the rows do not say which cells are populated; with
    `cover=False` exactly the issuable cells in a zone) for every usable key of `keyring`'s window;
    revoked and expired epochs are listed without rows. `zones` is a loaded `Zones`. With
    `station` (a sort center id), only that sort center's rows and zones are kept, plus the
    routing-prefix next-hop table every table carries. `serial` defaults to the build time in UTC
    as YYYYMMDDHHMMSS, and may not be larger (a station refuses a table from the future, so no serial
    can block the tables after it). The build time is the keyring's clock (`Keyring.at`). The table
    expires (`not_after`, see `_expiry`) at the end of the last key period it holds, or after
    `valid_days`. `progress(message)` is called between stages. `cells` (district, index
    arrays from `issuable_cells`) skips recomputing them; `page_size` (SQLite, 512..65536) can be
    lowered for tiny extracts.
    """
    import numpy as np

    say = progress or (lambda msg: None)
    out = Path(out)
    from addrcode.codes.schedule import format_time

    keyring = keyring.at(keyring.now)  # one moment for the whole build: the window must not move midway
    default_serial, built_at = serial_of_time(keyring.now), format_time(keyring.now)
    if serial is None:
        serial = default_serial
    if not isinstance(serial, int) or isinstance(serial, bool) or not 0 <= serial <= min(MAX_SERIAL, default_serial):
        # A bound, because a station that installed a huge serial would refuse every later table.
        raise UsageError(f"--serial must be an integer from 0 to the build time as YYYYMMDDHHMMSS ({default_serial}; "
                         "the default): a station keeps the highest serial it installed and refuses lower ones")
    not_after = format_time(_expiry(keyring, valid_days, say))
    usable = list(keyring.usable_epochs)
    if not usable:
        raise UsageError("the keyring has no usable epoch now (check the clock); nothing to build a table for")

    if page_size not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
        raise UsageError("page size must be a power of two from 512 to 65536")
    if cells is None:
        say("finding issuable cells")
        cells = issuable_cells(reference_path, grid)
    district, index = (np.asarray(a, dtype=np.int64) for a in cells)
    if cover:
        say(f"{len(district)} issuable cells; covering them (footprint blocks, buffer, decoys) and assigning zones")
        district, index, pos = covered_cells(reference_path, zones, grid, issuable=(district, index))
    else:
        say(f"{len(district)} issuable cells; assigning zones")
        pos = zone_positions(zones, grid, district, index)
        inside = pos >= 0
        district, index, pos = district[inside], index[inside], pos[inside]
    all_zones = list(zones.zones)
    # sort centers as numbers, in name order (so ranking by number is ranking by name)
    centers = sorted({z.sort_center for z in all_zones})
    number = {sc: n for n, sc in enumerate(centers)}
    sc_of_pos = np.array([number[z.sort_center] for z in all_zones], dtype=np.int64)

    # next hop per routing prefix, from every zone (an extract still routes foreign parcels)
    next_hop = _next_hops(district, sc_of_pos[pos], centers)
    district, index, kept_pos, zone_col = _keep_station(station, all_zones, centers, district, index, pos,
                                                        sc_of_pos)
    body, zcol = _encode_rows(district, index, zone_col, usable, say)

    verify_key = keyring.verify_key
    meta = {
        "format": TABLE_FORMAT,
        "version": TABLE_VERSION,
        "serial": serial,
        "built_at": built_at,
        "not_after": not_after,
        "station": station or "all",
        "epochs": [{"id": i, "status": st} for i, st in keyring.epoch_statuses().items()],
        "zones_sha256": zones.sha256,
        "rows": int(len(body)),
        "zones": len(kept_pos),
        "public_key_fingerprint": verify_key.fingerprint,
        "public_key": verify_key.hex,  # signed with the rest: lets a failed check name the signer
        "demo": bool(keyring.is_demo),
        "grid": {"crs": grid.crs, "cell_size_m": grid.cell_size_m},
    }
    _write_signed(out, meta, keyring, all_zones, kept_pos, next_hop, body, zcol, page_size, say, file_mode)
    return info_from_meta(meta, out, out.stat().st_size)


def _next_hops(district, sc, centers) -> list:
    """(prefix, sort center with most codes, JSON list of every sort center there) per routing prefix.

    `sc` is each cell's sort center as a position in `centers` (sorted names); ties in the count go
    to the lower name. Counted with numpy: Python objects only per (prefix, sort center) pair.
    """
    import numpy as np

    next_hop = []
    if not len(district):
        return next_hop
    n = max(1, len(centers))
    pair, count = np.unique(district.astype(np.int64) * n + sc, return_counts=True)
    dist, sc_pair = pair // n, pair % n
    order = np.lexsort((sc_pair, -count, dist))  # by prefix, then most codes first, then name
    dist, sc_pair = dist[order].tolist(), sc_pair[order].tolist()
    starts = [0] + [j for j in range(1, len(dist)) if dist[j] != dist[j - 1]] + [len(dist)]
    for s, e in zip(starts[:-1], starts[1:]):
        ranked = [centers[c] for c in sc_pair[s:e]]
        next_hop.append((dist[s], ranked[0], json.dumps(ranked)))
    return next_hop


def _keep_station(station, all_zones, centers, district, index, pos, sc_of_pos):
    """Keep one sort center's cells and zones (or all): (district, index, kept zone positions, zone column)."""
    import numpy as np

    if station is not None:
        if station not in centers:
            shown = ", ".join(centers[:20]) + (" ..." if len(centers) > 20 else "")
            raise UsageError(f"no zone has sort center {station!r}; sort centers in the zones file: {shown}")
        keep = sc_of_pos[pos] == centers.index(station)
        district, index, pos = district[keep], index[keep], pos[keep]
        kept_pos = sorted({p for p, z in enumerate(all_zones) if z.sort_center == station})
    else:
        kept_pos = list(range(len(all_zones)))
    # renumber the zones kept, in zone id order
    new_idx = np.full(len(all_zones), -1, dtype=np.int64)
    new_idx[kept_pos] = np.arange(len(kept_pos))
    zone_col = new_idx[pos]
    return district, index, kept_pos, zone_col


def _encode_rows(district, index, zone_col, usable, say):
    """(body, zone) columns, sorted by body, for every cell under every usable epoch."""
    import numpy as np

    say(f"encoding {len(district)} cells x {len(usable)} epoch(s)")
    bodies, zcols = [], []
    for ep in usable:
        opaque = _encode_opaque(district, index, ep)
        bodies.append(_bodies(district, ALPHABET.index(ep.id), opaque))
        zcols.append(zone_col)
    body = np.concatenate(bodies) if bodies else np.empty(0, np.int64)
    zcol = np.concatenate(zcols) if zcols else np.empty(0, np.int64)
    order = np.argsort(body, kind="stable")
    body, zcol = body[order], zcol[order]
    if len(body) and np.any(body[1:] == body[:-1]):  # a permutation cannot collide; refuse if it did
        raise DataError("two cells got the same code; the code stage is broken, do not ship this table")
    return body, zcol


def _write_signed(out, meta, keyring, all_zones, kept_pos, next_hop, body, zcol, page_size, say,
                  file_mode: int) -> None:
    """Write the rows to a scratch file, ``VACUUM INTO`` the final layout, sign it, rename it to `out`."""
    import tempfile

    from addrcode.files import output_path

    say(f"writing {len(body)} rows")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = None
    try:
        with output_path(out, mode=file_mode) as final:
            fd, scratch = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".build", dir=final.parent)
            os.close(fd)
            db = sqlite3.connect(scratch)
            _insert_rows(db, meta, keyring, all_zones, kept_pos, next_hop, body, zcol, page_size)
            # VACUUM INTO the (empty) final file: its own layout, no free pages or stale bytes to sign
            db.execute("VACUUM INTO ?", (str(final),))
            db.close()
            say("signing")
            sign_file(final, keyring.signing_key)
    except (sqlite3.OperationalError, OSError) as exc:  # disk full, file size limit, I/O error
        raise DataError(f"{out}: cannot write the station table ({exc}); nothing was written") from None
    finally:
        if scratch is not None:
            Path(scratch).unlink(missing_ok=True)


def _insert_rows(db, meta, keyring, all_zones, kept_pos, next_hop, body, zcol, page_size) -> None:
    db.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size={page_size};"
                     f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={TABLE_VERSION};")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO meta VALUES (?,?)", [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()])
    db.executemany("INSERT INTO epochs VALUES (?,?)", list(keyring.epoch_statuses().items()))
    db.executemany("INSERT INTO zones VALUES (?,?,?,?,?)", [
        (n, all_zones[p].id, all_zones[p].sort_center, all_zones[p].route,
         json.dumps(dict(all_zones[p].fields), sort_keys=True, ensure_ascii=False))
        for n, p in enumerate(kept_pos)])
    db.executemany("INSERT INTO next_hop VALUES (?,?,?)", next_hop)
    db.executemany("INSERT INTO codes VALUES (?,?)", _code_rows(body, zcol))
    db.execute("INSERT INTO signature VALUES (?)", (MAGIC + bytes(SIG_LEN),))
    db.commit()


def _code_rows(body, zcol):
    """(body, zone) rows as Python ints, made a batch at a time (not one list of every row)."""
    for s, e in _batches(len(body)):
        yield from zip(body[s:e].tolist(), zcol[s:e].tolist())

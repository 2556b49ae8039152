"""Station tables at scale: batched building gives the same table; the pipelined read checks every byte.

`build_table` and `issuable_cells` work in bounded batches (cells, pieces of segments); the result must
not depend on the batch sizes. `open_table` reads the file once, hashing it in a second thread as it
arrives and copying it into SQLite before the hash is done: whatever the piece sizes, it must accept
exactly the files the plain check (`verify_bytes`) accepts, and use the bytes it checked.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from addrcode.codes.keyring import load_keyring, new_keyring, pub_path
from addrcode.errors import IntegrityError
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations import build as table_build
from addrcode.stations import cells as table_cells
from addrcode.stations import signing
from addrcode.stations.resolver import Resolver
from addrcode.zones import default_zones_path, load_zones

POINTS_CSV = Path(__file__).parent / "data" / "table_points.csv"  # test_table's 150 points


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("table_reading")


@pytest.fixture(scope="module")
def setup(work):
    ref = work / "ref.sqlite"
    build_reference([POINTS_CSV], ref)
    ring = work / "ring.json"
    new_keyring(ring)
    return ref, load_zones(default_zones_path()), load_keyring(ring), Grid()


@pytest.fixture(scope="module")
def table(work, setup):
    ref, zones, keyring, grid = setup
    out = work / "full.sqlite"
    table_build.build_table(ref, zones, keyring, grid, out, serial=5)
    return out, pub_path(keyring.path)


def _rows(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {name: db.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()
                for name in ("codes", "zones", "epochs", "next_hop")}
    finally:
        db.close()


def test_batch_sizes_do_not_change_the_table(work, setup, table, monkeypatch):
    ref, zones, keyring, grid = setup
    stats_default, stats_small = {}, {}
    cells_default = table_cells.issuable_cells(ref, grid, stats=stats_default)
    monkeypatch.setattr(table_build, "BATCH", 7)
    monkeypatch.setattr(table_cells, "MAX_PIECES", 5)
    monkeypatch.setattr(table_cells, "_MERGE_AT", 11)
    cells_small = table_cells.issuable_cells(ref, grid, stats=stats_small)
    assert stats_small == stats_default and stats_default["interpolation_only_cells"] > 0
    assert all((a == b).all() for a, b in zip(cells_default, cells_small))
    out = work / "small-batches.sqlite"
    table_build.build_table(ref, zones, keyring, grid, out, serial=5)
    assert _rows(out) == _rows(table[0])
    extract = work / "small-batches-extract.sqlite"
    table_build.build_table(ref, zones, keyring, grid, extract, serial=5, station="SC-ORANGE")
    monkeypatch.undo()
    again = work / "default-extract.sqlite"
    table_build.build_table(ref, zones, keyring, grid, again, serial=5, station="SC-ORANGE")
    assert _rows(extract) == _rows(again)


@pytest.mark.parametrize("piece,head", [(1 << 22, 1 << 20), (4096, 1 << 16), (1000, 700), (333, 1 << 30), (64, 16),
                                        (100, 1), (17, 5000)])
def test_pipelined_read_checks_what_the_plain_check_does(table, monkeypatch, piece, head):
    """Piece and head sizes that split the file anywhere; a head too short to hold the marker falls back."""
    path, pub = table
    monkeypatch.setattr(signing, "_PIECE", piece)
    monkeypatch.setattr(signing, "_HEAD", head)
    monkeypatch.setattr(signing, "_HUGE_FROM", 0 if piece % 2 else 1 << 23)  # mmap or bytearray
    data = path.read_bytes()
    read = signing._Read(path)
    assert bytes(read.buf) == data
    off = signing._sig_offset(data)
    if read.off >= 0:
        assert read.off == off
        assert read.digest() == (signing._digest(data, off), True)
    else:  # the head ends before the marker does: the plain check
        assert head < off
    assert bytes(signing.verified_bytes(path, pub)) == data
    db, info = signing.open_table(path, pub)
    try:
        assert db.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == info.rows > 0
    finally:
        db.close()


@pytest.mark.parametrize("piece,head", [(1 << 22, 1 << 20), (1000, 700), (64, 16)])
def test_every_flip_in_the_file_is_refused_by_open_table(work, table, monkeypatch, piece, head):
    """Flips anywhere, and always in the slot, its marker and the last page: refused, as by the plain check.

    Read into anonymous (huge-page) memory, as tables of 8 MiB or more are.
    """
    path, pub = table
    monkeypatch.setattr(signing, "_HUGE_FROM", 0)
    monkeypatch.setattr(signing, "_PIECE", piece)
    monkeypatch.setattr(signing, "_HEAD", head)
    data = path.read_bytes()
    off = signing._sig_offset(data)
    rng = random.Random(piece)
    spots = [off - 16, off - 1, off, off + 63, len(data) - 1, 0, 100]
    spots += [rng.randrange(len(data)) for _ in range(40)]
    bad = work / f"flipped-{piece}.sqlite"
    for at in spots:
        buf = bytearray(data)
        buf[at] ^= 1 << rng.randrange(8)
        bad.write_bytes(bytes(buf))
        with pytest.raises(IntegrityError, match="signature check failed|unsigned or corrupt"):
            signing.open_table(bad, pub)
        with pytest.raises(IntegrityError, match="signature check failed|unsigned or corrupt"):
            signing.verified_bytes(bad, pub)


@pytest.mark.parametrize("where", ["start", "straddling", "last"])
def test_second_marker_or_truncation_is_refused(work, table, monkeypatch, where):
    """A second marker anywhere (before the slot, across a piece boundary, at the very end) is refused."""
    path, pub = table
    monkeypatch.setattr(signing, "_PIECE", 1000)
    monkeypatch.setattr(signing, "_HEAD", 1 << 20 if where == "start" else 3000)
    data = bytearray(path.read_bytes())
    n = len(signing.MAGIC)
    at = {"start": 0, "straddling": 3000 + 3 * 1000 - n // 2, "last": len(data) - n}[where]
    assert signing._sig_offset(bytes(data)) > 3000 + 3 * 1000 + n
    data[at: at + n] = signing.MAGIC
    bad = work / f"two-markers-{where}.sqlite"
    bad.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="no single signature slot"):
        signing.open_table(bad, pub)
    with pytest.raises(IntegrityError, match="no single signature slot"):
        signing.verified_bytes(bad, pub)
    bad.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(IntegrityError):
        signing.open_table(bad, pub)


def test_resolver_keeps_answering_from_the_checked_bytes(work, table):
    path, pub = table
    copy = work / "swapped.sqlite"
    shutil.copy(path, copy)
    r = Resolver(copy, pub)
    body = r.db.execute("SELECT body FROM codes LIMIT 1").fetchone()[0]
    copy.write_bytes(b"\0" * copy.stat().st_size)
    from addrcode.stations.table import code_of_body

    assert r.resolve(code_of_body(body))["status"] == "ok"
    r.close()

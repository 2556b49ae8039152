"""Tests for the table cover (addrcode.stations.cover): the rows a station table holds say nothing finer
than 1 km blocks about where people live, and a new address adds no tell-tale row.

The attacks measured are those of issue 19: (1) recompute each (district, zone) class of issuable cells
from the public reference and zones and match it to the table's classes, pinning codes of small classes;
(2) diff two consecutive tables to find the newly populated cells."""

from __future__ import annotations

import csv
import sqlite3
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import keyring_with_history

from addrcode.codes.scheme import ALPHABET
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations import cover
from addrcode.stations.build import build_table
from addrcode.stations.cells import issuable_cells
from addrcode.zones import default_zones_path, load_zones

POINTS = Path(__file__).parent / "data" / "table_points.csv"
K = cover.MIN_CLASS_SIZE


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("cover")
    ref = work / "ref.sqlite"
    build_reference([POINTS], ref)
    ring, _ = keyring_with_history(work / "ring.json")
    return {"work": work, "ref": ref, "ring": ring, "grid": Grid(), "zones": load_zones(default_zones_path())}


def _rows(path) -> set[int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {b for (b,) in db.execute("SELECT body FROM codes")}
    finally:
        db.close()


def _classes(path, epoch_value: int) -> Counter:
    """(district, zone) -> rows of one epoch: what a table holder sees (prefix of the code, zone of the row)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return Counter((b >> 25, z) for b, z in db.execute("SELECT body, zone FROM codes")
                       if (b >> 20) & 31 == epoch_value)
    finally:
        db.close()


def _table(world, name, ref=None, **kw):
    out = world["work"] / name
    build_table(ref or world["ref"], world["zones"], world["ring"], world["grid"], out, serial=1, **kw)
    return out


def test_cover_holds_every_issuable_cell_and_only_in_zone_cells(world):
    ref, zones, grid = world["ref"], world["zones"], world["grid"]
    stats = {}
    d, i, pos = cover.covered_cells(ref, zones, grid, stats=stats)
    got = set(cover.cell_keys(d, i).tolist())
    di, ii = issuable_cells(ref, grid)
    inside = zones.zone_positions_of_cells(grid, di, ii) >= 0
    assert set(cover.cell_keys(di[inside], ii[inside]).tolist()) <= got
    assert np.all(pos >= 0) and np.array_equal(pos, zones.zone_positions_of_cells(grid, d, i))
    assert stats["cells"] == len(got) > 10 * stats["issuable"]  # sparse points: the cover is much larger


def test_class_recomputation_pins_no_code(world):
    """Without the cover, the table's class sizes equal the public issuable counts (the attack works); with
    it, every class has >= k cells or is every cell its zone has in that district, so no code is pinned."""
    ref, zones, grid = world["ref"], world["zones"], world["grid"]
    epoch = world["ring"].active
    value = ALPHABET.index(epoch.id)
    di, ii = issuable_cells(ref, grid)
    pos = zones.zone_positions_of_cells(grid, di, ii)
    public = Counter((int(d), int(p)) for d, p in zip(di, pos) if p >= 0)  # what anyone can recompute

    bare = _classes(_table(world, "bare.sqlite", cover=False), value)
    assert sorted(bare.values()) == sorted(public.values())  # the leak the cover closes
    assert min(bare.values()) < K

    covered = _classes(_table(world, "covered.sqlite"), value)
    pinned = sum(n for n in covered.values() if n == 1)
    assert pinned == 0
    for (district, zone_row), n in covered.items():
        if n < K:  # a zone fragment smaller than k: covered whole, whoever lives there
            gx, _ = cover.zone_district_cells(zones, grid, zone_row, district)
            assert n == len(gx)
    assert sorted(covered.values()) != sorted(public.values())


def _with_new_points(src: Path, dst: Path, offsets) -> None:
    rows = list(csv.DictReader(src.open(newline="")))
    fields = list(rows[0])
    extra = []
    for n, (dlon, dlat) in enumerate(offsets):
        base = dict(rows[n % len(rows)])
        base.update(LON=f"{float(base['LON']) + dlon:.7f}", LAT=f"{float(base['LAT']) + dlat:.7f}",
                    NUMBER=str(9000 + n), ID=str(900000 + n), HASH=f"{n:016x}")
        extra.append(base)
    with dst.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows + extra)


def test_new_addresses_in_populated_blocks_add_no_row(world):
    work = world["work"]
    src = work / "plus_inside.csv"
    # 20 new addresses a few metres from existing ones: same 1 km blocks
    _with_new_points(POINTS, src, [(0.00002 * (n % 5), 0.00002 * (n // 5)) for n in range(20)])
    ref2 = work / "inside.sqlite"
    build_reference([src], ref2)
    before = _rows(_table(world, "t-before.sqlite"))
    after = _rows(_table(world, "t-inside.sqlite", ref=ref2))
    assert before == after  # a new resident inside a populated block changes no byte of the row set


def test_new_addresses_in_new_blocks_hide_among_at_least_k_candidates(world):
    """40 new addresses (20 near existing ones, 20 in empty blocks 3-6 km away): the codes added between
    two tables are never pinned: the median candidate set (added rows of the same class) is >= k."""
    work = world["work"]
    offsets = [(0.00002 * n, 0.00001 * n) for n in range(20)]
    offsets += [(0.01 * (n % 5) - 0.02, 0.04 + 0.01 * (n // 5)) for n in range(20)]
    src = work / "plus_forty.csv"
    _with_new_points(POINTS, src, offsets)
    ref2 = work / "forty.sqlite"
    build_reference([src], ref2)
    t1, t2 = _table(world, "t1.sqlite"), _table(world, "t2.sqlite", ref=ref2)
    added = _rows(t2) - _rows(t1)
    assert not (_rows(t1) - _rows(t2))  # nothing removed
    assert added, "the fixture must add new blocks"
    db = sqlite3.connect(f"file:{t2}?mode=ro", uri=True)
    zone_of = dict(db.execute("SELECT body, zone FROM codes"))
    db.close()
    per_class = Counter(((b >> 25), (b >> 20) & 31, zone_of[b]) for b in added)
    candidates = [per_class[((b >> 25), (b >> 20) & 31, zone_of[b])] for b in added]
    assert statistics.median(candidates) >= K
    assert min(candidates) > 1  # no added code is pinned


@pytest.mark.parametrize("bad", [dict(buffer_m=-1), dict(min_class_size=0), dict(block_m=0),
                                 dict(buffer_m=float("nan")), dict(min_class_size=True)])
def test_bad_cover_options_are_usage_errors(world, bad):
    from addrcode.errors import UsageError

    with pytest.raises(UsageError):
        cover.covered_cells(world["ref"], world["zones"], world["grid"], **bad)

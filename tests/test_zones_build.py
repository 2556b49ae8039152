"""`addrcode zones build` / `zones check` (stations/zone_builder.py): zones drawn from a reference's own points,
taken from a polygon file, given sort centers; checked for overlaps, gaps and invalid polygons.

Real references built from tests/data/oa_small.csv (two Vermont towns, one ZIP) and variants of it, real
subprocess runs of the CLI."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations.cells import issuable_cells
from addrcode.stations.zone_builder import balanced_groups, build_zones, check_zones
from addrcode.zones import load_zones
from tests.conftest import relabelled_state

GRID = Grid()
COORD = re.compile(r"-?\d{1,3}\.\d{4,}")  # what a printed longitude or latitude would look like


def addrcode(*args, env=None, cwd=None):
    """The real command in a subprocess (python -m addrcode, same interpreter)."""
    return subprocess.run([sys.executable, "-m", "addrcode", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


def features(path):
    return json.loads(Path(path).read_text())["features"]


def reference_points(ref):
    """(lon, lat, postcode) of every point of a reference, read straight from its SQLite file."""
    with sqlite3.connect(ref) as db:
        return db.execute("SELECT lon, lat, postcode FROM points").fetchall()


@pytest.fixture(scope="module")
def two_zip_reference(tmp_path_factory, small_oa):
    """oa_small with two of every three GUILDHALL points moved to ZIP 05904: two postcodes whose points mix
    in many cells, so the majority rule decides."""
    work = tmp_path_factory.mktemp("two-zips")
    with open(small_oa, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(work / "oa.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for k, row in enumerate(rows):
            if row["city"] == "GUILDHALL" and k % 3:
                row["POSTCODE"] = "05904"
            writer.writerow(row)
    build_reference([work / "oa.csv"], work / "ref.sqlite")
    return work / "ref.sqlite"


@pytest.fixture(scope="module")
def built_small(small_reference, tmp_path_factory):
    """Zones by postcode of small_reference, built by the CLI: (path, completed process)."""
    out = tmp_path_factory.mktemp("built") / "zones.geojson"
    done = addrcode("zones", "build", "--reference", small_reference, "--by", "postcode", "-o", out)
    assert done.returncode == 0, done.stderr
    return out, done


# --------------------------------------------------------------------------- from the reference


def test_by_postcode_every_cell_in_its_majority_zone(two_zip_reference, tmp_path):
    out = tmp_path / "zones.geojson"
    summary = build_zones(two_zip_reference, GRID, by="postcode", output=out)
    zones = load_zones(out)
    assert [z.id for z in zones] == ["05904", "05905"] and summary.zones == 2
    # the majority postcode of each point cell, counted here independently (ties: lowest id)
    pts = reference_points(two_zip_reference)
    d, i, ok = GRID.cells([p[0] for p in pts], [p[1] for p in pts])
    votes = defaultdict(Counter)
    for cell_d, cell_i, pc in zip(d.tolist(), i.tolist(), [p[2] for p in pts]):
        votes[(cell_d, cell_i)][pc] += 1
    cells = sorted(votes)
    expected = [min(v, key=lambda pc: (-v[pc], pc)) for v in (votes[c] for c in cells)]
    got = [z.id if z else None for z in zones.zone_of_cells(GRID, [c[0] for c in cells], [c[1] for c in cells])]
    assert got == expected
    assert sum(len(votes[c]) > 1 for c in cells) >= 5  # mixed cells: the majority rule was exercised
    # every issuable cell (interpolation cells too) is in a zone; no overlaps; the check agrees
    cd, ci = issuable_cells(two_zip_reference, GRID)
    assert all(z is not None for z in zones.zone_of_cells(GRID, cd, ci))
    check = check_zones(out, two_zip_reference, GRID)
    assert check.ok and check.overlaps == () and check.gaps == 0 and check.cells == len(cd)
    points = {f["properties"]["zone"]: f["properties"]["points"] for f in features(out)}
    assert sum(points.values()) == len(pts) == summary.points


def test_postcode_in_two_states_gets_the_state(tmp_path, small_oa):
    nh = relabelled_state(small_oa, tmp_path / "nh.csv", state="NH", zip_prefix="059", dlon=2.0)
    build_reference([small_oa, nh], tmp_path / "ref.sqlite")
    build_zones(tmp_path / "ref.sqlite", GRID, by="postcode", output=tmp_path / "z.geojson")
    props = {f["properties"]["zone"]: f["properties"] for f in features(tmp_path / "z.geojson")}
    assert sorted(props) == ["NH-05905", "VT-05905"]
    assert props["NH-05905"]["postcode"] == "05905" and props["NH-05905"]["state"] == "NH"


# --------------------------------------------------------------------------- from a polygon file


def _halves(path, small_reference, **extra):
    """Two rectangles, WEST and EAST, splitting the small reference's area at its middle longitude."""
    pts = reference_points(small_reference)
    lon = [p[0] for p in pts]
    lat = [p[1] for p in pts]
    x0, x1, y0, y1 = min(lon) - 0.05, max(lon) + 0.05, min(lat) - 0.05, max(lat) + 0.05
    mid = (x0 + x1) / 2

    def box(a, b):
        return {"type": "Polygon", "coordinates": [[[a, y0], [b, y0], [b, y1], [a, y1], [a, y0]]]}

    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "WEST", "colour": "red", **extra}, "geometry": box(x0, mid)},
        {"type": "Feature", "properties": {"name": "EAST", "colour": "blue"}, "geometry": box(mid, x1)}]}
    path.write_text(json.dumps(doc))
    return path


def test_from_polygon_file_repairs_invalid(small_reference, tmp_path):
    source = _halves(tmp_path / "halves.geojson", small_reference)
    doc = json.loads(source.read_text())
    sw, se, ne, nw, _ = doc["features"][0]["geometry"]["coordinates"][0]
    doc["features"][0]["geometry"]["coordinates"] = [[sw, ne, se, nw, sw]]  # a bow tie
    source.write_text(json.dumps(doc))
    summary = build_zones(small_reference, GRID, source=source, id_field="name", output=tmp_path / "z.geojson")
    assert summary.repaired == ("WEST",) and "1 polygons repaired" in summary.to_text()
    assert load_zones(tmp_path / "z.geojson").repairs == ()  # written repaired


# --------------------------------------------------------------------------- sort centers


def test_balanced_groups_contiguous_and_even():
    x = np.arange(12.0)
    groups = balanced_groups(x, np.zeros(12), np.ones(12), 3)
    assert groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    heavy = balanced_groups(x, np.zeros(12), np.r_[np.full(6, 10.0), np.ones(6)], 2)
    assert heavy.tolist()[:3] == [0, 0, 0] and heavy.tolist().count(0) == 3  # 30 vs 36: the weighted median
    assert sorted(set(balanced_groups(x, x * 0, np.zeros(12), 12).tolist())) == list(range(12))


# --------------------------------------------------------------------------- zones check


# --------------------------------------------------------------------------- modes and end to end



"""`addrcode zones build` / `zones check` (stations/zone_builder.py): zones drawn from a reference's own points,
taken from a polygon file, given sort centers; checked for overlaps, gaps and invalid polygons.

Real references built from tests/data/oa_small.csv (two Vermont towns, one ZIP) and variants of it, real
subprocess runs of the CLI."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
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
from tests.conftest import DATA, relabelled_state

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


def test_by_postcode_small_reference_cli(built_small, small_reference):
    out, done = built_small
    zones = load_zones(out)
    assert [z.id for z in zones] == ["05905"] and zones.repairs == ()
    assert zones.get("05905").sort_center == "SC01"  # the documented default: one sort center
    assert dict(zones.get("05905").fields)["points"] == str(len(reference_points(small_reference)))
    cd, ci = issuable_cells(small_reference, GRID)
    assert all(z is not None and z.id == "05905" for z in zones.zone_of_cells(GRID, cd, ci))
    # one summary line on stderr: counts, never a coordinate or an address
    line = done.stderr.strip().splitlines()[-1]
    assert "1 zone (by postcode)" in line and f"{len(cd):,} issuable cells" in line and "1 sort center" in line
    assert not COORD.search(done.stderr) and "BOUDLE" not in done.stderr
    assert (out.stat().st_mode & 0o777) == 0o600


def test_output_dash_is_stdout(built_small, small_reference, tmp_path):
    """`-o -` writes the verified zones file to stdout (as `-o` does for every other command), never a file
    named `-`; the bytes are those `-o FILE` writes."""
    done = addrcode("zones", "build", "--reference", small_reference, "--by", "postcode", "-o", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "-").exists() and list(tmp_path.iterdir()) == []
    assert done.stdout == built_small[0].read_text()
    assert done.stderr.strip().splitlines()[-1].startswith("wrote stdout: 1 zone (by postcode)")


def test_by_town_two_states(two_state_reference, tmp_path):
    out = tmp_path / "towns.geojson"
    done = addrcode("zones", "build", "--reference", two_state_reference, "--by", "town", "-o", out)
    assert done.returncode == 0, done.stderr
    zones = load_zones(out)
    assert [z.id for z in zones] == ["NH-BLOOMFIELD", "NH-GUILDHALL", "VT-BLOOMFIELD", "VT-GUILDHALL"]
    assert dict(zones.get("NH-GUILDHALL").fields)["state"] == "NH"
    cd, ci = issuable_cells(two_state_reference, GRID)
    assert len(set(cd.tolist())) >= 2  # the states' cells lie in different districts
    lon, _ = GRID.center(cd, ci)
    state = [z.id[:2] for z in zones.zone_of_cells(GRID, cd, ci)]
    assert state == ["NH" if x > -70.8 else "VT" for x in lon.tolist()]  # NH is the copy 2 degrees east
    assert check_zones(out, two_state_reference, GRID).ok


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


def test_from_polygon_file(small_reference, tmp_path):
    source = _halves(tmp_path / "halves.geojson", small_reference)
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", small_reference, "--from", source, "--id-field", "name",
                    "-o", out)
    assert done.returncode == 0, done.stderr
    zones = load_zones(out)
    assert [z.id for z in zones] == ["EAST", "WEST"]
    props = {f["properties"]["zone"]: f["properties"] for f in features(out)}
    assert props["WEST"]["colour"] == "red" and "name" not in props["WEST"]  # other properties kept
    assert props["WEST"]["points"] > 0 and props["EAST"]["points"] > 0
    assert props["WEST"]["points"] + props["EAST"]["points"] == len(reference_points(small_reference))
    assert features(out)[1]["geometry"] == json.loads(source.read_text())["features"][0]["geometry"]  # as is
    assert "by file" in done.stderr


def test_from_polygon_file_missing_id_field(small_reference, tmp_path):
    source = _halves(tmp_path / "halves.geojson", small_reference)
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", small_reference, "--from", source, "--id-field", "NAME_X",
                    "-o", out)
    assert done.returncode == 3
    assert "NAME_X" in done.stderr and "colour, name" in done.stderr  # the properties that are there
    assert not out.exists()


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


def test_sort_centers_balanced(two_state_reference, tmp_path):
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", two_state_reference, "--by", "town", "--sort-centers", "2",
                    "-o", out)
    assert done.returncode == 0, done.stderr
    assert "2 sort centers" in done.stderr
    load = Counter()
    states = defaultdict(set)
    for f in features(out):
        p = f["properties"]
        load[p["sort_center"]] += p["points"]
        states[p["sort_center"]].add(p["state"])
    assert sorted(load) == ["SC01", "SC02"]
    assert abs(load["SC01"] - load["SC02"]) <= 0.1 * sum(load.values())
    assert all(len(s) == 1 for s in states.values())  # contiguous: each sort center's zones in one state


def test_balanced_groups_contiguous_and_even():
    x = np.arange(12.0)
    groups = balanced_groups(x, np.zeros(12), np.ones(12), 3)
    assert groups.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    heavy = balanced_groups(x, np.zeros(12), np.r_[np.full(6, 10.0), np.ones(6)], 2)
    assert heavy.tolist()[:3] == [0, 0, 0] and heavy.tolist().count(0) == 3  # 30 vs 36: the weighted median
    assert sorted(set(balanced_groups(x, x * 0, np.zeros(12), 12).tolist())) == list(range(12))


def test_sort_centers_csv(two_state_reference, tmp_path):
    table = tmp_path / "centers.csv"
    table.write_text("zone,sort_center,route,chute\nVT-BLOOMFIELD,SC-VT,R1,4\nVT-GUILDHALL,SC-VT,R2,5\n"
                     "NH-BLOOMFIELD,SC-NH,R3,6\nNH-GUILDHALL,SC-NH,R4,7\nNH-NOWHERE,SC-NH,R9,1\n")
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", two_state_reference, "--by", "town", "--sort-centers-csv",
                    table, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "NH-NOWHERE" in done.stderr  # a row for no zone built
    zone = load_zones(out).get("NH-GUILDHALL")
    assert (zone.sort_center, zone.route, dict(zone.fields)["chute"]) == ("SC-NH", "R4", "7")


def test_sort_centers_csv_missing_zone(two_state_reference, tmp_path):
    table = tmp_path / "centers.csv"
    table.write_text("zone,sort_center\nVT-BLOOMFIELD,SC-1\nVT-GUILDHALL,SC-1\nNH-BLOOMFIELD,SC-2\n")
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", two_state_reference, "--by", "town", "--sort-centers-csv",
                    table, "-o", out)
    assert done.returncode == 3
    assert "NH-GUILDHALL" in done.stderr and "1 of the 4 zones" in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".zones.geojson.*"))  # nothing left behind


# --------------------------------------------------------------------------- zones check


def test_check_bowtie_reports_invalid(small_reference):
    done = addrcode("zones", "check", DATA / "zones_bowtie.geojson", "--reference", small_reference,
                    "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [r["zone"] for r in report["invalid"]] == ["BOW"] and "Self-intersection" in report["invalid"][0]["reason"]
    assert not COORD.search(done.stdout)  # GEOS's reason comes without its coordinate
    assert report["gaps"] == report["cells"] > 0  # these zones lie near Middlebury, the points far away
    assert all(re.fullmatch(r"\d+:\d+", c) for c in report["gap_examples"])


def test_check_overlap(small_reference, tmp_path):
    source = _halves(tmp_path / "halves.geojson", small_reference)
    doc = json.loads(source.read_text())
    for f in doc["features"]:
        f["properties"] = {"zone": f["properties"]["name"], "sort_center": "SC01"}
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    for k in (1, 2):  # WEST reaches 0.01 degrees into EAST
        ring[k][0] += 0.01
    (tmp_path / "overlap.geojson").write_text(json.dumps(doc))
    done = addrcode("zones", "check", tmp_path / "overlap.geojson", "--reference", small_reference)
    assert done.returncode == 1
    assert "overlaps: 1 zone pairs (EAST/WEST" in done.stdout and "gaps: none" in done.stdout
    result = check_zones(tmp_path / "overlap.geojson", small_reference, GRID)
    (a, b, area), = result.overlaps
    assert (a, b) == ("EAST", "WEST") and 0.5e6 < area < 1e8  # ~0.8 km x ~11 km


def test_check_built_zones_ok(built_small, small_reference):
    out, _ = built_small
    done = addrcode("zones", "check", out, "--reference", small_reference, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["zones"] == 1 and report["cells"] > 1000
    assert report["overlaps"] == [] and report["gaps"] == 0 and report["invalid"] == []
    assert set(report) >= {"path", "ok", "zones", "cells", "overlaps", "gaps", "gap_examples", "invalid"}


def test_check_unreadable_zones_exit_3(small_reference):
    done = addrcode("zones", "check", DATA / "zones_notjson.geojson", "--reference", small_reference)
    assert done.returncode == 3 and "not valid JSON" in done.stderr


# --------------------------------------------------------------------------- modes and end to end


def test_file_mode_from_config(small_reference, tmp_path):
    out = tmp_path / "zones.geojson"
    done = addrcode("zones", "build", "--reference", small_reference, "--by", "town", "-o", out,
                    env={"ADDRCODE_FILE_MODE": "0640"})
    assert done.returncode == 0, done.stderr
    assert (out.stat().st_mode & 0o777) == 0o640


def test_encode_with_built_zones(small_reference, small_oa, tmp_path):
    # the command the "no zones configured" error names is the one that builds them
    orders = tmp_path / "orders.csv"
    with open(small_oa, newline="", encoding="utf-8") as fh, open(orders, "w", newline="", encoding="utf-8") as out:
        rows = [r for r in csv.DictReader(fh) if r["NUMBER"].isdigit() and r["POSTCODE"]][::10][:40]
        writer = csv.writer(out)
        writer.writerow(["address"])
        for r in rows:
            writer.writerow([f"{r['NUMBER']} {r['street']}, {r['city']}, {r['region']} {r['POSTCODE']}"])
    refused = addrcode("encode", "-i", orders, "--reference", small_reference, "-o", tmp_path / "x.csv")
    assert refused.returncode == 3
    suggested = re.search(r"`addrcode (zones build [^`]+)`", refused.stderr).group(1)
    built = addrcode(*shlex.split(suggested), "--reference", small_reference, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    zones = tmp_path / "zones.geojson"
    assert zones.is_file()
    done = addrcode("encode", "-i", orders, "--reference", small_reference, "--zones", zones,
                    "-o", tmp_path / "coded.csv")
    with open(tmp_path / "coded.csv", newline="", encoding="utf-8") as fh:
        coded = list(csv.DictReader(fh))
    assert len(coded) == len(rows) >= 30
    ok = [r for r in coded if r["addrcode_status"] == "ok"]
    assert len(ok) >= 0.98 * len(coded), done.stderr
    assert {r["addrcode_zone"] for r in ok} == {"05905"}

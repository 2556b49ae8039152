"""A reference of several states: same-named towns kept apart, coverage, local interpolation.

The second state is synthetic (`conftest.relabelled_state`): the Vermont points of
tests/data/oa_small.csv moved 2 degrees east as "NH" with ZIP 039xx, same towns and streets.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import VT_ZONES

from addrcode.geocoding.build import build_reference
from addrcode.geocoding.geocoder import Geocoder

VT_2610 = (-71.6466623, 44.8507152)  # 2610 BOUDLE RD, BLOOMFIELD, VT 05905
NH_2610 = (VT_2610[0] + 2.0, VT_2610[1])


@pytest.fixture(scope="module")
def g(two_state_reference):
    with Geocoder(two_state_reference) as geocoder:
        yield geocoder


def write_rows(path, rows: list[dict]) -> None:
    """Replace the CSV at `path` with `rows` (same columns)."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def near(m, point, metres=5.0) -> bool:
    from addrcode.geocoding.scoring import distance_m

    return m.lon is not None and distance_m(m.lon, m.lat, *point) <= metres


def test_same_named_towns_of_two_states_are_two_towns(two_state_reference):
    db = sqlite3.connect(two_state_reference)
    towns = db.execute("SELECT name, state FROM cities ORDER BY state, name").fetchall()
    assert towns == [("BLOOMFIELD", "NH"), ("GUILDHALL", "NH"), ("BLOOMFIELD", "VT"), ("GUILDHALL", "VT")]
    # no street holds points of both states: each street's points are within a few km of each other
    spread = db.execute("SELECT MAX(p.lon) - MIN(p.lon) FROM points p GROUP BY p.street_id").fetchall()
    assert max(s for (s,) in spread) < 0.5
    coverage = json.loads(db.execute("SELECT value FROM meta WHERE key='coverage'").fetchone()[0])
    assert {k: coverage[k] for k in ("states", "postcode_regions", "postcodes")} == {
        "states": ["NH", "VT"], "postcode_regions": ["039", "059"], "postcodes": 2}
    west, south, east, north = coverage["bbox"]  # both states: Vermont's points and their copy 2 degrees east
    assert -72 < west < -71 < -70 < east < -69 and 44 < south < north < 45.5
    assert coverage["points"] == db.execute("SELECT COUNT(*) FROM points").fetchone()[0]


@pytest.mark.parametrize("text, point", [
    ("2610 Boudle Rd, Bloomfield, NH 03905", NH_2610),
    ("2610 Boudle Rd, Bloomfield, VT 05905", VT_2610),
    ("2610 Boudle Road Bloomfield New Hampshire", NH_2610),  # the state alone decides
    ("2610 Boudle Rd, Bloomfield VT", VT_2610),
    ("2610 Boudle Rd, Bloomfield 03905", NH_2610),  # the ZIP alone decides
    ("2610 BOUDLE RD 05905", VT_2610),
    ("2610 Boudle Rd, Bloomfield, NH 05905", NH_2610),  # the state wins over a ZIP of the other state
    ("2610 Boudle Rd, Blomfeild, NH", NH_2610),  # a misspelt town: the fuzzy match finds it in every state
    ("2610 Boudle Rd, Blomfeild, VT", VT_2610),
])
def test_the_state_or_zip_picks_the_town(g, text, point):
    m = g.geocode(text)
    assert m.precision == "point" and near(m, point), (text, m)
    assert m.score >= 0.5


@pytest.mark.parametrize("text", ["2610 Boudle Rd, Bloomfield", "2610 Boudle Rd"])
def test_a_town_in_several_states_without_state_or_zip_is_ambiguous(g, text):
    m = g.geocode(text)
    assert "ambiguous" in m.reason and m.score < 0.5, m


@pytest.mark.parametrize("text, reason", [
    ("12 Main St, Springfield, MA 01103", "outside the reference: state MA"),
    ("100 N Main St, Springfield, New Mexico 87001", "outside the reference: state NM"),
    ("2610 Boudle Rd, Bloomfield, CT", "outside the reference: state CT"),  # a town it has, another state
    ("533 Main Street, Peoria 61602", "outside the reference: postcode 61602"),
    ("2610 Boudle Rd, Bloomfield 06103", "outside the reference: postcode 06103"),
])
def test_a_state_or_zip_outside_the_reference_is_never_matched(g, text, reason):
    m = g.geocode(text)
    assert m.precision == "none" and m.lon is None and m.reason == reason, m
    assert reason in g.explain(text).why


def test_outside_addresses_get_no_code(two_state_reference, tmp_path):
    texts = ["12 Main St, Springfield, MA 01103", "2610 Boudle Rd, Bloomfield, CT", "2610 Boudle Rd, Bloomfield",
             "2610 Boudle Rd, Bloomfield, VT 05905"]  # (the zones are Vermont's)
    proc = subprocess.run([sys.executable, "-m", "addrcode", "encode", "--reference", str(two_state_reference),
                           "--zones", VT_ZONES, "--format", "jsonl", *texts],
                          capture_output=True, text=True, timeout=120)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in records] == ["rejected", "rejected", "rejected", "ok"], proc.stderr
    assert [bool(r["code"]) for r in records] == [False, False, False, True]


def test_the_summary_never_prints_a_postcode(two_state_reference):
    """stderr groups `outside the reference: postcode NNNNN` without the postcode (part of an address)."""
    proc = subprocess.run([sys.executable, "-m", "addrcode", "encode", "--reference", str(two_state_reference),
                           "--zones", VT_ZONES, "533 Main Street, Peoria 61602", "12 Main St, Boston 02101"],
                          capture_output=True, text=True, timeout=120)
    assert "2 × outside the reference: postcode" in proc.stderr, proc.stderr
    assert "61602" not in proc.stderr and "02101" not in proc.stderr


def test_interpolation_never_spans_an_implausible_gap(tmp_path):
    src = tmp_path / "gap.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LON", "LAT", "NUMBER", "STREET", "CITY", "REGION", "POSTCODE"])
        w.writerow([-72.60, 44.20, 10, "LONG RD", "BARRE", "VT", "05641"])
        w.writerow([-72.59, 44.20, 20, "LONG RD", "BARRE", "VT", "05641"])  # 800 m on
        w.writerow([-72.45, 44.20, 30, "LONG RD", "BARRE", "VT", "05641"])  # 11 km further
    ref = tmp_path / "gap.sqlite"
    build_reference([src], ref)
    with Geocoder(ref) as geocoder:
        near_pair = geocoder.geocode("14 Long Rd, Barre VT 05641")
        far_pair = geocoder.geocode("26 Long Rd, Barre VT 05641")
    assert near_pair.precision == "interpolated" and -72.60 < near_pair.lon < -72.59
    assert far_pair.precision == "street" and far_pair.lon == pytest.approx(-72.45)  # the nearer number, 30
    assert "too far apart to interpolate" in far_pair.reason


def test_table_of_two_states_is_two_tables_worth(two_state_reference, small_reference):
    """Cells grow with the points: two states hold twice the cells of one (give or take the cells the
    moved copy straddles), no segment between them."""
    from addrcode.grid import Grid
    from addrcode.stations.cells import issuable_cells

    grid = Grid()
    one, _ = issuable_cells(small_reference, grid)
    two, _ = issuable_cells(two_state_reference, grid)
    assert 1.98 * len(one) <= len(two) <= 2.02 * len(one)


def test_a_named_state_is_never_left_for_another(tmp_path, small_oa):
    """NH is in the reference, but its only town is not the one named: the Vermont town is not taken."""
    from conftest import relabelled_state

    nh = relabelled_state(small_oa, tmp_path / "nh.csv", state="NH", zip_prefix="039", dlon=2.0)
    write_rows(nh, [r for r in csv.DictReader(nh.open()) if r["city"] == "GUILDHALL"])
    ref = tmp_path / "ref.sqlite"
    build_reference([small_oa, nh], ref)
    with Geocoder(ref) as geocoder:
        m = geocoder.geocode("2610 Boudle Rd, Bloomfield, NH")
        assert m.precision in ("none", "locality", "postcode") or not near(m, VT_2610, 50_000), m
        assert geocoder.geocode("2610 Boudle Rd, Bloomfield, VT").precision == "point"


def test_a_street_with_diacritics_is_found_however_it_is_written(tmp_path):
    """Hawaiian and Spanish street names: `Kalākaua` in the source or the query is KALAKAUA on both sides."""
    from addrcode.geocoding.guided import guided_parse

    src = tmp_path / "hi.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["LON", "LAT", "NUMBER", "STREET", "CITY", "REGION", "POSTCODE"])
        w.writerow([-157.8270, 21.2780, 2424, "Kalākaua Ave", "Honolulu", "HI", "96815"])
        w.writerow([-157.8275, 21.2785, 2420, "Kalakaua Ave", "Honolulu", "HI", "96815"])
    ref = tmp_path / "hi.sqlite"
    build_reference([src], ref)
    with Geocoder(ref) as geocoder:
        assert guided_parse("2424 Kalākaua Ave, Honolulu HI", geocoder.store.known_city).street == "KALAKAUA AVE"
        for text in ("2424 Kalākaua Ave, Honolulu HI 96815", "2424 Kalakaua Avenue Honolulu", "2420 KALĀKAUA AVE"):
            m = geocoder.geocode(text)
            assert m.precision == "point" and m.matched.startswith(("2424 KAL", "2420 KAL")), (text, m)


def test_same_named_towns_of_two_districts_of_one_state_are_two_towns(tmp_path, small_oa):
    """Two BLOOMFIELDs of one state, in two counties (the source's DISTRICT) 2 degrees apart: the ZIP
    picks one; without a ZIP the answer is ambiguous and not confident, never one of them at random."""
    from conftest import relabelled_state

    other = relabelled_state(small_oa, tmp_path / "orleans.csv", state="VT", zip_prefix="058", dlon=2.0)
    write_rows(other, [{**r, "DISTRICT": "ORLEANS"} for r in csv.DictReader(other.open())])
    ref = tmp_path / "ref.sqlite"
    build_reference([small_oa, other], ref)
    db = sqlite3.connect(ref)
    assert db.execute("SELECT COUNT(*) FROM cities WHERE name='BLOOMFIELD' AND state='VT'").fetchone()[0] == 2
    db.close()
    with Geocoder(ref) as geocoder:
        m = geocoder.geocode("2610 Boudle Rd, Bloomfield, VT 05905")
        assert m.precision == "point" and near(m, VT_2610) and m.score >= 0.5, m
        m = geocoder.geocode("2610 Boudle Rd, Bloomfield, VT 05805")
        assert m.precision == "point" and near(m, NH_2610) and m.score >= 0.5, m
        m = geocoder.geocode("2610 Boudle Rd, Bloomfield, VT")
        assert "ambiguous" in m.reason and m.score < 0.5, m

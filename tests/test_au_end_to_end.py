"""Australia end to end through the library: AU reference -> geocode -> EPSG:3577 grid -> AU zones -> code,
and a signed station table over the AU cells (the code, key and table modules are country-neutral)."""

import csv
import gzip
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AU = ROOT / "data" / "au"
TOWNS = {"PAKENHAM", "WARBURTON", "KATOOMBA", "WENTWORTH FALLS"}


@pytest.fixture(scope="module")
def au_subset(tmp_path_factory):
    """A small AU reference: four localities of both sources (fast), plus their rows."""
    from addrcode.geocoding.build import build_reference

    d = tmp_path_factory.mktemp("au")
    rows = []
    for name in ("vicmap_ycb_addresses_oa.csv.gz", "nsw_bml_addresses_oa.csv.gz"):
        with gzip.open(AU / name, "rt", encoding="utf-8", newline="") as f:
            r = csv.DictReader(f)
            header = r.fieldnames
            rows += [x for x in r if x["CITY"] in TOWNS]
    src = d / "au.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    ref = d / "au.sqlite"
    build_reference([src], ref, locale="au")
    return ref, rows


def test_grid_3577_covers_both_states():
    from addrcode.grid import Grid

    g = Grid(crs="EPSG:3577", cell_size_m=100).check()
    # the extract corners (SOURCE.md bounding boxes) and far corners of Australia are inside the grid
    district, index, valid = g.cells([145.27, 146.50, 149.75, 150.67, 113.0, 153.6, 142.5],
                                     [-38.36, -37.52, -33.86, -32.88, -43.6, -10.7, -10.7])
    assert valid.all()
    assert len(set(district[:2])) <= 2 and set(district[:2]).isdisjoint(district[2:4])


def test_encode_au_addresses(au_subset):
    from addrcode.batch.jobs import EncodeJob
    from addrcode.codes.keyring import load_keyring
    from addrcode.config import embedded
    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.geocoding.scoring import distance_m
    from addrcode.grid import Grid
    from addrcode.zones import load_zones

    ref, rows = au_subset
    picks = [r for r in rows if r["NUMBER"].isdigit() and not r["UNIT"]][::997][:12]
    assert len(picks) >= 8
    with Geocoder(ref) as g:
        job = EncodeJob(g, load_zones(AU / "au-zones.geojson"), load_keyring(embedded("demo-keyring.json")),
                        Grid(crs="EPSG:3577", cell_size_m=100), min_precision="point", min_score=0.5)
        ok = 0
        for r in picks:
            text = f"{r['NUMBER']} {r['STREET'].title()}, {r['CITY'].title()} {r['REGION']} {r['POSTCODE']}".strip()
            out = job(text)
            m = g.geocode(text)
            if out["status"] == "ok":
                ok += 1
                assert out["code"] and out["zone"].startswith(r["REGION"] + "-")
                assert distance_m(float(r["LON"]), float(r["LAT"]), m.lon, m.lat) < 50
        assert ok >= len(picks) - 1


def test_encode_au_unit_form(au_subset):
    from addrcode.batch.jobs import EncodeJob
    from addrcode.codes.keyring import load_keyring
    from addrcode.config import embedded
    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.grid import Grid
    from addrcode.zones import load_zones

    ref, rows = au_subset
    with Geocoder(ref) as g:
        job = EncodeJob(g, load_zones(AU / "au-zones.geojson"), load_keyring(embedded("demo-keyring.json")),
                        Grid(crs="EPSG:3577", cell_size_m=100), min_precision="point", min_score=0.5)
        # the form: a flat written 2/15
        unit = next(r for r in rows if r["UNIT"] and r["CITY"] == "PAKENHAM")
        out = job(f"{unit['UNIT']}/{unit['NUMBER']} {unit['STREET'].title()}, Pakenham VIC {unit['POSTCODE']}")
        assert out["status"] == "ok" and out["route"] == "PAKENHAM", out


def test_station_table_over_au_cells(au_subset, tmp_path):
    from addrcode.codes.keyring import load_keyring
    from addrcode.config import embedded
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.stations.signing import verify_table
    from addrcode.zones import load_zones

    ref, _rows = au_subset
    out = tmp_path / "au-table.sqlite"
    ring = load_keyring(embedded("demo-keyring.json"))
    build_table(ref, load_zones(AU / "au-zones.geojson"), ring, Grid(crs="EPSG:3577", cell_size_m=100), out)
    info = verify_table(out, embedded("demo-keyring.json.pub"))
    assert info is not None and out.stat().st_size > 10_000

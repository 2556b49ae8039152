"""The zones map: valid self-contained HTML / SVG, every zone drawn and labelled with its sort center and
routing key (checked against real codes), station-table colouring, and a real Chromium render."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_report import CHROMIUM, assert_not_blank, external_refs, parse_html, screenshot

from addrcode.errors import UsageError
from addrcode.outputs.zonemap import NO_DATA, frame_for, read_table_zones, render_zone_map, routing_key
from addrcode.zones import default_zones_path, load_zones

DATA = Path(__file__).resolve().parent / "data"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def zones():
    return load_zones(default_zones_path())


@pytest.fixture(scope="module")
def maps(tmp_path_factory, zones):
    d = tmp_path_factory.mktemp("zonemap")
    html_sum = render_zone_map(zones, d / "zones.html")
    svg_sum = render_zone_map(zones, d / "zones.svg")
    return d, html_sum, svg_sum


def test_html_map_is_valid_and_self_contained(maps, zones):
    d, s, _ = maps
    tree = parse_html(d / "zones.html")
    assert external_refs(tree) == []
    text = (d / "zones.html").read_text("utf-8")
    assert "<script" not in text and "url(" not in text
    assert s.zones == len(zones) == 253 and s.sort_centers == 14
    assert s.bytes == len((d / "zones.html").read_bytes()) < 400_000
    paths = [el for el in tree.iter() if str(el.tag).endswith("path") and el.find(f"{SVG_NS}title") is not None]
    assert len(paths) == len(zones)
    # the side table lists every zone with its sort center and route
    body = [["".join(td.itertext()) for td in tr] for tr in tree.find(".//tbody")]
    assert {r[0]: (r[1], r[2]) for r in body} == {z.id: (z.sort_center, z.route) for z in zones}


def test_svg_map_parses_as_xml_and_labels_every_zone(maps, zones):
    d, _, s = maps
    root = ET.parse(d / "zones.svg").getroot()
    assert root.tag == f"{SVG_NS}svg"
    titles = [t.text for t in root.iter(f"{SVG_NS}title")]
    for z in zones:
        assert any(t.startswith(f"{z.id} · sort center {z.sort_center} ·") for t in titles)
    texts = {t.text for t in root.iter(f"{SVG_NS}text")}
    assert {z.route for z in zones} <= texts  # each zone labelled with its route
    assert {z.sort_center for z in zones} <= texts  # each sort center labelled on the map
    assert set(s.routing_keys) <= texts  # each routing district labelled with its key
    for el in root.iter():
        for k, v in el.attrib.items():
            if k.endswith("href") or k == "src":
                assert not re.match(r"(https?:|//)", v)


def test_routing_keys_are_the_prefixes_of_real_codes(maps, zones):
    """A code issued for a point in a zone starts with one of the routing keys the map gives that zone."""
    from addrcode.codes.keyring import demo_keyring_path, load_keyring
    from addrcode.codes.scheme import encode_cell
    from addrcode.grid import Grid

    d, _, s = maps
    root = ET.parse(d / "zones.svg").getroot()
    keys_of = {}
    for t in root.iter(f"{SVG_NS}title"):
        m = re.match(r"(\S+) · .* routing key ([A-Z0-9, ]+)$", t.text or "")
        if m:
            keys_of[m.group(1)] = set(m.group(2).split(", "))
    ring = load_keyring(demo_keyring_path())
    grid = Grid()
    for zid in ("VT-MIDDLEBURY", "VT-BURLINGTON", "VT-CANAAN", "VT-VERNON", "VT-ALBURGH", "VT-RUTLAND-CITY"):
        z = zones.get(zid)
        assert z is not None
        pt = z.geometry.representative_point()
        cell = grid.cell(pt.x, pt.y)
        code = encode_cell(cell.district, cell.index, ring.active).text()
        assert code[:3] == routing_key(cell.district)
        assert code[:3] in keys_of[zid]
    assert set(s.routing_keys) == set().union(*keys_of.values())


def test_projection_keeps_shapes(zones):
    """Equirectangular at mid-latitude: a zone's width/height ratio on screen matches its ground ratio."""
    import math

    z = zones.get("VT-MIDDLEBURY")
    minx, miny, maxx, maxy = z.geometry.bounds
    f = frame_for((minx, miny, maxx, maxy), width=400)
    x0, y0 = f.xy(minx, maxy)
    x1, y1 = f.xy(maxx, miny)
    ground = ((maxx - minx) * math.cos(math.radians((miny + maxy) / 2))) / (maxy - miny)
    assert abs((x1 - x0) / (y1 - y0) - ground) / ground < 0.01
    assert y1 > y0  # north up


def test_small_zones_file_and_bad_suffix(tmp_path):
    pair = load_zones(DATA / "zones_pair.geojson")
    s = render_zone_map(pair, tmp_path / "pair.svg")
    assert s.zones == 2 and s.sort_centers == 2
    ET.parse(tmp_path / "pair.svg")
    with pytest.raises(UsageError, match=r"\.html or \.svg"):
        render_zone_map(pair, tmp_path / "pair.png")
    assert not (tmp_path / "pair.png").exists()


def test_map_of_a_station_table(tmp_path, small_reference, zones):
    """A per-station extract: its zones take the table's colours, every other zone is greyed."""
    from addrcode.codes.keyring import demo_keyring_path, load_keyring, pub_path
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table

    table = tmp_path / "station.sqlite"
    ring = load_keyring(demo_keyring_path())
    full = tmp_path / "all.sqlite"
    build_table(small_reference, zones, ring, Grid(), full)
    listed = read_table_zones(full, pub_path(demo_keyring_path()))
    with_rows = {zid: v for zid, v in listed.zones.items() if v[2] > 0}
    assert with_rows, "the small reference should fill some zones"
    station = sorted({v[0] for v in with_rows.values()})[0]
    build_table(small_reference, zones, ring, Grid(), table, station=station)
    tz = read_table_zones(table, pub_path(demo_keyring_path()))
    assert tz.station == station
    assert {v[0] for v in tz.zones.values()} == {station}
    out = tmp_path / "station.html"
    s = render_zone_map(zones, out, table=table, public_key=pub_path(demo_keyring_path()))
    assert s.in_table == len(tz.zones) and s.table_only == ()
    tree = parse_html(out)
    fills = {}
    for el in tree.iter():
        if str(el.tag).endswith("path") and el.find(f"{SVG_NS}title") is not None:
            zid = el.find(f"{SVG_NS}title").text.split(" · ")[0]
            fills[zid] = el.get("fill")
    assert all(fills[z] != NO_DATA for z in tz.zones)
    assert all(fills[z.id] == NO_DATA for z in zones if z.id not in tz.zones)
    with pytest.raises(UsageError, match="public key"):
        render_zone_map(zones, tmp_path / "x.html", table=table)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (apt-get install chromium)")
def test_headless_chromium_renders_the_zones_map(maps, tmp_path):
    d, _, _ = maps
    png = tmp_path / "zones.png"
    screenshot(d / "zones.html", png, tmp_path, size="1400,1600")
    assert_not_blank(png)

"""Test helper for the label and scan tests: a small real world built from the embedded data.

Every 823rd address point of the embedded Vermont E911 file (about 300 points spread over the
whole state, no unit rows) becomes a reference, a signed station table (demo keyring, packaged
zones) and a list of one-line queries; each query is encoded with `EncodeJob`. Building it takes
about 3 s, so the label and scan tests share one per session (see `world` in each test module).
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

STEP = 823
NAMES = ["John Smith", "Zoë Ångström", "王小明", "Мария Иванова", "Al", "Jean-Luc Picard", "محمد علي", "X"]
PHONES = ["802-555-4567", "+44 20 7946 0958", "(802) 555-0199", "+86 138 0013 8000", "555-1234", ""]


@dataclass
class World:
    reference: Path
    table: Path
    public_key: Path
    rows: list  # the sampled OA rows (dicts)
    queries: list  # one-line address per row
    records: list  # encode output per row, with `name` and `phone` columns added


def build_world(tmp: Path) -> World:
    from addrcode.batch.jobs import EncodeJob
    from addrcode.codes.keyring import demo_keyring_path, load_keyring, pub_path
    from addrcode.config import embedded
    from addrcode.geocoding.build import build_reference
    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.zones import default_zones_path, load_zones

    src = embedded("vt-e911/vt_e911_addresses_oa.csv.gz")
    rows = []
    with gzip.open(src, "rt", newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i % STEP == 0 and not row["UNIT"]:
                rows.append(row)
    points = tmp / "points.csv"
    with open(points, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    reference = tmp / "ref.sqlite"
    build_reference([points], reference)
    zones, ring, grid = load_zones(default_zones_path()), load_keyring(demo_keyring_path()), Grid()
    table = tmp / "table.sqlite"
    build_table(reference, zones, ring, grid, table)
    job = EncodeJob(Geocoder(reference), zones, ring, grid)
    queries = [f"{r['NUMBER']} {r['STREET']}, {r['CITY']}, VT {r['POSTCODE']}" for r in rows]
    records = []
    for i, q in enumerate(queries):
        rec = {"address": q, **job(q), "name": NAMES[i % len(NAMES)], "phone": PHONES[i % len(PHONES)]}
        records.append(rec)
    return World(reference, table, pub_path(demo_keyring_path()), rows, queries, records)


def csv_style(record: dict) -> dict:
    """The record as `addrcode encode -i in.csv` writes it: input columns + `addrcode_*` columns."""
    out = {"address": record["address"], "name": record["name"], "phone": record["phone"]}
    for k, v in record.items():
        if k not in out:
            out[f"addrcode_{k}"] = "" if v is None else str(v)
    return out


_SHARED: dict = {}


def shared_world(tmp_path_factory) -> World:
    """One world per test session, shared by the label and scan test modules (built on first use)."""
    if "world" not in _SHARED:
        _SHARED["world"] = build_world(tmp_path_factory.mktemp("labelworld"))
    return _SHARED["world"]

"""Station tables: issuable cells, build, signature over every byte, extracts, re-zoning, diff, replay.

Core tests run on `tests/data/table_points.csv` (150 Vermont E911 points on five streets in five
towns) with the packaged Vermont zones; the default-data test builds the embedded reference.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import keyring_with_history, resign_table

from addrcode.codes.keyring import load_keyring, new_keyring, pub_path, revoke, rotate
from addrcode.codes.schedule import utc_now
from addrcode.codes.scheme import encode_cells
from addrcode.errors import DataError, IntegrityError, UsageError
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations import build as table_build
from addrcode.stations import cells as table_cells
from addrcode.stations import cover
from addrcode.stations import default as table_default
from addrcode.stations import diff as table_diff
from addrcode.stations import signing as table_signing
from addrcode.stations import table as T
from addrcode.stations.resolver import Resolver
from addrcode.zones import default_zones_path, load_zones

HERE = Path(__file__).parent
POINTS_CSV = HERE / "data" / "table_points.csv"
STREETS = [b"COLLEGE", b"SCOTCH HOLLOW", b"RAILROAD", b"HOLLOW RD", b"College", b"Scotch"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("table")


@pytest.fixture(scope="module")
def ref(work):
    out = work / "ref.sqlite"
    build_reference([POINTS_CSV], out)
    return out


@pytest.fixture(scope="module")
def grid():
    return Grid()


@pytest.fixture(scope="module")
def zones():
    return load_zones(default_zones_path())


@pytest.fixture(scope="module")
def keyring(work):
    """A real keyring: one generation revoked, one retired, one active (with its upcoming period)."""
    path = work / "keys" / "ring.json"
    path.parent.mkdir()
    return keyring_with_history(path)[0]


@pytest.fixture(scope="module")
def pub(keyring):
    return pub_path(keyring.path)


@pytest.fixture(scope="module")
def table(work, ref, zones, keyring, grid):
    out = work / "full.sqlite"
    info = table_build.build_table(ref, zones, keyring, grid, out, serial=100)
    return out, info


def _points():
    import csv

    with open(POINTS_CSV, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- issuable cells


def test_interpolation_pairs_same_parity_and_gap():
    street = np.array([1, 1, 1, 1, 1, 1, 2, 2])
    num = np.array([2, 4, 10, 11, 15, 15, 3, 9])
    a, b = table_cells.interpolation_pairs(street, num)
    pairs = sorted(zip((num[a]).tolist(), (num[b]).tolist(), a.tolist(), b.tolist()))
    # 2-4: no number of the same parity strictly between; 4-10 yes; 11-15 twice (two points at 15); 3-9 yes
    assert [(p[0], p[1]) for p in pairs] == [(3, 9), (4, 10), (11, 15), (11, 15)]
    assert {p[3] for p in pairs if p[0] == 11} == {4, 5}


def test_segment_cells_is_the_supercover(grid):
    rng = np.random.default_rng(5)
    x0, y0 = 1_900_000.0, 2_500_000.0
    n = 300
    xa, ya = x0 + rng.uniform(0, 2000, n), y0 + rng.uniform(0, 2000, n)
    xb, yb = xa + rng.uniform(-800, 800, n), ya + rng.uniform(-800, 800, n)
    d, i = table_cells.segment_cells(grid, xa, ya, xb, yb)
    got = set(((d.astype(np.int64) << 20) | i).tolist())
    # dense sampling (5 cm) of every segment lands only in cells of the supercover
    t = np.linspace(0, 1, 40_000)
    for k in range(0, n, 10):
        dd, ii, _ = grid.cells_xy(xa[k] + t * (xb[k] - xa[k]), ya[k] + t * (yb[k] - ya[k]))
        assert set(((dd.astype(np.int64) << 20) | ii).tolist()) <= got
    # and it is tight: at most one cell per grid line crossed, plus the start cell
    crossings = (np.abs(np.floor(xb / 100) - np.floor(xa / 100)) + np.abs(np.floor(yb / 100) - np.floor(ya / 100)) + 1)
    assert len(got) <= crossings.sum()


def _interpolated_cells(ref, grid, linear="lonlat"):
    """Cells of every house number `geocode` can interpolate (each integer of the same parity in a gap)."""
    out = []
    for arr in table_cells._points_chunks(ref):
        s, n, lon, lat = arr.T
        a, b = table_cells.interpolation_pairs(s, n, *grid.project(lon, lat))
        na, nb = n[a], n[b]
        cnt = ((nb - na) // 2 - 1).astype(np.int64)
        sid = np.repeat(np.arange(len(a)), cnt)
        j = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + 1
        f = (2 * j) / (nb - na)[sid]
        if linear == "lonlat":
            d, i, _ = grid.cells(lon[a][sid] + f * (lon[b] - lon[a])[sid], lat[a][sid] + f * (lat[b] - lat[a])[sid])
        else:
            x, y = grid.project(lon, lat)
            d, i, _ = grid.cells_xy(x[a][sid] + f * (x[b] - x[a])[sid], y[a][sid] + f * (y[b] - y[a])[sid])
        out.append((d.astype(np.int64) << 20) | i)
    return set(np.concatenate(out).tolist()) if out else set()


def test_issuable_cells_cover_points_and_every_interpolated_number(ref, grid):
    stats = {}
    d, i = table_cells.issuable_cells(ref, grid, stats=stats)
    cells = set(((d << 20) | i).tolist())
    pts = _points()
    pd, pi, _ = grid.cells([float(p["LON"]) for p in pts], [float(p["LAT"]) for p in pts])
    point_cells = set(((pd.astype(np.int64) << 20) | pi).tolist())
    assert point_cells <= cells
    assert stats["points"] == len(pts) and stats["point_cells"] == len(point_cells)
    for linear in ("lonlat", "xy"):
        interp = _interpolated_cells(ref, grid, linear)
        assert interp - point_cells, "fixture should have interpolated numbers outside point cells"
        assert interp <= cells
    assert stats["interpolation_only_cells"] > 0
    only_points = table_cells.issuable_cells(ref, grid, interpolation=False)
    assert set(((only_points[0] << 20) | only_points[1]).tolist()) == point_cells


@pytest.mark.slow
def test_issuable_cells_default_vermont_cover_every_interpolated_number(tmp_path_factory, grid):
    from addrcode.geocoding.default import default_reference

    ref = default_reference(tmp_path_factory.mktemp("cache"))
    d, i = table_cells.issuable_cells(ref, grid)
    cells = set(((d << 20) | i).tolist())
    for linear in ("lonlat", "xy"):
        assert _interpolated_cells(ref, grid, linear) <= cells


# --------------------------------------------------------------------------- build


def test_build_writes_rows_per_usable_epoch_and_meta(table, ref, zones, keyring, grid):
    path, info = table
    covered = cover.covered_cells(ref, zones, grid)[0]
    usable = [e.id for e in keyring.usable_epochs]
    assert len(usable) == 3  # retired, active, upcoming; the revoked one has no rows
    assert info.rows == len(usable) * len(covered)  # one row per covered cell (tests/test_cover.py) and key
    assert info.serial == 100 and info.station == "all" and info.version == T.TABLE_VERSION
    assert dict(info.epochs) == keyring.epoch_statuses()  # every character: window or "expired"
    assert sorted(st for st in dict(info.epochs).values() if st != "expired") == [
        "active", "retired", "revoked", "upcoming"]
    assert info.zones_sha256 == zones.sha256
    assert info.public_key_fingerprint == keyring.verify_key.fingerprint
    assert info.demo is False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        epochs_of_rows = {b >> 20 & 31 for (b,) in db.execute("SELECT body FROM codes")}
        assert epochs_of_rows == {T.ALPHABET.index(e) for e in usable}
        assert db.execute("SELECT COUNT(*) FROM codes").fetchone()[0] == info.rows
        assert db.execute("PRAGMA application_id").fetchone()[0] == T.APPLICATION_ID
        cols = {r[1] for t in ("codes", "zones", "meta", "epochs", "next_hop")
                for r in db.execute(f"PRAGMA table_info({t})")}
        assert not cols & {"lon", "lat", "x", "y", "index", "cell", "street", "number", "secret"}
    finally:
        db.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # private unless file_mode says otherwise
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".full.sqlite")]  # no temp files left


def test_rows_are_the_codes_encode_issues(table, ref, zones, keyring, grid):
    path, _ = table
    d, i = table_cells.issuable_cells(ref, grid)
    zs = zones.zone_of_cells(grid, d, i)
    with Resolver(path, pub_path(keyring.path)) as r:
        for epoch in keyring.usable_epochs:
            codes = encode_cells(zip(d.tolist(), i.tolist()), epoch)
            for code, zone in zip(codes, zs):
                got = r.resolve(code.text())
                if zone is None:
                    assert got["status"] == "unknown"
                else:
                    assert got["status"] == "ok" and got["zone"] == zone.id and got["sort_center"] == zone.sort_center
                    assert got["route"] == zone.route and got["town"] == dict(zone.fields)["town"]


def test_table_bytes_hold_no_address_coordinate_cell_index_or_key(table, keyring, grid, ref):
    path, _ = table
    data = path.read_bytes()
    pts = _points()
    for s in STREETS:
        assert s not in data and s.lower() not in data
    for p in pts:
        assert f"{p['NUMBER']} {p['STREET']}".encode() not in data
        for coord in (p["LON"], p["LAT"]):
            assert coord[:7].encode() not in data  # e.g. "-73.170", "44.0120"
            assert struct.pack(">d", float(coord)) not in data  # SQLite REAL storage
            assert struct.pack("<d", float(coord)) not in data
    for ep in keyring.epochs:  # the revoked key was erased from the keyring itself
        if not ep.secret:
            assert ep.status == "revoked"
            continue
        assert ep.secret not in data and ep.secret.hex().encode() not in data
    assert keyring.signing_seed not in data and keyring.signing_seed.hex().encode() not in data
    # no cell index hides in the keys: the opaque bits of a row are not its cell index
    d, i = table_cells.issuable_cells(ref, grid)
    index_set = set(i.tolist())
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    bodies = [b for (b,) in db.execute("SELECT body FROM codes")]
    db.close()
    same = sum((b & 0xFFFFF) in index_set for b in bodies)
    assert same <= max(3, len(bodies) * len(index_set) / 2**20 * 3)  # chance level, not identity


def test_build_refuses_unknown_station_and_leaves_old_file(work, ref, zones, keyring, grid, table):
    path, _ = table
    copy = work / "keep.sqlite"
    shutil.copy(path, copy)
    before = copy.read_bytes()
    with pytest.raises(UsageError, match="sort center"):
        table_build.build_table(ref, zones, keyring, grid, copy, station="SC-NOWHERE")
    assert copy.read_bytes() == before
    assert not [p for p in work.iterdir() if p.name.startswith(".keep.sqlite")]


def test_default_serial_is_build_time(work, ref, zones, keyring, grid):
    info = table_build.build_table(ref, zones, keyring, grid, work / "s.sqlite")
    assert len(str(info.serial)) == 14 and str(info.serial).startswith(info.built_at[:4])
    with pytest.raises(UsageError):
        table_build.build_table(ref, zones, keyring, grid, work / "s2.sqlite", serial=-1)


# --------------------------------------------------------------------------- signature over every byte


def test_verify_accepts_the_signed_table(table, pub):
    path, info = table
    got = table_signing.verify_table(path, pub)
    assert got.serial == info.serial and got.rows == info.rows


def test_every_single_byte_flip_is_detected(work, ref, zones, keyring, grid, pub):
    """A small per-station extract, every offset flipped: 100 % refused."""
    path = work / "tiny.sqlite"
    # a tiny extract without the cover (this test is about the signature): every byte can be flipped
    table_build.build_table(ref, zones, keyring, grid, path, station="SC-ORANGE", serial=1, page_size=512,
                            cover=False)
    data = path.read_bytes()
    assert len(data) <= 16 * 1024
    table_signing.verify_bytes(data, pub)
    vk = table_signing.load_public_key(pub)
    rng = random.Random(1)
    buf = bytearray(data)
    for off in range(len(data)):
        old = buf[off]
        buf[off] = old ^ (1 << rng.randrange(8))
        with pytest.raises(IntegrityError):
            table_signing.verify_bytes(bytes(buf), vk)
        buf[off] = old


def test_random_byte_flips_in_a_large_table_are_detected(table, pub):
    path, _ = table
    data = path.read_bytes()
    vk = table_signing.load_public_key(pub)
    rng = random.Random(7)
    buf = bytearray(data)
    for _ in range(300):
        off = rng.randrange(len(data))
        old = buf[off]
        buf[off] = old ^ rng.randrange(1, 256)
        with pytest.raises(IntegrityError, match="signature check failed|unsigned or corrupt"):
            table_signing.verify_bytes(bytes(buf), vk)
        buf[off] = old


def test_row_changed_with_sqlite_is_refused(work, table, pub):
    path, _ = table
    bad = work / "edited.sqlite"
    shutil.copy(path, bad)
    db = sqlite3.connect(bad)
    body = db.execute("SELECT body FROM codes LIMIT 1").fetchone()[0]
    db.execute("UPDATE codes SET zone = (zone + 1) % (SELECT COUNT(*) FROM zones) WHERE body = ?", (body,))
    db.commit()
    db.close()
    with pytest.raises(IntegrityError, match="signature check failed: the file was modified or is corrupt"):
        table_signing.verify_table(bad, pub)
    with pytest.raises(IntegrityError):
        Resolver(bad, pub)


@pytest.mark.parametrize("how", ["zero", "delete", "twice"])
def test_stripped_or_duplicated_signature_is_refused(work, table, pub, how):
    path, _ = table
    bad = work / f"nosig-{how}.sqlite"
    shutil.copy(path, bad)
    data = bytearray(bad.read_bytes())
    off = table_signing._sig_offset(bytes(data))
    if how == "zero":
        data[off: off + table_signing.SIG_LEN] = bytes(table_signing.SIG_LEN)
        bad.write_bytes(bytes(data))
    elif how == "delete":
        db = sqlite3.connect(bad)
        db.execute("DELETE FROM signature")
        db.commit()
        db.execute("VACUUM")
        db.close()
    else:
        bad.write_bytes(bytes(data) + table_signing.MAGIC + bytes(data[off: off + table_signing.SIG_LEN]))
    with pytest.raises(IntegrityError):
        table_signing.verify_table(bad, pub)


def test_wrong_public_key_is_refused(work, table):
    path, _ = table
    other = new_keyring(work / "other.json")
    with pytest.raises(IntegrityError, match="signature check failed"):
        table_signing.verify_table(path, other.verify_key)
    with pytest.raises(IntegrityError):
        table_signing.verify_table(path, pub_path(work / "other.json"))


def _table_verify(path, public_key):
    """`addrcode table verify PATH --public-key KEY` through the real CLI (click's runner)."""
    from click.testing import CliRunner

    from addrcode.cli import cli

    return CliRunner().invoke(cli, ["table", "verify", str(path), "--public-key", str(public_key)])


@pytest.fixture(scope="module")
def other_ring(work):
    """A second, unrelated keyring: its .pub is the "wrong key" an operator might be given."""
    return new_keyring(work / "wrong" / "ring.json")


def test_wrong_public_key_names_both_fingerprints(table, keyring, other_ring):
    """Intact table, wrong key: the CLI says which key signed it and which was given, not "corrupt" (exit 3)."""
    path, _ = table
    signer, given = keyring.verify_key.fingerprint, other_ring.verify_key.fingerprint
    result = _table_verify(path, pub_path(other_ring.path))
    assert result.exit_code == 3, result.output
    err = result.stderr
    assert f"signed by key {signer} (claimed by the table, signature valid for it)" in err
    assert f"you gave key {given}" in err and "--public-key" in err and "which key is current" in err
    assert "modified or is corrupt" not in err and "fresh copy" not in err
    assert "OK" not in result.stdout  # never accepted under the key it names
    assert _table_verify(path, pub_path(keyring.path)).exit_code == 0


def test_tampered_table_still_says_modified_or_corrupt(work, table, keyring, other_ring, pub):
    path, _ = table
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # a row page, away from the meta rows
    bad = work / "tampered.sqlite"
    bad.write_bytes(bytes(data))
    right = _table_verify(bad, pub)
    assert right.exit_code == 3
    assert "signature check failed: the file was modified or is corrupt; get a fresh copy" in right.stderr
    assert "you gave key" not in right.stderr
    # tampered AND the wrong key: neither key verifies, so it is corrupt (both keys named, as a hint)
    wrong = _table_verify(bad, pub_path(other_ring.path))
    assert wrong.exit_code == 3
    assert "the file was modified or is corrupt" in wrong.stderr and "signature valid" not in wrong.stderr
    assert keyring.verify_key.fingerprint in wrong.stderr and other_ring.verify_key.fingerprint in wrong.stderr


def test_a_table_naming_the_given_key_is_not_accepted(work, table, keyring, other_ring):
    """The claimed key only words the message: a table signed by A that names B is refused under B as corrupt."""
    path, _ = table
    forged = work / "names-other.sqlite"
    shutil.copy(path, forged)
    db = sqlite3.connect(forged)
    db.execute("UPDATE meta SET value = ? WHERE key = 'public_key'", (json.dumps(other_ring.verify_key.hex),))
    db.commit()
    db.close()
    resign_table(forged, keyring)
    with pytest.raises(IntegrityError, match="signature check failed: the file was modified or is corrupt; get"):
        table_signing.verify_table(forged, other_ring.verify_key)
    # signed by A, names B, checked with C: B does not verify it either, so still "modified or corrupt"
    third = new_keyring(work / "third.json").verify_key
    with pytest.raises(IntegrityError, match="verifies neither") as exc:
        table_signing.verify_table(forged, third)
    assert "signature valid" not in str(exc.value)


def test_older_table_without_the_public_key_names_the_claimed_fingerprint(work, table, keyring, other_ring, pub):
    """Tables built before the public key was stored: still readable; a wrong key names the claimed fingerprint."""
    path, info = table
    old = work / "no-public-key.sqlite"
    shutil.copy(path, old)
    db = sqlite3.connect(old)
    db.execute("DELETE FROM meta WHERE key = 'public_key'")
    db.commit()
    db.close()
    resign_table(old, keyring)
    got = table_signing.verify_table(old, pub)
    # what verify reports is the key that verified the table, whatever the meta holds
    assert got.public_key == keyring.verify_key.hex and got.public_key_fingerprint == keyring.verify_key.fingerprint
    assert info.public_key == keyring.verify_key.hex
    with pytest.raises(IntegrityError) as exc:
        table_signing.verify_table(old, other_ring.verify_key)
    msg = str(exc.value)
    assert f"claims to be signed by key {keyring.verify_key.fingerprint} (not checked" in msg
    assert f"you gave key {other_ring.verify_key.fingerprint}" in msg and "modified or is corrupt" in msg
    # a claim that is not a fingerprint is never echoed (a hostile table cannot write into the message)
    db = sqlite3.connect(old)
    db.execute("UPDATE meta SET value = ? WHERE key = 'public_key_fingerprint'", (json.dumps("\x1b[2Jgive key X"),))
    db.commit()
    db.close()
    with pytest.raises(IntegrityError, match="the file was modified or is corrupt; get") as exc:
        table_signing.verify_table(old, other_ring.verify_key)
    assert "\x1b" not in str(exc.value) and "give key X" not in str(exc.value)


def test_truncated_empty_and_foreign_files_are_refused(work, table, pub):
    path, _ = table
    data = path.read_bytes()
    cases = {
        "trunc-end.sqlite": data[:-4096],
        "trunc-half.sqlite": data[: len(data) // 2],
        "trunc-1.sqlite": data[:-1],
        "empty.sqlite": b"",
        "text.sqlite": b"not a table\n" * 100,
    }
    for name, content in cases.items():
        (work / name).write_bytes(content)
        with pytest.raises(IntegrityError):
            table_signing.verify_table(work / name, pub)
    plain = work / "plain.sqlite"
    db = sqlite3.connect(plain)
    db.execute("CREATE TABLE t(x)")
    db.commit()
    db.close()
    with pytest.raises(IntegrityError, match="unsigned"):
        table_signing.verify_table(plain, pub)
    with pytest.raises(DataError, match="not found"):
        table_signing.verify_table(work / "missing.sqlite", pub)


def test_signed_table_of_another_version_or_kind_is_refused(work, table, keyring, pub):
    path, _ = table
    for pragma, match in (("user_version=99", "format version 99"),
                          ("application_id=7", "not an addrcode station table")):
        bad = work / f"other-{pragma.split('=')[0]}.sqlite"
        shutil.copy(path, bad)
        db = sqlite3.connect(bad)
        db.execute(f"PRAGMA {pragma}")
        db.commit()
        db.close()
        resign_table(bad, keyring)
        table_signing.verify_bytes(bad.read_bytes(), pub)  # the signature is good ...
        with pytest.raises(DataError, match=match):  # ... but the content is refused
            table_signing.verify_table(bad, pub)


def test_resolver_uses_the_verified_bytes_not_the_file(work, table, pub):
    path, _ = table
    copy = work / "swap.sqlite"
    shutil.copy(path, copy)
    r = Resolver(copy, pub)
    db = sqlite3.connect(copy)
    db.execute("DELETE FROM codes")
    db.commit()
    db.close()
    body = r.db.execute("SELECT body FROM codes LIMIT 1").fetchone()[0]
    assert r.resolve(T.code_of_body(body))["status"] == "ok"
    r.close()


# --------------------------------------------------------------------------- per-station extracts


def test_station_extract_holds_only_its_rows_and_next_hops(work, table, ref, zones, keyring, grid, pub):
    full_path, full_info = table
    path = work / "addison.sqlite"
    info = table_build.build_table(ref, zones, keyring, grid, path, station="SC-ADDISON", serial=101)
    assert info.station == "SC-ADDISON" and 0 < info.rows < full_info.rows
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert {sc for (sc,) in db.execute("SELECT DISTINCT sort_center FROM zones")} == {"SC-ADDISON"}
    assert db.execute("SELECT COUNT(*) FROM codes c JOIN zones z ON z.idx = c.zone WHERE z.sort_center != ?",
                      ("SC-ADDISON",)).fetchone()[0] == 0
    hops = {p: json.loads(all_) for p, _, all_ in db.execute("SELECT * FROM next_hop")}
    extract_bodies = [b for (b,) in db.execute("SELECT body FROM codes")]
    db.close()
    full = Resolver(full_path, pub)
    ext = Resolver(path, pub)
    assert ext.next_hops == full.next_hops and hops
    full_bodies = [b for (b,) in full.db.execute("SELECT body FROM codes")]
    n_addison = n_foreign = 0
    for body in full_bodies:
        code = T.code_of_body(body)
        want = full.resolve(code)
        got = ext.resolve(code)
        if want["sort_center"] == "SC-ADDISON":
            n_addison += 1
            assert got == want
        else:
            n_foreign += 1
            assert got["status"] == "foreign" and got["next_hop"] != "SC-ADDISON"
            assert got["next_hop"] in hops[body >> 25]
            if [sc for sc in hops[body >> 25] if sc != "SC-ADDISON"] == [want["sort_center"]]:
                assert got["next_hop"] == want["sort_center"]
    assert n_addison == len(extract_bodies) == info.rows and n_foreign > 0
    full.close()
    ext.close()


# --------------------------------------------------------------------------- re-zoning, diff, replay


def _rezoned(work, zones_src: Path) -> Path:
    doc = json.loads(zones_src.read_text())
    for feat in doc["features"]:
        if feat["properties"]["zone"] == "VT-MIDDLEBURY":
            feat["properties"]["sort_center"] = "SC-RUTLAND"
            feat["properties"]["route"] = "MIDDLEBURY-2"
    out = work / "rezoned.geojson"
    out.write_text(json.dumps(doc))
    return out


def test_rezoning_changes_no_code_and_diff_reports_rerouted(work, table, ref, keyring, grid, pub):
    old_path, old_info = table
    new_path = work / "rezoned.sqlite"
    new_zones = load_zones(_rezoned(work, default_zones_path()))
    new_info = table_build.build_table(ref, new_zones, keyring, grid, new_path, serial=200)
    assert new_info.zones_sha256 != old_info.zones_sha256
    a = sqlite3.connect(f"file:{old_path}?mode=ro", uri=True)
    b = sqlite3.connect(f"file:{new_path}?mode=ro", uri=True)
    assert [r for r in a.execute("SELECT body FROM codes")] == [r for r in b.execute("SELECT body FROM codes")]
    n_midd = a.execute("SELECT COUNT(*) FROM codes c JOIN zones z ON z.idx=c.zone "
                       "WHERE z.zone='VT-MIDDLEBURY'").fetchone()[0]
    a.close()
    b.close()
    assert n_midd > 0
    diff = table_diff.diff_tables(old_path, new_path, pub, sample=5)
    assert (diff.added, diff.removed, diff.revoked) == (0, 0, 0)
    assert diff.rerouted == n_midd and diff.unchanged == old_info.rows - n_midd
    assert diff.reroutes == (("VT-MIDDLEBURY", "VT-MIDDLEBURY", n_midd),)
    assert len(diff.samples["rerouted"]) == 5
    s = diff.samples["rerouted"][0]
    assert s["old"]["sort_center"] == "SC-ADDISON" and s["new"]["sort_center"] == "SC-RUTLAND"
    with Resolver(new_path, pub) as r:
        got = r.resolve(s["code"])
        assert got["sort_center"] == "SC-RUTLAND" and got["route"] == "MIDDLEBURY-2"
    assert "re-routed" in diff.text() and json.dumps(diff.to_dict())


def test_diff_reports_revoked_added_and_removed(work, ref, zones, grid, pub, table):
    ring_path = work / "keys2" / "ring.json"
    ring_path.parent.mkdir()
    now = utc_now()
    new_keyring(ring_path, now=now)
    k1 = rotate(ring_path, now=now)  # gen 0 retired; gen 1 active, and upcoming
    gen0 = next(e.id for e in k1.epochs if e.generation == 0)
    t1 = work / "t1.sqlite"
    i1 = table_build.build_table(ref, zones, k1, grid, t1, serial=1)
    per_epoch = i1.rows // 3
    revoke(ring_path, gen0, now=now)
    k2 = rotate(ring_path, now=now)  # gen 0 revoked, gen 1 retired, gen 2 active and upcoming
    t2 = work / "t2.sqlite"
    i2 = table_build.build_table(ref, zones, k2, grid, t2, serial=2)
    diff = table_diff.diff_tables(t1, t2, pub_path(ring_path))
    # gen 1's upcoming key is dropped (it will never issue), gen 2 brings two
    assert diff.revoked == per_epoch and diff.added == 2 * per_epoch and diff.removed == per_epoch
    assert diff.unchanged == per_epoch and i2.rows == 3 * per_epoch
    gen2 = [e.id for e in k2.epochs if e.generation == 2]
    assert (gen0, "retired", "revoked") in diff.epochs_changed
    assert (gen2[0], "expired", "active") in diff.epochs_changed
    # an extract vs the full table: codes of other stations are "removed"
    ext = work / "t2-orange.sqlite"
    ie = table_build.build_table(ref, zones, k2, grid, ext, station="SC-ORANGE", serial=3)
    d2 = table_diff.diff_tables(t2, ext, pub_path(ring_path))
    assert d2.removed == i2.rows - ie.rows and d2.unchanged == ie.rows
    with pytest.raises(IntegrityError):  # diff verifies both tables with the given key
        table_diff.diff_tables(t1, t2, pub)


def test_replay_of_an_older_or_equal_serial_is_refused(work, table, ref, zones, keyring, grid, pub):
    old_path, old_info = table
    newer = work / "newer.sqlite"
    table_build.build_table(ref, zones, keyring, grid, newer, serial=old_info.serial + 1)
    assert table_signing.verify_table(newer, pub, newer_than=old_path).serial == old_info.serial + 1
    assert table_signing.verify_table(newer, pub, newer_than=old_info.serial).serial == old_info.serial + 1
    with pytest.raises(IntegrityError, match="not newer"):
        table_signing.verify_table(old_path, pub, newer_than=newer)
    with pytest.raises(IntegrityError, match="not newer"):
        table_signing.verify_table(old_path, pub, newer_than=old_path)  # same serial
    with pytest.raises(IntegrityError, match="not newer"):
        table_signing.verify_table(old_path, pub, newer_than=str(old_info.serial))


# --------------------------------------------------------------------------- default data, end to end


def test_default_table_is_built_once(work, ref):
    from addrcode.codes.keyring import demo_keyring_path

    messages = []
    path, pub = table_default.default_table(work / "cache", messages.append, reference=ref)
    assert path.is_file() and pub == pub_path(demo_keyring_path()) and len(messages) == 1
    assert table_default.default_table(work / "cache", messages.append, reference=ref)[0] == path and len(messages) == 1
    info = table_signing.verify_table(path, pub)
    assert info.demo and info.station == "all"


@pytest.fixture(scope="module")
def default_reference_path(tmp_path_factory):
    """The embedded Vermont reference (built once per run, or reused from $ADDRCODE_TEST_CACHE)."""
    from addrcode.geocoding.default import default_reference

    cache = os.environ.get("ADDRCODE_TEST_CACHE") or tmp_path_factory.mktemp("default-cache")
    return default_reference(Path(cache))


def test_default_data_round_trips_every_issued_code(work, default_reference_path):
    """Every issuable cell of the embedded Vermont reference, coded with the demo keyring, resolves to its zone."""
    from addrcode.codes.keyring import demo_keyring_path

    grid = Grid()
    d, i = table_cells.issuable_cells(default_reference_path, grid)
    assert len(d) > 300_000
    zones = load_zones(default_zones_path())
    demo = load_keyring(demo_keyring_path())
    path = work / "vermont.sqlite"
    info = table_build.build_table(default_reference_path, zones, demo, grid, path, cells=(d, i))
    zs = zones.zone_of_cells(grid, d, i)
    codes = encode_cells(zip(d.tolist(), i.tolist()), demo.active)
    bad = 0
    with Resolver(path, pub_path(demo_keyring_path())) as r:
        assert len(demo.usable_epochs) == demo.schedule.window + demo.schedule.lookahead
        in_zones = sum(z is not None for z in zs)
        assert r.info.demo and info.rows == r.info.rows and info.rows % len(demo.usable_epochs) == 0
        assert info.rows // len(demo.usable_epochs) >= in_zones  # the cover: every issued cell and more
        for code, zone in zip(codes, zs):
            got = r.resolve(code.text())
            if zone is None:
                bad += got["status"] != "unknown"
            else:
                bad += got["status"] != "ok" or got["zone"] != zone.id
    assert bad == 0
    data = path.read_bytes()
    for s in STREETS[:3]:
        assert s not in data

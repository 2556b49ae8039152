"""A station fails closed on tables that verify but must not be used: expired, from the future, rolled back,
another station's extract, an unpinned key; and the signing key changes with an overlap.

Real keyrings, real signed tables built from tests/data/table_points.csv, real CLI runs (`python -m addrcode`).
"""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import keyring_with_history, resign_table
from conftest import run_cli_unconfigured as run

from addrcode.codes.keyring import load_keyring, new_keyring, pub_path
from addrcode.codes.scheme import encode_cell
from addrcode.codes.signing_keys import next_pub_path, previous_pub_path
from addrcode.errors import IntegrityError, KeyringError, UsageError
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations.build import build_table
from addrcode.stations.cells import issuable_cells
from addrcode.stations.resolver import Resolver
from addrcode.stations.trust import StationTrust
from addrcode.zones import default_zones_path, load_zones

HERE = Path(__file__).parent
POINTS_CSV = HERE / "data" / "table_points.csv"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A reference, its zones and cells, and a keyring with history, as a carrier has them."""
    work = tmp_path_factory.mktemp("trust")
    ref = work / "ref.sqlite"
    build_reference([POINTS_CSV], ref)
    ring_path = work / "ring.json"
    ring, epochs = keyring_with_history(ring_path)
    zones = load_zones(default_zones_path())
    grid = Grid()
    cells = issuable_cells(ref, grid)
    d, i = cells
    zs = zones.zone_of_cells(grid, d, i)
    cell = next((int(a), int(b), z) for a, b, z in zip(d, i, zs) if z is not None)
    code = encode_cell(cell[0], cell[1], epochs["active"]).text()
    return {"work": work, "ref": ref, "ring_path": ring_path, "ring": ring, "zones": zones, "grid": grid,
            "cells": cells, "code": code, "sort_center": cell[2].sort_center, "pub": pub_path(ring_path)}


def _table(world, out, ring=None, **options):
    ring = ring or world["ring"]
    return build_table(world["ref"], world["zones"], ring, world["grid"], out, cells=world["cells"], **options)


def _resolve(world, table, *more, cwd, pub=None):
    return run("resolve", "--table", str(table), "--public-key", str(pub or world["pub"]), "--format", "jsonl",
               *more, world["code"], cwd=cwd)


def _ring_made_at(folder: Path, moment):
    """A keyring created at `moment`, as seen then, and its .pub file."""
    path = folder / "ring-then.json"
    return new_keyring(path, now=moment).at(moment), pub_path(path)


# --------------------------------------------------------------------------- expiry and clock


def test_a_table_expires_at_the_end_of_the_last_key_period_it_holds(world, tmp_path):
    info = _table(world, tmp_path / "t.sqlite")
    sched, ring = world["ring"].schedule, world["ring"]
    assert info.not_after == sched.start_of(ring.current_period + sched.lookahead + 1).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_expired_table_is_refused_by_resolve_and_verify(world, tmp_path):
    """Built six weeks ago (the keyring's clock): signed and intact, but past its not_after."""
    ring, pub = _ring_made_at(tmp_path, world["ring"].now - timedelta(weeks=6))
    table = tmp_path / "old.sqlite"
    info = _table(world, table, ring=ring)
    got = _resolve(world, table, cwd=tmp_path, pub=pub)
    assert got.returncode == 3 and got.stdout == ""
    assert f"expired at {info.not_after}" in got.stderr and "install the current table" in got.stderr
    verify = run("table", "verify", str(table), "--public-key", str(pub))
    assert verify.returncode == 3 and "expired" in verify.stderr
    with pytest.raises(IntegrityError, match="expired"):
        Resolver(table, pub)  # the library checks it too


def test_a_table_near_its_expiry_warns_and_still_resolves(world, tmp_path):
    table = tmp_path / "short.sqlite"
    _table(world, table, valid_days=1)
    got = _resolve(world, table, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["status"] == "ok"
    assert "expires at" in got.stderr and "install the current table" in got.stderr


def test_a_table_built_in_the_future_is_refused(world, tmp_path):
    """A builder whose clock runs days ahead must not install a serial that blocks every later table."""
    ring, pub = _ring_made_at(tmp_path, world["ring"].now + timedelta(days=3))
    table = tmp_path / "future.sqlite"
    _table(world, table, ring=ring)
    got = _resolve(world, table, cwd=tmp_path, pub=pub)
    assert got.returncode == 3 and "in the future" in got.stderr and "clock" in got.stderr


def test_a_serial_above_the_build_time_is_refused_at_build(world, tmp_path):
    with pytest.raises(UsageError, match="build time"):
        _table(world, tmp_path / "t.sqlite", serial=99991231235959)


def test_a_version_1_table_is_refused_with_rebuild(world, tmp_path):
    table = tmp_path / "v1.sqlite"
    _table(world, table)
    db = sqlite3.connect(table)
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    resign_table(table, world["ring"])
    got = _resolve(world, table, cwd=tmp_path)
    assert got.returncode == 3 and "format version 1" in got.stderr and "rebuild" in got.stderr


# --------------------------------------------------------------------------- rollback


def test_an_older_table_put_back_is_refused(world, tmp_path, station_state):
    """The station keeps the newest serial it used (0600 state file); an older signed table is refused."""
    new, old = tmp_path / "new.sqlite", tmp_path / "old.sqlite"
    _table(world, new, serial=7)
    _table(world, old, serial=5)
    assert _resolve(world, new, cwd=tmp_path).returncode == 0
    assert stat.S_IMODE(station_state.stat().st_mode) == 0o600
    assert json.loads(station_state.read_text())["serials"] == {"all": 7}
    got = _resolve(world, old, cwd=tmp_path)
    assert got.returncode == 3 and got.stdout == ""
    assert "serial 5 is older than serial 7" in got.stderr and "undo revocations" in got.stderr
    assert _resolve(world, new, cwd=tmp_path).returncode == 0  # the same table again is fine
    image = tmp_path / "label.png"
    image.write_bytes(b"not a png")
    scan_old = run("scan", "--table", str(old), "--public-key", str(world["pub"]), str(image), cwd=tmp_path)
    assert scan_old.returncode == 3 and "older than serial 7" in scan_old.stderr


def test_the_state_file_is_configurable_and_a_corrupt_one_fails_closed(world, tmp_path):
    table = tmp_path / "t.sqlite"
    _table(world, table, serial=3)
    state = tmp_path / "mine" / "state.json"
    config = tmp_path / "addrcode.toml"
    config.write_text(f'table = "{table}"\npublic_key = "{world["pub"]}"\nstation_state = "{state}"\n')
    config.chmod(0o600)
    got = run("resolve", "--format", "jsonl", world["code"], cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(state.read_text())["serials"] == {"all": 3}
    state.write_text("{not json")
    got = run("resolve", world["code"], cwd=tmp_path)
    assert got.returncode == 3 and "state file is corrupt" in got.stderr


def test_rollback_check_in_the_library_with_a_trust(world, tmp_path):
    new, old = tmp_path / "new.sqlite", tmp_path / "old.sqlite"
    _table(world, new, serial=9)
    _table(world, old, serial=8)
    trust = StationTrust(state_file=tmp_path / "s.json")
    Resolver(new, world["pub"], trust=trust).close()
    with pytest.raises(IntegrityError, match="older than serial 9"):
        Resolver(old, world["pub"], trust=trust)
    Resolver(old, world["pub"]).close()  # without a state file the library does not check rollback


# --------------------------------------------------------------------------- station id


def test_another_stations_extract_is_refused(world, tmp_path):
    others = sorted({z.sort_center for z in world["zones"].zones} - {world["sort_center"]})
    theirs, mine = tmp_path / "theirs.sqlite", tmp_path / "mine.sqlite"
    _table(world, theirs, station=others[0], serial=2)
    _table(world, mine, station=world["sort_center"], serial=1)
    config = tmp_path / "addrcode.toml"
    config.write_text(f'public_key = "{world["pub"]}"\nstation = "{world["sort_center"]}"\n')
    config.chmod(0o600)
    got = run("resolve", "--table", str(theirs), world["code"], cwd=tmp_path)
    assert got.returncode == 3 and f"extract of station {others[0]}" in got.stderr
    ok = run("resolve", "--table", str(mine), "--format", "jsonl", world["code"], cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "ok", ok.stderr
    # table verify: --newer-than the installed extract refuses another station's, even with a higher serial
    got = run("table", "verify", str(theirs), "--public-key", str(world["pub"]), "--newer-than", str(mine))
    assert got.returncode == 3 and "another station's table" in got.stderr
    got = run("table", "verify", str(theirs), "--public-key", str(world["pub"]), "--station", world["sort_center"])
    assert got.returncode == 3 and f"extract of station {others[0]}" in got.stderr


# --------------------------------------------------------------------------- what verify prints, pins


def test_verify_prints_the_fingerprint_and_demo_flag_of_the_verifying_key(world, tmp_path):
    """A table whose (signed) meta claims another fingerprint and demo=true: verify prints the real signer."""
    table = tmp_path / "t.sqlite"
    _table(world, table)
    db = sqlite3.connect(table)
    db.execute("UPDATE meta SET value = ? WHERE key = 'public_key_fingerprint'", (json.dumps("0" * 16),))
    db.execute("UPDATE meta SET value = 'true' WHERE key = 'demo'")
    db.commit()
    db.close()
    resign_table(table, world["ring"])
    got = run("table", "verify", str(table), "--public-key", str(world["pub"]), "--format", "json")
    assert got.returncode == 0, got.stderr
    shown = json.loads(got.stdout)
    assert shown["public_key_fingerprint"] == world["ring"].verify_key.fingerprint and shown["demo"] is False
    text = run("table", "verify", str(table), "--public-key", str(world["pub"]))
    assert f"signed by key {world['ring'].verify_key.fingerprint}" in text.stdout and "DEMO" not in text.stdout


def test_a_pinned_fingerprint_refuses_any_other_key(world, tmp_path):
    table = tmp_path / "t.sqlite"
    _table(world, table)
    config = tmp_path / "addrcode.toml"
    config.write_text(f'table = "{table}"\npublic_key = "{world["pub"]}"\npublic_key_fingerprint = "{"a" * 16}"\n')
    config.chmod(0o600)
    got = run("resolve", world["code"], cwd=tmp_path)
    assert got.returncode == 3 and "not the carrier key pinned" in got.stderr
    config.write_text(f'table = "{table}"\npublic_key = "{world["pub"]}"\n'
                      f'public_key_fingerprint = "{world["ring"].verify_key.fingerprint}"\n')
    got = run("resolve", "--format", "jsonl", world["code"], cwd=tmp_path)
    assert got.returncode == 0 and json.loads(got.stdout)["status"] == "ok", got.stderr
    config.write_text(f'table = "{table}"\npublic_key = "{world["pub"]}"\npublic_key_fingerprint = "xyz"\n')
    assert run("resolve", world["code"], cwd=tmp_path).returncode == 2


def test_a_demo_signed_table_under_a_real_key_is_refused(world, tmp_path):
    from addrcode.codes.keyring import demo_keyring_path

    table = tmp_path / "forged.sqlite"
    _table(world, table, ring=load_keyring(demo_keyring_path()))
    got = _resolve(world, table, cwd=tmp_path)
    assert got.returncode == 3 and "signed by key" in got.stderr and world["ring"].verify_key.fingerprint in got.stderr


# --------------------------------------------------------------------------- signing key change


def test_signing_key_changes_with_an_overlap(world, tmp_path):
    """prepare -> stations trust both keys -> switch: old and new tables both verify during the change,
    codes are unchanged, and once the old key is dropped its tables are refused."""
    ring_path = tmp_path / "ring.json"
    ring, epochs = keyring_with_history(ring_path)
    code = encode_cell(*_some_cell(world), epochs["active"]).text()
    before = tmp_path / "before.sqlite"
    _table(world, before, ring=ring, serial=1)
    got = run("key", "rotate-signing", "--keyring", str(ring_path))
    assert got.returncode == 0, got.stderr
    assert next_pub_path(ring_path).is_file() and "next signing key" in got.stderr
    prepared = load_keyring(ring_path)
    assert prepared.verify_key == ring.verify_key  # still signing with the old key
    listed = run("key", "list", "--keyring", str(ring_path), "--format", "json")
    assert json.loads(listed.stdout)["next_public_key_fingerprint"] in got.stderr
    assert run("key", "rotate-signing", "--keyring", str(ring_path)).returncode == 3  # already prepared
    old_pub, next_pub = tmp_path / "old.pub", tmp_path / "next.pub"
    old_pub.write_bytes(pub_path(ring_path).read_bytes())
    next_pub.write_bytes(next_pub_path(ring_path).read_bytes())
    got = run("key", "rotate-signing", "--switch", "--keyring", str(ring_path))
    assert got.returncode == 0, got.stderr
    switched = load_keyring(ring_path)
    assert switched.verify_key.hex == next_pub.read_text().strip()
    assert previous_pub_path(ring_path).read_text() == old_pub.read_text() and not next_pub_path(ring_path).exists()
    after = tmp_path / "after.sqlite"
    _table(world, after, ring=switched, serial=2)
    config = tmp_path / "addrcode.toml"
    both = f'public_key = "{old_pub}"\nnext_public_key = "{next_pub}"\n'
    config.write_text(both)
    config.chmod(0o600)
    for table in (before, after):
        got = run("resolve", "--table", str(table), "--format", "jsonl", code, cwd=tmp_path)
        assert got.returncode == 0 and json.loads(got.stdout)["status"] == "ok", got.stderr
    both_keys = ["--public-key", str(old_pub), "--public-key", str(next_pub)]
    assert run("table", "verify", str(before), *both_keys).returncode == 0
    config.write_text(f'public_key = "{next_pub}"\n')  # change over: the old key dropped
    got = run("resolve", "--table", str(before), code, cwd=tmp_path)
    assert got.returncode == 3 and "signed by key" in got.stderr


def test_switch_without_a_prepared_key_and_demo_keyring_are_refused(tmp_path):
    from addrcode.codes.signing_keys import prepare_signing_key, switch_signing_key

    path = tmp_path / "r.json"
    new_keyring(path)
    with pytest.raises(KeyringError, match="no next signing key"):
        switch_signing_key(path)
    demo = tmp_path / "demo.json"
    new_keyring(demo, demo=True)
    with pytest.raises(KeyringError, match="demo"):
        prepare_signing_key(demo)


def test_a_prepared_next_key_is_covered_by_the_keyring_checksum(tmp_path):
    from addrcode.codes.signing_keys import prepare_signing_key

    path = tmp_path / "r.json"
    new_keyring(path)
    prepare_signing_key(path)
    doc = json.loads(path.read_text())
    doc["signing_key"]["next"]["seed"] = "00" * 32
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="corrupt"):
        load_keyring(path)


def _some_cell(world):
    d, i = world["cells"]
    zs = world["zones"].zone_of_cells(world["grid"], d, i)
    return next((int(a), int(b)) for a, b, z in zip(d, i, zs) if z is not None)


# --------------------------------------------------------------------------- the cached demo table


def test_a_modified_cached_demo_table_is_rebuilt_not_used(tmp_path):
    """The demo key is public, so the cache's own SHA-256 record is what catches a planted demo-signed file."""
    from addrcode.stations.default import default_table

    cache = tmp_path / "cache"
    cache.mkdir()
    ref = tmp_path / "ref.sqlite"
    build_reference([POINTS_CSV], ref)
    notes = []
    table, _ = default_table(cache, notes.append, reference=ref)
    original = table.read_bytes()
    table.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    again, _ = default_table(cache, notes.append, reference=ref)
    assert again == table and any("does not match the SHA-256" in n for n in notes)
    assert table.read_bytes() != original[:-1] + bytes([original[-1] ^ 1])

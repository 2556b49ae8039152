"""Tests for calendar key epochs (addrcode.codes.schedule and the keyring built on it): HKDF against
RFC 5869, period arithmetic, one key per period, windows, succession of a replaced keyring."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from addrcode.codes import schedule as S
from addrcode.codes.keyring import load_keyring, new_keyring, pub_path, rotate
from addrcode.codes.scheme import CELLS_PER_DISTRICT, EpochError, decode_code, encode_cell, encode_cells
from addrcode.errors import KeyringError

HERE = Path(__file__).parent
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # a Wednesday


# --------------------------------------------------------------------------- HKDF: RFC 5869 appendix A


def test_hkdf_matches_rfc5869_test_case_1():
    okm = S.hkdf_sha256(bytes([0x0B] * 22), salt=bytes(range(0x0D)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_hkdf_matches_rfc5869_test_case_3_empty_salt_and_info():
    okm = S.hkdf_sha256(bytes([0x0B] * 22), salt=b"", info=b"", length=42)
    assert okm.hex() == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                         "9d201395faa4b61a96c8")


def test_chain_and_epoch_keys_are_distinct_one_way_steps():
    chain = bytes(32)
    keys = {S.epoch_key(S.advance_chain(chain, 0, p), p) for p in range(50)}
    chains = {S.advance_chain(chain, 0, p) for p in range(50)}
    assert len(keys) == 50 and len(chains) == 50 and not keys & chains
    assert S.advance_chain(S.advance_chain(chain, 0, 7), 7, 20) == S.advance_chain(chain, 0, 20)


# --------------------------------------------------------------------------- periods


def test_periods_follow_the_calendar():
    s = S.Schedule()
    origin = S.parse_time(s.origin)
    assert origin.weekday() == 0  # Monday
    assert s.period_of(origin) == 0
    assert s.period_of(origin - timedelta(seconds=1)) == -1
    p = s.period_of(NOW)
    assert s.start_of(p) <= NOW < s.start_of(p + 1)
    assert s.start_of(p).weekday() == 0 and s.start_of(p + 1) - s.start_of(p) == timedelta(days=7)
    assert list(s.window_periods(p)) == [p - 3, p - 2, p - 1, p, p + 1]
    daily = S.Schedule(period_days=1, window=10, lookahead=1)
    assert daily.period_of(NOW) == (NOW - origin).days


@pytest.mark.parametrize("bad", [dict(period_days=0), dict(window=0), dict(lookahead=-1), dict(window=16, lookahead=1),
                                 dict(origin="yesterday"), dict(period_days=True)])
def test_bad_schedules_are_refused(tmp_path, bad):
    assert S.Schedule(**bad).check()
    with pytest.raises(KeyringError):
        new_keyring(tmp_path / "k", schedule=S.Schedule(**bad))
    assert not (tmp_path / "k").exists()


# --------------------------------------------------------------------------- one key per period


def test_codebook_of_one_period_maps_none_of_the_next(tmp_path):
    """A courier's (address, code) notes from one week say nothing about next week's labels."""
    path = tmp_path / "k"
    new_keyring(path, now=NOW)
    ring = load_keyring(path)
    rng = random.Random(5)
    cells = [(rng.randrange(900, 1100), rng.randrange(CELLS_PER_DISTRICT)) for _ in range(20_000)]
    week1 = ring.at(NOW).active
    week2 = ring.at(NOW + timedelta(days=7)).active
    assert week1.period + 1 == week2.period and week1.id != week2.id and week1.secret != week2.secret
    codebook = {c.compact(): cell for c, cell in zip(encode_cells(cells, week1), cells)}
    later = encode_cells(cells, week2)
    assert sum(c.compact() in codebook for c in later) == 0
    # nor does the opaque part carry over once the epoch character is ignored (chance: 1 in 2**20)
    opaque_book = {c.prefix + c.opaque: cell for c, cell in zip(encode_cells(cells, week1), cells)}
    hits = sum(opaque_book.get(c.prefix + c.opaque) == cell for c, cell in zip(later, cells))
    assert hits <= 1
    # next week's labels still decode for the key holder, and this week's keep decoding inside the window
    assert decode_code(later[0], ring.at(NOW + timedelta(days=7))) == (*cells[0], week2.id)
    old = encode_cell(*cells[0], week1)
    assert decode_code(old, ring.at(NOW + timedelta(days=21))).epoch == week1.id
    with pytest.raises(EpochError) as err:  # five weeks later it has left the window
        decode_code(old, ring.at(NOW + timedelta(days=35)))
    assert err.value.kind == "expired"


def test_a_week_of_keys_is_the_same_whenever_it_is_computed(tmp_path):
    path = tmp_path / "k"
    new_keyring(path, now=NOW)
    ring = load_keyring(path)
    monday = ring.schedule.start_of(ring.schedule.period_of(NOW))
    keys = {ring.at(monday + timedelta(hours=h)).active.secret for h in range(0, 7 * 24, 13)}
    assert len(keys) == 1


# --------------------------------------------------------------------------- succession


def _small_table(tmp_path, keyring_path, name):
    from addrcode.geocoding.build import build_reference
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.stations.cells import issuable_cells
    from addrcode.zones import default_zones_path, load_zones

    ref = tmp_path / "ref.sqlite"
    if not ref.exists():
        build_reference([HERE / "data" / "table_points.csv"], ref)
    grid = Grid()
    out = tmp_path / name
    build_table(ref, load_zones(default_zones_path()), load_keyring(keyring_path), grid, out)
    return out, issuable_cells(ref, grid)


def test_labels_of_a_replaced_keyring_never_resolve_ok_at_a_new_station(tmp_path):
    """50,000 codes of the old keyring, every key of its window, at a station with the new keyring's
    table: none answers ok (each is revoked, expired or unknown), so no parcel goes to a wrong zone."""
    from addrcode.stations.resolver import Resolver

    old_path, new_path = tmp_path / "old.json", tmp_path / "new.json"
    new_keyring(old_path)
    rotate(old_path)  # a history: a retired and an active generation
    old = load_keyring(old_path)
    new_keyring(new_path, succeeds=old_path)
    table, (district, index) = _small_table(tmp_path, new_path, "new.sqlite")
    rng = random.Random(9)
    cells = list(zip(district.tolist(), index.tolist()))
    cells += [(rng.choice(district.tolist()), rng.randrange(CELLS_PER_DISTRICT)) for _ in range(10_000)]
    codes = []
    while len(codes) < 50_000:
        for epoch in old.usable_epochs:
            codes += [c.text() for c in encode_cells(cells, epoch)]
    codes = codes[:50_000]
    with Resolver(table, pub_path(new_path)) as r:
        statuses = [r.resolve(c)["status"] for c in codes]
        assert statuses.count("ok") == 0
        assert set(statuses) <= {"revoked", "expired", "unknown"}
        assert statuses.count("revoked") >= 0.9 * len(codes)
        # the new keyring's own labels resolve
        fresh = encode_cells(cells[:50], load_keyring(new_path).active)
        assert all(r.resolve(c.text())["status"] in ("ok", "unknown") for c in fresh)
        assert sum(r.resolve(c.text())["status"] == "ok" for c in fresh) >= 10


def test_key_new_force_over_a_keyring_succeeds_it(tmp_path):
    path = tmp_path / "k.json"
    first = new_keyring(path)
    old_ids = {e.id for e in first.epochs}
    again = new_keyring(path, force=True)
    assert again.predecessor == first.verify_key.fingerprint
    statuses = again.epoch_statuses()
    assert all(statuses[i] == "revoked" for i in old_ids)
    assert {e.id for e in again.usable_epochs}.isdisjoint(old_ids)


def test_cli_key_new_succeeds_and_list(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    run = [sys.executable, "-m", "addrcode"]
    assert subprocess.run(run + ["key", "new", str(old)], capture_output=True).returncode == 0
    p = subprocess.run(run + ["key", "new", str(new), "--succeeds", str(old), "--period-days", "1", "--window", "10"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "succeeds keyring" in p.stderr and "one key per 1-day period" in p.stderr
    listing = subprocess.run(run + ["key", "list", "--keyring", str(new)], capture_output=True, text=True).stdout
    assert "revoked" in listing and "replaced keyring" in listing and "active" in listing
    ring = load_keyring(new)
    assert ring.schedule.period_days == 1 and ring.schedule.window == 10
    missing = subprocess.run(run + ["key", "new", str(tmp_path / "x.json"), "--succeeds", str(tmp_path / "nope")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "nope" in missing.stderr

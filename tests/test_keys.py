"""Tests for the keyring (addrcode.codes.keyring): permissions, atomic writes, integrity, rotation, secrecy."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from addrcode.codes import keyring as keys
from addrcode.codes.keyring import (
    demo_keyring_path,
    list_epochs,
    load_keyring,
    new_keyring,
    prune,
    pub_path,
    read_verify_key,
    revoke,
    rotate,
)
from addrcode.codes.scheme import EpochError, decode_code, encode_cell
from addrcode.errors import KeyringError

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # a fixed clock: same keys every run
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def ring_path(tmp_path):
    path = tmp_path / "keys" / "addrcode.keyring"
    path.parent.mkdir()
    new_keyring(path)
    return path


def _secrets_of(keyring) -> list[str]:
    hexes = [e.secret.hex() for e in keyring.epochs] + [keyring.signing_seed.hex()]
    return hexes + [h.upper() for h in hexes]


# --------------------------------------------------------------------------- creation


@posix_only
def test_new_keyring_is_0600_and_pub_is_public(ring_path):
    assert stat.S_IMODE(ring_path.stat().st_mode) == 0o600
    pub = pub_path(ring_path)
    assert pub.name == "addrcode.keyring.pub"
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    ring = load_keyring(ring_path)
    assert read_verify_key(pub) == ring.verify_key
    for secret in _secrets_of(ring):
        assert secret not in pub.read_text()


def test_new_keyring_content(tmp_path):
    ring = new_keyring(tmp_path / "k", now=NOW)
    assert load_keyring(tmp_path / "k") == ring
    ring = ring.at(NOW)
    period = ring.schedule.period_of(NOW)
    # a fresh keyring has this period's key and the next one (lookahead), nothing older
    assert [(e.period, e.status) for e in ring.epochs] == [(period, "active"), (period + 1, "upcoming")]
    first = keys.ALPHABET.index(ring.active.id)
    assert ring.epochs[1].id == keys.ALPHABET[(first + 1) % 32]  # the character cycles
    assert len(ring.active.secret) == 32 and ring.active.secret != ring.epochs[1].secret
    assert ring.is_demo is False
    assert ring.created.endswith("Z")
    statuses = ring.epoch_statuses()
    assert sorted(statuses) == sorted(keys.ALPHABET)
    assert sum(st == "expired" for st in statuses.values()) == 30


def test_new_keyring_secrets_are_fresh(tmp_path):
    a = new_keyring(tmp_path / "a")
    b = new_keyring(tmp_path / "b")
    assert a.active.secret != b.active.secret
    assert a.signing_seed != b.signing_seed


def test_new_keyring_refuses_to_overwrite(ring_path):
    before = ring_path.read_bytes()
    with pytest.raises(KeyringError, match="already exists"):
        new_keyring(ring_path)
    assert ring_path.read_bytes() == before
    new_keyring(ring_path, force=True)
    assert ring_path.read_bytes() != before


def test_key_new_creates_missing_folders_private(tmp_path):
    # a fresh account has no ~/.config/addrcode: `addrcode key new` makes it, readable by the owner only
    path = tmp_path / "home" / ".config" / "addrcode" / "keyring.json"
    done = subprocess.run([sys.executable, "-m", "addrcode", "key", "new", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    load_keyring(path)


def test_new_keyring_under_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(KeyringError, match="not a folder|cannot create"):
        new_keyring(tmp_path / "plain" / "k")


def test_no_temp_files_left(ring_path):
    rotate(ring_path)
    names = sorted(p.name for p in ring_path.parent.iterdir())
    assert names == ["addrcode.keyring", "addrcode.keyring.pub"]


def test_atomic_write_failure_leaves_old_file(ring_path, monkeypatch):
    before = ring_path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(keys.os, "replace", boom)
    with pytest.raises(KeyringError, match="cannot write the keyring"):  # one clear line, exit 3
        rotate(ring_path)
    monkeypatch.undo()
    assert ring_path.read_bytes() == before
    assert sorted(p.name for p in ring_path.parent.iterdir()) == ["addrcode.keyring", "addrcode.keyring.pub"]


def test_concurrent_reader_never_sees_partial_file(ring_path):
    """Readers racing with rotations always get a complete, valid keyring (os.replace is atomic)."""
    errors = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                load_keyring(ring_path)
            except Exception as exc:  # noqa: BLE001 - collect for the assertion
                errors.append(exc)

    t = threading.Thread(target=reader)
    t.start()
    try:
        for week in range(15):
            rotate(ring_path, now=datetime.now(timezone.utc) + timedelta(days=7 * week))
    finally:
        stop.set()
        t.join()
    assert errors == []


# --------------------------------------------------------------------------- permissions


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_open_keyring_refused_with_chmod_hint(ring_path, mode):
    os.chmod(ring_path, mode)
    with pytest.raises(KeyringError) as err:
        load_keyring(ring_path)
    assert f"chmod 600 {ring_path}" in str(err.value)


@posix_only
def test_0400_is_accepted(ring_path):
    os.chmod(ring_path, 0o400)
    assert load_keyring(ring_path).active.status == "active"


@posix_only
def test_demo_keyring_allowed_when_world_readable(tmp_path):
    path = tmp_path / "demo.json"
    new_keyring(path, demo=True)
    os.chmod(path, 0o644)
    ring = load_keyring(path)
    assert ring.is_demo


def test_missing_keyring_message(tmp_path):
    with pytest.raises(KeyringError, match="addrcode key new"):
        load_keyring(tmp_path / "nope")


# --------------------------------------------------------------------------- integrity


def test_every_random_byte_flip_is_refused(ring_path):
    """1,500 single-byte corruptions at random offsets (random new values): all refused."""
    raw = ring_path.read_bytes()
    rng = random.Random(1)
    target = ring_path.parent / "flipped.keyring"
    for _ in range(1500):
        pos = rng.randrange(len(raw))
        new = rng.choice([b for b in range(256) if b != raw[pos]])
        target.write_bytes(raw[:pos] + bytes([new]) + raw[pos + 1 :])
        os.chmod(target, 0o600)
        with pytest.raises(KeyringError):
            load_keyring(target)


def test_every_bit_flip_in_every_byte_is_refused(ring_path):
    """Exhaustive: each of the 8 single-bit flips of every byte of the file is refused."""
    raw = ring_path.read_bytes()
    body = bytearray(raw)
    for pos in range(len(raw)):
        for bit in range(8):
            body[pos] = raw[pos] ^ (1 << bit)
            with pytest.raises(KeyringError):
                keys._parse(bytes(body), "k")
        body[pos] = raw[pos]


def test_truncation_and_whitespace_edits_refused(ring_path):
    raw = ring_path.read_bytes()
    for cut in (0, 1, len(raw) // 2, len(raw) - 2):
        with pytest.raises(KeyringError):
            keys._parse(raw[:cut], "k")
    with pytest.raises(KeyringError):
        keys._parse(raw.replace(b"  ", b"\t", 1), "k")
    with pytest.raises(KeyringError):
        keys._parse(raw + b"\n", "k")


def test_consistent_edit_without_checksum_update_refused(ring_path):
    doc = json.loads(ring_path.read_text())
    doc["generations"][0]["status"] = "retired"
    doc["generations"].append(dict(doc["generations"][0], id=1, status="active"))
    edited = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    with pytest.raises(KeyringError, match="checksum"):
        keys._parse(edited, "k")


def test_corruption_message_holds_no_secret(ring_path):
    raw = ring_path.read_bytes()
    ring = load_keyring(ring_path)
    with pytest.raises(KeyringError) as err:
        keys._parse(raw[:-5], ring_path)
    for secret in _secrets_of(ring):
        assert secret not in str(err.value)


# --------------------------------------------------------------------------- rotate / revoke


def test_rotate_and_revoke(tmp_path):
    path = tmp_path / "k"
    first = new_keyring(path, now=NOW).at(NOW)
    code0 = encode_cell(1000, 4321, first.active)
    old_id = first.active.id

    ring = rotate(path, now=NOW)
    assert load_keyring(path).at(NOW) == ring
    assert ring.epoch(old_id).status == "retired"
    assert ring.epoch(old_id).secret == first.active.secret  # old codes still decode
    assert decode_code(code0, ring) == (1000, 4321, old_id)
    code1 = encode_cell(1000, 4321, ring.active)
    assert code1.epoch != old_id and code1 != code0
    # the old generation's upcoming key is gone: only the new one issues ahead
    assert [e.status for e in ring.epochs] == ["retired", "active", "upcoming"]
    assert len({e.id for e in ring.epochs}) == 3

    with pytest.raises(KeyringError, match="rotate"):
        revoke(path, code1.epoch, now=NOW)  # the active key
    ring = revoke(path, old_id, now=NOW)
    assert ring.epoch(old_id).status == "revoked" and ring.epoch(old_id).secret == b""
    assert old_id not in [e.id for e in ring.usable_epochs]
    assert revoke(path, old_id, now=NOW) == ring  # idempotent
    with pytest.raises(EpochError) as err:
        decode_code(code0, load_keyring(path).at(NOW))
    assert err.value.kind == "revoked"
    assert decode_code(code1, ring) == (1000, 4321, code1.epoch)
    # the revoked generation's chain key is erased from the file, not only flagged
    gen0 = json.loads(path.read_text())["generations"][0]
    assert gen0["status"] == "revoked" and gen0["chain"] == ""

    unused = next(ch for ch in keys.ALPHABET if ring.epoch_statuses()[ch] == "expired")
    with pytest.raises(KeyringError, match="no epoch"):
        revoke(path, unused, now=NOW)
    ring = rotate(path, now=NOW)
    assert [e.status for e in ring.epochs] == ["revoked", "retired", "active", "upcoming"]
    assert ring.verify_key == first.verify_key  # rotation re-keys codes, not the table signature


def test_periods_and_rotations_run_past_32_without_a_new_keyring(tmp_path):
    path = tmp_path / "k"
    new_keyring(path, now=NOW)
    seen_ids, seen_secrets = set(), set()
    for week in range(80):  # 80 weeks, an emergency rotation every 10th
        moment = NOW + timedelta(days=7 * week)
        if week % 10 == 5:
            rotate(path, now=moment)
        ring = load_keyring(path).at(moment)
        active = ring.active
        seen_ids.add(active.id)
        seen_secrets.add(active.secret)
        ids = [e.id for e in ring.epochs]
        assert len(ids) == len(set(ids)), f"week {week}: a character names two keys"
    assert seen_ids == set(keys.ALPHABET)  # characters cycle
    assert len(seen_secrets) == 80  # a new key every period


def test_rotation_refused_when_the_window_would_repeat_a_character(tmp_path):
    path = tmp_path / "k"
    new_keyring(path, now=NOW)
    rotations = 0
    with pytest.raises(KeyringError, match="two keys") as err:
        for _ in range(40):
            rotate(path, now=NOW)
            rotations += 1
    assert 10 <= rotations < 16  # each rotation takes two characters (its own and the skipped upcoming one)
    assert "--succeeds" in str(err.value)
    ring = load_keyring(path).at(NOW)
    assert len({e.id for e in ring.epochs}) == len(ring.epochs)  # the file was left consistent


def test_old_period_keys_are_erased_by_prune(tmp_path):
    """Forward security: after `prune`, the keyring can no longer produce keys of periods that left
    the window, so a thief who copies it later cannot decode old labels."""
    path = tmp_path / "k"
    new_keyring(path, now=NOW)
    early = load_keyring(path).at(NOW)
    code = encode_cell(1000, 4321, early.active)
    later = NOW + timedelta(days=7 * 6)
    prune(path, now=later)
    stolen = load_keyring(path)
    assert decode_code(code, early) == (1000, 4321, code.epoch)  # the copy taken before prune decodes it
    # the pruned file, even read with the early clock, has no key for that period any more
    erased = stolen.at(NOW).epoch(code.epoch)
    assert erased.secret == b"" and erased.status == "expired"
    with pytest.raises(EpochError) as err:
        decode_code(code, stolen.at(NOW))
    assert err.value.kind == "expired"
    gen = json.loads(path.read_text())["generations"][0]
    assert gen["chain_period"] == stolen.schedule.period_of(later) - stolen.schedule.window + 1
    # neither that period's key nor the chain key it came from is anywhere in the file
    assert early.active.secret.hex() not in path.read_text()
    assert early.generations[0].chain.hex() not in path.read_text()


def test_format_1_keyring_is_refused_with_the_way_out(tmp_path):
    old = tmp_path / "old.json"
    body = {"format": "addrcode-keyring", "version": 1, "created": "2025-01-01T00:00:00Z", "demo": False,
            "epochs": [{"id": "0", "created": "2025-01-01T00:00:00Z", "status": "active", "secret": "00" * 32}],
            "signing_key": {"algorithm": "ed25519", "seed": "11" * 32,
                            "public": keys.SigningKey(b"\x11" * 32).verify_key.hex}}
    doc = dict(body, checksum="sha256:" + keys.hashlib.sha256(keys._canonical(body)).hexdigest())
    old.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    old.chmod(0o600)
    with pytest.raises(KeyringError, match="--succeeds"):
        load_keyring(old)
    new = new_keyring(tmp_path / "new.json", succeeds=old, now=NOW).at(NOW)
    assert new.epoch_statuses()["0"] == "revoked"  # its labels answer revoked, never ok
    assert new.active.id != "0"


def test_epoch_lookup_case_insensitive(tmp_path):
    ring = new_keyring(tmp_path / "k", now=NOW)
    for week in range(40):
        ring = load_keyring(tmp_path / "k").at(NOW + timedelta(days=7 * week))
        if ring.active.id == "A":
            break
    assert ring.epoch("a").id == "A"
    with pytest.raises(KeyError):
        ring.epoch("U")


# --------------------------------------------------------------------------- secrecy


def test_no_secret_in_repr_str_or_listing(ring_path):
    ring = rotate(ring_path)
    shown = [
        repr(ring),
        str(ring),
        repr(ring.active),
        str(ring.epochs),
        repr(ring.signing_key),
        str(ring.signing_key),
        repr(list_epochs(ring)),
        repr(ring.verify_key),
    ]
    for text in shown:
        for secret in _secrets_of(ring):
            assert secret not in text
        assert "secret=" not in text and "seed=" not in text
    assert [e.id for e in list_epochs(ring)] == [e.id for e in ring.epochs]
    assert not hasattr(list_epochs(ring)[0], "secret")


def test_signing_key_signs_and_verifies(ring_path):
    ring = load_keyring(ring_path)
    sig = ring.signing_key.sign(b"table bytes")
    assert len(sig) == 64
    assert ring.verify_key.verify(sig, b"table bytes")
    assert not ring.verify_key.verify(sig, b"table bytez")
    other = new_keyring(ring_path.parent / "other")
    assert not other.verify_key.verify(sig, b"table bytes")


def test_read_verify_key_rejects_garbage(tmp_path):
    p = tmp_path / "x.pub"
    p.write_text("not hex\n")
    with pytest.raises(KeyringError, match="public key"):
        read_verify_key(p)
    with pytest.raises(KeyringError, match="not found"):
        read_verify_key(tmp_path / "missing.pub")


# --------------------------------------------------------------------------- packaged demo keyring


def test_packaged_demo_keyring():
    path = demo_keyring_path()
    if not path.is_file():
        pytest.skip("demo keyring not generated yet")
    ring = load_keyring(path)
    assert ring.is_demo
    assert ring.active.status == "active"  # whatever the date: the demo keyring never runs out
    assert ring.at(NOW + timedelta(days=3650)).active.status == "active"
    pub = pub_path(path)
    assert read_verify_key(pub) == ring.verify_key


@pytest.mark.parametrize("change", ["rotate", "prune", "prepare-signing", "switch-signing"])
def test_changing_a_keyring_through_a_symlink_keeps_the_link(tmp_path, change):
    """`key rotate` & co. on a symlinked keyring replace the real file, never the link (issue 19, item 7)."""
    from addrcode.codes import signing_keys

    real = tmp_path / "vault" / "ring.json"
    real.parent.mkdir(mode=0o700)
    keys.new_keyring(real)
    if change == "switch-signing":
        signing_keys.prepare_signing_key(real)
    link = tmp_path / "ring.json"
    link.symlink_to(real)
    before = real.read_bytes()
    action = {"rotate": keys.rotate, "prune": lambda p: keys.rotate(p) and keys.prune(p),
              "prepare-signing": signing_keys.prepare_signing_key,
              "switch-signing": signing_keys.switch_signing_key}[change]
    action(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() != before and stat.S_IMODE(real.stat().st_mode) == 0o600
    keys.load_keyring(link)

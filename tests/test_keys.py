"""Tests for the keyring (addrcode.codes.keyring): permissions, atomic writes, integrity, rotation, secrecy."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import threading

import pytest

from addrcode.codes import keyring as keys
from addrcode.codes.keyring import (
    demo_keyring_path,
    list_epochs,
    load_keyring,
    new_keyring,
    pub_path,
    read_verify_key,
    revoke,
    rotate,
)
from addrcode.codes.scheme import EpochError, decode_code, encode_cell
from addrcode.errors import KeyringError

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


def test_new_keyring_content(ring_path):
    ring = load_keyring(ring_path)
    assert [e.id for e in ring.epochs] == ["0"]
    assert ring.active.id == "0" and ring.active.status == "active"
    assert len(ring.active.secret) == 32
    assert ring.is_demo is False
    assert ring.created.endswith("Z")


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
        for _ in range(15):
            rotate(ring_path)
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
    assert load_keyring(ring_path).active.id == "0"


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
    doc["epochs"][0]["status"] = "retired"
    doc["epochs"].append(dict(doc["epochs"][0], id="1", status="active"))
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


def test_rotate_and_revoke(ring_path):
    first = load_keyring(ring_path)
    code0 = encode_cell(1000, 4321, first.active)

    ring = rotate(ring_path)
    assert [(e.id, e.status) for e in ring.epochs] == [("0", "retired"), ("1", "active")]
    assert load_keyring(ring_path) == ring
    assert ring.epoch("0").secret == first.active.secret  # old codes still decode
    assert decode_code(code0, ring) == (1000, 4321, "0")
    code1 = encode_cell(1000, 4321, ring.active)
    assert code1.epoch == "1" and code1 != code0

    with pytest.raises(KeyringError, match="rotate"):
        revoke(ring_path, "1")  # the active epoch
    assert [e.id for e in ring.usable_epochs] == ["0", "1"]
    ring = revoke(ring_path, "0")
    assert [(e.id, e.status) for e in ring.epochs] == [("0", "revoked"), ("1", "active")]
    assert [e.id for e in ring.usable_epochs] == ["1"]
    assert revoke(ring_path, "0") == ring  # idempotent
    with pytest.raises(EpochError) as err:
        decode_code(code0, load_keyring(ring_path))
    assert err.value.kind == "revoked"
    assert decode_code(code1, ring) == (1000, 4321, "1")

    with pytest.raises(KeyringError, match="no epoch"):
        revoke(ring_path, "7")

    ring = rotate(ring_path)
    assert [(e.id, e.status) for e in ring.epochs] == [("0", "revoked"), ("1", "retired"), ("2", "active")]
    assert ring.verify_key == first.verify_key  # rotation re-keys codes, not the table signature


def test_epoch_ids_follow_crockford_order_and_run_out(tmp_path):
    path = tmp_path / "k"
    new_keyring(path)
    for _ in range(31):
        ring = rotate(path)
    assert "".join(e.id for e in ring.epochs) == keys.ALPHABET
    with pytest.raises(KeyringError, match="epoch ids"):
        rotate(path)


def test_epoch_lookup_case_insensitive(ring_path):
    ring = rotate(ring_path)
    for _ in range(10):
        ring = rotate(ring_path)
    assert ring.epoch("a").id == "A"
    with pytest.raises(KeyError):
        ring.epoch("Z")


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
    assert [e.id for e in list_epochs(ring)] == ["0", "1"]
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
    assert ring.active.id == "0"
    pub = pub_path(path)
    assert read_verify_key(pub) == ring.verify_key

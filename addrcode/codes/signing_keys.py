"""Changing the key that signs station tables, on its own and with an overlap (`addrcode key rotate-signing`).

The code keys (epochs) and the table signing key are separate: the signing key can be replaced
without touching any code. Stations must trust the new key before the first table it signs, so the
change has two steps:

1. `prepare_signing_key`: a next key is made and kept in the keyring (tables are still signed by the
   current one); its public key is written to ``KEYRING.next.pub``. Give that file to every station,
   which adds it as ``next_public_key`` in its addrcode.toml (and its fingerprint to
   ``public_key_fingerprint`` if it pins): the station now trusts both keys.
2. `switch_signing_key`: the next key becomes the signing key; ``KEYRING.pub`` is the new key and
   ``KEYRING.previous.pub`` the old one. Tables built from now on are signed by the new key, which
   every station already trusts. Once all run such a table, stations make the new key their
   ``public_key`` and drop the old one.

If the old signing key leaked, skip the overlap: stations drop it at once (a table signed by the
leaked key could be a forgery), so do step 2 right after step 1 and hand out the new key first.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from pathlib import Path

from addrcode.codes.keyring import Keyring, KeyringError, SigningKey, load_keyring, write_keyring
from addrcode.errors import DataError
from addrcode.files import write_output


def next_pub_path(path: str | os.PathLike) -> Path:
    """Where the prepared next public key is written: ``<keyring>.next.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".next.pub")


def previous_pub_path(path: str | os.PathLike) -> Path:
    """Where the replaced public key is kept after a switch: ``<keyring>.previous.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".previous.pub")


def _write_pub(path: Path, hex_key: str) -> None:
    try:
        write_output(path, (hex_key + "\n").encode("ascii"), mode=0o644, what="the public key")
    except DataError as exc:
        raise KeyringError(str(exc)) from None


def prepare_signing_key(path: str | os.PathLike) -> Keyring:
    """Step 1: make the next signing key (kept in the keyring, not used yet) and write its ``.next.pub``."""
    path = Path(path)
    keyring = load_keyring(path)
    if keyring.is_demo:
        raise KeyringError(f"{path}: the demo keyring's keys are public; make a keyring of your own (`key new`)")
    if keyring.next_signing_seed:
        fingerprint = SigningKey(keyring.next_signing_seed).verify_key.fingerprint
        raise KeyringError(f"{path}: a next signing key is already prepared (fingerprint {fingerprint}, "
                           f"{next_pub_path(path)}); switch to it with `addrcode key rotate-signing --switch`")
    new = replace(keyring, path=path, next_signing_seed=secrets.token_bytes(32))
    write_keyring(new, path)
    _write_pub(next_pub_path(path), SigningKey(new.next_signing_seed).verify_key.hex)
    return new


def switch_signing_key(path: str | os.PathLike) -> Keyring:
    """Step 2: sign with the prepared key from now on; the old public key moves to ``.previous.pub``."""
    path = Path(path)
    keyring = load_keyring(path)
    if not keyring.next_signing_seed:
        raise KeyringError(f"{path}: no next signing key prepared; run `addrcode key rotate-signing` first, "
                           "give its .next.pub to every station, then switch")
    _write_pub(previous_pub_path(path), keyring.verify_key.hex)
    new = replace(keyring, path=path, signing_seed=keyring.next_signing_seed, next_signing_seed=b"")
    write_keyring(new, path)  # writes KEYRING.pub: the new key
    try:
        next_pub_path(path).unlink()
    except OSError:
        pass
    return new


__all__ = ["prepare_signing_key", "switch_signing_key", "next_pub_path", "previous_pub_path"]

"""Delivery key pairs: an X25519 secret key per delivery region, kept at its stations.

    addrcode key new --delivery SC-ESSEX essex.delivery.key   # the station: essex.delivery.key (0600)
                                                              #   and essex.delivery.key.pub
    delivery_keys = "delivery-keys/"                          # the shipper: a folder of the regions' .pub

Both files are small JSON documents naming their region, so a `.pub` file can be renamed or copied
around without mixing regions up. The secret key file is refused when other users can read it (as a
keyring is); a public key that is not a valid X25519 point of large order is refused (libsodium
refuses to seal to one, and it would mean a broken or planted file).

Fingerprints (16 hex digits) are the first 8 bytes of the SHA-256 of the raw public key; an
envelope names its recipient by the first 4 of them (`key_id`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from addrcode.errors import DataError, KeyringError, UsageError
from addrcode.files import make_private_dirs, read_key_file, write_output

SECRET_FORMAT = "addrcode-delivery-key"
PUBLIC_FORMAT = "addrcode-delivery-public-key"
MAX_KEY_FILE_BYTES = 4096
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_region(region: str) -> str:
    """A delivery region name (the sort center, or a zone's `delivery_region`): 1-64 letters, digits, `._-`."""
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise UsageError(f"delivery region {region!r}: use 1-64 letters, digits, '.', '_' or '-' "
                         "(a sort center id such as SC-ESSEX)")
    return region


def fingerprint(public_key: bytes) -> str:
    """16 hex digits naming a delivery public key (what `key list` and error messages show)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class DeliveryPublicKey:
    """What a shipper seals to: a region's X25519 public key."""

    region: str
    key: bytes  # 32 bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    @property
    def key_id(self) -> bytes:
        """The 4 bytes an envelope names its recipient key by."""
        return bytes.fromhex(self.fingerprint)[:4]


@dataclass(frozen=True)
class DeliverySecretKey:
    """What a delivering station opens envelopes with. Never printed, never logged."""

    region: str
    secret: bytes = b""  # 32 bytes
    path: str = ""

    def __repr__(self) -> str:  # the secret stays out of tracebacks and logs
        return f"DeliverySecretKey(region={self.region!r}, fingerprint={self.public.fingerprint})"

    @property
    def public(self) -> DeliveryPublicKey:
        from nacl.public import PrivateKey

        return DeliveryPublicKey(self.region, bytes(PrivateKey(self.secret).public_key))


def public_path(path: str | os.PathLike) -> Path:
    """Where the public key of the delivery key `path` is written: ``<path>.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".pub")


def new_delivery_key(path: str | os.PathLike, region: str, *, force: bool = False) -> DeliverySecretKey:
    """Create a delivery key pair for `region`: the secret key at `path` (0600, atomically) and its
    public key at `public_path(path)`. An existing file is kept unless `force`."""
    from nacl.public import PrivateKey

    path = Path(path)
    check_region(region)
    if path.exists() and not force:
        raise KeyringError(f"{path}: exists; a delivery key is never overwritten without --force "
                           "(parcels sealed to it could no longer be opened)")
    try:
        make_private_dirs(path.parent)
    except DataError as exc:
        raise KeyringError(f"{exc}; choose another path") from None
    secret = bytes(PrivateKey.generate())
    key = DeliverySecretKey(region, secret, str(path))
    document = {"format": SECRET_FORMAT, "version": 1, "region": region, "secret_key": secret.hex(),
                "public_key": key.public.key.hex()}
    try:
        write_output(path, json.dumps(document, indent=1) + "\n", mode=0o600, what="the delivery key")
        write_public_key(key.public, public_path(path))
    except DataError as exc:
        raise KeyringError(str(exc)) from None
    return key


def write_public_key(public: DeliveryPublicKey, path: Path) -> None:
    """Write a region's public key file (0644: it is public)."""
    document = {"format": PUBLIC_FORMAT, "version": 1, "region": public.region, "public_key": public.key.hex()}
    write_output(path, json.dumps(document) + "\n", mode=0o644, what="the public key")


def _read_small(path: Path, what: str) -> tuple[bytes, os.stat_result]:
    raw, st = read_key_file(path, MAX_KEY_FILE_BYTES, what)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyringError(f"{path}: not a {what} file (far too large)")
    return raw, st


def _document(raw: bytes, path: Path, fmt: str, what: str) -> dict:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise KeyringError(f"{path}: not an addrcode {what} (made by `addrcode key new --delivery REGION FILE`)")
    if doc.get("version") != 1:
        raise KeyringError(f"{path}: {what} version {doc.get('version')!r}; this addrcode reads version 1")
    try:
        check_region(doc.get("region"))
    except UsageError:
        raise KeyringError(f"{path}: {what} names no valid delivery region") from None
    return doc


def _key_bytes(doc: dict, name: str, path: Path, what: str) -> bytes:
    try:
        value = bytes.fromhex(doc.get(name) or "")
    except (TypeError, ValueError):
        value = b""
    if len(value) != 32:
        raise KeyringError(f"{path}: {what} is damaged ({name} is not 64 hex digits); restore it from your backup")
    return value


def _usable_point(key: bytes) -> bool:
    """A public key libsodium will seal to: a curve point of large order (a random scalar times it is not 0)."""
    from nacl.bindings import crypto_scalarmult
    from nacl.exceptions import RuntimeError as NaclRuntimeError

    try:
        crypto_scalarmult(os.urandom(32), key)
    except NaclRuntimeError:
        return False
    return True


def load_public_key(path: str | os.PathLike) -> DeliveryPublicKey:
    """Read a region's `.pub` file; `KeyringError` when it is missing, damaged or a degenerate key."""
    path = Path(path)
    raw, _ = _read_small(path, "delivery public key")
    doc = _document(raw, path, PUBLIC_FORMAT, "delivery public key")
    key = _key_bytes(doc, "public_key", path, "delivery public key")
    if not _usable_point(key):
        raise KeyringError(f"{path}: not a usable public key (a degenerate, small-order point); "
                           "ask the station for its .pub file again")
    return DeliveryPublicKey(doc["region"], key)


def load_secret_key(path: str | os.PathLike) -> DeliverySecretKey:
    """Read a station's delivery key; `KeyringError` when missing, readable by others, or damaged."""
    path = Path(path)
    raw, st = _read_small(path, "delivery key")
    doc = _document(raw, path, SECRET_FORMAT, "delivery key")
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeyringError(f"{path}: delivery key is readable by other users (mode {stat.S_IMODE(st.st_mode):03o}); "
                           f"run `chmod 600 {path}`")
    key = DeliverySecretKey(doc["region"], _key_bytes(doc, "secret_key", path, "delivery key"), str(path))
    if doc.get("public_key") != key.public.key.hex():
        raise KeyringError(f"{path}: delivery key is damaged (its public key does not match); restore it from "
                           "your backup")
    return key


def load_region_keys(folder: str | os.PathLike) -> dict[str, DeliveryPublicKey]:
    """Every region's public key in `folder` (its `*.pub` files), by region; `DataError` when the folder
    holds none, two keys claim one region, or a file is not a delivery public key."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: delivery keys folder not found (put each delivery region's .pub file, "
                        "from `addrcode key new --delivery REGION FILE`, in one folder)")
    keys: dict[str, DeliveryPublicKey] = {}
    for path in sorted(folder.glob("*.pub")):
        key = load_public_key(path)
        if key.region in keys:
            raise DataError(f"{folder}: two public keys for delivery region {key.region} ({path.name} and "
                            "another); keep one per region")
        keys[key.region] = key
    if not keys:
        raise DataError(f"{folder}: holds no delivery public keys (*.pub)")
    return keys

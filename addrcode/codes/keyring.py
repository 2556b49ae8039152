"""The keyring: key epochs for delivery codes and the Ed25519 key that signs station tables.

File format (JSON, UTF-8, written as ``json.dumps(doc, indent=2, sort_keys=True) + "\\n"``)::

    {
      "checksum": "sha256:<hex>",      # SHA-256 of the canonical JSON of every other field
      "created": "2025-01-01T00:00:00Z",
      "demo": false,                   # true: a published demo keyring, its codes are NOT private
                                       # (a demo keyring also carries a "note" saying so)
      "epochs": [
        {"created": "...Z", "id": "0", "secret": "<64 hex>", "status": "retired"},
        {"created": "...Z", "id": "1", "secret": "<64 hex>", "status": "active"}
      ],
      "format": "addrcode-keyring",
      "signing_key": {"algorithm": "ed25519", "public": "<64 hex>", "seed": "<64 hex>"},
      "version": 1
    }

Rules, all enforced by `load_keyring`:

- Epoch ids are single Crockford base32 characters assigned in order 0, 1, 2, ... (at most 32
  epochs); exactly one epoch is ``active`` (the one new codes use); ``retired`` epochs still decode
  and resolve; ``revoked`` ones are refused. Secrets are 256 bits from `secrets`.
- Integrity: the checksum must match *and* the file bytes must be exactly the canonical rendering,
  so any change (even whitespace) is refused with `KeyringError`. This detects corruption and
  careless edits; it is not a defence against someone who can write the file (they hold the keys).
- Permissions: files are created 0600 and written atomically (temp file in the same directory,
  fsync, ``os.replace``). A keyring readable by group or others is refused ("chmod 600 FILE"),
  except a demo keyring (``demo: true``), which is public by construction.
- The public verify key is also written next to the keyring as ``<keyring>.pub`` (one line, hex of
  the raw 32-byte Ed25519 public key): that file is what sorting stations are given.
- Secrets never appear in ``repr()``/``str()``, in `list_epochs`, or in any error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from addrcode.codes.scheme import ALPHABET  # epoch ids are code characters
from addrcode.errors import DataError, KeyringError
from addrcode.files import write_output

FORMAT = "addrcode-keyring"
VERSION = 1
STATUSES = ("active", "retired", "revoked")
SECRET_BYTES = 32
DEMO_KEYRING_NAME = "demo-keyring.json"
MAX_KEYRING_BYTES = 1 << 20  # 32 epochs take ~6 kB
DEMO_NOTE = ("DEMO KEYRING: its secrets are published, so codes made with it are NOT private. "
             "Never use it for real parcels.")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Epoch:
    """One key version. `secret` is hidden from repr/str."""

    id: str
    created: str
    status: str
    secret: bytes = field(repr=False)

    @property
    def usable(self) -> bool:
        """True if codes of this epoch may still be decoded/resolved (active or retired)."""
        return self.status in ("active", "retired")


@dataclass(frozen=True)
class EpochInfo:
    """What may be shown about an epoch: no secret."""

    id: str
    created: str
    status: str


class SigningKey:
    """Ed25519 private key for station tables. Its seed never appears in repr/str."""

    __slots__ = ("_seed",)

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise KeyringError("signing key seed must be 32 bytes")
        self._seed = bytes(seed)

    def __repr__(self) -> str:
        return f"SigningKey(ed25519, public={self.verify_key.fingerprint})"

    __str__ = __repr__

    def _private(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self._seed)

    def sign(self, data: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of `data`."""
        return self._private().sign(data)

    @property
    def verify_key(self) -> VerifyKey:
        """The matching public key."""
        from cryptography.hazmat.primitives import serialization

        raw = self._private().public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return VerifyKey(raw)


@dataclass(frozen=True)
class VerifyKey:
    """Ed25519 public key (32 raw bytes): what stations use to check a table's signature."""

    raw: bytes

    def __post_init__(self):
        if len(self.raw) != 32:
            raise KeyringError("Ed25519 public key must be 32 bytes")

    @property
    def hex(self) -> str:
        """Hex of the raw public key (the content of ``<keyring>.pub``)."""
        return self.raw.hex()

    @property
    def fingerprint(self) -> str:
        """Short SHA-256 fingerprint, for people comparing keys by eye."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if `signature` is a valid Ed25519 signature of `data` under this key."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Keyring:
    """A loaded keyring. Immutable: operations write a new file and return a new object."""

    path: Path | None
    created: str
    demo: bool
    epochs: tuple[Epoch, ...]
    signing_seed: bytes = field(repr=False)

    @property
    def is_demo(self) -> bool:
        """True for a published demo keyring: codes made with it are not private."""
        return self.demo

    @property
    def active(self) -> Epoch:
        """The epoch new codes use (exactly one is active)."""
        for ep in self.epochs:
            if ep.status == "active":
                return ep
        raise KeyringError(f"{self.path}: no active epoch; run `addrcode key rotate`")

    @property
    def usable_epochs(self) -> tuple[Epoch, ...]:
        """Active and retired epochs: the ones station tables carry rows for."""
        return tuple(e for e in self.epochs if e.usable)

    def epoch(self, epoch_id: str) -> Epoch:
        """The epoch with this id (case-insensitive); `KeyError` if the keyring has none."""
        key = epoch_id.upper()
        for ep in self.epochs:
            if ep.id == key:
                return ep
        raise KeyError(epoch_id)

    @property
    def signing_key(self) -> SigningKey:
        """The Ed25519 key that signs station tables."""
        return SigningKey(self.signing_seed)

    @property
    def verify_key(self) -> VerifyKey:
        """The Ed25519 public key given to stations."""
        return self.signing_key.verify_key


# --------------------------------------------------------------------------- serialisation


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _render(keyring: Keyring) -> bytes:
    body = {
        "format": FORMAT,
        "version": VERSION,
        "created": keyring.created,
        "demo": keyring.demo,
        "epochs": [
            {"id": e.id, "created": e.created, "status": e.status, "secret": e.secret.hex()}
            for e in keyring.epochs
        ],
        "signing_key": {
            "algorithm": "ed25519",
            "seed": keyring.signing_seed.hex(),
            "public": keyring.verify_key.hex,
        },
    }
    if keyring.demo:
        body["note"] = DEMO_NOTE
    doc = dict(body, checksum="sha256:" + hashlib.sha256(_canonical(body)).hexdigest())
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def _bad(path, what: str) -> KeyringError:
    # One wording for every integrity failure; never includes file content.
    return KeyringError(
        f"{path}: keyring is corrupt or was edited ({what}); restore it from your backup"
    )


def _parse(raw: bytes, path) -> Keyring:
    try:
        doc = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _bad(path, "not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(path, "not an addrcode keyring")
    if doc.get("version") != VERSION:
        raise KeyringError(f"{path}: keyring format version {doc.get('version')!r} is not supported; upgrade addrcode")
    body = {k: v for k, v in doc.items() if k != "checksum"}
    expected = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    from hmac import compare_digest

    if not isinstance(doc.get("checksum"), str) or not compare_digest(doc["checksum"], expected):
        raise _bad(path, "checksum mismatch")
    try:
        epochs = tuple(
            Epoch(id=e["id"], created=e["created"], status=e["status"], secret=bytes.fromhex(e["secret"]))
            for e in doc["epochs"]
        )
        sk = doc["signing_key"]
        seed = bytes.fromhex(sk["seed"])
        keyring = Keyring(
            path=Path(path) if path is not None else None,
            created=doc["created"],
            demo=doc["demo"],
            epochs=epochs,
            signing_seed=seed,
        )
        public = sk["public"]
        algorithm = sk["algorithm"]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _bad(path, "missing or malformed field") from None
    _validate(keyring, path, algorithm, public)
    # The checksum covers the content; requiring the exact canonical bytes also refuses
    # whitespace or ordering edits, so every byte of the file is covered.
    if _render(keyring) != raw:
        raise _bad(path, "not in canonical form")
    return keyring


def _validate(keyring: Keyring, path, algorithm, public) -> None:
    if algorithm != "ed25519" or not isinstance(keyring.demo, bool):
        raise _bad(path, "bad field value")
    if len(keyring.signing_seed) != 32 or public != keyring.verify_key.hex:
        raise _bad(path, "signing key does not match its public key")
    if not keyring.epochs:
        raise _bad(path, "no epochs")
    for i, ep in enumerate(keyring.epochs):
        if i >= len(ALPHABET) or ep.id != ALPHABET[i]:
            raise _bad(path, "epoch ids out of order")
        if ep.status not in STATUSES or len(ep.secret) != SECRET_BYTES:
            raise _bad(path, "bad epoch")
    if sum(ep.status == "active" for ep in keyring.epochs) != 1:
        raise _bad(path, "not exactly one active epoch")


# --------------------------------------------------------------------------- file I/O


def pub_path(path: str | os.PathLike) -> Path:
    """Where the public verify key of keyring `path` is written: ``<path>.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".pub")


def _make_private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 (`~/.config/addrcode` on a fresh account)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        for created in reversed(missing):
            created.mkdir(mode=0o700)
    except OSError as exc:
        raise KeyringError(f"{created}: cannot create the keyring's folder ({exc.strerror}); "
                           "choose another path") from None


def _write(keyring: Keyring, path: Path) -> None:
    _make_private_dirs(path.parent)
    if not path.parent.is_dir():
        raise KeyringError(f"{path}: {path.parent} is not a folder; choose another path")
    try:
        write_output(path, _render(keyring), mode=0o600, what="the keyring")
        write_output(pub_path(path), (keyring.verify_key.hex + "\n").encode("ascii"), mode=0o644,
                     what="the public key")
    except DataError as exc:  # permission, disk full, file-size limit ...: the old files are intact
        raise KeyringError(str(exc)) from None


def demo_keyring_path() -> Path:
    """Path of the packaged demo keyring (``data/demo-keyring.json``)."""
    from addrcode.packaged import data_path

    return data_path(DEMO_KEYRING_NAME)


def load_keyring(path: str | os.PathLike) -> Keyring:
    """Read and verify a keyring file; `KeyringError` if missing, too open, corrupt or invalid."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            # checked before reading: a device or FIFO (/dev/zero) would be read for ever
            raw = fh.read(MAX_KEYRING_BYTES + 1) if stat.S_ISREG(st.st_mode) else b""
    except FileNotFoundError:
        raise KeyringError(f"{path}: keyring not found; create one with `addrcode key new {path}`") from None
    except IsADirectoryError:
        raise KeyringError(f"{path}: is a directory, not a keyring file") from None
    except PermissionError:
        raise KeyringError(f"{path}: keyring is not readable by this user; check its owner") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyringError(f"{path}: not a regular file")
    if len(raw) > MAX_KEYRING_BYTES:
        raise _bad(path, "far too large for a keyring")
    keyring = _parse(raw, path)
    too_open = os.name == "posix" and st.st_mode & 0o077
    if too_open and not keyring.demo:
        raise KeyringError(
            f"{path}: keyring is readable by other users (mode {stat.S_IMODE(st.st_mode):03o}); "
            f"run `chmod 600 {path}`"
        )
    return keyring


def read_verify_key(path: str | os.PathLike) -> VerifyKey:
    """Read a ``.pub`` file written by `new_keyring` (hex of the raw Ed25519 public key)."""
    path = Path(path)
    try:
        if not path.is_file():  # missing, a directory, or a device that would be read for ever
            raise FileNotFoundError
        with open(path, "rb") as fh:
            text = fh.read(4096).decode("ascii").strip()
        return VerifyKey(bytes.fromhex(text))
    except FileNotFoundError:
        raise KeyringError(f"{path}: public key file not found; copy the keyring's .pub file here") from None
    except PermissionError:
        raise KeyringError(f"{path}: public key file is not readable by this user; check its owner") from None
    except (UnicodeDecodeError, ValueError, KeyringError):
        raise KeyringError(f"{path}: not an addrcode public key (expected 64 hex digits)") from None


# --------------------------------------------------------------------------- operations


def _new_epoch(index: int, now: str) -> Epoch:
    if index >= len(ALPHABET):
        raise KeyringError(f"keyring has used all {len(ALPHABET)} epoch ids; create a new keyring")
    import secrets

    return Epoch(id=ALPHABET[index], created=now, status="active", secret=secrets.token_bytes(SECRET_BYTES))


def new_keyring(path: str | os.PathLike, *, force: bool = False, demo: bool = False) -> Keyring:
    """Create a keyring with one active epoch and a fresh Ed25519 signing key at `path`.

    Refuses to overwrite an existing file unless `force` (overwriting makes every code issued
    with the old keyring undecodable). Also writes ``<path>.pub``.
    """
    from secrets import token_bytes

    path = Path(path)
    if path.exists() and not force:
        raise KeyringError(
            f"{path}: already exists; refusing to overwrite a keyring (codes made with it would become "
            "undecodable). Choose another path, or pass --force if you really mean it"
        )
    now = _now()
    keyring = Keyring(
        path=path,
        created=now,
        demo=demo,
        epochs=(_new_epoch(0, now),),
        signing_seed=token_bytes(32),
    )
    _write(keyring, path)
    return keyring


def list_epochs(keyring: Keyring) -> list[EpochInfo]:
    """The epochs, oldest first, without secrets."""
    return [EpochInfo(id=e.id, created=e.created, status=e.status) for e in keyring.epochs]


def rotate(path: str | os.PathLike) -> Keyring:
    """Add a new active epoch; the previously active one becomes retired (its codes stay valid)."""
    keyring = load_keyring(path)
    now = _now()
    epochs = tuple(replace(e, status="retired") if e.status == "active" else e for e in keyring.epochs)
    epochs += (_new_epoch(len(epochs), now),)
    new = replace(keyring, path=Path(path), epochs=epochs)
    _write(new, Path(path))
    return new


def revoke(path: str | os.PathLike, epoch_id: str) -> Keyring:
    """Mark a retired epoch revoked: its codes are refused from now on. Idempotent.

    The active epoch cannot be revoked directly (new codes need one): rotate first.
    """
    keyring = load_keyring(path)
    try:
        target = keyring.epoch(epoch_id)
    except KeyError:
        raise KeyringError(f"{path}: no epoch with that id; see `addrcode key list`") from None
    if target.status == "revoked":
        return keyring
    if target.status == "active":
        raise KeyringError(
            f"{path}: epoch {target.id} is the active epoch; run `addrcode key rotate` first, then revoke it"
        )
    epochs = tuple(replace(e, status="revoked") if e.id == target.id else e for e in keyring.epochs)
    new = replace(keyring, path=Path(path), epochs=epochs)
    _write(new, Path(path))
    return new

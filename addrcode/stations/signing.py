"""Station table signatures: the signature slot, signing a built file, verifying and opening a table.

The signature covers every byte of the file (see `addrcode.stations.table` for the format):
`MAGIC` marks the 64-byte slot, which must occur exactly once; the SHA-256 of the file with the
slot zeroed is signed with Ed25519 under a domain-separation context. `open_table` verifies, then
opens the verified bytes in memory, so the file cannot be swapped between the check and the use.

Opening is one pass over the file (`_Read`): it is read once into one buffer, piece by piece, while a
second thread hashes the pieces already read and looks for a second marker in them; SQLite gets its
copy of that same buffer while the hash finishes (`deserialize` only copies, it parses nothing), and no
statement runs on it before the signature over the digest has been checked. A table whose marker is
not where ``VACUUM INTO`` puts it (the first MiB) is checked the plain way (`verify_bytes`).

When the check fails, the error names the key that signed the table if that can be told: the table's
(signed) meta stores the signer's public key, read from the unverified bytes only to word the message
("signed by key A ..., but you gave key B") -- a table is never accepted under the key it names.

Stdlib only at module level (the Ed25519 check imports `cryptography` when a key is loaded):
`resolve` start-up uses `open_table`.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import sqlite3
import stat
import sys
import threading
from dataclasses import replace
from pathlib import Path
from queue import SimpleQueue

from addrcode.errors import DataError, IntegrityError, UsageError
from addrcode.stations.table import (
    APPLICATION_ID,
    FRESH_COPY,
    TABLE_FORMAT,
    TABLE_VERSION,
    TableInfo,
    info_from_meta,
)

# 16-byte marker in front of the signature slot; must occur exactly once in a signed file.
MAGIC = b"\xa9ADDRCODE.SIG\x01\xfe\x00"
SIG_LEN = 64
_SIGN_CONTEXT = b"addrcode-station-table-v1\x00"  # domain separation: this key signs only table digests
_PIECE = 1 << 22  # bytes read (and handed to the hashing thread) at a time
_HUGE_FROM = 1 << 23  # tables from 8 MiB are read into huge pages where available
_HEAD = 1 << 20  # where the slot is looked for first: the signature table's root page is the 7th page
# Largest table read: the whole file is read into memory before the check, so a bigger one (a hostile or
# sparse file) is refused before anything is read. A full Vermont table is some hundred MB.
MAX_TABLE_BYTES = 4 << 30


# --------------------------------------------------------------------------- signing


def _digest(data: bytes, offset: int) -> bytes:
    """SHA-256 of the file bytes with the 64-byte signature slot at `offset` zeroed."""
    h = hashlib.sha256()
    mv = memoryview(data)
    h.update(mv[:offset])
    h.update(bytes(SIG_LEN))
    h.update(mv[offset + SIG_LEN:])
    return h.digest()


def _sig_offset(data: bytes) -> int:
    """Offset of the 64 signature bytes, or -1 if MAGIC is missing or not unique."""
    at = data.find(MAGIC)
    if at < 0 or data.find(MAGIC, at + 1) >= 0:
        return -1
    off = at + len(MAGIC)
    return off if off + SIG_LEN <= len(data) else -1


def sign_file(path: Path, signing_key) -> None:
    """Sign the table file at `path` in place: write the signature into its zeroed signature slot."""
    data = path.read_bytes()
    off = _sig_offset(data)
    if off < 0 or data[off: off + SIG_LEN] != bytes(SIG_LEN):
        raise DataError(f"{path}: signature slot not found exactly once while signing; rebuild the table")
    sig = signing_key.sign(_SIGN_CONTEXT + _digest(data, off))
    with open(path, "r+b") as fh:
        fh.seek(off)
        fh.write(sig)
        fh.flush()
        os.fsync(fh.fileno())


# --------------------------------------------------------------------------- opening and verifying


def load_public_keys(public_key) -> tuple:
    """The trusted keys: one key (any form `load_public_key` takes), or a list/tuple of them (a station
    trusts two during a signing-key change)."""
    keys = public_key if isinstance(public_key, (list, tuple)) else (public_key,)
    if not keys:
        raise UsageError("public key: give the keyring's .pub file (64 hex digits)")
    return tuple(load_public_key(k) for k in keys)


def trusted_keys(public_key, trust=None) -> tuple:
    """The loaded keys of `public_key` (`load_public_keys`), each checked against the fingerprints a
    `addrcode.stations.trust.StationTrust` pins (`check_pinned`)."""
    from addrcode.stations.trust import check_pinned

    keys = load_public_keys(public_key)
    check_pinned(keys, trust.pinned if trust is not None else ())
    return keys


def is_demo_key(vk) -> bool:
    """True if `vk` is the packaged demo keyring's public key (published: anyone can sign with it)."""
    from addrcode.codes.keyring import demo_keyring_path, pub_path

    try:
        return pub_path(demo_keyring_path()).read_text().strip() == vk.hex
    except OSError:
        return False


def load_public_key(public_key):
    """A `keys.VerifyKey` from a VerifyKey, 32 raw bytes, 64 hex digits, or a ``.pub`` file path.

    `IntegrityError` unless the key is a usable Ed25519 public key (`usable_key`): a small-order
    key (the identity 01 00..00 among them) would accept signatures anyone can make.
    """
    return usable_key(_parse_public_key(public_key), public_key)


def _parse_public_key(public_key):
    from addrcode.codes.keyring import VerifyKey, read_verify_key

    if isinstance(public_key, VerifyKey):
        return public_key
    if isinstance(public_key, (bytes, bytearray)) and len(public_key) == 32:
        return VerifyKey(bytes(public_key))
    if isinstance(public_key, str) and len(public_key) == 64:
        try:
            return VerifyKey(bytes.fromhex(public_key))
        except ValueError:
            pass
    if isinstance(public_key, (str, os.PathLike)):
        return read_verify_key(public_key)
    raise UsageError("public key: give the keyring's .pub file (64 hex digits)")


def is_usable_point(raw: bytes) -> bool:
    """True if `raw` is the canonical encoding of a point of the Ed25519 prime-order subgroup other than
    the identity (libsodium's ``crypto_core_ed25519_is_valid_point``): never a small-order point, never y >= p."""
    from nacl.bindings import crypto_core_ed25519_is_valid_point

    return len(raw) == 32 and bool(crypto_core_ed25519_is_valid_point(bytes(raw)))


def usable_key(vk, source=None):
    """`vk` if it is a usable Ed25519 public key (`is_usable_point`), else `IntegrityError` (exit 3)."""
    if is_usable_point(vk.raw):
        return vk
    where = f"{source}: " if isinstance(source, (str, os.PathLike)) and len(str(source)) != 64 else ""
    raise IntegrityError(
        f"{where}not a usable Ed25519 public key (a small-order or non-canonical point, which would accept "
        "forged signatures); get the carrier's real .pub file (the keyring's public key) and use that")


# What a failed check may read from the bytes that did not verify: two short meta values, under
# limits, so a hostile file can neither run long nor allocate much on the error path.
_CLAIM_KEYS = ("public_key", "public_key_fingerprint")
_CLAIM_MAX_LENGTH = 1 << 16  # SQLITE_LIMIT_LENGTH: the longest string or blob read (schema text included)
_CLAIM_MAX_STEPS = 200_000  # SQLite VM steps per statement before the read is abandoned
_HEX_KEY = re.compile(r"[0-9a-f]{64}")
_HEX_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_KEY_ADVICE = ("use the station's published public key (`--public-key`) that matches, or ask the carrier which "
               "key is current; never trust a key because a table names it")


def _claimed_signer(data: bytes) -> tuple[str, str]:
    """(public key hex, fingerprint) that a table's meta names as its signer, UNVERIFIED; "" where unknown.

    Only for wording the error of a failed check: `data` did not verify, so nothing read here is
    trusted, and a value is returned only if it has the exact shape of a key (64 hex digits) or a
    fingerprint (16), so a hostile file cannot put arbitrary text into a message. Tables built
    before the public key was stored name only the fingerprint. Needs Python >= 3.11
    (`deserialize`); on 3.10 nothing is read.
    """
    if sys.version_info < (3, 11):
        return "", ""
    values = {}
    db = sqlite3.connect(":memory:")
    try:
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _CLAIM_MAX_LENGTH)
        db.set_progress_handler(lambda: 1, _CLAIM_MAX_STEPS)  # any statement that long is aborted
        db.deserialize(data)
        db.execute("PRAGMA query_only=1")
        db.execute("PRAGMA trusted_schema=0")
        # a real table only: a view or virtual table named meta could compute anything
        if db.execute("SELECT type FROM sqlite_schema WHERE name = 'meta'").fetchall() == [("table",)]:
            for key, value in db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", _CLAIM_KEYS):
                values[key] = json.loads(value)
    except Exception:  # corrupt or hostile bytes: whatever fails (SQLite, JSON, limits) just means "no claim"
        return "", ""
    finally:
        db.close()
    key, fingerprint = values.get("public_key"), values.get("public_key_fingerprint")
    key = key if isinstance(key, str) and _HEX_KEY.fullmatch(key) else ""
    fingerprint = fingerprint if isinstance(fingerprint, str) and _HEX_FINGERPRINT.fullmatch(fingerprint) else ""
    return key, fingerprint


def _signature_failed(name, data: bytes, off: int, vk) -> IntegrityError:
    """The error for a signature that does not verify under `vk`, naming the signer's key when that can be told.

    An operator given the wrong public key must not be told to fetch a fresh table (that fails the
    same way). The table's meta names its signer; if the signature verifies under that claimed key,
    the file is intact and only the key differs. This decides the wording only: the table stays refused.
    """
    from addrcode.codes.keyring import VerifyKey

    plain = f"{name}: signature check failed: the file was modified or is corrupt; {FRESH_COPY}"
    claimed_hex, claimed_fp = _claimed_signer(data)
    given = vk.fingerprint
    if claimed_hex and is_usable_point(bytes.fromhex(claimed_hex)):  # a small-order claim proves nothing
        claimed = VerifyKey(bytes.fromhex(claimed_hex))
        if claimed.raw == vk.raw:
            return IntegrityError(plain)
        if claimed.verify(data[off: off + SIG_LEN], _SIGN_CONTEXT + _digest(data, off)):
            return IntegrityError(
                f"{name}: signature check failed: the table is signed by key {claimed.fingerprint} (claimed by "
                f"the table, signature valid for it), but you gave key {given}; {_KEY_ADVICE}")
        return IntegrityError(
            f"{name}: signature check failed: the file was modified or is corrupt (it verifies neither with the "
            f"key you gave, {given}, nor with the key it claims, {claimed.fingerprint}); {FRESH_COPY}")
    if claimed_fp and claimed_fp != given:
        return IntegrityError(
            f"{name}: signature check failed: the table claims to be signed by key {claimed_fp} (not checked: "
            f"this older table does not carry the signer's public key), but you gave key {given}; {_KEY_ADVICE}. "
            f"If {given} is the right key, the file was modified or is corrupt: {FRESH_COPY}")
    return IntegrityError(plain)


def _open_regular(path: Path):
    """The table file opened unbuffered, and its size; `DataError` if missing, unreadable or not a regular file."""
    try:
        if path.exists() and not path.is_file():  # /dev/zero, a FIFO: never read without end
            raise DataError(f"{path}: not a regular file, not a station table")
        fh = open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise DataError(f"{path}: station table not found; build one with `addrcode table build -o {path.name}`"
                        " or copy it from your table publisher") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a station table") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the station table ({exc.strerror})") from None
    st = os.fstat(fh.fileno())
    if not stat.S_ISREG(st.st_mode):  # swapped for something else between the check and the open
        fh.close()
        raise DataError(f"{path}: not a regular file, not a station table")
    return fh, st.st_size


def _fill(fh, view, start: int, end: int) -> None:
    """Read file bytes [start, end) into view[start:end]; a file that ends early leaves zeros (fails the check)."""
    fh.seek(start)
    while start < end:
        n = fh.readinto(view[start:end])
        if not n:
            return
        start += n


def _buffer(size: int):
    """A zeroed, private, writable buffer of `size` bytes: anonymous memory asking for huge pages where the
    system offers them (Linux ``MADV_HUGEPAGE``: a 100 MB table then costs ~50 page faults, not ~25,000),
    else a bytearray. Only this process can write to it, like a bytearray."""
    if size >= _HUGE_FROM and hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS"):
        try:
            buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except (OSError, ValueError):
            return bytearray(size)
        try:
            buf.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
        return buf
    return bytearray(size)


def _warm_check() -> None:
    """Import what the signature check needs (cryptography's Ed25519), from the hashing thread once it is done:
    the import then overlaps SQLite's copy of the buffer in the main thread instead of following it."""
    try:
        from cryptography.exceptions import InvalidSignature  # noqa: F401
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey  # noqa: F401
    except ImportError:  # reported by the check itself
        pass


class _Read:
    """A table file read once into one buffer, hashed (signature slot zeroed) by a second thread as it arrives.

    Reading (the main thread) and hashing (the worker) overlap, and the caller may do more work
    (the uniqueness scan of the slot marker, copying the bytes into SQLite) before `digest()`
    joins the worker: nothing read from `buf` is trusted before the signature over that digest
    is checked. The slot is looked for in the first `_HEAD` bytes, where ``VACUUM INTO`` puts the
    signature table (its root page follows those of the five other tables); `off` is -1 if it is
    not there, and the caller checks the buffer the plain way.
    """

    def __init__(self, path: Path):
        self._worker = None
        fh, size = _open_regular(path)
        if size > MAX_TABLE_BYTES:
            fh.close()
            raise DataError(f"{path}: {size:,} bytes, larger than any station table addrcode reads "
                            f"({MAX_TABLE_BYTES:,} bytes); not read: {FRESH_COPY}")
        try:
            self.buf = _buffer(size)
            view = memoryview(self.buf)
            head = min(size, _HEAD)
            _fill(fh, view, 0, head)
            self.at = self.buf.find(MAGIC, 0, head)
            fits = self.at >= 0 and self.at + len(MAGIC) + SIG_LEN <= size
            self.off = self.at + len(MAGIC) if fits else -1
            if self.off < 0:
                _fill(fh, view, head, size)
                return
            self._hash, self._pieces, self._second = hashlib.sha256(), SimpleQueue(), -1
            self._worker = threading.Thread(target=self._run, name="table-hash", daemon=True)
            self._worker.start()
            try:
                self._pieces.put((0, head))
                for start in range(head, size, _PIECE):
                    end = min(size, start + _PIECE)
                    _fill(fh, view, start, end)
                    self._pieces.put((start, end))
            finally:
                self._pieces.put(None)
        except OSError as exc:
            self.digest()
            raise DataError(f"{path}: cannot read the station table ({exc.strerror})") from None
        finally:
            fh.close()

    def _run(self) -> None:
        """Worker: for each (start, end) piece read, look for a second marker in it and hash it (slot as zeros)."""
        buf, view, at, off = self.buf, memoryview(self.buf), self.at, self.off
        while (piece := self._pieces.get()) is not None:
            start, end = piece
            if self._second < 0:  # a marker reaching into this piece from the previous one is found here too
                self._second = buf.find(MAGIC, max(at + 1, start - len(MAGIC) + 1), end)
            lo, hi = max(start, off), min(end, off + SIG_LEN)
            if lo >= hi:
                self._hash.update(view[start:end])
            else:
                self._hash.update(view[start:lo])
                self._hash.update(bytes(hi - lo))
                self._hash.update(view[hi:end])
        del view
        _warm_check()

    def digest(self) -> tuple[bytes | None, bool]:
        """(SHA-256 of the buffer with the slot zeroed, whether the marker occurs once); waits for the worker.

        (None, False) without a marker in the head.
        """
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self.off < 0:
            return None, False
        return self._hash.digest(), self._second < 0

    def signer(self, vks):
        """The key of `vks` the signature in the slot verifies under, if the marker occurs once; else None
        (waits for the hash)."""
        digest, unique = self.digest()
        if not unique or digest is None:
            return None
        sig = bytes(self.buf[self.off: self.off + SIG_LEN])
        return next((vk for vk in vks if vk.verify(sig, _SIGN_CONTEXT + digest)), None)


def verified_bytes(path, public_key) -> bytearray:
    """Read the table file and check its signature over every byte; return the verified bytes.

    Raises `DataError` if missing/unreadable and `IntegrityError` if unsigned, truncated, modified,
    or signed by another key.
    """
    return _verified(Path(path), load_public_keys(public_key))[0]


def _verified(path: Path, vks) -> tuple[bytearray, object]:
    """(verified bytes of the table at `path`, the key of `vks` they verify under)."""
    read = _Read(path)
    signer = read.signer(vks)
    if signer is None:  # the plain check: raises with the reason (or accepts a slot elsewhere)
        signer = verify_bytes(read.buf, vks, path)
    return read.buf, signer


def verify_bytes(data: bytes, public_key, name="station table"):
    """Check the signature of a table's bytes (in memory) and return the trusted key it verifies under;
    `IntegrityError` naming `name` if it fails.

    Only `public_key` (one key or several) decides; on failure the message says whether the table is
    intact but signed by another key (with both fingerprints) or modified/corrupt.
    """
    vks = load_public_keys(public_key)
    off = _sig_offset(data)
    if off < 0:
        raise IntegrityError(f"{name}: unsigned or corrupt station table (no single signature slot); {FRESH_COPY}")
    digest = _SIGN_CONTEXT + _digest(data, off)
    signer = next((vk for vk in vks if vk.verify(data[off: off + SIG_LEN], digest)), None)
    if signer is None:
        raise _signature_failed(name, data, off, vks[0])
    return signer


def connect(path, data: bytes) -> sqlite3.Connection:
    """A read-only connection to verified table bytes (in memory on Python >= 3.11)."""
    if sys.version_info >= (3, 11):
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.deserialize(data)
    else:  # Python 3.10: no deserialize; the file could be swapped after the check (documented)
        uri = Path(path).resolve().as_uri() + "?mode=ro&immutable=1"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    db.execute("PRAGMA query_only=1")
    return db


def check_and_info(db: sqlite3.Connection, path, size: int, signer=None) -> TableInfo:
    """Check an open table's header and format version and return its `TableInfo` (`DataError` if not).

    With `signer` (the key the table verified under), the fingerprint, public key and demo flag come
    from that key, never from what the table's meta says."""
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError:
        raise DataError(f"{path}: signed, but not a readable SQLite station table; {FRESH_COPY}") from None
    if app_id != APPLICATION_ID:
        raise DataError(f"{path}: not an addrcode station table; {FRESH_COPY}")
    if version != TABLE_VERSION:
        raise DataError(f"{path}: station table format version {version}; this addrcode reads version "
                        f"{TABLE_VERSION}: upgrade addrcode or rebuild the table")
    try:
        meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        if meta.get("format") != TABLE_FORMAT or meta.get("version") != TABLE_VERSION:
            raise ValueError
        info = info_from_meta(meta, path, size)
    except (sqlite3.DatabaseError, ValueError, KeyError, TypeError):
        raise DataError(f"{path}: station table metadata unreadable; {FRESH_COPY}") from None
    if signer is None:
        return info
    return replace(info, public_key_fingerprint=signer.fingerprint, public_key=signer.hex, demo=is_demo_key(signer))


def open_table(path, public_key) -> tuple[sqlite3.Connection, TableInfo]:
    """Verify the signature, then open the verified bytes in memory (read-only); (connection, info).

    The connection never reads the file again, so the table cannot be swapped after the check: the
    file is read once into a buffer, the buffer is hashed and checked, and SQLite holds a copy of that
    buffer. The copy is made while the hash is still running, but no query runs before the check
    has passed; a table that fails it is closed unread.
    """
    vks = load_public_keys(public_key)
    if sys.version_info < (3, 11):
        data, signer = _verified(Path(path), vks)
        db = connect(path, data)
    else:
        db, data, signer = _open_verified(Path(path), vks)
    try:
        info = check_and_info(db, path, len(data), signer)
    except BaseException:
        db.close()
        raise
    return db, info


def _open_verified(path: Path, vks) -> tuple[sqlite3.Connection, bytearray, object]:
    read = _Read(path)
    db = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        copied = read.off >= 0
        if copied:
            # copy the buffer being hashed into SQLite (the GIL is released meanwhile); only copied, not
            # parsed: SQLite reads nothing of it before the first statement, which runs after the check
            try:
                db.deserialize(read.buf)
            except sqlite3.Error:
                copied = False
        signer = read.signer(vks)
        if signer is None:
            signer = verify_bytes(read.buf, vks, path)  # the plain check: raises with the reason (or accepts)
            copied = False
        if not copied:
            db.deserialize(read.buf)
        db.execute("PRAGMA query_only=1")
    except BaseException:
        read.digest()
        db.close()
        raise
    return db, read.buf, signer


def _installed(newer_than, public_key):
    """(serial, station or None) of what `--newer-than` names: a serial, or the installed table's path."""
    if isinstance(newer_than, int) and not isinstance(newer_than, bool):
        return newer_than, None
    if isinstance(newer_than, str) and newer_than.isdigit():
        return int(newer_than), None
    db, info = open_table(newer_than, public_key)
    db.close()
    return info.serial, info.station


def verify_table(path, public_key, *, newer_than=None, trust=None) -> TableInfo:
    """Check a table completely before installing it; return its `TableInfo`.

    Verifies the signature over every byte (under `public_key`, one key or several), the format, that
    every code row points at a zone, and `addrcode.stations.trust.check_table` (expiry, build time in the
    past; with `trust`: station id, pins, rollback). `newer_than` (a serial, or the path of the
    installed table) refuses a table whose serial is not strictly greater, so an old table cannot be
    replayed over a newer one, and (a path) an extract of another station than the installed one.
    """
    from addrcode.stations.trust import check_table

    vks = trusted_keys(public_key, trust)
    db, info = open_table(path, vks)
    try:
        try:
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
            dangling = db.execute(
                "SELECT COUNT(*) FROM codes c LEFT JOIN zones z ON z.idx = c.zone WHERE z.idx IS NULL").fetchone()[0]
            rows = db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
        except sqlite3.DatabaseError:
            raise DataError(f"{path}: station table is not readable; {FRESH_COPY}") from None
        if ok != "ok" or dangling or rows != info.rows:
            raise DataError(f"{path}: station table is inconsistent although signed; {FRESH_COPY}")
    finally:
        db.close()
    check_table(info, trust)
    if newer_than is not None:
        installed, station = _installed(newer_than, vks)
        if station is not None and station != info.station:
            raise IntegrityError(
                f"{path}: this is a table for station {info.station}, but the installed table is for station "
                f"{station}; refusing to install another station's table. Ask your table publisher for yours")
        if info.serial <= installed:
            raise IntegrityError(
                f"{path}: serial {info.serial} is not newer than the installed table's serial {installed}; "
                "refusing to install an older (or the same) table. Ask your table publisher for the current one")
    return info

"""The keyring: calendar key epochs for delivery codes and the Ed25519 key that signs station tables.

File format 2 (JSON, UTF-8, written as ``json.dumps(doc, indent=2, sort_keys=True) + "\\n"``)::

    {
      "checksum": "sha256:<hex>",      # SHA-256 of the canonical JSON of every other field
      "created": "2026-12-04T00:00:00Z",
      "demo": false,                   # true: a published demo keyring, its codes are NOT private
                                       # (a demo keyring also carries a "note" saying so)
      "format": "addrcode-keyring",
      "generations": [
        {"base": 17, "chain": "<64 hex>", "chain_period": 152, "created": "...Z", "end": null,
         "id": 0, "start": 152, "status": "active"}
      ],
      "schedule": {"lookahead": 1, "origin": "2024-01-01T00:00:00Z", "period_days": 7, "window": 4},
      "signing_key": {"algorithm": "ed25519", "public": "<64 hex>", "seed": "<64 hex>"},
      "succeeds": null,                # or {"public_key_fingerprint": "...", "epochs": [{"id": "3", "until": 155}]}
      "version": 2
    }

Each period (default a week) has its own FF1 key, derived from the generation's chain key with HKDF
(`addrcode.codes.schedule`, which also says how epoch characters cycle and what a station accepts).
Rules, all enforced by `load_keyring`:

- Exactly one generation is ``active`` (it makes new codes); ``retired`` ones (rotated away) still
  resolve inside the window; ``revoked`` ones are refused and their chain key is erased; ``expired``
  ones have left every window and their chain key is erased too. Chain keys are 256 bits from
  `secrets`. No epoch character names two keys in any window (checked at every change).
- Integrity: the checksum must match *and* the file bytes must be exactly the canonical rendering,
  so any change (even whitespace) is refused with `KeyringError`. This detects corruption and
  careless edits; it is not a defence against someone who can write the file (they hold the keys).
- Permissions: files are created 0600 and written atomically (temp file in the same directory,
  fsync, ``os.replace``; a symlinked keyring is written through). A keyring readable by group or
  others is refused ("chmod 600 FILE"), except a demo keyring (``demo: true``), public by construction.
- The public verify key is also written next to the keyring as ``<keyring>.pub`` (one line, hex of
  the raw 32-byte Ed25519 public key): that file is what sorting stations are given.
- Secrets never appear in ``repr()``/``str()``, in `list_epochs`, or in any error message.
- Format 1 keyrings (32 fixed epochs) are refused with a message; `new_keyring(..., succeeds=OLD)`
  replaces one, listing its epochs as revoked so its labels never resolve ``ok`` at a new station.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from addrcode.codes.schedule import (
    GENERATION_STATUSES,
    SLOTS,
    Generation,
    Inherited,
    Schedule,
    advance_chain,
    epoch_key,
    first_clash,
    format_time,
    utc_now,
    window_entries,
)
from addrcode.codes.scheme import ALPHABET  # epoch ids are code characters
from addrcode.errors import DataError, KeyringError
from addrcode.files import make_private_dirs, read_key_file, write_output

FORMAT = "addrcode-keyring"
VERSION = 2
SECRET_BYTES = 32
DEMO_KEYRING_NAME = "demo-keyring.json"
MAX_KEYRING_BYTES = 1 << 20  # a generation takes ~250 bytes
DEMO_NOTE = ("DEMO KEYRING: its secrets are published, so codes made with it are NOT private. "
             "Never use it for real parcels.")
USABLE = ("active", "upcoming", "retired")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Epoch:
    """One period's key as codes use it: epoch character, status, secret (hidden from repr/str).

    `created` is when its period begins; `period` and `generation` say which key it is.
    """

    id: str
    created: str
    status: str
    secret: bytes = field(repr=False)
    period: int = 0
    generation: int | None = 0

    @property
    def usable(self) -> bool:
        """True if codes of this epoch may be decoded/resolved (active, upcoming or retired)."""
        return self.status in USABLE and len(self.secret) == SECRET_BYTES


@dataclass(frozen=True)
class EpochInfo:
    """What may be shown about an epoch: no secret."""

    id: str
    created: str
    status: str
    period: int
    generation: int | None


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
    """A loaded keyring. Immutable: operations write a new file and return a new object.

    Which epochs are active or usable depends on the time: `at(moment)` gives the keyring as seen at
    `moment` (tests, investigations); otherwise the current time is used on every call.
    """

    path: Path | None
    created: str
    demo: bool
    schedule: Schedule
    generations: tuple[Generation, ...]
    signing_seed: bytes = field(repr=False)
    next_signing_seed: bytes = field(default=b"", repr=False)  # prepared by `key rotate-signing`, not yet used
    inherited: tuple[Inherited, ...] = ()
    predecessor: str = ""  # fingerprint of the keyring this one replaced
    clock: datetime | None = field(default=None, compare=False)
    _chains: dict = field(default_factory=dict, compare=False, repr=False)
    _windows: dict = field(default_factory=dict, compare=False, repr=False)  # period -> its epochs

    def at(self, moment: datetime) -> Keyring:
        """This keyring as seen at `moment` (a timezone-aware datetime)."""
        return replace(self, clock=moment, _windows={})

    @property
    def is_demo(self) -> bool:
        """True for a published demo keyring: codes made with it are not private."""
        return self.demo

    @property
    def now(self) -> datetime:
        """The moment the keyring is read at: `clock`, or the current time."""
        return self.clock or utc_now()

    @property
    def current_period(self) -> int:
        """The period running at `now`."""
        return self.schedule.period_of(self.now)

    def _secret(self, gen: Generation, period: int) -> bytes:
        if not gen.chain or period < gen.chain_period:
            return b""  # erased, or advanced past: that period's key no longer exists
        hit = self._chains.get((gen.id, period))
        if hit is None:
            nearest = max((p for g, p in self._chains if g == gen.id and p <= period), default=None)
            chain = gen.chain if nearest is None else self._chains[(gen.id, nearest)][0]
            chain = advance_chain(chain, gen.chain_period if nearest is None else nearest, period)
            hit = self._chains[(gen.id, period)] = (chain, epoch_key(chain, period))
        return hit[1]

    @property
    def epochs(self) -> tuple[Epoch, ...]:
        """Every key of the current window (revoked ones included), oldest period first."""
        period = self.current_period
        hit = self._windows.get(period)
        if hit is None:  # worked out once per period: decode asks for an epoch on every code
            hit = self._windows[period] = self._window_epochs(period)
        return hit

    def _window_epochs(self, period: int) -> tuple[Epoch, ...]:
        gens = {g.id: g for g in self.generations}
        out = []
        for entry in window_entries(self.schedule, self.generations, self.inherited, period):
            gen = gens.get(entry.generation)
            secret = b"" if gen is None or entry.status == "revoked" else self._secret(gen, entry.period)
            status = entry.status if secret or entry.status == "revoked" else "expired"
            out.append(Epoch(entry.id, format_time(self.schedule.start_of(entry.period)), status, secret,
                             entry.period, entry.generation))
        return tuple(out)

    @property
    def active(self) -> Epoch:
        """The epoch new codes use now."""
        for ep in self.epochs:
            if ep.status == "active":
                return ep
        raise KeyringError(f"{self.path}: no key for the current period (the keyring starts later, or this "
                           "machine's clock is wrong); check the date, or run `addrcode key rotate`")

    @property
    def usable_epochs(self) -> tuple[Epoch, ...]:
        """The keys station tables carry rows for: active, upcoming and retired ones of the window."""
        return tuple(e for e in self.epochs if e.usable)

    def epoch(self, epoch_id: str) -> Epoch:
        """The window's epoch with this character (case-insensitive); `KeyError` if none."""
        key = epoch_id.upper()
        for ep in self.epochs:
            if ep.id == key:
                return ep
        raise KeyError(epoch_id)

    def epoch_statuses(self) -> dict[str, str]:
        """Status of every epoch character now: the window's, and ``expired`` for the rest."""
        statuses = {ch: "expired" for ch in ALPHABET}
        statuses.update((e.id, e.status) for e in self.epochs)
        return statuses

    @property
    def signing_key(self) -> SigningKey:
        """The Ed25519 key that signs station tables."""
        return SigningKey(self.signing_seed)

    @property
    def verify_key(self) -> VerifyKey:
        """The Ed25519 public key given to stations."""
        return self.signing_key.verify_key


# --------------------------------------------------------------------------- serialisation


def _canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _render(keyring: Keyring) -> bytes:
    s = keyring.schedule
    body = {
        "format": FORMAT,
        "version": VERSION,
        "created": keyring.created,
        "demo": keyring.demo,
        "schedule": {"origin": s.origin, "period_days": s.period_days, "window": s.window,
                     "lookahead": s.lookahead},
        "generations": [
            {"id": g.id, "created": g.created, "start": g.start, "end": g.end, "base": g.base,
             "status": g.status, "chain_period": g.chain_period, "chain": g.chain.hex()}
            for g in keyring.generations
        ],
        "succeeds": None if not keyring.predecessor else {
            "public_key_fingerprint": keyring.predecessor,
            "epochs": [{"id": i.id, "until": i.until} for i in keyring.inherited]},
        "signing_key": {
            "algorithm": "ed25519",
            "seed": keyring.signing_seed.hex(),
            "public": keyring.verify_key.hex,
        },
    }
    if keyring.next_signing_seed:  # only then: keyrings without one keep their canonical bytes
        body["signing_key"]["next"] = {"seed": keyring.next_signing_seed.hex(),
                                       "public": SigningKey(keyring.next_signing_seed).verify_key.hex}
    if keyring.demo:
        body["note"] = DEMO_NOTE
    doc = dict(body, checksum="sha256:" + hashlib.sha256(_canonical(body)).hexdigest())
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def _bad(path, what: str) -> KeyringError:
    # One wording for every integrity failure; never includes file content.
    return KeyringError(
        f"{path}: keyring is corrupt or was edited ({what}); restore it from your backup"
    )


def _old_format(path, version) -> KeyringError:
    return KeyringError(
        f"{path}: keyring format {version!r} is not supported by this addrcode (format 1 had 32 fixed epochs; "
        f"format {VERSION} has one key per period). Replace it: `addrcode key new NEW.json --succeeds {path}` "
        "(its labels then answer `revoked`, never a wrong zone), rebuild the station tables"
    )


def _document(raw: bytes, path) -> dict:
    """The checked JSON document of a keyring file (any version)."""
    try:
        doc = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise _bad(path, "not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(path, "not an addrcode keyring")
    body = {k: v for k, v in doc.items() if k != "checksum"}
    expected = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    from hmac import compare_digest

    if not isinstance(doc.get("checksum"), str) or not compare_digest(doc["checksum"], expected):
        raise _bad(path, "checksum mismatch")
    return doc


def _generation(g: dict) -> Generation:
    return Generation(id=g["id"], created=g["created"], start=g["start"], end=g["end"], base=g["base"],
                      status=g["status"], chain_period=g["chain_period"], chain=bytes.fromhex(g["chain"]))


def _parse(raw: bytes, path) -> Keyring:
    doc = _document(raw, path)
    if doc.get("version") != VERSION:
        raise _old_format(path, doc.get("version"))
    try:
        sched = doc["schedule"]
        succeeds = doc["succeeds"] or {"public_key_fingerprint": "", "epochs": []}
        keyring = Keyring(
            path=Path(path) if path is not None else None,
            created=doc["created"],
            demo=doc["demo"],
            schedule=Schedule(sched["origin"], sched["period_days"], sched["window"], sched["lookahead"]),
            generations=tuple(_generation(g) for g in doc["generations"]),
            signing_seed=bytes.fromhex(doc["signing_key"]["seed"]),
            next_signing_seed=bytes.fromhex(doc["signing_key"].get("next", {}).get("seed", "")),
            inherited=tuple(Inherited(i["id"], i["until"]) for i in succeeds["epochs"]),
            predecessor=succeeds["public_key_fingerprint"],
        )
        public, algorithm = doc["signing_key"]["public"], doc["signing_key"]["algorithm"]
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
    if len(keyring.next_signing_seed) not in (0, 32) or keyring.next_signing_seed == keyring.signing_seed:
        raise _bad(path, "bad next signing key")
    problem = keyring.schedule.check()
    if problem:
        raise _bad(path, problem)
    if not keyring.generations:
        raise _bad(path, "no generations")
    for i, gen in enumerate(keyring.generations):
        ints = (gen.start, gen.base, gen.chain_period) + (() if gen.end is None else (gen.end,))
        if gen.id != i or not all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
            raise _bad(path, "bad generation numbers")
        erased = gen.status in ("revoked", "expired")
        if gen.status not in GENERATION_STATUSES or len(gen.chain) != (0 if erased else SECRET_BYTES):
            raise _bad(path, "bad generation")
        if (gen.end is None) != (gen.status == "active") or gen.chain_period < gen.start or gen.base < 0:
            raise _bad(path, "bad generation period")
    if sum(g.status == "active" for g in keyring.generations) != 1:
        raise _bad(path, "not exactly one active generation")
    if any(i.id not in ALPHABET or not isinstance(i.until, int) for i in keyring.inherited):
        raise _bad(path, "bad inherited epoch")


# --------------------------------------------------------------------------- file I/O


def pub_path(path: str | os.PathLike) -> Path:
    """Where the public verify key of keyring `path` is written: ``<path>.pub``."""
    path = Path(path)
    return path.with_name(path.name + ".pub")


def write_keyring(keyring: Keyring, path: Path) -> None:
    """Write `keyring` to `path` (0600, atomically) and its public key to `pub_path(path)`."""
    try:
        make_private_dirs(path.parent)
    except DataError as exc:
        raise KeyringError(f"{exc}; choose another path") from None
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
    raw, st = read_key_file(path, MAX_KEYRING_BYTES, "keyring", f"; create one with `addrcode key new {path}`")
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


def _pruned(keyring: Keyring, period: int) -> Keyring:
    """Erase what no station can need from `period` on: revoked chains, generations out of every
    window, chain keys of periods before the window (so they can never be recomputed)."""
    oldest = period - keyring.schedule.window + 1
    gens = []
    for gen in keyring.generations:
        if gen.status in ("retired", "revoked") and gen.end is not None and gen.end < oldest:
            gen = replace(gen, status="expired", chain=b"")
        elif gen.status == "revoked":
            gen = replace(gen, chain=b"")
        elif gen.chain and gen.chain_period < oldest:
            gen = replace(gen, chain=advance_chain(gen.chain, gen.chain_period, oldest), chain_period=oldest)
        gens.append(gen)
    inherited = tuple(i for i in keyring.inherited if i.until >= period)
    return replace(keyring, generations=tuple(gens), inherited=inherited, _chains={}, _windows={})


def _checked(keyring: Keyring, period: int, what: str) -> Keyring:
    clash = first_clash(keyring.schedule, keyring.generations, keyring.inherited, period)
    if clash is not None:
        when = format_time(keyring.schedule.start_of(clash[1] + keyring.schedule.window))
        raise KeyringError(
            f"{keyring.path}: {what} would give epoch character {clash[0]} to two keys a station accepts at "
            f"once (too many rotations within {keyring.schedule.window} periods); wait until {when}, or "
            "create a new keyring with `addrcode key new NEW --succeeds OLD`"
        )
    return keyring


def _next_base(keyring: Keyring, period: int) -> int:
    """The slot after every slot the window at `period` uses (upcoming ones included)."""
    slots = [g.slot(p) for g in keyring.generations if g.status != "expired"
             for p in keyring.schedule.window_periods(period) if g.issues(p)]
    return max(slots) + 1 if slots else 0


def _predecessor(path: Path, moment: datetime, schedule: Schedule) -> tuple[str, tuple[Inherited, ...], int]:
    """(fingerprint, epochs to refuse, first slot) for a keyring replacing the one at `path`."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_KEYRING_BYTES + 1)
    except OSError as exc:
        raise KeyringError(f"{path}: cannot read the keyring to succeed ({exc.strerror})") from None
    doc = _document(raw, path)
    period = schedule.period_of(moment)
    until = period + schedule.window + schedule.lookahead - 1
    try:
        fingerprint = VerifyKey(bytes.fromhex(doc["signing_key"]["public"])).fingerprint
        if doc.get("version") == 1:  # fixed epochs: every id it ever used may be on a label in transit
            ids = [e["id"] for e in doc["epochs"]]
            return fingerprint, tuple(Inherited(i, until) for i in ids), ALPHABET.index(ids[-1]) + 1
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _bad(path, "missing or malformed field") from None
    old = _parse(raw, path).at(moment)
    ids = [e.id for e in old.epochs]
    ids += [i.id for i in old.inherited]
    return fingerprint, tuple(Inherited(i, until) for i in dict.fromkeys(ids)), _next_base(old, old.current_period)


def new_keyring(path: str | os.PathLike, *, force: bool = False, demo: bool = False,
                schedule: Schedule | None = None, succeeds: str | os.PathLike | None = None,
                now: datetime | None = None) -> Keyring:
    """Create a keyring with one active generation and a fresh Ed25519 signing key at `path`.

    Refuses to overwrite an existing file unless `force`; a keyring replaced that way, or named by
    `succeeds`, is succeeded: its epochs in the window are listed as revoked (so its labels never
    resolve ``ok`` to a wrong zone) and the new epoch characters continue after its. Also writes
    ``<path>.pub``.
    """
    import secrets

    path = Path(path)
    schedule = schedule or Schedule()
    problem = schedule.check()
    if problem:
        raise KeyringError(problem)
    if path.exists() and not force:
        raise KeyringError(
            f"{path}: already exists; refusing to overwrite a keyring (codes made with it would become "
            "undecodable). Choose another path, or pass --force if you really mean it"
        )
    moment = now or utc_now()
    period = schedule.period_of(moment)
    predecessor, inherited, base = "", (), (0 if demo else secrets.randbelow(SLOTS))
    if succeeds is None and force and path.is_file():
        try:
            predecessor, inherited, base = _predecessor(path, moment, schedule)
        except KeyringError:
            pass  # an unreadable file is simply replaced, as --force says
    elif succeeds is not None:
        predecessor, inherited, base = _predecessor(Path(succeeds), moment, schedule)
    gen = Generation(0, format_time(moment), period, None, base, "active", period, secrets.token_bytes(SECRET_BYTES))
    keyring = Keyring(path=path, created=format_time(moment), demo=demo, schedule=schedule, generations=(gen,),
                      signing_seed=secrets.token_bytes(32), inherited=inherited, predecessor=predecessor)
    write_keyring(_checked(keyring, period, "the new keyring"), path)
    return keyring


def list_epochs(keyring: Keyring) -> list[EpochInfo]:
    """The current window's epochs, oldest period first, without secrets."""
    return [EpochInfo(e.id, e.created, e.status, e.period, e.generation) for e in keyring.epochs]


def rotate(path: str | os.PathLike, *, now: datetime | None = None) -> Keyring:
    """Emergency rotation: a new generation makes codes from now on; the old one is retired.

    Its codes of this and earlier periods still resolve until they leave the window (revoke them if
    its key may have leaked). Periods turn over by themselves; rotation is for when a key is suspect.
    """
    import secrets

    keyring = load_keyring(path)
    moment = now or utc_now()
    period = keyring.schedule.period_of(moment)
    base = _next_base(keyring, period)
    gens = tuple(replace(g, status="retired", end=max(period, g.start)) if g.status == "active" else g
                 for g in keyring.generations)
    gens += (Generation(len(gens), format_time(moment), period, None, base, "active", period,
                        secrets.token_bytes(SECRET_BYTES)),)
    new = _pruned(replace(keyring, path=Path(path), generations=gens), period)
    write_keyring(_checked(new, period, "rotating"), Path(path))
    return new.at(moment) if now else new


def revoke(path: str | os.PathLike, epoch_id: str, *, now: datetime | None = None) -> Keyring:
    """Revoke the generation that made epoch `epoch_id` of the window: its codes are refused and its
    chain key is erased. Idempotent. The active generation cannot be revoked directly: rotate first."""
    keyring = load_keyring(path)
    moment = now or utc_now()
    seen = keyring.at(moment)
    try:
        target = seen.epoch(epoch_id)
    except KeyError:
        raise KeyringError(f"{path}: no epoch {epoch_id.upper()!r} in the current window; see "
                           "`addrcode key list`") from None
    if target.status == "revoked" or target.generation is None:
        return seen
    gen = keyring.generations[target.generation]
    if gen.status == "active":
        raise KeyringError(
            f"{path}: epoch {target.id} belongs to the active key; run `addrcode key rotate` first, then revoke it"
        )
    gens = tuple(replace(g, status="revoked", chain=b"") if g.id == gen.id else g for g in keyring.generations)
    new = _pruned(replace(keyring, path=Path(path), generations=gens), seen.current_period)
    write_keyring(new, Path(path))
    return new.at(moment) if now else new


def prune(path: str | os.PathLike, *, now: datetime | None = None) -> Keyring:
    """Erase keys no station can need any more (run it weekly, e.g. from cron): afterwards a stolen
    copy of the keyring cannot decode codes of periods that have left the window."""
    keyring = load_keyring(path)
    moment = now or utc_now()
    new = _pruned(replace(keyring, path=Path(path)), keyring.schedule.period_of(moment))
    if new != keyring:
        write_keyring(new, Path(path))
    return new.at(moment) if now else new

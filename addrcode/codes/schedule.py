"""Calendar key epochs: which key a code made at a given moment uses, and which codes a station accepts.

Time is cut into **periods** of `Schedule.period_days` (default 7) from `Schedule.origin` (UTC). A
keyring holds one or more **generations**; each generation has its own random chain key and issues
codes over a run of consecutive periods (from its `start` period until it is rotated away). Every
(generation, period) pair that issued codes gets a **slot**, a counter that grows by one per period
and per emergency rotation, and its epoch character is ``ALPHABET[slot % 32]``: the character cycles
for ever, so a keyring has no limit on the number of periods in its life.

Keys, with HKDF-SHA256 (RFC 5869, from `cryptography`), salt `SALT`:

    chain[start]   = 32 random bytes (the generation's secret, stored in the keyring)
    chain[p + 1]   = HKDF(chain[p], info = b"addrcode chain" || p as 8 bytes big-endian)
    epoch_key[p]   = HKDF(chain[p], info = b"addrcode epoch" || p as 8 bytes big-endian)

so each period has an unrelated FF1 key (a codebook of (address, code) pairs from one period says
nothing about the next), and the chain only runs forward: once the stored chain key is advanced past
a period (`advance_chain`, done on every keyring write), that period's key cannot be recomputed from
the keyring any more, by its owner or by a thief.

A station accepts the periods of the **window**: the current period, the `window - 1` before it (the
longest transit time; default 4 periods in all) and `lookahead` after it (default 1: clocks differ and
a table is built before the week turns). Within a window every slot is distinct modulo 32 (checked
at rotation), so an epoch character names one key. A code from before the window answers `expired`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from addrcode.codes.scheme import ALPHABET

SALT = b"addrcode keyring v2"
CHAIN_INFO = b"addrcode chain"
EPOCH_INFO = b"addrcode epoch"
DEFAULT_ORIGIN = "2024-01-01T00:00:00Z"  # a Monday: default periods run Monday to Sunday, UTC
DEFAULT_PERIOD_DAYS = 7
DEFAULT_WINDOW = 4
DEFAULT_LOOKAHEAD = 1
SLOTS = len(ALPHABET)  # epoch characters


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) from `cryptography`: the only key derivation used here."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def next_chain(chain: bytes, period: int) -> bytes:
    """The chain key of `period + 1` from that of `period` (one way)."""
    return hkdf_sha256(chain, salt=SALT, info=CHAIN_INFO + period.to_bytes(8, "big", signed=True))


def epoch_key(chain: bytes, period: int) -> bytes:
    """The FF1 key (256 bits) of `period`, from that period's chain key."""
    return hkdf_sha256(chain, salt=SALT, info=EPOCH_INFO + period.to_bytes(8, "big", signed=True))


def advance_chain(chain: bytes, from_period: int, to_period: int) -> bytes:
    """The chain key of `to_period` from that of `from_period` (`to_period >= from_period`)."""
    for p in range(from_period, to_period):
        chain = next_chain(chain, p)
    return chain


def parse_time(text: str) -> datetime:
    """A UTC timestamp written ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def format_time(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    """The current time, UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


@dataclass(frozen=True)
class Schedule:
    """How time is cut into periods and how many of them a station accepts."""

    origin: str = DEFAULT_ORIGIN
    period_days: int = DEFAULT_PERIOD_DAYS
    window: int = DEFAULT_WINDOW
    lookahead: int = DEFAULT_LOOKAHEAD

    def check(self) -> str | None:
        """What is wrong with the schedule, or None."""
        try:
            parse_time(self.origin)
        except (TypeError, ValueError):
            return "schedule origin is not a UTC time"
        for name in ("period_days", "window", "lookahead"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                return f"schedule {name} is not an integer"
        if not 1 <= self.period_days <= 366:
            return "period must be 1 to 366 days"
        if self.window < 1 or self.lookahead < 0 or self.window + self.lookahead > SLOTS // 2:
            return f"window + lookahead must be at most {SLOTS // 2} periods"
        return None

    @property
    def period(self) -> timedelta:
        """Length of one period."""
        return timedelta(days=self.period_days)

    def period_of(self, moment: datetime) -> int:
        """Index of the period holding `moment` (0 = the one starting at `origin`)."""
        return (moment - parse_time(self.origin)) // self.period

    def start_of(self, period: int) -> datetime:
        """When `period` begins."""
        return parse_time(self.origin) + period * self.period

    def window_periods(self, current: int) -> range:
        """The periods a station accepts while `current` runs, oldest first."""
        return range(current - self.window + 1, current + self.lookahead + 1)

    def describe(self) -> str:
        """One line for people: period length and what a station accepts."""
        unit = "week" if self.period_days == 7 else f"{self.period_days}-day period"
        return (f"one key per {unit} (from {self.origin}); stations accept the current one, "
                f"the {self.window - 1} before it and {self.lookahead} ahead")


# --------------------------------------------------------------------------- generations and windows

GENERATION_STATUSES = ("active", "retired", "revoked", "expired")


@dataclass(frozen=True)
class Generation:
    """One chain of period keys: from `start` until it is rotated away (`end`, None while active).

    `chain` is the chain key of period `chain_period` (empty once erased: revoked or expired).
    """

    id: int
    created: str
    start: int
    end: int | None
    base: int
    status: str
    chain_period: int
    chain: bytes = field(repr=False)

    def issues(self, period: int) -> bool:
        """True if this generation made (or makes) codes in `period`."""
        return self.start <= period and (self.end is None or period <= self.end)

    def slot(self, period: int) -> int:
        """The slot of `period`: its epoch character is ``ALPHABET[slot % 32]``."""
        return self.base + (period - self.start)


@dataclass(frozen=True)
class Inherited:
    """An epoch character of the keyring this one replaced: refused (`revoked`) until period `until`."""

    id: str
    until: int


@dataclass(frozen=True)
class WindowEntry:
    """One key a station accepts now: epoch character, period, generation (None: inherited), status.

    Status: ``active`` (new codes use it), ``upcoming`` (a period ahead), ``retired`` (an earlier
    period or a rotated generation: still resolves) or ``revoked`` (refused).
    """

    id: str
    period: int
    generation: int | None
    status: str


def window_entries(schedule: Schedule, generations, inherited, current: int) -> list[WindowEntry]:
    """Every key of the window around period `current`, oldest period first."""
    entries = []
    for period in schedule.window_periods(current):
        for gen in generations:
            if gen.status == "expired" or not gen.issues(period):
                continue
            if gen.status == "revoked":
                status = "revoked"
            elif period > current:
                status = "upcoming"
            elif gen.status == "active" and period == current:
                status = "active"
            else:
                status = "retired"
            entries.append(WindowEntry(ALPHABET[gen.slot(period) % SLOTS], period, gen.id, status))
    entries += [WindowEntry(old.id, current, None, "revoked") for old in inherited if old.until >= current]
    return entries


def first_clash(schedule: Schedule, generations, inherited, current: int) -> tuple[str, int] | None:
    """(epoch character, period) of the first character two keys would share in a window, or None.

    Checked from `current` until every key now in the window has left it, assuming no further
    rotation: a character must name one key in every window a station may hold.
    """
    for period in range(current, current + schedule.window + schedule.lookahead + 1):
        seen = set()
        for entry in window_entries(schedule, generations, inherited, period):
            if entry.id in seen:
                return entry.id, period
            seen.add(entry.id)
    return None

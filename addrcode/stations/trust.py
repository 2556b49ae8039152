"""What a station checks beyond the signature before it routes with a table (fail closed).

A valid signature says the carrier made the table, not that it is the right one to use now:

- **expiry**: a table past its signed ``not_after`` is refused (its revocations may be stale and it no
  longer knows the current key period's codes); within `WARN_BEFORE` of it a warning says so;
- **clock**: a table built more than `FUTURE_SLACK` in the future is refused (a builder with a wrong
  clock would otherwise install a serial that blocks every correct table after it);
- **station**: with this station's id configured, an extract made for another station is refused (a
  full table, station ``all``, is accepted: it holds every station's codes);
- **rollback**: the station keeps, per table station id, the highest serial it has used in a small
  state file (`StationTrust.state_file`); an older table is refused, a newer one raises the mark;
- **pinning**: with fingerprints pinned, every public key given must be one of them (`check_pinned`).

`StationTrust` is configuration, passed in: the library's `Resolver` checks expiry and clock always,
station, rollback and pins only when they are given; the CLI gives all it has (`batch.jobs.station_trust`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from addrcode.errors import IntegrityError

WARN_BEFORE = timedelta(days=2)
FUTURE_SLACK = timedelta(days=1)
_STATE_FORMAT = "addrcode-station-state"
_ASK = "install the current table from your table publisher"


@dataclass(frozen=True)
class StationTrust:
    """A station's own facts for accepting tables (see the module docstring)."""

    state_file: Path | None = None  # highest serial used per table station id; None: no rollback check
    station: str | None = None  # this station's id (a sort center); None: any table station
    pinned: tuple[str, ...] = ()  # fingerprints (16 hex) the public keys must have; (): not pinned
    now: datetime | None = None  # the time to judge expiry by (tests); None: the clock
    notify: Callable[[str], None] | None = None  # where warnings go (the CLI: stderr)


def check_pinned(keys, pinned: tuple[str, ...]) -> None:
    """`IntegrityError` unless every key of `keys` (loaded VerifyKeys) has a pinned fingerprint."""
    if not pinned:
        return
    for vk in keys:
        if vk.fingerprint not in pinned:
            raise IntegrityError(
                f"public key {vk.fingerprint} is not the carrier key pinned in the configuration "
                f"(public_key_fingerprint = {', '.join(pinned)}): use the carrier's real .pub file, or change "
                "the pin only after checking the new key's fingerprint with the carrier")


def check_table(info, trust: StationTrust | None = None) -> None:
    """Refuse (`IntegrityError`, exit 3) a verified table that must not be used now; warn near expiry."""
    from addrcode.codes.schedule import parse_time, utc_now

    trust = trust or StationTrust()
    now = trust.now or utc_now()
    name = info.path
    try:
        not_after, built_at = parse_time(info.not_after), parse_time(info.built_at)
    except (TypeError, ValueError):
        raise IntegrityError(f"{name}: the table has no readable expiry or build time; {_ASK}") from None
    if now > not_after:
        raise IntegrityError(f"{name}: the table expired at {info.not_after} (serial {info.serial}); {_ASK}. "
                             "An expired table may miss revocations and does not know the current codes")
    if built_at > now + FUTURE_SLACK:
        raise IntegrityError(f"{name}: the table says it was built at {info.built_at}, in the future: the clock of "
                             "this machine or of the one that built it is wrong; fix the clock, then rebuild")
    if trust.station and info.station not in (trust.station, "all"):
        raise IntegrityError(f"{name}: this is the extract of station {info.station}, but this station is "
                             f"{trust.station} (configured `station`); install your own station's table")
    if trust.state_file is not None and not info.demo:
        _check_rollback(info, Path(trust.state_file))
    if trust.notify is not None and not_after - now < WARN_BEFORE:
        hours = (not_after - now).total_seconds() / 3600
        trust.notify(f"warning: {name} expires at {info.not_after} (in {hours:.0f} h); {_ASK} before then")


def _read_state(path: Path) -> dict:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise IntegrityError(f"{path}: cannot read the station state file ({exc.strerror}); it records the newest "
                             "table serial used here: fix its permissions, or set `station_state` in addrcode.toml "
                             "(or $ADDRCODE_STATION_STATE) to a file of yours") from None
    try:
        doc = json.loads(raw)
        if doc.get("format") != _STATE_FORMAT or not isinstance(doc.get("serials"), dict):
            raise ValueError
        return {str(k): int(v) for k, v in doc["serials"].items()}
    except (ValueError, TypeError, AttributeError):
        raise IntegrityError(f"{path}: the station state file is corrupt; it records the newest table serial "
                             "used here (rollback protection). Restore it, or remove it only if you are sure "
                             "the table you install is current") from None


def _check_rollback(info, path: Path) -> None:
    serials = _read_state(path)
    highest = serials.get(info.station)
    if highest is not None and info.serial < highest:
        raise IntegrityError(
            f"{info.path}: serial {info.serial} is older than serial {highest}, which this station already used for "
            f"station {info.station} (an old table put back would undo revocations); {_ASK}. The newest serial "
            f"used is kept in {path}")
    if highest == info.serial:
        return
    from addrcode.errors import DataError
    from addrcode.files import write_output

    serials[info.station] = info.serial
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_output(path, json.dumps({"format": _STATE_FORMAT, "serials": serials}, indent=1, sort_keys=True)
                     + "\n", mode=0o600, what="the station state file")
    except (OSError, DataError) as exc:
        raise IntegrityError(f"{path}: cannot record the table serial in the station state file ({exc}); "
                             "fix its folder's permissions (or set `station_state` in addrcode.toml)") from None


def default_state_file() -> Path:
    """The station state file when none is configured: ``$XDG_STATE_HOME/addrcode/station-state.json``."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("addrcode")) / "station-state.json"


__all__ = ["StationTrust", "check_pinned", "check_table", "default_state_file",
           "WARN_BEFORE", "FUTURE_SLACK"]

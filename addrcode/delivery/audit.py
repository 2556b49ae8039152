"""The delivering station's unseal audit log: one JSON line per unseal, never an address.

    {"time": "2026-12-05T12:00:00Z", "code": "A6RV8RBX5", "station": "SC-ADDISON", "operator": "jdoe",
     "result": "ok", "prev": "<SHA-256 of the previous line>"}

- **Append-only**: opened with `O_APPEND` (a write can only add at the end), never through a symlink,
  created 0600; each line is written in one call and fsync'ed before the details are shown, so a
  courier never sees details the log does not hold.
- **Hash-chained**: each line names the SHA-256 of the line before it (the first: of nothing), so
  removing, editing or reordering lines is evident to `check_log` (and `addrcode unseal --check-log`);
  a lock (`flock`) keeps two terminals on one log from forking the chain.
- What it holds: time, code, station (delivery region of the key used), operator, result (`ok`, or
  the refusal kind). Never the address, name, phone or notes, and never key material.

This makes tampering evident, not impossible: whoever can write the file can truncate it. Ship it
off the terminal (syslog, a write-once store) where that matters; see SECURITY.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from addrcode.errors import DataError

LOG_NAME = "unseal-audit.log"
_TAIL_BYTES = 4096  # more than one line: the last line is found in the file's last few kB


def default_log_path() -> Path:
    """`$XDG_STATE_HOME/addrcode/unseal-audit.log` (`~/.local/state/addrcode/...`)."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("addrcode")) / LOG_NAME


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _open_log(path: Path) -> int:
    from addrcode.files import make_private_dirs

    make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as err:
        raise DataError(f"{path}: cannot open the unseal audit log ({err.strerror}); it must be a file of yours, "
                        "not a link") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (hasattr(os, "geteuid") and st.st_uid != os.geteuid()):
        os.close(fd)
        raise DataError(f"{path}: the unseal audit log is not a regular file of this user; fix or move it")
    return fd


def _last_line(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    if size == 0:
        return b""
    start = max(0, size - _TAIL_BYTES)
    tail = os.pread(fd, size - start, start)
    if not tail.endswith(b"\n"):
        raise DataError("the unseal audit log ends in a cut-off line (a crash, or an edit); keep a copy and "
                        "start a new log file, or repair it")
    return tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]


@dataclass(frozen=True)
class AuditLog:
    """Appends unseal entries to the log at `path`."""

    path: Path
    station: str  # the configured station id, else the regions of the keys it holds

    def append(self, *, code: str, region: str, operator: str, result: str) -> None:
        """Write one entry (and fsync it); `DataError` when the log cannot be written: nothing is
        shown to the courier then."""
        import fcntl

        fd = _open_log(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "code": code,
                     "station": self.station, "region": region, "operator": operator, "result": result,
                     "prev": line_hash(_last_line(fd))}
            os.write(fd, (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii"))
            os.fsync(fd)
        except OSError as err:
            raise DataError(f"{self.path}: cannot write the unseal audit log ({err.strerror}); nothing was "
                            "unsealed") from None
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)


def check_log(path: str | os.PathLike) -> tuple[int, int | None]:
    """(entries, number of the first line whose chain is broken, or None when the whole log is intact)."""
    previous = b""
    count = 0
    with open(path, "rb") as fh:
        for count, raw in enumerate(fh, 1):
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except ValueError:
                return count, count
            if not raw.endswith(b"\n") or not isinstance(entry, dict) or entry.get("prev") != line_hash(previous):
                return count, count
            previous = line
    return count, None

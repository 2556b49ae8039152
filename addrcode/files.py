"""The one home for writing a file so that a crash never leaves half of it under the final name.

Every output addrcode writes to a regular file (CSV and JSON outputs, keyrings, references,
station tables, labels, maps) goes through here: the bytes go to a fresh temporary file beside the
target (created exclusively, mode 0600, so nobody else can read or plant it), are fsync'ed, and
the temporary file is renamed over the target in one step; on any failure it is removed and the
target is left as it was.

    with atomic_stream(path, "w") as out:        # a text or binary stream
        out.write(...)
    write_atomic(path, data, mode=0o600)          # bytes or str in one call
    with atomic_path(path) as tmp:                # a path, for SQLite builds that open it themselves
        build(tmp)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from addrcode.errors import DataError


def _directory_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _new_temp(path: Path, suffix: str) -> tuple[int, Path]:
    import tempfile  # lazily: station start-up reads keys through modules that import this one

    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=_directory_of(path))
    except FileNotFoundError:
        raise DataError(f"{path}: the output directory {_directory_of(path)} does not exist") from None
    except OSError as err:
        raise DataError(f"{path}: cannot write here ({err.strerror}); choose another output path") from None
    return fd, Path(name)


def _commit(tmp: Path, path: Path, mode: int) -> None:
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        dir_fd = os.open(_directory_of(path), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int = 0o600, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield an empty temporary path beside `path`; rename it into place when the block succeeds."""
    path = Path(path)
    fd, tmp = _new_temp(path, suffix)
    os.close(fd)
    try:
        yield tmp
        _commit(tmp, path, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_stream(path: str | os.PathLike, open_mode: str = "wb", *, mode: int = 0o600,
                  encoding: str = "utf-8", newline: str | None = None, what: str = "the file") -> Iterator[IO]:
    """Yield a stream on a temporary file beside `path`; fsync and rename it into place on success.

    A failed write (disk full, file size limit) raises DataError naming `what` was being written.
    """
    path = Path(path)
    fd, tmp = _new_temp(path, ".tmp")
    text = "b" not in open_mode
    try:
        with os.fdopen(fd, "w" if text else "wb", encoding=encoding if text else None,
                       newline=newline if text else None) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        _commit(tmp, path, mode)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{path}: cannot write {what} ({err.strerror}); nothing was written") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str, *, mode: int = 0o600, what: str = "the file") -> None:
    """Write `data` (str is written as UTF-8 with `\\n` line ends) to `path` atomically."""
    with atomic_stream(path, "w" if isinstance(data, str) else "wb", mode=mode, newline="\n", what=what) as out:
        out.write(data)


def default_file_mode() -> int:
    """The mode a plain `open()` would give a new file under the current umask (0644 typically)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask

"""The one home for writing an output file: never half a file, never a file the user did not name.

Every file addrcode writes (CSV and JSON outputs, rejects, reports, labels, maps, keyrings,
references, station tables) goes through here, and what happens depends on what the path is:

- **a regular file, or nothing yet**: the bytes go to a fresh temporary file beside it (created
  with `O_CREAT|O_EXCL|O_NOFOLLOW` by `tempfile.mkstemp`, mode 0600, a random name nobody can plant
  in advance), are fsync'ed, and the temporary file is renamed over the target in one step; on any
  failure it is removed and the target is left as it was. The new file gets `mode` (0600 unless
  the configuration's `file_mode` says otherwise).
- **a symlink**: written through — the link stays and the file it points at is replaced as above —
  when the link belongs to you or to the owner of its folder (the rule of Linux's
  `fs.protected_symlinks`); a link another user planted, or one that points nowhere, is refused.
- **a device, a FIFO, a socket, `/dev/stdout`, `/dev/fd/N`** (what `>(gzip > x.gz)` gives): streamed
  to directly, never replaced; `/dev/stdout` and `/dev/fd/N` write to the descriptor this process
  already has, so `>>` appends and a pipe gets the same bytes as `-o -`.

    with output_stream(path, "w") as out:         # a text or binary stream
        out.write(...)
    write_output(path, data, mode=0o600)          # bytes or str in one call
    with output_path(path) as tmp:                # a path, for SQLite builds that open it themselves
        build(tmp)

`create_private`/`open_private` are for the files a run keeps beside its output under known names
(the resume journal's `.partial` files): created exclusively, never through a symlink.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from addrcode.errors import DataError, UsageError

DEFAULT_FILE_MODE = 0o600  # an encode output is an address-to-code codebook: as private as a key

# Paths that name a descriptor this process already holds (bash's process substitution gives /dev/fd/63).
_FD_PATH = re.compile(r"/dev/(?:fd/(\d+)|(stdout)|(stderr))|/proc/(?:self|(\d+))/fd/(\d+)")


@dataclass(frozen=True)
class OutputPlace:
    """Where an output named `given` goes: the regular file `path` to (re)place atomically, or, when
    `path` is None, a stream opened with `open_fd()` (a device, FIFO or inherited descriptor)."""

    given: str
    path: Path | None
    fd: int | None = None  # the inherited descriptor of /dev/stdout, /dev/fd/N

    @property
    def is_stream(self) -> bool:
        return self.path is None

    def open_fd(self) -> int:
        """A new descriptor for writing to the stream (the caller closes it)."""
        try:
            if self.fd is not None:
                return os.dup(self.fd)
            return os.open(self.given, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as err:
            raise DataError(f"{self.given}: cannot write to it ({err.strerror})") from None


def _fd_of(given: str) -> int | None:
    match = _FD_PATH.fullmatch(given)
    if match is None:
        return None
    fd_n, out, err, pid, proc_fd = match.groups()
    if pid is not None and int(pid) != os.getpid():
        return None
    return 1 if out else 2 if err else int(fd_n or proc_fd)


def _directory_of(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def output_place(path: str | os.PathLike) -> OutputPlace:
    """Classify an output path (see the module docstring). Raises UsageError for a missing folder,
    DataError for a folder, a dangling symlink or a symlink another user owns."""
    given = os.fspath(path)
    fd = _fd_of(given)
    if fd is not None:
        return OutputPlace(given, None, fd)
    target = Path(given)
    try:
        link = os.lstat(target)
    except FileNotFoundError:
        link = None
    if link is not None and stat.S_ISLNK(link.st_mode):
        target = _through_link(target, link)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        if not _directory_of(target).is_dir():
            raise UsageError(f"{given}: the output directory {_directory_of(target)} does not exist") from None
        return OutputPlace(given, target)
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{given}: is a directory; give a file name")
    if not stat.S_ISREG(st.st_mode):
        return OutputPlace(given, None)
    return OutputPlace(given, target)


def _through_link(link_path: Path, link: os.stat_result) -> Path:
    """The real path a symlink output is written to, if following it is safe."""
    folder = os.stat(_directory_of(link_path))
    if link.st_uid not in (os.geteuid(), folder.st_uid):
        raise DataError(f"{link_path}: is a symlink owned by another user; addrcode does not write through it "
                        "(remove it or choose another output path)")
    real = Path(os.path.realpath(link_path))
    if not real.exists() and not _directory_of(real).is_dir():
        raise DataError(f"{link_path}: is a symlink to {real}, whose folder does not exist")
    return real


def refuse_same_file(output: str | os.PathLike | None, input_path: str | os.PathLike | None,
                     option: str = "-o") -> None:
    """UsageError when `output` names the same file as `input_path`: writing would destroy the input."""
    if output in (None, "-") or input_path in (None, "-"):
        return
    with contextlib.suppress(OSError):
        if os.path.samefile(output, input_path) and os.path.isfile(input_path):
            raise UsageError(f"{output}: {option} names the input file itself; writing it would destroy "
                             "the input. Choose another output file")


def _new_temp(path: Path, suffix: str) -> tuple[int, Path]:
    import tempfile  # lazily: station start-up reads keys through modules that import this one

    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=_directory_of(path))
    except FileNotFoundError:
        raise UsageError(f"{path}: the output directory {_directory_of(path)} does not exist") from None
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
def output_path(path: str | os.PathLike, *, mode: int = DEFAULT_FILE_MODE, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield an empty temporary path; when the block succeeds, rename it into place (or, for a stream
    target, copy its bytes there)."""
    place = output_place(path)
    if place.is_stream:
        yield from _built_then_streamed(place)
        return
    fd, tmp = _new_temp(place.path, suffix)
    os.close(fd)
    try:
        yield tmp
        _commit(tmp, place.path, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _built_then_streamed(place: OutputPlace) -> Iterator[Path]:
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=".addrcode-"))  # 0700: private while it is built
    try:
        tmp = folder / "output"
        yield tmp
        with open(tmp, "rb") as built, os.fdopen(place.open_fd(), "wb") as out:
            shutil.copyfileobj(built, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def output_stream(path: str | os.PathLike, open_mode: str = "wb", *, mode: int = DEFAULT_FILE_MODE,
                  encoding: str = "utf-8", newline: str | None = None, what: str = "the file") -> Iterator[IO]:
    """Yield a stream for the output `path`: a temporary file fsync'ed and renamed into place on
    success, or the device/FIFO/descriptor itself.

    A failed write (disk full, file size limit) raises DataError naming `what` was being written.
    """
    place = output_place(path)
    text = "b" not in open_mode
    kind = {"encoding": encoding, "newline": newline} if text else {}
    if place.is_stream:
        try:
            with os.fdopen(place.open_fd(), "w" if text else "wb", **kind) as stream:
                yield stream
        except BrokenPipeError:
            raise
        except OSError as err:
            raise DataError(f"{path}: cannot write {what} ({err.strerror})") from None
        return
    fd, tmp = _new_temp(place.path, ".tmp")
    try:
        with os.fdopen(fd, "w" if text else "wb", **kind) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        _commit(tmp, place.path, mode)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{path}: cannot write {what} ({err.strerror}); nothing was written") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_output(path: str | os.PathLike, data: bytes | str, *, mode: int = DEFAULT_FILE_MODE,
                 what: str = "the file") -> None:
    """Write `data` (str is written as UTF-8 with `\\n` line ends) to the output `path`."""
    with output_stream(path, "w" if isinstance(data, str) else "wb", mode=mode, newline="\n", what=what) as out:
        out.write(data)


# --------------------------------------------------------------------------- files under known names


def create_private(path: Path, mode: int = DEFAULT_FILE_MODE) -> IO[bytes]:
    """A new, empty file at `path` for writing, created exclusively: an old file there is removed first
    (a symlink planted there is removed, never followed), and a file created meanwhile is refused."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise DataError(f"{path}: appeared while addrcode was creating it (another process?); "
                        "nothing was written") from None
    return os.fdopen(fd, "wb")


def open_private(path: Path, open_mode: str = "r+b") -> IO[bytes]:
    """Open an existing file that addrcode created (`create_private`): never through a symlink, and
    only a regular file of this user. Raises FileNotFoundError when it is not there."""
    flags = (os.O_RDWR if "+" in open_mode else os.O_RDONLY) | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise DataError(f"{path}: is not a file addrcode wrote ({err.strerror}); remove it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise DataError(f"{path}: is not a file addrcode wrote (another user's, or not a regular file); remove it")
    return os.fdopen(fd, open_mode)


def write_private(path: Path, data: str) -> None:
    """Replace the file at `path` with `data` (UTF-8) through a fresh private temporary file and a
    rename: whatever is at `path`, a symlink included, is replaced and never written through."""
    fd, tmp = _new_temp(path, ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_private(path: Path) -> None:
    """Remove the file `write_private` keeps at `path`, and the temporary files of writes a kill
    interrupted (`.<name>.<random>.tmp` beside it): regular files of this user only, so a symlink or
    another user's file under that pattern is left alone."""
    for stale in [path, *path.parent.glob(f".{path.name}.*.tmp")]:
        with contextlib.suppress(OSError):
            st = os.lstat(stale)
            if stale == path or (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()):
                os.unlink(stale)


def read_key_file(path: Path, limit: int, what: str, missing: str = "") -> tuple[bytes, os.stat_result]:
    """(at most `limit` + 1 bytes, stat) of the key file `path`; `KeyringError` saying what to do when it is
    missing (`missing` is added to that message), a folder, unreadable or not a regular file. Checked before
    reading: a device or FIFO (/dev/zero) would be read for ever."""
    from addrcode.errors import KeyringError

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read(limit + 1) if stat.S_ISREG(st.st_mode) else b""
    except FileNotFoundError:
        raise KeyringError(f"{path}: {what} not found{missing}") from None
    except IsADirectoryError:
        raise KeyringError(f"{path}: is a directory, not a {what} file") from None
    except PermissionError:
        raise KeyringError(f"{path}: {what} is not readable by this user; check its owner") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyringError(f"{path}: not a regular file")
    return raw, st


def make_private_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents 0700 (`~/.config/addrcode` on a fresh account);
    DataError naming the folder that could not be made."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except OSError as exc:
            raise DataError(f"{created}: cannot create the folder ({exc.strerror})") from None


def parse_file_mode(value: str | int) -> int:
    """A `file_mode` setting (`"0640"`, `"640"`, `0o640`) as an int; UsageError when it is not one."""
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip().removeprefix("0o"), 8)
        except ValueError:
            raise UsageError(f"file_mode must be an octal mode such as 0600 or 0640, got {value!r}") from None
    if not 0 <= number <= 0o777:
        raise UsageError(f"file_mode must be between 0000 and 0777, got {value!r}")
    return number

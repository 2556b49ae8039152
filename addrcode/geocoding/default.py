"""The embedded default reference: built once per code version and data into the user's cache."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from addrcode.errors import DataError
from addrcode.files import write_output
from addrcode.geocoding.build import build_reference, sha256_file
from addrcode.geocoding.reference import FORMAT_VERSION
from addrcode.packaged import ABBREVIATIONS, VT_SOURCE, data_path, package_dir

# The code that shapes a reference's contents: the geocoding stage (matching keys, reference build)
# and the normalize stage, whole folders, so a module added or split later is covered without a list.
_CODE_FOLDERS = ("geocoding", "normalize")


def code_files() -> list[Path]:
    """The files whose contents shape a reference: key code, normalize rules, abbreviation tables."""
    pkg = package_dir()
    files = [f for folder in _CODE_FOLDERS for f in sorted((pkg / folder).glob("*.py"))]
    tables = data_path(ABBREVIATIONS)
    return files + sorted(p for p in tables.rglob("*") if p.is_file())


def code_version() -> str:
    """A short hash of what shapes a reference's contents: addrcode's version, the reference and
    matching-key code, and the normalize stage's rules and abbreviation tables.

    Part of the default reference's cache name, so changing any of them builds a new reference
    rather than silently reusing one whose keys no longer match the geocoder's.
    """
    from addrcode import __version__

    files = code_files()
    h = hashlib.sha256(f"{__version__}\0{FORMAT_VERSION}".encode())
    for f in files:
        h.update(f.name.encode() + b"\0")
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"(missing)")
    return h.hexdigest()[:10]


_HASHES_FILE = "source-hashes.json"


def _source_hash(src: Path, cache_dir: Path) -> str:
    """sha256 of `src`, remembered in a sidecar file of `cache_dir` keyed by (path, size, mtime_ns).

    Start-up must stay light: the 7 MB source is hashed once, not on every command.
    """
    st = src.stat()
    key = str(src.resolve())
    stamp = [st.st_size, st.st_mtime_ns]
    side = Path(cache_dir) / _HASHES_FILE
    try:
        known = json.loads(side.read_text())
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp and isinstance(entry[2], str):
        return entry[2]
    digest = sha256_file(src)
    known[key] = stamp + [digest]
    if len(known) > 64:  # bounded: keep the most recent few
        known = dict(list(known.items())[-64:])
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        write_output(side, json.dumps(known))
    except (OSError, DataError):  # a read-only cache only costs the re-hash next time
        pass
    return digest


def default_reference(cache_dir: Path, notify: Callable[[str], None] | None = None,
                      source: Path | None = None, *, sources: list[Path] | None = None,
                      locale: str = "us") -> Path:
    """The embedded reference of `locale` (Vermont for `us`; `sources` for others), built once into
    `cache_dir` and reused.

    `source` (one file) or `sources` (several, built into one reference in that order); neither: the
    embedded Vermont file. The file name carries the format version, `code_version()` (addrcode's
    version and a hash of the reference, matching-key and normalize code and tables), the locale
    and a hash over every source's sha256, so a new release, changed rules or new data build a new
    file. `notify(msg)` is called before building (the CLI prints it on stderr). Two processes
    racing both build to temporary files; the rename makes the result consistent.
    """
    if sources is not None and source is not None:
        raise ValueError("default_reference: give source or sources, not both")
    srcs = [Path(s) for s in sources] if sources is not None else [Path(source) if source is not None
                                                                    else data_path(VT_SOURCE)]
    if not srcs:
        raise DataError("no embedded reference source for this locale; pass --reference")
    for src in srcs:
        if not src.is_file():
            raise DataError(f"{src}: embedded reference source missing; reinstall addrcode or pass --reference")
    loc = "".join(ch for ch in str(locale).lower() if ch.isalnum()) or "us"
    hashes = [_source_hash(src, Path(cache_dir)) for src in srcs]
    tag = hashes[0][:12] if len(hashes) == 1 else hashlib.sha256("\0".join(hashes).encode()).hexdigest()[:12]
    out = Path(cache_dir) / f"reference-v{FORMAT_VERSION}-{code_version()}-{loc}-{tag}.sqlite"
    if out.is_file() and cache_intact(out, notify):
        return out
    if notify is not None:
        notify(f"building the default reference (once) into {out} ...")
    build_reference(srcs, out, locale=loc)
    record_integrity(out)
    # references of the same data built by other addrcode code are stale now: remove them so the
    # cache does not grow with every upgrade (a process still reading one keeps its open file)
    for old in Path(cache_dir).glob(f"reference-v*-{tag}.sqlite"):
        # this locale's, or one named before locales were (`reference-vN-CODE-TAG`); never another locale's
        if old.name != out.name and (old.name.endswith(f"-{loc}-{tag}.sqlite") or old.name.count("-") == 3):
            for stale in (old, _integrity_file(old)):
                try:
                    stale.unlink()
                except OSError:
                    pass
    return out


# --------------------------------------------------------------------------- integrity of the cache
# Beside each built reference, `NAME.sqlite.sha256` (written atomically once the build succeeded)
# holds the file's SHA-256 and its stamp (size, mtime, ctime, inode). On reuse the stamp is
# compared (one fstat: nothing measurable at start-up); any write to the file, a file renamed over
# it or a restored copy changes the ctime or the inode, which no user-level tool can set back, and
# then the whole file is hashed again (~16 ms for Vermont's 22 MB): a match re-stamps it, a
# mismatch or a missing record rebuilds it with a note. It is no defence against someone who can
# also rewrite the record (the cache folder is the user's own), only against a corrupt, modified or
# foreign file being used silently.


def _integrity_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _digest(f) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def record_integrity(path: Path, digest: str | None = None, stamp: list[int] | None = None) -> None:
    """Write `path`'s SHA-256 and stamp beside it: both of the one file opened, unless given."""
    if digest is None or stamp is None:
        with open(path, "rb") as f:
            stamp = _stamp(os.fstat(f.fileno()))
            digest = _digest(f)
    write_output(_integrity_file(path), json.dumps({"sha256": digest, "stamp": stamp}) + "\n")


def cache_intact(path: Path, notify: Callable[[str], None] | None, what: str = "default reference") -> bool:
    """Whether the cached `what` is the file that was built (see above); False says why on stderr."""
    say = notify or (lambda text: print(text, file=sys.stderr))
    try:
        record = json.loads(_integrity_file(path).read_text())
        want, stamp = str(record["sha256"]), list(record["stamp"])
    except (OSError, ValueError, KeyError, TypeError):
        say(f"note: {path} has no integrity record (built by an older addrcode, or interrupted); rebuilding it")
        return False
    try:
        with open(path, "rb") as f:
            now = _stamp(os.fstat(f.fileno()))
            if now == stamp:
                return True
            digest = _digest(f)
    except OSError:
        digest = now = None
    if digest != want:
        say(f"warning: the cached {what} {path} does not match the SHA-256 recorded when it was "
            "built (corrupt or modified); rebuilding it")
        return False
    try:  # the same bytes under a new stamp (a copied or restored cache): remember it
        record_integrity(path, digest, now)
    except (OSError, DataError):
        pass
    return True

"""The local reference: OpenAddresses-layout CSV(.gz) -> an indexed, read-only SQLite file.

Schema (format version `FORMAT_VERSION`; everything a query needs is reachable by an index, so a
national file of 10^8 points is geocoded from disk with bounded caches):

- `meta(key, value)`: format, build time, locale, sources (name, sha256, rows), counts (JSON values).
- `cities(id, name, state, lon, lat, n)` and `city_keys(key, city_id)`: towns and their matching keys.
- `zips(postcode, city_id, n, lon, lat)`: which towns a ZIP covers, with the ZIP-in-town centroid.
- `streets(id, city_id, name, core, full, min_num, max_num, n, lon, lat, p0, p1)`: one row per (town,
  street); `core`/`full` are the matching keys of `addrcode.geocoding.keys.street_key`; `p0..p1` is the
  street's contiguous range of point ids, so its numbers are read by a rowid range scan.
- `street_aliases(city_id, core, full, street_id)`: other keys of a street (the normalize stage's
  reading when it differs from the key of the source text), so both query paths find it.
- `points(id, street_id, number, num, unit, postcode, lon, lat, ref_id)`: the address points,
  clustered by (street_id, num) so a street's numbers are one contiguous range read.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.errors import DataError
from addrcode.packaged import VT_SOURCE, data_path

# Bump on every schema change (columns, tables, what a key means): `open_reference` refuses other
# versions, and the default reference's cache name changes with it. Version 2: streets.p0/p1.
FORMAT_VERSION = 2
APPLICATION_ID = 0x41444352  # "ADCR": marks an addrcode reference in the SQLite header
REQUIRED_COLUMNS = ("LON", "LAT", "NUMBER", "STREET")
OPTIONAL_COLUMNS = ("UNIT", "CITY", "DISTRICT", "REGION", "POSTCODE", "ID", "HASH")


@dataclass(frozen=True)
class BuildReport:
    """What `build_reference` did: rows read, kept and rejected (by reason), and where it wrote."""

    path: Path
    rows_read: int
    rows_kept: int
    rows_rejected: int
    reject_reasons: dict = field(default_factory=dict)
    cities: int = 0
    streets: int = 0
    postcodes: int = 0
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------
# Reading OpenAddresses CSV
# --------------------------------------------------------------------------------------------

def _open_text(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="", errors="replace")
    return open(path, encoding="utf-8-sig", newline="", errors="replace")


def read_oa(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, row dict with upper-case OA column names) from an OA CSV or CSV.gz.

    Header names are case-insensitive and extra columns are ignored; a missing required column
    raises DataError naming the file.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_file():  # /dev/zero, a FIFO: would be read without end
            raise DataError(f"{path}: not a regular file; expected an OpenAddresses CSV or CSV.gz")
        fh = _open_text(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read the reference source ({e.strerror}); check the path") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file; expected an OpenAddresses CSV with a header row") from None
        except (csv.Error, gzip.BadGzipFile, EOFError) as e:
            raise DataError(f"{path}: not a readable CSV ({e}); expected an OpenAddresses CSV") from None
        names = [h.strip().upper() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; an OpenAddresses CSV needs "
                            f"{','.join(REQUIRED_COLUMNS)} (plus optional {','.join(OPTIONAL_COLUMNS)})")
        idx = {c: names.index(c) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in names}
        line = 1
        try:
            for row in reader:
                line += 1
                if not row:
                    continue
                yield line, {c: (row[i].strip() if i < len(row) else "") for c, i in idx.items()}
        except (csv.Error, gzip.BadGzipFile, EOFError, OSError) as e:
            raise DataError(f"{path}: unreadable at line {line} ({type(e).__name__}); "
                            "the file may be truncated") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,
                    lon REAL, lat REAL, n INTEGER NOT NULL);
CREATE TABLE city_keys(key TEXT NOT NULL, city_id INTEGER NOT NULL, PRIMARY KEY(key, city_id)) WITHOUT ROWID;
CREATE TABLE zips(postcode TEXT NOT NULL, city_id INTEGER NOT NULL, n INTEGER NOT NULL, lon REAL, lat REAL,
                  PRIMARY KEY(postcode, city_id)) WITHOUT ROWID;
CREATE TABLE streets(id INTEGER PRIMARY KEY, city_id INTEGER NOT NULL, name TEXT NOT NULL, core TEXT NOT NULL,
                     full TEXT NOT NULL, min_num INTEGER, max_num INTEGER, n INTEGER NOT NULL, lon REAL, lat REAL,
                     p0 INTEGER NOT NULL, p1 INTEGER NOT NULL);
CREATE TABLE street_aliases(city_id INTEGER NOT NULL, core TEXT NOT NULL, full TEXT NOT NULL,
                            street_id INTEGER NOT NULL);
CREATE TABLE points(id INTEGER PRIMARY KEY, street_id INTEGER NOT NULL, number TEXT NOT NULL, num INTEGER,
                    unit TEXT NOT NULL, postcode TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
                    ref_id TEXT NOT NULL);
"""
_INDEXES = """
CREATE INDEX streets_city ON streets(city_id, core);
CREATE INDEX streets_core ON streets(core);
CREATE INDEX aliases_city ON street_aliases(city_id, core);
CREATE INDEX aliases_core ON street_aliases(core);
CREATE INDEX points_street ON points(street_id, num);
"""

_REJECT_FIELDS = ["source", "line", "reason", "LON", "LAT", "NUMBER", "STREET", "UNIT", "CITY", "REGION", "POSTCODE",
                  "ID"]


def _float(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def build_reference(sources: list[Path], out: Path, *, rejects: Path | None = None,
                    progress: Callable[[int], None] | None = None, locale: str = "us") -> BuildReport:
    """Build an indexed SQLite reference at `out` from OpenAddresses-layout CSV / CSV.gz files.

    Every row is normalized with the normalize stage; rows that cannot be used (no number, no
    street, bad or out-of-range lon/lat) are counted by reason and, if `rejects` is given, written
    there as CSV with their source file and line. The file is written to a temporary name and
    renamed, so readers never see a half-built reference. `progress(n)` is called with the number of
    rows read so far every 10,000 rows.
    """
    from addrcode.geocoding.keys import city_keys, number_key, street_key, street_key_text
    from addrcode.geocoding.rules import geo_rules
    from addrcode.normalize import normalize_fields

    rules = geo_rules(locale)  # the locale's key tables: the geocoder reads `meta.locale` and uses the same

    t0 = time.perf_counter()
    sources = [Path(s) for s in sources]
    if not sources:
        raise DataError("no reference source given; pass one or more OpenAddresses CSV files")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    reasons: dict[str, int] = {}
    rej_fh = rej_w = None
    try:
        if rejects is not None:
            rej_fh = open(rejects, "w", newline="", encoding="utf-8")
            rej_w = csv.writer(rej_fh)
            rej_w.writerow(_REJECT_FIELDS)
        db = sqlite3.connect(tmp)
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;"
                         f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={FORMAT_VERSION};")
        db.executescript(_SCHEMA)

        # (city name) -> id; (city_id, street full key) -> [id, name, core, full]; points buffered per batch
        cities: dict[str, int] = {}
        city_state: dict[int, str] = {}
        streets: dict[tuple[int, str], int] = {}
        street_rows: list[list] = []
        alias_rows: list[tuple] = []
        norm_cache: dict[tuple[str, str, str], tuple] = {}
        batch: list[tuple] = []
        rows_read = kept = 0
        src_meta = []
        pid = 0
        for src in sources:
            src_rows = src_kept = 0
            for line, r in read_oa(src):
                rows_read += 1
                src_rows += 1
                if progress is not None and rows_read % 10000 == 0:
                    progress(rows_read)
                reason = None
                lon, lat = _float(r["LON"]), _float(r["LAT"])
                if lon is None or lat is None:
                    reason = "bad lon/lat"
                elif not (-180 <= lon <= 180 and -90 <= lat <= 90) or (lon == 0 and lat == 0):
                    reason = "lon/lat out of range"
                elif not r["NUMBER"] or r["NUMBER"] in ("0",):
                    reason = "no house number"
                elif not r["STREET"]:
                    reason = "no street"
                if reason is None:
                    ck = (r["STREET"], r.get("CITY", ""), r.get("REGION", ""))
                    n = norm_cache.get(ck)
                    if n is None:
                        a = normalize_fields(number="", street=ck[0], unit="", city=ck[1], state=ck[2], postcode="",
                                             locale=locale)
                        # the key of the source text is primary (OA street fields are clean); the
                        # normalize stage's reading is kept as an alias when it differs
                        sk = street_key_text(ck[0], rules)
                        ska = street_key(a, rules)
                        alias = ska if ska.core and ska.full != sk.full else None
                        name = " ".join(ck[0].upper().split())
                        n = (sk, name, (a.city or ck[1]).upper(), (a.state or ck[2]).upper(), alias)
                        if len(norm_cache) > 200_000:  # bounded: national files have millions of streets
                            norm_cache.clear()
                        norm_cache[ck] = n
                    sk, name, city, state, alias = n
                    number, num = number_key(r["NUMBER"])
                    if not sk.core:
                        reason = "no street name after normalization"
                    elif num is None:
                        reason = "house number without digits"
                    elif not 0 <= num < 2**62:  # SQLite INTEGER is 64-bit; no real house number is this big
                        reason = "house number out of range"
                if reason is not None:
                    reasons[reason] = reasons.get(reason, 0) + 1
                    if rej_w is not None:
                        rej_w.writerow([src.name, line, reason] + [r.get(c, "") for c in _REJECT_FIELDS[3:]])
                    continue
                cid = cities.get(city)
                if cid is None:
                    cid = cities[city] = len(cities) + 1
                    city_state[cid] = state
                skey = (cid, sk.full)
                sid = streets.get(skey)
                if sid is None:
                    sid = streets[skey] = len(street_rows) + 1
                    street_rows.append([sid, cid, name or sk.full, sk.core, sk.full])
                    if alias is not None:
                        alias_rows.append((cid, alias.core, alias.full, sid))
                pid += 1
                postcode = r.get("POSTCODE", "")[:5]
                unit = r.get("UNIT", "").upper()
                batch.append((pid, sid, number, num, unit, postcode, lon, lat, r.get("ID", "") or str(pid)))
                kept += 1
                src_kept += 1
                if len(batch) >= 50_000:
                    db.executemany("INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?)", batch)
                    batch.clear()
            src_meta.append({"name": src.name, "sha256": _sha256(src), "rows": src_rows, "kept": src_kept})
        if batch:
            db.executemany("INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?)", batch)
        if kept == 0:
            raise DataError(f"{sources[0]}: no usable rows (every row was rejected); check the file is an "
                            "OpenAddresses CSV with LON, LAT, NUMBER and STREET filled in")

        # street names and town names go in as temporary rows; aggregates are computed in SQL
        # (GROUP BY over the points), so memory stays flat whatever the size of the input
        db.execute("CREATE TEMP TABLE snames(id INTEGER PRIMARY KEY, city_id INTEGER, name TEXT, core TEXT, full TEXT)")
        db.executemany("INSERT INTO snames VALUES (?,?,?,?,?)", street_rows)
        db.executemany("INSERT INTO street_aliases VALUES (?,?,?,?)", alias_rows)
        db.executescript("""
            CREATE TEMP TABLE raw AS SELECT * FROM points;
            DELETE FROM points;
            INSERT INTO points SELECT NULL, street_id, number, num, unit, postcode, lon, lat, ref_id
                   FROM raw ORDER BY street_id, num;
            DROP TABLE raw;
            INSERT INTO streets SELECT s.id, s.city_id, s.name, s.core, s.full, a.mn, a.mx, a.n, a.lon, a.lat,
                                       a.p0, a.p1
                   FROM snames s JOIN (SELECT street_id, MIN(num) mn, MAX(num) mx, COUNT(*) n,
                                              AVG(lon) lon, AVG(lat) lat, MIN(id) p0, MAX(id) p1
                                       FROM points GROUP BY street_id) a
                   ON a.street_id = s.id;
            INSERT INTO zips SELECT p.postcode, s.city_id, COUNT(*), AVG(p.lon), AVG(p.lat)
                   FROM points p JOIN streets s ON s.id=p.street_id WHERE p.postcode != ''
                   GROUP BY p.postcode, s.city_id;
            CREATE TEMP TABLE cagg AS SELECT s.city_id, SUM(s.n) n, SUM(s.lon*s.n)/SUM(s.n) lon,
                   SUM(s.lat*s.n)/SUM(s.n) lat FROM streets s GROUP BY s.city_id;
        """)
        db.executemany("INSERT INTO cities(id, name, state, n) VALUES (?,?,?,0)",
                       [(cid, name, city_state[cid]) for name, cid in cities.items()])
        db.execute("UPDATE cities SET n=c.n, lon=c.lon, lat=c.lat FROM cagg c WHERE c.city_id=cities.id")
        db.executemany("INSERT OR IGNORE INTO city_keys VALUES (?,?)",
                       [(k, cid) for name, cid in cities.items() for k in city_keys(name, rules) if name])
        db.executescript(_INDEXES)
        n_cities = db.execute("SELECT COUNT(*) FROM cities").fetchone()[0]
        n_streets = db.execute("SELECT COUNT(*) FROM streets").fetchone()[0]
        n_zips = db.execute("SELECT COUNT(DISTINCT postcode) FROM zips").fetchone()[0]
        from addrcode import __version__

        meta = {
            "format": "addrcode-reference",
            "format_version": FORMAT_VERSION,
            "addrcode_version": __version__,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "locale": locale,
            "sources": src_meta,
            "counts": {"rows_read": rows_read, "points": kept, "rejected": rows_read - kept,
                       "cities": n_cities, "streets": n_streets, "postcodes": n_zips},
            "reject_reasons": reasons,
        }
        db.executemany("INSERT INTO meta VALUES (?,?)", [(k, json.dumps(v)) for k, v in meta.items()])
        db.commit()
        db.execute("ANALYZE")
        db.commit()
        db.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (sqlite3.OperationalError, OSError)) and not isinstance(exc, FileNotFoundError):
            # disk full, file size limit, I/O error: one clear line, nothing left behind
            raise DataError(f"{out}: cannot write the reference ({exc}); nothing was written") from None
        raise
    finally:
        if rej_fh is not None:
            rej_fh.close()
    return BuildReport(path=out, rows_read=rows_read, rows_kept=kept, rows_rejected=rows_read - kept,
                       reject_reasons=reasons, cities=n_cities, streets=n_streets, postcodes=n_zips,
                       seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------------------------

def open_reference(path: Path) -> sqlite3.Connection:
    """Open a reference read-only (works from a read-only directory), checking its kind and version.

    Raises DataError when the file is missing, not SQLite, or not an addrcode reference of a
    supported format version.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: reference not found; build one with `addrcode reference build SRC -o {path.name}`")
    # immutable=1: no locking and no journal, so a reference on a read-only medium opens too
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError:
        raise DataError(f"{path}: not an addrcode reference (not a SQLite file); "
                        "rebuild it with `addrcode reference build`") from None
    if app_id != APPLICATION_ID:
        db.close()
        raise DataError(f"{path}: SQLite file but not an addrcode reference; "
                        "build one with `addrcode reference build`")
    if version != FORMAT_VERSION:
        db.close()
        raise DataError(f"{path}: reference format version {version}, this addrcode reads version "
                        f"{FORMAT_VERSION}; rebuild it with `addrcode reference build`")
    missing = _missing_columns(db)
    if missing:
        db.close()
        raise DataError(f"{path}: reference schema does not match this addrcode (missing {', '.join(missing[:4])}); "
                        "rebuild it with `addrcode reference build`")
    return db


# What the geocoder and the table builder read: checked once at open, so a reference with another
# schema fails there with a clear message rather than on every row with an internal error.
_EXPECTED_COLUMNS = {
    "meta": ("key", "value"),
    "cities": ("id", "name", "state", "lon", "lat", "n"),
    "city_keys": ("key", "city_id"),
    "zips": ("postcode", "city_id", "n", "lon", "lat"),
    "streets": ("id", "city_id", "name", "core", "full", "min_num", "max_num", "n", "lon", "lat", "p0", "p1"),
    "street_aliases": ("city_id", "core", "full", "street_id"),
    "points": ("id", "street_id", "number", "num", "unit", "postcode", "lon", "lat", "ref_id"),
}


def _missing_columns(db: sqlite3.Connection) -> list[str]:
    """`table.column` names the schema lacks (empty when the reference is usable)."""
    missing = []
    try:
        for table, cols in _EXPECTED_COLUMNS.items():
            have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            if not have:
                missing.append(table)
            else:
                missing += [f"{table}.{c}" for c in cols if c not in have]
    except sqlite3.DatabaseError:
        return ["readable schema"]
    return missing


def reference_info(path: Path) -> dict:
    """The reference's metadata: format version, sources (sha256, rows), build time, locale, counts."""
    db = open_reference(path)
    try:
        info = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    except sqlite3.DatabaseError:
        raise DataError(f"{path}: reference metadata unreadable; rebuild it with `addrcode reference build`") from None
    finally:
        db.close()
    info["path"] = str(path)
    info["size_bytes"] = Path(path).stat().st_size
    return info


# The code that shapes a reference's contents: the geocoding stage (matching keys, reference build)
# and the normalize stage, whole folders, so a module added or split later is covered without a list.
_CODE_FOLDERS = ("geocoding", "normalize")


def _code_files() -> list[Path]:
    """The files whose contents shape a reference: key code, normalize rules, abbreviation tables."""
    from addrcode.packaged import ABBREVIATIONS, data_path, package_dir

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

    files = _code_files()
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
    digest = _sha256(src)
    known[key] = stamp + [digest]
    if len(known) > 64:  # bounded: keep the most recent few
        known = dict(list(known.items())[-64:])
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_HASHES_FILE + ".", suffix=".tmp", dir=cache_dir)
        with os.fdopen(fd, "w") as f:
            json.dump(known, f)
        os.replace(tmp, side)
    except OSError:  # a read-only cache only costs the re-hash next time
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
    if out.is_file():
        return out
    if notify is not None:
        notify(f"building the default reference (once) into {out} ...")
    build_reference(srcs, out, locale=loc)
    # references of the same data built by other addrcode code are stale now: remove them so the
    # cache does not grow with every upgrade (a process still reading one keeps its open file)
    for old in Path(cache_dir).glob(f"reference-v*-{tag}.sqlite"):
        # this locale's, or one named before locales were (`reference-vN-CODE-TAG`); never another locale's
        if old.name != out.name and (old.name.endswith(f"-{loc}-{tag}.sqlite") or old.name.count("-") == 3):
            try:
                old.unlink()
            except OSError:
                pass
    return out

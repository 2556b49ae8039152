"""Building a reference: OpenAddresses-layout CSV(.gz) rows -> the SQLite file of `reference.py`.

One pass over the sources: each row is checked, its street and town read once (cached per distinct
street/town/region), and the point appended; towns and streets get ids as they are first seen.
Aggregates (street number ranges, ZIP-in-town centroids, town centroids) are computed in SQL at the
end, so memory stays flat whatever the size of the input.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from addrcode.errors import DataError
from addrcode.files import DEFAULT_FILE_MODE, output_path, output_stream
from addrcode.geocoding.reference import (
    APPLICATION_ID,
    FORMAT_VERSION,
    INDEXES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    SCHEMA,
    pack_forms,
    pack_numbers,
)

REJECT_FIELDS = ["source", "line", "reason", "LON", "LAT", "NUMBER", "STREET", "UNIT", "CITY", "REGION", "POSTCODE",
                 "ID"]
_POINTS_BATCH = 50_000
_STREET_CACHE_LIMIT = 200_000  # distinct (street, town, region) readings kept: national files have millions


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


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _float(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _position_or_reason(row: dict) -> tuple[float, float] | str:
    """(lon, lat) of a source row, or why the row cannot be used before its street is read."""
    lon, lat = _float(row["LON"]), _float(row["LAT"])
    if lon is None or lat is None:
        return "bad lon/lat"
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or (lon == 0 and lat == 0):
        return "lon/lat out of range"
    if not row["NUMBER"] or row["NUMBER"] in ("0",):
        return "no house number"
    if not row["STREET"]:
        return "no street"
    return lon, lat


# --------------------------------------------------------------------------------------------
# Reading streets and towns once
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _StreetReading:
    key: object  # StreetKey of the source text
    name: str  # the street as printed in the source, upper case
    city: str
    state: str
    alias: object | None  # StreetKey of the normalize stage's reading, when it differs


class _StreetReader:
    """Reads (street, town, region) of source rows into matching keys, caching each distinct triple."""

    def __init__(self, locale: str):
        from addrcode.geocoding.keys import number_key, street_key, street_key_text
        from addrcode.geocoding.rules import geo_rules
        from addrcode.normalize import normalize_fields

        self.locale = locale
        self.rules = geo_rules(locale)  # the geocoder reads `meta.locale` and uses the same tables
        self.number_key = number_key
        self._street_key, self._street_key_text, self._normalize = street_key, street_key_text, normalize_fields
        self._cache: dict[tuple[str, str, str], _StreetReading] = {}

    def read(self, row: dict) -> _StreetReading:
        triple = (row["STREET"], row.get("CITY", ""), row.get("REGION", ""))
        reading = self._cache.get(triple)
        if reading is None:
            reading = self._read(*triple)
            if len(self._cache) > _STREET_CACHE_LIMIT:
                self._cache.clear()
            self._cache[triple] = reading
        return reading

    def _read(self, street: str, city: str, region: str) -> _StreetReading:
        a = self._normalize(number="", street=street, unit="", city=city, state=region, postcode="",
                            locale=self.locale)
        # the key of the source text is primary (OA street fields are clean); the normalize
        # stage's reading is kept as an alias when it differs
        key = self._street_key_text(street, self.rules)
        other = self._street_key(a, self.rules)
        alias = other if other.core and other.full != key.full else None
        return _StreetReading(key, " ".join(street.upper().split()), (a.city or city).upper(),
                              (a.state or region).upper(), alias)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

class _ReferenceWriter:
    """Accumulates towns, streets and points into a new SQLite file, then builds aggregates and indexes."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;"
                              f"PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={FORMAT_VERSION};")
        self.db.executescript(SCHEMA)
        # the points as read, with where each came from (for rejecting outliers with their line), until
        # `finish` writes them clustered by street into `points`
        self.db.execute("CREATE TEMP TABLE raw(id INTEGER PRIMARY KEY, street_id INTEGER, number TEXT, num INTEGER, "
                        "unit TEXT, postcode TEXT, lon REAL, lat REAL, ref_id TEXT, src INTEGER, line INTEGER)")
        # A town is (name, state): Springfield VT and Springfield MA are two towns with their own
        # streets, so a street never merges across states (nor does interpolation run between them).
        # ... and where the source names DISTRICTs (counties), a town of each: two FRANKLINs of one state
        # in two counties are two towns, as far apart as the map puts them.
        self.cities: dict[tuple[str, str, str], int] = {}  # (town name, state, district) -> id
        self.streets: dict[tuple[int, str], int] = {}  # (town id, street full key) -> id
        self.street_rows: list[list] = []
        self.alias_rows: list[tuple] = []
        self.points: list[tuple] = []
        self.point_id = 0

    def add(self, reading: _StreetReading, row: dict, lon: float, lat: float, number: str, num: int,
            origin: tuple[int, int]) -> None:
        """Add one point; `origin` is (index of its source file, line) for a later reject."""
        town = (reading.city, reading.state, " ".join(row.get("DISTRICT", "").upper().split()))
        cid = self.cities.get(town)
        if cid is None:
            cid = self.cities[town] = len(self.cities) + 1
        skey = (cid, reading.key.full)
        sid = self.streets.get(skey)
        if sid is None:
            sid = self.streets[skey] = len(self.street_rows) + 1
            self.street_rows.append([sid, cid, reading.name or reading.key.full, reading.key.core, reading.key.full,
                                     reading.state])
            if reading.alias is not None:
                self.alias_rows.append((cid, reading.alias.core, reading.alias.full, sid, reading.state))
        self.point_id += 1
        self.points.append((self.point_id, sid, number, num, row.get("UNIT", "").upper(), row.get("POSTCODE", "")[:5],
                            lon, lat, row.get("ID", "") or str(self.point_id), *origin))
        if len(self.points) >= _POINTS_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.points:
            self.db.executemany("INSERT INTO raw VALUES (?,?,?,?,?,?,?,?,?,?,?)", self.points)
            self.points.clear()

    def finish(self, rules, reject: Callable[[int, int, str, dict], None]) -> dict:
        """Reject the points far from the rest of their town (`reject(source index, line, reason,
        row)`), cluster the others by street, compute every aggregate and index; return the counts."""
        from addrcode.geocoding.keys import city_keys

        self.flush()
        db = self.db
        # street and town names go in as temporary rows; aggregates are GROUP BYs over the points
        db.execute("CREATE TEMP TABLE snames(id INTEGER PRIMARY KEY, city_id INTEGER, name TEXT, core TEXT, full TEXT, "
                   "state TEXT)")
        db.executemany("INSERT INTO snames VALUES (?,?,?,?,?,?)", self.street_rows)
        _reject_far_points(db, {cid: town for town, cid in self.cities.items()}, reject)
        db.executemany("INSERT INTO street_aliases VALUES (?,?,?,?,?)", self.alias_rows)
        db.executescript(_AGGREGATES)
        _write_street_numbers(db)
        db.executemany("INSERT INTO cities(id, name, state, district, n) VALUES (?,?,?,?,0)",
                       [(cid, *town) for town, cid in self.cities.items()])
        db.execute("UPDATE cities SET n=c.n, lon=c.lon, lat=c.lat FROM cagg c WHERE c.city_id=cities.id")
        db.executemany("INSERT OR IGNORE INTO city_keys VALUES (?,?)",
                       [(k, cid) for (name, _, _), cid in self.cities.items() for k in city_keys(name, rules) if name])
        # a town or street all of whose points were rejected is not in the reference at all
        db.executescript("DELETE FROM street_aliases WHERE street_id NOT IN (SELECT id FROM streets);"
                         "DELETE FROM cities WHERE id NOT IN (SELECT city_id FROM streets);"
                         "DELETE FROM city_keys WHERE city_id NOT IN (SELECT id FROM cities);")
        db.executescript(INDEXES)
        _write_town_forms(db, rules)
        return {"coverage": _coverage(db),
                "cities": db.execute("SELECT COUNT(*) FROM cities").fetchone()[0],
                "streets": db.execute("SELECT COUNT(*) FROM streets").fetchone()[0],
                "postcodes": db.execute("SELECT COUNT(DISTINCT postcode) FROM zips").fetchone()[0]}

    def close(self, meta: dict) -> None:
        self.db.executemany("INSERT INTO meta VALUES (?,?)", [(k, json.dumps(v)) for k, v in meta.items()])
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.commit()
        self.db.close()


first = itemgetter(0)  # the grouping key of the streamed `ORDER BY` reads below

# A point further from the median of its town than this many times the town's median distance
# (and at least FAR_MIN_KM) is taken for a bad coordinate: swapped lat/lon or a lost minus sign lands
# thousands of km away, while a town, even the state-wide "town" of points without a CITY, is a few
# hundred km at most. Robust: medians, so the outliers themselves do not move the bound.
FAR_SCALE = 10.0
FAR_MIN_KM = 50.0
FAR_REASON = "far from the rest of its town (swapped or wrong-sign coordinates?)"


def _reject_far_points(db, towns: dict[int, tuple], reject) -> int:
    """Delete from `raw` the points far from the rest of their town (towns of >= 5 points), calling
    `reject(source index, line, reason, row)` for each; return how many."""
    import numpy as np

    far: list[int] = []

    def check(points):
        if len(points) < 5:
            return
        ids, lon, lat = np.array(points).T
        mlon, mlat = np.median(lon), np.median(lat)
        km = 111.2 * np.hypot((lon - mlon) * np.cos(np.radians(mlat)), lat - mlat)
        bound = max(FAR_MIN_KM, FAR_SCALE * float(np.median(km)))
        far.extend(int(i) for i in ids[km > bound])

    rows = db.cursor()  # streamed town by town: a national file's points are never all in memory
    for _cid, town in groupby(rows.execute("SELECT s.city_id, r.id, r.lon, r.lat FROM raw r "
                                           "JOIN snames s ON s.id = r.street_id ORDER BY s.city_id"), key=first):
        check([(pid, lon, lat) for _, pid, lon, lat in town])
    for start in range(0, len(far), 500):
        batch = far[start:start + 500]
        marks = ",".join("?" * len(batch))
        for src, line, lon, lat, number, unit, pc, ref, street, cid in db.execute(
                "SELECT r.src, r.line, r.lon, r.lat, r.number, r.unit, r.postcode, r.ref_id, s.name, s.city_id "
                f"FROM raw r JOIN snames s ON s.id = r.street_id WHERE r.id IN ({marks})", batch):
            name, state, _district = towns[cid]
            reject(src, line, FAR_REASON, {"LON": lon, "LAT": lat, "NUMBER": number, "STREET": street, "UNIT": unit,
                                           "CITY": name, "REGION": state, "POSTCODE": pc, "ID": ref})
        db.execute(f"DELETE FROM raw WHERE id IN ({marks})", batch)
    return len(far)


def _write_street_numbers(db) -> None:
    """Each street's numbers (`streets.nums`), in point id order, streamed street by street."""
    updates: list[tuple] = []
    rows = db.cursor()
    for sid, points in groupby(rows.execute("SELECT street_id, num FROM points ORDER BY id"), key=first):
        updates.append((pack_numbers([num for _, num in points]), sid))
        if len(updates) >= 10_000:
            db.executemany("UPDATE streets SET nums=? WHERE id=?", updates)
            updates.clear()
    db.executemany("UPDATE streets SET nums=? WHERE id=?", updates)


def _write_town_forms(db, rules) -> None:
    """Each town's fuzzy street forms at every level (`reference.town_forms`), streamed town by town.

    A form's first street wins, in the order the geocoder lists a town's streets: streets, then
    aliases, each by (core, rowid), the order of the (city_id, core) indexes.
    """
    from addrcode.geocoding.keys import FUZZY_LEVELS, street_form

    def flush(cid, fulls):
        rows = []
        for level in FUZZY_LEVELS:
            forms: dict[str, str] = {}
            for full, core in fulls:
                forms.setdefault(street_form(full, level, rules), core)
            rows.append((cid, level, *pack_forms(forms)))
        db.executemany("INSERT INTO town_forms VALUES (?,?,?,?)", rows)

    rows = db.cursor()  # streamed: a national file's streets are never all in memory
    for cid, streets in groupby(rows.execute(
            "SELECT city_id, core, full FROM (SELECT city_id, core, full, 0 src, id n FROM streets UNION ALL "
            "SELECT city_id, core, full, 1, rowid FROM street_aliases) ORDER BY city_id, src, core, n"), key=first):
        flush(cid, [(full, core) for _, core, full in streets])


def _coverage(db) -> dict:
    """What the reference covers, for telling a query outside it from a miss inside it: its states
    and its postcode regions (the postcode without its last two digits: ZIP3 in the US, `27` of
    NSW's `27xx` in Australia), from the towns and ZIPs that hold points; and, for `reference info`,
    how many postcodes and points, and their bounding box."""
    states = sorted(r[0] for r in db.execute("SELECT DISTINCT state FROM cities WHERE state != ''"))
    postcodes = [pc for (pc,) in db.execute("SELECT DISTINCT postcode FROM zips")]
    regions = sorted({pc[:-2] for pc in postcodes if len(pc) > 2})
    n, *bbox = db.execute("SELECT COUNT(*), MIN(lon), MIN(lat), MAX(lon), MAX(lat) FROM points").fetchone()
    return {"states": states, "postcode_regions": regions, "postcodes": len(postcodes), "points": n,
            "bbox": [round(v, 4) for v in bbox] if n else []}  # [west, south, east, north], degrees


# Points re-inserted in (street, number) order so a street's numbers are one rowid range; then the
# street, ZIP-in-town and town aggregates.
_AGGREGATES = """
    INSERT INTO points SELECT NULL, street_id, number, num, unit, postcode, lon, lat, ref_id
           FROM raw ORDER BY street_id, num;
    DROP TABLE raw;
    INSERT INTO streets SELECT s.id, s.city_id, s.name, s.core, s.full, a.mn, a.mx, a.n, a.lon, a.lat,
                               a.p0, a.p1, X'', s.state
           FROM snames s JOIN (SELECT street_id, MIN(num) mn, MAX(num) mx, COUNT(*) n,
                                      AVG(lon) lon, AVG(lat) lat, MIN(id) p0, MAX(id) p1
                               FROM points GROUP BY street_id) a
           ON a.street_id = s.id;
    INSERT INTO zips SELECT p.postcode, s.city_id, COUNT(*), AVG(p.lon), AVG(p.lat)
           FROM points p JOIN streets s ON s.id=p.street_id WHERE p.postcode != ''
           GROUP BY p.postcode, s.city_id;
    CREATE TEMP TABLE cagg AS SELECT s.city_id, SUM(s.n) n, SUM(s.lon*s.n)/SUM(s.n) lon,
           SUM(s.lat*s.n)/SUM(s.n) lat FROM streets s GROUP BY s.city_id;
"""


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------

class _Rejects:
    """Counts rejected rows by reason and, when asked, writes them as CSV with source file and line."""

    def __init__(self, path: Path | None, file_mode: int):
        self.reasons: dict[str, int] = {}
        self._output = output_stream(path, "w", newline="", mode=file_mode, what="the rejects") if path else None
        self._fh = self._output.__enter__() if self._output is not None else None
        self._writer = csv.writer(self._fh) if self._fh is not None else None
        if self._writer is not None:
            self._writer.writerow(REJECT_FIELDS)

    def add(self, source: Path, line: int, reason: str, row: dict) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if self._writer is not None:
            self._writer.writerow([source.name, line, reason] + [row.get(c, "") for c in REJECT_FIELDS[3:]])

    def close(self) -> None:
        if self._output is not None:
            self._output.__exit__(None, None, None)


def _load_source(src: Path, index: int, reader: _StreetReader, writer: _ReferenceWriter, rejects: _Rejects,
                 progress: Callable[[int], None] | None, rows_before: int) -> dict:
    """Read source `index`, `src`, into `writer`; return its meta entry (name, sha256, rows, kept)."""
    rows = kept = 0
    for line, row in read_oa(src):
        rows += 1
        if progress is not None and (rows_before + rows) % 10000 == 0:
            progress(rows_before + rows)
        position = _position_or_reason(row)
        if isinstance(position, str):
            rejects.add(src, line, position, row)
            continue
        reading = reader.read(row)
        number, num = reader.number_key(row["NUMBER"])
        if not reading.key.core:
            reason = "no street name after normalization"
        elif num is None:
            reason = "house number without digits"
        elif not 0 <= num < 2**62:  # SQLite INTEGER is 64-bit; no real house number is this big
            reason = "house number out of range"
        else:
            writer.add(reading, row, *position, number, num, (index, line))
            kept += 1
            continue
        rejects.add(src, line, reason, row)
    if rows == 0:
        raise DataError(f"{src}: no address rows (a header only?); check the file, or leave it out")
    return {"name": src.name, "sha256": sha256_file(src), "rows": rows, "kept": kept}


def _meta(locale: str, sources: list[dict], counts: dict, reasons: dict) -> dict:
    from addrcode import __version__

    rows_read = sum(s["rows"] for s in sources)
    kept = sum(s["kept"] for s in sources)
    return {
        "format": "addrcode-reference",
        "format_version": FORMAT_VERSION,
        "addrcode_version": __version__,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "locale": locale,
        "sources": sources,
        "counts": {"rows_read": rows_read, "points": kept, "rejected": rows_read - kept,
                   **{k: v for k, v in counts.items() if k != "coverage"}},
        "coverage": counts["coverage"],
        "reject_reasons": reasons,
    }


def build_reference(sources: list[Path], out: Path, *, rejects: Path | None = None,
                    progress: Callable[[int], None] | None = None, locale: str = "us",
                    file_mode: int = DEFAULT_FILE_MODE) -> BuildReport:
    """Build an indexed SQLite reference at `out` from OpenAddresses-layout CSV / CSV.gz files.

    Every row is normalized with the normalize stage; rows that cannot be used (no number, no
    street, bad or out-of-range lon/lat) are counted by reason and, if `rejects` is given, written
    there as CSV with their source file and line. The file is written to a temporary name and
    renamed, so readers never see a half-built reference. `progress(n)` is called with the number of
    rows read so far every 10,000 rows. Both files are written with `addrcode.files` (mode `file_mode`).
    """
    t0 = time.perf_counter()
    sources = [Path(s) for s in sources]
    if not sources:
        raise DataError("no reference source given; pass one or more OpenAddresses CSV files")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rejected = None
    try:
        rejected = _Rejects(rejects, file_mode)
        with output_path(out, mode=file_mode) as tmp:
            reader, writer = _StreetReader(locale), _ReferenceWriter(tmp)
            src_meta: list[dict] = []
            for index, src in enumerate(sources):
                src_meta.append(_load_source(src, index, reader, writer, rejected, progress,
                                             sum(s["rows"] for s in src_meta)))
            if writer.point_id == 0:
                raise DataError(f"{sources[0]}: no usable rows (every row was rejected); check the file is an "
                                "OpenAddresses CSV with LON, LAT, NUMBER and STREET filled in")

            def reject_far(index, line, reason, row):
                rejected.add(sources[index], line, reason, row)
                src_meta[index]["kept"] -= 1

            counts = writer.finish(reader.rules, reject_far)
            meta = _meta(locale, src_meta, counts, rejected.reasons)
            writer.close(meta)
    except (sqlite3.OperationalError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        # disk full, file size limit, I/O error: one clear line, nothing left behind
        raise DataError(f"{out}: cannot write the reference ({exc}); nothing was written") from None
    finally:
        if rejected is not None:
            rejected.close()
    totals = meta["counts"]
    return BuildReport(path=out, rows_read=totals["rows_read"], rows_kept=totals["points"],
                       rows_rejected=totals["rejected"], reject_reasons=rejected.reasons, cities=counts["cities"],
                       streets=counts["streets"], postcodes=counts["postcodes"], seconds=time.perf_counter() - t0)

"""The local reference's format: an indexed, read-only SQLite file, and opening it.

Built by `addrcode.geocoding.build`; the embedded default one by `addrcode.geocoding.default`.

Schema (format version `FORMAT_VERSION`; everything a query needs is reachable by an index, so a
national file of 10^8 points is geocoded from disk with bounded caches):

- `meta(key, value)`: format, build time, locale, sources (name, sha256, rows), counts, and `coverage`
  (the states and postcode regions that hold points; JSON values).
- `cities(id, name, state, lon, lat, n, district)` and `city_keys(key, city_id)`: towns and their matching
  keys; a town is one (name, state, district): same-named towns of two states, or of two districts
  (counties) of one state when the source names them, are two rows.
- `zips(postcode, city_id, n, lon, lat)`: which towns a ZIP covers, with the ZIP-in-town centroid.
- `streets(id, city_id, name, core, full, min_num, max_num, n, lon, lat, p0, p1, nums, state)`: one row
  per (town, street), with its town's state (a street key looked up nationally is narrowed to a
  state by an index); `core`/`full` are the matching keys of `addrcode.geocoding.keys.street_key`;
  `p0..p1` is the street's contiguous range of point ids (in number order), and `nums` the integer part
  of each of those points' numbers (`pack_numbers`), so a street is placed by bisection after one row
  read and only the points it settles on are read.
- `street_aliases(city_id, core, full, street_id, state)`: other keys of a street (the normalize stage's
  reading when it differs from the key of the source text), so both query paths find it.
- `points(id, street_id, number, num, unit, postcode, lon, lat, ref_id)`: the address points,
  clustered by (street_id, num) so a street's numbers are one contiguous range read.
- `town_forms(city_id, level, forms, cores)`: each town's street names spelled out for fuzzy matching at
  each of `keys.FUZZY_LEVELS`, sorted by length (`pack_forms`), so a misspelt street is matched by
  reading one row per town instead of every street of the town.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from addrcode.errors import DataError

# Bump on every schema change (columns, tables, what a key means): `open_reference` refuses other
# versions, and the default reference's cache name changes with it. Version 2: streets.p0/p1.
# Version 3: a town is (name, state), and `meta.coverage` lists the states and postcode regions.
# Version 4: `town_forms`, the fuzzy forms of each town's streets, computed at build time, and
# `streets.nums`, the state of streets and aliases, and `cities.district`.
FORMAT_VERSION = 4
APPLICATION_ID = 0x41444352  # "ADCR": marks an addrcode reference in the SQLite header
REQUIRED_COLUMNS = ("LON", "LAT", "NUMBER", "STREET")
OPTIONAL_COLUMNS = ("UNIT", "CITY", "DISTRICT", "REGION", "POSTCODE", "ID", "HASH")


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL,
                    lon REAL, lat REAL, n INTEGER NOT NULL, district TEXT NOT NULL DEFAULT '');
CREATE TABLE city_keys(key TEXT NOT NULL, city_id INTEGER NOT NULL, PRIMARY KEY(key, city_id)) WITHOUT ROWID;
CREATE TABLE zips(postcode TEXT NOT NULL, city_id INTEGER NOT NULL, n INTEGER NOT NULL, lon REAL, lat REAL,
                  PRIMARY KEY(postcode, city_id)) WITHOUT ROWID;
CREATE TABLE streets(id INTEGER PRIMARY KEY, city_id INTEGER NOT NULL, name TEXT NOT NULL, core TEXT NOT NULL,
                     full TEXT NOT NULL, min_num INTEGER, max_num INTEGER, n INTEGER NOT NULL, lon REAL, lat REAL,
                     p0 INTEGER NOT NULL, p1 INTEGER NOT NULL, nums BLOB NOT NULL DEFAULT X'',
                     state TEXT NOT NULL DEFAULT '');
CREATE TABLE street_aliases(city_id INTEGER NOT NULL, core TEXT NOT NULL, full TEXT NOT NULL,
                            street_id INTEGER NOT NULL, state TEXT NOT NULL DEFAULT '');
CREATE TABLE points(id INTEGER PRIMARY KEY, street_id INTEGER NOT NULL, number TEXT NOT NULL, num INTEGER,
                    unit TEXT NOT NULL, postcode TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
                    ref_id TEXT NOT NULL);
CREATE TABLE town_forms(city_id INTEGER NOT NULL, level TEXT NOT NULL, forms TEXT NOT NULL,
                        cores TEXT NOT NULL, PRIMARY KEY(city_id, level)) WITHOUT ROWID;
"""
INDEXES = """
CREATE INDEX streets_city ON streets(city_id, core);
CREATE INDEX streets_core ON streets(core, state, city_id);
CREATE INDEX aliases_city ON street_aliases(city_id, core);
CREATE INDEX aliases_core ON street_aliases(core, state, city_id);
CREATE INDEX points_street ON points(street_id, num);
"""


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
    "cities": ("id", "name", "state", "lon", "lat", "n", "district"),
    "city_keys": ("key", "city_id"),
    "zips": ("postcode", "city_id", "n", "lon", "lat"),
    "streets": ("id", "city_id", "name", "core", "full", "min_num", "max_num", "n", "lon", "lat", "p0", "p1",
                "nums", "state"),
    "street_aliases": ("city_id", "core", "full", "street_id", "state"),
    "points": ("id", "street_id", "number", "num", "unit", "postcode", "lon", "lat", "ref_id"),
    "town_forms": ("city_id", "level", "forms", "cores"),
}


def pack_numbers(nums) -> bytes:
    """A street's house number integer parts as `streets.nums`: one type byte (`i` 32-bit, `q` 64-bit,
    whichever holds them all), then the numbers little-endian."""
    from array import array

    code = "i" if all(-2**31 <= n < 2**31 for n in nums) else "q"
    packed = array(code, nums)
    if sys.byteorder == "big":
        packed.byteswap()
    return code.encode() + packed.tobytes()


def unpack_numbers(blob: bytes):
    """`streets.nums` as an array of ints (sorted: bisection works on it)."""
    from array import array

    if not blob:
        return array("i")
    nums = array(chr(blob[0]))
    nums.frombytes(blob[1:])
    if sys.byteorder == "big":
        nums.byteswap()
    return nums


def pack_forms(forms: dict[str, str]) -> tuple[str, str]:
    """A town's {fuzzy form: core key} at one level as `town_forms` (forms, cores): the forms,
    shortest first, one per line, and the core key of each on the same line of the other (keys are
    words of capitals and digits: never a newline)."""
    items = sorted(forms.items(), key=lambda fc: len(fc[0]))
    return "\n".join(f for f, _ in items), "\n".join(c for _, c in items)


def unpack_forms(forms: str, cores: str) -> tuple[list, list, list]:
    """`town_forms` (forms, cores) as ([forms], [core of each], [length of each]), shortest first."""
    if not forms:
        return [], [], []
    listed = forms.split("\n")
    return listed, cores.split("\n"), list(map(len, listed))


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

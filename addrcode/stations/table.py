"""Station tables: code -> destination, signed, holding no address, coordinate, cell index or secret key.

A station table is the only artefact that leaves the encoder. It is a small SQLite file:

- ``codes(body INTEGER PRIMARY KEY, zone INTEGER) WITHOUT ROWID``: the code body (routing prefix,
  epoch and opaque part: the 8 characters before the check character, 40 bits, read as a base-32
  number) -> index into ``zones``. The check character is not stored: it is a function of the body.
- ``zones(idx, zone, sort_center, route, fields)``: destinations; ``fields`` is the zones file's
  extra properties as JSON.
- ``epochs(id, status)``: the key epochs the table knows. Rows exist for active and retired epochs;
  revoked epochs are listed here only, so `resolve` can answer "revoked" instead of "unknown".
- ``next_hop(prefix, sort_center, sort_centers)``: routing prefix (district) -> the sort center
  holding most of its codes, and every sort center with codes there (JSON list, most codes first).
  A per-station extract uses it to say where a foreign parcel goes next.
- ``meta(key, value)``: JSON values: format, table format version, serial, build time, expiry
  (``not_after``: stations refuse the table after it), station ("all" or a sort center), epochs,
  zones file SHA-256, row count, signer's public key (``public_key``, hex) and its fingerprint, grid.
  The public key is there so a failed check can say "signed by key A, you gave key B" instead of
  "corrupt" (see `signing`); it is covered by the signature like every byte, and never used to
  accept a table, nor to print which key signed it (that is the key that verified it).
  Version 2 added ``not_after``; a version 1 table (no expiry) is refused with "rebuild the table".
- ``signature(blob)``: `signing.MAGIC` followed by the 64-byte Ed25519 signature.

Signature over every byte of the file: the table is built, ``VACUUM INTO`` a fresh file (final
layout, no stale pages), then the SHA-256 of the whole file -- with the 64 signature bytes still
zero -- is signed, and the signature is written over those 64 bytes in place (same length, so
SQLite's layout is untouched); the file is then renamed into place atomically. To verify, find
`MAGIC` exactly once, zero the 64 bytes after it, hash, check the signature with the station's
public key. Any change to any byte (or a truncation, or a second `MAGIC`) is refused with
`IntegrityError`. The verified bytes themselves are then opened with
`sqlite3.Connection.deserialize`, so the file cannot be swapped between the check and the use.

Which cells get rows: every cell `encode` can issue a code for (`issuable_cells`): cells of the
reference points (precision point/street) and every cell crossed by an interpolation segment
between consecutive house numbers of the same parity on one street (precision interpolated).

The code is split by topic, all inside `addrcode.stations`:

- `table` (this module): the format constants, the schema, `TableInfo`, and code body <-> table key.
- `cells`: which cells get rows (`issuable_cells`).
- `build`: `build_table` (build, then sign via `signing`).
- `signing`: the signature slot, signing, verifying and opening (`open_table`, `verify_table`).
- `diff`: `Diff` and `diff_tables`.
- `default`: `default_table`, the demo table for the embedded data.

This module, `signing` and `cells` import nothing heavy at module level: `resolve` start-up uses
`signing.open_table` and `TO_PY32` from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from addrcode.codes.scheme import ALPHABET  # table keys are code characters

TABLE_FORMAT = "addrcode-station-table"
TABLE_VERSION = 2  # 2: signed expiry (not_after)
APPLICATION_ID = 0x41445442  # "ADTB" in the SQLite header: an addrcode station table
MAX_SERIAL = 99991231235959  # the largest build-time serial, YYYYMMDDHHMMSS
TO_PY32 = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")
FRESH_COPY = "get a fresh copy from whoever publishes your station tables (or rebuild it with `addrcode table build`)"

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE epochs(id TEXT PRIMARY KEY, status TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE zones(idx INTEGER PRIMARY KEY, zone TEXT NOT NULL, sort_center TEXT NOT NULL,
                   route TEXT NOT NULL, fields TEXT NOT NULL);
CREATE TABLE next_hop(prefix INTEGER PRIMARY KEY, sort_center TEXT NOT NULL, sort_centers TEXT NOT NULL);
CREATE TABLE codes(body INTEGER PRIMARY KEY, zone INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE signature(blob BLOB NOT NULL);
"""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class TableInfo:
    """What a table says about itself (its meta table) plus where it is and how big."""

    path: str
    serial: int
    built_at: str
    station: str
    epochs: tuple[tuple[str, str], ...]
    zones_sha256: str
    rows: int
    zones: int
    public_key_fingerprint: str
    demo: bool
    grid: dict = field(default_factory=dict)
    size_bytes: int = 0
    version: int = TABLE_VERSION
    public_key: str = ""  # hex of the key that verified the table (`signing.open_table` sets it, never the meta)
    not_after: str = ""  # UTC time after which stations refuse the table (``YYYY-MM-DDTHH:MM:SSZ``)

    def to_dict(self) -> dict:
        """A JSON-friendly dict (for `addrcode table verify --format json`)."""
        return {
            "path": self.path, "version": self.version, "serial": self.serial, "built_at": self.built_at,
            "not_after": self.not_after,
            "station": self.station, "epochs": [{"id": i, "status": s} for i, s in self.epochs],
            "zones_sha256": self.zones_sha256, "rows": self.rows, "zones": self.zones,
            "public_key_fingerprint": self.public_key_fingerprint, "public_key": self.public_key,
            "demo": self.demo, "grid": self.grid, "size_bytes": self.size_bytes,
        }


def info_from_meta(meta: dict, path, size: int) -> TableInfo:
    """The `TableInfo` of a table's decoded meta table, at `path`, `size` bytes."""
    return TableInfo(
        path=str(path), serial=int(meta["serial"]), built_at=str(meta["built_at"]), station=str(meta["station"]),
        epochs=tuple((e["id"], e["status"]) for e in meta["epochs"]), zones_sha256=str(meta["zones_sha256"]),
        rows=int(meta["rows"]), zones=int(meta["zones"]),
        public_key_fingerprint=str(meta["public_key_fingerprint"]), demo=bool(meta["demo"]),
        grid=dict(meta.get("grid", {})), size_bytes=size, version=int(meta["version"]),
        public_key=str(meta.get("public_key", "")), not_after=str(meta["not_after"]),
    )


# --------------------------------------------------------------------------- code bodies


def body_of(compact: str) -> int:
    """The 40-bit table key of a normalized 9-character code (its first 8 characters, base 32)."""
    return int(compact[:8].translate(TO_PY32), 32)


def code_of_body(body: int) -> str:
    """The printed code (``PPP-EOOOO-C``) of a table key."""
    from addrcode.codes.scheme import check_char

    digits = []
    for _ in range(8):
        body, d = divmod(body, 32)
        digits.append(ALPHABET[d])
    text = "".join(reversed(digits))
    return f"{text[:3]}-{text[3:]}-{check_char(text)}"

"""Run report: one self-contained HTML page that shows how a batch encode went and where it failed.

`render_report(run_csv, zones, out)` streams an `addrcode encode` output (CSV with the input
columns plus `addrcode_*` columns, or JSONL with the bare field names) once, keeping only counters
and a few examples per reason, so memory stays constant for any number of rows. The page holds:

- the outcome counts (rows, ok / rejected / error) and every reason with its count;
- the precision mix and a score histogram (ok and refused rows stacked);
- two maps of the zones, coloured by rows per zone and by reject rate (inline SVG, see `zonemap`);
- the most common reject reasons with example rows: by default their **row number and reason only**
  (and, if asked, a keyed row hash), no address text; `show_addresses=True` shows the addresses.

Nothing is fetched: inline CSS and SVG only, no script, no font, no image, no link out, so the page
opens offline and can be attached to a mail.

Where a refused row goes on the map. An ok row carries its zone. A refused row has no zone in
the output (only ok rows are routed), so it is placed, in this order: by its `zone` column if
filled; by its coordinates if the run was made with `--with-coords` (point in zone polygon); else
by the town of its `matched` reference label -- the zone most of this run's coded rows of that
town went to, else the one zone named after the town (route or a `town`/`city` field) -- and
last by the ZIP of the label the same way. Rows with none of these (no match at all) are counted
as "not placed"; the page says how many, so the reject-rate map is never silently partial. The
town and ZIP tallies are bounded (`MAX_PLACES`), so memory stays constant.

Reasons are grouped with their numbers replaced by `#` ("score 0.31 below --min-score 0.5" and
"score 0.42 ..." are one reason); the examples keep the original text.

Privacy: by default an example is ``row 17 · score 0.42 below --min-score 0.5 · point 0.42``: the
row number in the run (1-based, header not counted: the same row of the input, since encode writes
one output record per input record), the reason (a postcode in an "outside the reference" reason is
left out), precision and score. No text of the input or of the matched reference address, and never
a coordinate, reaches the page. The masks used before (first character of each word and the length
of the rest, ``6** C****** S*, M*********, V* 0****``) singled out about one address in five of the
public reference exactly; measured in `scripts/measure_masks.py`.

Row hash (`row_hash=True`): each example also shows `row_hash(key, address)`, an HMAC-SHA256 (stdlib
`hmac`) of the row's address text (whitespace collapsed, case folded), 16 hex digits. The key is
random per report unless one is given (`row_hash_key`, at least 16 bytes): with the random key the
hashes only tell which examples share an address; with your key you can recompute them over your
own rows to find the same address across runs. Never a bare hash: a plain SHA-256 of an address is
undone by hashing every address of the public reference.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import html
import io
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from addrcode.errors import DataError, UsageError
from addrcode.records import PRECISIONS, reason_kind

STATUSES = ("ok", "rejected", "error")
SCORE_BINS = 20
TOP_REASONS = 10  # reasons shown open; the rest are folded under <details>
MAX_REASONS = 500  # distinct reason groups kept; later new ones are counted under "(other reasons)"
EXAMPLES_PER_REASON = 3
ADDRESS_COLUMN_GUESSES = ("input", "address", "query", "full_address", "addr", "address_line", "text")
_PART_COLUMNS = ("street", "address1", "address_1", "line1", "city", "town", "state", "zip", "zipcode",
                 "postcode", "postal_code")
_STATE_ZIP = re.compile(r"^[A-Z]{2}(?: \d{5}(?:-\d{4})?)?$")
_ZIP_AT_END = re.compile(r"(?:^|\s)(\d{5})(?:-\d{4})?$")
MAX_PLACES = 100_000  # towns / ZIPs remembered for placing refused rows (bounds memory)
_TOWN_FIELDS = ("town", "city", "locality", "municipality", "name")
ROW_HASH_HEX = 16  # hex digits of a row hash shown (64 bits)
ROW_HASH_KEY_MIN = 16  # bytes


def row_hash(key: bytes, text: str) -> str:
    """The keyed hash of a row's address text shown in examples: HMAC-SHA256 under `key` of the text
    with whitespace collapsed and case folded, as `ROW_HASH_HEX` hex digits."""
    canonical = " ".join(str(text).split()).casefold().encode("utf-8")
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()[:ROW_HASH_HEX]


def load_row_hash_key(path) -> bytes:
    """A row-hash key from a file (its bytes, surrounding whitespace stripped; at least 16 bytes)."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise UsageError(f"--row-hash-key {path}: cannot read it ({exc.strerror})") from None
    if len(key) < ROW_HASH_KEY_MIN:
        raise UsageError(f"--row-hash-key {path}: a key needs at least {ROW_HASH_KEY_MIN} bytes "
                         "(e.g. `head -c 32 /dev/urandom | base64 > key`)")
    return key


def shown_reason(reason: str) -> str:
    """A reason as an example shows it: the postcode of an "outside the reference" reason left out
    (the only address text a reason can carry)."""
    kind = reason_kind(reason)
    if kind == "outside the reference: postcode":
        return kind
    return reason[:200]


def _norm_name(text: str) -> str:
    return " ".join(text.upper().replace("-", " ").replace(".", " ").split())


def matched_town(matched: str) -> str:
    """The town of a reference label (`12 MAIN ST, TOWN, VT 05001` or `TOWN, VT`), or ''."""
    parts = [p.strip() for p in matched.split(",")]
    if len(parts) >= 2 and _STATE_ZIP.match(parts[-1].upper()):
        return _norm_name(parts[-2])
    return ""


def matched_zip(matched: str) -> str:
    """The ZIP5 of a reference label (`..., VT 05001` or a bare `05001`), or ''."""
    m = _ZIP_AT_END.search(matched.strip())
    return m.group(1) if m else ""


def _name_variants(name: str) -> list[str]:
    """A town name and the spellings zone files often use for it (ST for SAINT, no TOWN/CITY tail)."""
    out = [name]
    if name.startswith("SAINT "):
        out.append("ST " + name[6:])
    for n in list(out):
        for tail in (" TOWN", " CITY", " VILLAGE"):
            if n.endswith(tail):
                out.append(n[: -len(tail)])
    return out


@dataclass(frozen=True)
class ReportSummary:
    """The figures a report shows (also what `render_report` returns)."""

    path: str
    rows: int
    status: dict  # ok / rejected / error -> rows
    reasons: tuple  # (status, reason group, rows), most rows first
    precision: dict  # precision -> {status: rows}
    score_histogram: tuple  # (ok rows, refused rows) per score bin of width 1/SCORE_BINS
    zone_rows: dict  # zone id -> (rows placed in the zone, refused rows among them)
    not_placed: int  # refused rows that could not be put in a zone
    bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain JSON-able figures (no address, no example)."""
        return {"rows": self.rows, "status": dict(self.status),
                "reasons": [list(r) for r in self.reasons], "precision": self.precision,
                "score_histogram": [list(b) for b in self.score_histogram],
                "zone_rows": {k: list(v) for k, v in sorted(self.zone_rows.items())},
                "not_placed": self.not_placed}


class ReportBuilder:
    """Accumulates run records one at a time (constant memory), then writes the HTML page.

    `add(record)` takes a record with the bare field names (`status`, `reason`, `zone`,
    `precision`, `score`, `matched`, optional `lon`/`lat`) plus `address`, the text used for
    examples. `encode --report FILE` can feed each record as it is written; `render_report`
    feeds the rows of a finished run file.
    """

    def __init__(self, zones, *, show_addresses: bool = False, row_hash: bool = False,
                 row_hash_key: bytes | None = None):
        self.zones = zones
        self.show_addresses = show_addresses
        self.row_hash = row_hash or row_hash_key is not None
        self.row_hash_keyed = row_hash_key is not None  # a key of the user's (else random for this report)
        self._hash_key = row_hash_key if row_hash_key is not None else secrets.token_bytes(32)
        self.rows = 0
        self.status = {s: 0 for s in STATUSES}
        self.reasons: dict = {}  # (status, group) -> rows
        self.examples: dict = {}  # (status, group) -> [example text]
        self.precision: dict = {}
        self.hist = [[0, 0] for _ in range(SCORE_BINS)]
        self.zone_rows: dict = {}  # zone id -> [rows, refused]
        self.not_placed = 0
        self._pending: list = []  # refused rows with coordinates, placed in vectorised batches
        # town / ZIP -> {zone: ok rows}: where this run's coded rows of a town or ZIP went
        self._town_votes: dict = {}
        self._zip_votes: dict = {}
        self._deferred: dict = {}  # (town, zip) of refused rows without zone or coordinates -> rows
        self._town_zone = self._town_index(zones)

    @staticmethod
    def _town_index(zones) -> dict:
        """Town name -> zone id, for names that exactly one zone carries."""
        seen: dict = {}
        for z in zones:
            names = {_norm_name(z.route), _norm_name(z.id)}
            names.update(_norm_name(v) for k, v in z.fields if k.lower() in _TOWN_FIELDS)
            for n in names:
                if n:
                    seen.setdefault(n, set()).add(z.id)
        return {n: next(iter(ids)) for n, ids in seen.items() if len(ids) == 1}

    def add(self, record: dict) -> None:
        """Count one output record."""
        self.rows += 1
        status = (record.get("status") or "").strip().lower()
        if status not in self.status:
            status = "error"
        self.status[status] += 1
        precision = (record.get("precision") or "").strip().lower() or "none"
        per = self.precision.setdefault(precision if precision in PRECISIONS else "other", {})
        per[status] = per.get(status, 0) + 1
        try:
            score = float(record.get("score") or "nan")
        except ValueError:
            score = math.nan
        if math.isfinite(score):
            b = min(max(int(score * SCORE_BINS), 0), SCORE_BINS - 1)
            self.hist[b][0 if status == "ok" else 1] += 1
        zone = (record.get("zone") or "").strip()
        if status == "ok":
            if zone:
                self._count_zone(zone, False)
                matched = record.get("matched") or ""
                self._vote(self._town_votes, matched_town(matched), zone)
                self._vote(self._zip_votes, matched_zip(matched), zone)
            return
        key = (status, reason_kind(record.get("reason") or ""))
        if key not in self.reasons and len(self.reasons) >= MAX_REASONS:
            key = (status, "(other reasons)")
        self.reasons[key] = self.reasons.get(key, 0) + 1
        ex = self.examples.setdefault(key, [])
        if len(ex) < EXAMPLES_PER_REASON:
            ex.append(self._example(record))
        self._place_refused(record, zone)

    def _example(self, record: dict) -> dict:
        """What the page shows of one refused row: row number, reason, precision, score; the row hash
        if asked; the address and matched reference address only with `show_addresses`."""
        address = record.get("address") or ""
        reason = record.get("reason") or ""
        out = {"row": self.rows, "reason": reason[:200] if self.show_addresses else shown_reason(reason),
               "precision": record.get("precision") or "", "score": record.get("score") or "",
               "hash": row_hash(self._hash_key, address) if self.row_hash and address else "",
               "address": "", "matched": ""}
        if self.show_addresses:
            out.update(address=address[:200], matched=(record.get("matched") or "")[:200])
        return out

    @staticmethod
    def _vote(votes: dict, key: str, zone: str) -> None:
        if not key:
            return
        v = votes.get(key)
        if v is None:
            if len(votes) >= MAX_PLACES:
                return
            v = votes[key] = {}
        v[zone] = v.get(zone, 0) + 1

    def _count_zone(self, zone: str, refused: bool) -> None:
        c = self.zone_rows.get(zone)
        if c is None:
            c = self.zone_rows[zone] = [0, 0]
        c[0] += 1
        if refused:
            c[1] += 1

    def _place_refused(self, record: dict, zone: str) -> None:
        if zone:
            self._count_zone(zone, True)
            return
        try:
            lon, lat = float(record.get("lon") or "nan"), float(record.get("lat") or "nan")
        except ValueError:
            lon = lat = math.nan
        if math.isfinite(lon) and math.isfinite(lat):
            self._pending.append((lon, lat))
            if len(self._pending) >= 20_000:
                self._flush()
            return
        matched = record.get("matched") or ""
        key = (matched_town(matched), matched_zip(matched))
        if key == ("", "") or (key not in self._deferred and len(self._deferred) >= MAX_PLACES):
            self.not_placed += 1
        else:
            self._deferred[key] = self._deferred.get(key, 0) + 1

    def _zone_for(self, town: str, zipcode: str) -> str | None:
        """Where a refused row of this town/ZIP most likely belongs: the zone most coded rows of the
        same town went to in this run, else the one zone named after the town, else the ZIP's zone."""
        def top(votes):
            return max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0] if votes else None

        if town:
            hit = top(self._town_votes.get(town))
            if hit:
                return hit
            for name in _name_variants(town):
                if name in self._town_zone:
                    return self._town_zone[name]
        return top(self._zip_votes.get(zipcode)) if zipcode else None

    def _flush(self) -> None:
        if not self._pending:
            return
        lon, lat = zip(*self._pending)
        self._pending = []
        for z in self.zones.zones_at(list(lon), list(lat)):
            if z is None:
                self.not_placed += 1
            else:
                self._count_zone(z.id, True)

    def summary(self, path: str = "") -> ReportSummary:
        """The figures so far."""
        self._flush()
        zone_rows = {k: list(v) for k, v in self.zone_rows.items()}
        not_placed = self.not_placed
        for (town, zipcode), n in self._deferred.items():
            zid = self._zone_for(town, zipcode)
            if zid is None:
                not_placed += n
            else:
                c = zone_rows.setdefault(zid, [0, 0])
                c[0] += n
                c[1] += n
        reasons = tuple(sorted(((s, g, n) for (s, g), n in self.reasons.items()), key=lambda t: (-t[2], t[0], t[1])))
        precision = {p: dict(self.precision[p]) for p in (*PRECISIONS, "other") if p in self.precision}
        return ReportSummary(path, self.rows, dict(self.status), reasons, precision,
                             tuple(tuple(b) for b in self.hist),
                             {k: tuple(v) for k, v in zone_rows.items()}, not_placed)

    def write(self, out, *, title: str = "addrcode run report", source_name: str = "",
              file_mode: int = 0o600) -> ReportSummary:
        """Write the HTML page to `out` (`addrcode.files`, with `file_mode`); return its summary (with size)."""
        from addrcode.outputs.zonemap import write_page

        t0 = time.perf_counter()
        s = self.summary(str(out))
        text = _page(s, self, title, source_name)
        write_page(Path(out), text, file_mode=file_mode)
        return ReportSummary(**{**s.__dict__, "bytes": len(text.encode("utf-8")),
                                "seconds": round(time.perf_counter() - t0, 3)})


# --------------------------------------------------------------------------- reading a run file


def _open_text(path: Path):
    try:
        raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the run file ({exc.strerror}); give the CSV written by "
                        "`addrcode encode -o`") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def address_columns(header: list[str], prefix: str) -> list[str]:
    """The input columns that hold the address (for examples): a one-line column if one is known by
    name, else street/city/state/ZIP-like columns, else every input column."""
    inputs = [h for h in header if not (prefix and h.startswith(prefix))]
    if not prefix:
        inputs = [h for h in header if h == "input"] or inputs
    lower = {h.lower(): h for h in inputs}
    for name in ADDRESS_COLUMN_GUESSES:
        if name in lower:
            return [lower[name]]
    parts = [lower[n] for n in _PART_COLUMNS if n in lower]
    return parts or inputs


def iter_run(path, *, columns: list[str] | None = None):
    """Yield one record per row of a run file (CSV with `addrcode_*` columns, or JSONL), bare names."""
    path = Path(path)
    f = _open_text(path)
    with f:
        first = f.read(1)
        if first == "{":  # JSONL: field names are bare already
            f.seek(0)
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    raise DataError(f"{path}, line {lineno}: not JSON; give the output of `addrcode encode "
                                    "--format jsonl` or its CSV") from None
                if columns:
                    rec["address"] = " ".join(str(rec.get(c) or "") for c in columns)
                else:
                    rec["address"] = str(rec.get("input") or "")
                yield rec
            return
        f.seek(0)
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file; give the CSV written by `addrcode encode -o`") from None
        except csv.Error:
            raise DataError(f"{path}: not a readable CSV; give the CSV written by `addrcode encode -o`") from None
        prefix = "addrcode_" if "addrcode_status" in header else ""
        if prefix + "status" not in header:
            raise DataError(f"{path}: no `addrcode_status` column; this is not an `addrcode encode` output")
        pos = {name: header.index(prefix + name) for name in
               ("status", "reason", "zone", "precision", "score", "matched", "lon", "lat", "code")
               if prefix + name in header}
        addr = columns or address_columns(header, prefix)
        missing = [c for c in addr if c not in header]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}; name the address column(s) present in the file")
        addr_pos = [header.index(c) for c in addr]
        n = len(header)
        try:
            for row in reader:
                if len(row) < n:
                    row = row + [""] * (n - len(row))
                rec = {name: row[i] for name, i in pos.items()}
                rec["address"] = " ".join(row[i] for i in addr_pos if row[i])
                yield rec
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: broken CSV ({exc}); regenerate the run file") from None


def render_report(run_csv, zones, out, *, show_addresses: bool = False, row_hash: bool = False,
                  row_hash_key: bytes | None = None, address_columns: list[str] | None = None,
                  file_mode: int = 0o600) -> ReportSummary:
    """Write the HTML report of the encode run `run_csv` to `out` (atomic) and return its figures.

    `zones` is the `zones.Zones` the run was encoded with; `address_columns` names the input
    column(s) shown in the examples with `show_addresses` and hashed with `row_hash` (default: guessed);
    without `show_addresses` no address text is on the page (module doc).
    """
    t0 = time.perf_counter()
    builder = ReportBuilder(zones, show_addresses=show_addresses, row_hash=row_hash, row_hash_key=row_hash_key)
    for rec in iter_run(run_csv, columns=address_columns):
        builder.add(rec)
    s = builder.write(out, source_name=Path(run_csv).name, file_mode=file_mode)
    return ReportSummary(**{**s.__dict__, "seconds": round(time.perf_counter() - t0, 3)})


# --------------------------------------------------------------------------- the page

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:20px auto;max-width:1100px;
 color:#1d1d1d;padding:0 12px}
h1{font-size:22px;margin:0}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;margin:2px 0 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:130px}
.card b{display:block;font-size:24px}
.card.ok b{color:#1a7f37}.card.rejected b{color:#b35900}.card.error b{color:#c62828}
table{border-collapse:collapse;font-size:13px;width:100%}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{display:inline-block;height:10px;background:#d9822b;vertical-align:middle}
.bar.ok{background:#2e8b57}.bar.error{background:#c62828}
.ex{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#333}
.ex div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:520px}
.maps{display:flex;gap:16px;flex-wrap:wrap}
.maps figure{margin:0;flex:1;min-width:320px}
figcaption{font-weight:600;margin-bottom:4px}
svg{max-width:100%;height:auto}svg.zm{max-height:620px;width:auto;display:block}
.legend{display:flex;flex-wrap:wrap;gap:4px 10px;font-size:12px;margin-top:4px}
.sw{display:inline-block;width:12px;height:12px;border:1px solid #999;vertical-align:-2px;margin-right:3px}
.note{color:#555;font-size:13px}.nw{white-space:nowrap}
"""

_COUNT_COLOURS = ("#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#084594")
_RATE_BREAKS = (0.0, 0.02, 0.05, 0.10, 0.20, 0.40)  # lower edges; a rate of exactly 0 is its own bin
_RATE_COLOURS = ("#ffffff", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000")
_PREC_COLOURS = {"point": "#1a7f37", "interpolated": "#55a868", "street": "#d9a62b", "postcode": "#d9822b",
                 "locality": "#c65d2b", "none": "#9e9e9e", "other": "#777"}


def _fmt(n: int) -> str:
    return f"{n:,}"


def _pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.1f} %" if d else "-"


def _count_breaks(max_rows: int) -> list[int]:
    """Lower edges of the rows-per-zone colour bins: 1 then geometric steps up to the maximum."""
    if max_rows <= 1:
        return [1]
    k = len(_COUNT_COLOURS)
    edges = sorted({max(1, int(round(max_rows ** (i / k)))) for i in range(k)})
    nice = []
    for e in edges:  # round to 1, 2, 5 x 10^n so the legend reads easily
        mag = 10 ** int(math.floor(math.log10(e)))
        lead = min((1, 2, 5, 10), key=lambda m: abs(m * mag - e))
        v = lead * mag
        if not nice or v > nice[-1]:
            nice.append(v)
    return nice


def _bin(value: float, edges) -> int:
    i = 0
    for j, e in enumerate(edges):
        if value >= e:
            i = j
    return i


def _rate_colour(rate: float) -> str:
    if rate <= 0:
        return _RATE_COLOURS[0]
    i = 0
    for j, e in enumerate(_RATE_BREAKS):
        if rate > e:
            i = j
    return _RATE_COLOURS[i + 1]


def _maps(s: ReportSummary, zones) -> str:
    import shapely

    from addrcode.outputs.zonemap import NO_DATA, frame_for, zone_paths

    zs = list(zones)
    frame = frame_for(shapely.total_bounds([z.geometry for z in zs]), width=500.0, pad=4.0)
    paths = zone_paths(zs, frame, tolerance=0.5)
    e = html.escape
    defs = "".join(f'<path id="zp{i}" d="{d}"/>' for i, d in enumerate(paths))
    out = [f'<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>{defs}</defs></svg>']
    max_rows = max((v[0] for v in s.zone_rows.values()), default=0)
    breaks = _count_breaks(max_rows)
    colours = _COUNT_COLOURS[-len(breaks):] if len(breaks) < len(_COUNT_COLOURS) else _COUNT_COLOURS
    for kind in ("rows", "rate"):
        uses = []
        for i, z in enumerate(zs):
            rows, refused = s.zone_rows.get(z.id, (0, 0))
            if rows == 0:
                fill = NO_DATA
            elif kind == "rows":
                fill = colours[_bin(rows, breaks)]
            else:
                fill = _rate_colour(refused / rows)
            tip = f"{z.id} · {z.sort_center} · {_fmt(rows)} rows · {_fmt(refused)} refused ({_pct(refused, rows)})"
            uses.append(f'<use href="#zp{i}" fill="{fill}"><title>{e(tip)}</title></use>')
        title = "Rows per zone" if kind == "rows" else "Reject rate per zone"
        out.append(f'<figure><figcaption>{title}</figcaption><svg xmlns="http://www.w3.org/2000/svg" class="zm" '
                   f'viewBox="{frame.view_box}" role="img" aria-label="{title}"><g stroke="#666" stroke-width="0.4" '
                   f'stroke-linejoin="round" fill-rule="evenodd">{"".join(uses)}</g></svg><div class="legend">')
        if kind == "rows":
            for j, (b, c) in enumerate(zip(breaks, colours)):
                hi = breaks[j + 1] - 1 if j + 1 < len(breaks) else None
                label = f"{_fmt(b)}+" if hi is None else (f"{_fmt(b)}" if hi == b else f"{_fmt(b)}–{_fmt(hi)}")
                out.append(f'<span><span class="sw" style="background:{c}"></span>{label}</span>')
        else:
            labels = ["0 %"] + [f"≤ {100 * hi:g} %" for hi in _RATE_BREAKS[1:]] + [f"> {100 * _RATE_BREAKS[-1]:g} %"]
            for c, label in zip(_RATE_COLOURS, labels):
                out.append(f'<span><span class="sw" style="background:{c}"></span>{label}</span>')
        out.append(f'<span><span class="sw" style="background:{NO_DATA}"></span>no rows</span></div></figure>')
    return "".join(out)


def _histogram_svg(hist) -> str:
    w, h, left, bottom = 520, 170, 44, 22
    peak = max((a + b for a, b in hist), default=0) or 1
    bw = (w - left - 6) / len(hist)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
             'role="img" aria-label="Score histogram" font-size="10" font-family="sans-serif">']
    for frac in (0, 0.5, 1):
        y = h - bottom - frac * (h - bottom - 8)
        parts.append(f'<line x1="{left}" x2="{w - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(round(peak * frac))}</text>')
    for i, (ok, bad) in enumerate(hist):
        x = left + i * bw
        y0 = h - bottom
        for n, colour, label in ((ok, "#2e8b57", "ok"), (bad, "#d9822b", "refused")):
            if n:
                bh = n / peak * (h - bottom - 8)
                y0 -= bh
                lo, hi = i / len(hist), (i + 1) / len(hist)
                parts.append(f'<rect x="{x + 1:.1f}" y="{y0:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                             f'fill="{colour}"><title>score {lo:.2f}–{hi:.2f}: {_fmt(n)} {label}</title></rect>')
    for i in range(0, len(hist) + 1, max(1, len(hist) // 5)):
        x = left + i * bw
        parts.append(f'<text x="{x:.1f}" y="{h - 8}" text-anchor="middle">{i / len(hist):.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _example_html(x: dict, show_addresses: bool) -> str:
    e = html.escape
    parts = [f"row {x['row']:,}"]
    if show_addresses:
        parts.append((e(x["address"]) or "(empty)") + (f" → {e(x['matched'])}" if x["matched"] else ""))
    if x["reason"]:
        parts.append(e(x["reason"]))
    if x["precision"]:
        parts.append(f"{e(x['precision'])} {e(str(x['score']))}")
    if x["hash"]:
        parts.append(f'<span class="h">#{e(x["hash"])}</span>')
    return "<div>" + " · ".join(parts) + "</div>"


def _page(s: ReportSummary, b: ReportBuilder, title: str, source_name: str) -> str:
    e = html.escape
    total = s.rows
    cards = [f'<div class="card"><span>rows</span><b id="n-rows">{_fmt(total)}</b></div>']
    for st in STATUSES:
        cards.append(f'<div class="card {st}"><span>{st}</span><b id="n-{st}">{_fmt(s.status[st])}</b>'
                     f"{_pct(s.status[st], total)}</div>")
    # reasons
    rows_html = []
    top = s.reasons[0][2] if s.reasons else 1
    for st, group, n in s.reasons:
        examples = "".join(_example_html(x, b.show_addresses) for x in b.examples.get((st, group), []))
        shown = re.sub(r"--[\w-]+", lambda m: f'<span class="nw">{m.group()}</span>', e(group))
        rows_html.append(f'<tr><td>{e(st)}</td><td>{shown}</td><td class="n">{_fmt(n)}</td>'
                         f'<td class="n">{_pct(n, total)}</td><td><span class="bar {e(st)}" '
                         f'style="width:{max(1, round(120 * n / top))}px"></span></td>'
                         f'<td class="ex">{examples}</td></tr>')
    head = ('<table class="reasons"><thead><tr><th>status</th><th>reason</th><th class=n>rows</th>'
            "<th class=n>share</th><th></th><th>examples</th></tr></thead><tbody>")
    reasons_html = (head + "".join(rows_html[:TOP_REASONS]) + "</tbody></table>") if rows_html else \
        "<p>Every row was coded.</p>"
    if len(rows_html) > TOP_REASONS:  # the long tail stays in the page, folded (no script needed)
        rest = sum(n for _, _, n in s.reasons[TOP_REASONS:])
        reasons_html += (f"<details><summary>{len(rows_html) - TOP_REASONS} more reasons ({_fmt(rest)} rows)"
                         f"</summary>{head}{''.join(rows_html[TOP_REASONS:])}</tbody></table></details>")
    # precision
    prec_rows = []
    for p, per in s.precision.items():
        n = sum(per.values())
        prec_rows.append(f'<tr><td><span class="sw" style="background:{_PREC_COLOURS.get(p, "#777")}"></span>{e(p)}'
                         f'</td><td class="n">{_fmt(n)}</td><td class="n">{_pct(n, total)}</td>'
                         f'<td class="n">{_fmt(per.get("ok", 0))}</td>'
                         f'<td class="n">{_fmt(n - per.get("ok", 0))}</td></tr>')
    prec_html = ("<table><thead><tr><th>precision</th><th class=n>rows</th><th class=n>share</th>"
                 "<th class=n>ok</th><th class=n>refused</th></tr></thead><tbody>" + "".join(prec_rows)
                 + "</tbody></table>")
    # zones with the most refused rows
    worst = sorted(((v[1], v[0], k) for k, v in s.zone_rows.items() if v[1]), reverse=True)[:15]
    zone_of = {z.id: z for z in b.zones}
    zrows = "".join(
        f'<tr><td>{e(k)}</td><td>{e(zone_of[k].sort_center if k in zone_of else "?")}</td>'
        f'<td class="n">{_fmt(rows)}</td><td class="n">{_fmt(bad)}</td><td class="n">{_pct(bad, rows)}</td></tr>'
        for bad, rows, k in worst)
    unknown = sorted(k for k in s.zone_rows if k not in zone_of)
    placed_note = (f"{_fmt(s.not_placed)} refused rows could not be placed in a zone (no match, or a town "
                   "that no zone is named after) and are left off the maps.")
    if unknown:
        placed_note += (f" {len(unknown)} zone ids of the run are not in this zones file "
                        f"({e(', '.join(unknown[:10]))}{' ...' if len(unknown) > 10 else ''}).")
    privacy = ("Addresses are shown in full (--show-addresses)." if b.show_addresses else
               "Examples show the row number and reason only, no address text. "
               "Run with --show-addresses to see the addresses.")
    if b.row_hash:
        privacy += (" Row hashes: HMAC-SHA256 of the row's address text under "
                    + ("your key (--row-hash-key)." if b.row_hash_keyed else
                       "a random key of this report only: equal hashes are the same address within this report."))
    figures = json.dumps(s.to_dict(), separators=(",", ":")).replace("</", "<\\/")
    src = f" of {e(source_name)}" if source_name else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{e(title)}</h1><p class=\"sub\">Encode run{src} · {_fmt(total)} rows · "
        f"{len(list(b.zones))} zones · written {time.strftime('%Y-%m-%d %H:%M')}</p>"
        f'<div class="cards">{"".join(cards)}</div>'
        f'<h2>Where</h2><div class="maps">{_maps(s, b.zones)}</div><p class="note">{placed_note} '
        "Hover a zone for its figures.</p>"
        f'<div class="maps" style="margin-top:10px"><div style="flex:1;min-width:320px"><h2>Precision</h2>{prec_html}'
        f'</div><div><h2>Score</h2>{_histogram_svg(s.score_histogram)}<div class="legend"><span><span class="sw" '
        'style="background:#2e8b57"></span>ok</span><span><span class="sw" style="background:#d9822b"></span>'
        "refused (rejected or error)</span></div></div></div>"
        f"<h2>Refused rows by reason</h2>{reasons_html}<p class=\"note\">{privacy}</p>"
        + (f"<h2>Zones with the most refused rows</h2><table><thead><tr><th>zone</th><th>sort center</th>"
           f"<th class=n>rows</th><th class=n>refused</th><th class=n>rate</th></tr></thead><tbody>{zrows}"
           "</tbody></table>" if zrows else "")
        + f'<script type="application/json" id="addrcode-figures">{figures}</script>'
        "</body></html>\n")

"""The record functions behind each batch command.

A job is a callable `job(query) -> dict` (query: one-line text, or a dict of address components)
with the ordered output `fields` and a `text(record)` renderer for `--format text`. Jobs load
their resources (reference, zones, keyring, table) once when created, so a worker process, a
Dask partition or a Spark task builds one job and maps it over many rows.
"""

from __future__ import annotations

from addrcode.records import PRECISIONS  # records is light: no numpy, pyproj or click

ADDRESS_FIELDS = ["number", "predir", "street", "suffix", "postdir", "unit_type", "unit_id", "po_box",
                  "rural_route", "city", "state", "postcode", "zip4", "leftover"]


def status_text(record: dict, value: str) -> str:
    """The text-format line: the value when ok, else `<status>: <reason>` (one line per record)."""
    if record.get("status") == "ok":
        return value
    return f"{record.get('status')}: {record.get('reason', '')}"


class NormalizeJob:
    """`addrcode normalize`: text -> canonical line + components."""

    fields = ["status", "reason", "line", *ADDRESS_FIELDS, "warnings"]

    def __init__(self, locale: str = "us"):
        from addrcode import normalize  # here, not at module level: `resolve` starts without it

        self.locale = locale
        self._normalize = normalize

    def __call__(self, query) -> dict:
        n = self._normalize
        if isinstance(query, dict):  # components: number, street, unit, city, state, postcode
            address = n.normalize_fields(locale=self.locale, **query)
        else:
            address = n.normalize(query, locale=self.locale)
        has_street = bool(address.street or address.po_box or address.rural_route)
        if has_street:
            status, reason = "ok", ""
        else:
            status = "rejected"
            reason = "empty input" if not _query_text(query).strip() else "no street or PO box found"
        out = {"status": status, "reason": reason, "line": n.canonical_line(address, self.locale)}
        for name in ADDRESS_FIELDS:
            out[name] = getattr(address, name)
        out["warnings"] = list(address.warnings)
        return out

    @staticmethod
    def text(record: dict) -> str:
        return status_text(record, record.get("line", ""))


def _query_text(query) -> str:
    return " ".join(query.values()) if isinstance(query, dict) else query


# --------------------------------------------------------------------------- resources


def reference_path(config, notify=None):
    """The configured reference, or the embedded demo reference of the locale, built once into the cache
    directory (said on stderr through `notify`: it is demo data, not the user's region)."""
    from pathlib import Path

    from addrcode.errors import DataError

    if config.reference is not None:
        if not Path(config.reference).is_file():
            raise DataError(f"{config.reference}: reference not found; build one with "
                            "`addrcode reference build SRC.csv -o REF.sqlite`")
        return Path(config.reference)
    from addrcode.config import embedded
    from addrcode.geocoding.default import default_reference

    if notify is not None:
        notify(f"note: no reference configured: using the embedded demo data ({DEMO_NAMES[config.locale]}); "
               "for your own region see `addrcode init --help`")
    sources = [embedded(name) for name in EMBEDDED_REFERENCES[config.locale]]
    if len(sources) == 1 and config.locale == "us":
        return default_reference(config.cache(), notify, source=sources[0])
    return default_reference(config.cache(), notify, sources=sources, locale=config.locale)


# The embedded reference sources of each locale (under data/), built once into the cache directory.
EMBEDDED_REFERENCES = {
    "us": ["vt-e911/vt_e911_addresses_oa.csv.gz"],
    "au": ["au/vicmap_ycb_addresses_oa.csv.gz", "au/nsw_bml_addresses_oa.csv.gz"],
}
EMBEDDED_ZONES = {"us": "vt-zones.geojson", "au": "au/au-zones.geojson"}
DEMO_NAMES = {"us": "Vermont", "au": "two Australian areas"}


def open_geocoder(config, notify=None):
    from addrcode.geocoding.geocoder import Geocoder

    return Geocoder(reference_path(config, notify), cache_size=config.cache_size)


def zones_path(config, notify=None):
    """The configured zones file, or the embedded demo zones when the demo reference is in use too.

    A reference of one's own with no zones is an error, not the Vermont zones: they would reject every
    address of another region as "outside every delivery zone" (or route it to a Vermont sort center)."""
    from pathlib import Path

    from addrcode.errors import DataError

    if config.zones is not None:
        if not Path(config.zones).exists():
            raise DataError(f"{config.zones}: zones file not found; build it with `addrcode zones build --by "
                            f"postcode -o {config.zones}` (or fix `zones` in the config / --zones)")
        return Path(config.zones)
    if config.reference is not None and not _is_cached_default(config):
        raise DataError(f"no delivery zones configured for the reference {config.reference}: build them with "
                        "`addrcode zones build --by postcode -o zones.geojson`, then pass --zones zones.geojson "
                        "or set `zones` in addrcode.toml (the embedded demo zones cover Vermont only)")
    from addrcode.config import embedded

    if notify is not None:
        notify(f"note: no zones configured: using the embedded demo zones ({DEMO_NAMES[config.locale]})")
    return embedded(EMBEDDED_ZONES[config.locale])


def _is_cached_default(config) -> bool:
    """Whether `config.reference` is the embedded demo reference built into the cache directory
    (what `prepare_config` hands to worker processes)."""
    from pathlib import Path

    try:
        return Path(config.reference).resolve().parent == Path(config.cache()).resolve()
    except OSError:
        return False


def open_zones(config, notify=None):
    """The zones of `zones_path`, loaded; repaired polygons are reported."""
    from addrcode.zones import load_zones

    zones = load_zones(zones_path(config, notify))
    if zones.repairs and notify is not None:
        shown = ", ".join(zones.repairs[:10]) + (" ..." if len(zones.repairs) > 10 else "")
        notify(f"warning: {zones.path}: {len(zones.repairs)} invalid zone polygons repaired: {shown}")
    return zones


def open_keyring(config, notify=None):
    """The configured keyring, or the packaged demo keyring (with a warning through `notify`)."""
    from addrcode.codes.keyring import load_keyring
    from addrcode.config import embedded

    ring = load_keyring(config.keyring or embedded("demo-keyring.json"))
    if ring.is_demo and notify is not None:
        notify("warning: using the DEMO keyring: its codes are NOT private (anyone can decode them). "
               "Create your own with `addrcode key new FILE` and pass --keyring FILE.")
    return ring


def open_grid(config):
    """The configured grid, checked now (an unknown or non-metric CRS is one usage error, not one per row)."""
    from addrcode.grid import Grid

    grid = Grid(crs=config.crs, cell_size_m=config.cell_size_m)
    grid.check()
    return grid


def _geocode_query(geocoder, query):
    if isinstance(query, dict):
        return geocoder.geocode_fields(**query)
    return geocoder.geocode(query)


def _round(value, digits):
    return None if value is None else round(value, digits)


def prepare_config(command: str, config, notify=None):
    """Resolve the embedded defaults that are built on first use (reference, station table) once, here,
    so that worker processes receive plain paths and never race to build them."""
    from dataclasses import replace

    if command == "geocode":
        return replace(config, reference=reference_path(config, notify))
    if command == "encode":  # zones first: they depend on whether a reference is configured
        zones = zones_path(config, notify)
        return replace(config, zones=zones, reference=reference_path(config, notify))
    if command == "decode":
        return replace(config, zones=zones_path(config, notify))
    if command == "resolve":
        table, public_key = table_paths(config, notify)
        return replace(config, table=table, public_key=public_key)
    return config


DEMO_TABLE_WARNING = ("DEMO: using the packaged demo station table and demo key: both are public, so these codes "
                      "are not private and anyone can make a table this station accepts")


def table_paths(config, notify=None, *, demo: bool = False):
    """(station table, public key): the configured ones, or with `demo` the demo table of the embedded data,
    built once into the cache directory (with the packaged demo keyring's public key).

    A public key without a table is a `UsageError`, never the demo table; with neither configured the
    demo table is used only with `demo=True` (said loudly through `notify`), else `DataError`.
    """
    from pathlib import Path

    from addrcode.errors import DataError, UsageError

    if demo and (config.table is not None or config.public_key is not None or config.next_public_key is not None):
        raise UsageError("--demo uses the packaged demo table and key; it cannot be combined with a station table "
                         "or public key (given, or configured in addrcode.toml or $ADDRCODE_TABLE/PUBLIC_KEY)")
    if config.table is not None:
        if config.public_key is None:
            raise UsageError("a station table needs the public key it is signed with: --public-key FILE.pub "
                             "(or `public_key` in the config, or $ADDRCODE_PUBLIC_KEY)")
        for path, what in ((config.table, "station table"), (config.public_key, "public key")):
            if not Path(path).is_file():
                raise DataError(f"{path}: {what} not found")
        if config.next_public_key is not None and not Path(config.next_public_key).is_file():
            raise DataError(f"{config.next_public_key}: public key not found (next_public_key)")
        return Path(config.table), Path(config.public_key)
    if config.public_key is not None or config.reference is not None:
        raise UsageError("no station table configured: pass --table TABLE.sqlite (with --public-key), or set "
                         "`table` in addrcode.toml; build one with `addrcode table build -o TABLE.sqlite` "
                         "(the demo table knows only the embedded demo codes)")
    if not demo:
        raise DataError("no station table configured: pass --table TABLE.sqlite --public-key KEY.pub (or set "
                        "`table` and `public_key` in addrcode.toml), or --demo for the public demo table")
    from addrcode.config import embedded
    from addrcode.grid import Grid
    from addrcode.stations.default import default_table

    if notify is not None:
        notify(DEMO_TABLE_WARNING)
    return default_table(config.cache(), notify, reference=reference_path(config, notify),
                         zones_path=zones_path(config), keyring_path=embedded("demo-keyring.json"),
                         grid=Grid(crs=config.crs, cell_size_m=config.cell_size_m))  # unchecked: no pyproj import


def trusted_keys(config) -> tuple:
    """The public keys a station trusts: `public_key`, and `next_public_key` during a signing-key change."""
    return tuple(k for k in (config.public_key, config.next_public_key) if k is not None)


def station_trust(config, notify=None):
    """The station's `StationTrust` from the configuration: its id, pinned fingerprints and rollback state
    file (`station_state`, else the user state folder's)."""
    from addrcode.stations.trust import StationTrust, default_state_file

    return StationTrust(state_file=config.station_state or default_state_file(), station=config.station,
                        pinned=tuple(config.public_key_fingerprint or ()), notify=notify)


def open_resolver(config, notify=None):
    """The `Resolver` of the configured station table (`table_paths`), with every station check."""
    from dataclasses import replace

    from addrcode.stations.resolver import Resolver

    table, key = table_paths(config, notify)
    config = replace(config, table=table, public_key=key)
    return Resolver(table, trusted_keys(config), trust=station_trust(config, notify))


def open_sealer(config):
    """The `Sealer` of the configured delivery keys folder (`encode --seal`)."""
    from addrcode.delivery.sealer import open_sealer as sealer_of_folder
    from addrcode.errors import UsageError

    if config.delivery_keys is None:
        raise UsageError("--seal seals each parcel's delivery details to its delivery region's key: say where "
                         "the regions' public keys are, --delivery-keys DIR (or `delivery_keys` in addrcode.toml)")
    return sealer_of_folder(config.delivery_keys)


def make_job(command: str, config, options: dict | None = None, notify=None):
    """Build the job of a batch command from the configuration: the one job factory, used by the CLI,
    each worker process and the Dask/Spark engines.

    `options` are the command's own: for encode `min_precision` and `min_score` (None: the
    configuration's), `with_coords` and `seal` (the configured `delivery_keys`).
    """
    options = dict(options or {})
    if command == "normalize":
        return NormalizeJob(config.locale)
    if command == "geocode":
        return GeocodeJob(open_geocoder(config, notify))
    if command == "encode":
        min_precision = options.pop("min_precision", None) or config.min_precision
        min_score = options.pop("min_score", None)
        sealer = open_sealer(config) if options.pop("seal", False) else None
        return EncodeJob(open_geocoder(config, notify), open_zones(config, notify), open_keyring(config, notify),
                         open_grid(config), min_precision=min_precision, sealer=sealer,
                         min_score=config.min_score if min_score is None else min_score,
                         with_coords=bool(options.pop("with_coords", False)), **options)
    if command == "decode":
        return DecodeJob(open_keyring(config, notify), open_grid(config), open_zones(config, notify))
    if command == "resolve":
        from addrcode.stations.resolver import ResolveJob

        return ResolveJob(config.table, trusted_keys(config), trust=station_trust(config, notify))
    raise ValueError(f"unknown command {command}")


def job_fields(command: str, options: dict | None = None) -> list[str]:
    """The ordered output fields of `command`'s job (what `make_job(...).fields` holds), loading nothing.

    For normalize, geocode, encode and decode; a resolve job's fields depend on its station table.
    """
    if command == "normalize":
        return list(NormalizeJob.fields)
    if command == "geocode":
        return list(GeocodeJob.fields)
    if command == "encode":
        return encode_fields(bool((options or {}).get("with_coords")), bool((options or {}).get("seal")))
    if command == "decode":
        return list(DecodeJob.fields)
    raise ValueError(f"{command}: the fields are known only once the job is built (resolve: from its table)")


# --------------------------------------------------------------------------- geocode


class GeocodeJob:
    """`addrcode geocode`: text -> lon, lat, precision, score, matched reference address."""

    fields = ["status", "reason", "lon", "lat", "precision", "score", "matched", "ref_id"]

    def __init__(self, geocoder):
        self.geocoder = geocoder

    def __call__(self, query) -> dict:
        match = _geocode_query(self.geocoder, query)
        ok = match.precision != "none"
        return {"status": "ok" if ok else "rejected",
                "reason": match.reason if match.reason or ok else "no match",
                "lon": _round(match.lon, 7), "lat": _round(match.lat, 7), "precision": match.precision,
                "score": round(match.score, 3), "matched": match.matched, "ref_id": match.ref_id}

    @staticmethod
    def text(record: dict) -> str:
        if record.get("lon") is None:
            return status_text(record, "")
        return status_text(record, f"{record['lat']:.7f},{record['lon']:.7f}\t{record['precision']}\t"
                                   f"{record['score']:.3f}\t{record['matched']}")


# --------------------------------------------------------------------------- encode


_PRECISION_RANK = {p: rank for rank, p in enumerate(PRECISIONS)}

# The output fields of encode; the coordinates only with `with_coords` (privacy by default).
ENCODE_FIELDS = ("status", "reason", "code", "zone", "sort_center", "route", "precision", "score", "matched")
COORD_FIELDS = ("lon", "lat")


def encode_fields(with_coords: bool = False, seal: bool = False) -> list[str]:
    """The ordered output fields of an encode job (`sealed`: the delivery envelope, with `seal`)."""
    return list(ENCODE_FIELDS) + (list(COORD_FIELDS) if with_coords else []) + (["sealed"] if seal else [])


def precision_rank(precision: str) -> int:
    """0 for the best precision ("point"), larger is coarser (unknown: coarser than all)."""
    return _PRECISION_RANK.get(precision, len(PRECISIONS))


class EncodeJob:
    """`addrcode encode`: text -> geocode -> grid cell -> zone -> delivery code.

    A row is refused (status rejected, with the reason) when the match is coarser than
    `min_precision`, scores below `min_score`, or lands outside every delivery zone.
    Coordinates are only in the output with `with_coords` (privacy by default). With a `sealer`
    (`addrcode.delivery.sealer.Sealer`) each encoded row also gets its sealed delivery envelope, and
    a row that cannot be sealed is refused: a label without one would need the address printed.
    Queries are texts, component dicts, or `Parcel`s (an address with the details to seal).
    """

    # Cells whose zone and code are remembered. Re-deriving them is cheap (vectorised per chunk), so the
    # memo is small: memory reaches its ceiling early in a long run (benchmarks/RESULTS.md, batch).
    MEMO_CELLS = 10_000

    def __init__(self, geocoder, zones, keyring, grid, *, min_precision="interpolated", min_score=0.5,
                 with_coords=False, sealer=None):
        from addrcode.errors import UsageError

        if min_precision not in PRECISIONS:
            raise UsageError(f"--min-precision must be one of {', '.join(PRECISIONS)}")
        if not 0.0 <= min_score <= 1.0:
            raise UsageError("--min-score must be between 0 and 1")
        self.geocoder, self.zones, self.keyring, self.grid = geocoder, zones, keyring, grid
        self.epoch = keyring.active
        self.min_rank, self.min_score = precision_rank(min_precision), min_score
        self.min_precision = min_precision
        self.with_coords = with_coords
        self.sealer = sealer
        self.fields = encode_fields(with_coords, sealer is not None)
        self._cells: dict = {}  # (district, index) -> (code text, zone), at most MEMO_CELLS entries

    def __call__(self, query) -> dict:
        return self.many([query])[0]

    def many(self, queries: list) -> list[dict]:
        """Encode a chunk: geocode row by row, then cells, zones and codes for the whole chunk at once.

        The zone and code of a cell are computed once per job (memo) and vectorised over the new cells
        of each chunk, so rows sharing cells and big batches cost little beyond geocoding.
        A row whose geocoding fails gets `status=error` without affecting the others.
        """
        from addrcode.records import Parcel

        outs, placed = [], []  # placed: (position in outs, lon, lat, match reason)
        for query in queries:
            try:
                match = _geocode_query(self.geocoder, query.address if isinstance(query, Parcel) else query)
            except Exception as exc:  # a bad row is data: the rest of the chunk goes on
                from addrcode.batch.failures import internal_error

                outs.append(internal_error(exc))
                continue
            out = {"status": "rejected", "reason": "", "code": "", "zone": "", "sort_center": "", "route": "",
                   "precision": match.precision, "score": round(match.score, 3), "matched": match.matched}
            if self.with_coords:
                out["lon"], out["lat"] = _round(match.lon, 7), _round(match.lat, 7)
            if self.sealer is not None:
                out["sealed"] = ""
            outs.append(out)
            if match.precision == "none" or match.lon is None:
                out["reason"] = match.reason or "no match"
            elif precision_rank(match.precision) > self.min_rank:
                out["reason"] = f"precision {match.precision} is coarser than --min-precision {self.min_precision}"
            elif match.score < self.min_score:
                out["reason"] = f"score {match.score:.2f} below --min-score {self.min_score:g}" + (
                    f" ({match.reason})" if match.reason else "")
            else:
                placed.append((len(outs) - 1, match.lon, match.lat, match.reason))
        if placed:
            self._place(outs, placed, queries)
        return outs

    def _place(self, outs: list[dict], placed: list[tuple], queries: list) -> None:
        from addrcode.codes.scheme import encode_cell_texts
        from addrcode.zones import OUTSIDE_REASON

        district, index, valid = self.grid.cells([p[1] for p in placed], [p[2] for p in placed])
        keys = [(int(d), int(i)) if ok else None for d, i, ok in zip(district.tolist(), index.tolist(), valid.tolist())]
        new = list(dict.fromkeys(k for k in keys if k is not None and k not in self._cells))
        if new and len(self._cells) + len(new) > self.MEMO_CELLS:  # bounded memory on endless streams:
            self._cells.clear()  # start over, and then every cell of this chunk is new
            new = list(dict.fromkeys(k for k in keys if k is not None))
        if new:
            zones = self.zones.zone_of_cells(self.grid, [k[0] for k in new], [k[1] for k in new])
            for key, code, zone in zip(new, encode_cell_texts(new, self.epoch), zones):
                self._cells[key] = (code, zone)
        for (pos, _, _, reason), key in zip(placed, keys):
            out = outs[pos]
            if key is None:
                out["reason"] = "outside the grid"
                continue
            code, zone = self._cells[key]
            if zone is None:
                out["reason"] = OUTSIDE_REASON
                continue
            out.update(status="ok", reason=reason, code=code, zone=zone.id, sort_center=zone.sort_center,
                       route=zone.route)
            if self.sealer is not None:
                self._seal(out, zone, queries[pos])

    def _seal(self, out: dict, zone, query) -> None:
        from addrcode.delivery.sealer import SealRefused

        try:
            out["sealed"] = self.sealer.seal(out["code"].replace("-", ""), zone, query)
        except SealRefused as exc:
            out.update(status="rejected", reason=str(exc), code="", sealed="")

    @staticmethod
    def text(record: dict) -> str:
        return status_text(record, record.get("code", ""))


# --------------------------------------------------------------------------- decode


class DecodeJob:
    """`addrcode decode` (key holders): code -> district, cell, cell centre, current zone."""

    fields = ["status", "reason", "code", "epoch", "district", "cell_ix", "cell_iy", "cell_lon", "cell_lat",
              "zone", "sort_center", "route"]

    def __init__(self, keyring, grid, zones):
        self.keyring, self.grid, self.zones = keyring, grid, zones

    def __call__(self, query) -> dict:
        from addrcode.codes.scheme import CodeError, decode_code, parse_code
        from addrcode.grid import Cell

        text = query if isinstance(query, str) else " ".join(query.values())
        out = dict.fromkeys(self.fields, "")
        try:
            code = parse_code(text)
            decoded = decode_code(code, self.keyring, allow_revoked=True)
        except CodeError as exc:
            out.update(status="rejected", reason=f"{exc.kind}: {exc}")
            return out
        cell = Cell(decoded.district, decoded.index)
        lon, lat = self.grid.center(decoded.district, decoded.index)
        zone = self.zones.zone_of_cell(self.grid, decoded.district, decoded.index)
        status = "ok"
        reason = ""
        if self.keyring.epoch(decoded.epoch).status == "revoked":
            reason = f"epoch {decoded.epoch} is revoked"
        out.update(status=status, reason=reason, code=code.text(), epoch=decoded.epoch, district=code.prefix,
                   cell_ix=cell.ix, cell_iy=cell.iy, cell_lon=round(float(lon), 6), cell_lat=round(float(lat), 6),
                   zone=zone.id if zone else "", sort_center=zone.sort_center if zone else "",
                   route=zone.route if zone else "")
        return out

    @staticmethod
    def text(record: dict) -> str:
        return status_text(record, f"{record['code']}\tdistrict {record['district']} cell "
                                   f"({record['cell_ix']},{record['cell_iy']})\tcentre {record['cell_lat']},"
                                   f"{record['cell_lon']}\tzone {record['zone'] or '-'}")

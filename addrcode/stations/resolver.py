"""Resolve delivery codes at a sorting station: code -> destination, from a signed station table.

`Resolver(table_path, public_key)` verifies the table's signature once (every byte, see
`addrcode.stations.signing`), keeps the verified bytes open in memory, then answers each code with a dict::

    status   ok | bad-check | malformed | unknown | expired | revoked | foreign
    reason   why, for anything but ok (never echoes the input)
    code     the code as printed (PPP-EOOOO-C), when well-formed
    zone, sort_center, route, <extra zone fields>    when ok
    next_hop the sort center to send the parcel to, when foreign

Order of checks: characters and length (malformed) -> check character (bad-check: a probable
typo, caught before any lookup) -> epoch (revoked / expired / unknown epoch) -> table lookup (ok, or in a
per-station extract foreign / unknown). `ResolveJob` wraps a Resolver for the CLI batch frame.

Start-up stays light: this module imports only the code parser, `addrcode.codes.payload` and
`addrcode.stations.table` / `addrcode.stations.signing` (stdlib); the signature check imports
`cryptography`'s Ed25519 only.
"""

from __future__ import annotations

import json

from addrcode.codes.payload import clean_payload, split_sealed
from addrcode.codes.scheme import ALPHABET, CODE_LEN, DAMM, TYPED_FORMS, VALUE
from addrcode.stations.signing import open_table
from addrcode.stations.table import TO_PY32

STATUSES = ("ok", "bad-check", "malformed", "unknown", "expired", "revoked", "foreign")
BASE_FIELDS = ["status", "reason", "code", "zone", "sort_center", "route"]

# Per-code hot path, same rules as codes.normalize_code / codes.is_valid_check but with C-level
# string operations: deleting every alphabet character leaves "" for a clean code, and the Damm
# quasigroup is walked with one dict lookup per character.
_DELETE_ALPHABET = str.maketrans(dict.fromkeys(ALPHABET))
_STEP = tuple({ch: DAMM[s][v] for ch, v in VALUE.items()} for s in range(32))
_MALFORMED_CHARS = "code has a character outside the alphabet (0-9, A-Z without I L O U)"
_BAD_CHECK = "check character does not match: probable typo, re-read the code"


class Resolver:
    """A verified station table, ready to answer codes. Build once, call `resolve` many times."""

    def __init__(self, table_path, public_key, *, trust=None, preload_after: int = 2048,
                 preload_max_rows: int = 2_000_000):
        """Verify the table (`IntegrityError` if it fails) and get ready to answer.

        `public_key` is one key or a list of the keys trusted (two during a signing-key change). The
        table must also pass `addrcode.stations.trust.check_table` (not expired, not from the future;
        with `trust`, a `StationTrust`: this station's extract, no older serial, pinned keys).

        Lookups go to SQLite; once `preload_after` codes were looked up (a stream, not a single
        scan) and the table has at most `preload_max_rows` rows, the code index is loaded into a
        dict once (~0.1 s and ~100 bytes per row), which makes each lookup about 10x cheaper.
        """
        from addrcode.stations.signing import trusted_keys
        from addrcode.stations.trust import check_table

        self.db, self.info = open_table(table_path, trusted_keys(public_key, trust))
        try:
            check_table(self.info, trust)
        except BaseException:
            self.db.close()
            raise
        self._preload_after = preload_after if self.info.rows <= preload_max_rows else -1
        self._lookups = 0
        self._index = None
        db = self.db
        self.epochs = dict(db.execute("SELECT id, status FROM epochs"))
        self.destinations = {}
        extra = []
        for idx, zone, sc, route, fields in db.execute("SELECT idx, zone, sort_center, route, fields FROM zones"):
            dest = {"zone": zone, "sort_center": sc, "route": route}
            for k, v in json.loads(fields).items():
                if k not in dest and k not in BASE_FIELDS:
                    dest[k] = v
                    if k not in extra:
                        extra.append(k)
            self.destinations[idx] = dest
        self.extra_fields = extra
        self.next_hops = {p: (sc, json.loads(all_)) for p, sc, all_ in
                          db.execute("SELECT prefix, sort_center, sort_centers FROM next_hop")}
        self.station = self.info.station
        self._lookup = db.cursor()

    @property
    def fields(self) -> list[str]:
        """Output fields, in order: status, reason, code, zone, sort_center, route, extras, next_hop."""
        return BASE_FIELDS + self.extra_fields + ["next_hop"]

    def close(self) -> None:
        """Release the in-memory table."""
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def resolve(self, text: str) -> dict:
        """Answer one code (see the module docstring for statuses and fields)."""
        compact = str(text).strip().upper().translate(TYPED_FORMS)
        if compact.translate(_DELETE_ALPHABET):
            return {"status": "malformed", "reason": _MALFORMED_CHARS}
        if len(compact) != CODE_LEN:
            if not compact:
                return {"status": "malformed", "reason": "empty input"}
            return {"status": "malformed",
                    "reason": f"a code has {CODE_LEN} characters (not counting separators); got {len(compact)}"}
        state = 0
        for ch in compact:
            state = _STEP[state][ch]
        if state:  # checked before any lookup: a typo must never resolve to someone else's zone
            return {"status": "bad-check", "reason": _BAD_CHECK}
        code = f"{compact[:3]}-{compact[3:8]}-{compact[8]}"
        epoch = compact[3]
        status = self.epochs.get(epoch)
        if status == "revoked":
            return {"status": "revoked", "reason": f"key epoch {epoch} is revoked: this code is no longer valid",
                    "code": code}
        if status == "expired":
            return {"status": "expired", "code": code,
                    "reason": f"key epoch {epoch} is not in this table's acceptance window: the label is older "
                              "than the window (expired), or was not made by this carrier"}
        if status is None:
            return {"status": "unknown", "code": code,
                    "reason": f"key epoch {epoch} is not known to this table (table too old? install the current one)"}
        body = int(compact[:8].translate(TO_PY32), 32)
        if self._index is not None:
            zone = self._index.get(body)
        else:
            row = self._lookup.execute("SELECT zone FROM codes WHERE body = ?", (body,)).fetchone()
            zone = None if row is None else row[0]
            self._lookups += 1
            if self._lookups == self._preload_after:
                self._index = dict(self.db.execute("SELECT body, zone FROM codes"))
        if zone is not None:
            out = {"status": "ok", "reason": "", "code": code}
            out.update(self.destinations[zone])
            return out
        if self.station != "all":
            hop = self.next_hops.get(body >> 25)
            if hop is not None:
                others = [sc for sc in hop[1] if sc != self.station]
                if others:
                    return {"status": "foreign", "code": code, "next_hop": others[0],
                            "reason": f"not a code of station {self.station}; next hop {others[0]}"}
        return {"status": "unknown", "code": code, "reason": "well-formed code that was never issued (check the label)"}

    __call__ = resolve


class ResolveJob:
    """`addrcode resolve`: code -> destination, one record per input line (a job for `addrcode.batch.runner`)."""

    def __init__(self, table_path, public_key, *, trust=None):
        self.resolver = Resolver(table_path, public_key, trust=trust)
        self.fields = self.resolver.fields

    @property
    def info(self):
        """The verified table's `TableInfo` (serial, station, epochs...) for the CLI to report."""
        return self.resolver.info

    def __call__(self, query) -> dict:
        if isinstance(query, dict):  # CSV input with component columns: take the first non-empty value
            query = next((v for v in query.values() if v), "")
        # What a barcode scanner types: AIM symbology prefix, a `CODE:` label, CR/LF/STX/ETX framing.
        # A sealed label's QR also holds the delivery envelope: a sorting center reads the code only.
        return self.resolver.resolve(split_sealed(clean_payload(query))[0])

    @staticmethod
    def text(record: dict) -> str:
        """`--format text`: ``CODE<TAB>zone<TAB>sort_center<TAB>route`` when ok, else ``status: reason``."""
        status = record.get("status")
        if status == "ok":
            return "\t".join(str(record.get(k, "")) for k in ("code", "zone", "sort_center", "route"))
        if status == "foreign":
            return f"foreign: next hop {record.get('next_hop', '')}"
        return f"{status}: {record.get('reason', '')}"

    def close(self) -> None:
        """Release the table."""
        self.resolver.close()


def resolve_codes(table_path, public_key, codes) -> list[dict]:
    """Resolve an iterable of codes with one verification of the table (convenience for scripts)."""
    with Resolver(table_path, public_key) as r:
        return [r.resolve(c) for c in codes]


__all__ = ["Resolver", "ResolveJob", "resolve_codes", "STATUSES"]

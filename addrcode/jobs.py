"""The record functions behind each batch command.

A job is a callable `job(query) -> dict` (query: one-line text, or a dict of address components)
with the ordered output `fields` and a `text(record)` renderer for `--format text`. Jobs load
their resources (reference, zones, keyring, table) once when created, so a worker process, a
Dask partition or a Spark task builds one job and maps it over many rows.
"""

from __future__ import annotations

from addrcode.records import Address

ADDRESS_FIELDS = ["number", "predir", "street", "suffix", "postdir", "unit_type", "unit_id", "po_box",
                  "rural_route", "city", "state", "postcode", "zip4", "leftover"]


def status_text(record: dict, value: str) -> str:
    """The text-format line: the value when ok, else `<status>: <reason>` (one line per record)."""
    if record.get("status") == "ok":
        return value
    return f"{record.get('status')}: {record.get('reason', '')}"


def parse_query(query, locale: str = "us") -> Address:
    """Normalize a query: a one-line text or a dict of components (number, street, city, state, postcode)."""
    from addrcode.normalize import normalize, normalize_fields

    if isinstance(query, dict):
        return normalize_fields(locale=locale, **query)
    return normalize(query, locale=locale)


class NormalizeJob:
    """`addrcode normalize`: text -> canonical line + components."""

    fields = ["status", "reason", "line", *ADDRESS_FIELDS, "warnings"]

    def __init__(self, locale: str = "us"):
        self.locale = locale

    def __call__(self, query) -> dict:
        address = parse_query(query, self.locale)
        has_street = bool(address.street or address.po_box or address.rural_route)
        if has_street:
            status, reason = "ok", ""
        else:
            status = "rejected"
            reason = "empty input" if not _query_text(query).strip() else "no street or PO box found"
        out = {"status": status, "reason": reason, "line": address.line()}
        for name in ADDRESS_FIELDS:
            out[name] = getattr(address, name)
        out["warnings"] = list(address.warnings)
        return out

    @staticmethod
    def text(record: dict) -> str:
        return status_text(record, record.get("line", ""))


def _query_text(query) -> str:
    return " ".join(query.values()) if isinstance(query, dict) else query

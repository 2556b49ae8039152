"""The record types every stage passes along.

Frozen dataclasses: one type per stage output, behind every output format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Address:
    """A parsed, normalized address. Empty string means "not present".

    Values are upper case, USPS Publication 28 abbreviations (`ST`, `N`, `APT`, `VT`).
    """

    number: str = ""  # house number as written: "12", "12A", "18 1/2", "12-14"
    predir: str = ""  # "N", "SW" ...
    street: str = ""  # street name without directionals/suffix: "COLLEGE", "VT ROUTE 12A", "1ST"
    suffix: str = ""  # Pub 28 C1 standard abbreviation: "ST", "AVE"
    postdir: str = ""
    unit_type: str = ""  # Pub 28 C2 designator: "APT", "STE", "UNIT", "#"
    unit_id: str = ""
    po_box: str = ""  # box number of "PO BOX 12"
    rural_route: str = ""  # "RR 2" / "HC 1" route, with its box in po_box
    city: str = ""
    state: str = ""  # two-letter code
    postcode: str = ""  # ZIP5
    zip4: str = ""
    leftover: str = ""  # text that could not be placed
    warnings: tuple[str, ...] = field(default=())

    def street_line(self) -> str:
        """`12 N MAIN ST APT 3` (or `PO BOX 5`)."""
        parts = [self.number, self.predir, self.street, self.suffix, self.postdir]
        if self.unit_type or self.unit_id:
            parts += [self.unit_type, self.unit_id]
        line = " ".join(p for p in parts if p)
        if self.rural_route:
            line = " ".join(p for p in [line, self.rural_route, "BOX " + self.po_box if self.po_box else ""] if p)
        elif self.po_box:
            line = " ".join(p for p in [line, "PO BOX " + self.po_box] if p)
        return line

    def line(self) -> str:
        """The canonical one-line form: `637 COLLEGE ST, MIDDLEBURY, VT 05753`."""
        zipcode = self.postcode + ("-" + self.zip4 if self.zip4 else "")
        last = " ".join(p for p in [self.state, zipcode] if p)
        return ", ".join(p for p in [self.street_line(), self.city, last] if p)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d


def reason_kind(reason: str) -> str:
    """The group a reason is counted under in the summary: line numbers, scores and details in
    parentheses dropped ("line 7: 2 cells, expected 3" -> "2 cells, expected 3")."""
    if reason.startswith("line "):
        reason = reason.split(": ", 1)[-1]
    if reason.startswith("score "):
        return "score below --min-score"
    if reason.startswith("outside the reference: postcode "):  # the postcode is part of an address
        return "outside the reference: postcode"
    return reason.split(" (", 1)[0][:80] or "unknown"


DETAIL_FIELDS = ("name", "phone", "notes")
"""Delivery details sealed with the address by `encode --seal` (each from an input column)."""


@dataclass(frozen=True)
class Parcel:
    """An address to encode together with the delivery details sealed with it (`encode --seal`).

    `address` is the query as the geocoder takes it: a one-line text or a dict of components."""

    address: str | dict
    name: str = ""
    phone: str = ""
    notes: str = ""


PRECISIONS = ("point", "interpolated", "street", "postcode", "locality", "none")
"""Geocode precision levels, best first (`--min-precision` compares by this order)."""


@dataclass(frozen=True)
class Match:
    """Where an address landed in the reference, and how sure we are.

    `precision` is one of PRECISIONS; `score` in [0, 1] is calibrated (see README): among
    results with score >= 0.9, at least 98 % are within 50 m of the truth on the test set.
    """

    precision: str = "none"
    score: float = 0.0
    lon: float | None = None
    lat: float | None = None
    matched: str = ""  # canonical line of the reference address matched
    ref_id: str = ""  # reference ID of the matched point (empty unless precision is point)
    reason: str = ""  # why the score is low / what went wrong ("ambiguous: 2 streets", "no such street")
    address: Address | None = None  # the normalized query


# Records built on the geocoder's hot path (several per query): filling the instance dict directly
# costs a third of the frozen dataclass's field-by-field `__init__`; the result is the same object
# (tests/test_records.py compares them with the real constructors).
_new = object.__new__
_setattr = object.__setattr__
_MATCH_DEFAULTS = {f: getattr(Match, f) for f in Match.__dataclass_fields__}
_ADDRESS_DEFAULTS = {f: "" for f in Address.__dataclass_fields__ if f != "warnings"}


def quick_match(**fields) -> Match:
    """`Match(**fields)`, faster (no validation: the fields must be Match's)."""
    m = _new(Match)
    d = dict(_MATCH_DEFAULTS)
    d.update(fields)
    _setattr(m, "__dict__", d)
    return m


def quick_address(**fields) -> Address:
    """`Address(**fields)`, faster (no validation: the fields must be Address's)."""
    a = _new(Address)
    d = dict(_ADDRESS_DEFAULTS)
    d.update(fields)
    d.setdefault("warnings", ())
    _setattr(a, "__dict__", d)
    return a

"""US numbered highways: a designation and a route number -> one canonical spelling.

USPS Publication 28 keeps a highway's designation in the primary street name (§237): `US HWY 50`,
`STATE HWY 342`, `FM 544`, `CR 3668`, `HWY A1A`, `INTERSTATE 89` are different kinds of road and the
line says which. Only the spelling of the designation is made canonical, from the designation table
(`data/abbreviations/street-forms/designations.csv`, from Pub 28 C1, libpostal's and Mapbox's
dictionaries): `HIGHWAY`/`HIWAY` -> `HWY` (Pub 28 C1), `COUNTY ROAD`/`CO RD` -> `CR`, `FARM TO MARKET
ROAD` -> `FM`. After the number a route qualifier (`BUSINESS` -> `BUS`, `BYPASS` -> `BYP`) belongs to
the highway.

A state name or code before the number (`NC-107`, `VT RTE 12A`, `North Carolina Highway 107`) is a
state highway of that state; any state of Pub 28's state table can be one. A bare code takes the word
the state's numbered highways are written with (`state_route_words.csv`), `HWY` when the table has no
row: `NC HWY 107`. A state whose address authority writes all its numbered highways one way has them
written that way, whatever the input said (Vermont's E911: `VT ROUTE 100`, `US ROUTE 7`, `ROUTE 2`),
so its canonical lines match its reference. Codes that also begin a designation (`FM` Farm to Market
and the Federated States of Micronesia, `PR` private road and Puerto Rico, `CO` as in `CO RD`) are
read as a state only in an address of that state.
"""

from __future__ import annotations

import re

from addrcode.normalize.tables import USTables

# a route number: `12`, `12A`, `A1A` (Florida), `17-92` (two routes sharing a road, Florida)
ROUTE_ID = re.compile(r"(?:\d{1,4}[A-Z]?|[A-Z]\d{1,3}[A-Z]?)(?:-\d{1,4}[A-Z]?)?$")
# county highways may be lettered (Wisconsin `CTH K`, `COUNTY HWY AA`); a directional is not a letter
_LETTERS = re.compile(r"[A-Z]{1,2}$")
_DIRECTIONS = frozenset("N S E W NE NW SE SW".split())
_WORD_KINDS = ("highway", "route")  # designations that may follow a state name: `VT RTE 12A`, `NC HWY 107`
_NOT_AFTER_TOWN = ("highway", "route")  # `TOWN HWY 5` is a town highway, not `HWY 5`


def designation_at(t, i: int, e: int, tb: USTables):
    """The longest designation spelling at t[i] -> (designation, kind, next index), or None."""
    lengths = tb.designation_lengths.get(t[i])
    if lengths is None:
        return None
    for k in lengths:
        if i + k <= e:
            d = tb.designations.get((t[i],) if k == 1 else tuple(t[i:i + k]))
            if d is not None:
                return d[0], d[1], i + k
    return None


def _route_id(t, j: int, e: int, kind: str) -> str:
    if j >= e:
        return ""
    tok = t[j]
    if ROUTE_ID.match(tok) or (kind == "county" and _LETTERS.match(tok) and tok not in _DIRECTIONS):
        return tok
    return ""


def _qualified(t, j: int, e: int, tb: USTables, form: str):
    """(next index, form) with a route qualifier after the number taken in (`US HWY 17 BUS`)."""
    q = tb.qualifiers.get(t[j]) if j < e else None
    return (j + 1, form + " " + q) if q is not None else (j, form)


def _state_code(t, i: int, e: int, tb: USTables):
    """A state name or code at t[i] (`VT`, `VERMONT`, `NORTH CAROLINA`) -> (code, next index), or None."""
    lengths = tb.state_first.get(t[i], ())
    if lengths == (1,):  # the usual case: a code or one-word name
        code = tb.states.get(t[i])
        return (code, i + 1) if code is not None else None
    for k in lengths:
        if i + k <= e:
            code = tb.states.get(t[i] if k == 1 else " ".join(t[i:i + k]))
            if code is not None:
                return code, i + k
    return None


def state_highway(t, i: int, e: int, tb: USTables, state: str = ""):
    """`VT 12A`, `VT-12A`, `Vermont Route 12A`, `NC Hwy 107` at t[i] -> (next index, canonical), or None."""
    found = _state_code(t, i, e, tb)
    if found is None:
        return None
    code, j = found
    # `FM`, `PR`, `CO`: a code that also begins a designation is that state only in its own addresses
    if len(t[i]) < 2 or (code in tb.designation_lengths and code != state):
        return None
    word = tb.route_word_forms.get(t[j], "") if j < e else ""  # `VT RTE 12A`, `NC HWY 107`
    if word:
        j += 1
    num = _route_id(t, j, e, "state")
    if not num:
        return None
    word = tb.route_words.get(code) or word or "HWY"
    return _qualified(t, j + 1, e, tb, f"{code} {word} {num}")


def _form(designation: str, kind: str, tb: USTables, state: str) -> str:
    """The canonical designation, in the state's own style when its table row says so."""
    own = tb.route_words.get(state) if state else None
    if kind == "us":
        return "US " + (own or ("HWY" if designation == "US" else designation[3:]))
    if own is None:
        return designation
    if kind == "state":
        return f"{state} {own}"
    return own if kind in _WORD_KINDS else designation


def highway(t, i: int, e: int, tb: USTables, state: str = ""):
    """A numbered highway at t[i] -> (next index, canonical form), or None (see the module doc).

    `state`: the address's state code ("" when unknown); it picks the state's own style and lets an
    ambiguous code (`PR 52` in Puerto Rico) be read as that state.
    """
    if i + 1 >= e:
        return None
    tok, nxt = t[i], t[i + 1]
    # the cheap test first: most words that can start a highway ("ST", "NORTH", "STATE") do not; after
    # a whole designation or state a route number must follow (`12`, `A1A`, a county letter `K`)
    if nxt not in tb.highway_next.get(tok, ()) and not (
            tok in tb.highway_alone and (nxt[0].isdigit() or (len(nxt) <= 4 and nxt.isalnum()))):
        return None
    if tok in tb.state_first:
        h = state_highway(t, i, e, tb, state)
        if h is not None:
            return h
    d = designation_at(t, i, e, tb)
    if d is None:
        return None
    designation, kind, j = d
    if kind == "qualifier" or (kind in _NOT_AFTER_TOWN and i > 0 and t[i - 1] == "TOWN"):
        return None
    num = _route_id(t, j, e, kind)
    if not num:
        return None
    return _qualified(t, j + 1, e, tb, f"{_form(designation, kind, tb, state)} {num}")

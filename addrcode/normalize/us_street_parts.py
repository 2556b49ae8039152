"""US street parts: highway and route forms, and street words -> (predir, name, suffix, postdir)."""

from __future__ import annotations

import functools

from addrcode.normalize.tables import USTables
from addrcode.normalize.us_tokens import ORDINAL_WORDS, ROUTE_NUM, Parse

HIGHWAY_START = frozenset(
    "US U I INTERSTATE IH STATE SR SH COUNTY CR CO ROUTE RTE RT HWY HIGHWAY HIWAY HWAY VERMONT".split()
)

_ROUTE_WORDS = frozenset("ROUTE RTE RT HWY HIGHWAY HIWAY HWAY".split())
_TENS = {"TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FIFTY": 50, "SIXTY": 60, "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90}
_NAME_ABBR = {"ST": "SAINT", "MT": "MOUNT", "FT": "FORT"}  # only before another name word ("ST ALBANS RD")


def highway(t, i: int, e: int, state: str):
    """A highway form at i -> (next index, canonical name), in the Vermont E911 style.

    `VT ROUTE 12A`, `VT RTE 12A`, `VT-12A`, `State Highway 100` -> `VT ROUTE 12A` / `<ST> ROUTE 100`;
    `US 7`, `US Route 7`, `US HWY 7` -> `US ROUTE 7`; `I-89`, `Interstate 89` -> `INTERSTATE 89`;
    `Route 12A`, `RTE 12A`, `Highway 12` -> `ROUTE 12A`; `County Road 5`, `CR 5` -> `COUNTY RD 5`.
    """
    tok = t[i]
    j = i + 1

    def num_at(k):
        return k < e and ROUTE_NUM.match(t[k]) is not None

    if tok == "U" and j < e and t[j] == "S":
        tok, j = "US", j + 1
    if tok == "US":
        if j < e and t[j] in _ROUTE_WORDS:
            j += 1
        return (j + 1, "US ROUTE " + t[j]) if num_at(j) else None
    if tok in ("I", "INTERSTATE", "IH"):
        if j < e and t[j] in ("HWY", "HIGHWAY", "ROUTE", "RTE"):
            j += 1
        return (j + 1, "INTERSTATE " + t[j]) if num_at(j) else None
    if tok in ("COUNTY", "CR", "CO"):
        if j < e and t[j] in ("RD", "ROAD", "ROUTE", "RTE", "HWY", "HIGHWAY"):
            j += 1
        elif tok == "COUNTY" or tok == "CO":
            return None
        return (j + 1, "COUNTY RD " + t[j]) if num_at(j) else None
    if tok in _ROUTE_WORDS:
        if i > 0 and t[i - 1] == "TOWN":
            return None
        return (j + 1, "ROUTE " + t[j]) if num_at(j) else None
    if tok in ("STATE", "SR", "SH"):
        if j < e and t[j] in _ROUTE_WORDS:
            j += 1
        elif tok == "STATE":
            return None
        return (j + 1, (state or "STATE") + " ROUTE " + t[j]) if num_at(j) else None
    return None


def state_highway(t, i: int, e: int, states: dict):
    """`VT 12A`, `VT ROUTE 12A`, `VERMONT RTE 12A` at i -> (next index, `VT ROUTE 12A`)."""
    code = states.get(t[i])
    if code is None or i + 1 >= e:
        return None
    j = i + 1
    if t[j] in _ROUTE_WORDS:
        j += 1
    if j < e and ROUTE_NUM.match(t[j]):
        return j + 1, code + " ROUTE " + t[j]
    return None


@functools.lru_cache(maxsize=1 << 14)
def street_parts(street: str, tables: USTables, state: str = "") -> tuple[str, str, str, str]:
    """Street words -> (predir, name, suffix, postdir), USPS Pub 28 style (cached: names repeat)."""
    tb = tables
    tokens = street.split()
    out: list[str] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        h = None
        if tok in HIGHWAY_START:
            h = highway(tokens, i, n, state)
        if h is None and tok in tb.states and len(tok) >= 2 and i + 1 < n:
            # a state code or name before a route number: "VT 100", "VT RTE 12A" (not "VT FARMHOUSE RD")
            h = state_highway(tokens, i, n, tb.states)
        if h:
            out.append(h[1])
            i = h[0]
            continue
        out.append(tok)
        i += 1
    dirs = tb.directionals
    sfx = tb.suffixes
    # ordinals first, so "FIRST N" and "1ST N" read alike below
    last = len(out) - 1
    for k, w in enumerate(out):
        if w in ORDINAL_WORDS:
            out[k] = ORDINAL_WORDS[w]
        elif w in _TENS and k < last and out[k + 1] in ORDINAL_WORDS:
            unit = ORDINAL_WORDS[out[k + 1]]
            out[k + 1] = str(_TENS[w] + int(unit[:-2])) + unit[-2:]
            out[k] = ""
    out = [w for w in out if w]
    postdir = ""
    if len(out) >= 2 and out[-1] in dirs:
        prev = out[-2]
        if prev in sfx or " " in prev or prev[0].isdigit():
            postdir = dirs[out.pop()]
    suffix = ""
    if len(out) >= 2 and out[-1] in sfx:
        suffix = sfx[out.pop()]
        if suffix == "EXT" and len(out) >= 2 and out[-1] in sfx:
            out[-1] = sfx[out[-1]]  # "SOUTH STREET EXT" = "SOUTH ST EXT"
    elif len(out) >= 2 and ROUTE_NUM.match(out[-1]) and out[-2] in sfx:
        out[-2] = sfx[out[-2]]  # "PRIVATE ROAD 6" = "PRIVATE RD 6"
    predir = ""
    if len(out) >= 2 and out[0] in dirs and not (len(out) == 2 and out[1] in tb.strong_suffixes):
        predir = dirs[out.pop(0)]
    last = len(out) - 1
    for k, w in enumerate(out):
        if w in _NAME_ABBR and k < last:
            out[k] = _NAME_ABBR[w]
    return predir, " ".join(out), suffix, postdir


def step_street_parts(p: Parse) -> None:
    """Split the street into directionals, name and suffix."""
    street = p.f.pop("_street", "")
    if street:
        predir, name, suffix, postdir = street_parts(street, p.tables, p.f.get("state", ""))
        if not name and suffix:
            name, suffix = suffix, ""
        p.f["predir"], p.f["street"], p.f["suffix"], p.f["postdir"] = predir, name, suffix, postdir

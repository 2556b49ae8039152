"""US street parts: street words -> (predir, name, suffix, postdir), highways read by `us_highways`."""

from __future__ import annotations

import functools

from addrcode.normalize.tables import USTables
from addrcode.normalize.us_highways import highway
from addrcode.normalize.us_tokens import ORDINAL_WORDS, ROUTE_NUM, Parse

_TENS = {"TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FIFTY": 50, "SIXTY": 60, "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90}
_NAME_ABBR = {"ST": "SAINT", "MT": "MOUNT", "FT": "FORT"}  # only before another name word ("ST ALBANS RD")


# 4,096: the normalize stage runs on ~1 row in 6 of a batch, whose streets repeat less (45 % hits at
# 16,384, 38 % at 4,096); the larger cache grew a batch's memory by ~3 MB over its first 200,000 rows.
@functools.lru_cache(maxsize=1 << 12)
def street_parts(street: str, tables: USTables, state: str = "") -> tuple[str, str, str, str]:
    """Street words -> (predir, name, suffix, postdir), USPS Pub 28 style (cached: names repeat)."""
    tb = tables
    tokens = street.split()
    out: list[str] = []
    i = 0
    n = len(tokens)
    starts = tb.highway_starts
    while i < n:
        tok = tokens[i]
        # a numbered highway ("US 7", "VT RTE 12A", "CR 3668") becomes one word of the name
        h = highway(tokens, i, n, tb, state) if tok in starts and i + 1 < n else None
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
    # a street type written before the name ("AVENUE C", "CALLE PLAZA", "VIA ROMA"): the one word after
    # it is the name proper, never split off as a suffix or directional ("AVENUE N" is not "AVENUE" north)
    pre = tb.pretypes
    least = 2  # words needed before a suffix or postdirectional is split off: 3 after a pre type
    if out and (out[0] in pre or (out[0] in dirs and len(out) > 2 and out[1] in pre)):
        least = 3 if out[0] in pre else 4
    postdir = ""
    if len(out) >= least and out[-1] in dirs:
        prev = out[-2]
        if prev in sfx or " " in prev or prev[0].isdigit() or least > 2:  # a street type was written
            postdir = dirs[out.pop()]
    suffix = ""
    if len(out) >= least and out[-1] in sfx:
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

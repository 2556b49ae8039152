"""US secondary units, PO boxes and rural routes: recognizers over the token list.

Each `*_at(t, i, e, ...)` looks at the tokens from index i (up to e) and returns what it found with
the index after it, or None; none of them changes anything.
"""

from __future__ import annotations

from addrcode.normalize.tables import USTables
from addrcode.normalize.us_tokens import ordinal_digits

PO_START = frozenset(["PO", "POB", "POBOX", "P", "POST", "BOX", "BX"])
RR_START = frozenset(["RR", "RFD", "RURAL", "R", "HC", "HCR", "HIGHWAY", "STAR"])
BOX_START = PO_START | RR_START


def _id_like(tok: str) -> bool:
    return tok != "," and len(tok) <= 8 and (any(c.isdigit() for c in tok) or len(tok) == 1)


def po_at(t: list[str], i: int, e: int):
    """`PO BOX 12` / `P O BOX 12` / `POST OFFICE BOX 12` / `BOX 12` at i -> (box, next index)."""
    tok = t[i]
    j = i + 1
    if tok == "P":
        if j < e and t[j] == "O":
            j += 1
        else:
            return None
    elif tok == "POST":
        if j < e and t[j] in ("OFFICE", "OFF"):
            j += 1
        else:
            return None
    elif tok in ("BOX", "BX"):
        j = i
    if j < e and t[j] in ("BOX", "BX"):
        j += 1
    elif tok not in ("PO", "POB", "POBOX"):
        return None
    if j < e and t[j] in ("#", "NO", "NUMBER"):
        j += 1
    if j < e and _id_like(t[j]):
        return t[j], j + 1
    return None


def rr_at(t: list[str], i: int, e: int):
    """`RR 2 BOX 15` / `RURAL ROUTE 2` / `RFD 2` / `HC 1 BOX 5` at i -> (route, box, next index)."""
    tok = t[i]
    nxt = t[i + 1] if i + 1 < e else ""
    if tok in ("RR", "RFD"):
        kind, j = "RR", i + 1
    elif tok == "R" and nxt == "R":
        kind, j = "RR", i + 2
    elif tok == "RURAL" and nxt in ("ROUTE", "RTE", "RT"):
        kind, j = "RR", i + 2
    elif tok in ("HC", "HCR"):
        kind, j = "HC", i + 1
    elif (tok == "HIGHWAY" and nxt == "CONTRACT") or (tok == "STAR" and nxt in ("ROUTE", "RTE")):
        kind, j = "HC", i + 2
    else:
        return None
    if j < e and t[j] in ("#", "NO"):
        j += 1
    if not (j < e and t[j].isdigit() and len(t[j]) <= 4):
        return None
    route = kind + " " + t[j].lstrip("0") if t[j].strip("0") else kind + " " + t[j]
    j += 1
    box = ""
    k = j + 1 if j < e and t[j] == "," else j
    if k < e and t[k] in ("BOX", "BX"):
        k += 1
        if k < e and t[k] in ("#", "NO"):
            k += 1
        if k < e and _id_like(t[k]):
            box = t[k]
            j = k + 1
    return route, box, j


def unit_at(t: list[str], i: int, e: int, tb: USTables, allow_all: bool):
    """A secondary unit at i (`APT 3`, `# 2B`, `3RD FLOOR`, `REAR`) -> (designator, id, next index)."""
    tok = t[i]
    nxt = t[i + 1] if i + 1 < e else ""
    if nxt in ("FL", "FLOOR", "FLR") and not (i + 2 < e and _id_like(t[i + 2])):  # not "1ST FL 2"
        digits = ordinal_digits(tok)
        if digits:
            return "FL", digits, i + 2
    u = tb.units.get(tok)
    if u is None:
        return None
    desig, needs_id, early = u
    if not (early or allow_all):
        return None
    j = i + 1
    if desig != "#" and j < e and t[j] in ("#", "NO", "NUMBER"):
        j += 1
    if j < e and _id_like(t[j]) and t[j] not in tb.suffixes:
        uid = t[j]
        if desig == "FL":
            uid = ordinal_digits(uid) or uid
        return desig, uid, j + 1
    if desig == "FL" and j < e and ordinal_digits(t[j]):
        return "FL", ordinal_digits(t[j]), j + 1
    if not needs_id:
        return desig, "", i + 1
    return None

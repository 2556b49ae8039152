"""US street line: where the street starts (house number, PO box, rural route) and where it stops.

`step_start` finds the anchor and drops recipient text before it; `step_street_end` decides where the
street ends and the city begins, then hands the rest to the last-line reader.
"""

from __future__ import annotations

import re

from addrcode.normalize.tables import USTables
from addrcode.normalize.us_highways import highway
from addrcode.normalize.us_lastline import canonical_city, parse_after_street
from addrcode.normalize.us_tokens import FRACTION, ROUTE_NUM, Parse
from addrcode.normalize.us_units import BOX_START, PO_START, RR_START, po_at, rr_at, unit_at

# `12`, `12A`, `A12`, `12-14`, and the Wisconsin / Illinois grid numbers `N56W26530`, `W156N8480`
# (Pub 28 Appendix D: alphanumeric primary numbers are kept as written, without the space)
_HOUSE = re.compile(r"(?:\d+[A-Z]?|[A-Z]\d+|\d+[A-Z]?-\d+[A-Z]?|[NS]\d+-?[EW]\d+|[EW]\d+-?[NS]\d+)$")
_GRID_PART = re.compile(r"[NSEW]\d+$")
_NOT_ANCHOR_AFTER = frozenset(
    "ROUTE RTE RT HWY HIGHWAY US I INTERSTATE IH SR SH CR STATE COUNTY BOX # NO NUMBER RR HC".split()
)
_RECIPIENT_MARKERS = frozenset(["ATTN", "ATTENTION", "C/O", "CO", "CARE", "ATT", "TO"])
_CITY_HEAD_WORDS = frozenset(
    "NORTH SOUTH EAST WEST N S E W NO SO NEW SAINT ST MOUNT MT FORT FT PORT LAKE GRAND ISLE FAIR HYDE "
    "BELLOWS SAXTONS WHITE RIVER ESSEX BARRE NEWPORT RUTLAND".split()
)
_NO_UNIT = ("", False, False)
_STANDALONE_UNIT_ABBR = frozenset("REAR FRNT UPPR LOWR BSMT LBBY PH".split())
_EXT = frozenset(["EXT", "EXTENSION", "EXTN", "EXTD"])
_DEPT_WORDS = frozenset(["DEPT", "DEPARTMENT", "OFFICE", "OFC"])  # end a company name, not a unit
_FLOOR_WORDS = ("FL", "FLOOR", "FLR")
_TOWN_HEADS = frozenset(["FORT", "MOUNT", "PORT"])  # street types that also begin town names


def step_start(p: Parse) -> None:
    """Find the anchor (house number, PO box, rural route); keep a leading unit; drop recipient text."""
    t = p.tokens
    n = len(t)
    tb = p.tables
    start = 0
    explicit = False
    if t and (t[0] in _RECIPIENT_MARKERS) and _is_recipient_marker(t):
        explicit = True
    anchor = -1
    kind = ""
    i = start
    while i < n:
        tok = t[i]
        if tok == ",":
            i += 1
            continue
        if tok[0].isdigit() or (len(tok) > 1 and tok[1].isdigit()):
            if _HOUSE.match(tok) and not (i > 0 and _blocks_anchor(t[i - 1], tb)):
                if i > start and i + 1 < n and t[i + 1] == "," and _later_house_number(t, i + 1, tb):
                    i += 1  # "Studio 54, 12 Main St": a number closing a name segment is part of the name
                    continue
                if i > start and i + 1 == n:
                    break  # a number ending the line after other words is not a house number

                anchor, kind = i, "number"
                break
        elif tok in PO_START and po_at(t, i, n):
            anchor, kind = i, "po"
            break
        elif tok in RR_START and rr_at(t, i, n):
            anchor, kind = i, "rr"
            break
        i += 1
    if anchor < 0:
        # "Shipping Dept 1909 Airport Rd": a number after a unit word is the house number when
        # nothing else is
        for i in range(start + 1, n):
            if t[i - 1] in _DEPT_WORDS and _HOUSE.match(t[i]) and i + 1 < n and t[i + 1] != ",":
                anchor, kind = i, "number"
                break
    if anchor < 0:
        _start_without_anchor(p, start, explicit)
        return
    # text before the anchor: units are kept, the rest is a recipient / company and dropped
    j = start
    dropped = False
    while j < anchor:
        if t[j] == ",":
            j += 1
            continue
        u = unit_at(t, j, anchor, tb, True)
        if u and "unit_type" not in p.f:
            p.f["unit_type"], p.f["unit_id"] = u[0], u[1]
            j = u[2]
            continue
        dropped = True
        j += 1
    if dropped and not explicit:
        p.warnings.append("leading text dropped")
    if kind == "number":
        num = t[anchor]
        k = anchor + 1
        if k < n and FRACTION.match(t[k]):
            num = num + " " + t[k]
            k += 1
        if num[0] in "NSEW":
            num, k = _grid_number(t, num, k, n)
        p.f["number"] = num
        p.pos = k
    else:
        p.pos = anchor


def _grid_number(t: list[str], num: str, k: int, n: int) -> tuple[str, int]:
    """`S64 W15640` (one grid number written in two words) or `N56-W26530` -> `S64W15640`, `N56W26530`."""
    if k < n and _GRID_PART.match(num) and _GRID_PART.match(t[k]) and (num[0] in "NS") != (t[k][0] in "NS"):
        return num + t[k], k + 1
    return num.replace("-", ""), k


def _start_without_anchor(p: Parse, start: int, explicit: bool) -> None:
    """No house number, PO box or rural route: where the street starts, and a leading unit."""
    t = p.tokens
    n = len(t)
    tb = p.tables
    if explicit:
        # "ATTN Shipping VT Route 12A ...": the street starts at a highway; else "ATTN John Smith,
        # Main St, ...": the marked segment goes; with no comma nothing is usable
        start = t.index(",") + 1 if "," in t else n
        for k in range(1, start):
            if t[k] in tb.highway_starts and highway(t, k, n, tb):
                start = k
                break
        p.warnings.append("leading text dropped")
    elif "," in t:
        # "Acme Corp, Route 100, Hyde Park": no number anywhere; the first segment with a street
        # type or highway is the street, segments before it are a name
        seg_start = 0
        for seg_end in [k for k in range(n) if t[k] == ","] + [n]:
            if _typed_street_end(t, seg_start, seg_end, tb) is not None or any(
                tb.units.get(t[k], _NO_UNIT)[2] and unit_at(t, k, seg_end, tb, False)
                for k in range(seg_start + 1, seg_end)
            ):
                if seg_start > 0 and not unit_at(t, 0, n, tb, True):
                    start = seg_start
                    p.warnings.append("leading text dropped")
                break
            seg_start = seg_end + 1
    while start < n and t[start] == ",":
        start += 1
    u = unit_at(t, start, n, tb, True) if start < n else None
    if u and u[1]:  # "Lot 5, Route 100": a unit first, then a street without a number
        p.f["unit_type"], p.f["unit_id"] = u[0], u[1]
        start = u[2]
    p.pos = start


def _later_house_number(t: list[str], j: int, tb: USTables) -> bool:
    for k in range(j + 1, min(j + 12, len(t) - 1)):  # bounded look-ahead: linear time overall
        if _HOUSE.match(t[k]) and not _blocks_anchor(t[k - 1], tb) and t[k + 1] != ",":
            return True
    return False


def _blocks_anchor(prev: str, tb: USTables) -> bool:
    # a number right after these is a route, box, unit or road number, not a house number:
    # "VT ROUTE 100", "US 7", "BOX 12", "APT 3", "PRIVATE RD 6", "VT 100", "FM 544", "CTH 12"
    return (prev in _NOT_ANCHOR_AFTER or prev in tb.suffixes or prev in tb.units or prev in tb.states
            or prev in tb.designation_lengths)


def _is_recipient_marker(t: list[str]) -> bool:
    tok = t[0]
    nxt = t[1] if len(t) > 1 else ""
    if tok == "CARE":
        return nxt == "OF"
    if tok == "CO":  # "CO RD 5" is a county road
        return nxt not in ("RD", "ROAD", "HWY", "RTE", "ROUTE") and not nxt[:1].isdigit()
    if tok == "TO":
        return nxt == ","
    return True

def step_street_end(p: Parse) -> None:
    """Decide where the street stops and the city begins; parse units, PO box and city after it."""
    if p.done:
        return
    t = p.tokens
    n = len(t)
    s = p.pos
    tb = p.tables
    if "number" not in p.f and s < n and (t[s] in PO_START or t[s] in RR_START):
        after = _po_or_rr(p, s)
        if after is None:
            pass
        else:
            # "PO Box 5, 12 Main St, ...": a street may follow the box
            s = after
            while s < n and t[s] == ",":
                s += 1
            if s < n and _HOUSE.match(t[s]) and s + 1 < n and t[s + 1] != ",":
                p.f["number"] = t[s]
                s += 1
            else:
                parse_after_street(p, s)
                return
    while s < n and t[s] == ",":
        s += 1
    try:
        e = t.index(",", s)
    except ValueError:
        e = n
    if "number" not in p.f and e == n and s < e and p.had_tail and _typed_street_end(t, s, e, tb) is None \
            and _trailing_unit(t, s, e, tb) == e and not any(x in tb.units for x in t[s:e]):
        parse_after_street(p, s)  # "Ste 100, Hyde Park, VT": no number, no street type: the town
        return
    end = _find_street_end(p, s, e)
    if end is None:
        # no suffix, no highway: "637 College Middlebury VT" — guess, and say so
        end = e
        if e - s >= 2 and e == n and p.had_tail and "number" in p.f:
            k = e - 1
            if e - s >= 3 and t[k - 1] in _CITY_HEAD_WORDS:
                k -= 1
            end = _trailing_unit(t, s, k, tb)  # "12 Center Lot 7 Saint Albans"
            p.warnings.append("street/city boundary guessed")
        elif "number" not in p.f and e == n and (p.had_tail or _city_known(p, t[s:e])):
            end = s  # "Burlington VT": a town alone
    p.f["_street"] = " ".join(t[s:end])
    parse_after_street(p, end)


def _po_or_rr(p: Parse, i: int):
    """Take a PO box or rural route at i into p.f; the index after it, or None."""
    t = p.tokens
    n = len(t)
    if t[i] in PO_START:
        po = po_at(t, i, n)
        if po:
            p.f["po_box"] = po[0]
            return po[1]
    if t[i] in RR_START:
        rr = rr_at(t, i, n)
        if rr:
            p.f["rural_route"] = rr[0]
            if rr[1]:
                p.f["po_box"] = rr[1]
            return rr[2]
    return None


def _city_known(p: Parse, toks: list[str]) -> bool:
    return bool(p.cities) and canonical_city(toks) in p.cities


def _find_street_end(p: Parse, s: int, e: int):
    """Index where the street stops in t[s:e] (e = next comma or end), or None when no rule applies."""
    t = p.tokens
    tb = p.tables
    units = tb.units
    # 1. a unit designator inside the street ends it ("12 Main St Apt 3 Burlington", "... 3rd Floor")
    floor = "FL" in t or "FLOOR" in t or "FLR" in t
    for k in range(s + 1, e):
        tok = t[k]
        if tok in units:
            if unit_at(t, k, e, tb, False):
                return k
        elif floor and k + 1 < e and t[k + 1] in _FLOOR_WORDS and unit_at(t, k, e, tb, False):
            return k
    if e < len(t):
        # a comma closes the street ("96 High Manor Parks, Waltham", "VT ROUTE 7B CENTRAL,") unless a
        # unit follows the street type inside the segment ("Boulder Lane Lot 37,", "VT ROUTE 12A REAR,")
        end = _typed_street_end(t, s, e, tb)
        if end is not None and end < e and (
            unit_at(t, end, e, tb, True)
            or (t[end] in PO_START and po_at(t, end, e))
            or (t[end] in RR_START and rr_at(t, end, e))
        ):
            return end  # "12 Main St Apt 3, ...", "12 Main St PO Box 5, ..."
        return _trailing_unit(t, s, e, tb)
    # 2. the reference's own town names (when the caller passes them)
    if p.cities:
        for k in range(max(s + 1, e - 5), e):
            if canonical_city(t[k:e]) in p.cities:
                return k
    end = _typed_street_end(t, s, e, tb)
    if end is not None:
        return end
    # 3. a unit written last ("MAIN REAR", "MAIN LOT 7": canonical lines of "Main, Rear", "Main, Lot 7")
    end = _trailing_unit(t, s, e, tb)
    if end < e:
        return end
    # 4. only weak suffixes (HILL, PARK, VIEW): the first one, unless it is the last word; FORT, MOUNT
    # and PORT with words after them begin a town more often than they end a street ("6643 ALHELI
    # FORT PIERCE")
    for k in range(s + 1, e - 1):
        if t[k] in tb.suffixes:
            return _trailing_unit(t, s, k, tb) if t[k] in _TOWN_HEADS else _after_suffix(t, k + 1, e, tb)
    if s < e and t[e - 1] in tb.suffixes:
        return e
    return None


def _trailing_unit(t: list[str], s: int, e: int, tb: USTables) -> int:
    """Start of the units / boxes that end the segment (`LOT 7`, `REAR`, `LOT 7 RR 2 BOX 15`), else e."""
    units = tb.units
    for k in range(s + 1, e):
        if t[k] in units or t[k] in BOX_START:
            j = k
            while j < e:
                u = unit_at(t, j, e, tb, True)
                if u and (u[1] or t[j] in _STANDALONE_UNIT_ABBR):
                    j = u[2]
                    continue
                box = (po_at(t, j, e) if t[j] in PO_START else None) or (
                    rr_at(t, j, e) if t[j] in RR_START else None)
                if box:
                    j = box[-1]
                    continue
                break
            if j == e:
                return k
    return e


def _typed_street_end(t: list[str], s: int, e: int, tb: USTables):
    """End of a street marked by a highway number or a strong suffix (`ST`, `ROAD`), or None."""
    # highways: "VT ROUTE 100", "US 17 BUSINESS", "I-89", "CR 3668" end at their number (and qualifier)
    starts = tb.highway_starts
    for k in range(s, min(s + 3, e)):
        h = highway(t, k, e, tb) if t[k] in starts else None
        if h:
            end = h[0]
            if any(x in tb.strong_suffixes for x in t[end : min(end + 3, e)]):
                break  # "I91 ACCESS RD": the suffix ends it
            return _after_suffix(t, end, e, tb)
    # a street type written first and a one-letter or numbered name: "AVENUE C", "CALLE 5"
    if s + 1 < e and t[s] in tb.pretypes:
        name = t[s + 1]
        if name[0].isdigit() or (len(name) == 1 and name.isalpha()):
            return _after_suffix(t, s + 2, e, tb)
    # a strong suffix after at least one name word
    for k in range(s + 1, e):
        if t[k] in tb.strong_suffixes:
            # "DEER RUN LN", "OLD TURNPIKE RD": a second street type right after belongs to the street
            # (but not "ST": "MAIN ST ST ALBANS" is Saint Albans)
            while k + 1 < e and t[k + 1] in tb.strong_suffixes and t[k + 1] not in ("ST", "MT", "FT"):
                k += 1
            return _after_suffix(t, k + 1, e, tb)
    return None


def _after_suffix(t: list[str], k: int, e: int, tb: USTables) -> int:
    """Past the suffix: `EXT`, a road number (`PRIVATE RD 6`), a postdirectional."""
    if k < e and t[k] in _EXT:
        k += 1
    if k < e and ROUTE_NUM.match(t[k]) and len(t[k]) <= 3 and (k + 1 == e or not t[k + 1][0].isdigit()):
        k += 1
    if k < e:
        d = t[k]
        if d in tb.directionals and (len(d) <= 2 or k + 1 == e):
            k += 1
    return k

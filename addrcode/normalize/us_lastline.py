"""US last line: country, ZIP / ZIP+4 and state from the end; units, boxes and city after the street."""

from __future__ import annotations

import re

from addrcode.normalize.us_tokens import ORDINAL_WORDS, Parse, ordinal_digits, pop_commas
from addrcode.normalize.us_units import BOX_START, PO_START, RR_START, po_at, rr_at, unit_at

ZIP5 = re.compile(r"\d{5}$")
ZIP9 = re.compile(r"(\d{5})-?(\d{4})$")
_COUNTRY = frozenset(["USA", "US", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA"])
_COUNTRY_LAST = frozenset(["USA", "US", "STATES", "AMERICA"])
# two-letter state codes that are also common address words: taken as the state only with evidence
_AMBIGUOUS_STATES = frozenset("CT NE FL ME OR IN MT OK HI AS DE LA CO PR MS NO SO".split()) | frozenset(
    ["WASHINGTON", "GEORGIA", "VIRGINIA", "NEVADA", "INDIANA"]
)
_CITY_ABBR = {
    "ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "MTN": "MOUNTAIN", "FT": "FORT", "N": "NORTH", "S": "SOUTH",
    "E": "EAST", "W": "WEST", "NO": "NORTH", "SO": "SOUTH", "JCT": "JUNCTION", "CTR": "CENTER", "VLG": "VILLAGE",
    "SPGS": "SPRINGS", "FLS": "FALLS", "HTS": "HEIGHTS", "TWP": "TOWNSHIP", "CY": "CITY", "BCH": "BEACH",
}


def step_tail(p: Parse) -> None:
    """Country, ZIP / ZIP+4 and state from the end of the line."""
    t = p.tokens
    while t and t[-1] == ",":
        t.pop()
    # country
    if len(t) >= 2 and t[-1] in _COUNTRY_LAST:
        for k in (4, 2, 1):
            if len(t) > k and " ".join(t[-k:]) in _COUNTRY:
                before = t[-k - 1]
                if k > 1 or before == "," or ZIP5.match(before) or ZIP9.match(before) or before in p.tables.states:
                    del t[-k:]
                    pop_commas(t)
                break
    if not t:
        return
    f = p.f
    # ZIP
    last = t[-1]
    if last[0].isdigit():
        n = len(last)
        if n == 5 and last.isdigit():
            f["postcode"] = last
            t.pop()
        elif n in (9, 10) and ZIP9.match(last):
            f["postcode"], f["zip4"] = last[:5], last[-4:]
            t.pop()
        elif n == 4 and last.isdigit() and len(t) > 2:
            prev = t[-2]
            if len(prev) == 5 and prev.isdigit():
                f["postcode"], f["zip4"] = prev, last  # "05401 1234"
                del t[-2:]
            elif prev in p.tables.states:
                # spreadsheets drop the leading zero of New England ZIPs ("5753")
                f["postcode"] = "0" + last
                p.warnings.append("ZIP code zero-padded")
                t.pop()
        while t and t[-1] == ",":
            t.pop()
    # state
    if t:
        tb = p.tables
        for k in tb.state_lengths.get(t[-1], ()):
            if k > len(t):
                continue
            name = t[-1] if k == 1 else " ".join(t[-k:])
            code = tb.states.get(name)
            if code is None:
                continue
            if k == len(t) and not ("postcode" in f or len(name) == 2):
                break  # "Washington" alone is a street or town, "VT" alone or "VT 05401" the state
            if name in _AMBIGUOUS_STATES and "postcode" not in f and (k == len(t) or not _state_evidence(p, t, k)):
                break
            f["state"] = code
            del t[-k:]
            while t and t[-1] == ",":
                t.pop()
            break
    p.had_tail = bool(f)


def _state_evidence(p: Parse, t: list[str], k: int) -> bool:
    """`CT`, `NE`, `Georgia` at the end: the state, or a street word / town (`12 Oak Ct`, `Main St NE`)?"""
    before = t[-k - 1]
    if before == ",":
        return True
    tb = p.tables
    if _town_segment_before(t, len(t) - k, tb):
        return True
    if before in tb.directionals or before in tb.units or before[0].isdigit() or ordinal_digits(before):
        return False
    # a route number or a unit earlier means the street is complete and the last word is the state,
    # even after a town ending in a street type ("12 SR 100 Lot 7 Palm Beach FL")
    end = len(t) - k - 1
    if any((tok[0].isdigit() and "/" not in tok) or (tok in tb.units and j + 1 < end)
           for j, tok in enumerate(t[1:end], 1)):
        return True
    if before in tb.suffixes:
        return False
    # a street suffix earlier: the same ("12 Main St Portland ME")
    return any(tok in tb.strong_suffixes for tok in t[1:end])


def _town_segment_before(t: list[str], end: int, tb) -> bool:
    """`6643 Alheli, Fort Pierce FL`, `12 Via Roma, Palm Beach FL`: a house number and street, a comma,
    then words without digits or units (a town, even one ending in a street type) before t[end]."""
    j = end - 1
    while j > 0 and t[j] != ",":
        j -= 1
    return 0 < j < end - 1 and any(w[0].isdigit() for w in t[:j]) and not any(
        w[0].isdigit() or w in tb.units for w in t[j + 1:end])


def parse_after_street(p: Parse, k: int) -> None:
    """After the street: units, PO box / rural route, then the city (last plain segment)."""
    t = p.tokens
    n = len(t)
    if k >= n:
        return
    tb = p.tables
    units = tb.units
    segments: list[list[str]] = []
    current: list[str] = []
    extra: list[str] = []
    i = k
    while i < n:
        tok = t[i]
        if tok == ",":
            if current:
                segments.append(current)
                current = []
            i += 1
            continue
        # only a word that can start a box, route or unit is worth a closer look
        if not current and (tok in BOX_START or tok in units or tok[0].isdigit() or tok in ORDINAL_WORDS):
            if tok in PO_START and "po_box" not in p.f:
                po = po_at(t, i, n)
                if po:
                    p.f["po_box"] = po[0]
                    i = po[1]
                    continue
            if tok in RR_START and "rural_route" not in p.f:
                rr = rr_at(t, i, n)
                if rr:
                    p.f["rural_route"], box = rr[0], rr[1]
                    if box:
                        p.f["po_box"] = box
                    i = rr[2]
                    continue
            u = unit_at(t, i, n, tb, True)
            if u:
                if "unit_type" not in p.f:
                    p.f["unit_type"], p.f["unit_id"] = u[0], u[1]
                else:  # one unit fits the record; a second one is kept as leftover, not read as a town
                    extra.extend(t[i:u[2]])
                i = u[2]
                continue
            if tok == "#":  # a "#" with nothing after it
                i += 1
                continue
        current.append(tok)
        i += 1
    if current:
        segments.append(current)
    if extra:
        p.f["leftover"] = " ".join(extra)
    if not segments:
        return
    if len(segments) == 1:
        p.f["city"] = canonical_city(segments[0])
        return
    if p.cities:
        for seg in reversed(segments):
            if canonical_city(seg) in p.cities:
                segments.remove(seg)
                segments.append(seg)
                break
    # "Burlington, Chittenden County, VT": a county is not the city
    while len(segments) > 1 and segments[-1][-1] in ("COUNTY", "CNTY", "CO"):
        segments.insert(0, segments.pop())
    p.f["city"] = canonical_city(segments[-1])
    if len(segments) > 1:
        p.f["leftover"] = " ".join([*extra, *(" ".join(s) for s in segments[:-1])])


def canonical_city(tokens) -> str:
    """`ST ALBANS` -> `SAINT ALBANS`, `E MONTPELIER` -> `EAST MONTPELIER` (USPS city names spell out)."""
    if isinstance(tokens, str):
        tokens = tokens.split()
    if len(tokens) == 1:
        return tokens[0]
    return " ".join([_CITY_ABBR.get(w, w) for w in tokens])

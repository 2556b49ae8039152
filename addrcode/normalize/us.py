"""US address rules: small steps run in order over one parse state.

The text steps (`TEXT_STEPS`) turn a free-text line into components; the field steps (`FIELD_STEPS`)
do the same for component-wise input (CSV columns, reference rows). Both share the stage modules
listed at the end.

How a line is read, right to left then left to right:
1. clean: NFKC, vulgar fractions (`12½` -> `12 1/2`, never `121`), accents and other scripts dropped,
   upper case, punctuation folded (a period between digits kept: `39.2 RD`); commas and line breaks
   kept as `,` tokens (they are real boundaries).
2. tail: country, ZIP / ZIP+4 and state are taken from the end.
3. start: the first house number (`12`, `12A`, grid `N56W26530` / `S64 W15640`), PO box or rural
   route is the anchor; a unit written before it (`Apt 3, 12 Main St`) is kept, any other text before
   it (`ATTN ...`, `c/o ...`, a name) is dropped.
4. street end: the first unit designator, comma, numbered highway (`US 17 BUSINESS`, `CR 3668`), a
   street type written first with a one-letter or numbered name (`AVENUE C`), or street suffix (strong
   ones like `ST`/`RD` before weak ones like `PARK`/`HILL` that also occur in town names) ends the
   street; a set of known city names, when the caller has one, settles the rest.
5. tail of the street (units, PO box) and city; street parts (directionals, suffix, highway forms).

The steps live in modules by stage: `us_tokens` (cleaning, tokens, parse state), `us_lastline`
(tail and city), `us_street` (start and end of the street), `us_units` (units, PO boxes, rural
routes), `us_highways` (numbered highways: designation and number), `us_street_parts` (directionals,
suffix, street types written first). This module assembles them
(`TEXT_STEPS`, `parse_fields`) and keeps the public names importable from `addrcode.normalize.us`.
"""

from __future__ import annotations

from addrcode.normalize.tables import USTables
from addrcode.normalize.us_lastline import ZIP5, ZIP9, canonical_city, parse_after_street, step_tail
from addrcode.normalize.us_street import step_start, step_street_end
from addrcode.normalize.us_street_parts import step_street_parts, street_parts
from addrcode.normalize.us_tokens import MAX_CHARS, Parse, clean_text, step_clean, tokenize
from addrcode.normalize.us_units import PO_START, RR_START, po_at, rr_at, unit_at

__all__ = [
    "MAX_CHARS", "Parse", "TEXT_STEPS", "USTables", "canonical_city", "clean_text", "parse_fields",
    "step_clean", "step_start", "step_street_end", "step_street_parts", "step_tail", "step_warnings",
    "street_parts", "tokenize",
]


def step_warnings(p: Parse) -> None:
    """Warnings that follow from what was (not) found."""
    f = p.f
    if p.done and not f:
        return
    if not f.get("street") and not f.get("po_box") and not f.get("rural_route"):
        p.warnings.append("no street found")
    elif f.get("street") and not f.get("number"):
        p.warnings.append("no house number")
    if f.get("leftover"):
        p.warnings.append("unplaced text kept in leftover")


TEXT_STEPS = (step_clean, step_tail, step_start, step_street_end, step_street_parts, step_warnings)


# ---------------------------------------------------------------------------------------------------
# Component-wise input (CSV columns, reference rows)


def parse_fields(tables: USTables, number: str, street: str, unit: str, city: str, state: str, postcode: str):
    """Parse explicit components; returns (fields dict, warnings list)."""
    if street and not (number or unit or city or state or postcode) and ("," in street or "\n" in street):
        # a whole one-line address in the street column: read it as free text
        p = Parse(street, tables)
        for step in TEXT_STEPS:
            step(p)
        return p.f, p.warnings
    warnings: list[str] = []
    f: dict[str, str] = {}
    states = tables.states
    if state:
        st = " ".join(clean_text(state, warnings).replace(",", " ").split())
        code = states.get(st)
        if code:
            f["state"] = code
        elif st:
            f["state"] = st
            warnings.append("state not recognised")
    if postcode:
        pc = "".join(clean_text(postcode, warnings).split())
        m = ZIP9.match(pc)
        if ZIP5.match(pc):
            f["postcode"] = pc
        elif m:
            f["postcode"], f["zip4"] = m.group(1), m.group(2)
        elif pc.isdigit() and len(pc) == 4:
            f["postcode"] = "0" + pc
            warnings.append("ZIP code zero-padded")
        elif pc:
            f["leftover"] = pc
            warnings.append("postcode not recognised")
    if city:
        toks = tokenize(clean_text(city, warnings), states)
        if not (state or postcode) and len(toks) > 1:
            # "Burlington, VT 05401" in the city column: take the state and ZIP out of it
            p = Parse(city, tables)
            p.tokens, p.f, p.warnings = toks, f, warnings
            step_tail(p)
            toks = p.tokens
        toks = [x for x in toks if x != ","]
        if toks:
            f["city"] = canonical_city(toks)
    if number:
        f["number"] = " ".join(x for x in clean_text(number, warnings).replace("-", " - ").split() if x != ",")
        f["number"] = f["number"].replace(" - ", "-")
    if street:
        p = Parse(street, tables)
        p.warnings = warnings
        p.tokens = tokenize(clean_text(street, warnings), states)
        p.f = f
        t = p.tokens
        n = len(t)
        s = 0
        if "number" not in f:
            step_start(p)
            s = p.pos
        if s < n and "number" not in f and t[s] in PO_START and po_at(t, s, n):
            parse_after_street(p, s)
        elif s < n and "number" not in f and t[s] in RR_START and rr_at(t, s, n):
            parse_after_street(p, s)
        else:
            end = n
            for k in range(s + 1, n):
                tok = t[k]
                if (tok in tables.units or tok[0].isdigit()) and unit_at(t, k, n, tables, False):
                    if tok in tables.units or t[k + 1] in ("FL", "FLOOR", "FLR"):
                        end = k
                        break
            toks = [x for x in t[s:end] if x != ","]
            if toks:
                f["_street"] = " ".join(toks)
            city_before = f.pop("city", None)
            if end < n:
                parse_after_street(p, end)
                extra = f.pop("city", "")
                if extra:
                    f["leftover"] = " ".join(x for x in (f.get("leftover", ""), extra) if x)
            if city_before is not None:
                f["city"] = city_before
        step_street_parts(p)
    if unit:
        toks = [x for x in tokenize(clean_text(unit, warnings), states) if x != ","]
        u = unit_at(toks, 0, len(toks), tables, True) if toks else None
        if u:
            f["unit_type"], f["unit_id"] = u[0], u[1]
        elif toks:
            f["unit_type"], f["unit_id"] = "#", " ".join(toks)
    return f, warnings

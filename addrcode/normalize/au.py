"""Australian address rules (locale `au`): small steps run in order over one parse state.

Canonical form (Australia Post / AS 4590 style, upper case, standard abbreviations)::

    2/15 SMITH ST, WENTWORTH FALLS NSW 2782        unit 2 of number 15 (`Unit 2, 15 Smith Street`, `U2 15 ...`)
    SHOP 4 15 SMITH ST, KATOOMBA NSW 2780          other flat types keep their designator
    L 3 15 SMITH ST, ...                           a level with no flat
    LOT 12 SMITH RD, ...                           a lot number instead of a house number
    43-45 FALLS RD E, ...                          a number range; `E` an AS/NZS 4819 street suffix
    PO BOX 12, KATOOMBA NSW 2780

`Address` fields: `number` (house number or range, `15`, `15A`, `43-45`), `street` (name, `SMITH`,
`GEMBROOK-LAUNCHING PLACE`), `suffix` (the street *type*, standard abbreviation: `ST`, `PDE`, `GR`),
`postdir` (the street *suffix*: `N`, `E`, `EX`, `UP` ...), `unit_type`/`unit_id` (flat type `U`, `SHOP`,
`APT`, `LOT`, or the level `L`/`FL`/`G` when no flat is given; `#` when only `2/15` was written), `po_box`,
`city` (locality), `state` (`VIC`, `NSW` ...), `postcode` (4 digits), `leftover` (a level written
together with a flat, and any text that could not be placed).

How a line is read:
1. clean: the US locale's cleaning (NFKC, case, punctuation; commas kept as boundaries); then AU tokens:
   `2/15` -> unit 2 of 15, `U2` -> `U 2`, `VIC3000` -> `VIC 3000`, `43 - 45` -> `43-45`.
2. tail: country, 4-digit postcode, state (`VIC`, `Victoria`, `N.S.W.`) from the end.
3. start: flat / level / lot designators before the number are kept (`Unit 2, 15 ...`, `Shop 4/15 ...`,
   `Level 3, 15 ...`, `Lot 12 ...`), any other text before the first house number is dropped (a name).
4. street end: the street *type* is the anchor. Without a comma the street/locality boundary is
   ambiguous (`... FALLS RD WENTWORTH FALLS`, `... DR SOUTH BOWENFELS`): when the caller passes the
   known localities (`cities`), the split leaving the longest known locality wins; else the last
   strong type followed by other words (`RD`, `STREET`; not words like `HEIGHTS`, `MOUNT`, `PARK` that
   also occur in localities), else a type ending the segment.
5. after the street: a unit written last (`15 Smith St Unit 2`), PO box, then the locality (the last
   plain segment); other segments go to `leftover`.

Never raises on odd text (the engine in `addrcode.normalize` guarantees it), idempotent on its own
output, linear time (input cut at `MAX_CHARS`, every scan bounded).
"""

from __future__ import annotations

import functools
import re

from addrcode.normalize.tables_au import LOCALITY_WORDS, NAME_WORDS, AUTables
from addrcode.normalize.us_tokens import MAX_CHARS, Parse, clean_text, pop_commas  # noqa: F401  (shared with US)

_HOUSE = re.compile(r"\d{1,6}[A-Z]?(?:-\d{1,6}[A-Z]?)?$")
_UNIT_ID = re.compile(r"(?:[A-Z]{0,2}\d{1,5}[A-Z]{0,2}|[A-Z])$")
_POSTCODE = re.compile(r"\d{4}$")
_GLUED = re.compile(
    r"^(U|UNIT|APT|F|FLAT|L|LEVEL|LVL|LOT|SHOP|SE|SUITE|STE|VILLA|G|FL)(\d{1,5}[A-Z]?)(?:/(\d.*))?$")
_STATE_PC = re.compile(r"^(VIC|NSW|QLD|SA|WA|TAS|NT|ACT)(\d{4})$")
_COUNTRY = frozenset(["AUSTRALIA", "AU", "AUS"])
_PO_WORDS = {"PO": "PO BOX", "GPO": "GPO BOX", "POB": "PO BOX", "LOCKED": "LOCKED BAG", "PRIVATE": "PRIVATE BAG",
             "CMB": "CMB", "RMB": "RMB", "RSD": "RSD"}
_LOT_WORDS = frozenset(["LOT", "ALLOTMENT"])
_NUMBER_WORDS = frozenset(["NO", "NUMBER", "#"])
_SPELLED_DIRS = frozenset("NORTH SOUTH EAST WEST CENTRAL UPPER LOWER".split())
_PLACE_HEADS = frozenset("MOUNT MT PORT PT LAKE UPPER LOWER NORTH SOUTH EAST WEST NEW CAPE POINT GLEN".split())


# ---------------------------------------------------------------------------------------------------
# Tokens


def tokenize(cleaned: str) -> list[str]:
    """Split a cleaned line into AU tokens; `/` between a unit and a number becomes its own token."""
    out: list[str] = []
    for tok in cleaned.split():
        if tok[0].isalpha() and tok[-1].isdigit():
            m = _STATE_PC.match(tok)
            if m:
                out += [m.group(1), m.group(2)]
                continue
        if "/" in tok:
            if tok == "/":
                out.append("/")
                continue
            parts = [x for x in tok.split("/")]
            head, rest = parts[0], "/".join(parts[1:])
            if len(parts) == 2 and rest and rest[0].isdigit():
                g = _GLUED.match(head) if head and head[0].isalpha() else None
                if g and not g.group(3):
                    out += [g.group(1), g.group(2), "/", rest.strip("-")]
                elif head:
                    out += [head, "/", rest.strip("-")]
                else:
                    out.append(rest)
                continue
            out += [x for x in parts if x]
            continue
        if tok[0].isalpha() and tok[-1].isalnum() and any(c.isdigit() for c in tok):
            g = _GLUED.match(tok)
            if g:
                out += [g.group(1), g.group(2)]
                continue
        if "-" in tok:
            if not tok.strip("-"):
                out.append("-")
                continue
            tok = tok.strip("-")
        out.append(tok)
    if "-" not in out and "/" not in out:
        return out
    res: list[str] = []
    i = 0
    n = len(out)
    while i < n:
        tok = out[i]
        if tok == "-":  # "43 - 45": a range; anywhere else noise
            if res and res[-1][:1].isdigit() and i + 1 < n and out[i + 1][:1].isdigit():
                res[-1] = res[-1] + "-" + out[i + 1]
                i += 2
                continue
            i += 1
            continue
        if tok == "/" and not (res and i + 1 < n and out[i + 1][:1].isdigit()):
            i += 1
            continue
        res.append(tok)
        i += 1
    return res


# ---------------------------------------------------------------------------------------------------
# Steps


def step_clean(p: Parse) -> None:
    """NFKC, case and punctuation folding (US cleaning), then AU tokens (`2/15`, `U2`, `VIC3000`)."""
    text = p.text if isinstance(p.text, str) else str(p.text)
    p.tokens = tokenize(clean_text(text, p.warnings))
    if not any(t != "," for t in p.tokens):
        p.warnings.append("empty input")
        p.done = True


def step_tail(p: Parse) -> None:
    """Country, 4-digit postcode and state from the end of the line."""
    t = p.tokens
    pop_commas(t)
    if len(t) >= 2 and t[-1] in _COUNTRY:
        t.pop()
        pop_commas(t)
    f = p.f
    if len(t) >= 2 and _POSTCODE.match(t[-1]) and t[-2] != "/":
        prev = t[-2]
        # "15 Smith St 3000" is a postcode only after a word; "Unit 2 1234" is not
        if not (prev in p.tables.units or prev in p.tables.levels or prev in _LOT_WORDS or prev in _NUMBER_WORDS
                or prev in _PO_WORDS or prev in ("BOX", "BAG")):
            f["postcode"] = t.pop()
            pop_commas(t)
    states = p.tables.states
    for k in (3, 2, 1):
        if len(t) > k:
            name = t[-1] if k == 1 else " ".join(t[-k:])
            code = states.get(name)
            # "MOUNT VICTORIA", "PORT VICTORIA": a state's name after a place word is a locality
            if code is not None and t[-k - 1] != "/" and not (name != code and t[-k - 1] in _PLACE_HEADS):
                f["state"] = code
                del t[-k:]
                pop_commas(t)
                break
    # "VIC 3000" written the other way round ("3000 VIC") after a locality
    if "postcode" not in f and len(t) >= 3 and _POSTCODE.match(t[-1]) and t[-2] not in (",", "/") \
            and "state" in f and not t[-2][0].isdigit():
        f["postcode"] = t.pop()
        pop_commas(t)
    p.had_tail = bool(f)


def _id_like(tok: str) -> bool:
    return tok not in (",", "/") and len(tok) <= 7 and _UNIT_ID.match(tok) is not None


def _designator_at(p: Parse, i: int, e: int):
    """A flat, level or lot designator with its id at i -> (kind, code, id, next index), else None.

    kind: "unit", "level" or "lot". `GROUND FLOOR` / `GROUND` stand alone.
    """
    t = p.tokens
    tok = t[i]
    tb = p.tables
    j = i + 1
    if tok in ("GROUND", "GRD", "G") and j < e and t[j] in ("FLOOR", "FLR", "FL", "LEVEL", "LVL", "L"):
        return "level", "G", "", j + 1
    if tok in _LOT_WORDS:
        if j < e and t[j] in _NUMBER_WORDS:
            j += 1
        if j < e and _id_like(t[j]):
            return "lot", "LOT", t[j], j + 1
        return None
    lvl = tb.levels.get(tok)
    unit = tb.units.get(tok)
    if lvl is None and unit is None:
        return None
    if j < e and t[j] in _NUMBER_WORDS and tok not in _NUMBER_WORDS:
        j += 1
    if j < e and _id_like(t[j]):
        uid = t[j]
        if lvl is not None and unit is None:
            return "level", lvl, uid, j + 1
        if tok == "#" or tok == "NO" or tok == "NUMBER":
            return "unit", "#", uid, j + 1
        return "unit", unit, uid, j + 1
    if lvl == "G":
        return "level", "G", "", j
    return None


def _set_designator(p: Parse, d) -> None:
    kind, code, uid = d[0], d[1], d[2]
    f = p.f
    if kind == "level":
        if "unit_type" in f and f.get("_kind") != "level":
            _leftover(p, f"{code} {uid}".strip())
            return
        if "unit_type" in f:  # a second level
            _leftover(p, f"{code} {uid}".strip())
            return
        f["unit_type"], f["unit_id"], f["_kind"] = code, uid, "level"
        return
    if "unit_type" in f and f.get("_kind") == "level":
        # "Level 3, Suite 5": the flat is what identifies the delivery point; the level goes to leftover
        _leftover(p, f"{f['unit_type']} {f['unit_id']}".strip())
    elif "unit_type" in f:
        _leftover(p, f"{code} {uid}".strip())
        return
    f["unit_type"], f["unit_id"], f["_kind"] = code, uid, kind


def _leftover(p: Parse, text: str) -> None:
    f = p.f
    f["leftover"] = (f["leftover"] + " " + text) if f.get("leftover") else text


def _po_at(t: list[str], i: int, e: int):
    """`PO BOX 12`, `P O BOX 12`, `GPO BOX 12`, `LOCKED BAG 5`, `BOX 12` at i -> (form, next index)."""
    tok = t[i]
    j = i + 1
    kind = ""
    if tok == "P" and j < e and t[j] == "O":
        kind, j = "PO BOX", j + 1
    elif tok in ("PO", "POB", "GPO"):
        kind = "GPO BOX" if tok == "GPO" else "PO BOX"
    elif tok in ("LOCKED", "PRIVATE") and j < e and t[j] == "BAG":
        return (f"{tok} BAG {t[j + 1]}", j + 2) if j + 1 < e and _id_like(t[j + 1]) else None
    elif tok in ("CMB", "RMB", "RSD"):
        return (f"{tok} {t[j]}", j + 1) if j < e and _id_like(t[j]) else None
    elif tok == "BOX":
        kind, j = "PO BOX", i
    else:
        return None
    if j < e and t[j] == "BOX":
        j += 1
    if j < e and t[j] in _NUMBER_WORDS:
        j += 1
    if j < e and _id_like(t[j]):
        return (t[j] if kind == "PO BOX" else f"{kind} {t[j]}"), j + 1
    return None


def step_start(p: Parse) -> None:
    """Find the house number (or lot / PO box); keep flat, level and lot designators; drop a leading name."""
    if p.done:
        return
    t = p.tokens
    n = len(t)
    i = 0
    after_designator = 0
    dropped = False
    while i < n:
        tok = t[i]
        if tok == "," or tok == "/":
            i += 1
            continue
        if i + 2 < n and t[i + 1] == "/" and _id_like(tok) and _HOUSE.match(t[i + 2]):  # "2/15", "2/43-45"
            _set_designator(p, ("unit", "#", tok))
            p.f["number"] = t[i + 2]
            p.pos = i + 3
            break
        if tok[0].isdigit():
            if _HOUSE.match(tok):
                # "2 15 Smith St": two numbers then a word: a flat and its building number
                if i + 2 < n and _HOUSE.match(t[i + 1]) and "-" not in tok and t[i + 2] != "," \
                        and not t[i + 2][0].isdigit() and "unit_type" not in p.f and _id_like(tok):
                    _set_designator(p, ("unit", "#", tok))
                    p.f["number"] = t[i + 1]
                    p.pos = i + 2
                    break
                if i + 1 < n or i == 0:
                    p.f["number"] = tok
                    p.pos = i + 1
                    break
            dropped = True
            i += 1
            continue
        d = _designator_at(p, i, n)
        if d is not None:
            if d[0] == "lot" and "number" not in p.f:
                _set_designator(p, d)
                i = d[3]
                # "Lot 12, 15 Smith Rd" has a number too; "Lot 12 Smith Rd" has not
                if i < n and t[i] == "/" and i + 1 < n and _HOUSE.match(t[i + 1]):
                    p.f["number"] = t[i + 1]
                    i += 2
                p.pos = i
                if not (i < n and (t[i] == "," or t[i][0].isdigit())):
                    break
                continue
            j = d[3]
            if d[0] == "unit" and j + 1 < n and t[j] == "/" and _HOUSE.match(t[j + 1]):  # "Shop 4/15", "U2/15"
                _set_designator(p, d)
                p.f["number"] = t[j + 1]
                p.pos = j + 2
                break
            _set_designator(p, d)
            i = after_designator = d[3]
            continue
        if tok in _PO_WORDS or tok in ("P", "BOX"):
            po = _po_at(t, i, n)
            if po is not None:
                p.f["po_box"] = po[0]
                p.pos = po[1]
                break
        dropped = True
        i += 1
    else:
        # no number: a street without one ("Smith St, Katoomba"), after any designators
        p.pos = after_designator
        return
    if dropped:
        p.warnings.append("leading text dropped")


def _canonical_locality(tokens) -> str:
    """`MT EVELYN` -> `MOUNT EVELYN`, `BAYSWATER NTH` -> `BAYSWATER NORTH` (official names spell out)."""
    if isinstance(tokens, str):
        tokens = tokens.split()
    if len(tokens) == 1:
        return tokens[0]
    return " ".join(LOCALITY_WORDS.get(w, w) for w in tokens)


def canonical_locality(name: str) -> str:
    """The canonical form of a locality name as `normalize` writes it (for callers' `cities` sets)."""
    return _canonical_locality(" ".join(name.upper().replace(",", " ").split()))


def _type_at(tb: AUTables, t: list[str], k: int, s: int):
    """(standard abbreviation, first index of the type words) when a street type ends at t[k], else None."""
    tok = t[k]
    ks = tb.type_lengths.get(tok)
    if ks is None:
        return None
    for m in ks:
        if m == 1:
            abbr = tb.street_types.get(tok)
            if abbr is not None:
                return abbr, k
        elif k - m + 1 > s:
            abbr = tb.street_types.get(" ".join(t[k - m + 1 : k + 1]))
            if abbr is not None:
                return abbr, k - m + 1
    return None


def _street_ends(p: Parse, s: int, e: int) -> list[tuple[int, int, bool]]:
    """Candidate ends of the street in t[s:e]: (index after the type, index after any suffix, strong)."""
    t = p.tokens
    tb = p.tables
    out = []
    for k in range(s + 1, e):
        ty = _type_at(tb, t, k, s)
        if ty is None or ty[1] <= s:
            continue
        tok = t[k]
        strong = tok in tb.strong_types and ty[1] == k or (ty[1] < k and tok in tb.strong_types)
        # "MAIN ST ST KILDA", "HIGH RD MT EVELYN": ST / MT right after a type starts the locality
        if tok in ("ST", "MT") and _type_at(tb, t, k - 1, s) is not None and k + 1 < e:
            continue
        j = k + 1
        if j < e and t[j] in tb.suffixes:
            d = t[j]
            # abbreviated suffixes (E, N, EXT) belong to the street; spelled out ones (SOUTH) only
            # when they end the segment ("SOUTH BOWENFELS" is a locality)
            if d not in _SPELLED_DIRS or j + 1 == e:
                j += 1
        out.append((k + 1, j, strong))
    return out


def _choose_end(p: Parse, s: int, e: int, last_segment: bool):
    """Index where the street stops in t[s:e] and where the locality starts, or None."""
    t = p.tokens
    ends = _street_ends(p, s, e)
    if not ends:
        return None
    if p.cities and last_segment:
        best = None
        for k, j, _strong in ends:
            for start in (k, j) if j != k else (k,):
                if start < e and _canonical_locality(t[start:e]) in p.cities:
                    if best is None or start < best[1]:
                        best = (j if start == j else k, start)
        if best is not None:
            return best
        # no type leaves a known locality ("25 VALLEY HO CHIRNSIDE PARK", "2 THE WRIDGEWAY MOUNT EVELYN"):
        # a known locality ending the segment after at least one street word
        for k in range(max(s + 1, e - 4), e):
            if _canonical_locality(t[k:e]) in p.cities:
                return k, k
    k, j, _strong = ends[-1]
    if j == e and (e < len(t) or t[k - 1] not in p.tables.full_names):
        # a type ending the segment before a comma, or written abbreviated (`RD`, `PL`: never a
        # locality word), ends the street: "GEMBROOK-LAUNCHING PLACE RD, GEMBROOK"
        return j, j
    for _k, j, strong in reversed(ends):
        if strong and j < e:
            return j, j
    k, j, _strong = ends[-1]
    if j == e:
        return j, j
    for _k, j, _strong in reversed(ends):
        if j < e:
            return j, j
    return None


def step_street_end(p: Parse) -> None:
    """Where the street stops and the locality begins (street type anchor; known localities decide)."""
    if p.done:
        return
    t = p.tokens
    n = len(t)
    s = p.pos
    while s < n and t[s] == ",":
        s += 1
    if s >= n:
        return
    if "po_box" in p.f and "number" not in p.f:
        _tail(p, s)
        return
    try:
        e = t.index(",", s)
    except ValueError:
        e = n
    # a unit written after the street ("15 Smith St Unit 2 Katoomba"): the street stops there
    for k in range(s + 1, e):
        if (t[k] in p.tables.units or t[k] in p.tables.levels) and t[k] not in ("L", "F", "G", "B", "M", "SE") \
                and _designator_at(p, k, e) is not None and _type_at(p.tables, t, k - 1, s) is not None:
            e = k
            break
    last = "," not in t[e:]
    got = _choose_end(p, s, e, last)
    if got is None and p.cities and last:
        # no street type ("19 KINGSWAY HAZELBROOK"): a known locality ending the segment settles it
        for k in range(max(s + 1, e - 4), e):
            if _canonical_locality(t[k:e]) in p.cities:
                got = (k, k)
                break
    if got is None:
        if "number" in p.f and e - s >= 2 and e == n and p.had_tail:
            # no street type: "15 Esplanade Katoomba NSW" or a type-less name; guess the last word is
            # the locality, and say so
            end = e - 1
            p.warnings.append("street/locality boundary guessed")
        else:
            end = e
        p.f["_street"] = " ".join(t[s:end])
        _tail(p, end)
        return
    end, loc_start = got
    p.f["_street"] = " ".join(t[s:end])
    _tail(p, loc_start)


def _tail(p: Parse, k: int) -> None:
    """After the street: units, PO box, then the locality (last plain segment)."""
    t = p.tokens
    n = len(t)
    segments: list[list[str]] = []
    current: list[str] = []
    i = k
    while i < n:
        tok = t[i]
        if tok == "," or tok == "/":
            if current:
                segments.append(current)
                current = []
            i += 1
            continue
        if not current:
            d = _designator_at(p, i, n)
            if d is not None:
                _set_designator(p, d)
                i = d[3]
                continue
            if tok in _PO_WORDS or tok in ("P", "BOX"):
                po = _po_at(t, i, n)
                if po is not None and "po_box" not in p.f:
                    p.f["po_box"] = po[0]
                    i = po[1]
                    continue
        current.append(tok)
        i += 1
    if current:
        segments.append(current)
    if not segments:
        return
    p.f["city"] = _canonical_locality(segments[-1])
    if len(segments) > 1:
        _leftover(p, " ".join(" ".join(s) for s in segments[:-1]))


@functools.lru_cache(maxsize=1 << 15)
def street_parts(street: str, tables: AUTables) -> tuple[str, str, str]:
    """Street words -> (name, type abbreviation, suffix code), cached (street names repeat)."""
    toks = street.split()
    suffix = ""
    if len(toks) >= 3 and toks[-1] in tables.suffixes and _type_at(tables, toks, len(toks) - 2, 0):
        suffix = tables.suffixes[toks.pop()]
    stype = ""
    if len(toks) >= 2:
        ty = _type_at(tables, toks, len(toks) - 1, 0)
        if ty is not None and ty[1] >= 1:
            stype = ty[0]
            del toks[ty[1]:]
    last = len(toks) - 1
    name = [NAME_WORDS.get(w, w) if k < last or w != "ST" else w for k, w in enumerate(toks)]
    if len(name) == 1 and name[0] in ("SAINT", "MOUNT"):
        name = toks
    return " ".join(name), stype, suffix


def step_street_parts(p: Parse) -> None:
    """Split the street into name, type (standard abbreviation) and suffix."""
    street = p.f.pop("_street", "")
    p.f.pop("_kind", None)
    if street:
        name, stype, suffix = street_parts(street, p.tables)
        p.f["street"], p.f["suffix"], p.f["postdir"] = name, stype, suffix


def step_warnings(p: Parse) -> None:
    """Warnings that follow from what was (not) found."""
    f = p.f
    f.pop("_kind", None)
    f.pop("_slash_type", None)
    if p.done and not f:
        return
    if not f.get("street") and not f.get("po_box"):
        p.warnings.append("no street found")
    elif f.get("street") and not f.get("number") and f.get("unit_type") != "LOT":
        p.warnings.append("no house number")
    if f.get("leftover"):
        p.warnings.append("unplaced text kept in leftover")


TEXT_STEPS = (step_clean, step_tail, step_start, step_street_end, step_street_parts, step_warnings)


# ---------------------------------------------------------------------------------------------------
# Component-wise input (CSV columns, reference rows)


def parse_fields(tables: AUTables, number: str, street: str, unit: str, city: str, state: str, postcode: str):
    """Parse explicit components; returns (fields dict, warnings list)."""
    if street and not (number or unit or city or state or postcode):
        p = Parse(street, tables)
        for step in TEXT_STEPS:
            step(p)
        return p.f, p.warnings
    warnings: list[str] = []
    f: dict[str, str] = {}
    if state:
        st = " ".join(clean_text(state, warnings).replace(",", " ").split())
        code = tables.states.get(st)
        if code:
            f["state"] = code
        elif st:
            f["state"] = st
            warnings.append("state not recognised")
    if postcode:
        pc = "".join(clean_text(postcode, warnings).replace(",", " ").split())
        if _POSTCODE.match(pc):
            f["postcode"] = pc
        elif pc:
            f["leftover"] = pc
            warnings.append("postcode not recognised")
    if city:
        toks = [x for x in tokenize(clean_text(city, warnings)) if x not in (",", "/")]
        if toks:
            f["city"] = _canonical_locality(toks)
    if number:
        toks = tokenize(clean_text(number, warnings))
        if len(toks) == 3 and toks[1] == "/":  # "2/15" in the number column
            f["unit_type"], f["unit_id"] = "#", toks[0]
            toks = toks[2:]
        f["number"] = " ".join(x for x in toks if x != ",")
    if street:
        p = Parse(street, tables)
        p.warnings = warnings
        p.tokens = [x for x in tokenize(clean_text(street, warnings))]
        p.f = f
        if "number" not in f:
            step_start(p)
        t = p.tokens
        s = p.pos
        toks = [x for x in t[s:] if x not in (",", "/")]
        if toks:
            p.f["_street"] = " ".join(toks)
        step_street_parts(p)
    if unit:
        toks = [x for x in tokenize(clean_text(unit, warnings)) if x not in (",", "/")]
        p = Parse(unit, tables)
        p.tokens = toks
        d = _designator_at(p, 0, len(toks)) if toks else None
        if d is not None:
            f["unit_type"], f["unit_id"] = d[1], d[2]
        elif toks:
            f["unit_type"], f["unit_id"] = "#", " ".join(toks)
    f.pop("_kind", None)
    f.pop("_slash_type", None)
    return f, warnings


# ---------------------------------------------------------------------------------------------------
# Canonical line


_SLASH_TYPES = frozenset(["#", "U", "F", "APT"])


def street_line(a) -> str:
    """`2/15 SMITH ST`, `SHOP 4 15 SMITH ST`, `LOT 12 SMITH RD`, `PO BOX 12` (AU style)."""
    number = a.number
    prefix = ""
    if a.unit_id and a.unit_type in _SLASH_TYPES and number:
        number = f"{a.unit_id}/{number}"
    elif a.unit_type or a.unit_id:
        prefix = " ".join(x for x in (a.unit_type, a.unit_id) if x)
    line = " ".join(x for x in (prefix, number, a.street, a.suffix, a.postdir) if x)
    if a.po_box:
        box = a.po_box if not a.po_box[:1].isdigit() else "PO BOX " + a.po_box
        line = " ".join(x for x in (line, box) if x)
    return line


def line(a) -> str:
    """The canonical one-line form: `2/15 SMITH ST, WENTWORTH FALLS NSW 2782`."""
    last = " ".join(x for x in (a.city, a.state, a.postcode) if x)
    return ", ".join(x for x in (street_line(a), last) if x)

"""US address rules: small steps run in order over one parse state.

The text steps (`TEXT_STEPS`) turn a free-text line into components; the field steps (`FIELD_STEPS`)
do the same for component-wise input (CSV columns, reference rows). Both share the helpers below.

How a line is read, right to left then left to right:
1. clean: NFKC, vulgar fractions (`12½` -> `12 1/2`, never `121`), accents and other scripts dropped,
   upper case, punctuation folded; commas and line breaks kept as `,` tokens (they are real boundaries).
2. tail: country, ZIP / ZIP+4 and state are taken from the end.
3. start: the first house number (or PO box / rural route) is the anchor; a unit written before it
   (`Apt 3, 12 Main St`) is kept, any other text before it (`ATTN ...`, `c/o ...`, a name) is dropped.
4. street end: the first unit designator, comma, highway number, or street suffix (strong ones like
   `ST`/`RD` before weak ones like `PARK`/`HILL` that also occur in town names) ends the street; a
   set of known city names, when the caller has one, settles the rest.
5. tail of the street (units, PO box) and city; street parts (directionals, suffix, highway forms).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from addrcode.normalize.tables import USTables

MAX_CHARS = 1000  # a real address line is < 200 characters; longer input is cut (linear-time guarantee)

# ---------------------------------------------------------------------------------------------------
# Cleaning and tokens

_ASCII_MAP = {c: " " for c in range(32)}
_ASCII_MAP.update({10: " , ", 13: " , ", 127: " "})
_ASCII_MAP.update({ord(c): " " for c in "()[]{}\"':!?*+=<>|\\~^$%@_&"})
_ASCII_MAP.update({ord("'"): "", ord("`"): "", ord("."): "", ord(","): " , ", ord(";"): " , ", ord("#"): " # "})
_ASCII_TABLE = str.maketrans(_ASCII_MAP)

_UNICODE_PUNCT = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2018": "", "\u2019": "", "\u201a": "", "\u02bc": "", "\u00b4": "",
        "\u201c": " ", "\u201d": " ", "\u00ab": " ", "\u00bb": " ",
        "\u2044": "/", "\u2215": "/", "\u00b7": " ", "\u2022": " ", "\u3001": " , ", "\uff0c": " , ",
        "\u2028": " , ", "\u2029": " , ", "\u0085": " , ", "\u00a0": " ",
    }
)
_VULGAR = re.compile("[\u00bc-\u00be\u2150-\u215e]")


def _fraction(m: re.Match) -> str:
    # "12½" -> "12 1/2": the space keeps the whole part apart (NFKC alone gives "121⁄2").
    return " " + unicodedata.normalize("NFKC", m.group()).replace("\u2044", "/") + " "


_PHONE = re.compile(r"(?:\b(?i:tel|phone|ph|cell|mobile|fax)\b[.:]?[ ]*)?(?:(?<![\d])\+?1[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]?\d{3}[ .-]\d{4}\b")
_PHONE_HINT = re.compile(r"\d{3}[ .-]\d{4}\b")
_EMAIL = re.compile(r"[^\s,;]+@[^\s,;]+")


def clean_text(text: str, warnings: list[str]) -> str:
    """Fold `text` to upper-case ASCII with `,` tokens for hard boundaries (never raises)."""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        warnings.append("input truncated")
    if "@" in text or (("-" in text or "(" in text or "." in text) and _PHONE_HINT.search(text)):
        # phone numbers and e-mail addresses pasted into an address field: not address parts
        # (the hint first: the full pattern costs ~15 us a line, the hint ~1 us)
        stripped = _EMAIL.sub(" ", text) if "@" in text else text
        stripped = _PHONE.sub(" ", stripped)
        if stripped != text:
            text = stripped
            warnings.append("phone number or e-mail removed")
    if not text.isascii():
        text = _VULGAR.sub(_fraction, text)
        text = unicodedata.normalize("NFKC", text).translate(_UNICODE_PUNCT).upper()
        if not text.isascii():
            text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
            if not text.isascii():
                kept = text.encode("ascii", "ignore").decode("ascii")
                if any(c.isalnum() for c in text if not c.isascii()):
                    warnings.append("non-Latin characters dropped")
                text = kept
    else:
        text = text.upper()
    return text.translate(_ASCII_TABLE)


_RANGE = re.compile(r"\d+[A-Z]?-\d+[A-Z]?$")  # house number range or ZIP+4
_SPLIT_PREFIX = re.compile(r"\b(RR|HC|RFD|APT|STE|UNIT|BOX|BLDG|RM|US|VT|I|SR|CR|RT|RTE|HWY|ROUTE|POB)(\d+[A-Z]?)\b")
_LETTER_DIGIT = re.compile(r"[A-Z]\d")
_HYPHEN_PREFIXES = frozenset("US I SR CR RT RTE ROUTE HWY SH".split())


def tokenize(cleaned: str, states: dict) -> list[str]:
    """Split a cleaned line into tokens; fix glued or hyphenated forms (`VT-12A`, `I89`, `12 - 14`)."""
    if _LETTER_DIGIT.search(cleaned) and _SPLIT_PREFIX.search(cleaned):  # cheap test first: rare
        cleaned = _SPLIT_PREFIX.sub(r"\1 \2", cleaned)
    tokens = cleaned.split()
    if "#" in cleaned:
        # a "#" with nothing after it ("12 Main St #, ...") says nothing
        tokens = [x for i, x in enumerate(tokens) if x != "#" or (i + 1 < len(tokens) and tokens[i + 1] != ",")]
    if "-" not in cleaned and "/" not in cleaned:
        return tokens
    out: list[str] = []
    for tok in tokens:
        if "-" in tok:
            if tok == "-" or not tok.strip("-"):
                out.append("-")
                continue
            tok = tok.strip("-")
            if _RANGE.match(tok) or "-" not in tok:
                out.append(tok)
                continue
            head, _, rest = tok.partition("-")
            if head.isdigit() and len(rest) == 1 and rest.isalpha():
                out.append(head + rest)  # "123-A" = "123A"
                continue
            if "/" in rest and head.isdigit():  # "18-1/2"
                out += [head, rest]
            elif head.isalpha() and (rest.isalpha() or head in _HYPHEN_PREFIXES or head in states):
                out += [w for w in tok.split("-") if w]  # "VT-12A", "SMITH-JONES"
            else:
                out.append(tok)  # "3-B" unit id: keep
        elif "/" in tok and tok not in ("C/O",) and not _FRACTION.match(tok):
            out += [w for w in tok.split("/") if w]
        else:
            out.append(tok)
    # a lone "-" joins two numbers into a range ("12 - 14"); anywhere else it is noise
    res: list[str] = []
    for i, tok in enumerate(out):
        if tok == "-":
            if res and res[-1].isdigit() and i + 1 < len(out) and out[i + 1].isdigit():
                res[-1] = res[-1] + "-" + out[i + 1]
                out[i + 1] = ""
            continue
        if tok:
            res.append(tok)
    return res


# ---------------------------------------------------------------------------------------------------
# Token classes

_HOUSE = re.compile(r"(?:\d+[A-Z]?|[A-Z]\d+|\d+[A-Z]?-\d+[A-Z]?)$")
_FRACTION = re.compile(r"\d{1,2}/\d{1,2}$")
_ROUTE_NUM = re.compile(r"\d{1,4}[A-Z]?$")
_ORDINAL = re.compile(r"(\d+)(?:ST|ND|RD|TH)$")
_ZIP5 = re.compile(r"\d{5}$")
_ZIP9 = re.compile(r"(\d{5})-?(\d{4})$")

_ROUTE_WORDS = frozenset("ROUTE RTE RT HWY HIGHWAY HIWAY HWAY".split())
_NOT_ANCHOR_AFTER = frozenset("ROUTE RTE RT HWY HIGHWAY US I INTERSTATE IH SR SH CR STATE COUNTY BOX # NO NUMBER RR HC".split())
_COUNTRY = frozenset(["USA", "US", "UNITED STATES", "UNITED STATES OF AMERICA", "AMERICA"])
_COUNTRY_LAST = frozenset(["USA", "US", "STATES", "AMERICA"])
_RECIPIENT_MARKERS = frozenset(["ATTN", "ATTENTION", "C/O", "CO", "CARE", "ATT", "TO"])
# two-letter state codes that are also common address words: taken as the state only with evidence
_AMBIGUOUS_STATES = frozenset("CT NE FL ME OR IN MT OK HI AS DE LA CO PR MS NO SO".split()) | frozenset(
    ["WASHINGTON", "GEORGIA", "VIRGINIA", "NEVADA", "INDIANA"]
)
_ORDINAL_WORDS = {
    "FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH", "SIXTH": "6TH",
    "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH", "ELEVENTH": "11TH",
    "TWELFTH": "12TH", "THIRTEENTH": "13TH", "FOURTEENTH": "14TH", "FIFTEENTH": "15TH",
    "SIXTEENTH": "16TH", "SEVENTEENTH": "17TH", "EIGHTEENTH": "18TH", "NINETEENTH": "19TH",
    "TWENTIETH": "20TH", "THIRTIETH": "30TH", "FORTIETH": "40TH", "FIFTIETH": "50TH",
}
_TENS = {"TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FIFTY": 50, "SIXTY": 60, "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90}
_NAME_ABBR = {"ST": "SAINT", "MT": "MOUNT", "FT": "FORT"}  # only before another name word ("ST ALBANS RD")
_CITY_ABBR = {
    "ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "MTN": "MOUNTAIN", "FT": "FORT", "N": "NORTH", "S": "SOUTH",
    "E": "EAST", "W": "WEST", "NO": "NORTH", "SO": "SOUTH", "JCT": "JUNCTION", "CTR": "CENTER", "VLG": "VILLAGE",
    "SPGS": "SPRINGS", "FLS": "FALLS", "HTS": "HEIGHTS", "TWP": "TOWNSHIP", "CY": "CITY", "BCH": "BEACH",
}
_CITY_HEAD_WORDS = frozenset(
    "NORTH SOUTH EAST WEST N S E W NO SO NEW SAINT ST MOUNT MT FORT FT PORT LAKE GRAND ISLE FAIR HYDE "
    "BELLOWS SAXTONS WHITE RIVER ESSEX BARRE NEWPORT RUTLAND".split()
)
_NO_UNIT = ("", False, False)
_STANDALONE_UNIT_ABBR = frozenset("REAR FRNT UPPR LOWR BSMT LBBY PH".split())
_EXT = frozenset(["EXT", "EXTENSION", "EXTN", "EXTD"])


def _ordinal_digits(tok: str) -> str:
    m = _ORDINAL.match(tok)
    if m:
        return m.group(1)
    word = _ORDINAL_WORDS.get(tok)
    return word[:-2] if word else ""


# ---------------------------------------------------------------------------------------------------
# Parse state


class Parse:
    """Mutable state the steps pass along (one per input; never shared). Locale-neutral: the AU
    steps use it too, with their own tables."""

    __slots__ = ("text", "tables", "cities", "tokens", "warnings", "f", "pos", "done", "had_tail")

    def __init__(self, text: str, tables, cities=None):
        self.text = text
        self.tables = tables
        self.cities = cities
        self.tokens: list[str] = []
        self.warnings: list[str] = []
        self.f: dict[str, str] = {}
        self.pos = 0
        self.done = False
        self.had_tail = False


# ---------------------------------------------------------------------------------------------------
# Steps for free text


def step_clean(p: Parse) -> None:
    """NFKC, fractions, case and punctuation folding, tokens."""
    text = p.text if isinstance(p.text, str) else str(p.text)
    p.tokens = tokenize(clean_text(text, p.warnings), p.tables.states)
    if not any(t != "," for t in p.tokens):
        p.warnings.append("empty input")
        p.done = True


def _pop_commas(t: list[str]) -> None:
    while t and t[-1] == ",":
        t.pop()


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
                if k > 1 or before == "," or _ZIP5.match(before) or _ZIP9.match(before) or before in p.tables.states:
                    del t[-k:]
                    _pop_commas(t)
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
        elif n in (9, 10) and _ZIP9.match(last):
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
    if before in tb.suffixes or before in tb.directionals or before in tb.units or before[0].isdigit():
        return False
    if _ordinal_digits(before):
        return False
    # a street suffix earlier means the street is complete and the last word is the state
    return any(tok in tb.strong_suffixes for tok in t[1 : len(t) - k - 1])


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
        elif tok in _PO_START and _po_at(t, i, n):
            anchor, kind = i, "po"
            break
        elif tok in _RR_START and _rr_at(t, i, n):
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
        if explicit:
            # "ATTN Shipping VT Route 12A ...": the street starts at a highway; else "ATTN John Smith,
            # Main St, ...": the marked segment goes; with no comma nothing is usable
            start = t.index(",") + 1 if "," in t else n
            for k in range(1, start):
                if (t[k] in _HIGHWAY_START and _highway(t, k, n, "")) or _state_highway(t, k, n, tb.states):
                    start = k
                    break
            p.warnings.append("leading text dropped")
        elif "," in t:
            # "Acme Corp, Route 100, Hyde Park": no number anywhere; the first segment with a street
            # type or highway is the street, segments before it are a name
            seg_start = 0
            for seg_end in [k for k in range(n) if t[k] == ","] + [n]:
                if _typed_street_end(t, seg_start, seg_end, tb) is not None or any(
                    tb.units.get(t[k], _NO_UNIT)[2] and _unit_at(t, k, seg_end, tb, False)
                    for k in range(seg_start + 1, seg_end)
                ):
                    if seg_start > 0 and not _unit_at(t, 0, n, tb, True):
                        start = seg_start
                        p.warnings.append("leading text dropped")
                    break
                seg_start = seg_end + 1
        while start < n and t[start] == ",":
            start += 1
        u = _unit_at(t, start, n, tb, True) if start < n else None
        if u and u[1]:  # "Lot 5, Route 100": a unit first, then a street without a number
            p.f["unit_type"], p.f["unit_id"] = u[0], u[1]
            start = u[2]
        p.pos = start
        return
    # text before the anchor: units are kept, the rest is a recipient / company and dropped
    j = start
    dropped = False
    while j < anchor:
        if t[j] == ",":
            j += 1
            continue
        u = _unit_at(t, j, anchor, tb, True)
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
        if k < n and _FRACTION.match(t[k]):
            num = num + " " + t[k]
            k += 1
        p.f["number"] = num
        p.pos = k
    else:
        p.pos = anchor


def _later_house_number(t: list[str], j: int, tb: USTables) -> bool:
    for k in range(j + 1, min(j + 12, len(t) - 1)):  # bounded look-ahead: linear time overall
        if _HOUSE.match(t[k]) and not _blocks_anchor(t[k - 1], tb) and t[k + 1] != ",":
            return True
    return False


def _blocks_anchor(prev: str, tb: USTables) -> bool:
    # a number right after these is a route, box, unit or road number, not a house number:
    # "VT ROUTE 100", "US 7", "BOX 12", "APT 3", "PRIVATE RD 6", "VT 100"
    return prev in _NOT_ANCHOR_AFTER or prev in tb.suffixes or prev in tb.units or prev in tb.states


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


_PO_START = frozenset(["PO", "POB", "POBOX", "P", "POST", "BOX", "BX"])
_RR_START = frozenset(["RR", "RFD", "RURAL", "R", "HC", "HCR", "HIGHWAY", "STAR"])
_BOX_START = _PO_START | _RR_START
_DEPT_WORDS = frozenset(["DEPT", "DEPARTMENT", "OFFICE", "OFC"])  # end a company name, not a unit
_FLOOR_WORDS = ("FL", "FLOOR", "FLR")


def _id_like(tok: str) -> bool:
    return tok != "," and len(tok) <= 8 and (any(c.isdigit() for c in tok) or len(tok) == 1)


def _po_at(t: list[str], i: int, e: int):
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


def _rr_at(t: list[str], i: int, e: int):
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


def _unit_at(t: list[str], i: int, e: int, tb: USTables, allow_all: bool):
    """A secondary unit at i (`APT 3`, `# 2B`, `3RD FLOOR`, `REAR`) -> (designator, id, next index)."""
    tok = t[i]
    nxt = t[i + 1] if i + 1 < e else ""
    if nxt in ("FL", "FLOOR", "FLR") and not (i + 2 < e and _id_like(t[i + 2])):  # not "1ST FL 2"
        digits = _ordinal_digits(tok)
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
            uid = _ordinal_digits(uid) or uid
        return desig, uid, j + 1
    if desig == "FL" and j < e and _ordinal_digits(t[j]):
        return "FL", _ordinal_digits(t[j]), j + 1
    if not needs_id:
        return desig, "", i + 1
    return None


def step_street_end(p: Parse) -> None:
    """Decide where the street stops and the city begins; parse units, PO box and city after it."""
    if p.done:
        return
    t = p.tokens
    n = len(t)
    s = p.pos
    tb = p.tables
    if "number" not in p.f and s < n and (t[s] in _PO_START or t[s] in _RR_START):
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
                _tail(p, s)
                return
    while s < n and t[s] == ",":
        s += 1
    try:
        e = t.index(",", s)
    except ValueError:
        e = n
    if "number" not in p.f and e == n and s < e and p.had_tail and _typed_street_end(t, s, e, tb) is None \
            and _trailing_unit(t, s, e, tb) == e and not any(x in tb.units for x in t[s:e]):
        _tail(p, s)  # "Ste 100, Hyde Park, VT": no number, no street type: the town
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
    _tail(p, end)


def _po_or_rr(p: Parse, i: int):
    """Take a PO box or rural route at i into p.f; the index after it, or None."""
    t = p.tokens
    n = len(t)
    if t[i] in _PO_START:
        po = _po_at(t, i, n)
        if po:
            p.f["po_box"] = po[0]
            return po[1]
    if t[i] in _RR_START:
        rr = _rr_at(t, i, n)
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
            if _unit_at(t, k, e, tb, False):
                return k
        elif floor and k + 1 < e and t[k + 1] in _FLOOR_WORDS and _unit_at(t, k, e, tb, False):
            return k
    if e < len(t):
        # a comma closes the street ("96 High Manor Parks, Waltham", "VT ROUTE 7B CENTRAL,") unless a
        # unit follows the street type inside the segment ("Boulder Lane Lot 37,", "VT ROUTE 12A REAR,")
        end = _typed_street_end(t, s, e, tb)
        if end is not None and end < e and (
            _unit_at(t, end, e, tb, True)
            or (t[end] in _PO_START and _po_at(t, end, e))
            or (t[end] in _RR_START and _rr_at(t, end, e))
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
    # 4. only weak suffixes (HILL, PARK, VIEW): the first one, unless it is the last word
    for k in range(s + 1, e - 1):
        if t[k] in tb.suffixes:
            return _after_suffix(t, k + 1, e, tb)
    if s < e and t[e - 1] in tb.suffixes:
        return e
    return None


def _trailing_unit(t: list[str], s: int, e: int, tb: USTables) -> int:
    """Start of the units / boxes that end the segment (`LOT 7`, `REAR`, `LOT 7 RR 2 BOX 15`), else e."""
    units = tb.units
    for k in range(s + 1, e):
        if t[k] in units or t[k] in _BOX_START:
            j = k
            while j < e:
                u = _unit_at(t, j, e, tb, True)
                if u and (u[1] or t[j] in _STANDALONE_UNIT_ABBR):
                    j = u[2]
                    continue
                box = (_po_at(t, j, e) if t[j] in _PO_START else None) or (
                    _rr_at(t, j, e) if t[j] in _RR_START else None)
                if box:
                    j = box[-1]
                    continue
                break
            if j == e:
                return k
    return e


def _typed_street_end(t: list[str], s: int, e: int, tb: USTables):
    """End of a street marked by a highway number or a strong suffix (`ST`, `ROAD`), or None."""
    # highways: "VT ROUTE 100", "US 7", "I-89" end at their number
    for k in range(s, min(s + 3, e)):
        h = None
        if t[k] in _HIGHWAY_START:
            h = _highway(t, k, e, "")
        if h is None and t[k] in tb.states:
            h = _state_highway(t, k, e, tb.states)
        if h:
            end = h[0]
            if any(x in tb.strong_suffixes for x in t[end : min(end + 3, e)]):
                break  # "I91 ACCESS RD": the suffix ends it
            return _after_suffix(t, end, e, tb)
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
    if k < e and _ROUTE_NUM.match(t[k]) and len(t[k]) <= 3 and (k + 1 == e or not t[k + 1][0].isdigit()):
        k += 1
    if k < e:
        d = t[k]
        if d in tb.directionals and (len(d) <= 2 or k + 1 == e):
            k += 1
    return k


def _tail(p: Parse, k: int) -> None:
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
        if not current and (tok in _BOX_START or tok in units or tok[0].isdigit() or tok in _ORDINAL_WORDS):
            if tok in _PO_START and "po_box" not in p.f:
                po = _po_at(t, i, n)
                if po:
                    p.f["po_box"] = po[0]
                    i = po[1]
                    continue
            if tok in _RR_START and "rural_route" not in p.f:
                rr = _rr_at(t, i, n)
                if rr:
                    p.f["rural_route"], box = rr[0], rr[1]
                    if box:
                        p.f["po_box"] = box
                    i = rr[2]
                    continue
            u = _unit_at(t, i, n, tb, True)
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


# ---------------------------------------------------------------------------------------------------
# Street parts

_HIGHWAY_START = frozenset(
    "US U I INTERSTATE IH STATE SR SH COUNTY CR CO ROUTE RTE RT HWY HIGHWAY HIWAY HWAY VERMONT".split()
)


def _highway(t, i: int, e: int, state: str):
    """A highway form at i -> (next index, canonical name), in the Vermont E911 style.

    `VT ROUTE 12A`, `VT RTE 12A`, `VT-12A`, `State Highway 100` -> `VT ROUTE 12A` / `<ST> ROUTE 100`;
    `US 7`, `US Route 7`, `US HWY 7` -> `US ROUTE 7`; `I-89`, `Interstate 89` -> `INTERSTATE 89`;
    `Route 12A`, `RTE 12A`, `Highway 12` -> `ROUTE 12A`; `County Road 5`, `CR 5` -> `COUNTY RD 5`.
    """
    tok = t[i]
    j = i + 1

    def num_at(k):
        return k < e and _ROUTE_NUM.match(t[k]) is not None

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


def _state_highway(t, i: int, e: int, states: dict):
    """`VT 12A`, `VT ROUTE 12A`, `VERMONT RTE 12A` at i -> (next index, `VT ROUTE 12A`)."""
    code = states.get(t[i])
    if code is None or i + 1 >= e:
        return None
    j = i + 1
    if t[j] in _ROUTE_WORDS:
        j += 1
    if j < e and _ROUTE_NUM.match(t[j]):
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
        if tok in _HIGHWAY_START:
            h = _highway(tokens, i, n, state)
        if h is None and tok in tb.states and len(tok) >= 2 and i + 1 < n:
            # a state code or name before a route number: "VT 100", "VT RTE 12A" (not "VT FARMHOUSE RD")
            h = _state_highway(tokens, i, n, tb.states)
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
        if w in _ORDINAL_WORDS:
            out[k] = _ORDINAL_WORDS[w]
        elif w in _TENS and k < last and out[k + 1] in _ORDINAL_WORDS:
            unit = _ORDINAL_WORDS[out[k + 1]]
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
    elif len(out) >= 2 and _ROUTE_NUM.match(out[-1]) and out[-2] in sfx:
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
        m = _ZIP9.match(pc)
        if _ZIP5.match(pc):
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
        if s < n and "number" not in f and t[s] in _PO_START and _po_at(t, s, n):
            _tail(p, s)
        elif s < n and "number" not in f and t[s] in _RR_START and _rr_at(t, s, n):
            _tail(p, s)
        else:
            end = n
            for k in range(s + 1, n):
                tok = t[k]
                if (tok in tables.units or tok[0].isdigit()) and _unit_at(t, k, n, tables, False):
                    if tok in tables.units or t[k + 1] in ("FL", "FLOOR", "FLR"):
                        end = k
                        break
            toks = [x for x in t[s:end] if x != ","]
            if toks:
                f["_street"] = " ".join(toks)
            city_before = f.pop("city", None)
            if end < n:
                _tail(p, end)
                extra = f.pop("city", "")
                if extra:
                    f["leftover"] = " ".join(x for x in (f.get("leftover", ""), extra) if x)
            if city_before is not None:
                f["city"] = city_before
        step_street_parts(p)
    if unit:
        toks = [x for x in tokenize(clean_text(unit, warnings), states) if x != ","]
        u = _unit_at(toks, 0, len(toks), tables, True) if toks else None
        if u:
            f["unit_type"], f["unit_id"] = u[0], u[1]
        elif toks:
            f["unit_type"], f["unit_id"] = "#", " ".join(toks)
    return f, warnings

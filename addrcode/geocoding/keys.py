"""Matching keys: street, town and house-number keys, the same on both sides of a comparison.

Street names are re-tokenized by `street_key` into a *core* (the name proper, every token
canonicalized: `MOUNTAIN`->`MTN`, `SAINT`->`ST`, ordinals `FIRST`->`1ST`, accents folded) and a
*full* key (directionals + core + suffix). Every spelling of one numbered highway gives one core:
`VT ROUTE 12A` / `RTE 12A` / `HWY 12A` / `VT-12A` / `STATE HWY 12A` -> `RTE 12A` (a state's own
highways), `US HWY 7` / `US ROUTE 7` / `US-7` -> `US RTE 7`, `CR 3668` / `COUNTY ROAD 3668` /
`CO RD 3668` / `COUNTY HWY 3668` -> `CR 3668`, `FM 544` / `FARM TO MARKET RD 544` -> `FM 544`,
`OLD US 31` -> `OLD US RTE 31`; the designation spellings are the normalize stage's table
(`data/abbreviations/street-forms/designations.csv`), so both stages read the same words.
The reference build (`addrcode.geocoding.build`) stores the same keys, so both sides go through
one function and stay symmetric whatever the normalize stage does with odd forms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from addrcode.geocoding.rules import US, GeoRules
from addrcode.normalize.tables import load_us_tables
from addrcode.records import Address

_SUFFIXES, _NAME_WORDS, _LONG, _CITY_WORDS = US.suffixes, US.name_words, US.long_forms, US.city_words

_DIRECTIONALS = {
    "N": "N", "NORTH": "N", "S": "S", "SOUTH": "S", "E": "E", "EAST": "E", "W": "W", "WEST": "W",
    "NE": "NE", "NORTHEAST": "NE", "NW": "NW", "NORTHWEST": "NW",
    "SE": "SE", "SOUTHEAST": "SE", "SW": "SW", "SOUTHWEST": "SW",
}

_ORD_UNITS = {"FIRST": 1, "SECOND": 2, "THIRD": 3, "FOURTH": 4, "FIFTH": 5, "SIXTH": 6, "SEVENTH": 7, "EIGHTH": 8,
              "NINTH": 9, "TENTH": 10, "ELEVENTH": 11, "TWELFTH": 12, "THIRTEENTH": 13, "FOURTEENTH": 14,
              "FIFTEENTH": 15, "SIXTEENTH": 16, "SEVENTEENTH": 17, "EIGHTEENTH": 18, "NINETEENTH": 19,
              "TWENTIETH": 20, "THIRTIETH": 30, "FORTIETH": 40, "FIFTIETH": 50}
_TENS = {"TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FIFTY": 50, "SIXTY": 60, "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90}
_CARDINALS = {"ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "SIX": "6", "SEVEN": "7",
              "EIGHT": "8", "NINE": "9", "TEN": "10", "ELEVEN": "11", "TWELVE": "12"}
_ROUTE_WORDS = {"ROUTE", "RTE", "RT", "HWY", "HIGHWAY", "SR", "SH", "STATE"}
# a state (any: `NH 12`, `VT-12A`, `CA-49`) or `US` before a route word or number; not the codes that
# are also road designations of their own: `FM 544` (Texas Farm-to-Market), `PR 12` (private road,
# `PR 2` in Vermont data), `CO 12` (county road): those only before a route word (`PR HWY 52`)
_AMBIGUOUS_PREFIX = frozenset(["FM", "PR", "CO"])
_ROUTE_PREFIX = {**dict.fromkeys(US.state_words - _AMBIGUOUS_PREFIX, ""), "STATE": "", "SR": "", "SH": "",
                 "US": "US", "USHWY": "US", "USRTE": "US"}
_NUMTOK = re.compile(r"^(?:\d+[A-Z]?|[A-Z]\d{1,3}[A-Z]?)$")  # `12`, `12A`, `A1A`
_LETTERS = re.compile(r"^[A-Z]{1,2}$")  # lettered county highways: `CTH K`, `COUNTY HWY AA`
_NONALNUM = re.compile(r"[^0-9A-Z/]+")
_GRID = re.compile(r"^[NSEW](\d+)[NSEW](\d+)$")  # Wisconsin / Illinois grid numbers: N56W26530


def _highway_words() -> tuple[dict, dict, dict]:
    """From the normalize stage's designation table: (spelling tokens -> key family, first token ->
    spelling lengths, qualifier spelling -> canonical). Families: `CR` county, `FM` farm to market,
    `RM` ranch to market; state, US and plain highways keep the `RTE` / `US RTE` reading below."""
    tb = load_us_tables()
    family = {"county": "CR", "farm": "FM", "ranch": "RM"}
    table = {k: family[kind] for k, (_d, kind) in tb.designations.items() if kind in family}
    lengths: dict[str, set] = {}
    for k in table:
        lengths.setdefault(k[0], set()).add(len(k))
    qualifiers = {k[0]: d for k, (d, kind) in tb.designations.items() if kind == "qualifier" and len(k) == 1}
    return table, {w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()}, qualifiers


_FAMILIES, _FAMILY_LENGTHS, _QUALIFIERS = _highway_words()

def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}TH"
    return f"{n}" + {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH")


def _tokens(text: str) -> list[str]:
    if not text.isascii():  # `KALĀKAUA` = `KALAKAUA`: the normalize stage folds accents the same way
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return [t for t in _NONALNUM.split(text.upper()) if t]


def _ordinals(toks: list[str]) -> list[str]:
    if _ORD_UNITS.keys().isdisjoint(toks):  # the usual case: a tens word alone changes nothing
        return toks
    out: list[str] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        if t in _TENS and i + 1 < len(toks) and toks[i + 1] in _ORD_UNITS and _ORD_UNITS[toks[i + 1]] < 10:
            out.append(_ordinal(_TENS[t] + _ORD_UNITS[toks[i + 1]]))
            i += 2
            continue
        if t in _ORD_UNITS:
            out.append(_ordinal(_ORD_UNITS[t]))
        else:
            out.append(t)
        i += 1
    return out


@dataclass(frozen=True)
class StreetKey:
    """Matching keys of one street name. `core` is the name proper, `full` adds directionals/suffix."""

    predir: str
    core: str
    suffix: str
    postdir: str
    route: bool = False

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.predir, self.core, self.suffix, self.postdir) if p)


@lru_cache(maxsize=32768)
def street_key_text(text: str, rules: GeoRules | None = None) -> StreetKey:
    """Matching keys of a street written as free text (`N Main Street`, `VT-12A`, `Rte 12 A`).

    `rules`: the locale's key tables (`geo_rules("au")`: `SMITH PDE` and `SMITH PARADE` give one key);
    None is the US rules. Cached (bounded): batches repeat street names far more often than they
    repeat addresses.
    """
    if rules is not None and rules is not US:
        return _street_key_loc(text, rules)
    toks = _ordinals(_tokens(text))
    # "RTE 12 A" -> "RTE 12A": a lone letter after a route number belongs to it
    if len(toks) >= 2 and any(len(t) == 1 for t in toks):
        merged: list[str] = []
        for t in toks:
            if merged and len(t) == 1 and t.isalpha() and t not in ("N", "S", "E", "W") and merged[-1].isdigit():
                merged[-1] += t
            else:
                merged.append(t)
        toks = merged
    predir = postdir = suffix = ""
    if len(toks) >= 2 and toks[-1] in _DIRECTIONALS:
        postdir = _DIRECTIONALS[toks.pop()]
    # route forms: [VT|US|STATE] [ROUTE|RTE|HWY] 12A [extra]
    route = _route(toks)
    if route is not None:
        return StreetKey(predir="", core=route[0], suffix="", postdir=postdir, route=True) if not route[1] else \
            StreetKey(predir="", core=route[0], suffix="", postdir=postdir, route=True)
    if len(toks) >= 2 and toks[-1] in _SUFFIXES:
        suffix = _SUFFIXES[toks.pop()]
    # a leading directional is a predir only if a real name word remains ("SOUTH ST EXT" is South Street)
    if len(toks) >= 2 and toks[0] in _DIRECTIONALS and any(t not in _SUFFIXES for t in toks[1:]):
        predir = _DIRECTIONALS[toks.pop(0)]
    if not postdir and len(toks) >= 2 and toks[-1] in _DIRECTIONALS:
        postdir = _DIRECTIONALS[toks.pop()]
    core = " ".join(_NAME_WORDS.get(t) or _SUFFIXES.get(t) or _DIRECTIONALS.get(t) or t for t in toks)
    if not core and suffix:  # a name that is only a suffix word ("PARK", "LOOP")
        core, suffix = suffix, ""
    return StreetKey(predir=predir, core=core, suffix=suffix, postdir=postdir)


def _street_key_loc(text: str, r: GeoRules) -> StreetKey:
    """`street_key_text` with another locale's tables: the same passes, the locale's suffix table
    (multi-word types such as `CUL DE SAC` too), name words and long forms; no US route forms."""
    toks = _ordinals(_tokens(text))
    sfx, dirs, names = r.suffixes, _DIRECTIONALS, r.name_words
    predir = postdir = suffix = ""
    if len(toks) >= 2 and toks[-1] in dirs:
        postdir = dirs[toks.pop()]
    if len(toks) >= 2:
        for k in r.type_lengths.get(toks[-1], ()):
            if k < len(toks):
                t = sfx.get(" ".join(toks[-k:]))
                if t is not None:
                    suffix = t
                    del toks[-k:]
                    break
    if len(toks) >= 2 and toks[0] in dirs and any(t not in sfx for t in toks[1:]):
        predir = dirs[toks.pop(0)]
    if not postdir and len(toks) >= 2 and toks[-1] in dirs:
        postdir = dirs[toks.pop()]
    core = " ".join(names.get(t) or sfx.get(t) or dirs.get(t) or t for t in toks)
    # a name that is only a type word: `PARADE` alone, or `THE GLADE` / `THE AVENUE`, where the type word
    # is the name (`THE GLADE` and `THE GLEN` are two streets, not one name with two types)
    if suffix and (not core or core in r.articles):
        core, suffix = f"{core} {suffix}".strip(), ""
    return StreetKey(predir=predir, core=core, suffix=suffix, postdir=postdir)


def _route(toks: list[str]) -> tuple[str, str] | None:
    """`VT ROUTE 12A` -> ("RTE 12A", ""); `US 7` -> ("US RTE 7", "US"); `TOWN HWY 28` -> ("TH 28", ...);
    `COUNTY RD 5` -> ("CR 5", "CR"); `OLD US 31` -> ("OLD US RTE 31", "US")."""
    if not toks:
        return None
    if toks[0] == "OLD" and len(toks) >= 3:  # `OLD ROUTE 7`, `OLD US HWY 31`: the old road of a route
        r = _route(toks[1:])
        return ("OLD " + r[0], r[1]) if r is not None else None
    if toks[0] in ("I", "INTERSTATE") and len(toks) >= 2 and _NUMTOK.match(toks[1]):
        return ("I " + " ".join(toks[1:]), "I")
    if toks[0] in ("TOWN", "TH") and len(toks) >= 2:
        j = 1
        if toks[0] == "TOWN" and toks[1] in ("HWY", "HIGHWAY", "RD", "ROAD"):
            j = 2
        elif toks[0] == "TOWN":
            return None
        if j < len(toks) and _NUMTOK.match(toks[j]):
            return ("TH " + " ".join(toks[j:]), "TH")
        return None
    r = _family_route(toks) if toks[0] in _FAMILY_LENGTHS else None
    return r if r is not None else _state_route(toks)


def _family_route(toks: list[str]) -> tuple[str, str] | None:
    """County, farm-to-market and ranch-to-market roads: `CO RD 5` / `COUNTY HWY K` -> ("CR 5" / "CR K")."""
    for k in _FAMILY_LENGTHS[toks[0]]:
        fam = _FAMILIES.get(tuple(toks[:k])) if k < len(toks) else None
        if fam is None:
            continue
        num = toks[k]
        if _NUMTOK.match(num) or (fam == "CR" and _LETTERS.match(num) and num not in _DIRECTIONALS):
            return (f"{fam} " + " ".join([num] + _rest(toks[k + 1:])), fam)
        return None
    return None


def _state_route(toks: list[str]) -> tuple[str, str] | None:
    """[VT|NORTH CAROLINA|US|U S|STATE] [ROUTE|RTE|HWY|SR] 12A [words] -> ("RTE 12A ...", prefix)."""
    i = 0
    prefix = None
    if toks[0] in _ROUTE_PREFIX:
        prefix = _ROUTE_PREFIX[toks[0]]
        i = 1
    elif len(toks) >= 3 and (toks[0], toks[1]) in (("U", "S"), ("UNITED", "STATES")):
        prefix, i = "US", 2
    elif toks[0] in _AMBIGUOUS_PREFIX and len(toks) >= 3 and toks[1] in _ROUTE_WORDS:
        prefix, i = "", 1  # `PR HWY 52`: Puerto Rico highway 52 (`PR 52` alone may be a private road)
    else:
        n = _state_phrase(toks)
        if n:
            prefix, i = "", n
    has_word = False
    if i < len(toks) and (toks[i] in _ROUTE_WORDS or (toks[0] == "STATE" and i == 1 and toks[i] in ("RD", "ROAD"))):
        has_word = True  # `STATE RD 7` (Florida's state roads) is a state route too
        i += 1
    if i < len(toks) and toks[i] in _CARDINALS and (has_word or prefix is not None):
        toks = toks[:i] + [_CARDINALS[toks[i]]] + toks[i + 1:]
    if i < len(toks) and _NUMTOK.match(toks[i]) and (has_word or prefix is not None):
        # words after the number ("VT ROUTE 133 W TINMOUTH ROAD") canonical like any name's words
        core = ("US RTE " if prefix == "US" else "RTE ") + " ".join([toks[i]] + _rest(toks[i + 1:]))
        return (core, prefix or "")
    return None


def _state_phrase(toks: list[str]) -> int:
    """Token count of a several-word state name starting `toks` (`NORTH CAROLINA`), else 0."""
    for phrase in _STATE_PHRASES.get(toks[0], ()):
        n = len(phrase)
        if len(toks) > n and tuple(toks[:n]) == phrase:
            return n
    return 0


def _rest(words: list[str]) -> list[str]:
    """Words after a route number, canonical (`BUSINESS` -> `BUS`, `ROAD` -> `RD`, `WEST` -> `W`)."""
    return [_QUALIFIERS.get(t) or _NAME_WORDS.get(t) or _SUFFIXES.get(t) or _DIRECTIONALS.get(t) or t for t in words]


def _phrases_by_first_word(phrases: tuple) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for phrase in phrases:
        out[phrase[0]] = out.get(phrase[0], ()) + (phrase,)
    return out


_STATE_PHRASES = _phrases_by_first_word(US.state_phrases)  # `NORTH` -> (`NORTH CAROLINA`, `NORTH DAKOTA`)


# Small on purpose: the query side is mostly misspelt one-offs (the reference side has `street_form`).
# At 32,768 this cache hit 62 % of a million-row batch instead of 52 %, for ~6 MB that grew over the
# first 400,000 rows (peak RSS not flat, benchmarks/RESULTS.md); a miss costs ~1 µs.
@lru_cache(maxsize=4096)
def fuzzy_form(core: str, rules: GeoRules | None = None) -> str:
    """The core key spelled out (`IRISH HL` -> `IRISH HILL`), for edit distances against typed text,
    whose typos land in the long words people write (`HXILL` is one edit from `HILL`, not from `HL`)."""
    long = _LONG if rules is None else rules.long_forms
    toks = [long.get(t, t) for t in core.split()]
    if len(toks) > 1 and toks[0] in _ROUTE_PREFIX and any(t[0].isdigit() for t in toks[1:]):
        toks = toks[1:]  # a numbered route (`VT ROOTE 15`, a typo) is typed without its state as often
    return " ".join(toks)


# the levels fuzzy street matching tries in turn: as typed with directionals and suffix, name and
# suffix, the name alone
FUZZY_LEVELS = ("full", "name_suffix", "name")


def fuzzy_level(sk: StreetKey, level: str, rules: GeoRules | None = None) -> str:
    """The fuzzy form of a query's street key at one of `FUZZY_LEVELS`."""
    if level == "name":
        return fuzzy_form(sk.core, rules)
    parts = (sk.predir, sk.core, sk.suffix, sk.postdir) if level == "full" else (sk.core, sk.suffix)
    return fuzzy_form(" ".join([p for p in parts if p]), rules)


@lru_cache(maxsize=32768)
def street_form(full: str, level: str, rules: GeoRules | None = None) -> str:
    """The fuzzy form of a reference street key at one level (street names repeat across towns)."""
    return fuzzy_level(street_key_text(full, rules), level, rules)


def street_key(address: Address, rules: GeoRules | None = None) -> StreetKey:
    """Matching keys of an `Address`'s street (its directionals, name and suffix re-read together)."""
    if not (address.predir or address.suffix or address.postdir):  # a guided reading: the street alone
        return street_key_text(address.street, rules)
    text = " ".join(p for p in (address.predir, address.street, address.suffix, address.postdir) if p)
    return street_key_text(text, rules)


_CITY_TAIL = {"CITY", "TOWN", "VILLAGE", "TWP", "TOWNSHIP"}


@lru_cache(maxsize=16384)
def city_keys(name: str, rules: GeoRules | None = None) -> tuple[str, ...]:
    """Keys under which a town is found: canonical words, plus the form without `CITY`/`TOWN`."""
    words = _CITY_WORDS if rules is None else rules.city_words
    toks = [words.get(t, t) for t in _tokens(name)]
    if not toks:
        return ()
    keys = [" ".join(toks)]
    if len(toks) >= 2 and toks[-1] in _CITY_TAIL:
        keys.append(" ".join(toks[:-1]))
    return tuple(keys)


def city_key(name: str, rules: GeoRules | None = None) -> str:
    """The canonical matching key of a city name written by a user."""
    ks = city_keys(name, rules)
    return ks[0] if ks else ""


_NUM_RE = re.compile(r"\d+")


@lru_cache(maxsize=8192)
def number_key(number: str) -> tuple[str, int | None]:
    """(`12A`, 12): the canonical house number string and its integer part (for interpolation).

    A grid number (`N56W26530`) counts as its two numbers in order (56026530: one of the two is the
    same all along a road, so numbers along it still sort and interpolate by the other).
    """
    s = " ".join(number.upper().replace("-", " ").split()) if "/" in number else "".join(number.upper().split())
    g = _GRID.match(s)
    if g is not None and len(g.group(2)) <= 6:
        return s, int(g.group(1)) * 1_000_000 + int(g.group(2))
    m = _NUM_RE.search(s)
    return s, (int(m.group()) if m else None)


# --------------------------------------------------------------------------------------------
# Reference-guided re-reading of free text
# --------------------------------------------------------------------------------------------

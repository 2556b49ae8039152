"""Geocoding: a normalized `Address` + a local reference -> `Match` (point, precision, score).

How a query is matched (the same shape as addok / Pelias: block first, then compare a few):

1. Matching keys. Street names are re-tokenized by `street_key` into a *core* (the name proper,
   every token canonicalized: `MOUNTAIN`->`MTN`, `SAINT`->`ST`, ordinals `FIRST`->`1ST`, route forms
   `VT ROUTE 12A` / `RTE 12A` / `VT-12A` -> `RTE 12A`) and a *full* key (directionals + core + suffix).
   The reference stores the same keys, so both sides go through one function and stay symmetric
   whatever the normalize stage does with odd forms.
2. Blocking. The query's ZIP and city each name a set of towns (city by exact key, else fuzzy over
   the bounded list of city keys); the block is their union, so a wrong ZIP of the right town, or a
   wrong town of the right ZIP, still finds the street. Without either, the street key is looked
   up across the whole reference through its index.
3. Street candidates in the block: exact full key, then exact core key, and only when both miss,
   rapidfuzz over the block's core keys (a few hundred strings at most).
4. House number on each candidate street: exact -> `point`; else between the nearest lower and
   higher numbers of the same parity -> `interpolated`; else the nearest number -> `street`.
   No street: ZIP centroid -> `postcode`, town centroid -> `locality`, else `none`.
5. Score: a product of street similarity, town/ZIP agreement and number evidence, then lowered when
   a second candidate is nearly as good but far away ("ambiguous"). The factors were calibrated on
   the noisy query set (docs/ACCURACY.md) so that score >= 0.9 means "within 50 m" >= 98 % of the time.

Free text is read twice at most (`Geocoder.geocode`): first with the reference's own town names
(`guided_parse`: ZIP at the end, a known town before it, the number, the street between); when
that gives a confident point, or settles the number on the exact street of the named town, the
rule-based normalize stage is not run at all (6 queries in 7 on the noisy set). Otherwise the
normalize stage's reading is matched too (unless it asks the same question) and the better wins.

Everything is read from the on-disk SQLite reference through its indexes, with bounded caches of
per-town street lists and per-street number lists (a street's points are one rowid range): memory
does not grow with the reference. Only the town keys are held whole (up to `max_city_list`).
"""

from __future__ import annotations

import math
import re
import sqlite3
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from addrcode.records import Address, Match

def _normalize_fields(**fields) -> Address:  # fields may include `locale`
    """The normalize stage's `normalize_fields`, or a bare pass-through while it is unavailable.

    Matching does not depend on which one ran: `street_key` re-reads the street either way.
    """
    try:
        from addrcode.normalize import normalize_fields
    except ImportError:
        fields.pop("locale", None)
        f = {k: (v or "").strip().upper() for k, v in fields.items()}
        return Address(number=f.get("number", ""), street=f.get("street", ""), unit_id=f.get("unit", ""),
                       city=f.get("city", ""), state=f.get("state", ""), postcode=f.get("postcode", ""))
    return normalize_fields(**fields)


def _normalize(text: str, locale: str = "us", cities=None) -> Address:
    from addrcode.normalize import normalize

    return normalize(text, locale=locale, cities=cities)


# --------------------------------------------------------------------------------------------
# Matching keys
# --------------------------------------------------------------------------------------------

_DIRECTIONALS = {
    "N": "N", "NORTH": "N", "S": "S", "SOUTH": "S", "E": "E", "EAST": "E", "W": "W", "WEST": "W",
    "NE": "NE", "NORTHEAST": "NE", "NW": "NW", "NORTHWEST": "NW",
    "SE": "SE", "SOUTHEAST": "SE", "SW": "SW", "SOUTHWEST": "SW",
}

# USPS Publication 28 C1 street suffixes (common written forms -> standard abbreviation).
# Written out here (a US Government table) so that matching does not depend on how the
# normalize stage splits a name; both sides of a comparison go through the same map.
_SUFFIX_GROUPS = {
    "ALY": "ALLEY ALLEE ALLY", "ANX": "ANNEX ANNX ANEX", "ARC": "ARCADE", "AVE": "AVENUE AV AVEN AVENU AVN AVNUE",
    "BCH": "BEACH", "BND": "BEND", "BLF": "BLUFF BLUF", "BLVD": "BOULEVARD BOUL BOULV", "BR": "BRANCH BRNCH",
    "BRG": "BRIDGE BRDGE", "BRK": "BROOK", "BYP": "BYPASS BYPA BYPAS BYPS", "CMP": "CAMP CP", "CYN": "CANYON CNYN",
    "CPE": "CAPE", "CSWY": "CAUSEWAY CAUSWA", "CTR": "CENTER CEN CENT CENTR CENTRE CNTER CNTR",
    "CIR": "CIRCLE CIRC CIRCL CRCL CRCLE", "CLF": "CLIFF", "CLFS": "CLIFFS", "CLB": "CLUB", "CMN": "COMMON",
    "COR": "CORNER", "CORS": "CORNERS", "CRSE": "COURSE", "CT": "COURT", "CTS": "COURTS", "CV": "COVE",
    "CRK": "CREEK", "CRES": "CRESCENT CRSNT CRSENT", "XING": "CROSSING CRSSNG", "XRD": "CROSSROAD",
    "CURV": "CURVE", "DL": "DALE", "DM": "DAM", "DV": "DIVIDE DIV DVD", "DR": "DRIVE DRIV DRV",
    "EST": "ESTATE", "ESTS": "ESTATES", "EXPY": "EXPRESSWAY EXPR EXPRESS EXPW", "EXT": "EXTENSION EXTN EXTNSN",
    "FLS": "FALLS", "FRY": "FERRY FRRY", "FLD": "FIELD", "FLDS": "FIELDS", "FLT": "FLAT", "FRD": "FORD",
    "FRST": "FOREST FORESTS", "FRG": "FORGE FORG", "FRK": "FORK", "FT": "FORT FRT", "FWY": "FREEWAY FREEWY FRWAY FRWY",
    "GDN": "GARDEN GARDN GRDEN GRDN", "GDNS": "GARDENS GRDNS", "GTWY": "GATEWAY GATEWY GATWAY GTWAY",
    "GLN": "GLEN", "GRN": "GREEN", "GRV": "GROVE GROV", "HBR": "HARBOR HARB HARBR HRBOR", "HVN": "HAVEN",
    "HTS": "HEIGHTS HT", "HWY": "HIGHWAY HIGHWY HIWAY HIWY HWAY", "HL": "HILL", "HLS": "HILLS",
    "HOLW": "HOLLOW HLLW HOLLOWS HOLWS", "INLT": "INLET", "IS": "ISLAND ISLND", "ISLE": "ISLES",
    "JCT": "JUNCTION JCTION JCTN JUNCTN JUNCTON", "KNL": "KNOLL KNOL", "LK": "LAKE", "LKS": "LAKES",
    "LNDG": "LANDING LNDNG", "LN": "LANE", "LGT": "LIGHT", "LF": "LOAF", "LCK": "LOCK", "LDG": "LODGE LDGE LODG",
    "LOOP": "LOOPS", "MNR": "MANOR", "MDW": "MEADOW", "MDWS": "MEADOWS MEDOWS", "ML": "MILL", "MLS": "MILLS",
    "MSN": "MISSION MISSN MSSN", "MT": "MOUNT MNT", "MTN": "MOUNTAIN MNTAIN MNTN MOUNTIN MTIN",
    "NCK": "NECK", "ORCH": "ORCHARD ORCHRD", "OVAL": "OVL", "PARK": "PARKS PRK", "PKWY": "PARKWAY PARKWY PKWAY PKY",
    "PASS": "PASS", "PATH": "PATHS", "PIKE": "PIKES", "PNE": "PINE", "PNES": "PINES", "PL": "PLACE",
    "PLN": "PLAIN", "PLNS": "PLAINS", "PLZ": "PLAZA PLZA", "PT": "POINT", "PTS": "POINTS", "PRT": "PORT",
    "PR": "PRAIRIE PRR", "RADL": "RADIAL RAD RADIEL", "RNCH": "RANCH RANCHES RNCHS", "RPD": "RAPID",
    "RPDS": "RAPIDS", "RST": "REST", "RDG": "RIDGE RDGE", "RIV": "RIVER RVR RIVR", "RD": "ROAD",
    "RDS": "ROADS", "RTE": "ROUTE RT", "ROW": "ROW", "RUN": "RUN", "SHR": "SHORE", "SHRS": "SHORES",
    "SPG": "SPRING SPNG SPRNG", "SPGS": "SPRINGS SPNGS SPRNGS", "SQ": "SQUARE SQR SQRE SQU", "STA": "STATION STATN STN",
    "STRM": "STREAM STREME", "ST": "STREET STRT STR", "SMT": "SUMMIT SUMIT SUMITT", "TER": "TERRACE TERR",
    "TRCE": "TRACE TRACES", "TRAK": "TRACK TRACKS TRK TRKS", "TRL": "TRAIL TRAILS TRLS", "TUNL": "TUNNEL TUNEL TUNLS TUNNELS TUNNL",
    "TPKE": "TURNPIKE TRNPK TURNPK", "UN": "UNION", "VLY": "VALLEY VALLY VLLY", "VIA": "VIADUCT VDCT VIADCT",
    "VW": "VIEW", "VWS": "VIEWS", "VLG": "VILLAGE VILL VILLAG VILLG VILLIAGE", "VL": "VILLE", "VIS": "VISTA VIST VST VSTA",
    "WALK": "WALKS", "WAY": "WY", "WL": "WELL", "WLS": "WELLS", "ACRES": "ACRE", "LOT": "LOTS",
}
_SUFFIXES: dict[str, str] = {}
for _abbr, _forms in _SUFFIX_GROUPS.items():
    _SUFFIXES[_abbr] = _abbr
    for _f in _forms.split():
        _SUFFIXES.setdefault(_f, _abbr)
# Name words that are not suffixes but are written both ways.
_NAME_WORDS = {"SAINT": "ST", "STE": "ST", "FORT": "FT", "MOUNT": "MT", "MT": "MT", "CO": "COUNTY", "CNTY": "COUNTY",
               "TWP": "TOWNSHIP", "TWN": "TOWN", "HGWY": "HWY"}
_ORD_UNITS = {"FIRST": 1, "SECOND": 2, "THIRD": 3, "FOURTH": 4, "FIFTH": 5, "SIXTH": 6, "SEVENTH": 7, "EIGHTH": 8,
              "NINTH": 9, "TENTH": 10, "ELEVENTH": 11, "TWELFTH": 12, "THIRTEENTH": 13, "FOURTEENTH": 14,
              "FIFTEENTH": 15, "SIXTEENTH": 16, "SEVENTEENTH": 17, "EIGHTEENTH": 18, "NINETEENTH": 19,
              "TWENTIETH": 20, "THIRTIETH": 30, "FORTIETH": 40, "FIFTIETH": 50}
_TENS = {"TWENTY": 20, "THIRTY": 30, "FORTY": 40, "FIFTY": 50, "SIXTY": 60, "SEVENTY": 70, "EIGHTY": 80, "NINETY": 90}
_CARDINALS = {"ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "SIX": "6", "SEVEN": "7",
              "EIGHT": "8", "NINE": "9", "TEN": "10", "ELEVEN": "11", "TWELVE": "12"}
_ROUTE_WORDS = {"ROUTE", "RTE", "RT", "HWY", "HIGHWAY", "SR", "STATE"}
_ROUTE_PREFIX = {"VT": "", "VERMONT": "", "STATE": "", "SR": "", "US": "US", "USHWY": "US", "USRTE": "US"}
_NUMTOK = re.compile(r"^\d+[A-Z]?$")
_NONALNUM = re.compile(r"[^0-9A-Z/]+")


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}TH"
    return f"{n}" + {1: "ST", 2: "ND", 3: "RD"}.get(n % 10, "TH")


def _tokens(text: str) -> list[str]:
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
    if rules is not None and rules is not _US:
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
    """`VT ROUTE 12A` -> ("RTE 12A", ""); `US 7` -> ("US 7", "US"); `TOWN HWY 28` -> ("TH 28", ...)."""
    if not toks:
        return None
    i = 0
    prefix = None
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
    if toks[0] in _ROUTE_PREFIX:
        prefix = _ROUTE_PREFIX[toks[0]]
        i = 1
    has_word = False
    if i < len(toks) and toks[i] in _ROUTE_WORDS:
        has_word = True
        i += 1
    if i < len(toks) and toks[i] in _CARDINALS and (has_word or prefix is not None):
        toks = toks[:i] + [_CARDINALS[toks[i]]] + toks[i + 1:]
    if i < len(toks) and _NUMTOK.match(toks[i]) and (has_word or prefix is not None):
        # words after the number ("VT ROUTE 133 W TINMOUTH ROAD") canonical like any name's words
        rest = [_NAME_WORDS.get(t) or _SUFFIXES.get(t) or _DIRECTIONALS.get(t) or t for t in toks[i + 1:]]
        core = ("US RTE " if prefix == "US" else "RTE ") + " ".join([toks[i]] + rest)
        return (core, prefix or "")
    return None


_LONG = {abbr: forms.split()[0] for abbr, forms in _SUFFIX_GROUPS.items() if forms.split()[0] != abbr}
_LONG.update({"1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH", "5TH": "FIFTH", "6TH": "SIXTH",
              "7TH": "SEVENTH", "8TH": "EIGHTH", "9TH": "NINTH", "10TH": "TENTH"})
_LONG.update({"N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST", "NE": "NORTHEAST", "NW": "NORTHWEST",
              "SE": "SOUTHEAST", "SW": "SOUTHWEST"})
_LONG.update({"ST": "SAINT", "FT": "FORT", "MT": "MOUNT", "RTE": "ROUTE", "TH": "TOWN HIGHWAY", "I": "INTERSTATE"})
_DIGITS = re.compile(r"\d+")


@lru_cache(maxsize=32768)
def fuzzy_form(core: str, rules: GeoRules | None = None) -> str:
    """The core key spelled out (`IRISH HL` -> `IRISH HILL`), for edit distances against typed text,
    whose typos land in the long words people write (`HXILL` is one edit from `HILL`, not from `HL`)."""
    long = _LONG if rules is None else rules.long_forms
    toks = [long.get(t, t) for t in core.split()]
    if len(toks) > 1 and toks[0] in ("VT", "US", "STATE", "VERMONT"):
        toks = toks[1:]
    return " ".join(toks)


_FUZZY_LEVELS = ("full", "name_suffix", "name")


def _fuzzy_level(sk: StreetKey, level: str, rules: GeoRules | None = None) -> str:
    if level == "name":
        return fuzzy_form(sk.core, rules)
    parts = (sk.predir, sk.core, sk.suffix, sk.postdir) if level == "full" else (sk.core, sk.suffix)
    return fuzzy_form(" ".join([p for p in parts if p]), rules)


@lru_cache(maxsize=32768)
def _street_form(full: str, level: str, rules: GeoRules | None = None) -> str:
    """The fuzzy form of a reference street key at one level (street names repeat across towns)."""
    return _fuzzy_level(street_key_text(full, rules), level, rules)


def street_key(address: Address, rules: GeoRules | None = None) -> StreetKey:
    """Matching keys of an `Address`'s street (its directionals, name and suffix re-read together)."""
    text = " ".join(p for p in (address.predir, address.street, address.suffix, address.postdir) if p)
    return street_key_text(text, rules)


_CITY_WORDS = {"ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "FT": "FORT", "N": "NORTH", "S": "SOUTH", "E": "EAST",
               "W": "WEST", "JCT": "JUNCTION", "CTR": "CENTER", "VLG": "VILLAGE", "SPGS": "SPRINGS", "FLS": "FALLS"}
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
    """(`12A`, 12): the canonical house number string and its integer part (for interpolation)."""
    s = " ".join(number.upper().replace("-", " ").split()) if "/" in number else "".join(number.upper().split())
    m = _NUM_RE.search(s)
    return s, (int(m.group()) if m else None)


# --------------------------------------------------------------------------------------------
# Reference-guided re-reading of free text
# --------------------------------------------------------------------------------------------

_UNIT_WORDS = {"APT", "APARTMENT", "UNIT", "STE", "SUITE", "LOT", "FL", "FLOOR", "RM", "ROOM", "BLDG", "BUILDING",
               "TRLR", "TRAILER", "SPC", "SPACE", "DEPT", "OFC", "OFFICE", "#", "NO"}
# USPS Publication 28 C2 designators, as the normalize stage writes them (the matched label shows the unit)
_UNIT_CANON = {"APARTMENT": "APT", "SUITE": "STE", "FLOOR": "FL", "ROOM": "RM", "BUILDING": "BLDG", "TRAILER": "TRLR",
               "SPACE": "SPC", "DEPARTMENT": "DEPT", "OFFICE": "OFC", "NO": "#"}
_STATE_WORDS = {"VT", "VERMONT"}
_HOUSE_NUM = re.compile(r"^(\d+[A-Z]?|[A-Z]\d+|\d+-\d+)$")
_FRACTION = re.compile(r"^\d/\d$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_TEXT_TOK = re.compile(r"#|[0-9A-Za-z/'.-]+|,")


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key of the key functions
class GeoRules:
    """What the geocoder reads differently per address locale (`geo_rules(name)`).

    Key tables (`suffixes`, `type_lengths`, `name_words`, `long_forms`, `city_words`) shape the
    matching keys on both sides (reference build and query); the rest shapes `guided_parse`'s
    reading of free text. A locale is data here, not branches in the matching code.
    """

    name: str
    suffixes: dict  # street type spelling (one word, or several space-joined) -> one canonical form
    type_lengths: dict  # last word of a type spelling -> its word counts, longest first (multi-word types)
    name_words: dict  # street-name words written two ways (`SAINT` -> `ST`)
    long_forms: dict  # canonical key word -> its long spelling (fuzzy forms)
    city_words: dict  # town-name words written two ways (`MT` -> `MOUNT`)
    postcode: re.Pattern  # a postcode token at the end of the text
    state_words: frozenset  # one-word state names (and country) dropped before the town
    state_phrases: tuple  # several-word state names, as token tuples (`NEW SOUTH WALES`)
    house: re.Pattern  # a house-number token
    unit_words: frozenset  # unit / level designators in any spelling
    unit_canon: dict  # designator spelling -> the form the normalize stage writes
    fractions: bool = True  # `18 1/2` (US): a fraction after the number belongs to it
    slash_unit: re.Pattern | None = None  # `2/15` (AU): unit 2 of number 15
    glued_unit: re.Pattern | None = None  # `U2`: designator and id in one token
    unit_id: re.Pattern | None = None  # a trailing designator counts only before such an id (None: any token)
    leading_units: bool = False  # `Unit 2, 15 Smith St`: a unit before the number is kept
    known_cities: bool = False  # pass the reference's towns to the normalize stage as `cities`
    articles: frozenset = frozenset()  # `THE`: a street of an article and a type word is named by the type


_US = GeoRules(
    name="us", suffixes=_SUFFIXES, type_lengths={}, name_words=_NAME_WORDS, long_forms=_LONG,
    city_words=_CITY_WORDS, postcode=_ZIP, state_words=frozenset(_STATE_WORDS), state_phrases=(),
    house=_HOUSE_NUM, unit_words=frozenset(_UNIT_WORDS), unit_canon=_UNIT_CANON,
)
_RULES: dict[str, GeoRules] = {"us": _US}


def _au_rules() -> GeoRules:
    from addrcode.normalize.tables_au import LOCALITY_WORDS, load_au_tables

    tb = load_au_tables()
    long = {abbr: name for abbr, name in tb.type_full.items() if abbr != name}
    long.update({k: v for k, v in _LONG.items() if k not in tb.type_full or k in ("ST", "MT")})
    long.update({"ST": "SAINT", "MT": "MOUNT"})
    # the AU tables write SAINT -> ST for localities; the keys keep the US direction (ST -> SAINT)
    city_words = {k: v for k, v in LOCALITY_WORDS.items() if k != "SAINT"}
    city_words.update(_CITY_WORDS)
    states = set()
    phrases = set()
    for spelling in list(tb.states) + ["AUSTRALIA"]:
        words = tuple(spelling.replace(".", " ").split())
        if len(words) == 1:
            states.add(words[0])
        else:
            phrases.add(words)
    units = {**{k: v for k, v in tb.levels.items()}, **tb.units}
    unit_words = frozenset(k for k in units if " " not in k)
    glued = sorted((k for k in unit_words if k.isalpha()), key=len, reverse=True)
    return GeoRules(
        name="au", suffixes=dict(tb.street_types), type_lengths=dict(tb.type_lengths),
        name_words={**_NAME_WORDS, "STH": "S", "NTH": "N", "GT": "GREAT"}, long_forms=long,
        city_words=city_words, postcode=re.compile(r"^\d{4}$"), state_words=frozenset(states),
        state_phrases=tuple(sorted(phrases, key=len, reverse=True)),
        house=re.compile(r"^\d{1,6}[A-Z]?(-\d{1,6}[A-Z]?)?$"), unit_words=unit_words, unit_canon=units,
        fractions=False,
        slash_unit=re.compile(r"^([A-Z]{0,2}\d{1,5}[A-Z]{0,2}|[A-Z])/(\d{1,6}[A-Z]?(?:-\d{1,6}[A-Z]?)?)$"),
        glued_unit=re.compile(r"^(" + "|".join(glued) + r")(\d{1,5}[A-Z]?)$"),
        unit_id=re.compile(r"^(?:[A-Z]{0,2}\d{1,5}[A-Z]{0,2}|[A-Z])$"),
        leading_units=True, known_cities=True, articles=frozenset(["THE"]),
    )


_RULE_MAKERS = {"au": _au_rules}


def geo_rules(locale: str = "us") -> GeoRules:
    """The geocoder's rules for an address locale (`us`, `au`); `UsageError` for an unknown one."""
    name = (locale or "us").lower()
    got = _RULES.get(name)
    if got is None:
        make = _RULE_MAKERS.get(name)
        if make is None:
            from addrcode.errors import UsageError

            raise UsageError(f"unknown address locale {locale!r} for geocoding; available: "
                             f"{', '.join(sorted(set(_RULES) | set(_RULE_MAKERS)))}")
        got = _RULES[name] = make()
    return got


def _drop_states(toks: list, r: GeoRules) -> None:
    """Drop trailing commas and state names (one word or several) in place."""
    sw, phrases = r.state_words, r.state_phrases
    while toks:
        t = toks[-1]
        if t == "," or t in sw:
            toks.pop()
            continue
        for ph in phrases:
            n = len(ph)
            if len(toks) > n and tuple(toks[-n:]) == ph:
                del toks[-n:]
                break
        else:
            return


def guided_parse(text: str, known_city, rules: GeoRules | None = None) -> Address:
    """Re-read free text with the reference's help: postcode at the end, a town name the reference
    knows just before it, the first house-number-like token, the street between them, units cut off.

    Used when the rule-based parse finds no good candidate (odd order, leading names, stray words).
    `known_city(key) -> bool` says whether the reference has a town under that key; `rules` is the
    locale's (`geo_rules`; None: US), which names postcodes, states, house numbers and unit forms.
    """
    r = _US if rules is None else rules
    if text.isascii():  # upper-casing first is then the same as per token, and one call
        toks = _TEXT_TOK.findall(text.upper())
        if "." in text:
            toks = [u for t in toks if (u := t.strip(".")) and u != "'"]
        elif "'" in text:
            toks = [t for t in toks if t != "'"]
    else:
        toks = [u for t in _TEXT_TOK.findall(text) if (u := t.strip(".").upper()) and u != "'"]
    postcode = ""
    while toks and toks[-1] in (",",):
        toks.pop()
    if toks and r.postcode.match(toks[-1]):
        postcode = toks.pop()[:5]
    _drop_states(toks, r)
    city = ""
    words = toks
    # longest run of words ending the text that names a known town (a comma may only open the run)
    nw = len(words)
    for n in (4, 3, 2, 1):
        if nw > n:
            win = words[-n:]
            if "," in win[1:]:
                continue
            span = win[1:] if win[0] == "," else win
            if span:
                joined = " ".join(span)
                if known_city(city_key(joined, rules)):
                    city = joined
                    words = words[:-n]
                    break
    _drop_states(words, r)
    house, unit_words = r.house, r.unit_words
    if not city and "," in words:
        # no town the reference knows: the last comma-separated part, if it has no digits, is the town
        j = len(words) - 1 - words[::-1].index(",")
        tail = words[j + 1:]
        if tail and not any(ch.isdigit() for w in tail for ch in w) and any(house.match(w) for w in words[:j]):
            city, words = " ".join(tail), words[:j]
    number = ""
    start = 0
    unit_type = unit_id = ""
    slash = r.slash_unit
    for i, w in enumerate(words):
        if slash is not None and "/" in w and (m := slash.match(w)):
            # `2/15`: unit 2 of number 15, under the designator written before it (`Apt 2/15`) if any
            number, unit_id, start = m.group(2), m.group(1), i + 1
            unit_type = words[i - 1] if i > 0 and words[i - 1] in unit_words else "#"
            break
        if house.match(w) and i + 1 < len(words) and words[i + 1] != "," and not (
                i > 0 and words[i - 1] in unit_words):
            number, start = w, i + 1
            if r.fractions and start < len(words) and _FRACTION.match(words[start]):
                number += " " + words[start]
                start += 1
            break
    if number and r.leading_units and not unit_id:
        unit_type, unit_id = _leading_unit(words[:start - 1], r)
    street_toks: list[str] = []
    rest = words[start:] if number else words
    uid = r.unit_id
    i = 0
    while i < len(rest):
        w = rest[i]
        if w == ",":
            if street_toks:
                # a comma ends the street, unless only a unit follows
                tail = [x for x in rest[i + 1:] if x != ","]
                if tail and tail[0] in unit_words:
                    unit_type, unit_id = tail[0], " ".join(tail[1:2])
                break
            i += 1
            continue
        if w in unit_words and street_toks and (i + 1 < len(rest) or w == "#") and (
                uid is None or i + 1 < len(rest) and uid.match(rest[i + 1])):
            unit_type, unit_id = w, rest[i + 1] if i + 1 < len(rest) else ""
            break
        if w.startswith("#") and len(w) > 1 and street_toks:
            unit_type, unit_id = "#", w[1:]
            break
        street_toks.append(w)
        i += 1
    unit_type = r.unit_canon.get(unit_type, unit_type)
    return _address(number=number, street=" ".join(street_toks), unit_type=unit_type, unit_id=unit_id,
                   city=city, state="", postcode=postcode, warnings=("re-read with the reference",))


def _leading_unit(words: list, r: GeoRules) -> tuple[str, str]:
    """(designator, id) of a unit written before the house number (`Unit 2,` `Flat 2` `U2`), else ("", "")."""
    glued = r.glued_unit
    for i, w in enumerate(words):
        if w in r.unit_words and i + 1 < len(words) and r.unit_id is not None and r.unit_id.match(words[i + 1]):
            return w, words[i + 1]
        if glued is not None and (m := glued.match(w)):
            return m.group(1), m.group(2)
    return "", ""


# --------------------------------------------------------------------------------------------
# Geocoder
# --------------------------------------------------------------------------------------------

_M_PER_DEG = 111_195.0


def _by_score(c) -> float:
    return -c.score


_SETTLED_NOTES = {("house number not in the reference: interpolated",), ("house number outside the street's range",)}


def _settled(best) -> bool:
    """A reading the rule-based parse cannot improve on: the exact street key in the town the query
    names (agreeing with its ZIP), no rival, and the query's house number read and placed on that
    street (interpolated, or beyond its range): a point is not there to be found by another reading."""
    return best is not None and best.street_factor >= 1.0 and best.town_factor >= 1.0 and \
        best.notes in _SETTLED_NOTES


def _query_keys(a: Address, rules: GeoRules | None = None) -> tuple:
    """Everything of an `Address` that matching reads: two readings with equal keys match alike."""
    return (street_key(a, rules), number_key(a.number) if a.number else None, a.postcode[:5],
            city_key(a.city, rules) if a.city else "",
            bool(a.city), a.unit_type, a.unit_id, bool(a.po_box))

_RANK = {"none": 0, "locality": 1, "postcode": 2, "street": 3, "interpolated": 4, "point": 5}


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres (equirectangular: exact enough below a few km, and fast)."""
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * k, lat2 - lat1) * _M_PER_DEG


class _LRU(dict):
    """A bounded cache: at most `maxsize` entries (and, with `weight`, at most `maxweight` in
    total, e.g. points), the oldest loaded evicted first.

    First-in-first-out rather than strict LRU: a hit is one plain dict look-up (no reordering on
    the hot path), and an evicted hot entry only costs one reload.
    """

    def __init__(self, maxsize: int, weight=None, maxweight: int = 0):
        super().__init__()
        self.maxsize = maxsize
        self.weight, self.maxweight, self.total = weight, maxweight, 0

    def get_or(self, key, load):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = self[key] = load(key)
            if self.weight is not None:
                self.total += self.weight(value)
                while self.total > self.maxweight and len(self) > 1:
                    self.total -= self.weight(self.pop(next(iter(self))))
            if len(self) > self.maxsize:
                old = self.pop(next(iter(self)))
                if self.weight is not None:
                    self.total -= self.weight(old)
        return value


_MISSING = object()


def _street_points(street) -> int:
    return len(street.rows) + 1


@dataclass(frozen=True)
class Candidate:
    """One scored candidate (used by `explain`): how each factor of its score came about."""

    label: str
    precision: str
    score: float
    lon: float | None
    lat: float | None
    ref_id: str = ""
    street_factor: float = 0.0
    town_factor: float = 0.0
    number_factor: float = 0.0
    notes: tuple[str, ...] = ()
    street_id: int = 0


# Records built on the hot path (several per query): filling the instance dict directly costs a
# third of the frozen dataclass's field-by-field `__init__`; the result is the same (tests compare).
_new = object.__new__
_setattr = object.__setattr__
_MATCH_DEFAULTS = {"precision": "none", "score": 0.0, "lon": None, "lat": None, "matched": "", "ref_id": "",
                   "reason": "", "address": None}
_ADDRESS_DEFAULTS = {f: "" for f in Address.__dataclass_fields__ if f != "warnings"}


def _candidate(label, precision, score, lon, lat, ref_id, sf, tf, nf, notes, sid) -> Candidate:
    c = _new(Candidate)
    _setattr(c, "__dict__", {"label": label, "precision": precision, "score": score, "lon": lon, "lat": lat,
                             "ref_id": ref_id, "street_factor": sf, "town_factor": tf, "number_factor": nf,
                             "notes": notes, "street_id": sid})
    return c


def _match(**fields) -> Match:
    m = _new(Match)
    d = dict(_MATCH_DEFAULTS)
    d.update(fields)
    _setattr(m, "__dict__", d)
    return m


def _address(**fields) -> Address:
    a = _new(Address)
    d = dict(_ADDRESS_DEFAULTS)
    d.update(fields)
    d.setdefault("warnings", ())
    _setattr(a, "__dict__", d)
    return a


@dataclass(frozen=True)
class Explanation:
    """Why a query matched what it matched: components, keys, block, top candidates, verdict."""

    components: dict
    keys: dict
    block: dict
    candidates: list
    match: dict
    why: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (the CLI's `--format json`)."""
        return asdict(self)

    def to_text(self) -> str:
        """A human-readable multi-line report (the CLI's text format)."""
        comp = ", ".join(f"{k}={v!r}" for k, v in self.components.items() if v and k != "warnings")
        lines = [f"components: {comp}",
                 "keys:       " + ", ".join(f"{k}={v!r}" for k, v in self.keys.items()),
                 "block:      " + ", ".join(f"{k}={v}" for k, v in self.block.items()),
                 "candidates:"]
        for i, c in enumerate(self.candidates, 1):
            lines.append(f"  {i}. {c['score']:.3f} {c['precision']:<12} {c['label']}  "
                         f"(street {c['street_factor']:.2f} x town {c['town_factor']:.2f} x number "
                         f"{c['number_factor']:.2f}{'; ' + '; '.join(c['notes']) if c['notes'] else ''})")
        if not self.candidates:
            lines.append("  (none)")
        m = self.match
        lines.append(f"result:     {m['precision']} score={m['score']:.3f} {m['matched']}"
                     + (f"  [{m['reason']}]" if m["reason"] else ""))
        lines.append(f"why:        {self.why}")
        return "\n".join(lines)


@dataclass
class _Street:
    sid: int
    city_id: int
    name: str
    core: str
    full: str
    lon: float
    lat: float
    nums: list  # sorted integer parts
    rows: list  # (number, num, lon, lat, ref_id, postcode, unit) sorted by num (a number is found by bisection)
    key: StreetKey
    tail: str = ""  # ", TOWN, ST" for labels, filled on first use


@dataclass
class _Town:
    cid: int
    name: str
    state: str
    lon: float
    lat: float
    by_core: dict  # core -> [street ids]
    cores: list  # distinct cores
    fulls: list  # (full key, core) of every street and alias, for the fuzzy forms
    rules: GeoRules | None = None
    _fuzzy: dict = field(default_factory=dict)

    def fuzzy(self, level: str) -> tuple[list, list, list]:
        """([fuzzy forms], [core of each form], [length of each form]) of one level, sorted by length
        so a query compares only forms whose length is within its edit budget (an edit distance is
        at least the difference in length). Built on first use of that level: exact keys usually
        hit, and the coarser levels are only tried when the finer ones find nothing."""
        got = self._fuzzy.get(level)
        if got is None:
            forms: dict[str, str] = {}
            for full, core in self.fulls:
                forms.setdefault(_street_form(full, level, self.rules), core)
            items = sorted(forms.items(), key=lambda fc: len(fc[0]))
            got = self._fuzzy[level] = ([f for f, _ in items], [c for _, c in items], [len(f) for f, _ in items])
        return got


class Geocoder:
    """Geocode addresses against a reference built by `addrcode.geocoding.reference.build_reference`.

    Thread-compatible (one instance per thread/process). Memory is bounded by the caches:
    `cache_size` streets holding at most `max_cached_points` address points in all (long streets
    of a national file count for what they hold), `cache_size // 8` towns (their street lists),
    and the town keys (at most `max_city_list`).
    """

    def __init__(self, reference_path: Path | str, *, cache_size: int = 20_000, max_city_list: int = 100_000,
                 max_cached_points: int = 1_000_000):
        from addrcode.geocoding.reference import open_reference

        self.path = Path(reference_path)
        self._db = open_reference(self.path)
        self._streets = _LRU(cache_size, weight=_street_points, maxweight=max_cached_points)
        self._towns = _LRU(max(64, cache_size // 8))
        self._zips = _LRU(max(256, cache_size // 4))
        self._citykeys = _LRU(max(256, cache_size // 4))
        self._global = _LRU(max(256, cache_size // 16))
        self._fuzzy_cache = _LRU(max(256, cache_size // 8))
        self._max_city_list = max_city_list
        self._city_list: tuple[list, list] | None = None
        self._city_index: dict | None = None  # town key -> city ids ({} when too many to hold)
        self.locale = self._meta_locale()
        self.rules = geo_rules(self.locale)
        self._cities: frozenset | None = None  # town names for the normalize stage (locales that use them)

    # -- loading (all through indexes) -------------------------------------------------------

    def close(self) -> None:
        """Close the reference."""
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _meta_locale(self) -> str:
        """The address locale the reference was built with (`meta.locale`; `us` when absent)."""
        import json

        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='locale'").fetchone()
            loc = json.loads(row[0]) if row else "us"
        except (sqlite3.DatabaseError, ValueError, TypeError):
            loc = "us"
        return loc if isinstance(loc, str) and loc else "us"

    def _town_names(self) -> frozenset | None:
        """The reference's town names (as the normalize stage writes them), for locales whose
        normalizer settles the street/locality boundary with them; None for the others."""
        if not self.rules.known_cities:
            return None
        if self._cities is None:
            rows = self._db.execute("SELECT name FROM cities LIMIT ?", (self._max_city_list + 1,)).fetchall()
            self._cities = frozenset(r[0] for r in rows) if len(rows) <= self._max_city_list else frozenset()
        return self._cities or None

    def _read(self, text: str) -> Address:
        """The normalize stage's reading of `text` in the reference's locale."""
        try:
            return _normalize(text, self.locale, self._town_names())
        except Exception as e:  # a bad row is data, not a crash
            return Address(warnings=(f"normalize failed ({type(e).__name__})",))

    def _load_town(self, cid: int) -> _Town:
        row = self._db.execute("SELECT name, state, lon, lat FROM cities WHERE id=?", (cid,)).fetchone()
        by_core: dict[str, list[int]] = {}
        fulls: list[str] = []
        for sid, core, full in self._db.execute(
                "SELECT id, core, full FROM streets WHERE city_id=? UNION ALL "
                "SELECT street_id, core, full FROM street_aliases WHERE city_id=?", (cid, cid)):
            by_core.setdefault(core, []).append(sid)
            fulls.append((full, core))
        return _Town(cid, row[0], row[1], row[2], row[3], by_core, list(by_core), fulls, self.rules)

    def _town(self, cid: int) -> _Town:
        return self._towns.get_or(cid, self._load_town)

    def _load_street(self, sid: int) -> _Street:
        cid, name, core, full, lon, lat, p0, p1 = self._db.execute(
            "SELECT city_id, name, core, full, lon, lat, p0, p1 FROM streets WHERE id=?", (sid,)).fetchone()
        # the street's points are one contiguous id range in (num, id) order: a rowid range scan
        rows = self._db.execute("SELECT number, num, lon, lat, ref_id, postcode, unit FROM points "
                                "WHERE id BETWEEN ? AND ?", (p0, p1)).fetchall()
        return _Street(sid, cid, name, core, full, lon, lat, [r[1] for r in rows], rows, street_key_text(full, self.rules))

    def _street(self, sid: int) -> _Street:
        return self._streets.get_or(sid, self._load_street)

    def _load_zip(self, pc: str) -> dict:
        return {cid: (n, lon, lat) for cid, n, lon, lat in
                self._db.execute("SELECT city_id, n, lon, lat FROM zips WHERE postcode=?", (pc,))}

    def _zip_towns(self, postcode: str) -> dict:
        got = self._zips.get(postcode)
        return got if got is not None else self._zips.get_or(postcode, self._load_zip)

    def _load_city_ids(self, key: str) -> tuple:
        return tuple(r[0] for r in self._db.execute("SELECT city_id FROM city_keys WHERE key=?", (key,)))

    def _city_ids(self, key: str) -> tuple:
        if self._city_index is None:
            self._load_city_list()
        if self._city_index:  # every town key in memory (the usual case): no database round trip
            return self._city_index.get(key, ())
        got = self._citykeys.get(key)
        return got if got is not None else self._citykeys.get_or(key, self._load_city_ids)

    def _load_city_list(self) -> None:
        """The town keys (a few per town: small next to the points), loaded once. Above
        `max_city_list` keys only the fuzzy list is kept and exact keys go through the index."""
        rows = self._db.execute("SELECT key, city_id FROM city_keys LIMIT ?", (self._max_city_list + 1,)).fetchall()
        complete = len(rows) <= self._max_city_list
        rows = rows[: self._max_city_list]
        self._city_list = ([r[0] for r in rows], [r[1] for r in rows])
        index: dict[str, tuple] = {}
        if complete:
            for k, cid in rows:
                index[k] = index.get(k, ()) + (cid,)
        self._city_index = index

    def _known_city(self, key: str) -> bool:
        return bool(key) and bool(self._city_ids(key))

    def _fuzzy_cities(self, key: str) -> list[tuple[int, float]]:
        """Towns whose key is within a couple of edits of `key` (bounded list, loaded once)."""
        from rapidfuzz import fuzz, process

        if self._city_list is None:
            self._load_city_list()
        keys, ids = self._city_list
        out: dict[int, float] = {}
        for _k, sc, i in process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=75, limit=5):
            out[ids[i]] = max(out.get(ids[i], 0.0), sc / 100)
        return sorted(out.items(), key=lambda t: -t[1])

    def _global_core(self, core: str) -> tuple:
        def load(c):
            return tuple(dict.fromkeys(r[0] for r in self._db.execute(
                "SELECT id FROM streets WHERE core=? UNION ALL SELECT street_id FROM street_aliases WHERE core=? "
                "LIMIT 200", (c, c))))
        return self._global.get_or(core, load)

    # -- public API ---------------------------------------------------------------------------

    def geocode(self, text: str) -> Match:
        """Geocode one free-text address. Never raises on odd input: returns precision "none".

        `Match.address` is the reading the answer came from: the reference-guided one (street
        words as written, e.g. `NORTH JAY ROAD`) when it was confident, else the normalize stage's.
        """
        if not isinstance(text, str) or not text.strip():
            return Match(reason="empty address")
        # exact look-ups first: the text read with what the reference knows (its town names) is
        # usually enough, and a confident point there (exact town, exact street key, exact number,
        # no rival) is what the rule-based parse would find too; only the rest pays for it
        alt = guided_parse(text, self._known_city, self.rules)
        m2, best = self._run(alt, explain=False)
        if m2.precision == "point" and m2.score >= 0.9 or _settled(best):
            return m2
        address = self._read(text)
        if _query_keys(address, self.rules) == _query_keys(alt, self.rules):  # both readings ask the same question
            return _match(**{**m2.__dict__, "address": address})
        m = self.geocode_address(address)
        if m.precision == "point" and m.score >= 0.9:
            return m
        if (_RANK[m2.precision], m2.score) > (_RANK[m.precision], m.score):
            return _match(**{**m2.__dict__, "address": address if address.street else alt})
        return m

    def geocode_fields(self, **components) -> Match:
        """Geocode from separate fields: number, street, unit, city, state, postcode."""
        fields = {k: components.get(k, "") or "" for k in ("number", "street", "unit", "city", "state", "postcode")}
        return self.geocode_address(_normalize_fields(**fields, locale=self.locale))

    def geocode_address(self, address: Address) -> Match:
        """Geocode a normalized `Address`."""
        return self._run(address, explain=False)[0]

    def geocode_many(self, texts) -> list[Match]:
        """Geocode a batch of free-text addresses, in order."""
        return [self.geocode(t) for t in texts]

    def explain(self, text: str) -> Explanation:
        """Geocode `text` and say why: components, keys, block, top candidates, verdict.

        Follows `geocode`'s path: the reference-guided reading first, the rule-based parse when
        that is not a confident point, the better of the two.
        """
        if not isinstance(text, str):
            text = ""
        alt = guided_parse(text, self._known_city, self.rules)
        m2, exp2 = self._run(alt, explain=True)
        if m2.precision == "point" and m2.score >= 0.9 or _settled(self._run(alt, explain=False)[1]):
            return replace(exp2, why=exp2.why + "; text read with the reference's town names (settled, "
                                                "the rule-based parse was not needed)")
        address = self._read(text)
        m, exp = self._run(address, explain=True)
        if m.precision == "point" and m.score >= 0.9:
            return exp
        if (_RANK[m2.precision], m2.score) > (_RANK[m.precision], m.score):
            return replace(exp2, why=exp2.why + "; the rule-based parse did worse, text re-read with the reference")
        return exp

    # -- matching -----------------------------------------------------------------------------

    def _run(self, a: Address, explain: bool):
        rules = self.rules
        sk = street_key(a, rules)
        number, num = number_key(a.number) if a.number else ("", None)
        postcode = a.postcode[:5] if a.postcode else ""
        ckey = city_key(a.city, rules) if a.city else ""
        notes_block: dict = {}

        # 1. towns named by the city (exact key, else fuzzy) and by the ZIP
        town_ev: dict[int, float] = {}  # city_id -> confidence the query names this town
        if ckey:
            ids = self._city_ids(ckey)
            if ids:
                for cid in ids:
                    town_ev[cid] = 1.0
            else:
                for cid, sim in self._fuzzy_cities(ckey):
                    town_ev[cid] = 0.97 if sim >= 0.85 else 0.9
        zip_towns = self._zip_towns(postcode) if postcode else {}
        block = list(dict.fromkeys(list(town_ev) + list(zip_towns)))
        if explain:
            notes_block = {"towns_from_city": len(town_ev), "towns_from_zip": len(zip_towns),
                           "towns": [self._town(c).name for c in block[:12]]}

        cands: list[Candidate] = []
        how = ""
        if sk.core:
            sids, how = self._street_candidates(sk, block)
            if not sids and block:
                sids = [(sid, 1.0, (), None) for sid in self._global_core(sk.core)]
                how = "exact street key outside the named town/ZIP"
            rest = ()
            if town_ev and not explain and len(sids) > 1:
                # the query names a town: a street of another town scores at most 0.68 (town factor),
                # so once a named town's street scores >= 0.75 the others can neither win nor tie
                # within the ambiguity margin (0.06): score them only when needed
                named = [c for c in sids if c[3] in town_ev]
                if named and len(named) < len(sids):
                    rest = [c for c in sids if c[3] not in town_ev]
                    sids = named
            for sid, sfac, snotes, _cid in sids:
                cands.append(self._score(a, sk, number, num, sid, sfac, snotes, town_ev, zip_towns, postcode, how))
            if rest and max(c.score for c in cands) < 0.75:
                for sid, sfac, snotes, _cid in rest:
                    cands.append(self._score(a, sk, number, num, sid, sfac, snotes, town_ev, zip_towns, postcode,
                                             how))
            if len(cands) > 1:
                cands.sort(key=_by_score)
        if explain:
            notes_block["streets_considered"] = len(cands)
            notes_block["street_match"] = how or "no street in the query"

        if cands:
            best = cands[0]
            reason = ""
            # ambiguity: a runner-up nearly as good, somewhere else
            for other in cands[1:4]:
                if other.score >= best.score - 0.06 and other.lon is not None and best.lon is not None and \
                        distance_m(best.lon, best.lat, other.lon, other.lat) > 100:
                    reason = f"ambiguous: {1 + sum(1 for o in cands[1:] if o.score >= best.score - 0.06)} " \
                             "candidates far apart score alike"
                    best = _candidate(best.label, best.precision, best.score * 0.6, best.lon, best.lat, best.ref_id,
                                      best.street_factor, best.town_factor, best.number_factor,
                                      best.notes + ("ambiguous",), best.street_id)
                    break
            if not reason and best.notes:
                reason = "; ".join(n for n in best.notes if not n.startswith("_"))
            m = _match(precision=best.precision, score=round(min(best.score, 1.0), 3), lon=best.lon, lat=best.lat,
                      matched=best.label, ref_id=best.ref_id, reason=reason, address=a)
            why = self._why(best, cands) if explain else ""
        else:
            m = self._fallback(a, sk, town_ev, zip_towns, postcode)
            why = f"no street candidate; fell back to {m.precision}"
        if not explain:
            return m, (best if cands else None)
        comps = a.to_dict()
        exp = Explanation(components=comps,
                          keys={"street_core": sk.core, "street_full": sk.full, "number": number,
                                "city": ckey, "postcode": postcode},
                          block=notes_block,
                          candidates=[{k: v for k, v in asdict(c).items() if k != "street_id"} for c in cands[:5]],
                          match={"precision": m.precision, "score": m.score, "matched": m.matched,
                                 "reason": m.reason, "lon": m.lon, "lat": m.lat},
                          why=why)
        return m, exp

    def _street_candidates(self, sk: StreetKey, block: list[int]):
        """[(street id, street factor, notes, town id)] in the block: exact core key first, fuzzy if none."""
        out = []
        alts = [(sk.core, 1.0)]
        if sk.route and sk.core.startswith("RTE "):
            alts.append(("US " + sk.core, 0.97))  # "Route 7" may be US Route 7
        elif sk.route and sk.core.startswith("US RTE "):
            alts.append((sk.core[3:], 0.9))
        towns = self._towns
        for cid in block:
            town = towns.get(cid) or self._town(cid)
            for core, f in alts:
                for sid in town.by_core.get(core, ()):
                    out.append((sid, f, (), cid))
        if out or not block:
            if not block:
                out = [(sid, 1.0, (), None) for sid in self._global_core(sk.core)]
                return out, "exact street key, no town or ZIP in the query"
            return out, "exact street key in the block"
        # the same misspelt street in the same block comes back (the second reading of one query,
        # repeated rows): remember the fuzzy verdict, bounded
        ckey = (sk.predir, sk.core, sk.suffix, sk.postdir, tuple(block))
        hit = self._fuzzy_cache.get(ckey)
        if hit is None:
            hit = self._fuzzy_cache.get_or(ckey, lambda _k: tuple(self._fuzzy_streets(sk, block)))
        return list(hit), "fuzzy street name in the block"

    def _fuzzy_streets(self, sk: StreetKey, block: list[int]) -> list:
        """Streets of the block whose name is a few edits from the query's, at the first level that finds any."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        out: list = []
        # as typed with directionals and suffix first ("W IHLL RD"), then name + suffix ("JOHNSON
        # LOYOP" is one edit from "JOHNSON LOOP"), then the name alone (typo and a missing suffix)
        tried = set()
        for level in _FUZZY_LEVELS:
            q = _fuzzy_level(sk, level, self.rules)
            if q in tried:
                continue
            tried.add(q)
            qdigits = _DIGITS.findall(q)
            n = len(q.replace(" ", ""))
            max_edits = 1 if n <= 4 else 2 if n <= 12 else 3
            qn = q.replace(" ", "")
            seen = set()
            lq = len(q)
            for cid in block:
                town = self._town(cid)
                forms, cores, lens = town.fuzzy(level)
                lo, hi = bisect_left(lens, lq - max_edits), bisect_right(lens, lq + max_edits)
                if lo >= hi:
                    continue
                for form, dist, i in process.extract(q, forms[lo:hi], scorer=OSA.distance,
                                                     score_cutoff=max_edits, limit=8):
                    i += lo
                    if _DIGITS.findall(form) != qdigits:  # route 118 is not a typo of route 103
                        continue
                    if form.replace(" ", "") == qn:  # "MC DONALD" / "MCDONALD": not a typo
                        dist = 0.3
                    # evidence falls with the share of the name that had to change
                    f = 0.95 * (1.0 - min(dist, n) / max(n, 1)) ** 1.5
                    for sid in town.by_core[cores[i]]:
                        if sid not in seen:
                            seen.add(sid)
                            out.append((sid, f, (f"street name {dist:g} edit(s) away",), cid))
            if out:
                break
        return out

    def _score(self, a, sk, number, num, sid, sfac, snotes, town_ev, zip_towns, postcode, how) -> Candidate:
        st = self._streets.get(sid) or self._street(sid)
        notes = list(snotes)
        rk = st.key
        # suffix and directionals: same evidence whichever side of the name they were written on
        if sk.suffix != rk.suffix:
            if sk.suffix and rk.suffix:
                sfac *= 0.85
                notes.append("different street suffix")
            elif rk.suffix:
                sfac *= 0.97
            else:
                sfac *= 0.93
        qd, rd = sk.predir or sk.postdir, rk.predir or rk.postdir
        if qd != rd:
            if qd and rd:
                sfac *= 0.6
                notes.append("different directional")
            elif rd:
                sfac *= 0.9
            else:
                sfac *= 0.9
        # town / ZIP agreement
        ev = town_ev.get(st.city_id, 0.0)
        in_zip = st.city_id in zip_towns
        if ev >= 1.0:
            tfac = 1.0 if (not postcode or in_zip) else 0.95
        elif ev > 0:
            tfac = ev if (not postcode or in_zip) else ev * 0.9
        elif in_zip:
            if not a.city:
                tfac = 0.97
            elif town_ev:  # the query names another town the reference knows
                tfac = 0.68
                notes.append("town differs from the query")
            else:  # a name the reference has no town for (a village or postal name: Morrisville for
                # Morristown): it contradicts nothing, and the ZIP places the street
                tfac = 0.93
                notes.append("town name not in the reference; the ZIP agrees")
        elif how.startswith("exact street key, no town"):
            tfac = 0.8
        else:
            tfac = 0.45
            notes.append("street found outside the named town/ZIP")
        # house number
        label_street = st.name
        if a.unit_type or a.unit_id:
            label_street += " " + (f"{a.unit_type} {a.unit_id}" if a.unit_type and a.unit_id else a.unit_type or a.unit_id)
        tail = st.tail
        if not tail:  # ", TOWN, ST" of the street's town, once per cached street
            town = self._towns.get(st.city_id) or self._town(st.city_id)
            tail = st.tail = f", {town.name}, {town.state}"
        nums = st.nums
        i = bisect_left(nums, num) if num is not None else 0
        idx = None
        if number and num is not None:
            rows = st.rows
            j, n = i, len(nums)
            while j < n and nums[j] == num:
                if rows[j][0] == number:
                    if idx is None:
                        idx = [j]
                    else:
                        idx.append(j)
                j += 1
        if idx is not None:
            if len(idx) > 1:
                # units of one number (flats of a complex, spread over a site): the query's unit, or
                # without one the number's own point (no unit), settles which; else all are compared
                uid = a.unit_id
                same = [j for j in idx if st.rows[j][6] == uid] if uid or a.unit_type else \
                    [j for j in idx if not st.rows[j][6]]
                if same:
                    idx = same
            r = st.rows[idx[0]]
            nfac = 1.0
            if len(idx) > 1:
                far = max(distance_m(r[2], r[3], st.rows[j][2], st.rows[j][3]) for j in idx[1:])
                if far > 50:
                    nfac = 0.6
                    notes.append(f"ambiguous: {len(idx)} points with this number")
            if postcode and r[5] and r[5] != postcode and tfac >= 1.0:
                tfac = 0.97
            return _candidate(f"{r[0]} {label_street}{tail} {r[5]}".rstrip(), "point", sfac * tfac * nfac,
                             r[2], r[3], r[4], sfac, tfac, nfac, tuple(notes), sid)
        zipc = ""
        if num is not None and st.nums:
            if i < len(st.nums) and st.nums[i] == num:  # same integer, other letter/fraction ("12" vs "12A")
                r = st.rows[i]
                notes.append("house number differs in its suffix")
                return _candidate(f"{r[0]} {label_street}{tail} {r[5]}".rstrip(), "point", sfac * tfac * 0.85,
                                 r[2], r[3], r[4], sfac, tfac, 0.85, tuple(notes), sid)
            lo = hi = None
            for j in range(i - 1, max(-1, i - 60), -1):
                if st.nums[j] % 2 == num % 2:
                    lo = j
                    break
            for j in range(i, min(len(st.nums), i + 60)):
                if st.nums[j] % 2 == num % 2:
                    hi = j
                    break
            nfac = 0.72
            if lo is None or hi is None:  # no same-side bracket: use the other side
                lo = i - 1 if i > 0 else None
                hi = i if i < len(st.nums) else None
                nfac = 0.65
            if lo is not None and hi is not None:
                r0, r1 = st.rows[lo], st.rows[hi]
                t = (num - r0[1]) / (r1[1] - r0[1]) if r1[1] != r0[1] else 0.5
                lon, lat = r0[2] + t * (r1[2] - r0[2]), r0[3] + t * (r1[3] - r0[3])
                gap = distance_m(r0[2], r0[3], r1[2], r1[3])
                # rural numbers follow distance along the road only roughly: the wider the gap between
                # the bracketing points, the less the interpolated point is worth
                if gap > 300:
                    nfac *= 0.6
                elif gap > 120:
                    nfac *= 0.8
                zipc = r0[5] if r0[5] == r1[5] else ""
                notes.append("house number not in the reference: interpolated")
                return _candidate(f"{number} {label_street}{tail} {zipc}".rstrip(), "interpolated",
                                 sfac * tfac * nfac, lon, lat, "", sfac, tfac, nfac, tuple(notes), sid)
            # outside the street's range: the nearest number on the street
            r = st.rows[0] if i == 0 else st.rows[-1]
            notes.append("house number outside the street's range")
            return _candidate(f"{label_street}{tail}", "street", sfac * tfac * 0.4, r[2], r[3], "",
                             sfac, tfac, 0.4, tuple(notes), sid)
        if number or a.po_box:
            notes.append("house number not usable")
        else:
            notes.append("no house number in the query")
        mid = st.rows[len(st.rows) // 2]
        return _candidate(f"{label_street}{tail}", "street", sfac * tfac * 0.5, mid[2], mid[3], "",
                         sfac, tfac, 0.5, tuple(notes), sid)

    def _fallback(self, a, sk, town_ev, zip_towns, postcode) -> Match:
        why = "no such street in the town/ZIP" if sk.core else "no street in the query"
        if postcode and zip_towns:
            n = sum(v[0] for v in zip_towns.values())
            lon = sum(v[0] * v[1] for v in zip_towns.values()) / n
            lat = sum(v[0] * v[2] for v in zip_towns.values()) / n
            agree = not town_ev or any(c in zip_towns for c in town_ev)
            return Match(precision="postcode", score=0.3 if agree else 0.2, lon=lon, lat=lat,
                         matched=f"{postcode}", reason=why + "; ZIP centroid", address=a)
        if town_ev:
            cid = max(town_ev, key=town_ev.get)
            t = self._town(cid)
            return Match(precision="locality", score=0.2 if len(town_ev) == 1 else 0.1, lon=t.lon, lat=t.lat,
                         matched=f"{t.name}, {t.state}", reason=why + "; town centroid", address=a)
        if a.city or postcode:
            return Match(reason="town and ZIP not in the reference", address=a)
        return Match(reason="nothing to match (no street, town or ZIP)", address=a)

    @staticmethod
    def _why(best: Candidate, cands: list) -> str:
        parts = [f"{best.precision} match, score {best.score:.3f} = street {best.street_factor:.2f} "
                 f"x town {best.town_factor:.2f} x number {best.number_factor:.2f}"]
        if len(cands) > 1:
            parts.append(f"runner-up scored {cands[1].score:.3f}")
        else:
            parts.append("only candidate")
        return "; ".join(parts)

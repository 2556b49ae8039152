"""What the geocoder reads differently per address locale: `GeoRules` and `geo_rules(name)`.

A locale is data here, not branches in the matching code: the key tables (street types, name
words written two ways, long forms for fuzzy matching, town words) shape the matching keys on both
sides (reference build and query, `addrcode.geocoding.keys`), the rest (postcodes, state names,
house numbers, unit designators) shapes the reference-guided reading of free text
(`addrcode.geocoding.guided`). The US state names come from USPS Publication 28's table
(`data/abbreviations/usps-pub28/usps_states.csv`), so no state is special.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
    "TRCE": "TRACE TRACES", "TRAK": "TRACK TRACKS TRK TRKS", "TRL": "TRAIL TRAILS TRLS",
    "TUNL": "TUNNEL TUNEL TUNLS TUNNELS TUNNL",
    "TPKE": "TURNPIKE TRNPK TURNPK", "UN": "UNION", "VLY": "VALLEY VALLY VLLY", "VIA": "VIADUCT VDCT VIADCT",
    "VW": "VIEW", "VWS": "VIEWS", "VLG": "VILLAGE VILL VILLAG VILLG VILLIAGE", "VL": "VILLE",
    "VIS": "VISTA VIST VST VSTA",
    "WALK": "WALKS", "WAY": "WY", "WL": "WELL", "WLS": "WELLS", "ACRES": "ACRE", "LOT": "LOTS",
}
SUFFIXES: dict[str, str] = {}
for _abbr, _forms in _SUFFIX_GROUPS.items():
    SUFFIXES[_abbr] = _abbr
    for _f in _forms.split():
        SUFFIXES.setdefault(_f, _abbr)
# Name words that are not suffixes but are written both ways.
_NAME_WORDS = {"SAINT": "ST", "STE": "ST", "FORT": "FT", "MOUNT": "MT", "MT": "MT", "CO": "COUNTY", "CNTY": "COUNTY",
               "TWP": "TOWNSHIP", "TWN": "TOWN", "HGWY": "HWY"}
_LONG = {abbr: forms.split()[0] for abbr, forms in _SUFFIX_GROUPS.items() if forms.split()[0] != abbr}
_LONG.update({"1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH", "5TH": "FIFTH", "6TH": "SIXTH",
              "7TH": "SEVENTH", "8TH": "EIGHTH", "9TH": "NINTH", "10TH": "TENTH"})
_LONG.update({"N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST", "NE": "NORTHEAST", "NW": "NORTHWEST",
              "SE": "SOUTHEAST", "SW": "SOUTHWEST"})
_LONG.update({"ST": "SAINT", "FT": "FORT", "MT": "MOUNT", "RTE": "ROUTE", "TH": "TOWN HIGHWAY", "I": "INTERSTATE"})
_CITY_WORDS = {"ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "FT": "FORT", "N": "NORTH", "S": "SOUTH", "E": "EAST",
               "W": "WEST", "JCT": "JUNCTION", "CTR": "CENTER", "VLG": "VILLAGE", "SPGS": "SPRINGS", "FLS": "FALLS"}
_UNIT_WORDS = {"APT", "APARTMENT", "UNIT", "STE", "SUITE", "LOT", "FL", "FLOOR", "RM", "ROOM", "BLDG", "BUILDING",
               "TRLR", "TRAILER", "SPC", "SPACE", "DEPT", "OFC", "OFFICE", "#", "NO"}
# USPS Publication 28 C2 designators, as the normalize stage writes them (the matched label shows the unit)
_UNIT_CANON = {"APARTMENT": "APT", "SUITE": "STE", "FLOOR": "FL", "ROOM": "RM", "BUILDING": "BLDG", "TRAILER": "TRLR",
               "SPACE": "SPC", "DEPARTMENT": "DEPT", "OFFICE": "OFC", "NO": "#"}
_HOUSE_NUM = re.compile(r"^(\d+[A-Z]?|[A-Z]\d+|\d+-\d+|[NS]\d+[EW]\d+|[EW]\d+[NS]\d+)$")  # + grid: N56W26530
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


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
    country_names: tuple  # the country's names as token tuples, longest first (`UNITED STATES`)
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
    state_codes: dict = field(default_factory=dict)  # state name or code, space-joined words -> its code
    region_ends: frozenset = field(init=False)  # every word a state or country name can end with
    # `state_phrases` and `country_names` grouped by their last word (order kept): a text's last
    # word finds the few phrases it can end, one dict look-up per text instead of a scan
    state_phrases_by_last: dict = field(init=False)
    country_names_by_last: dict = field(init=False)

    def __post_init__(self):
        ends = set(self.state_words) | {p[-1] for p in self.state_phrases} | {p[-1] for p in self.country_names}
        object.__setattr__(self, "region_ends", frozenset(ends))
        object.__setattr__(self, "state_phrases_by_last", _by_last_word(self.state_phrases))
        object.__setattr__(self, "country_names_by_last", _by_last_word(self.country_names))


def _by_last_word(phrases: tuple) -> dict[str, tuple]:
    """`phrases` (token tuples) grouped by their last word, order kept."""
    index: dict[str, list] = {}
    for phrase in phrases:
        index.setdefault(phrase[-1], []).append(phrase)
    return {word: tuple(group) for word, group in index.items()}




def _us_state_names() -> tuple[frozenset, tuple]:
    """(one-word state names and codes, several-word names as token tuples) of every US state and
    territory in Pub 28's table."""
    from addrcode.normalize.tables import load_us_tables

    words, phrases = set(), set()
    for name in load_us_tables().states:
        tokens = tuple(name.replace(".", " ").split())
        if len(tokens) == 1:
            words.add(tokens[0])
        else:
            phrases.add(tokens)
    return frozenset(words), tuple(sorted(phrases, key=len, reverse=True))


# the US highway families of the keys (`CR 3668`, `FM 544`), spelled out: typos land in the long form
_US_HIGHWAYS = {"CR": "COUNTY ROAD", "FM": "FARM TO MARKET", "RM": "RANCH TO MARKET"}


def _us_rules() -> GeoRules:
    from addrcode.normalize.tables import load_us_tables

    states, phrases = _us_state_names()
    return GeoRules(
        name="us", suffixes=SUFFIXES, type_lengths={}, name_words=_NAME_WORDS, long_forms={**_LONG, **_US_HIGHWAYS},
        city_words=_CITY_WORDS, postcode=_ZIP, state_words=states, state_phrases=phrases,
        country_names=(("UNITED", "STATES", "OF", "AMERICA"), ("UNITED", "STATES"), ("USA",)),
        house=_HOUSE_NUM, unit_words=frozenset(_UNIT_WORDS), unit_canon=_UNIT_CANON,
        state_codes=_state_codes(load_us_tables().states),
    )


def _state_codes(states: dict) -> dict:
    """The normalize tables' state spellings, keyed as `guided_parse` joins the tokens it drops."""
    return {" ".join(name.replace(".", " ").split()): code for name, code in states.items()}


# The US rules are the default and are read on every query: built once, at import.
US = _us_rules()


_RULES: dict[str, GeoRules] = {"us": US}


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
    for spelling in tb.states:
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
        state_phrases=tuple(sorted(phrases, key=len, reverse=True)), country_names=(("AUSTRALIA",),),
        house=re.compile(r"^\d{1,6}[A-Z]?(-\d{1,6}[A-Z]?)?$"), unit_words=unit_words, unit_canon=units,
        fractions=False,
        slash_unit=re.compile(r"^([A-Z]{0,2}\d{1,5}[A-Z]{0,2}|[A-Z])/(\d{1,6}[A-Z]?(?:-\d{1,6}[A-Z]?)?)$"),
        glued_unit=re.compile(r"^(" + "|".join(glued) + r")(\d{1,5}[A-Z]?)$"),
        unit_id=re.compile(r"^(?:[A-Z]{0,2}\d{1,5}[A-Z]{0,2}|[A-Z])$"),
        leading_units=True, known_cities=True, articles=frozenset(["THE"]), state_codes=_state_codes(tb.states),
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

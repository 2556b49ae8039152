"""Australian address tables: street types, street suffixes, flat/unit and level types, states.

Sources (see data/au/README.md):

* Street types and their abbreviations: the street-type list of AS 4590 (Interchange of client
  information) as published in Australia Post's addressing guidelines, which AS/NZS 4819 (Rural and
  urban addressing) shares; the canonical form written here is the standard abbreviation
  (`STREET` -> `ST`, `PARADE` -> `PDE`, `GROVE` -> `GR`, `BOULEVARD` -> `BVD`). Extra *input* spellings
  (`CRS`, `TERR`, `CIRC` ...) come from libpostal's `resources/dictionaries/en/street_types.txt`
  (MIT, github.com/openvenues/libpostal) as copied in ../shared/data/abbreviations.
* Flat/unit types and level types: AS 4590 flat types (`UNIT` -> `U`, `FLAT` -> `F`, `SUITE` -> `SE`,
  `SHOP`, `VILLA` -> `VLLA` ...) and level types (`LEVEL` -> `L`, `FLOOR` -> `FL`, `GROUND` -> `G`),
  with input spellings from libpostal's `unit_types_numbered.txt` / `level_types_numbered.txt`.
* States and territories: the eight official abbreviations and names.

Plain Python tables (no file to read): they are small, and a missing file can then never turn a
row into an error. Every key and value is upper case ASCII.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

# FULL NAME | standard abbreviation | other input spellings (space separated)
_STREET_TYPES = """
ACCESS|ACCS|ACC
ALLEY|ALLY|ALY
ALLEYWAY|ALWY|
AMBLE|AMBL|
APPROACH|APP|APCH APPR
ARCADE|ARC|
ARTERY|ARTY|
AVENUE|AVE|AV AVEN AVN AVNUE
BEND|BEND|BND
BOARDWALK|BWLK|BWK
BOULEVARD|BVD|BLVD BVDE BOULEVARDE BOUL BLV
BRACE|BRCE|
BRAE|BRAE|
BREAK|BRK|
BRIDGE|BDGE|BRDG BRG
BROADWAY|BDWY|BWAY
BROW|BROW|
BYPASS|BYPA|BYP BYPS
BYWAY|BYWY|
CAUSEWAY|CAUS|CSWY
CENTRE|CTR|CNTR CENTER
CENTREWAY|CNWY|
CHASE|CH|CHAS
CIRCLE|CIR|CIRC
CIRCLET|CLT|
CIRCUIT|CCT|CRCT CIRT CIRCT
CIRCUS|CRCS|
CLOSE|CL|CLS CLSE
COLONNADE|CLDE|
COMMON|CMMN|
CONCOURSE|CON|CONC CNC
COPSE|CPS|
CORNER|CNR|
CORSO|CSO|
COURT|CT|CRT
COURTYARD|CTYD|
COVE|COVE|
CRESCENT|CRES|CR CRS CRESC CRSNT
CREST|CRST|CST
CROSS|CRSS|
CROSSING|CRSG|XING
CROSSROAD|CRD|
CUL-DE-SAC|CDS|CUL
CUTTING|CTTG|
DALE|DALE|
DELL|DELL|
DEVIATION|DEVN|
DIP|DIP|
DISTRIBUTOR|DSTR|
DRIVE|DR|DRV DVE DRIV
DRIVEWAY|DRWY|
EDGE|EDGE|
ELBOW|ELB|
END|END|
ENTRANCE|ENT|
ESPLANADE|ESP|ESPL
ESTATE|EST|
EXPRESSWAY|EXP|EXPY
EXTENSION|EXTN|
FAIRWAY|FAWY|
FIRETRACK|FTRK|
FIRETRAIL|FITR|
FLAT|FLAT|
FOLLOW|FOLW|
FOOTWAY|FTWY|
FORESHORE|FSHR|
FORMATION|FORM|
FREEWAY|FWY|FRWY
FRONT|FRNT|
FRONTAGE|FRTG|
GAP|GAP|
GARDEN|GDN|
GARDENS|GDNS|GRDNS
GATE|GTE|
GATES|GTES|
GATEWAY|GWY|GTWY
GLADE|GLD|
GLEN|GLEN|GLN
GRANGE|GRA|
GREEN|GRN|
GROUND|GRND|
GROVE|GR|GRV GRVE GRO
GULLY|GLY|
HEIGHTS|HTS|HGTS HGHTS
HIGHROAD|HRD|
HIGHWAY|HWY|HWAY HGWY HIWAY
HILL|HILL|
INTERCHANGE|INTG|
INTERSECTION|INTN|
JUNCTION|JNC|JCT
KEY|KEY|
LANDING|LDG|
LANE|LANE|LN LA
LANEWAY|LNWY|
LEES|LEES|
LINE|LINE|
LINK|LINK|LNK
LITTLE|LT|
LOOKOUT|LKT|
LOOP|LOOP|LP
LOWER|LWR|
MALL|MALL|
MEANDER|MNDR|
MEW|MEW|
MEWS|MEWS|MWS
MOTORWAY|MWY|
MOUNT|MT|
NOOK|NOOK|
OUTLOOK|OTLK|
PARADE|PDE|PRDE PRD
PARK|PARK|
PARKLANDS|PKLD|
PARKWAY|PKWY|PWY
PART|PART|
PASS|PASS|
PATH|PATH|
PATHWAY|PWAY|
PIAZZA|PIAZ|
PLACE|PL|PLC
PLATEAU|PLAT|
PLAZA|PLZA|PLZ
POCKET|PKT|
POINT|PNT|PT
PORT|PORT|
PROMENADE|PROM|PRM
QUAD|QUAD|
QUADRANGLE|QDGL|
QUADRANT|QDRT|QD
QUAY|QY|
QUAYS|QYS|
RAMBLE|RMBL|
RAMP|RAMP|
RANGE|RNGE|
REACH|RCH|
RESERVE|RES|
REST|REST|
RETREAT|RTT|
RIDE|RIDE|
RIDGE|RDGE|RDG
RIDGEWAY|RGWY|
RIGHT OF WAY|ROWY|
RING|RING|
RISE|RISE|
RIVER|RVR|
RIVERWAY|RVWY|
RIVIERA|RVRA|
ROAD|RD|
ROADS|RDS|
ROADSIDE|RDSD|
ROADWAY|RDWY|
RONDE|RNDE|
ROSEBOWL|RSBL|
ROTARY|RTY|
ROUND|RND|
ROUTE|RTE|
ROW|ROW|
RUE|RUE|
RUN|RUN|
SERVICE WAY|SWY|
SIDING|SDNG|
SLOPE|SLPE|
SOUND|SND|
SPUR|SPUR|
SQUARE|SQ|SQR
STAIRS|STRS|
STATE HIGHWAY|SHWY|
STEPS|STPS|
STRAND|STRA|
STREET|ST|STR STRT
STRIP|STRP|
SUBWAY|SBWY|
TARN|TARN|
TERRACE|TCE|TERR TER
THOROUGHFARE|THOR|
TOLLWAY|TLWY|
TOP|TOP|
TOR|TOR|
TOWERS|TWRS|
TRACK|TRK|TRAK
TRAIL|TRL|
TRIANGLE|TRI|
TRUNKWAY|TKWY|
TURN|TURN|
UNDERPASS|UPAS|
UPPER|UPR|
VALE|VALE|
VIADUCT|VDCT|
VIEW|VIEW|VW
VILLAS|VLLS|
VISTA|VSTA|VST
WADE|WADE|
WALK|WALK|WLK
WALKWAY|WKWY|
WAY|WAY|WY
WHARF|WHRF|
WYND|WYND|
YARD|YARD|
"""

# Full street-type words that also *begin* locality names (`MOUNT EVELYN`, `UPPER FERNTREE GULLY`,
# `HILL END`, `BEND OF ISLANDS`, `ROUND SWAMP`, `GLEN ALVIE`, `PARK ORCHARDS`): written in full they end a
# street only when no other type does. Types that only *end* localities (`EMU HEIGHTS`, `CHIRNSIDE PARK`,
# `LAUNCHING PLACE`) need no care: a type with no word after it never opens a locality.
_WEAK = frozenset("MOUNT UPPER LOWER LITTLE GLEN HILL BEND ROUND VALE PARK POINT PORT GREEN CENTRAL".split())

# AS/NZS 4819 street suffixes (after the type: `MAIN ROAD EAST`).
STREET_SUFFIXES = {
    "N": "N", "NORTH": "N", "S": "S", "SOUTH": "S", "E": "E", "EAST": "E", "W": "W", "WEST": "W",
    "NE": "NE", "NORTH EAST": "NE", "NORTHEAST": "NE", "NW": "NW", "NORTH WEST": "NW", "NORTHWEST": "NW",
    "SE": "SE", "SOUTH EAST": "SE", "SOUTHEAST": "SE", "SW": "SW", "SOUTH WEST": "SW", "SOUTHWEST": "SW",
    "CN": "CN", "CENTRAL": "CN", "EX": "EX", "EXT": "EX", "EXTENSION": "EX", "LR": "LR", "LWR": "LR",
    "UP": "UP", "UPR": "UP",
}

# Flat/unit types (AS 4590): spelling -> standard abbreviation. `#` is "a unit, type not written".
_UNIT_TYPES = """
U|UNIT UNT UN
APT|APARTMENT APARTMENTS APT APPT AP APTS
F|FLAT FLT F
SE|SUITE STE SE SUIT
SHOP|SHOP SHP SHOPS
VLLA|VILLA VILLAS VLLA VIL
TNHS|TOWNHOUSE TOWNHOUSES TNHS TWNHS TNHSE
OFFC|OFFICE OFFC OFC
RM|ROOM RM
STU|STUDIO STU
FCTY|FACTORY FCTY FTY
WHSE|WAREHOUSE WHSE
KSK|KIOSK KSK
LOT|LOT LT
SITE|SITE
BLDG|BUILDING BLDG BLD
CTGE|COTTAGE CTGE COTT
HSE|HOUSE HSE
MSNT|MAISONETTE MSNT
PTHS|PENTHOUSE PTHS PH
DUPL|DUPLEX DUPL DUP
TNCY|TENANCY TNCY
STLL|STALL STLL
SHRM|SHOWROOM SHRM
CARS|CARSPACE CARS
TWR|TOWER TWR
#|NO NUMBER #
"""

# Level types (AS 4590).
_LEVEL_TYPES = """
L|LEVEL LEV LVL LEVL L
FL|FLOOR FLR FL
G|GROUND GRD
B|BASEMENT BSMT
LG|LOWER GROUND LG
UG|UPPER GROUND UG
M|MEZZANINE MEZZ
"""

STATES = {
    "VIC": "VIC", "VICTORIA": "VIC", "VIC.": "VIC",
    "NSW": "NSW", "NEW SOUTH WALES": "NSW", "N S W": "NSW",
    "QLD": "QLD", "QUEENSLAND": "QLD",
    "SA": "SA", "SOUTH AUSTRALIA": "SA",
    "WA": "WA", "WESTERN AUSTRALIA": "WA",
    "TAS": "TAS", "TASMANIA": "TAS",
    "NT": "NT", "NORTHERN TERRITORY": "NT",
    "ACT": "ACT", "AUSTRALIAN CAPITAL TERRITORY": "ACT",
}

# Locality words written abbreviated (`MT EVELYN`, `STH MORANG`, `UPR FERNTREE GULLY`).
LOCALITY_WORDS = {"MT": "MOUNT", "MTN": "MOUNTAIN", "STH": "SOUTH", "NTH": "NORTH", "UPR": "UPPER",
                  "LWR": "LOWER", "PT": "POINT", "SAINT": "ST", "CK": "CREEK", "CRK": "CREEK", "HTS": "HEIGHTS",
                  "GDNS": "GARDENS", "VLY": "VALLEY", "JNC": "JUNCTION", "STN": "STATION", "IS": "ISLAND",
                  "PK": "PARK", "FT": "FORT", "N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST"}

# Street-name words written abbreviated (`MT DANDENONG TOURIST RD`, `ST GEORGES RD`).
NAME_WORDS = {"MT": "MOUNT", "ST": "SAINT", "STH": "SOUTH", "NTH": "NORTH", "GT": "GREAT", "FT": "FORT"}


@dataclass(frozen=True, eq=False)  # hashed by identity (a cache key)
class AUTables:
    """Look-up tables of the AU locale."""

    street_types: dict  # any spelling (one word or several, space-joined) -> standard abbreviation
    type_lengths: dict  # last word of a multi-word type -> word counts, longest first
    strong_types: frozenset  # spellings that end a street by themselves
    type_full: dict  # abbreviation -> full name (for fuzzy forms / query generation)
    full_names: frozenset  # the full names (`ROAD`, `PLACE`): words that may also end a locality
    suffixes: dict  # street suffix spelling -> AS/NZS 4819 code
    units: dict  # flat/unit spelling -> abbreviation
    levels: dict  # level spelling -> abbreviation
    states: dict
    # the US normalizer's table names, so shared helpers (`us.tokenize`) accept these tables too
    directionals: dict


def _table(text: str):
    for line in text.strip().splitlines():
        yield line.split("|")


@functools.lru_cache(maxsize=1)
def load_au_tables() -> AUTables:
    """The AU tables (built once per process)."""
    types: dict[str, str] = {}
    full: dict[str, str] = {}
    strong: set[str] = set()
    for name, abbr, others in _table(_STREET_TYPES):
        full[abbr] = name
        spellings = {name, abbr, name.replace("-", " ")} | set(others.split())
        for s in spellings:
            types.setdefault(s, abbr)
        strong.update(s for s in spellings if s not in _WEAK)
    # abbreviations that are also common name/locality words stay weak when written alone
    for w in ("MT", "PT", "LT", "CH", "CON", "KEY", "END", "TOP", "RUN", "ROW", "RUE", "DIP"):
        strong.discard(w)
    lengths: dict[str, set] = {}
    for s in types:
        words = s.split()
        lengths.setdefault(words[-1], set()).add(len(words))
    units: dict[str, str] = {}
    for abbr, spellings in _table(_UNIT_TYPES):
        for s in spellings.split():
            units[s] = abbr
        units[abbr] = abbr
    levels: dict[str, str] = {}
    for abbr, spellings in _table(_LEVEL_TYPES):
        for s in spellings.split():
            levels[s] = abbr
        levels[abbr] = abbr
    return AUTables(
        street_types=types,
        type_lengths={w: tuple(sorted(ks, reverse=True)) for w, ks in lengths.items()},
        strong_types=frozenset(strong),
        type_full=full,
        full_names=frozenset(full.values()),
        suffixes=dict(STREET_SUFFIXES),
        units=units,
        levels=levels,
        states=dict(STATES),
        directionals={},
    )

"""Noisy spellings of a reference street: the building blocks of generated geocoding queries.

Pure functions of a street name (the reference's upper-case source text, `E BRANCH RD`) and, where
the variant is random, a `random.Random` the caller seeds, so a query set is reproducible:

- `split_street`: (leading directional, name words, suffix, trailing directional);
- `expand`: abbreviations spelled out in title case (`E BRANCH RD` -> `East Branch Road`);
- `typo`: one edit (substitution, deletion, insertion, transposition) after the first letter;
- `alias`: another common name of a route (`VT ROUTE 12A` -> `VT-12A`, `Rte 12A` ...), `SAINT` -> `St`,
  `TOWN HWY 5` -> `TH 5`; None when the street has none;
- `dir_ordinal`: directional or ordinal written the other way (`N` <-> `North`, `1ST` <-> `FIRST`).

`NAMES` (people and companies written before an address) and `UNITS` (unit designators) are the
noise a query adds around the address. Used by `addrcode.geocoding.calibrate` and by
`scripts/make_geocode_queries.py` (whose query sets, docs/ACCURACY.md, these functions make: change
one only knowing that it changes those sets).
"""

from __future__ import annotations

import random
import re

SUFFIX_LONG = {"RD": "Road", "ST": "Street", "LN": "Lane", "DR": "Drive", "AVE": "Avenue", "WAY": "Way",
               "HL": "Hill", "CIR": "Circle", "CT": "Court", "EXT": "Extension", "TER": "Terrace", "PL": "Place",
               "HWY": "Highway", "TRL": "Trail", "HTS": "Heights", "RDG": "Ridge", "PT": "Point", "BLVD": "Boulevard",
               "HOLW": "Hollow", "VW": "View", "EST": "Estate", "MTN": "Mountain", "XING": "Crossing",
               "SQ": "Square", "PKWY": "Parkway", "MDW": "Meadow", "MDWS": "Meadows", "BRK": "Brook",
               "LNDG": "Landing", "GRN": "Green", "CTR": "Center", "FLS": "Falls", "JCT": "Junction",
               "KNL": "Knoll", "LK": "Lake", "SPG": "Spring", "VLY": "Valley", "ORCH": "Orchard", "RUN": "Run"}
DIR_LONG = {"N": "North", "S": "South", "E": "East", "W": "West", "NE": "Northeast", "NW": "Northwest",
            "SE": "Southeast", "SW": "Southwest"}
ORD_WORDS = {"1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH", "5TH": "FIFTH", "6TH": "SIXTH",
             "7TH": "SEVENTH", "8TH": "EIGHTH", "9TH": "NINTH", "10TH": "TENTH"}
NAMES = ["John Smith", "Mary O'Brien", "Dr. Alan Green", "Acme Corp", "Green Mountain Coffee Co.", "Attn: Billing",
         "c/o Jane Doe", "Sugarbush Farm LLC", "Maria Garcia", "Ben & Jerry's", "Pat Lee", "Town Clerk"]
UNITS = ["Apt 3", "Apt. 2B", "Unit 5", "# 4", "#12", "Suite 200", "Ste 1", "Apt 1A", "Unit B", "Lot 7", "Fl 2"]


def split_street(street: str):
    """(leading directional, [name words], suffix, trailing directional) of an upper-case street."""
    toks = street.split()
    pre = toks.pop(0) if len(toks) > 1 and toks[0] in DIR_LONG else ""
    post = toks.pop() if len(toks) > 1 and toks[-1] in DIR_LONG else ""
    suf = toks.pop() if len(toks) > 1 and toks[-1] in SUFFIX_LONG else ""
    return pre, toks, suf, post


def expand(street: str) -> str:
    """The street with its directionals and suffix spelled out, in title case (`E BRANCH RD` -> `East Branch Road`)."""
    pre, toks, suf, post = split_street(street)
    words = ([DIR_LONG[pre]] if pre else []) + [t.title() if not t[0].isdigit() else t.lower() for t in toks]
    words += [SUFFIX_LONG[suf]] if suf else []
    words += [DIR_LONG[post]] if post else []
    return " ".join(words)


def typo(word: str, rng: random.Random) -> str:
    """`word` with one random edit after its first letter (words under 4 letters unchanged)."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)  # keep the first letter, as people do
    op = rng.choice("sdit")
    letters = "abcdefghijklmnopqrstuvwxyz"
    if op == "s":
        return word[:i] + rng.choice(letters.replace(word[i].lower(), "")) + word[i + 1:]
    if op == "d":
        return word[:i] + word[i + 1:]
    if op == "i":
        return word[:i] + rng.choice(letters) + word[i:]
    return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:] if word[i] != word[i - 1] else word[:i] + word[i + 1:]


def alias(street: str, rng: random.Random) -> str | None:
    """Another common name of the street (route numbers, SAINT/MOUNT, town highways), or None."""
    m = re.match(r"^(VT|US) ROUTE (\d+[A-Z]?)(.*)$", street)
    if m:
        kind, num, rest = m.groups()
        forms = ([f"Route {num}", f"Rte {num}", f"VT-{num}", f"VT {num}", f"Vermont Route {num}", f"State Route {num}",
                  f"VT Rte {num}", f"Rt {num}"] if kind == "VT" else
                 [f"US Route {num}", f"US-{num}", f"US Hwy {num}", f"U.S. Route {num}", f"US {num}"])
        return rng.choice(forms) + rest.title()
    m = re.match(r"^(SAINT|MOUNT) (.*)$", street)
    if m:
        return {"SAINT": "St", "MOUNT": "Mt"}[m.group(1)] + " " + expand(m.group(2))
    m = re.match(r"^TOWN HWY (\d+)(.*)$", street)
    if m:
        return rng.choice([f"Town Highway {m.group(1)}", f"TH {m.group(1)}"]) + m.group(2).title()
    return None


def dir_ordinal(street: str) -> str | None:
    """The street with its ordinal or directional written the other way, or None when it has neither."""
    pre, toks, suf, post = split_street(street)
    if any(t in ORD_WORDS for t in toks):
        toks = [ORD_WORDS.get(t, t) for t in toks]
    elif any(t in ORD_WORDS.values() for t in toks):
        inv = {v: k for k, v in ORD_WORDS.items()}
        toks = [inv.get(t, t) for t in toks]
    elif pre or post:
        # spell the directional out, or abbreviate a spelled-out one
        words = ([DIR_LONG[pre]] if pre else []) + toks + ([suf] if suf else [])
        return " ".join(words + ([DIR_LONG[post]] if post else []))
    elif toks and toks[0] in ("NORTH", "SOUTH", "EAST", "WEST") and len(toks) > 1:
        toks = [toks[0][0]] + toks[1:]
    else:
        return None
    return " ".join(([pre] if pre else []) + toks + ([suf] if suf else []) + ([post] if post else []))

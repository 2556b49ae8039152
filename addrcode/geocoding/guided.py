"""The reference-guided reading of free text: `guided_parse(text, known_city, rules)`.

Postcode at the end, a town name the reference knows just before it, the first house-number-like
token, the street between them, units cut off. Fast (one pass over the tokens, exact look-ups), and
for clean text it is all the geocoder needs: the rule-based normalize stage then never runs.
"""

from __future__ import annotations

import re

from addrcode.geocoding.keys import city_key
from addrcode.geocoding.rules import US, GeoRules
from addrcode.records import Address, quick_address

_FRACTION = re.compile(r"^\d/\d$")
_TEXT_TOK = re.compile(r"#|[0-9A-Za-z/'.-]+|,")


def _drop_region(toks: list, r: GeoRules, known_city, *, sure: bool) -> str:
    """Drop, in place, trailing commas, a country name and one state name (one word or several);
    return the state's code ("" when none was dropped).

    One state at most: towns are named like states (Georgia and Washington are Vermont towns).
    Unless `sure` (a postcode followed it), a state word that is also a street type written right
    after the street (`12 Oak Ct` is Court, not Connecticut) or a town the reference knows is read
    as that instead.
    """
    _pop_commas(toks)
    if not toks or toks[-1] not in r.region_ends:  # most text ends with a town or postcode: done
        return ""
    country = _trailing(toks, r.country_names_by_last)
    if country:
        del toks[-country:]
        _pop_commas(toks)
    n = _trailing(toks, r.state_phrases_by_last) or (1 if toks and toks[-1] in r.state_words else 0)
    if not n:
        return ""
    name = " ".join(toks[-n:])
    if not sure:
        after_street = n < len(toks) and toks[-n - 1] != ","
        if after_street and name in r.suffixes:
            return ""
        if known_city(city_key(name, r)) and not _town_part_before(toks, n):
            return ""
    del toks[-n:]
    _pop_commas(toks)
    return r.state_codes.get(name, "")


def _town_part_before(toks: list, n: int) -> bool:
    """Whether the last `n` tokens are a comma-separated part that follows a town part of its own,
    `STREET, TOWN, <n tokens>`: then they name the state even when a town has that name (`Marietta,
    Georgia` is Georgia the state; `Main St, Georgia` is Georgia, Vermont)."""
    end = len(toks) - n - 1
    if end < 1 or toks[end] != ",":
        return False
    start = end
    while start > 0 and toks[start - 1] != ",":
        start -= 1
    part = toks[start:end]
    return start > 0 and bool(part) and not any(ch.isdigit() for t in part for ch in t)


def _pop_commas(toks: list) -> None:
    while toks and toks[-1] == ",":
        toks.pop()


def _trailing(toks: list, by_last_word: dict) -> int:
    """The length of the first phrase (token tuples, longest first, grouped by their last word: see
    `GeoRules`) that ends `toks`, else 0."""
    if not toks:
        return 0
    for phrase in by_last_word.get(toks[-1], ()):
        n = len(phrase)
        if len(toks) > n and tuple(toks[-n:]) == phrase:
            return n
    return 0


def guided_parse(text: str, known_city, rules: GeoRules | None = None) -> Address:
    """Re-read free text with the reference's help: postcode at the end, a town name the reference
    knows just before it, the first house-number-like token, the street between them, units cut off.

    Used when the rule-based parse finds no good candidate (odd order, leading names, stray words).
    `known_city(key) -> bool` says whether the reference has a town under that key; `rules` is the
    locale's (`geo_rules`; None: US), which names postcodes, states, house numbers and unit forms.
    """
    r = US if rules is None else rules
    toks = _text_tokens(text)
    postcode = ""
    _pop_commas(toks)
    if toks and r.postcode.match(toks[-1]):
        postcode = toks.pop()[:5]
    state = _drop_region(toks, r, known_city, sure=bool(postcode))
    city, words = _known_town_at_end(toks, known_city, rules)
    if city:  # `State Town` order, or the commas between street and town
        state = _drop_region(words, r, known_city, sure=False) or state
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
    return quick_address(number=number, street=" ".join(street_toks), unit_type=unit_type, unit_id=unit_id,
                         city=city, state=state, postcode=postcode, warnings=("re-read with the reference",))


def _text_tokens(text: str) -> list[str]:
    """Upper-case word, `#` and comma tokens of free text, dots and lone apostrophes dropped."""
    if text.isascii():  # upper-casing first is then the same as per token, and one call
        toks = _TEXT_TOK.findall(text.upper())
        if "." in text:
            return [u for t in toks if (u := t.strip(".")) and u != "'"]
        if "'" in text:
            return [t for t in toks if t != "'"]
        return toks
    text = _fold_marks(text)  # `Kalākaua` is one word, KALAKAUA, as the matching keys have it
    return [u for t in _TEXT_TOK.findall(text) if (u := t.strip(".").upper()) and u != "'"]


def _fold_marks(text: str) -> str:
    """`text` with diacritics removed (NFKD, combining marks dropped)."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _known_town_at_end(words: list, known_city, rules) -> tuple[str, list]:
    """(town, the words before it): the longest run of up to 4 words ending the text that names a
    town the reference knows (a comma may only open the run); ("", words) if none does."""
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
                    return joined, words[:-n]
    return "", words


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

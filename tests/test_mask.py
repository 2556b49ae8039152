"""Masking of recipient names and phones: the rules in `addrcode.outputs.mask`, by example and by property."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addrcode.outputs.mask import PHONE_SHOWN, STARS, mask_name, mask_phone


@pytest.mark.parametrize("name, masked", [
    ("John Smith", "J*** S***"),
    ("  john   smith ", "j*** s***"),  # whitespace collapsed, case kept
    ("Johnathan Quincy-Smithers", "J*** Q***"),  # fixed length: no word length, no hyphen parts
    ("Jo Li", "J*** L***"),  # short words look like long ones
    ("Al", "A***"),
    ("Al B", "A*** ****"),  # a one-letter word shows no letter
    ("A B", "**** ****"),
    ("J R R Tolkien", "**** T***"),  # first and last word only: J R R not shown
    ("J. R. R. Tolkien", "**** T***"),
    ("X", "****"),  # a one-character name is never printed
    ("王小明", "王***"),  # no spaces (CJK): the first character, the family name
    ("山田 太郎", "山*** 太***"),
    ("Мария Иванова", "М*** И***"),  # Cyrillic
    ("محمد علي", "م*** ع***"),  # Arabic (logical order)
    ("Zoë Ångström", "Z*** Å***"),
    ("Zoe\u0308 A\u030angstro\u0308m", "Z*** Å***"),  # decomposed input: NFC first, marks stay with their letter
    ("Jean-Luc Picard", "J*** P***"),
    ("Mary Ann de la Cruz", "M*** C***"),  # middle words left out: the word count does not show
    ("O'Brien, Pat", "O*** P***"),  # punctuation around and inside words is not a letter
    ("Maria\u200b Lopez\u202e", "M*** L***"),  # zero-width and bidi controls dropped
    ("& -", ""),  # no letter at all: nothing
    ("", ""),
    (None, ""),
    ("   ", ""),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("phone, masked", [
    ("802-555-4567", "***-***-**67"),  # default: the last 2 digits
    ("(802) 555-4567", "(***) ***-**67"),
    ("802.555.4567", "***.***.**67"),
    ("+1 802 555 4567", "+* *** *** **67"),
    ("+44 20 7946 0958", "+** ** **** **58"),  # international: layout kept
    ("+33 1 23 45 67 89", "+** * ** ** ** 89"),
    ("802-555-4567 x123", "***-***-**67"),  # extension dropped, not shown as the last digits
    ("802-555-4567 ext. 9", "***-***-**67"),
    ("12345678", "******78"),
    ("555-1234", "***-***4"),  # 7 digits: at least six stay hidden
    ("911", "***"),  # short numbers: nothing shown
    ("1-800-FLOWERS", "*-***-*******"),  # letters are never shown
    ("０８０２５５５４５６７", "*********67"),  # full-width digits (NFKC)
    ("٠٨٠٢٥٥٥٤٥٦٧", "*********67"),  # Arabic-Indic digits read as ASCII
    ("tel: 802 555 4567", "*** *** *** **67"),
    ("phone?", ""),  # no digit: nothing to print
    ("", ""),
    (None, ""),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("digits, masked", [(0, "***-***-****"), (1, "***-***-***7"), (2, "***-***-**67"),
                                            (3, "***-***-*567"), (4, "***-***-4567")])
def test_phone_digits_shown_are_configurable(digits, masked):
    assert mask_phone("802-555-4567", digits) == masked
    assert mask_phone("555-1234", digits).count("*") >= 6  # never fewer than six hidden


@pytest.mark.parametrize("digits", [-1, 5, 10, True, "2", 2.0])
def test_phone_digits_out_of_range_are_refused(digits):
    with pytest.raises(ValueError, match="0 to 4"):
        mask_phone("802-555-4567", digits)


def test_default_phone_digits_are_at_most_two():
    assert PHONE_SHOWN <= 2
    for phone in ("802-555-4567", "+44 20 7946 0958", "+86 138 0013 8000", "0123456789012345"):
        assert len(re.sub(r"\D", "", mask_phone(phone))) <= 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=14),
                min_size=1, max_size=5))
def test_name_mask_has_a_fixed_shape_whatever_the_lengths(words):
    out = mask_name(" ".join(words))
    parts = out.split()
    assert 1 <= len(parts) <= 2  # first and last word only
    for part in parts:
        assert len(part) == 1 + STARS and part[1:] == "*" * STARS  # one character, then always ***
    for word, part in zip([words[0], words[-1]] if len(words) > 1 else words, parts):
        if len(word) == 1:
            assert part == "*" * (STARS + 1)  # a one-letter word shows no letter


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_name_shows_one_character_per_word_at_most(name):
    out = mask_name(name)
    assert out == out.strip() and not any(c in out for c in "\n\t\r")
    assert len(out.split()) <= 2
    for word in out.split():
        assert "-" not in word
        bases = [c for c in word.replace("*", "") if not unicodedata.category(c).startswith("M")]
        assert len(bases) <= 1, (name, out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -+()./x", min_size=0, max_size=30))
def test_phone_never_shows_more_than_asked_nor_fewer_than_six_hidden(phone):
    out = mask_phone(phone)
    shown = re.sub(r"\D", "", out)
    assert len(shown) <= 2
    assert len(re.sub(r"\D", "", mask_phone(phone, 4))) <= 4
    hidden = out.count("*")
    if shown:
        assert hidden >= 6
        digits = re.sub(r"\D", "", phone)
        assert digits.find(shown) >= 0  # the shown digits are digits of the number


def test_masking_is_deterministic_and_idempotent_on_its_output():
    for name in ("John Smith", "J R R Tolkien", "A B", "王小明"):
        assert mask_name(mask_name(name)) == mask_name(name)
    assert mask_phone(mask_phone("802-555-4567")) == "***-***-**67"
    assert mask_phone(mask_phone("802-555-4567", 4), 4) == "***-***-4567"

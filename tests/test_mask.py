"""Masking of recipient names and phones: the rules in `addrcode.outputs.mask`, by example and by property."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addrcode.outputs.mask import mask_address, mask_name, mask_phone


@pytest.mark.parametrize("name, masked", [
    ("John Smith", "J*** S****"),
    ("  john   smith ", "j*** s****"),  # whitespace collapsed, case kept
    ("Al", "A*"),  # short names: still only the first letter
    ("Al B", "A* B"),  # a one-letter word is an initial: nothing more to hide
    ("X", "*"),  # a one-character name would be printed whole
    ("王小明", "王**"),  # no spaces (CJK): the first character, the family name
    ("山田 太郎", "山* 太*"),
    ("Мария Иванова", "М**** И******"),  # Cyrillic
    ("محمد علي", "م*** ع**"),  # Arabic (logical order)
    ("Zoë Ångström", "Z** Å*******"),
    ("Zoe\u0308 A\u030angstro\u0308m", "Z** Å*******"),  # decomposed input: NFC first, marks stay with their letter
    ("Jean-Luc Picard", "J***-L** P*****"),
    ("J. R. R. Tolkien", "J* R* R* T******"),
    ("Maria\u200b Lopez\u202e", "M**** L****"),  # zero-width and bidi controls dropped
    ("a b c d e f g h", "a b c d e f …"),  # at most six words
    ("", ""),
    (None, ""),
    ("   ", ""),
])
def test_mask_name(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("phone, masked", [
    ("802-555-4567", "***-***-4567"),
    ("(802) 555-4567", "(***) ***-4567"),
    ("802.555.4567", "***.***.4567"),
    ("+1 802 555 4567", "+* *** *** 4567"),
    ("+44 20 7946 0958", "+** ** **** 0958"),  # international: layout kept, last four shown
    ("+86 138 0013 8000", "+** *** **** 8000"),
    ("+33 1 23 45 67 89", "+** * ** ** 67 89"),
    ("802-555-4567 x123", "***-***-4567"),  # extension dropped, not shown as the last digits
    ("802-555-4567 ext. 9", "***-***-4567"),
    ("12345678", "******78"),  # 8 digits: at least six stay hidden
    ("555-1234", "***-***4"),
    ("911", "***"),  # short numbers: nothing shown
    ("1-800-FLOWERS", "*-***-*******"),  # letters are never shown
    ("０８０２５５５４５６７", "*******4567"),  # full-width digits (NFKC)
    ("٠٨٠٢٥٥٥٤٥٦٧", "*******4567"),  # Arabic-Indic digits read as ASCII
    ("tel: 802 555 4567", "*** *** *** 4567"),
    ("phone?", ""),  # no digit: nothing to print
    ("", ""),
    (None, ""),
])
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=40))
def test_name_shows_one_character_per_word_at_most(name):
    out = mask_name(name)
    assert out == out.strip() and not any(c in out for c in "\n\t\r")
    for word in out.split():
        if word == "…":
            continue
        for part in word.split("-"):
            bases = [c for c in part.replace("*", "") if not unicodedata.category(c).startswith("M")]
            assert len(bases) <= 1, (name, out)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -+()./x", min_size=0, max_size=30))
def test_phone_never_shows_more_than_four_digits_nor_fewer_than_six_hidden(phone):
    out = mask_phone(phone)
    shown = re.sub(r"\D", "", out)
    assert len(shown) <= 4
    hidden = out.count("*")
    if shown:
        assert hidden >= 6
        digits = re.sub(r"\D", "", phone)
        assert digits.find(shown) >= 0  # the shown digits are digits of the number


def test_masking_is_deterministic_and_idempotent_on_its_output():
    assert mask_name(mask_name("John Smith")) == "J*** S****"
    assert mask_phone(mask_phone("802-555-4567")) == "***-***-4567"


def test_mask_keeps_first_character_of_each_word_and_lengths():
    assert mask_address("637 College St") == "6** C****** S*"
    assert mask_address("637 COLLEGE ST, MIDDLEBURY, VT 05753") == "6** C****** S*, M*********, V* 0****"
    assert mask_address("") == ""
    assert mask_address("Chemin Élan #4") == "C***** É*** #4"

"""Masking of the recipient's name and phone for privacy waybills.

A label keeps just enough for a courier to confirm the person at the door, nothing a photo of
the label could be used for (the "privacy waybill" practice of parcel carriers)::

    mask_name("John Smith")                 -> "J*** S***"
    mask_name("Johnathan Quincy-Smithers")  -> "J*** Q***"     (the same shape, whatever the lengths)
    mask_name("J R R Tolkien")              -> "**** T***"     (a one-letter word shows no letter)
    mask_name("A B")                        -> "**** ****"
    mask_name("王小明")                      -> "王***"         (no spaces: the first character, the family name)
    mask_phone("802-555-4567")              -> "***-***-**67"
    mask_phone("802-555-4567", digits=0)    -> "***-***-****"

What a masked name shows, exactly (pure functions of the text, stdlib only):

* Unicode NFC; control and format characters dropped; split on whitespace; punctuation and symbols
  around a word dropped (``J.`` is the one-letter word ``J``, a lone ``&`` is no word).
* **At most two words: the first and the last** (given and family name in most Western use; the
  family name and given name in CJK use). Middle names are left out, so the mask tells neither how
  many words a name has nor anything of its middle initials.
* Each shown word is **its first character and then always** `STARS` (3) ``*``: ``J***`` for
  "Jo", "John" and "Johnathan" alike. A hyphenated word is one word (``Quincy-Smithers`` ->
  ``Q***``): neither its number of parts nor their lengths show. A letter with its combining
  marks counts as one character.
* A word of **one letter** (an initial: ``J``, ``J.``) is ``****``: its letter is the whole
  word and is not printed.
* So a masked name is one of ``X***``, ``****``, ``X*** Y***``, ``**** Y***``, ``X*** ****``,
  ``**** ****`` (X, Y: one character each) or empty. Masking a masked name changes nothing.

Why initials are shown at all, also for short names: the mask hides every length, so the initial of
"Al" says no more than the initial of "Alexander" (the word could be either); what an initial says
depends on how common the letter is, not on the name's length. Measured (`scripts/measure_masks.py`,
README *Labels, scanning and run reports*) on the Vermont reference against an attacker with a
directory of every household, with the routing prefix and sort center a default label prints: the
two initials alone single out 1.1 % of households (median anonymity set 38), 2 phone digits alone
0.03 % (median 127), but the two together 65 % -- so a label that prints the name prints no phone
digits unless asked (`addrcode.outputs.label`), and the route (the town) is off by default.

Phone: NFKC (full-width digits) and any Unicode decimal digit read as ASCII; an extension
(``x``, ``ext``, ``#``, ``;``) is dropped; the layout (``+``, spaces, ``-``, ``( )``, ``.``, ``/``)
is kept and every digit becomes ``*`` except the last `digits` ones (default `PHONE_SHOWN` = 2, at
most `PHONE_SHOWN_MAX` = 4), and at least `PHONE_HIDDEN_MIN` (6) digits are always hidden (a
10-digit number shows 2, a 7-digit one 1, a short one none). Letters (vanity numbers, a ``tel:``
label) and ``*`` count as digits and are never shown, so masking a masked number changes nothing.
Text with no digit gives ``""``.
"""

from __future__ import annotations

import re
import unicodedata

MASK = "*"
STARS = 3  # stars after a shown initial: every word masks to the same length
HIDDEN_WORD = MASK * (STARS + 1)  # a one-letter word: nothing of it shown
PHONE_SHOWN = 2  # last digits shown by default
PHONE_SHOWN_MAX = 4  # the most `digits` may ask for
PHONE_HIDDEN_MIN = 6  # digits always hidden
_PHONE_SEPARATORS = set(" -().+/")
_EXTENSION = re.compile(r"(?i)\s*(?:ext\.?|extension|x|#|;)\s*\d*\s*$")


def _visible(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return not (cat.startswith("C") and ch not in "\t\n\r")  # Cc, Cf (e.g. zero-width, bidi marks), Co, Cn


def _clusters(word: str) -> list[str]:
    """Split a word into user-perceived characters: a base character and the marks that follow it."""
    out: list[str] = []
    for ch in word:
        if out and unicodedata.category(ch).startswith("M"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _letters(word: str) -> list[str]:
    """The characters of a word that count: letters and digits (with their marks), and ``*`` (a
    character masked before); punctuation, hyphens and symbols do not count."""
    return [c for c in _clusters(word) if c[0].isalnum() or c[0] == MASK]


def _mask_word(letters: list[str]) -> str:
    if len(letters) < 2 or letters[0] == MASK:
        return HIDDEN_WORD  # a one-letter word (an initial) is the letter itself: not printed
    return letters[0] + MASK * STARS


def mask_name(name: str | None) -> str:
    """Mask a person's name: the first and last word, each as its initial and ``***`` (see module doc)."""
    if not name:
        return ""
    text = "".join(ch for ch in unicodedata.normalize("NFC", str(name)) if _visible(ch))
    words = [letters for letters in (_letters(w) for w in text.split()) if letters]
    if not words:
        return ""
    shown = words if len(words) <= 2 else [words[0], words[-1]]
    return " ".join(_mask_word(w) for w in shown)


def _ascii_digit(ch: str) -> str | None:
    if "0" <= ch <= "9":
        return ch
    value = unicodedata.decimal(ch, None)
    return None if value is None else str(value)


def phone_digits_shown(digits: int | None) -> int:
    """`digits` checked: None is the default (`PHONE_SHOWN`); 0 to `PHONE_SHOWN_MAX` are allowed."""
    if digits is None:
        return PHONE_SHOWN
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= PHONE_SHOWN_MAX:
        raise ValueError(f"phone digits shown must be 0 to {PHONE_SHOWN_MAX}")
    return digits


def mask_phone(phone: str | None, digits: int | None = None) -> str:
    """Mask a phone number: its layout kept, all but the last `digits` (default 2) digits as ``*``
    and always at least 6 hidden (see module doc)."""
    shown_max = phone_digits_shown(digits)
    if not phone:
        return ""
    text = unicodedata.normalize("NFKC", str(phone)).strip()
    text = _EXTENSION.sub("", text)
    tokens: list[tuple[str, str]] = []  # (kind, char): kind "d" digit, "a" letter, "s" separator
    for ch in text:
        digit = _ascii_digit(ch)
        if digit is not None:
            tokens.append(("d", digit))
        elif ch.isalpha() or ch == MASK:  # a masked digit stays masked (masking is idempotent)
            tokens.append(("a", ch))
        elif ch in _PHONE_SEPARATORS:
            tokens.append(("s", ch))
        # anything else (emoji, control characters, stray punctuation) is dropped
    ndigits = sum(1 for kind, _ in tokens if kind in "da")
    if not any(kind == "d" for kind, _ in tokens):
        return ""
    show = min(shown_max, max(0, ndigits - PHONE_HIDDEN_MIN))
    out = []
    seen = 0
    for kind, ch in tokens:
        if kind == "s":
            out.append(ch)
            continue
        seen += 1
        out.append(ch if kind == "d" and seen > ndigits - show else MASK)
    return re.sub(r"\s+", " ", "".join(out)).strip()


__all__ = ["mask_name", "mask_phone", "phone_digits_shown", "PHONE_SHOWN", "PHONE_SHOWN_MAX", "STARS"]

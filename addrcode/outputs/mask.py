"""Masking of the recipient's name and phone for privacy waybills.

A label keeps just enough for a courier to confirm the person at the door, nothing a photo of
the label could be used for (the "privacy waybill" practice of parcel carriers)::

    mask_name("John Smith")          -> "J*** S****"
    mask_name("王小明")               -> "王**"        (no spaces: the first character, usually the family name)
    mask_name("Jean-Luc Picard")     -> "J***-L** P*****"
    mask_phone("802-555-4567")       -> "***-***-4567"
    mask_phone("+44 20 7946 0958")   -> "+** ** **** 0958"

Rules (pure functions of the text, stdlib only):

* Name: Unicode NFC; control and format characters dropped; whitespace collapsed. Every word
  (split on whitespace, and on hyphens inside a word) keeps its first character -- a letter with
  its combining marks counts as one -- and each further character becomes ``*``. A name that is
  a single character is masked entirely (keeping it would show the whole name). Words beyond
  the sixth are dropped (``…``) so a long name cannot push the mask off the label.
* Phone: NFKC (full-width digits) and any Unicode decimal digit read as ASCII; an extension
  (``x``, ``ext``, ``#``, ``;``) is dropped; the layout (``+``, spaces, ``-``, ``( )``, ``.``, ``/``)
  is kept and every digit becomes ``*`` except the last ones: at most 4 are shown and at least
  6 digits are always hidden (a 10-digit number shows 4, an 8-digit one 2, a short one none).
  Letters (vanity numbers, a ``tel:`` label) and ``*`` count as digits and are never shown, so
  masking a masked number changes nothing. Text with no digit gives ``""``.
"""

from __future__ import annotations

import re
import unicodedata

MASK = "*"
MAX_WORDS = 6
PHONE_SHOWN = 4  # digits shown at most
PHONE_HIDDEN_MIN = 6  # digits always hidden
_PHONE_SEPARATORS = set(" -().+/")
_WORD = re.compile(r"\w+")
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


def _mask_word(word: str) -> str:
    clusters = _clusters(word)
    if not clusters:
        return ""
    return clusters[0] + MASK * (len(clusters) - 1)


def mask_name(name: str | None) -> str:
    """Mask a person's name: the first character of each word, ``*`` for the rest (see module doc)."""
    if not name:
        return ""
    text = "".join(ch for ch in unicodedata.normalize("NFC", str(name)) if _visible(ch))
    words = text.split()
    if not words:
        return ""
    if len(words) == 1 and len(_clusters(words[0])) == 1:
        return MASK  # a one-character name would be printed whole
    shown = words[:MAX_WORDS]
    masked = ["-".join(_mask_word(part) for part in word.split("-")) for word in shown]
    if len(words) > MAX_WORDS:
        masked.append("…")
    return " ".join(masked)


def _ascii_digit(ch: str) -> str | None:
    if "0" <= ch <= "9":
        return ch
    value = unicodedata.decimal(ch, None)
    return None if value is None else str(value)


def mask_phone(phone: str | None) -> str:
    """Mask a phone number: its layout kept, all but the last (at most 4) digits as ``*`` (see module doc)."""
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
    show = min(PHONE_SHOWN, max(0, ndigits - PHONE_HIDDEN_MIN))
    out = []
    seen = 0
    for kind, ch in tokens:
        if kind == "s":
            out.append(ch)
            continue
        seen += 1
        out.append(ch if kind == "d" and seen > ndigits - show else MASK)
    return re.sub(r"\s+", " ", "".join(out)).strip()


__all__ = ["mask_name", "mask_phone"]


def mask_address(text: str) -> str:
    """Keep the first character of each word and the length of the rest: ``6** C****** S*``."""
    return _WORD.sub(lambda m: _mask_word(m.group()), text)

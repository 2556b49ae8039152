"""US address text: cleaning, tokens, token classes and the parse state the steps share.

`clean_text` folds a line to upper-case ASCII with `,` tokens for hard boundaries, `tokenize` splits
it and repairs glued or hyphenated forms; `Parse` is the mutable state every step works on (the AU
locale uses it too, with its own tables).
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1000  # a real address line is < 200 characters; longer input is cut (linear-time guarantee)

# ---------------------------------------------------------------------------------------------------
# Cleaning and tokens

_ASCII_MAP = {c: " " for c in range(32)}
_ASCII_MAP.update({10: " , ", 13: " , ", 127: " "})
_ASCII_MAP.update({ord(c): " " for c in "()[]{}\"':!?*+=<>|\\~^$%@_&"})
_ASCII_MAP.update({ord("'"): "", ord("`"): "", ord("."): "", ord(","): " , ", ord(";"): " , ", ord("#"): " # "})
# stands for a kept period until the table has run: not ASCII, so never in the text at that point
_DECIMAL_MARK = "\u2024"
_ASCII_MAP[ord(_DECIMAL_MARK)] = "."
_ASCII_TABLE = str.maketrans(_ASCII_MAP)
# a period between digits is significant (Pub 28 §23: `39.2 RD`, Colorado grid roads); any other goes
_DECIMAL = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,2})(?![\d.])")
_DECIMAL_HINT = re.compile(r"\.\d")  # starts with a literal: ~10x cheaper than `_DECIMAL` on lines with `St.`

_UNICODE_PUNCT = str.maketrans(
    {
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u2018": "", "\u2019": "", "\u201a": "", "\u02bc": "", "\u00b4": "",
        "\u201c": " ", "\u201d": " ", "\u00ab": " ", "\u00bb": " ",
        "\u2044": "/", "\u2215": "/", "\u00b7": " ", "\u2022": " ", "\u3001": " , ", "\uff0c": " , ",
        "\u2028": " , ", "\u2029": " , ", "\u0085": " , ", "\u00a0": " ",
    }
)
_VULGAR = re.compile("[\u00bc-\u00be\u2150-\u215e]")


def _fraction(m: re.Match) -> str:
    # "12½" -> "12 1/2": the space keeps the whole part apart (NFKC alone gives "121⁄2").
    return " " + unicodedata.normalize("NFKC", m.group()).replace("\u2044", "/") + " "


_PHONE = re.compile(
    r"(?:\b(?i:tel|phone|ph|cell|mobile|fax)\b[.:]?[ ]*)?(?:(?<![\d])\+?1[ .-]?)?"
    r"(?:\(\d{3}\)|\b\d{3})[ .-]?\d{3}[ .-]\d{4}\b"
)
_PHONE_HINT = re.compile(r"\d{3}[ .-]\d{4}\b")
_EMAIL = re.compile(r"[^\s,;]+@[^\s,;]+")


def clean_text(text: str, warnings: list[str]) -> str:
    """Fold `text` to upper-case ASCII with `,` tokens for hard boundaries (never raises)."""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        warnings.append("input truncated")
    if "@" in text or (("-" in text or "(" in text or "." in text) and _PHONE_HINT.search(text)):
        # phone numbers and e-mail addresses pasted into an address field: not address parts
        # (the hint first: the full pattern costs ~15 us a line, the hint ~1 us)
        stripped = _EMAIL.sub(" ", text) if "@" in text else text
        stripped = _PHONE.sub(" ", stripped)
        if stripped != text:
            text = stripped
            warnings.append("phone number or e-mail removed")
    if not text.isascii():
        text = _VULGAR.sub(_fraction, text)
        text = unicodedata.normalize("NFKC", text).translate(_UNICODE_PUNCT).upper()
        if not text.isascii():
            text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
            if not text.isascii():
                kept = text.encode("ascii", "ignore").decode("ascii")
                if any(c.isalnum() for c in text if not c.isascii()):
                    warnings.append("non-Latin characters dropped")
                text = kept
    else:
        text = text.upper()
    if "." in text and _DECIMAL_HINT.search(text):  # the text is ASCII here
        text = _DECIMAL.sub("\\1" + _DECIMAL_MARK + "\\2", text)
    return text.translate(_ASCII_TABLE)


_RANGE = re.compile(r"\d+[A-Z]?-\d+[A-Z]?$")  # house number range or ZIP+4
_SPLIT_PREFIX = re.compile(r"\b(RR|HC|RFD|APT|STE|UNIT|BOX|BLDG|RM|US|VT|I|SR|CR|RT|RTE|HWY|ROUTE|POB)(\d+[A-Z]?)\b")
_LETTER_DIGIT = re.compile(r"[A-Z]\d")
_HYPHEN_PREFIXES = frozenset("US I SR CR RT RTE ROUTE HWY SH".split())


def tokenize(cleaned: str, states: dict) -> list[str]:
    """Split a cleaned line into tokens; fix glued or hyphenated forms (`VT-12A`, `I89`, `12 - 14`)."""
    if _LETTER_DIGIT.search(cleaned) and _SPLIT_PREFIX.search(cleaned):  # cheap test first: rare
        cleaned = _SPLIT_PREFIX.sub(r"\1 \2", cleaned)
    tokens = cleaned.split()
    if "#" in cleaned:
        # a "#" with nothing after it ("12 Main St #, ...") says nothing
        tokens = [x for i, x in enumerate(tokens) if x != "#" or (i + 1 < len(tokens) and tokens[i + 1] != ",")]
    if "-" not in cleaned and "/" not in cleaned:
        return tokens
    out: list[str] = []
    for tok in tokens:
        if "-" in tok:
            if tok == "-" or not tok.strip("-"):
                out.append("-")
                continue
            tok = tok.strip("-")
            if _RANGE.match(tok) or "-" not in tok:
                out.append(tok)
                continue
            head, _, rest = tok.partition("-")
            if head.isdigit() and len(rest) == 1 and rest.isalpha():
                out.append(head + rest)  # "123-A" = "123A"
                continue
            if "/" in rest and head.isdigit():  # "18-1/2"
                out += [head, rest]
            elif head.isalpha() and (rest.replace("-", "").isalpha() or head in _HYPHEN_PREFIXES or head in states):
                out += [w for w in tok.split("-") if w]  # "VT-12A", "SMITH-JONES", "FARM-TO-MARKET"
            else:
                out.append(tok)  # "3-B" unit id: keep
        elif "/" in tok and tok not in ("C/O",) and not FRACTION.match(tok):
            out += [w for w in tok.split("/") if w]
        else:
            out.append(tok)
    # a lone "-" joins two numbers into a range ("12 - 14"); anywhere else it is noise
    res: list[str] = []
    for i, tok in enumerate(out):
        if tok == "-":
            if res and res[-1].isdigit() and i + 1 < len(out) and out[i + 1].isdigit():
                res[-1] = res[-1] + "-" + out[i + 1]
                out[i + 1] = ""
            continue
        if tok:
            res.append(tok)
    return res


# ---------------------------------------------------------------------------------------------------
# Token classes

FRACTION = re.compile(r"\d{1,2}/\d{1,2}$")
ROUTE_NUM = re.compile(r"\d{1,4}[A-Z]?$")
_ORDINAL = re.compile(r"(\d+)(?:ST|ND|RD|TH)$")
ORDINAL_WORDS = {
    "FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH", "SIXTH": "6TH",
    "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH", "ELEVENTH": "11TH",
    "TWELFTH": "12TH", "THIRTEENTH": "13TH", "FOURTEENTH": "14TH", "FIFTEENTH": "15TH",
    "SIXTEENTH": "16TH", "SEVENTEENTH": "17TH", "EIGHTEENTH": "18TH", "NINETEENTH": "19TH",
    "TWENTIETH": "20TH", "THIRTIETH": "30TH", "FORTIETH": "40TH", "FIFTIETH": "50TH",
}


def ordinal_digits(tok: str) -> str:
    m = _ORDINAL.match(tok)
    if m:
        return m.group(1)
    word = ORDINAL_WORDS.get(tok)
    return word[:-2] if word else ""


# ---------------------------------------------------------------------------------------------------
# Parse state


class Parse:
    """Mutable state the steps pass along (one per input; never shared). Locale-neutral: the AU
    steps use it too, with their own tables."""

    __slots__ = ("text", "tables", "cities", "tokens", "warnings", "f", "pos", "done", "had_tail")

    def __init__(self, text: str, tables, cities=None):
        self.text = text
        self.tables = tables
        self.cities = cities
        self.tokens: list[str] = []
        self.warnings: list[str] = []
        self.f: dict[str, str] = {}
        self.pos = 0
        self.done = False
        self.had_tail = False


# ---------------------------------------------------------------------------------------------------
# The clean step


def step_clean(p: Parse) -> None:
    """NFKC, fractions, case and punctuation folding, tokens."""
    text = p.text if isinstance(p.text, str) else str(p.text)
    p.tokens = tokenize(clean_text(text, p.warnings), p.tables.states)
    if not any(t != "," for t in p.tokens):
        p.warnings.append("empty input")
        p.done = True


def pop_commas(t: list[str]) -> None:
    while t and t[-1] == ",":
        t.pop()

"""The delivery code: a grid cell and a key epoch in, a short opaque code out, and back.

Format (9 significant characters, printed ``PPP-EOOOO-C``, e.g. ``K7Q-3M9QX-V``)::

    PPP    routing prefix: the grid district id in [0, 32768), plain base32, 3 characters.
           Districts are 102.4 km squares (district = dx * 128 + dy), so a hub can pre-sort on
           these three characters alone, like a postcode's outward part.
    E      epoch: which period's key made the code, one character that cycles through the alphabet
           (`addrcode.codes.schedule`: a new key every period, default a week).
    OOOO   opaque part: FF1 (NIST SP 800-38G) with AES-256 under the epoch's secret, radix 32,
           4 numerals (domain 32**4 = 1,048,576 >= 10**6 as the standard requires), applied to
           the cell index within the district (index = iy * 1024 + ix, in [0, 2**20)) written as
           4 base-32 numerals, most significant first. Tweak (3 bytes) = district id as 2 bytes
           big-endian + the epoch character in ASCII, so the same cell index in another district
           or epoch gives an unrelated opaque part.
    C      check character: Damm algorithm over the 8 preceding characters, with the totally
           anti-symmetric quasigroup x*y = 2.x XOR y over GF(32) (modulus x^5 + x^2 + 1). It
           detects every single-character substitution and every adjacent transposition,
           including those involving the check character itself (proved exhaustively in tests).

Alphabet: Crockford base32 ``0123456789ABCDEFGHJKMNPQRSTVWXYZ``. Input is case-insensitive,
I and L read as 1, O as 0; hyphens, spaces, dots and underscores are ignored (full-width
characters and typographic dashes are folded first, NFKC); U (and anything else) is invalid.

Guarantees: a code depends only on (district, index, epoch secret) -- never on zones -- so
re-zoning never changes a printed label. Within a district and epoch the opaque part is a
permutation of the cell index, so codes never collide. Without the key, neighbouring cells'
codes look unrelated, and known address->code pairs say nothing about other cells' opaque parts
(FF1 is a tweakable pseudo-random permutation under AES). What a code does reveal on purpose:
its district (~100 km square) and its epoch.

Limits: the FF1 domain is 32**4, just above the standard's 10**6 floor, which was set because
of known attacks on small-domain Feistel FPE needing very many plaintext/ciphertext pairs under
one tweak; every period has its own key, so no key is used for more than one period (a week).

Public API: `Code`, `encode_cell`, `encode_cells`, `encode_cell_texts`, `decode_code`, `decode_codes`, `parse_code`,
`normalize_code`, `check_char`, `corrections`, `CodeFormatError`, `EpochError`.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, NamedTuple

from addrcode.errors import AddrcodeError

if TYPE_CHECKING:  # keys imports nothing heavy, but keep the fast path free of it anyway
    from addrcode.codes.keyring import Epoch, Keyring

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
PREFIX_LEN = 3
OPAQUE_LEN = 4
CODE_LEN = PREFIX_LEN + 1 + OPAQUE_LEN + 1  # 9 significant characters
DISTRICTS = 32**PREFIX_LEN  # 32768 = 128 x 128 districts
CELLS_PER_DISTRICT = 32**OPAQUE_LEN  # 1,048,576 = 1024 x 1024 cells

_UNICODE_DASHES = {c: "-" for c in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE63)}
# Separators dropped and look-alikes folded on input (Crockford's decoding rules).
TYPED_FORMS = str.maketrans({"-": None, " ": None, ".": None, "_": None, "\t": None, "I": "1", "L": "1", "O": "0"})


# --------------------------------------------------------------------------- errors


class CodeError(AddrcodeError):
    """A code that cannot be used; `kind` is the machine-readable reason (a resolve status)."""

    kind = "malformed"

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class CodeFormatError(CodeError):
    """Not a well-formed code: kind "malformed" (length/characters) or "bad-check" (probable typo)."""


class EpochError(CodeError):
    """A well-formed code whose epoch cannot be used: kind "expired" (not in the keyring's window),
    "revoked" or "unknown-epoch"."""


# --------------------------------------------------------------------------- check character

_GF_MOD = 0b100101  # x^5 + x^2 + 1, irreducible over GF(2)
DAMM_MULTIPLIER = 2  # any a not in {0, 1} gives a totally anti-symmetric quasigroup


def gf32_mul(a: int, b: int) -> int:
    """Product in GF(32) = GF(2)[x] / (x^5 + x^2 + 1)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x20:
            a ^= _GF_MOD
    return r


def _damm_table(multiplier: int) -> tuple[tuple[int, ...], ...]:
    # x * y = a.x XOR y. Rows and columns are permutations (a != 0), and
    # (c*x)*y = (c*y)*x  <=>  (a+1).(x+y) = 0  <=>  x = y  because a != 1: totally anti-symmetric.
    return tuple(tuple(gf32_mul(multiplier, x) ^ y for y in range(32)) for x in range(32))


DAMM = _damm_table(DAMM_MULTIPLIER)


def _damm_state(body: str) -> int:
    s = 0
    for ch in body:
        s = DAMM[s][VALUE[ch]]
    return s


def check_char(body: str) -> str:
    """The check character for `body` (normalized characters of the alphabet).

    Chosen so that running the quasigroup over body + check ends in state 0.
    """
    # s * c = a.s XOR c = 0  <=>  c = a.s
    return ALPHABET[gf32_mul(DAMM_MULTIPLIER, _damm_state(body))]


def is_valid_check(compact: str) -> bool:
    """True if the Damm state over all characters (check included) is 0."""
    return _damm_state(compact) == 0


# --------------------------------------------------------------------------- code record


@dataclass(frozen=True)
class Code:
    """A delivery code. Build with `encode_cell` or `parse_code`, not by hand."""

    prefix: str
    epoch: str
    opaque: str
    check: str

    def compact(self) -> str:
        """The 9 significant characters, no separators (what tables store)."""
        return self.prefix + self.epoch + self.opaque + self.check

    def text(self) -> str:
        """Grouped for reading aloud and printing: ``PPP-EOOOO-C``."""
        return _grouped(self.prefix, self.epoch, self.opaque, self.check)

    __str__ = text

    @property
    def district(self) -> int:
        """The routing district id, readable without any key."""
        return _b32_to_int(self.prefix)


class Decoded(NamedTuple):
    """What a key holder gets back from a code."""

    district: int
    index: int
    epoch: str


def _int_to_b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _b32_to_int(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 32 + VALUE[ch]
    return value


# --------------------------------------------------------------------------- parsing


def normalize_code(text: str) -> str:
    """Upper-case, drop separators (``- . _`` and spaces), read I/L as 1 and O as 0.

    Raises `CodeFormatError` (kind "malformed") if a character outside the alphabet remains.
    The message never echoes the input (it might be an address typed in the wrong field).
    """
    out = str(text).strip()
    if not out.isascii():
        # Full-width forms from IMEs and typographic dashes from word processors.
        import unicodedata

        out = unicodedata.normalize("NFKC", out).translate(_UNICODE_DASHES)
    out = out.upper().translate(TYPED_FORMS)
    for ch in out:
        if ch not in VALUE:
            raise CodeFormatError("code has a character outside the alphabet (0-9, A-Z without I L O U)")
    return out


def parse_code(text: str) -> Code:
    """Normalize and validate a code (length, alphabet, check character); no key needed.

    Raises `CodeFormatError` with kind "malformed" or "bad-check".
    """
    compact = normalize_code(text)
    if len(compact) != CODE_LEN:
        raise CodeFormatError(f"a code has {CODE_LEN} characters (not counting separators); got {len(compact)}")
    if not is_valid_check(compact):
        raise CodeFormatError("check character does not match: probable typo, re-read the code", kind="bad-check")
    return Code(compact[:PREFIX_LEN], compact[PREFIX_LEN], compact[PREFIX_LEN + 1 : -1], compact[-1])


def corrections(text: str) -> list[Code]:
    """Well-formed codes one typo away from `text`: one substitution or one adjacent swap.

    For a "bad-check" code a station can look these up in its table and offer the ones that
    exist ("did you mean"). About 9 of the 287 neighbours pass the check, so a table lookup is
    what makes a suggestion meaningful; the input itself is never returned.
    """
    compact = normalize_code(text)
    if len(compact) != CODE_LEN:
        return []
    seen: dict[str, None] = {}
    for p in range(CODE_LEN):
        for ch in ALPHABET:
            if ch != compact[p]:
                seen[compact[:p] + ch + compact[p + 1 :]] = None
    for p in range(CODE_LEN - 1):
        if compact[p] != compact[p + 1]:
            seen[compact[:p] + compact[p + 1] + compact[p] + compact[p + 2 :]] = None
    return [parse_code(c) for c in seen if is_valid_check(c)]


# --------------------------------------------------------------------------- FF1, specialised

# FF1 for radix 32, n = 4 numerals (u = v = 2, b = 2, d = 8), tweak t = 3 bytes. P is constant,
# so the CBC-MAC state after P is one AES block per key; each Feistel round is then one AES block
# on (state XOR Q), with Q = tweak || 0^10 || round || NUM(B) as 2 bytes. y mod 32**2 only needs
# the low 10 bits of the first d = 8 bytes of R, i.e. of R[6:8].
_P = bytes([1, 2, 1]) + (32).to_bytes(3, "big") + bytes([10, 2]) + (4).to_bytes(4, "big") + (3).to_bytes(4, "big")


_TLS = threading.local()


def _cipher(secret: bytes):
    """(AES-ECB encryptor, CBC-MAC state after P as int) for one epoch secret, per thread.

    A `cryptography` cipher context must not be used by two threads at once (it raises
    "Already borrowed"), and batch engines such as Dask run partitions in threads; so each
    thread keeps its own contexts (the AES key schedule then runs once per thread and key).
    """
    cache = getattr(_TLS, "ciphers", None)
    if cache is None:
        cache = _TLS.ciphers = {}
    hit = cache.get(secret)
    if hit is None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if len(secret) != 32:
            raise EpochError("epoch secret must be 256 bits", kind="unknown-epoch")
        if len(cache) >= 64:
            cache.clear()
        enc = Cipher(algorithms.AES(secret), modes.ECB()).encryptor()
        hit = cache[secret] = (enc, int.from_bytes(enc.update(_P), "big"))
    return hit


def tweak(district: int, epoch_id: str) -> bytes:
    """The FF1 tweak of a code: district (2 bytes, big-endian) + epoch character (ASCII)."""
    return district.to_bytes(2, "big") + epoch_id.encode("ascii")


def _ff1(secret: bytes, district: int, epoch_id: str, x: int, decrypt: bool) -> int:
    enc, state = _cipher(secret)
    base = state ^ (int.from_bytes(tweak(district, epoch_id), "big") << 104)
    update = enc.update
    a, b = x >> 10, x & 0x3FF
    if decrypt:
        for i in range(9, -1, -1):
            r = update((base ^ (i << 16) ^ a).to_bytes(16, "big"))
            c = (b - int.from_bytes(r[6:8], "big")) & 0x3FF
            a, b = c, a
    else:
        for i in range(10):
            r = update((base ^ (i << 16) ^ b).to_bytes(16, "big"))
            c = (a + int.from_bytes(r[6:8], "big")) & 0x3FF
            a, b = b, c
    return (a << 10) | b


# --------------------------------------------------------------------------- encode / decode


def _check_cell(district, index) -> tuple[int, int]:
    # operator.index accepts numpy integers (grid.py works in arrays) but not floats.
    try:
        district, index = operator.index(district), operator.index(index)
    except TypeError:
        raise CodeError("district id and cell index must be integers") from None
    if not 0 <= district < DISTRICTS:
        raise CodeError(f"district id must be in [0, {DISTRICTS})")
    if not 0 <= index < CELLS_PER_DISTRICT:
        raise CodeError(f"cell index must be in [0, {CELLS_PER_DISTRICT})")
    return district, index


def _check_epoch(epoch: Epoch) -> None:
    if epoch.status == "revoked":
        raise EpochError(f"epoch {epoch.id} is revoked; no codes are made with it", kind="revoked")
    if len(epoch.id) != 1 or epoch.id not in VALUE:
        raise EpochError("epoch id must be one character of the alphabet", kind="unknown-epoch")


# Batch speed-ups for building codes: base32 pairs, a two-character Damm step, and the Damm state
# after prefix + epoch per (district, epoch). Same results as check_char (tested).
# Built on first use, not at import: `addrcode resolve` start-up only needs parse_code.
@cache
def _fast_tables():
    pairs = tuple(ALPHABET[i >> 5] + ALPHABET[i & 31] for i in range(1024))
    damm2 = tuple(tuple(DAMM[DAMM[s][p >> 5]][p & 31] for p in range(1024)) for s in range(32))
    check_of_state = tuple(ALPHABET[gf32_mul(DAMM_MULTIPLIER, s)] for s in range(32))
    return pairs, damm2, check_of_state


@lru_cache(maxsize=4096)
def _head(district: int, epoch_id: str) -> tuple[str, int]:
    prefix = _int_to_b32(district, PREFIX_LEN)
    return prefix, _damm_state(prefix + epoch_id)


def _grouped(prefix: str, epoch_id: str, opaque: str, check: str) -> str:
    return f"{prefix}-{epoch_id}{opaque}-{check}"


def _parts(district: int, epoch_id: str, opaque: int) -> tuple[str, str, str]:
    """(prefix, opaque characters, check character) of the code of an encrypted cell index."""
    pairs, damm2, check_of_state = _fast_tables()
    prefix, state = _head(district, epoch_id)
    hi, lo = opaque >> 10, opaque & 0x3FF
    return prefix, pairs[hi] + pairs[lo], check_of_state[damm2[damm2[state][hi]][lo]]


def _make(district: int, epoch_id: str, opaque: int) -> Code:
    prefix, body, check = _parts(district, epoch_id, opaque)
    return Code(prefix, epoch_id, body, check)


@lru_cache(maxsize=1 << 16)
def _encode_cached(secret: bytes, epoch_id: str, district: int, index: int) -> Code:
    return _make(district, epoch_id, _ff1(secret, district, epoch_id, index, decrypt=False))


def encode_cell(district: int, index: int, epoch: Epoch) -> Code:
    """The code of cell `index` in `district` under `epoch` (deterministic; a bijection per district).

    Refuses a revoked epoch. Repeated cells are served from a small cache.
    """
    district, index = _check_cell(district, index)
    _check_epoch(epoch)
    return _encode_cached(epoch.secret, epoch.id, district, index)


def encode_cells(cells: Iterable[tuple[int, int]], epoch: Epoch) -> list[Code]:
    """Codes for many (district, index) pairs, in order: the batch fast path.

    Distinct cells are encrypted together, round by round, with one AES call per round for
    the whole batch (numpy), so the per-code cost is a few array operations.
    """
    cells = list(cells)
    _check_epoch(epoch)
    if not cells:
        return []
    cells = [_check_cell(district, index) for district, index in cells]
    unique = list(dict.fromkeys(cells))
    opaque = _ff1_batch(epoch.secret, epoch.id, [c[0] for c in unique], [c[1] for c in unique]).tolist()
    made = {cell: _make(cell[0], epoch.id, o) for cell, o in zip(unique, opaque)}
    return [made[cell] for cell in cells]


def encode_cell_texts(cells: Sequence[tuple[int, int]], epoch: Epoch) -> list[str]:
    """`[code.text() for code in encode_cells(cells, epoch)]` without a `Code` per cell: what a
    batch encode prints (it meets a new cell on most rows: a national batch has as many cells as
    points). Same checks: a bad cell or a revoked epoch raises."""
    _check_epoch(epoch)
    cells = [_check_cell(district, index) for district, index in cells]
    if not cells:
        return []
    e = epoch.id
    opaque = _ff1_batch(epoch.secret, e, [c[0] for c in cells], [c[1] for c in cells]).tolist()
    out = []
    for (district, _), o in zip(cells, opaque):
        prefix, body, check = _parts(district, e, o)
        out.append(_grouped(prefix, e, body, check))
    return out


def _ff1_batch(secret: bytes, epoch_id: str, districts: Sequence[int], indices: Sequence[int], decrypt: bool = False):
    import numpy as np

    enc, state = _cipher(secret)
    n = len(indices)
    base = np.frombuffer(state.to_bytes(16, "big"), dtype=np.uint8)
    blocks0 = np.tile(base, (n, 1))
    d = np.asarray(districts, dtype=np.int64)
    blocks0[:, 0] ^= (d >> 8).astype(np.uint8)
    blocks0[:, 1] ^= (d & 0xFF).astype(np.uint8)
    blocks0[:, 2] ^= ord(epoch_id)
    x = np.asarray(indices, dtype=np.int64)
    a, b = x >> 10, x & 0x3FF
    rounds = range(9, -1, -1) if decrypt else range(10)
    for i in rounds:
        blocks = blocks0.copy()
        src = a if decrypt else b
        blocks[:, 13] ^= i
        blocks[:, 14] ^= (src >> 8).astype(np.uint8)
        blocks[:, 15] ^= (src & 0xFF).astype(np.uint8)
        r = np.frombuffer(enc.update(blocks.tobytes()), dtype=np.uint8).reshape(n, 16)
        y = ((r[:, 6].astype(np.int64) << 8) | r[:, 7]) & 0x3FF
        if decrypt:
            a, b = (b - y) & 0x3FF, a
        else:
            a, b = b, (a + y) & 0x3FF
    return (a << 10) | b


def _usable_epoch(keyring: Keyring, epoch_id: str, allow_revoked: bool) -> Epoch:
    """The keyring's key for epoch character `epoch_id` now, or `EpochError` saying why there is none."""
    try:
        epoch = keyring.epoch(epoch_id)
    except KeyError:
        raise EpochError(f"epoch {epoch_id} is not in this keyring's window: the code is older than the window "
                         "(expired) or was not made with this keyring", kind="expired") from None
    if epoch.status == "revoked" and not allow_revoked:
        raise EpochError(f"epoch {epoch.id} is revoked; codes of this epoch are no longer valid", kind="revoked")
    if len(epoch.secret) != 32:
        raise EpochError(f"epoch {epoch.id}: its key was erased from the keyring", kind="expired")
    return epoch


def decode_code(code: Code | str, keyring: Keyring, *, allow_revoked: bool = False) -> Decoded:
    """(district, index, epoch) of a code, for key holders.

    Accepts a `Code` or text (parsed with `parse_code`). Raises `CodeFormatError` for a malformed
    or mistyped code and `EpochError` for an epoch the keyring lacks ("unknown-epoch") or has
    revoked ("revoked", unless `allow_revoked`, for investigations).
    """
    if not isinstance(code, Code):
        code = parse_code(code)
    epoch = _usable_epoch(keyring, code.epoch, allow_revoked)
    district = code.district
    index = _ff1(epoch.secret, district, epoch.id, _b32_to_int(code.opaque), decrypt=True)
    return Decoded(district, index, epoch.id)


def decode_codes(codes_: Iterable[Code | str], keyring: Keyring, *, allow_revoked: bool = False) -> list[Decoded]:
    """`decode_code` for many codes at once (vectorised per epoch); same errors, raised on the first bad one."""
    parsed = [c if isinstance(c, Code) else parse_code(c) for c in codes_]
    out: list[Decoded | None] = [None] * len(parsed)
    by_epoch: dict[str, list[int]] = {}
    for i, code in enumerate(parsed):
        by_epoch.setdefault(code.epoch, []).append(i)
    for epoch_id, positions in by_epoch.items():
        epoch = _usable_epoch(keyring, epoch_id, allow_revoked)
        districts = [parsed[i].district for i in positions]
        opaque = [_b32_to_int(parsed[i].opaque) for i in positions]
        indices = _ff1_batch(epoch.secret, epoch.id, districts, opaque, decrypt=True).tolist()
        for i, d, x in zip(positions, districts, indices):
            out[i] = Decoded(d, x, epoch.id)
    return out  # type: ignore[return-value]

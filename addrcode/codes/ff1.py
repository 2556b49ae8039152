"""FF1 format-preserving encryption (NIST SP 800-38G, section 5.1) on top of AES.

Only the *mode* is implemented here; the block cipher is AES from the `cryptography` package
(no home-made cipher). The implementation follows the standard's Algorithms 7 and 8 step by step
and is checked against all nine of NIST's published FF1 samples (AES-128/192/256, radix 10 and 36,
with and without tweak) in `tests/test_codes.py`.

Numerals are integers in [0, radix), most significant first (the standard's NUM_radix/STR_radix
convention). The domain radix**n must be at least 1,000,000, as SP 800-38G Rev. 1 requires.

`addrcode.codes.scheme` uses a specialised, vectorised form of the same rounds for its one fixed shape
(radix 32, 4 numerals, 3-byte tweak); tests check that both agree.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from addrcode.errors import UsageError

ROUNDS = 10
MIN_DOMAIN = 1_000_000
MAX_RADIX = 1 << 16
_ALPHABET36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _ecb_encryptor(key: bytes):
    # AES-ECB used one block at a time is exactly the block function CIPH_K of the standard;
    # the encryptor context is kept so the key schedule runs once per key.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(key) not in (16, 24, 32):
        raise UsageError("FF1 key must be 16, 24 or 32 bytes (AES-128/192/256)")
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


def _num(numerals: Sequence[int], radix: int) -> int:
    """NUM_radix(X): the integer whose radix-`radix` numerals are X, most significant first."""
    x = 0
    for digit in numerals:
        x = x * radix + digit
    return x


def _str(x: int, radix: int, m: int) -> list[int]:
    """STR^m_radix(x): the m numerals of x in base radix, most significant first."""
    out = [0] * m
    for i in range(m - 1, -1, -1):
        x, out[i] = divmod(x, radix)
    return out


class FF1:
    """FF1 with AES under `key` for numerals of base `radix`.

    The key never appears in `repr()`. Instances are cheap to keep, reuse and share between
    threads: the AES key schedule runs once per thread, and the CBC-MAC state after the
    constant block P is cached per (length, tweak length).
    """

    __slots__ = ("radix", "_key", "_local", "_p_state")

    def __init__(self, key: bytes, radix: int):
        if not 2 <= radix <= MAX_RADIX:
            raise UsageError(f"FF1 radix must be in [2, {MAX_RADIX}]")
        self.radix = radix
        self._key = bytes(key)
        _ecb_encryptor(self._key)  # validate the key length now
        # One AES context per thread: `cryptography` contexts refuse concurrent use.
        self._local = threading.local()
        self._p_state: dict[tuple[int, int], bytes] = {}

    def __repr__(self) -> str:
        return f"FF1(radix={self.radix}, key=<hidden>)"

    def _ciph(self, block: bytes) -> bytes:
        enc = getattr(self._local, "enc", None)
        if enc is None:
            enc = self._local.enc = _ecb_encryptor(self._key)
        return enc.update(block)

    def _prf_after_p(self, n: int, t: int) -> bytes:
        """CBC-MAC state after the 16-byte block P (it depends only on radix, n and t)."""
        state = self._p_state.get((n, t))
        if state is None:
            u = n // 2
            p = (
                bytes([1, 2, 1])
                + self.radix.to_bytes(3, "big")
                + bytes([10, u % 256])
                + n.to_bytes(4, "big")
                + t.to_bytes(4, "big")
            )
            state = self._ciph(p)
            self._p_state[(n, t)] = state
        return state

    def _prf(self, state: bytes, q: bytes) -> bytes:
        # PRF(P || Q) = last block of CBC-MAC with a zero IV; P was folded in already.
        y = int.from_bytes(state, "big")
        for j in range(0, len(q), 16):
            y = int.from_bytes(self._ciph((y ^ int.from_bytes(q[j : j + 16], "big")).to_bytes(16, "big")), "big")
        return y.to_bytes(16, "big")

    def _check(self, numerals: Sequence[int]) -> int:
        n = len(numerals)
        if n < 2:
            raise UsageError("FF1 needs at least 2 numerals")
        if self.radix**n < MIN_DOMAIN:
            raise UsageError(f"FF1 domain radix**n must be at least {MIN_DOMAIN:,} (SP 800-38G Rev. 1)")
        if any(not 0 <= d < self.radix for d in numerals):
            raise UsageError("FF1 numeral out of range for the radix")
        return n

    def _rounds(self, numerals: Sequence[int], tweak: bytes, decrypt: bool) -> list[int]:
        radix = self.radix
        n = self._check(numerals)
        t = len(tweak)
        u = n // 2
        v = n - u
        # b: bytes for NUM_radix of the longer half; d: bytes of PRF output used per round.
        # ceil(v * log2(radix)) computed exactly: the bit length of radix**v - 1.
        b = -(-((radix**v - 1).bit_length()) // 8)
        d = 4 * -(-b // 4) + 4
        state = self._prf_after_p(n, t)
        pad = bytes((-t - b - 1) % 16)
        a_num = _num(numerals[:u], radix)
        b_num = _num(numerals[u:], radix)
        rounds = range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS)
        for i in rounds:
            m = u if i % 2 == 0 else v
            src = a_num if decrypt else b_num
            q = tweak + pad + bytes([i]) + src.to_bytes(b, "big")
            r = self._prf(state, q)
            s = r
            for j in range(1, -(-d // 16)):
                s += self._ciph((int.from_bytes(r, "big") ^ j).to_bytes(16, "big"))
            y = int.from_bytes(s[:d], "big")
            mod = radix**m
            if decrypt:
                c = (b_num - y) % mod
                a_num, b_num = c, a_num
            else:
                c = (a_num + y) % mod
                a_num, b_num = b_num, c
        return _str(a_num, radix, u) + _str(b_num, radix, v)

    def encrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Encrypt(K, T, X) (SP 800-38G Algorithm 7) on a sequence of numerals."""
        return self._rounds(numerals, bytes(tweak), decrypt=False)

    def decrypt(self, numerals: Sequence[int], tweak: bytes = b"") -> list[int]:
        """FF1.Decrypt(K, T, Y) (SP 800-38G Algorithm 8) on a sequence of numerals."""
        return self._rounds(numerals, bytes(tweak), decrypt=True)

    def encrypt_str(self, text: str, tweak: bytes = b"") -> str:
        """Encrypt a string of numerals written with 0-9a-z (radix <= 36), as in NIST's samples."""
        return self._apply_str(text, tweak, decrypt=False)

    def decrypt_str(self, text: str, tweak: bytes = b"") -> str:
        """Inverse of `encrypt_str`."""
        return self._apply_str(text, tweak, decrypt=True)

    def _apply_str(self, text: str, tweak: bytes, decrypt: bool) -> str:
        if self.radix > len(_ALPHABET36):
            raise UsageError("string form needs radix <= 36")
        alphabet = _ALPHABET36[: self.radix]
        try:
            numerals = [alphabet.index(ch) for ch in text.lower()]
        except ValueError:
            raise UsageError("FF1 input has a character outside the radix's alphabet") from None
        out = self._rounds(numerals, bytes(tweak), decrypt=decrypt)
        return "".join(alphabet[d] for d in out)

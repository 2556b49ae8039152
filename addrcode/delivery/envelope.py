"""The sealed envelope: delivery details only the delivering station can read.

    envelope = version (1 byte) | recipient key id (4 bytes) | sealed box of the padded details

- **Sealed box** (libsodium `crypto_box_seal` through PyNaCl): a fresh X25519 key pair per parcel,
  the box key from it and the station's public key, XSalsa20-Poly1305; nothing made here. Whoever
  holds the envelope and not the station's secret key learns nothing but its size and its
  recipient key id; any change to it makes it not open.
- **Padding** (libsodium `sodium_pad`, ISO/IEC 7816-4) to one of `BUCKETS` bytes, so the length says
  only which of three size classes the details fall in (measured: `scripts/measure_envelopes.py`).
- **Details**: the compact code, the address as the shipper wrote it, name, phone and notes, joined
  by the ASCII unit separator. The code inside binds the envelope to its label: an envelope copied
  onto another parcel's label is refused at unseal.
- **Text**: base45 (RFC 9285), the alphabet of the QR code's alphanumeric mode, 1.5 characters a byte.

The key id is not secret: it names the delivery region (the sort center the label prints anyway) and
lets a station say "this parcel is for another region" instead of "damaged".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from addrcode.errors import DataError

VERSION = 1
HEADER_BYTES = 5  # version + key id
SEAL_OVERHEAD = 48  # crypto_box_SEALBYTES: ephemeral public key (32) + Poly1305 tag (16)
BUCKETS = (128, 192, 256)  # padded plaintext sizes: 128 holds nearly every address, name and phone
MAX_DETAILS_BYTES = BUCKETS[-1] - 1  # ISO 7816-4 padding needs at least one byte
SEPARATOR = "\x1f"
_FIELDS = ("code", "address", "name", "phone", "notes")


class EnvelopeError(DataError):
    """An envelope that cannot be opened here: damaged, altered, or for another station (exit code 3).
    `kind` names the case for the audit log: no envelope, not an envelope, version, another region,
    does not open, another label."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


class DetailsTooLong(ValueError):
    """The delivery details do not fit the largest envelope."""


@dataclass(frozen=True)
class DeliveryDetails:
    """What the courier at the door needs; sealed, never printed elsewhere."""

    code: str  # the compact code of the label the envelope belongs to
    address: str
    name: str = ""
    phone: str = ""
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return SEPARATOR.join(_one_line(getattr(self, f)) for f in _FIELDS).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> DeliveryDetails:
        parts = data.decode("utf-8").split(SEPARATOR)
        if len(parts) != len(_FIELDS):
            raise ValueError("wrong number of fields")
        return cls(*parts)


def _one_line(value) -> str:
    """A detail as one line of text: control characters (the separator among them) become spaces."""
    text = "" if value is None else str(value)
    return "".join(" " if ord(c) < 32 or c == "\x7f" else c for c in text).strip()


def envelope_bytes(bucket: int) -> int:
    """Size of an envelope whose details were padded to `bucket` bytes."""
    return HEADER_BYTES + SEAL_OVERHEAD + bucket


def text_length(n_bytes: int) -> int:
    """Base45 characters for `n_bytes` bytes (RFC 9285: 3 per 2 bytes, 2 for a last odd byte)."""
    return 3 * (n_bytes // 2) + 2 * (n_bytes % 2)


def seal(details: DeliveryDetails, public_key) -> str:
    """The envelope text of `details` for the station holding `public_key` (a `DeliveryPublicKey`).
    Raises `DetailsTooLong` beyond `MAX_DETAILS_BYTES` of details."""
    import base45
    from nacl.bindings import sodium_pad
    from nacl.public import PublicKey, SealedBox

    plain = details.to_bytes()
    bucket = next((b for b in BUCKETS if len(plain) < b), None)
    if bucket is None:
        raise DetailsTooLong(f"delivery details too long to seal ({len(plain)} bytes, at most {MAX_DETAILS_BYTES}): "
                             "shorten the notes")
    sealed = SealedBox(PublicKey(public_key.key)).encrypt(sodium_pad(plain, bucket))
    return base45.b45encode(bytes([VERSION]) + public_key.key_id + sealed).decode("ascii")


def _envelope_from_text(text: str) -> bytes:
    """The envelope bytes of a scanned text. A keyboard-wedge scanner may drop trailing spaces (base45
    uses the space): the sizes are fixed, so up to two dropped spaces are put back."""
    import base45

    valid = {text_length(envelope_bytes(b)) for b in BUCKETS}
    for candidate in (text, text + " ", text + "  "):
        if len(candidate) in valid:
            try:
                return base45.b45decode(candidate)
            except ValueError:
                break
    raise EnvelopeError("not an addrcode sealed envelope (unreadable or cut short); scan the label's QR "
                        "code again", "not an envelope")


def _checked_envelope(text: str) -> bytes:
    """The envelope bytes of `text`, of a version this addrcode opens."""
    data = _envelope_from_text(text)
    if data[0] != VERSION:
        raise EnvelopeError(f"sealed envelope version {data[0]}; this addrcode opens version {VERSION}: upgrade "
                            "addrcode", "version")
    return data


def recipient_key_id(text: str) -> str:
    """The recipient key id (8 hex digits) an envelope names; `EnvelopeError` when it is not one."""
    return _checked_envelope(text)[1:HEADER_BYTES].hex()


def open_envelope(text: str, keys) -> tuple[DeliveryDetails, object]:
    """Open envelope `text` with whichever of `keys` (`DeliverySecretKey`s) it is sealed to.

    Returns (details, the key that opened it). `EnvelopeError` (with what to do) when it is not an
    envelope, is sealed to none of `keys`, or does not open (altered or damaged).
    """
    from nacl.bindings import sodium_unpad
    from nacl.exceptions import CryptoError
    from nacl.public import PrivateKey, SealedBox

    data = _checked_envelope(text)
    key_id = data[1:HEADER_BYTES].hex()
    key = next((k for k in keys if k.public.key_id.hex() == key_id), None)
    if key is None:
        held = ", ".join(f"{k.region} ({k.public.fingerprint[:8]})" for k in keys) or "none"
        raise EnvelopeError(f"sealed to another delivery key ({key_id}); this station holds {held}: the parcel "
                            "belongs to another delivery region, send it on", "another region")
    bucket = len(data) - HEADER_BYTES - SEAL_OVERHEAD
    try:
        plain = sodium_unpad(SealedBox(PrivateKey(key.secret)).decrypt(data[HEADER_BYTES:]), bucket)
        details = DeliveryDetails.from_bytes(plain)
    except (CryptoError, ValueError, UnicodeDecodeError):
        raise EnvelopeError("the sealed envelope does not open with this station's key: it was altered or "
                            "damaged (or sealed to a key with the same id); do not deliver on it, report it",
                            "does not open") from None
    return details, key

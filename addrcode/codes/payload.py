"""Scanner payloads cleaned into code text: what `addrcode resolve` and `addrcode scan` look up.

What a hand scanner types (keyboard wedge) or a camera app reads is not always just the code:
scanners can be set to prepend an AIM symbology identifier (``]C0`` Code 128, ``]Q1`` QR, ``]d2``
Data Matrix ...), a label (``CODE:``), or STX/ETX, and append CR/LF/TAB. `clean_payload` strips
those; the resolver still checks length, alphabet and check character itself, so cleaning can
never make a wrong code pass. Labels printed by `addrcode.outputs.label` hold the compact code
(``K7Q3M9QXT``); the grouped form, lower case and an ``addrcode:`` URI prefix are accepted too.

Stdlib only (`re`): the resolver's start-up stays light.
"""

from __future__ import annotations

import re

# AIM ISO/IEC 15424 symbology identifier: "]" + symbology letter + modifier character.
_AIM = re.compile(r"^\](?:[A-Za-z][0-9A-Za-z])")
# A leading label such as "CODE:", "addrcode:", "ADDRCODE://" or "code=" added by a scanner profile.
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]{0,15}(?::/{0,2}|=)\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_payload(text: str) -> str:
    """A scanner payload reduced to the code text it carries (see the module docstring).

    Strips surrounding whitespace and control characters (CR, LF, TAB, STX, ETX, GS), one AIM
    symbology identifier, and one leading label ending in ``:`` or ``=``. Never raises.
    """
    if text is None:
        return ""
    out = _CONTROL.sub(" ", str(text)).strip()
    out = _AIM.sub("", out, count=1).strip()
    out = _LABEL.sub("", out, count=1).strip()
    return out


# A label's QR holds the compact code, then, with `encode --seal`, this separator and the sealed
# envelope (`addrcode.delivery.envelope`, base45). A code never contains a ".", so the first one splits.
SEALED_SEPARATOR = "."


def join_sealed(code: str, envelope: str) -> str:
    """The QR payload of a sealed label: the compact code, ``.``, the envelope text."""
    return f"{code}{SEALED_SEPARATOR}{envelope}" if envelope else code


def split_sealed(payload: str) -> tuple[str, str]:
    """(code text, envelope text or "") of a cleaned payload: what a sorting center resolves is the
    code alone; the envelope is for the delivering station's `addrcode unseal`."""
    code, _, envelope = str(payload or "").partition(SEALED_SEPARATOR)
    return code.strip(), envelope

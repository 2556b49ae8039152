"""The delivering station's side: a scanned label -> the delivery details for the courier.

`Unsealer(keys, audit, operator)` opens one payload at a time (the text a scanner read from the
label's QR code: the code, ``.``, the envelope; or, with `payloads_in_images`, the QR codes found
on label images and PDFs). Every attempt, opened or refused, is written to the audit log first;
a refused one (another region's parcel, an altered envelope, an envelope copied onto another
label) gives a record with status `refused` and the reason, never details.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from addrcode.codes.payload import split_sealed
from addrcode.delivery.envelope import EnvelopeError, open_envelope

FIELDS = ["status", "reason", "code", "region", "address", "name", "phone", "notes"]
_AIM = re.compile(r"^\][A-Za-z][0-9A-Za-z]")  # a scanner's symbology prefix (]Q1)
_FRAMING = "\r\n\t\x02\x03\x1d\x1e\x04"  # what scanners add around a payload (never inside base45)


def clean_sealed(text: str) -> str:
    """A scanned sealed payload without the scanner's framing: control characters at the ends and an
    AIM prefix removed; spaces kept (base45 uses them; trailing ones a scanner dropped are restored
    when the envelope is read)."""
    out = str(text or "").strip(_FRAMING)
    return _AIM.sub("", out, count=1).lstrip()


def compact(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


@dataclass
class Unsealer:
    """Opens sealed labels with the station's delivery keys (`DeliverySecretKey`s), logging each."""

    keys: list
    audit: object  # an `AuditLog`
    operator: str
    fields = FIELDS

    def __call__(self, payload: str) -> dict:
        """The record of one scanned payload: `ok` with the details, or `refused` with the reason."""
        code, envelope = split_sealed(clean_sealed(payload))
        code = compact(code)
        region = ""
        try:
            if not envelope:
                raise EnvelopeError("no sealed envelope in this payload: scan the label's QR code (the barcode "
                                    "holds the code only), or the label was printed without --seal", "no envelope")
            details, key = open_envelope(envelope, self.keys)
            region = key.region
            if compact(details.code) != code:
                raise EnvelopeError("the envelope belongs to another label (its code differs from the code "
                                    "beside it): it was copied or swapped; do not deliver on it, report it",
                                    "another label")
        except EnvelopeError as exc:
            self.audit.append(code=code, region=region, operator=self.operator, result=f"refused: {exc.kind}")
            return {"status": "refused", "reason": str(exc), "code": code, "region": region}
        self.audit.append(code=code, region=region, operator=self.operator, result="ok")
        return {"status": "ok", "reason": "", "code": code, "region": region, **{
            k: v for k, v in details.to_dict().items() if k != "code"}}

    @staticmethod
    def text(record: dict) -> str:
        """What the courier reads: the details, one per line, or the refusal."""
        if record.get("status") != "ok":
            return f"{record.get('code') or '-'}\trefused: {record.get('reason', '')}"
        lines = [f"code     {record['code']}", f"address  {record.get('address', '')}"]
        lines += [f"{k:<8} {record[k]}" for k in ("name", "phone", "notes") if record.get(k)]
        return "\n".join(lines) + "\n"


def payloads_in_images(paths: Iterable, *, dpi: int = 203) -> Iterator[tuple[str, str]]:
    """(where, payload) of each sealed label's QR code in image or PDF files (`file:page`)."""
    from addrcode.outputs.scan import sealed_payloads

    for path in paths:
        for page, payload in sealed_payloads(path, dpi=dpi):
            yield f"{path}:{page}", payload


def station_keys(paths: Iterable):
    """The station's delivery keys (each file checked: 0600, intact)."""
    from addrcode.delivery.keys import load_secret_key

    return [load_secret_key(p) for p in paths]

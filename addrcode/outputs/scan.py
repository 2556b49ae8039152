"""Scanning labels: scanner payloads cleaned into codes, and codes decoded from label images.

Two jobs:

* `clean_payload(text)` -- a scanner payload (AIM symbology prefix, ``CODE:`` label, CR/LF/STX/ETX
  framing) reduced to the code text it carries; it lives in `addrcode.codes.payload` (the resolver
  uses it too) and is re-exported here.
* `scan_file(path)` -- decode every Code 128 and QR symbol on an image (PNG, JPEG, ...) or on
  each page of a PDF (rasterised with pypdfium2) with zxing-cpp, and return one `ScanHit` per
  distinct payload per page, naming the symbologies that carried it. `ScanJob` turns hits into
  records, resolved through a station `Resolver` when one is given (`addrcode scan IMAGE...`).

Nothing here prints or logs what was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from addrcode.codes.payload import clean_payload
from addrcode.errors import AddrcodeError, DataError

PDF_DPI = 200
FORMATS = ("QRCode", "Code128")


@dataclass(frozen=True)
class ScanHit:
    """One code read from an image: where (file, 1-based page), by which symbols, and the payload."""

    file: str
    page: int
    payload: str  # cleaned (see clean_payload)
    symbologies: tuple[str, ...]  # e.g. ("Code128", "QRCode")


def _zxing():
    try:
        import zxingcpp
    except ImportError:
        raise AddrcodeError("scanning images needs the optional package zxing-cpp: "
                            "pip install 'addrcode[label]'") from None
    return zxingcpp


def decode_image(image) -> list[tuple[str, str]]:
    """(symbology, cleaned payload) of every Code 128 and QR symbol in a PIL image or numpy array."""
    zx = _zxing()
    try:  # zxing-cpp >= 3 takes a tuple of formats; 2.x a BarcodeFormats built with |
        results = zx.read_barcodes(image, formats=(zx.BarcodeFormat.QRCode, zx.BarcodeFormat.Code128))
    except TypeError:
        results = zx.read_barcodes(image, formats=zx.BarcodeFormat.QRCode | zx.BarcodeFormat.Code128)
    found = []
    for result in results:
        if getattr(result, "valid", True):
            found.append((result.format.name, clean_payload(result.text)))
    return found


def _group(file: str, page: int, found: list[tuple[str, str]]) -> list[ScanHit]:
    by_payload: dict[str, list[str]] = {}
    for fmt, payload in found:
        kinds = by_payload.setdefault(payload, [])
        if fmt not in kinds:
            kinds.append(fmt)
    return [ScanHit(file, page, payload, tuple(sorted(kinds))) for payload, kinds in by_payload.items()]


def _pages(path: Path, dpi: int) -> Iterator[tuple[int, object]]:
    """(page number, PIL image) of a PDF or an image file."""
    with open(path, "rb") as fh:
        head = fh.read(5)
    if head == b"%PDF-":
        try:
            import pypdfium2 as pdfium
        except ImportError:
            raise AddrcodeError("scanning PDF files needs the optional package pypdfium2: "
                                "pip install 'addrcode[label]'") from None
        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError:
            raise DataError(f"{path}: not a readable PDF file") from None
        try:
            for i in range(len(doc)):
                page = doc[i]
                try:
                    yield i + 1, page.render(scale=dpi / 72, grayscale=True).to_pil()
                finally:
                    page.close()
        finally:
            doc.close()
        return
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise AddrcodeError("scanning images needs the optional package Pillow: "
                            "pip install 'addrcode[label]'") from None
    try:
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
            for i in range(frames):
                img.seek(i)
                yield i + 1, img.convert("L")
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image or PDF file that can be read") from None


def scan_file(path, *, dpi: int = PDF_DPI) -> list[ScanHit]:
    """Every distinct code on every page of an image or PDF file (PDF pages rasterised at `dpi`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; give image or PDF files to scan")
    hits: list[ScanHit] = []
    for page, image in _pages(path, dpi):
        hits += _group(str(path), page, decode_image(image))
    return hits


class ScanJob:
    """`addrcode scan`: image files -> one record per code found (file, page, symbols, resolution).

    With a `resolver` (an `addrcode.stations.resolver.Resolver`) each code is resolved and its fields are
    merged in; without one, the code is only checked (status ok / malformed / bad-check). A file
    with no readable symbol gives one record with status ``no-code``.
    """

    def __init__(self, resolver=None, *, dpi: int = PDF_DPI):
        self.resolver = resolver
        self.dpi = dpi
        base = ["file", "page", "symbols"]
        self.fields = base + (list(resolver.fields) if resolver is not None else ["status", "reason", "code"])

    def records(self, path) -> list[dict]:
        """The records of one file."""
        hits = scan_file(path, dpi=self.dpi)
        if not hits:
            return [{"file": str(path), "page": "", "symbols": "", "status": "no-code",
                     "reason": "no Code 128 or QR symbol could be read (rescan closer, flatter, better lit)"}]
        return [self.record(hit) for hit in hits]

    def record(self, hit: ScanHit) -> dict:
        """One hit as a record."""
        out = {"file": hit.file, "page": hit.page, "symbols": "+".join(hit.symbologies)}
        if self.resolver is not None:
            out.update(self.resolver.resolve(hit.payload))
            return out
        from addrcode.codes.scheme import CodeError, parse_code

        try:
            out.update(status="ok", reason="", code=parse_code(hit.payload).text())
        except CodeError as exc:
            out.update(status=exc.kind, reason=str(exc), code="")
        return out

    def __call__(self, paths: Iterable) -> Iterator[dict]:
        for path in paths:
            yield from self.records(path)

    @staticmethod
    def text(record: dict) -> str:
        """`--format text`: ``file[:page]<TAB>CODE<TAB>zone<TAB>sort_center<TAB>route`` or the status."""
        where = f"{record.get('file', '')}" + (f":{record['page']}" if record.get("page") not in ("", None) else "")
        if record.get("status") == "ok":
            rest = [str(record.get(k, "")) for k in ("code", "zone", "sort_center", "route") if k in record]
            return "\t".join([where, *rest])
        return f"{where}\t{record.get('status')}: {record.get('reason', '')}"


__all__ = ["clean_payload", "decode_image", "scan_file", "ScanHit", "ScanJob"]

"""Scanning labels: scanner payloads cleaned into codes, and codes decoded from label images.

Two jobs:

* `clean_payload(text)` -- a scanner payload (AIM symbology prefix, ``CODE:`` label, CR/LF/STX/ETX
  framing) reduced to the code text it carries; it lives in `addrcode.codes.payload` (the resolver
  uses it too) and is re-exported here.
* `scan_file(path)` -- decode every Code 128 and QR symbol on an image (PNG, JPEG, ...) or on
  each page of a PDF (rasterised with pypdfium2) with zxing-cpp, and return one `ScanHit` per
  distinct payload per page, naming the symbologies that carried it. `ScanJob` turns hits into
  records, resolved through a station `Resolver` when one is given (`addrcode scan IMAGE...`).

No page or frame costs more than MAX_PIXELS (Pillow's decompression-bomb limit, ~89 M pixels): a PDF
page too large for it at the scan dpi is rasterised at the highest dpi that fits, or is an error
naming the file and page if that would be below MIN_DPI (50); an image over it is an error naming the
file (a decompression bomb), never decoded. `ScanJob` turns such an error into the file's one
``unreadable`` record and goes on with the next file.

Nothing here prints or logs what was read.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from addrcode.codes.payload import clean_payload, split_sealed
from addrcode.errors import AddrcodeError, DataError

PDF_DPI = 200
FORMATS = ("QRCode", "Code128")
# Pixel budget of one page or frame: Pillow's own decompression-bomb limit (89.5 M pixels, 90 MB in
# greyscale; a few hundred MB with the copies made on the way to zxing-cpp).
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
MIN_DPI = 50  # lowest resolution a too-large PDF page is lowered to: A4 sheets of labels still all read


@dataclass(frozen=True)
class ScanHit:
    """One code read from an image: where (file, 1-based page), by which symbols, and the payload."""

    file: str
    page: int
    payload: str  # the code text, cleaned (see clean_payload)
    symbologies: tuple[str, ...]  # e.g. ("Code128", "QRCode")
    envelope: str = ""  # a sealed label's delivery envelope (QR only), for `addrcode unseal`; never decrypted here


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
    """One hit per code on a page: the Code 128 and the QR of one label (code alone, or code and
    envelope) are the same parcel."""
    by_code: dict[str, tuple[list[str], list[str]]] = {}
    for fmt, payload in found:
        code, envelope = split_sealed(payload)
        kinds, envelopes = by_code.setdefault(code, ([], []))
        if fmt not in kinds:
            kinds.append(fmt)
        if envelope and envelope not in envelopes:
            envelopes.append(envelope)
    return [ScanHit(file, page, code, tuple(sorted(kinds)), envelopes[0] if envelopes else "")
            for code, (kinds, envelopes) in by_code.items()]


def _pages(path: Path, dpi: int) -> Iterator[tuple[int, object]]:
    """(page number, PIL image) of a PDF or an image file."""
    with open(path, "rb") as fh:
        head = fh.read(5)
    yield from (_pdf_pages(path, dpi) if head == b"%PDF-" else _image_frames(path))


def _pdf_pages(path: Path, dpi: int) -> Iterator[tuple[int, object]]:
    """Each page rasterised in greyscale at `dpi`, or lower if it would not fit (see render_scale)."""
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
                scale = render_scale(page.get_size(), dpi, where=f"{path}: page {i + 1}")
                yield i + 1, page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()
    finally:
        doc.close()


def render_scale(size: tuple[float, float], dpi: int, *, where: str = "page") -> float:
    """The pypdfium2 scale at which to rasterise a page of `size` (width, height in points) at `dpi`.

    pdfium allocates ceil(width * scale) x ceil(height * scale) pixels whatever the page declares (it
    ignores /UserUnit), so a 1 kB PDF with a 200-inch MediaBox would cost GBs at 200 dpi. A page over
    MAX_PIXELS at `dpi` gets the highest resolution that fits; below MIN_DPI labels no longer read,
    so such a page is a DataError naming `where` instead.
    """
    width, height = size
    scale = dpi / 72
    if _pixels(size, scale) <= MAX_PIXELS:
        return scale
    # the largest s with (width*s + 1) * (height*s + 1) <= MAX_PIXELS, which bounds pdfium's ceil()s
    a, b = width * height, width + height
    scale = (math.sqrt(b * b + 4 * a * (MAX_PIXELS - 1)) - b) / (2 * a)
    if scale * 72 < MIN_DPI or _pixels(size, scale) > MAX_PIXELS:
        raise DataError(f"{where} is too large to scan ({width / 72:,.0f} x {height / 72:,.0f} in: over "
                        f"{MAX_PIXELS:,} pixels even at {MIN_DPI} dpi); export the labels at a real page size")
    return scale


def _pixels(size: tuple[float, float], scale: float) -> int:
    return math.ceil(size[0] * scale) * math.ceil(size[1] * scale)


def _image_frames(path: Path) -> Iterator[tuple[int, object]]:
    """Each frame in greyscale; a frame over MAX_PIXELS is a DataError before it is decoded."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise AddrcodeError("scanning images needs the optional package Pillow: "
                            "pip install 'addrcode[label]'") from None
    too_big = (f"{path}: image has too many pixels to scan (over {MAX_PIXELS:,}: a decompression bomb, "
               "or a picture far larger than a label needs)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it, then decodes anyway: one limit, and an error
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)  # reads the header only; nothing is decoded yet
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image or PDF file that can be read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(too_big) from None
    with img:
        for i in range(getattr(img, "n_frames", 1)):
            img.seek(i)
            # checked here too: Pillow's limit can be switched off, and later frames may be larger
            if img.width * img.height > MAX_PIXELS:
                raise DataError(too_big)
            yield i + 1, img.convert("L")


def scan_file(path, *, dpi: int = PDF_DPI) -> list[ScanHit]:
    """Every distinct code on every page of an image or PDF file (PDF pages rasterised at `dpi`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; give image or PDF files to scan")
    hits: list[ScanHit] = []
    for page, image in _pages(path, dpi):
        hits += _group(str(path), page, decode_image(image))
    return hits


def sealed_payloads(path, *, dpi: int = PDF_DPI) -> list[tuple[int, str]]:
    """(page, QR payload) of every sealed label (code and envelope) in an image or PDF file, one per
    QR symbol: two labels of one building on a sheet carry one code and two envelopes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; give label images or PDF files")
    return [(page, payload) for page, image in _pages(path, dpi) for fmt, payload in decode_image(image)
            if fmt == "QRCode" and split_sealed(payload)[1]]


class ScanJob:
    """`addrcode scan`: image files -> one record per code found (file, page, symbols, resolution).

    With a `resolver` (an `addrcode.stations.resolver.Resolver`) each code is resolved and its fields are
    merged in; without one, the code is only checked (status ok / malformed / bad-check). A file
    with no readable symbol gives one record with status ``no-code``, a file that cannot be read
    (missing, damaged, too many pixels) one with status ``unreadable``.
    """

    def __init__(self, resolver=None, *, dpi: int = PDF_DPI):
        self.resolver = resolver
        self.dpi = dpi
        base = ["file", "page", "symbols"]
        self.fields = base + (list(resolver.fields) if resolver is not None else ["status", "reason", "code"])

    def records(self, path) -> list[dict]:
        """The records of one file; a file that cannot be read is one ``unreadable`` record with the reason."""
        try:
            hits = scan_file(path, dpi=self.dpi)
        except DataError as exc:  # missing, not an image, too many pixels: the other files are still scanned
            return [self._unreadable(path, str(exc))]
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow on a damaged file that opened
            return [self._unreadable(path, f"{path}: damaged image, cannot be decoded ({type(exc).__name__})")]
        if not hits:
            return [{"file": str(path), "page": "", "symbols": "", "status": "no-code",
                     "reason": "no Code 128 or QR symbol could be read (rescan closer, flatter, better lit)"}]
        return [self.record(hit) for hit in hits]

    def _unreadable(self, path, reason: str) -> dict:
        return {"file": str(path), "page": "", "symbols": "", "status": "unreadable", "reason": reason}

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


__all__ = ["clean_payload", "decode_image", "render_scale", "scan_file", "sealed_payloads", "ScanHit", "ScanJob"]

"""Privacy waybill labels: the delivery code instead of the address, the recipient masked.

`render_labels(records, out, fmt="pdf")` turns encode output (dicts with `status`, `code`,
`sort_center`, `route`, ... -- or the same names prefixed `addrcode_`, as in encode's CSV
output) into printable labels. Each label carries:

* the routing prefix, largest (what a hub pre-sorts on), and the whole code grouped
  ``PPP-EOOOO-C`` for reading aloud;
* a Code 128 barcode and a QR code of the code; both symbols hold the **compact code** (the 9
  characters without hyphens, e.g. ``K7Q3M9QXT``): in Code 128 that is the shortest symbol, in
  QR it fits version 1 (21 x 21 modules) at error-correction level H (30 % damage tolerated),
  and `addrcode resolve` reads it as typed;
* the sort center of the encode output, when present (a reading aid fixed at print time: the scan
  is what routes; `routing=False` leaves it off). The **route is not printed** unless
  `show_route=True`: in the default zones the route is the town, and the town next to a masked
  recipient narrows who the parcel is for far more than the sort center does (measured in
  `scripts/measure_masks.py`);
* the recipient's name and phone **masked** (`addrcode.outputs.mask`: ``J*** S***``, and the last
  `phone_digits` digits: default 2, none when the name is printed too), only when their column
  names are given. Nothing else of the
  input is printed: never the street address or another column.

Rows whose status is not ``ok`` (or whose code fails its check character) produce no label; they
are counted in the returned `LabelReport`. Formats: ``pdf`` (one label per page at 100 x 150 mm,
the 4 x 6 in thermal size, or `sheet` ``"a4"``: 8 labels of 99.1 x 67.7 mm per page, Avery L7165
layout, ``"letter"``: 6 of 4 x 3 1/3 in, Avery 5164), or one ``svg`` / ``png`` file per label in
an output directory (``label-000042.png`` for input row 42). Files are written atomically.

Layout is computed once as a list of primitives (filled boxes and text runs in millimetres) that
three small back ends draw: fpdf2 (fonts embedded, subset), Pillow, and SVG (text as glyph outlines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from addrcode.errors import AddrcodeError, UsageError
from addrcode.files import DEFAULT_FILE_MODE, write_output

PT = 25.4 / 72  # millimetres per point
THERMAL_SIZE = (100.0, 150.0)
FORMATS = ("pdf", "svg", "png")
MISSING_GLYPH = "*"  # a character the embedded font cannot draw is printed masked, never as a box
FONT_FILES = {"mono": "fonts/DejaVuSansMono-Bold.ttf", "sans": "fonts/DejaVuSans.ttf"}


@dataclass(frozen=True)
class Sheet:
    """A page of several labels: label size and grid, in millimetres."""

    name: str
    page: tuple[float, float]
    label: tuple[float, float]
    cols: int
    rows: int
    left: float
    top: float
    pitch_x: float
    pitch_y: float

    @property
    def per_page(self) -> int:
        return self.cols * self.rows


SHEETS = {
    "a4": Sheet("a4", (210.0, 297.0), (99.1, 67.7), 2, 4, 4.65, 13.1, 101.6, 67.7),  # Avery L7165
    "letter": Sheet("letter", (215.9, 279.4), (101.6, 84.67), 2, 3, 3.97, 12.7, 106.36, 84.67),  # Avery 5164
}


@dataclass(frozen=True)
class LabelReport:
    """What `render_labels` did. No address, name or phone in it: row numbers and counts only."""

    labels: int
    skipped: int
    skipped_by_status: tuple[tuple[str, int], ...]
    skipped_rows: tuple[int, ...]  # 1-based input row numbers (the first 1,000)
    pages: int
    outputs: tuple[Path, ...]
    qr_versions: tuple[int, ...] = ()  # QR symbol versions printed (1: code alone; 10-13: with a sealed envelope)

    def summary(self) -> str:
        """One line for stderr, e.g. ``wrote 98 labels (98 pages); 2 rows without a label (rejected: 2)``."""
        where = f" to {self.outputs[0]}" if len(self.outputs) == 1 else (
            f" to {len(self.outputs)} files" if self.outputs else "")
        line = f"wrote {_plural(self.labels, 'label')}{where} ({_plural(self.pages, 'page')}"
        if self.qr_versions:
            line += "; QR version " + "-".join(dict.fromkeys(map(str, (self.qr_versions[0], self.qr_versions[-1]))))
        line += ")"
        if self.skipped:
            counts = ", ".join(f"{status}: {n}" for status, n in self.skipped_by_status)
            rows = ", ".join(str(r) for r in self.skipped_rows[:10]) + (" ..." if self.skipped > 10 else "")
            line += f"; {_plural(self.skipped, 'row')} without a label ({counts}; rows {rows})"
        return line


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --------------------------------------------------------------------------- label content


@dataclass(frozen=True)
class LabelData:
    """What one label shows. `name` and `phone` are already masked."""

    code: str  # grouped, PPP-EOOOO-C
    payload: str  # compact code in the barcode (and the QR, unless sealed)
    prefix: str
    sort_center: str = ""
    route: str = ""
    name: str = ""
    phone: str = ""
    envelope: str = ""  # the sealed delivery details (`encode --seal`), carried in the QR after the code

    @property
    def qr(self) -> str:
        """The QR's text: the compact code, and with a sealed envelope ``CODE.ENVELOPE``."""
        from addrcode.codes.payload import join_sealed

        return join_sealed(self.payload, self.envelope)

    @property
    def qr_level(self) -> str:
        """Error correction: H (30 %) for the code alone (still version 1); M (15 %) with an envelope,
        which keeps a sealed QR at version 10-13 (`docs`: README "At the delivery station")."""
        return "m" if self.envelope else "h"


def _get(record: dict, key: str):
    """Encode output field, from JSONL (`code`) or CSV (`addrcode_code`) records."""
    value = record.get(f"addrcode_{key}")
    if value is None:
        value = record.get(key)
    return value


def _cell(record: dict, key: str | None) -> str:
    """A recipient cell as the person wrote it: encode's CSV output defuses formulas with a leading
    quote (``'+44 20 ...``), which is undone here so the mask sees the real first character."""
    if not key:
        return ""
    from addrcode.batch.io import unneutralise

    return unneutralise(str(record.get(key) or ""))


def label_data(record: dict, *, name_key: str | None = None, phone_key: str | None = None,
               routing: bool = True, show_route: bool = False, phone_digits: int | None = None) -> LabelData | str:
    """The label of one encode record, or the reason (a status word) it gets none.

    `routing=False` leaves the sort center (and route) off the label; the route is there only with
    `show_route=True`; `phone_digits`: last digits of the phone shown (see `render_labels`).
    """
    from addrcode.codes.scheme import CodeError, parse_code
    from addrcode.outputs.mask import mask_name, mask_phone

    status = _get(record, "status")
    status = "ok" if status is None else str(status)
    if status != "ok":
        return status or "no-status"
    text = _get(record, "code")
    if not text:
        return "no-code"
    try:
        code = parse_code(str(text))
    except CodeError as exc:
        return exc.kind  # malformed / bad-check: never print a code a station would reject
    return LabelData(code=code.text(), payload=code.compact(), prefix=code.prefix,
                     sort_center=str(_get(record, "sort_center") or "") if routing else "",
                     route=str(_get(record, "route") or "") if routing and show_route else "",
                     name=mask_name(_cell(record, name_key)),
                     phone=mask_phone(_cell(record, phone_key), phone_digits),
                     envelope=_cell(record, "addrcode_sealed") or _cell(record, "sealed"))


# --------------------------------------------------------------------------- fonts and symbols


def _font_path(kind: str) -> Path:
    from addrcode.config import embedded

    return embedded(FONT_FILES[kind])


@cache
def _metrics(kind: str) -> tuple[dict[int, int], float]:
    """(code point -> advance width in font units, units per em) of an embedded font."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(_font_path(kind)), lazy=True)
    hmtx = font["hmtx"]
    widths = {cp: hmtx[name][0] for cp, name in font.getBestCmap().items()}
    return widths, float(font["head"].unitsPerEm)


def drawable(text: str, kind: str) -> str:
    """`text` with the characters the embedded font lacks replaced by `MISSING_GLYPH`."""
    widths, _ = _metrics(kind)
    return "".join(ch if ord(ch) in widths or ch.isspace() else MISSING_GLYPH for ch in text)


def text_width(text: str, kind: str, size_pt: float) -> float:
    """Advance width of `text` in millimetres (no kerning: the layout keeps a margin)."""
    widths, upem = _metrics(kind)
    default = widths.get(ord("M"), upem * 0.6)
    return sum(widths.get(ord(ch), default) for ch in text) / upem * size_pt * PT


def _fit(text: str, kind: str, size_pt: float, width_mm: float, min_pt: float = 5.0) -> float:
    """The largest size <= size_pt at which `text` fits `width_mm` (not below min_pt)."""
    w = text_width(text, kind, size_pt)
    if w <= width_mm or w == 0:
        return size_pt
    return max(min_pt, size_pt * width_mm / w)


@lru_cache(maxsize=4096)
def code128_modules(payload: str) -> str:
    """Code 128 module pattern ("1" bar, "0" space) of `payload`, without quiet zones."""
    from barcode.codex import Code128

    return Code128(payload).build()[0]


@lru_cache(maxsize=4096)
def qr_matrix(payload: str, error: str = "h") -> tuple[tuple[int, ...], ...]:
    """QR matrix (1 = dark) of `payload` at error level `error`, no quiet zone; the compact code fits
    version 1 at level H."""
    import segno

    qr = segno.make(payload, error=error, micro=False, boost_error=False)
    return tuple(tuple(row) for row in qr.matrix)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Box:
    """A filled black rectangle (mm, top-left origin)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Text:
    """A run of text: `x` left, `y` baseline (mm), size in points, font kind "mono" or "sans"."""

    x: float
    y: float
    size: float
    font: str
    text: str


@dataclass(frozen=True)
class Layout:
    """Primitives of one label in a `width` x `height` mm box."""

    width: float
    height: float
    items: tuple = field(default_factory=tuple)


def _barcode(payload: str, x: float, y: float, module: float, height: float) -> list[Box]:
    boxes, run_start = [], None
    pattern = code128_modules(payload) + "0"
    for i, bit in enumerate(pattern):
        if bit == "1" and run_start is None:
            run_start = i
        elif bit != "1" and run_start is not None:
            boxes.append(Box(x + run_start * module, y, (i - run_start) * module, height))
            run_start = None
    return boxes


def _barcode_width(payload: str, module: float) -> float:
    return len(code128_modules(payload)) * module


def _qr(payload: str, x: float, y: float, module: float, error: str = "h") -> list[Box]:
    # One box per horizontal run of dark modules: ~4x fewer drawing operations than per module.
    boxes = []
    for r, row in enumerate(qr_matrix(payload, error)):
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                boxes.append(Box(x + start * module, y + r * module, (c - start) * module, module))
            else:
                c += 1
    return boxes


def _qr_size(payload: str, module: float, error: str = "h") -> float:
    return len(qr_matrix(payload, error)) * module


def _qr_module(d: LabelData, plain: float, sealed_mm: float) -> float:
    """Module size (mm): `plain` for the code alone; a sealed QR fills `sealed_mm` whatever its version."""
    return sealed_mm / len(qr_matrix(d.qr, d.qr_level)) if d.envelope else plain


def _text(x, y, size, font, text, width=None, align="left", min_pt=5.0) -> Text:
    text = drawable(text, font)
    if width is not None:
        size = _fit(text, font, size, width, min_pt)
        if text_width(text, font, size) > width:  # still too long at the smallest size: cut, and say so
            while text and text_width(text + "\u2026", font, size) > width:
                text = text[:-1]
            text += "\u2026"
        if align == "center":
            x += (width - text_width(text, font, size)) / 2
        elif align == "right":
            x += width - text_width(text, font, size)
    return Text(x, y, size, font, text)


def layout_tall(d: LabelData, w: float = THERMAL_SIZE[0], h: float = THERMAL_SIZE[1]) -> Layout:
    """The 100 x 150 mm thermal label: prefix, code, routing, Code 128, QR and recipient, top to bottom."""
    m = 5.0
    inner = w - 2 * m
    items: list = [
        _text(m, m + 3, 8, "sans", "PRIVACY LABEL \u00b7 no address on this parcel", inner),
        Box(m, m + 5, inner, 0.4),
        _text(m, m + 27, 72, "mono", d.prefix, inner * 0.55),
        _text(m, m + 45.5, 30, "mono", d.code, inner, align="center"),
        Box(m, m + 49, inner, 0.4),
    ]
    rx, rw = m + inner * 0.58, inner * 0.42
    if d.sort_center:
        items += [_text(rx, m + 12, 7, "sans", "SORT CENTER", rw), _text(rx, m + 19, 13, "sans", d.sort_center, rw)]
    if d.route:
        items += [_text(rx, m + 25, 7, "sans", "ROUTE", rw), _text(rx, m + 31, 13, "sans", d.route, rw)]
    module = 0.5  # 4 dots at 203 dpi, 6 at 300 dpi: bars land on whole printer dots
    bw = _barcode_width(d.payload, module)
    if bw > inner - 10 * module:  # keep a 10-module quiet zone inside the margins
        module = (inner - 10 * module) / len(code128_modules(d.payload))
        bw = _barcode_width(d.payload, module)
    items += _barcode(d.payload, (w - bw) / 2, m + 54, module, 26)
    qr_module = _qr_module(d, 1.6, 40.0)  # sealed: 0.55-0.7 mm modules, 4-6 dots at 203 dpi
    qr_y = m + 88
    items += _qr(d.qr, m + 4 * qr_module - 1, qr_y, qr_module, d.qr_level)  # quiet zone: 4 modules incl. margin
    tx = m + _qr_size(d.qr, qr_module, d.qr_level) + 8 * qr_module
    tw = w - m - tx
    if d.name or d.phone:
        items.append(_text(tx, qr_y + 4, 7, "sans", "RECIPIENT", tw))
        items.append(_text(tx, qr_y + 12, 14, "sans", d.name or "", tw))
        items.append(_text(tx, qr_y + 20, 14, "sans", d.phone or "", tw))
    items.append(_text(m, h - m, 7, "sans", "Sorting: scan the barcode or QR code, or type the code.", inner))
    return Layout(w, h, tuple(items))


def layout_wide(d: LabelData, w: float, h: float) -> Layout:
    """A sheet label (about 100 x 68 mm): text left, QR top right, Code 128 along the bottom."""
    m = 4.0
    qr_module = _qr_module(d, 1.0, 34.0)  # sealed: right of the Code 128, down to the bottom margin
    qr = _qr_size(d.qr, qr_module, d.qr_level)
    left_w = w - 2 * m - qr - 4 * qr_module
    items: list = [
        _text(m, m + 13, 40, "mono", d.prefix, left_w * 0.6),
        _text(m + left_w * 0.62, m + 5, 6, "sans", "SORT CENTER" if d.sort_center else "", left_w * 0.38),
        _text(m + left_w * 0.62, m + 12, 10, "sans", d.sort_center, left_w * 0.38),
        _text(m, m + 22, 19, "mono", d.code, left_w),
        _text(m, m + 28.5, 8, "sans", f"ROUTE {d.route}" if d.route else "", left_w),
    ]
    items += _qr(d.qr, w - m - qr, m, qr_module, d.qr_level)
    if d.name or d.phone:
        rec = "   ".join(p for p in (d.name, d.phone) if p)
        items.append(_text(m, m + 35, 9, "sans", rec, left_w if d.envelope else w - 2 * m))
    module = 0.4  # the 4 mm margin is the 10-module quiet zone
    bar_h = min(22.0, max(8.0, h - m - 4 - (m + 39)))
    items += _barcode(d.payload, m, m + 39, module, bar_h)
    items.append(_text(w - m - text_width("no address \u00b7 scan to sort", "sans", 5), h - m + 1, 5, "sans",
                       "no address \u00b7 scan to sort"))
    return Layout(w, h, tuple(items))


def layout_label(d: LabelData, size: tuple[float, float] = THERMAL_SIZE) -> Layout:
    """The layout for a label of `size` (mm): tall for the thermal size, wide for sheet labels."""
    w, h = size
    return layout_tall(d, w, h) if h > w else layout_wide(d, w, h)


# --------------------------------------------------------------------------- back ends


def _need(module: str, extra: str = "label"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise AddrcodeError(f"rendering labels needs the optional package `{module}`: "
                            f"pip install 'addrcode[{extra}]'") from None


class _PdfWriter:
    """Labels into one PDF (fpdf2), one per page or placed on a sheet grid."""

    def __init__(self, sheet: Sheet | None):
        fpdf = _need("fpdf")
        self.sheet = sheet
        page = sheet.page if sheet else THERMAL_SIZE
        self.label_size = sheet.label if sheet else THERMAL_SIZE
        pdf = fpdf.FPDF(unit="mm", format=page)
        pdf.set_margins(0, 0, 0)
        pdf.set_auto_page_break(False)
        pdf.set_creator("addrcode")
        pdf.set_producer("addrcode (fpdf2)")
        for kind in FONT_FILES:
            pdf.add_font(kind, "", str(_font_path(kind)))
        pdf.set_fill_color(0, 0, 0)
        self.pdf = pdf
        self.count = 0
        self.pages = 0

    def add(self, layout: Layout) -> None:
        pdf = self.pdf
        if self.sheet is None:
            pdf.add_page()
            self.pages += 1
            ox = oy = 0.0
        else:
            slot = self.count % self.sheet.per_page
            if slot == 0:
                pdf.add_page()
                self.pages += 1
            ox = self.sheet.left + (slot % self.sheet.cols) * self.sheet.pitch_x
            oy = self.sheet.top + (slot // self.sheet.cols) * self.sheet.pitch_y
        font = None
        for item in layout.items:
            if isinstance(item, Box):
                pdf.rect(ox + item.x, oy + item.y, item.w, item.h, style="F")
            elif item.text:
                if font != (item.font, item.size):
                    pdf.set_font(item.font, size=item.size)
                    font = (item.font, item.size)
                pdf.text(ox + item.x, oy + item.y, item.text)
        self.count += 1

    def write(self, out, file_mode: int = DEFAULT_FILE_MODE) -> None:
        if hasattr(out, "write"):
            out.write(bytes(self.pdf.output()))
            return
        write_output(out, bytes(self.pdf.output()), mode=file_mode, what="the labels")


@lru_cache(maxsize=64)
def _pil_font(kind: str, px: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(_font_path(kind)), px)


def render_png(layout: Layout, dpi: int = 300) -> bytes:
    """One label as a 1-bit PNG at `dpi` (bars snapped to whole pixels)."""
    _need("PIL")
    import io

    from PIL import Image, ImageDraw

    s = dpi / 25.4
    img = Image.new("L", (round(layout.width * s), round(layout.height * s)), 255)
    draw = ImageDraw.Draw(img)
    for item in layout.items:
        if isinstance(item, Box):
            x0, y0 = round(item.x * s), round(item.y * s)
            x1, y1 = round((item.x + item.w) * s), round((item.y + item.h) * s)
            draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), fill=0)
        elif item.text:
            font = _pil_font(item.font, max(1, round(item.size * PT * s)))
            draw.text((item.x * s, item.y * s), item.text, font=font, fill=0, anchor="ls")
    buf = io.BytesIO()
    img.convert("1", dither=Image.Dither.NONE).save(buf, "PNG", dpi=(dpi, dpi))
    return buf.getvalue()


@cache
def _glyph_set(kind: str):
    from fontTools.ttLib import TTFont

    font = TTFont(str(_font_path(kind)))
    return font.getGlyphSet(), font.getBestCmap()


@lru_cache(maxsize=4096)
def _glyph(kind: str, ch: str) -> tuple[str, str, int]:
    """(glyph id, SVG path data in font units, advance width) of one character of an embedded font."""
    from fontTools.pens.svgPathPen import SVGPathPen

    glyphs, cmap = _glyph_set(kind)
    name = cmap.get(ord(ch)) or ".notdef"
    pen = SVGPathPen(glyphs)
    glyphs[name].draw(pen)
    return f"{kind}-{ord(ch):x}", pen.getCommands(), glyphs[name].width


def render_svg(layout: Layout) -> str:
    """One label as a self-contained SVG document in millimetres.

    Text is drawn as glyph outlines of the embedded fonts (each glyph defined once, placed with
    ``<use>``), so the label looks the same in every viewer and needs no installed font; each
    text run carries its (already masked) string as ``aria-label`` for accessibility and search.
    """
    from xml.sax.saxutils import quoteattr

    defs: dict[str, str] = {}
    body = []
    for item in layout.items:
        if isinstance(item, Box):
            body.append(f'<rect x="{item.x:.3f}" y="{item.y:.3f}" width="{item.w:.3f}" height="{item.h:.3f}"/>')
        elif item.text:
            _, font_upem = _metrics(item.font)
            k = item.size * PT / font_upem
            uses, x = [], 0
            for ch in item.text:
                gid, path, advance = _glyph(item.font, ch)
                if path:
                    defs.setdefault(gid, path)
                    uses.append(f'<use href="#{gid}" x="{x}"/>')
                x += advance
            body.append(f'<g aria-label={quoteattr(item.text)} '
                        f'transform="translate({item.x:.3f} {item.y:.3f}) scale({k:.6f} {-k:.6f})">'
                        + "".join(uses) + "</g>")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:g}mm" height="{layout.height:g}mm" '
           f'viewBox="0 0 {layout.width:g} {layout.height:g}">', "<defs>"]
    out += [f'<path id="{gid}" d="{path}"/>' for gid, path in defs.items()]
    out += ["</defs>", f'<rect width="{layout.width:g}" height="{layout.height:g}" fill="#fff"/>', '<g fill="#000">']
    out += body
    out.append("</g></svg>\n")
    return "\n".join(out)


# --------------------------------------------------------------------------- entry point

def render_labels(records: Iterable[dict], out, *, fmt: str = "pdf", sheet: str | None = None,
                  name_key: str | None = None, phone_key: str | None = None, dpi: int = 300,
                  routing: bool = True, show_route: bool = False, phone_digits: int | None = None,
                  progress: Callable[[int], None] | None = None, file_mode: int = DEFAULT_FILE_MODE) -> LabelReport:
    """Render a label for every ok record; return what was written and what was skipped.

    `records`: encode output dicts (JSONL names or CSV names with the `addrcode_` prefix).
    `out`: for ``pdf`` a file path (written atomically) or a binary stream; for ``svg``/``png``
    a directory (created if missing) receiving ``label-NNNNNN.<fmt>`` per input row.
    `sheet`: None (one 100 x 150 mm label per page), ``"a4"`` or ``"letter"``; PDF only.
    `name_key` / `phone_key`: record keys printed masked; a key missing from the records is a
    usage error (the message names the key, never a value). `dpi`: PNG resolution.
    `routing`: print the sort center of the encode output (a reading aid; it is the zoning at print
    time -- after a re-zoning the code still scans right while the printed sort center may be
    stale, so stations that re-zone often can leave it off with False). `show_route`: print the
    route too (default off: in the default zones it is the town; `routing=False` wins).
    `phone_digits`: last digits of the phone printed, 0 to 4 (at least 6 always hidden); default 2,
    or 0 when the name is printed too (`name_key`): on the Vermont reference the two initials and 2
    digits next to the sort center single out 65 % of households, the initials alone 1 %, 2 digits
    alone 0.03 % (`scripts/measure_masks.py`).
    `progress(n)` is called after each input record with the number of records read so far.
    `file_mode`: the mode of the files written (`addrcode.files`).
    """
    if fmt not in FORMATS:
        raise UsageError(f"label format must be one of {', '.join(FORMATS)}")
    if sheet is not None and sheet not in SHEETS:
        raise UsageError(f"--sheet must be one of {', '.join(SHEETS)}")
    if sheet is not None and fmt != "pdf":
        raise UsageError("--sheet applies to PDF output only")
    from addrcode.outputs.mask import phone_digits_shown

    if phone_digits is None:  # measured: two initials and 2 digits together single out most households
        phone_digits = 0 if name_key else None
    try:
        phone_digits = phone_digits_shown(phone_digits)
    except ValueError as exc:
        raise UsageError(f"--phone-digits: {exc}") from None
    sheet_spec = SHEETS[sheet] if sheet else None
    size = sheet_spec.label if sheet_spec else THERMAL_SIZE
    writer = _PdfWriter(sheet_spec) if fmt == "pdf" else None
    outdir = None if fmt == "pdf" else _label_dir(out)
    qr_versions: set[int] = set()
    skipped_by: dict[str, int] = {}
    skipped_rows: list[int] = []
    outputs: list[Path] = []
    labels = 0
    checked_keys = False
    for row, record in enumerate(records, start=1):
        if not checked_keys:
            for flag, key in (("--name-column", name_key), ("--phone-column", phone_key)):
                if key and key not in record:
                    raise UsageError(f"{flag} {key!r}: no such column in the input")
            checked_keys = True
        data = label_data(record, name_key=name_key, phone_key=phone_key, routing=routing, show_route=show_route,
                          phone_digits=phone_digits)
        if isinstance(data, str):
            skipped_by[data] = skipped_by.get(data, 0) + 1
            if len(skipped_rows) < 1000:
                skipped_rows.append(row)
            if progress is not None:
                progress(row)
            continue
        layout = layout_label(data, size)
        qr_versions.add((len(qr_matrix(data.qr, data.qr_level)) - 17) // 4)
        if writer is not None:
            writer.add(layout)
        else:
            path = outdir / f"label-{row:06d}.{fmt}"
            body = render_png(layout, dpi) if fmt == "png" else render_svg(layout).encode()
            write_output(path, body, mode=file_mode, what="the label")
            outputs.append(path)
        labels += 1
        if progress is not None:
            progress(row)
    pages = labels
    if writer is not None:
        if labels == 0:
            writer.pdf.add_page()  # a valid, empty PDF rather than no file: scripts expect the output
        writer.write(out, file_mode)
        pages = max(1, writer.pages)
        if not hasattr(out, "write"):
            outputs.append(Path(out))
    return LabelReport(labels=labels, skipped=sum(skipped_by.values()),
                       skipped_by_status=tuple(sorted(skipped_by.items(), key=lambda kv: (-kv[1], kv[0]))),
                       skipped_rows=tuple(skipped_rows), pages=pages, outputs=tuple(outputs),
                       qr_versions=tuple(sorted(qr_versions)))


def _label_dir(out) -> Path:
    outdir = Path(out)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AddrcodeError(f"{outdir}: cannot create the label directory ({exc.strerror}); "
                            "choose a writable path with -o") from None
    return outdir


__all__ = ["render_labels", "LabelReport", "LabelData", "label_data", "layout_label", "render_png",
           "render_svg", "SHEETS", "THERMAL_SIZE"]

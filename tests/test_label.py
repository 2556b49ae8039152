"""Labels read as a person and a scanner would: render, rasterise, decode, resolve; no address text.

The data-backed tests use ~300 real Vermont E911 points of the embedded data (`_labelworld`),
encoded with `EncodeJob`, resolved through a signed station table built from the same points.
"""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pdfium = pytest.importorskip("pypdfium2")
zxingcpp = pytest.importorskip("zxingcpp")
pytest.importorskip("fpdf")

from _labelworld import csv_style, shared_world  # noqa: E402

from addrcode.errors import UsageError  # noqa: E402
from addrcode.outputs import label as L  # noqa: E402
from addrcode.outputs.scan import decode_image  # noqa: E402
from addrcode.stations.resolver import Resolver  # noqa: E402

DPI = 150  # modest: a 0.5 mm Code 128 module is ~3 px, a QR module ~8 px


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def resolver(world):
    with Resolver(world.table, world.public_key) as r:
        yield r


def page_texts(pdf_path: Path) -> list[str]:
    """The text layer of every page (what copy-paste, search and indexing see)."""
    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def pages(pdf_path: Path, dpi: int = DPI):
    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        for i in range(len(doc)):
            page = doc[i]
            text = page.get_textpage().get_text_range()
            image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            yield text, image
    finally:
        doc.close()


def street_lines(world) -> list[str]:
    """What must never be on a label: each input's street line (number + street), and the street alone."""
    out = []
    for row in world.rows:
        out.append(f"{row['NUMBER']} {row['STREET']}")
        out.append(row["STREET"])
    return out


# --------------------------------------------------------------------------- the scan-back test


@pytest.fixture(scope="module")
def thermal(world, tmp_path_factory):
    """All world records as CSV-style rows, plus rows that must not get a label, rendered to one PDF."""
    rows = [csv_style(r) for r in world.records]
    first = rows[0]["addrcode_code"]
    bad_check = dict(rows[0], addrcode_code=first[:-1] + ("0" if first[-1] != "0" else "1"))
    rejected = dict(rows[1], addrcode_status="rejected", addrcode_reason="no match", addrcode_code="")
    error = dict(rows[2], addrcode_status="error", addrcode_code="")
    rows = rows[:5] + [bad_check, rejected, error] + rows[5:]
    out = tmp_path_factory.mktemp("thermal") / "labels.pdf"
    t0 = time.perf_counter()
    report = L.render_labels(rows, out, name_key="name", phone_key="phone")
    return rows, out, report, time.perf_counter() - t0


def test_every_label_scans_back_to_its_code_and_resolves(world, resolver, thermal):
    rows, out, report, _ = thermal
    ok_rows = [r for r in rows if r["addrcode_status"] == "ok" and r is not rows[5]]
    assert report.labels == len(ok_rows) == len(world.records)
    assert report.pages == report.labels
    read = 0
    for (_text, image), row in zip(pages(out), ok_rows, strict=True):
        found = decode_image(image)
        symbologies = {fmt for fmt, _ in found}
        assert symbologies == {"QRCode", "Code128"}, f"page of row {row['addrcode_code']}: {found}"
        compact = row["addrcode_code"].replace("-", "")
        assert [payload for _, payload in found] == [compact, compact]
        answer = resolver.resolve(found[0][1])
        assert answer["status"] == "ok"
        assert answer["code"] == row["addrcode_code"]
        assert (answer["zone"], answer["sort_center"], answer["route"]) == (
            row["addrcode_zone"], row["addrcode_sort_center"], row["addrcode_route"])
        read += 1
    assert read == len(world.records)  # 100 %


def test_rows_that_are_not_ok_get_no_label_and_are_reported(thermal):
    rows, _, report, _ = thermal
    assert report.skipped == 3
    assert dict(report.skipped_by_status) == {"bad-check": 1, "rejected": 1, "error": 1}
    assert report.skipped_rows == (6, 7, 8)
    line = report.summary()
    assert "3 rows without a label" in line and "rows 6, 7, 8" in line
    assert "\n" not in line
    assert not any(r["address"] in line for r in rows)


def test_no_address_or_unmasked_recipient_in_the_text_layer(world, thermal):
    rows, out, _, _ = thermal
    text = "\n".join(page_texts(out))
    upper = text.upper()
    text_digits = re.sub(r"\D", "", text)
    for s in street_lines(world):
        assert s.upper() not in upper
    for r in rows:
        if r["name"] and len(r["name"]) > 1:
            assert r["name"] not in text
        if r["phone"]:
            assert r["phone"] not in text
            assert re.sub(r"\D", "", r["phone"]) not in text_digits
    # what a person reads: the grouped code, the prefix, sort center and the masked recipient
    first = page_texts(out)[0]
    row = world.records[0]
    assert row["code"] in first and row["sort_center"] in first
    assert "J*** S***" in first and "***-***-****" in first  # name printed: no phone digit by default
    assert row["route"] not in first.replace(row["sort_center"], "")  # the route (town) only when asked


def test_pdf_embeds_its_fonts(thermal):
    _, out, _, _ = thermal
    data = out.read_bytes()
    assert data.count(b"/FontFile2") == 2  # both DejaVu faces, subset and embedded
    assert b"+DejaVuSansMonoBold" in data and b"+DejaVuSansBook" in data


def test_a_thousand_labels_render_fast(world, tmp_path, thermal):
    _, _, report, seconds = thermal
    per_label = seconds / report.labels
    # measured 5-17 s per 1,000 on 2 shared cores; the bound leaves room for a loaded CI machine
    assert per_label * 1000 < 45, f"{per_label * 1000:.1f} s per 1,000 labels"


@pytest.mark.slow
def test_thousand_labels_timed(world, tmp_path):
    rows = [csv_style(r) for r in world.records] * 4
    t0 = time.perf_counter()
    report = L.render_labels(rows[:1000], tmp_path / "k.pdf")
    assert report.labels == 1000
    assert time.perf_counter() - t0 < 45


# --------------------------------------------------------------------------- sheets, PNG, SVG


@pytest.mark.parametrize("sheet", ["a4", "letter"])
def test_sheet_labels_scan_back(world, resolver, tmp_path, sheet):
    recs = world.records[:19]
    out = tmp_path / "sheet.pdf"
    report = L.render_labels(recs, out, sheet=sheet, name_key="name")
    per = L.SHEETS[sheet].per_page
    assert report.pages == -(-19 // per)
    codes = []
    for _text, image in pages(out, dpi=200):
        found = decode_image(image)
        by_code = {}
        for fmt, payload in found:
            by_code.setdefault(payload, set()).add(fmt)
        assert all(v == {"QRCode", "Code128"} for v in by_code.values()), by_code
        codes += list(by_code)
    expected = [r["code"].replace("-", "") for r in recs]
    assert sorted(codes) == sorted(set(expected))
    assert all(resolver.resolve(c)["status"] == "ok" for c in codes)


def test_png_labels_scan_back(world, tmp_path):
    from PIL import Image

    recs = world.records[:8]
    report = L.render_labels(recs, tmp_path / "png", fmt="png", dpi=200, name_key="name", phone_key="phone")
    assert [p.name for p in report.outputs] == [f"label-{i:06d}.png" for i in range(1, 9)]
    for path, rec in zip(report.outputs, recs):
        with Image.open(path) as img:
            assert img.info["dpi"][0] == pytest.approx(200, abs=0.01)
            assert img.size == (round(100 / 25.4 * 200), round(150 / 25.4 * 200))
            found = decode_image(img.convert("L"))
        assert sorted(found) == [("Code128", rec["code"].replace("-", "")), ("QRCode", rec["code"].replace("-", ""))]


def _draw_svg(path: Path, dpi: int = 200):
    """Rasterise the rectangles of one of our SVG labels (no SVG renderer needed: only rects carry symbols)."""
    from PIL import Image, ImageDraw

    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    w, h = (float(v) for v in root.get("viewBox").split()[2:])
    s = dpi / 25.4
    img = Image.new("L", (round(w * s), round(h * s)), 255)
    draw = ImageDraw.Draw(img)
    for rect in root.iter(f"{ns}rect"):
        if rect.get("fill") == "#fff":
            continue
        x, y, rw, rh = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        draw.rectangle((round(x * s), round(y * s), round((x + rw) * s) - 1, round((y + rh) * s) - 1), fill=0)
    texts = [g.get("aria-label") for g in root.iter(f"{ns}g") if g.get("aria-label") is not None]
    return img, texts


def test_svg_labels_scan_back_and_hold_no_address(world, tmp_path):
    recs = world.records[:6]
    report = L.render_labels(recs, tmp_path / "svg", fmt="svg", name_key="name", phone_key="phone")
    assert len(report.outputs) == 6
    for path, rec, row in zip(report.outputs, recs, world.rows):
        img, texts = _draw_svg(path)
        compact = rec["code"].replace("-", "")
        assert sorted(decode_image(img)) == [("Code128", compact), ("QRCode", compact)]
        joined = " ".join(texts)
        assert rec["code"] in texts and rec["code"][:3] in texts
        assert not list(ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text"))  # outlines, no font needed
        assert row["STREET"] not in joined and rec["address"] not in joined
        if len(rec["name"]) > 1:
            assert rec["name"] not in joined


# --------------------------------------------------------------------------- behaviour and errors


def test_only_asked_columns_are_printed(tmp_path):
    rec = {"status": "ok", "code": "K7Q-3M9QX-V", "sort_center": "SC-X", "route": "R1", "name": "John Smith",
           "phone": "802-555-4567", "email": "john@example.com", "address": "12 Main St"}
    out = tmp_path / "a.pdf"
    L.render_labels([rec], out)  # no name/phone columns asked: neither is printed, even masked
    text = page_texts(out)[0]
    assert "J***" not in text and "4567" not in text and "example" not in text and "Main" not in text
    assert "K7Q-3M9QX-V" in text and "K7Q" in text and "SC-X" in text


def test_missing_name_column_is_a_usage_error(tmp_path):
    rec = {"status": "ok", "code": "K7Q-3M9QX-V"}
    with pytest.raises(UsageError, match="--name-column 'nom'"):
        L.render_labels([rec], tmp_path / "a.pdf", name_key="nom")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temp file


@pytest.mark.parametrize("kwargs, msg", [({"fmt": "jpg"}, "format"), ({"sheet": "a3"}, "--sheet"),
                                         ({"fmt": "png", "sheet": "a4"}, "PDF output only")])
def test_bad_options(tmp_path, kwargs, msg):
    with pytest.raises(UsageError, match=msg):
        L.render_labels([], tmp_path / "x", **kwargs)


def test_output_is_atomic_and_replaces(tmp_path):
    out = tmp_path / "labels.pdf"
    out.write_bytes(b"old")
    rec = {"status": "ok", "code": "K7Q-3M9QX-V"}

    def boom():
        yield rec
        raise RuntimeError("input broke")

    with pytest.raises(RuntimeError):
        L.render_labels(boom(), out)
    assert out.read_bytes() == b"old"  # a failed run leaves the previous file alone
    report = L.render_labels([rec], out)
    assert out.read_bytes().startswith(b"%PDF-") and report.outputs == (out,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.pdf"]


def test_no_ok_rows_still_writes_a_valid_pdf(tmp_path):
    report = L.render_labels([{"status": "rejected", "code": ""}], tmp_path / "e.pdf")
    assert report.labels == 0 and report.skipped == 1
    assert len(pdfium.PdfDocument(str(tmp_path / "e.pdf"))) == 1


def test_pdf_to_a_stream(tmp_path):
    import io

    buf = io.BytesIO()
    report = L.render_labels([{"code": "K7Q3M9QXV"}], buf)  # no status column: the code decides
    assert buf.getvalue().startswith(b"%PDF-") and report.labels == 1 and report.outputs == ()


def test_characters_the_font_lacks_are_masked_not_boxes():
    assert L.drawable("王**", "sans") == "***"
    assert L.drawable("М**** И******", "sans") == "М**** И******"
    assert L.drawable("J*** S****", "mono") == "J*** S****"


def test_long_values_shrink_to_fit():
    d = L.LabelData(code="K7Q-3M9QX-V", payload="K7Q3M9QXV", prefix="K7Q", sort_center="SC-" + "X" * 60,
                    route="R" * 80, name="J" + "*" * 70, phone="***-***-4567")
    for size in (L.THERMAL_SIZE, L.SHEETS["a4"].label, L.SHEETS["letter"].label):
        layout = L.layout_label(d, size)
        for item in layout.items:
            if isinstance(item, L.Text) and item.text:
                right = item.x + L.text_width(item.text, item.font, item.size)
                assert item.x >= 0 and right <= layout.width + 1e-6, (size, item.text[:10])
            elif isinstance(item, L.Box):
                assert 0 <= item.x and item.x + item.w <= layout.width + 1e-6
                assert 0 <= item.y and item.y + item.h <= layout.height + 1e-6


def test_symbols_hold_the_compact_code():
    assert len(L.qr_matrix("K7Q3M9QXV")) == 21  # version 1 at level H
    modules = L.code128_modules("K7Q3M9QXV")
    assert set(modules) == {"0", "1"} and modules.startswith("11010") and modules.endswith("1100011101011")


def test_label_data_reads_csv_and_jsonl_records_and_undoes_formula_quotes():
    csv_row = {"addrcode_status": "ok", "addrcode_code": "k7q3m9qxv", "addrcode_sort_center": "SC-A",
               "addrcode_route": "R", "name": "'=Eve Hacker", "phone": "'+44 20 7946 0958", "address": "1 Main St"}
    d = L.label_data(csv_row, name_key="name", phone_key="phone")
    assert (d.code, d.payload, d.prefix, d.sort_center) == ("K7Q-3M9QX-V", "K7Q3M9QXV", "K7Q", "SC-A")
    assert (d.name, d.phone, d.route) == ("E*** H***", "+** ** **** **58", "")  # no route unless asked
    shown = L.label_data(csv_row, show_route=True, phone_key="phone", phone_digits=4)
    assert (shown.route, shown.phone) == ("R", "+** ** **** 0958")
    jsonl = {"input": "1 Main St", "status": "ok", "code": "K7Q-3M9QX-V", "sort_center": None, "route": ""}
    assert L.label_data(jsonl).sort_center == ""
    assert L.label_data({"status": "ok", "code": "K7Q-3M9QX-W"}) == "bad-check"
    assert L.label_data({"status": "ok", "code": "K7Q-3M9QX"}) == "malformed"
    assert L.label_data({"status": "ok", "code": ""}) == "no-code"
    assert L.label_data({"status": "rejected", "code": "K7Q-3M9QX-V"}) == "rejected"


@pytest.mark.slow
def test_default_data_labels_scan_back_and_resolve_with_the_default_table(world, tmp_path_factory):
    """The same ~300 queries through the whole embedded default: full Vermont reference and the
    default station table (built once into ADDRCODE_CACHE_DIR, else a temporary cache: ~45 s)."""
    from addrcode.batch.jobs import EncodeJob, open_geocoder, open_grid, open_keyring, open_zones
    from addrcode.config import load_config
    from addrcode.stations.default import default_table

    cache = Path(os.environ.get("ADDRCODE_CACHE_DIR") or tmp_path_factory.mktemp("defaultcache"))
    config = load_config(env={}, cache_dir=str(cache))
    job = EncodeJob(open_geocoder(config), open_zones(config), open_keyring(config), open_grid(config))
    records = [{"name": r["name"], "phone": r["phone"], **job(q)} for r, q in zip(world.records, world.queries)]
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) >= 0.95 * len(records)
    out = tmp_path_factory.mktemp("default") / "labels.pdf"
    report = L.render_labels(records, out, name_key="name", phone_key="phone")
    assert report.labels == len(ok) and report.skipped == len(records) - len(ok)
    table, pub = default_table(cache)
    with Resolver(table, pub) as resolver:
        for (_text, image), rec in zip(pages(out), ok, strict=True):
            found = decode_image(image)
            assert sorted(fmt for fmt, _ in found) == ["Code128", "QRCode"]
            assert {p for _, p in found} == {rec["code"].replace("-", "")}
            answer = resolver.resolve(found[0][1])
            assert (answer["status"], answer["zone"], answer["sort_center"]) == ("ok", rec["zone"], rec["sort_center"])


def test_progress_counts_every_record_and_summary_reads_well(tmp_path):
    seen = []
    recs = [{"code": "K7Q3M9QXV"}, {"status": "rejected", "code": ""}, {"code": "K7Q3M9QXV"}]
    report = L.render_labels(recs, tmp_path / "p.pdf", progress=seen.append)
    assert seen == [1, 2, 3]
    assert report.summary() == (f"wrote 2 labels to {tmp_path / 'p.pdf'} (2 pages; QR version 1); "
                                "1 row without a label (rejected: 1; rows 2)")


def test_routing_can_be_left_off(tmp_path):
    rec = {"status": "ok", "code": "K7Q-3M9QX-V", "sort_center": "SC-NORTH", "route": "R-7"}
    for sheet in (None, "a4"):
        out = tmp_path / f"r-{sheet}.pdf"
        L.render_labels([rec], out, sheet=sheet, routing=False)
        text = page_texts(out)[0]
        assert "K7Q-3M9QX-V" in text and "SC-NORTH" not in text and "R-7" not in text and "SORT" not in text
        L.render_labels([rec], out, sheet=sheet)
        assert "SC-NORTH" in page_texts(out)[0]


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [g.get("aria-label") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("aria-label")]


REC = {"status": "ok", "code": "K7Q-3M9QX-V", "sort_center": "SC-NORTH", "route": "MIDDLEBURY",
       "name": "Johnathan Quincy-Smithers", "phone": "802-555-4567"}


def test_labels_print_sort_center_and_prefix_but_not_the_route_unless_asked(tmp_path):
    texts = _svg_texts(L.render_labels([REC], tmp_path / "a", fmt="svg").outputs[0])
    assert "K7Q" in texts and "K7Q-3M9QX-V" in texts and "SC-NORTH" in texts
    assert not any("MIDDLEBURY" in t or "ROUTE" in t for t in texts)
    texts = _svg_texts(L.render_labels([REC], tmp_path / "b", fmt="svg", show_route=True).outputs[0])
    assert "MIDDLEBURY" in texts and "SC-NORTH" in texts
    texts = _svg_texts(L.render_labels([REC], tmp_path / "c", fmt="svg", show_route=True, routing=False).outputs[0])
    assert not any("MIDDLEBURY" in t or "SC-NORTH" in t for t in texts)  # --no-routing wins
    for sheet in (None, "a4"):
        out = tmp_path / f"s-{sheet}.pdf"
        L.render_labels([REC], out, sheet=sheet)
        text = page_texts(out)[0]
        assert "SC-NORTH" in text and "K7Q" in text and "MIDDLEBURY" not in text and "ROUTE" not in text
        L.render_labels([REC], out, sheet=sheet, show_route=True)
        assert "MIDDLEBURY" in page_texts(out)[0]


def test_label_masks_are_fixed_length_and_phone_digits_configurable(tmp_path):
    def recipient(**kw):
        return [t for t in _svg_texts(L.render_labels([REC], tmp_path / str(len(list(tmp_path.iterdir()))),
                                                      fmt="svg", **kw).outputs[0]) if "*" in t]

    assert recipient(phone_key="phone") == ["***-***-**67"]  # phone alone: 2 digits by default
    assert recipient(name_key="name", phone_key="phone") == ["J*** Q***", "***-***-****"]  # with the name: none
    assert recipient(name_key="name", phone_key="phone", phone_digits=2) == ["J*** Q***", "***-***-**67"]
    assert recipient(phone_key="phone", phone_digits=0) == ["***-***-****"]
    assert recipient(phone_key="phone", phone_digits=4) == ["***-***-4567"]
    with pytest.raises(UsageError, match="--phone-digits"):
        L.render_labels([REC], tmp_path / "x", fmt="svg", phone_digits=5)
    rec = dict(REC, name="J R R Tolkien")
    texts = _svg_texts(L.render_labels([rec], tmp_path / "t", fmt="svg", name_key="name").outputs[0])
    assert "**** T***" in texts and not any("J R R" in t or "R R" in t for t in texts)


def test_label_command_options(tmp_path):
    import csv

    from click.testing import CliRunner

    from addrcode.cli import cli

    src = tmp_path / "coded.csv"
    with open(src, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[f"addrcode_{k}" if k not in ("name", "phone") else k for k in REC])
        w.writeheader()
        w.writerow({(f"addrcode_{k}" if k not in ("name", "phone") else k): v for k, v in REC.items()})
    runner = CliRunner()
    base = ["label", "-i", str(src), "--format", "svg", "--name-column", "name", "--phone-column", "phone"]
    res = runner.invoke(cli, [*base, "-o", str(tmp_path / "d"), "--quiet"])
    assert res.exit_code == 0, res.output
    texts = _svg_texts(tmp_path / "d" / "label-000001.svg")
    assert "J*** Q***" in texts and "***-***-****" in texts and "SC-NORTH" in texts and "MIDDLEBURY" not in texts
    res = runner.invoke(cli, [*base, "-o", str(tmp_path / "e"), "--quiet", "--phone-digits", "2", "--show-route"])
    assert res.exit_code == 0, res.output
    texts = _svg_texts(tmp_path / "e" / "label-000001.svg")
    assert "***-***-**67" in texts and "MIDDLEBURY" in texts
    res = runner.invoke(cli, [*base, "-o", str(tmp_path / "f"), "--phone-digits", "5"])
    assert res.exit_code == 2

"""Scanning: scanner payloads cleaned into codes a station resolves; label images decoded back.

Uses the small real world of `_labelworld` (about 300 embedded Vermont points, encoded, with a
signed station table) so every decoded code is also resolved to its destination.
"""

from __future__ import annotations

import pytest

pytest.importorskip("zxingcpp")
pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")

from _labelworld import shared_world  # noqa: E402

from addrcode.errors import DataError  # noqa: E402
from addrcode.outputs.label import render_labels  # noqa: E402
from addrcode.outputs.scan import ScanJob, clean_payload, decode_image, scan_file  # noqa: E402
from addrcode.stations.resolver import Resolver  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return shared_world(tmp_path_factory)


@pytest.fixture(scope="module")
def resolver(world):
    with Resolver(world.table, world.public_key) as r:
        yield r


@pytest.fixture(scope="module")
def label_pngs(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("png")
    report = render_labels(world.records[:4], out, fmt="png", dpi=200, name_key="name", phone_key="phone")
    return list(zip(report.outputs, world.records[:4]))


# --------------------------------------------------------------------------- payloads


@pytest.mark.parametrize("template", [
    "{c}",  # what our labels hold
    "{c}\r\n", "{c}\n", "\t{c}\t", "{c}\r",  # keyboard-wedge suffixes
    "]C0{c}", "]Q1{c}", "]Q3{c}\r\n", "]d2{c}",  # AIM symbology identifiers (Code 128, QR, Data Matrix)
    "CODE:{c}", "code: {c}", "addrcode:{c}", "ADDRCODE://{c}", "code={c}", "]Q1addrcode:{c}",
    "\x02{c}\x03", "\x1d{c}",  # STX/ETX framing, GS
    "{g}", "{g_lower}", " {g} ",  # typed or printed forms
])
def test_scanner_payloads_resolve(world, resolver, template):
    rec = world.records[3]
    code = rec["code"]
    payload = template.format(c=code.replace("-", ""), g=code, g_lower=code.lower())
    answer = resolver.resolve(clean_payload(payload))
    assert answer["status"] == "ok"
    assert (answer["code"], answer["zone"], answer["route"]) == (code, rec["zone"], rec["route"])


@pytest.mark.parametrize("payload, cleaned", [
    ("]C0K7Q3M9QXV\r\n", "K7Q3M9QXV"),
    ("CODE: K7Q-3M9QX-V", "K7Q-3M9QX-V"),
    ("", ""),
    (None, ""),
    ("\r\n", ""),
    ("]C0", ""),
    ("K7Q3M9QXV", "K7Q3M9QXV"),  # nothing to strip: unchanged
])
def test_clean_payload(payload, cleaned):
    assert clean_payload(payload) == cleaned


def test_cleaning_never_makes_a_wrong_code_pass(world, resolver):
    code = world.records[0]["code"].replace("-", "")
    typo = code[:4] + ("Z" if code[4] != "Z" else "Y") + code[5:]
    assert resolver.resolve(clean_payload(f"]C0{typo}\r\n"))["status"] == "bad-check"
    assert resolver.resolve(clean_payload("]C0" + code[:-1]))["status"] == "malformed"
    assert resolver.resolve(clean_payload("CODE: 151 ALGONQUIN DR"))["status"] == "malformed"


# --------------------------------------------------------------------------- images


def test_scan_pdf_pages(world, resolver, tmp_path):
    recs = world.records[10:13]
    pdf = tmp_path / "three.pdf"
    render_labels(recs, pdf)
    hits = scan_file(pdf, dpi=150)
    assert [(h.page, h.payload, h.symbologies) for h in hits] == [
        (i + 1, r["code"].replace("-", ""), ("Code128", "QRCode")) for i, r in enumerate(recs)]


def test_scan_png_like_a_camera(label_pngs):
    """Rotated, tilted, blurred, shrunk and noisy: the QR code (level H) still reads."""
    from PIL import Image, ImageFilter

    for path, rec in label_pngs:
        compact = rec["code"].replace("-", "")
        with Image.open(path) as img:
            base = img.convert("L")
        views = [
            base.rotate(90, expand=True),
            base.rotate(7, expand=True, fillcolor=255),
            base.filter(ImageFilter.GaussianBlur(1.2)),
            base.resize((base.width * 2 // 5, base.height * 2 // 5), Image.BILINEAR),
            Image.eval(base, lambda v: 90 + v * 140 // 255),  # low contrast, grey paper
        ]
        for i, view in enumerate(views):
            payloads = {p for _, p in decode_image(view)}
            assert payloads == {compact}, (path.name, i)


def test_scan_job_resolves_each_code(world, resolver, label_pngs, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    job = ScanJob(resolver)
    assert job.fields[:4] == ["file", "page", "symbols", "status"]
    paths = [p for p, _ in label_pngs] + [blank]
    records = list(job(paths))
    assert len(records) == len(label_pngs) + 1
    for record, (path, rec) in zip(records, label_pngs):
        assert record["file"] == str(path) and record["page"] == 1
        assert record["symbols"] == "Code128+QRCode"
        assert (record["status"], record["code"], record["sort_center"]) == ("ok", rec["code"], rec["sort_center"])
        assert ScanJob.text(record).split("\t")[1:3] == [rec["code"], rec["zone"]]
    assert records[-1]["status"] == "no-code" and records[-1]["file"] == str(blank)
    assert ScanJob.text(records[-1]).startswith(f"{blank}\tno-code: ")


def test_scan_job_without_a_table_checks_codes(label_pngs):
    path, rec = label_pngs[0]
    (record,) = ScanJob().records(path)
    assert (record["status"], record["code"]) == ("ok", rec["code"])


def test_scan_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        scan_file(tmp_path / "missing.png")
    text = tmp_path / "notes.txt"
    text.write_text("151 ALGONQUIN DR\n")
    with pytest.raises(DataError, match="notes.txt: not an image") as err:
        scan_file(text)
    assert "ALGONQUIN" not in str(err.value)
    bad_pdf = tmp_path / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4\nnot really")
    with pytest.raises(DataError, match="broken.pdf: not a readable PDF"):
        scan_file(bad_pdf)

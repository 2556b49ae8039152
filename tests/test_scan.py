"""Scanning: scanner payloads cleaned into codes a station resolves; label images decoded back.

Uses the small real world of `_labelworld` (about 300 embedded Vermont points, encoded, with a
signed station table) so every decoded code is also resolved to its destination.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import zlib

import pytest

pytest.importorskip("zxingcpp")
pytest.importorskip("pypdfium2")
pytest.importorskip("fpdf")

from _labelworld import shared_world  # noqa: E402

from addrcode.errors import DataError  # noqa: E402
from addrcode.outputs import scan as scan_module  # noqa: E402
from addrcode.outputs.label import render_labels  # noqa: E402
from addrcode.outputs.scan import ScanJob, clean_payload, decode_image, render_scale, scan_file  # noqa: E402
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


# --------------------------------------------------------------------------- too many pixels

CHILD_MEMORY = 1 << 30  # address-space limit of the CLI under test: a regression fails, it cannot swap the machine


def bomb_png(path, width, height):
    """A valid 1-bit greyscale PNG of `width` x `height` black pixels: ~110 kB for 30000 x 30000."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed pixels, all zero
    z, idat = zlib.compressobj(9), bytearray()
    for y in range(0, height, 1000):
        idat += z.compress(row * min(1000, height - y))
    idat += z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b""))
    return path


def huge_page_pdf(path, side, extra=""):
    """A minimal hand-written one-page PDF (a few hundred bytes) whose MediaBox is `side` x `side` points."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {side} {side}]{extra} >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


_PEAK_LAUNCHER = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def peak():
    try:
        with open("/proc/self/status") as status:
            kb = next(line.split()[1] for line in status if line.startswith("VmHWM"))
    except OSError:
        return
    with open(peak_file, "w") as out:
        out.write(kb)
atexit.register(peak)
sys.argv[0] = "addrcode"
runpy.run_module("addrcode", run_name="__main__")
"""


def scan_cli(world, tmp_path, *files):
    """`python -m addrcode scan FILE...` under a 1 GiB address-space (and 120 s CPU) limit.

    Returns (exit code, stdout, stderr, peak RSS in MB of the scan itself). The peak is the child's own
    VmHWM, read as it exits: `wait4`'s maxrss would also count the pytest process the child was forked
    from (its pages are resident in the child until `exec`), which grows over a whole test session.
    """
    import resource

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (120, 120))

    out, err, peak = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "peak_kb"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.run([sys.executable, "-c", _PEAK_LAUNCHER, str(peak), "scan", "--table", str(world.table),
                               "--public-key", str(world.public_key), *map(str, files)],
                              stdin=subprocess.DEVNULL, stdout=o, stderr=e, preexec_fn=limits, timeout=300)
    rss_mb = int(peak.read_text()) / 1024 if sys.platform.startswith("linux") else 0.0  # else: the limit holds
    return proc.returncode, out.read_text(), err.read_text(), rss_mb


@pytest.mark.parametrize("side, extra", [
    (14400, ""),  # the largest page the PDF spec allows: 200 x 200 in, 1.6 G pixels at 200 dpi
    (200000, " /UserUnit 10"),  # bigger still (pdfium ignores /UserUnit; the pixel count is what counts)
])
def test_cli_huge_pdf_page_is_a_clear_error_in_bounded_memory(world, label_pngs, tmp_path, side, extra):
    pdf = huge_page_pdf(tmp_path / "huge.pdf", side, extra)
    assert pdf.stat().st_size < 1000
    good = label_pngs[0][0]
    code, out, err, rss_mb = scan_cli(world, tmp_path, good, pdf, good)
    assert "Traceback" not in err and "MemoryError" not in err
    assert code == 1, err  # finished, one file not ok
    first, bad, last = out.splitlines()
    assert first == last and first.startswith(f"{good}:1\t{label_pngs[0][1]['code']}\t")  # the others scanned
    assert bad.startswith(f"{pdf}\tunreadable: {pdf}: page 1 is too large to scan") and "50 dpi" in bad
    assert rss_mb < 400, rss_mb


@pytest.mark.parametrize("width, height", [
    (30000, 30000),  # 900 M pixels: Pillow raises DecompressionBombError
    (10000, 10000),  # 100 M pixels: Pillow only warns (DecompressionBombWarning) and would decode it
])
def test_cli_decompression_bomb_png_is_a_clear_error(world, tmp_path, width, height):
    bomb = bomb_png(tmp_path / "bomb.png", width, height)
    assert bomb.stat().st_size < 200_000
    code, out, err, rss_mb = scan_cli(world, tmp_path, bomb)
    assert "Traceback" not in err and "Warning" not in err
    assert code == 1, err
    assert out.startswith(f"{bomb}\tunreadable: {bomb}: image has too many pixels to scan")
    assert "decompression bomb" in out and out.count("\n") == 1
    assert rss_mb < 400, rss_mb


def test_cli_damaged_image_is_one_unreadable_record(world, label_pngs, tmp_path):
    """A PNG cut short opens (the header is fine) but cannot be decoded: a record, not a traceback."""
    good = label_pngs[0][0]
    damaged = tmp_path / "cut.png"
    damaged.write_bytes(good.read_bytes()[:2000])
    code, out, err, _ = scan_cli(world, tmp_path, damaged, good)
    assert "Traceback" not in err and code == 1, err
    bad, ok = out.splitlines()
    assert bad.startswith(f"{damaged}\tunreadable: {damaged}: damaged image") and ok.startswith(f"{good}:1\t")


def test_image_over_the_pixel_budget_is_refused_even_without_pillows_limit(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # someone switched Pillow's check off
    monkeypatch.setattr(scan_module, "MAX_PIXELS", 300 * 300 - 1)
    big = tmp_path / "big.png"
    Image.new("L", (300, 300), 255).save(big)
    with pytest.raises(DataError, match="big.png: image has too many pixels"):
        scan_file(big)


def test_render_scale_keeps_pages_within_the_budget():
    assert render_scale((283.5, 425.2), 200) == 200 / 72  # a 100 x 150 mm label: as asked
    for size in [(7200.0, 7200.0), (4320.0, 3000.0), (0.5, 2.0e7), (14400.0, 1200.0)]:
        scale = render_scale(size, 200)
        width, height = (math.ceil(side * scale) for side in size)
        assert 50 <= scale * 72 < 200 and width * height <= scan_module.MAX_PIXELS
        assert (width + 2) * (height + 2) > scan_module.MAX_PIXELS * 0.99  # the highest dpi that fits, near enough
    with pytest.raises(DataError, match="page 3 is too large to scan"):
        render_scale((14400.0, 14400.0), 200, where="x.pdf: page 3")


def test_large_pdf_page_is_read_at_a_lower_dpi(world, tmp_path, monkeypatch):
    """A page over the budget at --dpi is rasterised at the highest dpi that fits, and its labels still read."""
    rec = world.records[5]
    pdf = tmp_path / "one.pdf"
    render_labels([rec], pdf)  # 100 x 150 mm: ~0.93 M pixels at 200 dpi
    monkeypatch.setattr(scan_module, "MAX_PIXELS", 250_000)  # fits at ~103 dpi
    (hit,) = scan_file(pdf, dpi=200)
    assert hit.payload == rec["code"].replace("-", "")
    monkeypatch.setattr(scan_module, "MAX_PIXELS", 50_000)  # would need ~46 dpi: too low to read
    with pytest.raises(DataError, match="one.pdf: page 1 is too large to scan"):
        scan_file(pdf, dpi=200)

"""The HTML run report: valid, self-contained HTML whose figures match the run file, masked addresses,
and a real headless Chromium that renders it (skipped cleanly when /usr/bin/chromium is absent).

Figures are re-counted here with `csv.DictReader`, independently of `addrcode.outputs.report`.
The 100,000-row size/time check is marked `slow` (runs with ADDRCODE_SLOW=1).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest
from conftest import VT_ZONES

from addrcode.errors import DataError
from addrcode.outputs.report import (
    EXAMPLES_PER_REASON,
    MAX_REASONS,
    ReportBuilder,
    iter_run,
    matched_town,
    matched_zip,
    render_report,
)
from addrcode.records import reason_kind
from addrcode.zones import default_zones_path, load_zones

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
CHROMIUM = Path("/usr/bin/chromium")
OUT_COLUMNS = ["addrcode_status", "addrcode_reason", "addrcode_code", "addrcode_zone", "addrcode_sort_center",
               "addrcode_route", "addrcode_precision", "addrcode_score", "addrcode_matched"]


@pytest.fixture(scope="module")
def zones():
    return load_zones(default_zones_path())


# --------------------------------------------------------------------------- helpers


def synthetic_run(path: Path, zones, n: int = 600, seed: int = 7) -> list[dict]:
    """A run file shaped like `addrcode encode -i orders.csv --column address` output, with awkward
    values (commas, quotes, unicode, a neutralised cell) and every status; returns the rows."""
    rng = random.Random(seed)
    zs = list(zones)
    streets = ["Quillfeather Rd", "Zorbin Ln", "O'Brien \"Old\" Way", "Chemin Élan", "Larkspire Hollow Rd"]
    rows = []
    for i in range(n):
        z = rng.choice(zs)
        town = z.route
        addr = f"{rng.randint(1, 9999)} {rng.choice(streets)} {i}, {town.title()}, VT 05{rng.randint(100, 999)}"
        kind = rng.random()
        row = {"order_id": f"=SUM(A{i})" if i == 5 else str(1000 + i), "address": addr}
        if kind < 0.7:
            score = round(rng.uniform(0.5, 1.0), 3)
            out = dict(addrcode_status="ok", addrcode_reason="", addrcode_code="AAQ-0X1ZW-6", addrcode_zone=z.id,
                       addrcode_sort_center=z.sort_center, addrcode_route=z.route,
                       addrcode_precision=rng.choice(["point", "point", "interpolated"]), addrcode_score=score,
                       addrcode_matched=addr.upper())
        elif kind < 0.85:
            score = round(rng.uniform(0, 0.49), 2)
            out = dict(addrcode_status="rejected", addrcode_reason=f"score {score:.2f} below --min-score 0.5",
                       addrcode_code="", addrcode_zone="", addrcode_sort_center="", addrcode_route="",
                       addrcode_precision="point", addrcode_score=score, addrcode_matched=addr.upper())
        elif kind < 0.95:
            out = dict(addrcode_status="rejected",
                       addrcode_reason="precision street is coarser than --min-precision interpolated",
                       addrcode_code="", addrcode_zone="", addrcode_sort_center="", addrcode_route="",
                       addrcode_precision="street", addrcode_score=0.4,
                       addrcode_matched=f"{addr.split(',')[0].split(' ', 1)[1].upper()}, {town}, VT")
        elif kind < 0.98:
            out = dict(addrcode_status="rejected", addrcode_reason="no match", addrcode_code="", addrcode_zone="",
                       addrcode_sort_center="", addrcode_route="", addrcode_precision="none", addrcode_score=0.0,
                       addrcode_matched="")
        else:
            out = dict(addrcode_status="error", addrcode_reason="internal error: ValueError", addrcode_code="",
                       addrcode_zone="", addrcode_sort_center="", addrcode_route="", addrcode_precision="",
                       addrcode_score="", addrcode_matched="")
        row.update(out)
        rows.append(row)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["order_id", "address", *OUT_COLUMNS])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "order_id": ("'" + r["order_id"]) if r["order_id"].startswith("=") else r["order_id"]})
    return rows


def _reason_kind(reason: str) -> str:
    """The run summary's grouping, written out again: no `line N:` prefix, scores together, no details."""
    reason = re.sub(r"^line \d+: ", "", reason)
    return "score below --min-score" if reason.startswith("score ") else reason.split(" (")[0][:80] or "unknown"


def count_run(path: Path) -> dict:
    """Independent count of a run CSV: rows, statuses, (status, reason kind) pairs, precisions."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return {
        "rows": len(rows),
        "status": Counter(r["addrcode_status"] for r in rows),
        "reasons": Counter((r["addrcode_status"], _reason_kind(r["addrcode_reason"]))
                           for r in rows if r["addrcode_status"] != "ok"),
        "precision": Counter(r["addrcode_precision"] or "none" for r in rows),
        "ok_zones": Counter(r["addrcode_zone"] for r in rows if r["addrcode_status"] == "ok"),
        "rows_list": rows,
    }


def parse_html(path: Path):
    """Parse strictly with html5lib (raises on any parse error) and return the element tree."""
    import html5lib

    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    with open(path, "rb") as f:
        return parser.parse(f)


def external_refs(tree) -> list[str]:
    """Every src/href (incl. xlink:href) value that would fetch something from outside the file."""
    bad = []
    for el in tree.iter():
        for name, value in el.attrib.items():
            local = name.split("}")[-1].split(":")[-1] if isinstance(name, str) else str(name)
            remote = re.match(r"\s*(https?:|//|ftp:|file:)", value, re.I)
            if local in ("src", "href", "action", "data", "poster") and remote:
                bad.append(value)
    return bad


def read_png(path: Path) -> tuple[int, int, int, bytes]:
    """(width, height, channels, raw unfiltered pixel bytes) of an 8-bit non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0
            channels = {2: 3, 6: 4, 0: 1, 4: 2}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return width, height, channels, bytes(out)


def chromium(args: list[str], tmp_path: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def screenshot(html: Path, png: Path, tmp_path: Path, size: str = "1200,2200") -> float:
    """Render `html` with headless Chromium into `png`; seconds taken."""
    t0 = time.perf_counter()
    proc = chromium([f"--screenshot={png}", f"--window-size={size}", "--hide-scrollbars", html.as_uri()], tmp_path)
    took = time.perf_counter() - t0
    assert png.is_file(), proc.stderr.decode(errors="replace")[-2000:]
    return took


def assert_not_blank(png: Path) -> None:
    width, height, ch, px = read_png(png)
    step = max(1, (width * height) // 40000)
    colours, non_white, sampled = set(), 0, 0
    for i in range(0, width * height, step):
        p = px[i * ch:i * ch + min(ch, 3)]
        colours.add(p)
        sampled += 1
        if any(v < 235 for v in p):
            non_white += 1
    assert len(colours) > 20, "screenshot has almost a single colour"
    assert non_white / sampled > 0.05, "screenshot is (nearly) blank"


# --------------------------------------------------------------------------- units


def test_reason_kind_and_label_parts():
    # one grouping for the report and the run summary: thresholds and details fold together
    assert reason_kind("score 0.31 below --min-score 0.5") == reason_kind("score 0.2 below --min-score 0.9")
    assert reason_kind("line 7: 2 cells, expected 3") == "2 cells, expected 3"
    assert reason_kind("") == "unknown"
    assert matched_town("12 MAIN ST, SAINT GEORGE, VT 05495") == "SAINT GEORGE"
    assert matched_town("ADAMS LN, PERU, VT") == "PERU"
    assert matched_town("05753") == ""
    assert matched_zip("12 MAIN ST, PERU, VT 05152") == "05152"
    assert matched_zip("05753") == "05753"
    assert matched_zip("ADAMS LN, PERU, VT") == ""


# --------------------------------------------------------------------------- the report of a run file


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, zones):
    d = tmp_path_factory.mktemp("report")
    run = d / "run.csv"
    rows = synthetic_run(run, zones)
    out = d / "report.html"
    summary = render_report(run, zones, out)
    return run, rows, out, summary


def test_report_is_valid_self_contained_html(synthetic):
    _run, _rows, out, summary = synthetic
    tree = parse_html(out)
    assert tree.find(".//title").text == "addrcode run report"
    assert external_refs(tree) == []
    text = out.read_text("utf-8")
    assert "@import" not in text and "url(" not in text
    assert not re.search(r"<(script)(?![^>]*application/json)", text), "no executable script"
    assert not re.search(r"<(img|link|iframe|object|embed)\b", text)
    assert summary.bytes == len(out.read_bytes())
    # the two maps (plus the shared path defs) and the histogram
    assert sum(1 for el in tree.iter() if str(el.tag).endswith("svg")) >= 3


def test_report_numbers_match_the_file(synthetic):
    run, _rows, out, summary = synthetic
    truth = count_run(run)
    tree = parse_html(out)
    cards = {el.get("id"): int(el.text.replace(",", "")) for el in tree.iter("b") if el.get("id", "").startswith("n-")}
    assert cards["n-rows"] == truth["rows"] == summary.rows
    for st in ("ok", "rejected", "error"):
        assert cards[f"n-{st}"] == truth["status"][st] == summary.status[st]
    # the reason table, row by row
    shown = {}
    for table in tree.iter("table"):
        if table.get("class") == "reasons":  # the top reasons, then the folded long tail
            for tr in table.find("tbody"):
                cells = ["".join(td.itertext()) for td in tr]
                assert (cells[0], cells[1]) not in shown
                shown[(cells[0], cells[1])] = int(cells[2].replace(",", ""))
    assert shown == dict(truth["reasons"])
    figures = json.loads(tree.find(".//script[@id='addrcode-figures']").text)
    assert figures["rows"] == truth["rows"]
    prec = {p: sum(v.values()) for p, v in figures["precision"].items()}
    assert prec == dict(truth["precision"])
    hist = figures["score_histogram"]
    scored = [r for r in truth["rows_list"] if r["addrcode_score"] != ""]
    assert sum(a + b for a, b in hist) == len(scored)
    assert sum(a for a, _ in hist) == sum(1 for r in scored if r["addrcode_status"] == "ok")
    # every ok row is in its zone; every refused row is placed or counted as not placed
    zone_rows = figures["zone_rows"]
    for zid, n in truth["ok_zones"].items():
        assert zone_rows[zid][0] - zone_rows[zid][1] == n
    refused = truth["rows"] - truth["status"]["ok"]
    assert sum(v[1] for v in zone_rows.values()) + figures["not_placed"] == refused
    # refused rows with no match at all (empty label) cannot be placed
    assert figures["not_placed"] >= sum(1 for r in truth["rows_list"]
                                        if r["addrcode_status"] != "ok" and not r["addrcode_matched"])


def _example_cells(path: Path) -> list[str]:
    """The text of every example line of a report page."""
    tree = parse_html(path)
    return ["".join(div.itertext()) for td in tree.iter() if str(td.tag).endswith("td") and td.get("class") == "ex"
            for div in td if str(div.tag).endswith("div")]


def test_no_address_text_by_default_and_addresses_on_request(synthetic, zones, tmp_path):
    run, rows, out, _ = synthetic
    text = out.read_text("utf-8")
    import html as html_mod

    words = set()
    for r in rows:
        for value in (r["address"], r["addrcode_matched"]):
            if value:
                assert value not in text and html_mod.escape(value) not in text
                words.update(w for w in re.findall(r"[A-Za-zÉé']{4,}", value))
    page_words = set(re.findall(r"[A-Za-zÉé']{4,}", " ".join(_example_cells(out))))
    assert not page_words & {w for w in words if w.lower() not in {"score", "below", "point", "street", "match"}}
    assert not re.search(r"\b[0-9]\*+|\b[A-Z]\*{2,}", text)  # no masked address either (the old 6** C******)
    refused = [i for i, r in enumerate(rows, 1) if r["addrcode_status"] != "ok"]
    examples = _example_cells(out)
    assert examples and all(re.match(r"row [\d,]+ · ", x) for x in examples)  # row number first, then the reason
    rows_shown = {int(re.match(r"row ([\d,]+)", x).group(1).replace(",", "")) for x in examples}
    assert rows_shown <= set(refused)
    by_row = {i: r for i, r in enumerate(rows, 1)}
    for x in examples:
        n = int(re.match(r"row ([\d,]+)", x).group(1).replace(",", ""))
        assert by_row[n]["addrcode_reason"][:30] in x  # the reason of that very row
    assert "no address text" in text
    shown = render_report(run, zones, tmp_path / "open.html", show_addresses=True)
    opened = (tmp_path / "open.html").read_text("utf-8")
    assert shown.rows == len(rows)
    refused_addresses = [r["address"] for r in rows if r["addrcode_status"] != "ok"]
    assert sum(html_mod.escape(a) in opened for a in refused_addresses) >= 3
    assert all(re.match(r"row [\d,]+ · ", x) for x in _example_cells(tmp_path / "open.html"))


def test_postcode_of_an_outside_reason_is_left_out(zones):
    b = ReportBuilder(zones)
    b.add({"status": "rejected", "reason": "outside the reference: postcode 90210", "address": "1 Rodeo Dr 90210"})
    b.add({"status": "rejected", "reason": "outside the reference: postcode 90210", "address": "1 Rodeo Dr 90210"})
    (ex, _), = [(v[0], k) for k, v in b.examples.items()]
    assert "90210" not in str(b.examples) and ex["reason"] == "outside the reference: postcode"
    assert ex["row"] == 1 and b.examples[next(iter(b.examples))][1]["row"] == 2


def test_keyed_row_hash_is_stable_within_a_run_and_not_a_plain_hash(zones, tmp_path):
    import hashlib
    import hmac

    from addrcode.outputs.report import row_hash

    rec = {"status": "rejected", "reason": "no match", "address": "12 Quillfeather Rd, Peru, VT 05152"}
    b = ReportBuilder(zones, row_hash=True)
    b.add(rec)
    b.add({**rec, "address": "12  QUILLFEATHER RD, Peru, VT 05152"})  # same address, other spacing and case
    b.add({**rec, "address": "14 Quillfeather Rd, Peru, VT 05152"})
    h1, h2, h3 = (x["hash"] for x in b.examples[("rejected", "no match")])
    assert h1 == h2 != h3 and re.fullmatch(r"[0-9a-f]{16}", h1)
    for plain in (hashlib.sha256, hashlib.md5, hashlib.sha1, hashlib.blake2b):
        for text in (rec["address"], rec["address"].casefold(), " ".join(rec["address"].split()).casefold()):
            assert h1 not in plain(text.encode()).hexdigest()  # never a dictionary look-up
    other = ReportBuilder(zones, row_hash=True)  # a random key per report: not linkable across reports
    other.add(rec)
    assert other.examples[("rejected", "no match")][0]["hash"] != h1
    key = b"k" * 32  # a key of the user's: reproducible, and what `row_hash` computes
    keyed = [ReportBuilder(zones, row_hash_key=key) for _ in range(2)]
    for kb in keyed:
        kb.add(rec)
    hashes = {kb.examples[("rejected", "no match")][0]["hash"] for kb in keyed}
    canonical = " ".join(rec["address"].split()).casefold().encode()
    assert hashes == {row_hash(key, rec["address"])} == {hmac.new(key, canonical, hashlib.sha256).hexdigest()[:16]}
    assert ReportBuilder(zones).examples == {} and "hash" not in str(_example_text(zones, rec))


def _example_text(zones, rec) -> str:
    b = ReportBuilder(zones)
    b.add(rec)
    return b.examples[("rejected", "no match")][0]["hash"] or ""


def test_report_command_row_hash_options(synthetic, tmp_path):
    from click.testing import CliRunner

    from addrcode.cli import cli

    run, rows, _, _ = synthetic
    key = tmp_path / "key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    runner = CliRunner()
    for extra in ([], ["--row-hash"], ["--row-hash-key", str(key)]):
        out = tmp_path / f"r{len(extra)}.html"
        res = runner.invoke(cli, ["report", str(run), "-o", str(out), "--zones", VT_ZONES, *extra])
        assert res.exit_code == 0, res.output
        hashes = re.findall(r"#([0-9a-f]{16})", " ".join(_example_cells(out)))
        assert bool(hashes) == bool(extra)
        assert not any(r["address"] in out.read_text("utf-8") for r in rows)
    short = tmp_path / "short"
    short.write_bytes(b"tiny")
    res = runner.invoke(cli, ["report", str(run), "-o", str(tmp_path / "x.html"), "--zones", VT_ZONES,
                              "--row-hash-key", str(short)])
    assert res.exit_code == 2 and "16 bytes" in res.output
    assert not (tmp_path / "x.html").exists()


def test_examples_are_bounded_per_reason(synthetic, zones):
    run, _, _, _ = synthetic
    b = ReportBuilder(zones)
    for rec in iter_run(run):
        b.add(rec)
    assert all(len(v) <= EXAMPLES_PER_REASON for v in b.examples.values())


def test_constant_memory_for_endless_distinct_reasons(zones):
    b = ReportBuilder(zones)
    for i in range(MAX_REASONS + 3000):
        b.add({"status": "rejected", "reason": f"reason-{chr(65 + i % 26)}{'x' * (i // 26)}", "score": "0.2",
               "precision": "none", "matched": f"{i} A ST, TOWN{i}, VT", "address": "x"})
    s = b.summary()
    assert len(b.reasons) <= MAX_REASONS + 3  # plus one "(other reasons)" per status
    assert sum(n for _, _, n in s.reasons) == MAX_REASONS + 3000
    assert any(g == "(other reasons)" for _, g, _ in s.reasons)


def test_jsonl_run_and_coordinates(zones, tmp_path):
    z = zones.get("VT-MIDDLEBURY")
    pt = z.geometry.representative_point()
    lines = [
        {"input": "637 College St, Middlebury VT", "status": "ok", "reason": "", "zone": z.id, "precision": "point",
         "score": 1.0, "matched": "637 COLLEGE ST, MIDDLEBURY, VT 05753"},
        {"input": "9 Nowhere Rd", "status": "rejected", "reason": "score 0.20 below --min-score 0.5", "zone": "",
         "precision": "point", "score": 0.2, "matched": "9 NOWHERE RD, ELSEWHERE, VT", "lon": pt.x, "lat": pt.y},
        {"input": "", "status": "rejected", "reason": "empty address", "zone": "", "precision": "none", "score": 0.0,
         "matched": ""},
    ]
    run = tmp_path / "run.jsonl"
    run.write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    s = render_report(run, zones, tmp_path / "r.html")
    assert s.rows == 3 and s.status == {"ok": 1, "rejected": 2, "error": 0}
    assert s.zone_rows["VT-MIDDLEBURY"] == (2, 1)  # the refused row placed by its coordinates
    assert s.not_placed == 1
    assert "College" not in (tmp_path / "r.html").read_text("utf-8")


def test_bad_inputs_are_data_errors_and_leave_no_output(zones, tmp_path):
    out = tmp_path / "r.html"
    with pytest.raises(DataError, match="cannot read"):
        render_report(tmp_path / "missing.csv", zones, out)
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b\n1,2\n", "utf-8")
    with pytest.raises(DataError, match="addrcode_status"):
        render_report(plain, zones, out)
    empty = tmp_path / "empty.csv"
    empty.write_text("", "utf-8")
    with pytest.raises(DataError, match="empty"):
        render_report(empty, zones, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_empty_run_still_renders(zones, tmp_path):
    run = tmp_path / "run.csv"
    run.write_text(",".join(["address", *OUT_COLUMNS]) + "\n", "utf-8")
    s = render_report(run, zones, tmp_path / "r.html")
    assert s.rows == 0
    parse_html(tmp_path / "r.html")


# --------------------------------------------------------------------------- a real encode run


def make_queries(n: int, seed: int = 11) -> list[str]:
    """Seeded one-line queries from real Vermont points: mostly clean, some without house number, some with a
    made-up street, a wrong town, a typo, or empty."""
    rng = random.Random(seed)
    with gzip.open(SOURCE, "rt", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["NUMBER"] and r["STREET"]]
    picked = rng.sample(rows, min(n, len(rows)))
    out = []
    for r in picked:
        kind = rng.random()
        street, city, zipcode = r["STREET"].title(), r["CITY"].title(), r["POSTCODE"]
        if kind < 0.70:
            q = f"{r['NUMBER']} {street}, {city}, VT {zipcode}"
        elif kind < 0.80:
            q = f"{street}, {city}, VT {zipcode}"
        elif kind < 0.87:
            q = f"{r['NUMBER']} {rng.choice(['Quillfeather', 'Zorbin', 'Brinkleby'])} Rd, {city}, VT {zipcode}"
        elif kind < 0.94:
            w = list(street)
            i = rng.randrange(len(w))
            w[i] = rng.choice("aeiourst")
            q = f"{r['NUMBER']} {''.join(w)}, {city} VT"
        elif kind < 0.98:
            q = f"{r['NUMBER']} {street}, VT"
        else:
            q = ""
        out.append(q)
    return out


def encode_run(queries: list[str], workdir: Path, reference: Path, jobs: int = 1) -> Path:
    """Run the real `addrcode encode` CLI over `queries` and return the output CSV."""
    src = workdir / "orders.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "address"])
        for i, q in enumerate(queries):
            w.writerow([i, q])
    out = workdir / "coded.csv"
    proc = subprocess.run([sys.executable, "-m", "addrcode", "encode", "-i", str(src), "--column", "address",
                           "-o", str(out), "--reference", str(reference), "--zones", VT_ZONES, "--quiet",
                           "--jobs", str(jobs)],
                          capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "ADDRCODE_CACHE_DIR": str(workdir / "cache")})
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, vt_reference):
    d = tmp_path_factory.mktemp("realrun")
    queries = make_queries(500)
    return encode_run(queries, d, vt_reference), queries, d


def test_report_of_a_real_encode_run(real_run, zones):
    run, queries, d = real_run
    out = d / "report.html"
    s = render_report(run, zones, out)
    truth = count_run(run)
    assert s.rows == truth["rows"] == len(queries)
    assert s.status == {st: truth["status"][st] for st in ("ok", "rejected", "error")}
    assert {(st, g): n for st, g, n in s.reasons} == dict(truth["reasons"])
    assert truth["status"]["rejected"] > 0 and truth["status"]["ok"] > 0
    refused = s.rows - s.status["ok"]
    placed = sum(v[1] for v in s.zone_rows.values())
    assert placed + s.not_placed == refused
    assert placed > refused / 2  # most refused rows have a town the report can place
    text = out.read_text("utf-8")
    for q in queries:
        if len(q) > 12:
            assert q not in text and q.split(",")[0] not in text
    tree = parse_html(out)
    assert external_refs(tree) == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (apt-get install chromium)")
def test_headless_chromium_renders_the_report(real_run, zones, tmp_path):
    run, _, d = real_run
    out = d / "report-browser.html"
    render_report(run, zones, out)
    png = tmp_path / "report.png"
    screenshot(out, png, tmp_path)
    assert_not_blank(png)


# --------------------------------------------------------------------------- 100,000 rows (ADDRCODE_SLOW=1)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium absent (apt-get install chromium)")
def test_report_of_100k_rows_is_small_and_opens_fast(vt_reference, zones, tmp_path):
    run = encode_run(make_queries(100_000, seed=3), tmp_path, vt_reference, jobs=2)
    out = tmp_path / "report.html"
    s = render_report(run, zones, out)
    assert s.rows == 100_000
    size = out.stat().st_size
    assert size < 2_000_000, size
    chromium(["--dump-dom", "about:blank"], tmp_path)  # warm the browser's files into the page cache
    t0 = time.perf_counter()
    dom = chromium(["--dump-dom", out.as_uri()], tmp_path)
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    blank = chromium(["--dump-dom", "about:blank"], tmp_path)
    blank_s = time.perf_counter() - t0
    assert b"n-rows" in dom.stdout and blank.returncode == 0
    print(f"\n100k report: {size:,} bytes, built in {s.seconds:.2f} s, chromium --dump-dom {open_s:.2f} s "
          f"(about:blank {blank_s:.2f} s)")
    assert open_s - blank_s < 2.0
    assert open_s < 5.0


def test_encode_report_row_hash_option(tmp_path, vt_reference):
    """`encode --report --row-hash`: the run's own report carries keyed hashes of its examples, never the text."""
    addresses = ["12 Nowhere Lane, Xyzzy VT 05999", "1 Imaginary Rd, Fakeville VT 05998"]
    src = tmp_path / "in.csv"
    src.write_text("address\n" + "\n".join(f'"{a}"' for a in addresses) + "\n")
    for extra in ([], ["--row-hash"]):
        out = tmp_path / f"r{len(extra)}.html"
        got = subprocess.run([sys.executable, "-m", "addrcode", "encode", "-i", str(src), "-o", str(tmp_path / "o.csv"),
                              "--reference", str(vt_reference), "--zones", VT_ZONES, "-q", "--report", str(out),
                              *extra], capture_output=True, text=True, timeout=300)
        assert got.returncode == 1, got.stderr  # both rows refused: they are the examples
        cells = " ".join(_example_cells(out))
        assert bool(re.findall(r"#([0-9a-f]{16})", cells)) == bool(extra)
        assert not any(a.split(",")[0] in out.read_text("utf-8") for a in addresses)

"""Hostile text through normalize, geocode and encode: never an exception, always one output record,
time bounded and linear in length.

Two layers:
- hypothesis properties (derandomized: the same examples on every run, so CI is reproducible);
- a seeded fuzz run over hand-made hostile families (controls, bidi overrides, confusables,
  invisible characters, lone surrogates, punctuation only, 100 kB lines ...), also used by
  `scripts/robustness_report.py` for the figures in SECURITY.md.

`ADDRCODE_FUZZ_LONG=1` makes both much longer (and hypothesis random instead of derandomized).
Everything runs on `tests/data/oa_small.csv` (two Vermont towns): nothing outside the project.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import random
import string
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import VT_ZONES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addrcode.batch.io import RecordWriter

TESTS = Path(__file__).resolve().parent
LONG = bool(os.environ.get("ADDRCODE_FUZZ_LONG"))
FUZZ_PER_FAMILY = 2000 if LONG else 40
HYPOTHESIS = settings(max_examples=3000 if LONG else 150, deadline=None, derandomize=not LONG,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --------------------------------------------------------------------------- hostile material

# Real rows of tests/data/oa_small.csv, so that hostile variants start from text that would match.
GOOD = ["2610 Boudle Rd, Bloomfield VT 05905", "133 Wilderness Dr, Guildhall VT 05905",
        "1377 BOUDLE RD BLOOMFIELD VT 05905", "221 Brown Road, Bloomfield, Vermont 05905"]
CONTROL = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)])
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u180e\u3164"
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SPACES = "\u00a0\u1680\u2000\u2003\u2007\u2009\u200a\u202f\u205f\u3000\t"
# Letters that look like Latin ones (Cyrillic, Greek, full-width, mathematical, small capitals).
CONFUSABLE = {"A": "АΑＡ𝐀ᴀ", "B": "ВΒＢ𝐁ʙ", "C": "СϹＣ𝐂ᴄ", "D": "ＤᎠ𝐃ᴅ", "E": "ЕΕＥ𝐄ᴇ", "H": "НΗＨ𝐇ʜ",
              "I": "ІΙＩ𝐈ɪӀ", "K": "КΚＫ𝐊ᴋ", "L": "ＬᏞ𝐋ʟ", "M": "МΜＭ𝐌ᴍ", "N": "ΝＮ𝐍ɴ", "O": "ОΟＯ𝐎ᴏ0",
              "P": "РΡＰ𝐏ᴘ", "R": "ＲᏒ𝐑ʀ", "S": "ЅＳ𝐒ꜱ", "T": "ТΤＴ𝐓ᴛ", "U": "ＵՍ𝐔ᴜ", "V": "ＶѴ𝐕ᴠ",
              "W": "ＷԜ𝐖ᴡ", "0": "０𝟎O", "1": "１𝟏lI", "2": "２𝟐", "3": "３𝟑", "5": "５𝟓", "9": "９𝟗"}
PUNCT = string.punctuation + "…–—‘’“”«»¿¡·•§¶†‡‰′″‹›⁄"
INJECTION = ["'; DROP TABLE points; --", "\" OR 1=1 --", "%s%s%n%x", "{0}{1}{__class__}", "${jndi:ldap://x}",
             "=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "<script>alert(1)</script>",
             "../../../../etc/passwd", "\\\\server\\share", "*", "%", "_", "ROWID", "NULL", "\\x00"]


def _sprinkle(rng: random.Random, text: str, chars: str, rate: float = 0.2) -> str:
    out = []
    for ch in text:
        out.append(ch)
        if rng.random() < rate:
            out.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 3))))
    return "".join(out)


def _random_code_point(rng: random.Random) -> str:
    """Any code point, surrogates and non-characters included, weighted towards the BMP."""
    top = rng.choice([0x80, 0x800, 0x10000, 0x110000])
    return chr(rng.randrange(top))


def _long(rng: random.Random, size: int = 100_000) -> str:
    unit = rng.choice([lambda: rng.choice(GOOD) + " ", lambda: "MAIN ST ", lambda: rng.choice(PUNCT),
                       lambda: str(rng.randrange(10**6)) + " ", lambda: _random_code_point(rng),
                       lambda: "APT ", lambda: "N ", lambda: ", ", lambda: "1/2 ", lambda: "#"])
    parts, n = [], 0
    while n < size:
        piece = unit()
        parts.append(piece)
        n += len(piece)
    return "".join(parts)[:size]


# Decorations of a real address that a person would still read as that address.
DECORATIONS = {
    "control characters": lambda r, b: _sprinkle(r, b, CONTROL, 0.3),
    "bidi overrides": lambda r, b: r.choice(["\u202e", "\u2067", ""]) + _sprinkle(r, b, BIDI, 0.25),
    "invisible characters": lambda r, b: _sprinkle(r, b, INVISIBLE, 0.3),
    "line and page breaks": lambda r, b: _sprinkle(r, b, LINE_BREAKS, 0.1),
    "odd spaces": lambda r, b: "".join(r.choice(SPACES) if c == " " else c for c in b),
    "confusable letters": lambda r, b: "".join(r.choice(CONFUSABLE[c.upper()]) if c.upper() in CONFUSABLE
                                               and r.random() < 0.5 else c for c in b),
    "combining marks": lambda r, b: _sprinkle(r, b, "".join(map(chr, range(0x300, 0x370))), 0.8),
}

def _decorated(deco, r):
    return deco(r, r.choice(GOOD))


FAMILIES = {
    "random code points": lambda r: "".join(_random_code_point(r) for _ in range(r.randint(0, 120))),
    **{name: functools.partial(_decorated, deco) for name, deco in DECORATIONS.items()},
    "lone surrogates": lambda r: _sprinkle(r, r.choice(GOOD), "".join(map(chr, range(0xD800, 0xD810))) + "\udcff"),
    "punctuation only": lambda r: "".join(r.choice(PUNCT + " ") for _ in range(r.randint(1, 200))),
    "digits and fractions": lambda r: " ".join(
        r.choice(["1/2", "0", "9" * r.randint(1, 400), "-5", "12-A", "½", "¾", "٣", "Ⅻ", "1e309"])
        for _ in range(r.randint(1, 30))),
    "keyword storms": lambda r: " ".join(
        r.choice(["APT", "UNIT", "#", "PO", "BOX", "RR", "ROUTE", "VT", "N", "ST", "RD", ",", "05905", "HWY", "1ST"])
        for _ in range(r.randint(1, 400))),
    "injection strings": lambda r: r.choice(INJECTION) + r.choice(["", " " + r.choice(GOOD)]),
    "emoji and other scripts": lambda r: r.choice(GOOD) + " " + "".join(
        r.choice("🏠📦🇺🇸👨‍👩‍👧東京都港区ул.Ленина١٢٣עבריתतमिल") for _ in range(r.randint(1, 40))),
    "100 kB lines": lambda r: _long(r),
}
# 100 kB lines are slow-ish to push through geocode many times: a few of them suffice.
FAMILY_SHARE = {"100 kB lines": 0.1}


def hostile_inputs(seed: int = 8, per_family: int = FUZZ_PER_FAMILY):
    """(family, text) pairs, deterministic for a seed."""
    rng = random.Random(seed)
    for family, make in FAMILIES.items():
        for _ in range(max(2, int(per_family * FAMILY_SHARE.get(family, 1)))):
            yield family, make(rng)


# --------------------------------------------------------------------------- the jobs


def make_jobs(reference: Path) -> dict:
    """normalize, geocode and encode jobs over `reference` (embedded zones, demo keyring)."""
    from addrcode.batch.jobs import make_job
    from addrcode.config import Config

    config = Config(reference=Path(reference), zones=Path(VT_ZONES))
    return {stage: make_job(stage, config) for stage in ("normalize", "geocode", "encode")}


def make_code_jobs(root: Path, reference: Path) -> dict:
    """decode (a fresh keyring) and resolve (a station table signed with it) jobs."""
    from addrcode.batch.jobs import DecodeJob, open_zones
    from addrcode.codes.keyring import load_keyring, new_keyring, pub_path
    from addrcode.config import Config
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.stations.resolver import ResolveJob

    root.mkdir(parents=True, exist_ok=True)
    ring = root / "ring.json"
    new_keyring(ring)
    zones = open_zones(Config())
    build_table(reference, zones, load_keyring(ring), Grid(), root / "table.sqlite", serial=1)
    return {"decode": DecodeJob(load_keyring(ring), Grid(), zones),
            "resolve": ResolveJob(root / "table.sqlite", pub_path(ring))}


# Statuses each stage may answer (resolve has its own: a code that is not one is an answer too).
STATUSES = {"resolve": ("ok", "bad-check", "malformed", "unknown", "expired", "revoked", "foreign")}


def one_record(job, text, stage: str = "") -> tuple[dict, list[str]]:
    """Run the job on `text` exactly as the batch does; render the result in every output format.

    Returns the result and a list of problems (empty when the record is well-formed): the job must
    not raise, status must be ok/rejected, and each format must hold exactly one record.
    """
    problems = []
    try:
        result = job(text)
    except Exception as exc:  # noqa: BLE001 - this is what we are looking for
        return {"status": "error", "reason": type(exc).__name__}, [f"raised {type(exc).__name__}"]
    if result.get("status") not in STATUSES.get(stage, ("ok", "rejected")):
        problems.append(f"status {result.get('status')!r}")
    record = {"input": text if isinstance(text, str) else " | ".join(text.values()), **result}
    columns = ["input", *job.fields]
    for fmt in ("text", "jsonl", "csv"):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")  # strict, like an output file
        writer = RecordWriter(stream, fmt, columns, job.text)
        try:
            writer.write(record)
            writer.close()
        except UnicodeEncodeError:
            problems.append(f"{fmt}: not encodable as UTF-8")
            continue
        out = raw.getvalue().decode("utf-8")
        if fmt == "text" and out.count("\n") != 1:
            problems.append("text: not exactly one line")
        if fmt == "jsonl":
            lines = out.split("\n")
            if len(lines) != 2 or lines[1] or json.loads(lines[0])["status"] != result["status"]:
                problems.append("jsonl: not exactly one line")
        if fmt == "csv":
            rows = list(csv.reader(io.StringIO(out, newline="")))
            if len(rows) != 2 or len(rows[1]) != len(columns):
                problems.append("csv: not exactly one record")
    return result, problems


def fuzz(reference: Path, seed: int = 8, per_family: int = FUZZ_PER_FAMILY, extra_jobs: dict | None = None) -> dict:
    """The seeded fuzz run: counts per stage and family, the slowest record, and every problem."""
    jobs = {**make_jobs(reference), **(extra_jobs or {})}
    for job in jobs.values():  # warm-up (pyproj, zone tree) is start-up, not per-record time
        job(GOOD[0])
    stats = {"inputs": 0, "by_family": Counter(), "status": {s: Counter() for s in jobs}, "problems": [],
             "slowest": {s: (0.0, "") for s in jobs}, "max_chars": 0}
    for family, text in hostile_inputs(seed, per_family):
        stats["inputs"] += 1
        stats["by_family"][family] += 1
        stats["max_chars"] = max(stats["max_chars"], len(text))
        for stage, job in jobs.items():
            t0 = time.perf_counter()
            result, problems = one_record(job, text, stage)
            dt = time.perf_counter() - t0
            stats["status"][stage][result["status"]] += 1
            if dt > stats["slowest"][stage][0]:
                stats["slowest"][stage] = (dt, family)
            stats["problems"] += [(stage, family, p) for p in problems]
    return stats


# Worst-case shapes for timing: long lines built from one repeated pattern.
SHAPES = {
    "address repeated": lambda n: (GOOD[1] + " ") * (n // (len(GOOD[1]) + 1) + 1),
    "one word": lambda n: "BOUDLE" * (n // 6 + 1),
    "numbers": lambda n: " ".join(str(i) for i in range(n)),
    "punctuation": lambda n: (PUNCT * (n // len(PUNCT) + 1)),
    "keywords": lambda n: "APT # N ST RD VT, " * (n // 17 + 1),
    "bidi + controls": lambda n: ("\u202e1\x00 2\u2066 ST\x1b," * (n // 11 + 1)),
    "random code points": lambda n: "".join(_random_code_point(rng) for rng in [random.Random(n)] for _ in range(n)),
}


def timing(reference: Path, size: int = 100_000, repeat: int = 2) -> dict:
    """Seconds per record (best of `repeat`) for worst-case-shaped lines of 10 kB and `size` chars."""
    jobs = make_jobs(reference)
    for job in jobs.values():
        job(GOOD[0])
    out = {}
    for shape, make in SHAPES.items():
        for stage, job in jobs.items():
            for n in (size // 10, size):
                text = make(n)[:n]
                best = min(_timed(job, text) for _ in range(repeat))
                out[(shape, stage, n)] = best
    return out


def _timed(job, text) -> float:
    t0 = time.perf_counter()
    job(text)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from addrcode.geocoding.build import build_reference

    out = tmp_path_factory.mktemp("hostile_text") / "small.sqlite"
    build_reference([TESTS / "data" / "oa_small.csv"], out)
    return out


@pytest.fixture(scope="module")
def jobs(reference):
    made = make_jobs(reference)
    for job in made.values():
        job(GOOD[0])
    return made


# --------------------------------------------------------------------------- tests


def test_good_addresses_still_encode(jobs):
    """The hostile runs below mean something only if the same jobs do encode clean input."""
    for text in GOOD:
        assert jobs["encode"](text)["status"] == "ok", text


def test_seeded_fuzz_never_raises_and_gives_one_record_each(reference, tmp_path):
    stats = fuzz(reference, extra_jobs=make_code_jobs(tmp_path, reference))
    assert stats["problems"] == []
    for stage, counts in stats["status"].items():
        assert sum(counts.values()) == stats["inputs"]
        assert counts["error"] == 0, stage
    assert set(stats["by_family"]) == set(FAMILIES)
    assert stats["max_chars"] == 100_000
    # Hostile decoration of a real address does not always defeat the geocoder: some still match.
    assert stats["status"]["encode"]["ok"] > 0
    assert stats["status"]["resolve"]["ok"] == 0  # hostile text never resolves to a destination


def test_confusables_and_invisibles_do_not_produce_a_wrong_code(jobs):
    """A look-alike of a real address gives that address's code or is refused: never another cell's
    code at point precision (what a decorated label could otherwise steer a parcel to)."""
    rng = random.Random(5)
    outcomes = Counter()
    for family, decorate in DECORATIONS.items():
        for _ in range(30):
            base = rng.choice(GOOD)
            truth = jobs["encode"](base)["code"]
            got = jobs["encode"](decorate(rng, base))
            outcomes["same code" if got["code"] == truth else got["status"]] += 1
            assert got["status"] == "rejected" or got["code"] == truth or got["precision"] != "point", family
    assert outcomes["same code"] > 0


hostile_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=400) | st.builds(
    lambda base, junk, at: base[:at] + junk + base[at:], st.sampled_from(GOOD),
    st.text(alphabet=st.sampled_from(CONTROL + BIDI + INVISIBLE + LINE_BREAKS + SPACES + PUNCT), max_size=20),
    st.integers(0, 40))


@HYPOTHESIS
@given(text=hostile_text)
def test_normalize_never_raises(text):
    from addrcode.normalize import normalize

    address = normalize(text)
    assert isinstance(address.line(), str)
    for warning in address.warnings:  # warnings are fixed phrases: safe to log, never the input
        assert len(text) < 4 or text not in warning


@HYPOTHESIS
@given(text=hostile_text)
def test_geocode_and_encode_give_one_well_formed_record(jobs, text):
    for stage in ("geocode", "encode"):
        result, problems = one_record(jobs[stage], text)
        assert problems == [], (stage, problems)
        if result["status"] == "ok" and stage == "encode":
            from addrcode.codes.scheme import parse_code

            parse_code(result["code"])  # a valid code, check character included


@HYPOTHESIS
@given(fields=st.dictionaries(st.sampled_from(["street", "city", "state", "postcode", "number"]), hostile_text,
                              min_size=1))
def test_component_queries_never_raise(jobs, fields):
    """CSV input with --street/--city/... columns reaches the jobs as a dict of components."""
    for stage in ("normalize", "geocode", "encode"):
        result, problems = one_record(jobs[stage], fields)
        assert problems == [], (stage, problems)


def test_100kB_lines_take_under_a_second_and_grow_linearly(reference):
    times = timing(reference)
    for (shape, stage, n), seconds in times.items():
        if n == 100_000:
            assert seconds < 1.0, (shape, stage, seconds)
            small = times[(shape, stage, 10_000)]
            # 10x the length costs ~10x (30x allowed: caches and a busy machine make small runs noisy);
            # quadratic would be 100x. Below 0.25 s the ratio is noise, and the 1 s bound holds anyway.
            assert seconds < max(30 * small, 0.25), (shape, stage, small, seconds)


def cli_timing(reference: Path, cache: Path) -> dict:
    """Wall time of `addrcode encode` (a real process) on one short line and on one 100 kB line."""
    env = dict(os.environ, ADDRCODE_CACHE_DIR=str(cache))
    base = [sys.executable, "-m", "addrcode", "encode", "--reference", str(reference), "--zones", VT_ZONES,
            "-q", "--format", "jsonl"]

    def run(text):
        t0 = time.perf_counter()
        p = subprocess.run(base, input=text.encode("utf-8", "surrogatepass") + b"\n", capture_output=True,
                           env=env, timeout=120)
        return time.perf_counter() - t0, p

    short_t, short = run(GOOD[0])
    long_t, long_p = run(_long(random.Random(1)))
    return {"short_s": short_t, "long_s": long_t, "short_exit": short.returncode, "long_exit": long_p.returncode,
            "long_lines": len(long_p.stdout.splitlines()), "traceback": b"Traceback" in long_p.stderr,
            "stderr": long_p.stderr.decode("utf-8", "replace")}


def test_100kB_line_through_the_cli(reference, tmp_path):
    """Once through a real process: the 100 kB line costs < 1 s more than a one-line address."""
    got = cli_timing(reference, tmp_path / "cache")
    assert got["short_exit"] == 0 and got["long_exit"] == 1, got["stderr"][-300:]
    assert got["long_lines"] == 1 and not got["traceback"]
    assert got["long_s"] - got["short_s"] < 1.0, got


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl", "json"])
def test_argument_that_is_not_utf8_gives_one_record(tmp_path, fmt):
    """Bytes that are not UTF-8 in argv reach Python as lone surrogates: written as U+FFFD, no crash."""
    out = tmp_path / f"out.{fmt}"
    p = subprocess.run([sys.executable, "-m", "addrcode", "normalize", "-q", "--format", fmt, "-o", str(out),
                        os.fsdecode(b"12 Main\xff St")], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    text = out.read_text("utf-8")
    assert "Traceback" not in p.stderr.decode()
    if fmt != "text":
        assert "12 Main\ufffd St" in text
    assert "12 MAIN ST" in text

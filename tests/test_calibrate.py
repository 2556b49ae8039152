"""`addrcode calibrate`: what the scores mean on a reference of one's own (addrcode/geocoding/calibrate.py).

Real references (tests/data/oa_small.csv, and the same points copied as a second state), real
geocoding, one real `python -m addrcode calibrate` run per output format; small samples (a few
seconds in all).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import re
import sqlite3
import subprocess
import sys

import pytest
from conftest import DATA, ROOT

from addrcode.errors import UsageError
from addrcode.geocoding import variants
from addrcode.geocoding.calibrate import (
    BAND_LABELS,
    BANDS,
    KINDS,
    NO_MATCH,
    BandStats,
    calibrate,
    suggest_min_score,
)

SCRIPT = ROOT / "scripts" / "make_geocode_queries.py"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "addrcode", "calibrate", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def _reference_words(ref) -> set[str]:
    """The distinctive words of the reference's street and town names (6+ letters), upper case."""
    db = sqlite3.connect(ref)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM streets UNION SELECT name FROM cities")]
    finally:
        db.close()
    words = {w for n in names for w in n.split() if len(w) >= 6 and w.isalpha()}
    assert len(words) > 20  # the check below means something
    return words | set(names)


def _assert_no_address_text(ref, text: str):
    upper = text.upper()
    leaked = sorted(w for w in _reference_words(ref) if re.search(rf"\b{re.escape(w)}\b", upper))
    assert leaked == []
    # nor a coordinate of the points (all near -71.6, 44.x; the NH copy near -69.6)
    assert not re.search(r"-?(71|69)\.\d{3}|44\.\d{3}", text)


@pytest.mark.parametrize("fixture", ["small_reference", "two_state_reference"])
def test_clean_queries_score_top_band_and_land_on_the_point(fixture, request):
    ref = request.getfixturevalue(fixture)
    report = calibrate(ref, sample=60, seed=1)
    assert report.points_sampled == 60 and report.sample_requested == 60
    clean = report.by_kind["clean"]
    assert report.kinds["clean"] == 60
    top = clean[0]
    assert top.band == "[0.97, 1]"
    assert top.count == 60, [b.to_dict() for b in clean]  # every clean query scores >= 0.97
    assert top.within_50m >= 0.99
    assert top.median_m is not None and top.median_m < 5
    # the noisy kinds were made and measured too
    assert {"typo", "missing_zip", "missing_city", "unit", "title"} <= set(report.by_kind)
    assert report.queries == sum(report.kinds.values()) == sum(b.count for b in report.overall)
    assert report.queries > 5 * 60


def test_two_states_sample_both(two_state_reference):
    """The NH copy's points are sampled too, and their queries name NH: they land in NH, not on the VT twin."""
    report = calibrate(two_state_reference, sample=300, seed=2, kinds=["clean", "missing_zip"])
    assert report.points_in_reference == 954
    assert report.by_kind["clean"][0].count == report.kinds["clean"] == 300
    assert report.by_kind["clean"][0].within_50m == 1.0
    assert report.by_kind["missing_zip"][0].within_50m >= 0.99


def test_json_report_from_the_command(small_reference):
    done = _run(small_reference, "--sample", 40, "--seed", 5, "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["bands"] == list(BAND_LABELS)
    assert data["bands"][-1] == NO_MATCH and len(data["overall"]) == len(BANDS) + 1
    assert [b["band"] for b in data["overall"]] == data["bands"]
    assert set(data["by_kind"]) <= set(KINDS) and "clean" in data["by_kind"]
    assert "suggested_min_score" in data and "rule" in data
    assert data["suggested_min_score"] in [low for low, _ in BANDS]
    assert data["points_sampled"] == 40 and data["seed"] == 5
    assert sum(b["count"] for b in data["overall"]) == data["queries"] == sum(data["kinds"].values())
    at = {t["min_score"]: t for t in data["at_or_above"]}
    assert at[0.0]["answers"] == data["queries"] - data["overall"][-1]["count"]
    assert "suggested --min-score" in done.stderr  # the summary on stderr, the report alone on stdout
    _assert_no_address_text(small_reference, done.stdout + done.stderr)


def test_text_report_from_the_command_holds_no_address(two_state_reference):
    done = _run(two_state_reference, "--sample", 50)
    assert done.returncode == 0, done.stderr
    for label in BAND_LABELS:
        assert label in done.stdout
    assert "suggested --min-score:" in done.stdout
    assert "clean" in done.stdout and "typo" in done.stdout
    _assert_no_address_text(two_state_reference, done.stdout + done.stderr)


def test_library_report_holds_no_address(small_reference):
    report = calibrate(small_reference, sample=120, seed=9)
    _assert_no_address_text(small_reference, json.dumps(report.to_dict()) + report.to_text())


@pytest.mark.parametrize("sample", [40, 200])  # random draws over the ids; all ids shuffled
def test_same_seed_same_report_other_seed_other_sample(small_reference, sample):
    a = calibrate(small_reference, sample=sample, seed=3)
    b = calibrate(small_reference, sample=sample, seed=3)
    c = calibrate(small_reference, sample=sample, seed=4)
    assert a.to_dict() == b.to_dict() and a.to_text() == b.to_text()
    assert a.sample_fingerprint == b.sample_fingerprint
    assert c.sample_fingerprint != a.sample_fingerprint
    assert c.points_sampled == a.points_sampled == sample


def test_sample_larger_than_the_reference_takes_every_usable_point(small_reference):
    report = calibrate(small_reference, sample=5000, seed=1, kinds=["clean"])
    assert report.points_in_reference == 477
    assert 400 < report.points_sampled <= 477
    assert report.by_kind["clean"][0].count == report.points_sampled


def test_suggestion_rule():
    def bands(*shares):
        return [BandStats(band_label, 0 if s is None else 100, s) for band_label, s in zip(BAND_LABELS, shares)]

    assert suggest_min_score(bands(1.0, 1.0, 0.995, 1.0, 0.842, 0.11)) == 0.7
    assert suggest_min_score(bands(1.0, 0.98, 1.0, 1.0, 1.0, 1.0)) == 0.97  # a poor band stops the descent
    assert suggest_min_score(bands(None, 1.0, None, 1.0, 0.5, None)) == 0.7  # empty bands passed over
    assert suggest_min_score(bands(1.0, 1.0, 1.0, 1.0, 1.0, 1.0)) == 0.0
    assert suggest_min_score(bands(0.9, 1.0, 1.0, 1.0, 1.0, 1.0)) is None
    assert suggest_min_score(bands(None, None, None, None, None, None)) is None


def test_bad_arguments(small_reference, tmp_path):
    with pytest.raises(UsageError):
        calibrate(small_reference, sample=0)
    with pytest.raises(UsageError):
        calibrate(small_reference, kinds=["clean", "nonexistent"])
    with pytest.raises(UsageError):
        calibrate(small_reference, locale="fr")
    done = _run(tmp_path / "missing.sqlite", "--sample", 5)
    assert done.returncode == 3 and "reference not found" in done.stderr
    not_ref = tmp_path / "not.sqlite"
    not_ref.write_text("hello")
    assert _run(not_ref).returncode == 3


# --------------------------------------------------------------------------------------------
# scripts/make_geocode_queries.py: its variant functions moved into addrcode/geocoding/variants.py,
# its query sets unchanged
# --------------------------------------------------------------------------------------------

# sha256 of `make_geocode_queries.py queries --per-kind 20 --seed 1` over `_script_source`, made by the
# script before its variant functions moved into the library.
SCRIPT_OUTPUT_SHA256 = "e684855ed2e9a556013f227adaee143df03569f26145c4a78495b9ef44e60b34"


def _script_source(path):
    """tests/data/oa_small.csv without the rows the builder rejects (the script assumes clean rows), and
    GUILDHALL given ZIP 05906 so that the wrong-ZIP kind has another ZIP to take."""
    with open(DATA / "oa_small.csv", newline="", encoding="utf-8") as f, \
            open(path, "w", newline="", encoding="utf-8") as out:
        reader = csv.DictReader(f)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            try:
                float(row["LON"])
                float(row["lat"])
            except ValueError:
                continue
            if not row["street"].strip() or not row["NUMBER"].strip():
                continue
            if row["city"] == "GUILDHALL":
                row["POSTCODE"] = "05906"
            writer.writerow(row)
    return path


def test_script_query_set_is_unchanged(tmp_path):
    out = tmp_path / "queries.csv"
    done = subprocess.run([sys.executable, str(SCRIPT), "queries", "-o", str(out), "--source",
                           str(_script_source(tmp_path / "src.csv")), "--per-kind", "20", "--seed", "1"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "260 queries" in done.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SCRIPT_OUTPUT_SHA256


def test_script_uses_the_library_variants():
    spec = importlib.util.spec_from_file_location("make_geocode_queries_under_test", SCRIPT)
    mq = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mq)
    assert mq._typo is variants.typo and mq._expand is variants.expand and mq._alias is variants.alias
    assert mq._split_street is variants.split_street and mq._dir_ordinal is variants.dir_ordinal
    assert mq._UNITS is variants.UNITS and mq._NAMES is variants.NAMES
    assert variants.expand("E BRANCH RD") == "East Branch Road"
    assert variants.dir_ordinal("N LAMOTTE RD") == "North LAMOTTE RD"

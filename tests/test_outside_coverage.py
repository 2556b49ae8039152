"""Real addresses from states the default (Vermont) reference does not cover get no code (issue 17).

`tests/data/other_states.csv` (see other_states.SOURCE.md): ~340 public places in the 49 other states, DC
and Puerto Rico, in the forms shippers' data takes (`kind`), many in towns whose names are also Vermont
towns. Every row names a state or a ZIP: the reference can tell that it does not hold them.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from addrcode.geocoding.geocoder import Geocoder

CSV = Path(__file__).resolve().parent / "data" / "other_states.csv"
OUTSIDE = "outside the reference:"


def _rows() -> list[dict]:
    with open(CSV, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


ROWS = _rows()


def _listing(lines) -> str:
    return "\n".join(f"  {line}" for line in lines)


@pytest.fixture(scope="module")
def encoded(vt_reference, tmp_path_factory) -> list[dict]:
    """The real CLI on the file, default reference (built once by `vt_reference`), zones and keyring."""
    out = tmp_path_factory.mktemp("outside") / "coded.jsonl"
    proc = subprocess.run([sys.executable, "-m", "addrcode", "encode", "-i", str(CSV), "--column", "address",
                           "--format", "jsonl", "-o", str(out), "--jobs", "1"],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode == 1, (proc.returncode, proc.stderr)  # finished, some records rejected
    with open(out, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_the_data_is_what_it_says():
    kinds = Counter(r["kind"] for r in ROWS)
    assert len(ROWS) >= 300 and set(kinds) == {"one-line", "state-name", "no-zip", "zip-only", "lowercase",
                                               "no-commas", "abbrev-spelled", "unit", "po-box"}, kinds
    assert len({r["address"] for r in ROWS}) == len(ROWS)
    for r in ROWS:
        words = r["address"].replace(",", " ").split()
        assert not any(w.startswith("05") and len(w) >= 5 and w[:5].isdigit() for w in words), r  # no VT ZIP
        assert "VT" not in (w.upper() for w in words), r


def test_no_code_is_issued_outside_the_reference(encoded):
    assert len(encoded) == len(ROWS)  # exactly one output record per row, in input order
    assert [r["address"] for r in encoded] == [r["address"] for r in ROWS]
    coded = [f"{r['kind']:<15} {r['address']!r}: status={r['addrcode_status']} code={r['addrcode_code']!r} "
             f"precision={r['addrcode_precision']} score={r['addrcode_score']} matched={r['addrcode_matched']!r}"
             for r in encoded if r["addrcode_status"] == "ok" or r["addrcode_code"]]
    assert not coded, f"{len(coded)} of {len(encoded)} codes issued outside Vermont:\n{_listing(coded)}"
    assert {r["addrcode_status"] for r in encoded} == {"rejected"}


def test_every_row_is_judged_outside_the_reference(encoded):
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for r in encoded:
        reason = r["addrcode_reason"]
        by_kind[r["kind"]][OUTSIDE + " state" if reason.startswith(OUTSIDE + " state") else
                           OUTSIDE + " postcode" if reason.startswith(OUTSIDE + " postcode") else reason] += 1
    summary = "\n".join(f"  {kind}: {dict(counts)}" for kind, counts in sorted(by_kind.items()))
    print("reasons per kind:\n" + summary)
    others = [f"{r['kind']:<15} {r['address']!r}: status={r['addrcode_status']} precision={r['addrcode_precision']} "
              f"score={r['addrcode_score']} matched={r['addrcode_matched']!r} reason={r['addrcode_reason']!r}"
              for r in encoded if not r["addrcode_reason"].startswith(OUTSIDE)]
    assert not others, (f"{len(others)} of {len(encoded)} rows rejected for another reason than '{OUTSIDE} ...' "
                        f"(no code, but not known to be outside):\n{_listing(others)}\nreasons per kind:\n{summary}")


def test_the_geocoder_never_matches_them_confidently_in_vermont(vt_reference):
    failures = []
    with Geocoder(vt_reference) as geocoder:
        for row in ROWS:
            m = geocoder.geocode(row["address"])
            if m.precision != "none" and m.score >= 0.5:
                a = m.address
                failures.append(f"{row['kind']:<15} {row['address']!r}: precision={m.precision} score={m.score} "
                                f"matched={m.matched!r} reason={m.reason!r} "
                                f"state={a.state if a else ''!r} postcode={a.postcode if a else ''!r}")
    assert not failures, f"{len(failures)} of {len(ROWS)} confident matches in Vermont:\n{_listing(failures)}"

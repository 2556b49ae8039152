"""`addrcode encode` and `decode` end to end on the embedded default data."""

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from addrcode.cli import cli

ROOT = Path(__file__).resolve().parents[1]
COLLEGE = "637 College St, Middlebury VT 05753"


def addrcode(*args, input=None):
    return subprocess.run([sys.executable, "-m", "addrcode", *args], input=input, capture_output=True, text=True,
                          timeout=300)


def jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


def test_issue_example_encodes_and_decodes_to_the_right_cell(vt_reference):
    proc = addrcode("encode", "--format", "jsonl", COLLEGE)
    assert proc.returncode == 0, proc.stderr
    rec = jsonl(proc.stdout)[0]
    assert rec["status"] == "ok" and rec["zone"] == "VT-MIDDLEBURY" and rec["sort_center"] == "SC-ADDISON"
    assert rec["precision"] == "point" and rec["score"] >= 0.9
    assert "lon" not in rec and "lat" not in rec  # privacy by default
    assert "DEMO keyring" in proc.stderr  # the demo keyring's codes are not private, and we say so

    decoded = jsonl(addrcode("decode", "--format", "jsonl", rec["code"]).stdout)[0]
    from addrcode.grid import Grid

    cell = Grid().cell(-73.1818920, 44.0096677)  # the E911 point of 637 College St
    assert (decoded["cell_ix"], decoded["cell_iy"]) == (cell.ix, cell.iy)
    assert decoded["district"] == rec["code"][:3] and decoded["zone"] == "VT-MIDDLEBURY"


def test_with_coords_adds_the_point_only_when_asked(vt_reference):
    rec = jsonl(addrcode("encode", "--format", "jsonl", "--with-coords", COLLEGE).stdout)[0]
    assert abs(rec["lon"] + 73.18189) < 1e-4 and abs(rec["lat"] - 44.00967) < 1e-4


def test_refusals_follow_the_thresholds_and_go_to_the_rejects_file(tmp_path, vt_reference):
    src = tmp_path / "orders.csv"
    src.write_text('id,address\n1,"637 College St, Middlebury VT 05753"\n2,"99999 Nowhere Lane, Middlebury VT"\n'
                   '3,\n4,Middlebury VT 05753\n')
    out, rej = tmp_path / "coded.csv", tmp_path / "rejects.csv"
    proc = addrcode("encode", "-i", str(src), "--column", "address", "-o", str(out), "--rejects", str(rej))
    assert proc.returncode == 1
    import csv

    ok = list(csv.DictReader(out.open()))
    bad = list(csv.DictReader(rej.open()))
    assert [r["id"] for r in ok] == ["1"] and sorted(r["id"] for r in bad) == ["2", "3", "4"]
    assert all(r["addrcode_code"] == "" and r["addrcode_reason"] for r in bad)
    # a town alone is not precise enough for a code unless the user lowers the bar explicitly
    loose = jsonl(addrcode("encode", "--format", "jsonl", "--min-precision", "locality", "--min-score", "0",
                           "Middlebury VT 05753").stdout)[0]
    assert loose["status"] == "ok" and loose["precision"] in ("postcode", "locality")


def test_changing_the_zones_changes_no_code(tmp_path, vt_reference):
    zones = json.loads((ROOT / "data" / "vt-zones.geojson").read_text())
    for feature in zones["features"]:  # re-zone: merge every town into one zone per county
        p = feature["properties"]
        p["zone"] = "Z-" + p["county"].replace(" ", "-") + "-" + p["zone"]
        p["route"] = "R-" + p["county"]
    rezoned = tmp_path / "rezoned.geojson"
    rezoned.write_text(json.dumps(zones))
    texts = [COLLEGE, "151 Algonquin Dr, Addison VT 05491", "101 Main St, Hardwick VT 05836"]
    before = jsonl(addrcode("encode", "--format", "jsonl", *texts).stdout)
    after = jsonl(addrcode("encode", "--format", "jsonl", "--zones", str(rezoned), *texts).stdout)
    assert [r["code"] for r in before] == [r["code"] for r in after]
    assert all(r["code"] for r in before)
    assert [r["zone"] for r in before] != [r["zone"] for r in after]


def test_own_keyring_gives_other_codes_and_no_warning(tmp_path, vt_reference):
    keyring = tmp_path / "k.json"
    assert CliRunner().invoke(cli, ["key", "new", str(keyring)]).exit_code == 0
    assert (keyring.stat().st_mode & 0o777) == 0o600
    mine = addrcode("encode", "--keyring", str(keyring), COLLEGE)
    demo = addrcode("encode", COLLEGE)
    assert mine.returncode == 0 and "DEMO" not in mine.stderr
    assert mine.stdout != demo.stdout
    os.chmod(keyring, 0o644)
    refused = addrcode("encode", "--keyring", str(keyring), COLLEGE)
    assert refused.returncode == 3 and "chmod 600" in refused.stderr and refused.stdout == ""


def test_rotation_changes_codes_and_old_codes_still_decode(tmp_path, vt_reference):
    keyring = tmp_path / "k.json"
    CliRunner().invoke(cli, ["key", "new", str(keyring)])
    old = addrcode("encode", "-q", "--keyring", str(keyring), COLLEGE).stdout.strip()
    assert CliRunner().invoke(cli, ["key", "rotate", "--keyring", str(keyring)]).exit_code == 0
    new = addrcode("encode", "-q", "--keyring", str(keyring), COLLEGE).stdout.strip()
    assert old != new and old[:3] == new[:3] and old[4] != new[4]  # a new key, a new epoch character
    both = jsonl(addrcode("decode", "--format", "jsonl", "--keyring", str(keyring), old, new).stdout)
    assert both[0]["cell_ix"] == both[1]["cell_ix"] and both[0]["zone"] == both[1]["zone"] == "VT-MIDDLEBURY"


def test_decode_of_a_typo_is_rejected_with_its_kind(vt_reference):
    code = addrcode("encode", "-q", COLLEGE).stdout.strip()
    typo = code[:-1] + ("0" if code[-1] != "0" else "1")
    rec = jsonl(addrcode("decode", "--format", "jsonl", typo).stdout)[0]
    assert rec["status"] == "rejected" and rec["reason"].startswith("bad-check")


def test_default_thresholds_name_the_right_zone(vt_reference):
    """The documented defaults: >= 99.5 % of issued codes name the right zone (docs/ZONE_ACCURACY.md)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import encode_accuracy
    finally:
        sys.path.pop(0)
    from addrcode.config import Config

    measured = encode_accuracy.measure(per_kind=60, seed=17)
    defaults = (Config().min_precision, Config().min_score)
    per_kind = encode_accuracy.tally(measured["facts"], *defaults)
    real = [k for k in per_kind if k != "nonexistent"]
    t = encode_accuracy.totals(per_kind, real)
    assert t["right_cell"] / t["issued"] >= 0.995
    assert t["issued"] / t["n"] >= 0.95
    assert per_kind["nonexistent"]["issued"] / per_kind["nonexistent"]["n"] <= 0.02


def test_a_full_cell_memo_starts_over_without_losing_a_row(vt_reference):
    """The per-job cell memo is bounded; when a chunk overflows it, the chunk's cells already in the
    memo must still be coded (a KeyError here once sent every overflowing chunk down the slow row-by-row path)."""
    import csv
    import gzip

    from addrcode.batch.jobs import make_job, prepare_config
    from addrcode.config import load_config
    from addrcode.packaged import VT_SOURCE, data_path

    with gzip.open(data_path(VT_SOURCE), "rt", newline="") as f:
        rows = [r for _, r in zip(range(400), csv.DictReader(f))]
    texts = [f"{r['NUMBER']} {r['STREET']}, {r['CITY']} VT {r['POSTCODE']}" for r in rows[::4]]
    config = prepare_config("encode", load_config())
    roomy, tight = make_job("encode", config), make_job("encode", config)
    tight.MEMO_CELLS = 12
    want = roomy.many(texts[:30]) + roomy.many(texts[20:70]) + roomy.many(texts[60:])
    got = tight.many(texts[:30]) + tight.many(texts[20:70]) + tight.many(texts[60:])
    assert got == want
    assert sum(r["status"] == "ok" for r in got) >= 0.9 * len(got)
    assert len(tight._cells) <= len(texts[60:])  # started over: only the last chunk's cells are held

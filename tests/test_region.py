"""A region of one's own (addrcode/batch/region.py, `addrcode init`, `addrcode config`) and the rule that a
configured region never falls back to the embedded Vermont demo data."""

import json
import os
import stat
import subprocess
import sys

import pytest
from conftest import VT_ZONES


def addrcode(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "addrcode", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, **(env or {})})


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_writes_a_private_region_folder(tmp_path, small_reference):
    folder = tmp_path / "regions" / "fl"
    proc = addrcode("init", folder, "--reference", small_reference)
    assert proc.returncode == 0, proc.stderr
    assert mode(folder) == 0o700 and mode(folder / "addrcode.toml") == 0o600 and mode(folder / "keyring.json") == 0o600
    assert (folder / "keyring.json.pub").is_file()
    assert f"cd {folder}" in proc.stderr and "addrcode zones build --by postcode -o zones.geojson" in proc.stderr
    from addrcode.config import load_config

    config = load_config(folder / "addrcode.toml", env={})
    assert config.reference == small_reference  # absolute: the reference usually lives elsewhere
    assert (config.zones, config.keyring, config.table, config.public_key) == (
        folder / "zones.geojson", folder / "keyring.json", folder / "station.sqlite", folder / "keyring.json.pub")


def test_init_refuses_to_replace_a_config_and_never_replaces_a_keyring(tmp_path, small_reference):
    folder = tmp_path / "region"
    assert addrcode("init", folder, "--reference", small_reference).returncode == 0
    ring = (folder / "keyring.json").read_bytes()
    again = addrcode("init", folder, "--reference", small_reference)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = addrcode("init", folder, "--reference", small_reference, "--force")
    assert forced.returncode == 0 and "kept the existing keyring" in forced.stderr
    assert (folder / "keyring.json").read_bytes() == ring  # codes issued with it stay resolvable


def test_init_checks_the_reference_first(tmp_path):
    not_a_reference = tmp_path / "ref.sqlite"
    not_a_reference.write_text("id,address\n")
    proc = addrcode("init", tmp_path / "region", "--reference", not_a_reference)
    assert proc.returncode == 3 and "ref.sqlite" in proc.stderr
    assert not (tmp_path / "region").exists()


def test_config_shows_the_file_in_force_and_where_each_value_came_from(tmp_path, small_reference):
    folder = tmp_path / "region"
    addrcode("init", folder, "--reference", small_reference)
    proc = addrcode("config", "--format", "json", cwd=folder, env={"ADDRCODE_MIN_SCORE": "0.8"})
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["file"].endswith("addrcode.toml")
    settings = shown["settings"]
    assert settings["reference"] == {"value": str(small_reference), "origin": "file"}
    assert settings["min_score"] == {"value": 0.8, "origin": "environment ($ADDRCODE_MIN_SCORE)"}
    assert settings["crs"]["origin"] == "default" and settings["file_mode"]["value"] == "0600"
    flagged = json.loads(addrcode("config", "--format", "json", "--locale", "au", cwd=tmp_path).stdout)
    assert flagged["file"] is None  # nothing in tmp_path, nothing in the (empty) user config folder
    assert flagged["settings"]["locale"]["origin"] == "flag"
    assert flagged["settings"]["crs"] == {"value": "EPSG:3577", "origin": "locale preset (au)"}
    text = addrcode("config", cwd=folder, env={"ADDRCODE_CACHE_DIR": ""}).stdout.splitlines()
    assert any(line.startswith("zones ") and line.endswith("[file]") for line in text)
    assert any(line.startswith("cache_dir ") and "(not set)  [default]" in line for line in text)


def test_a_configured_reference_without_zones_is_an_error_not_vermont(tmp_path, small_reference):
    proc = addrcode("encode", "--reference", small_reference, "2610 Boudle Rd, Bloomfield VT 05905")
    assert proc.returncode == 3
    assert "no delivery zones configured" in proc.stderr and "addrcode zones build" in proc.stderr
    missing = addrcode("encode", "--reference", small_reference, "--zones", tmp_path / "z.geojson", "1 Main St")
    assert missing.returncode == 3 and "zones build" in missing.stderr
    given = addrcode("encode", "--reference", small_reference, "--zones", VT_ZONES, "--format", "jsonl",
                     "2610 Boudle Rd, Bloomfield VT 05905")
    assert given.returncode == 0 and json.loads(given.stdout)["status"] == "ok"
    assert "demo" not in given.stderr  # the user's own reference and zones: no demo note


@pytest.mark.parametrize("flags", [["--public-key", "k.pub"], ["--config", "region.toml"]])
def test_resolve_with_a_station_configured_but_no_table_fails_closed(tmp_path, flags):
    (tmp_path / "region.toml").write_text('reference = "ref.sqlite"\n')
    (tmp_path / "region.toml").chmod(0o600)
    proc = addrcode("resolve", *flags, "AAT-0EM53-7", cwd=tmp_path)
    assert proc.returncode == 2 and "no station table configured" in proc.stderr and proc.stdout == ""


def test_the_demo_data_says_so(tmp_path):
    proc = addrcode("decode", "--format", "jsonl", "AAT-0EM53-7", cwd=tmp_path)
    assert "note: no zones configured: using the embedded demo zones (Vermont)" in proc.stderr
    table = addrcode("resolve", "--demo", "AAT-0EM53-7", cwd=tmp_path)
    assert "DEMO: using the packaged demo station table and demo key: both are public" in table.stderr


def _county(src_gz, dst, district: str) -> int:
    """The rows of one county (DISTRICT) of an OpenAddresses file, as a plain CSV; returns the row count."""
    import csv
    import gzip

    with gzip.open(src_gz, "rt", newline="", encoding="utf-8") as fh, open(dst, "w", newline="") as out:
        reader = csv.DictReader(fh)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        rows = [row for row in reader if row["DISTRICT"].upper() == district]
        writer.writerows(rows)
    return len(rows)


def test_your_own_region_in_six_commands(tmp_path):
    """The README's path for a new region, run as a user would, on a county that is not Vermont: the
    Addison County points moved one degree west and relabelled NY, ZIPs 057xx -> 128xx (same town names).
    Reference, init, zones build + check, encode, table build, resolve: >= 98 % of clean addresses coded,
    every code resolved ok to the zone it was coded to, and no command touching the Vermont demo data."""
    import csv
    import random

    from conftest import relabelled_state

    from addrcode.packaged import VT_SOURCE, data_path

    if not data_path(VT_SOURCE).is_file():
        pytest.skip("embedded Vermont data (data/vt-e911) absent")
    county = tmp_path / "addison.csv"
    assert _county(data_path(VT_SOURCE), county, "ADDISON") > 10_000
    source = relabelled_state(county, tmp_path / "ny-county.csv", state="NY", zip_prefix="128", dlon=-1.0)
    region = tmp_path / "ny"
    steps = [("reference", "build", source, "-o", tmp_path / "ny.sqlite", "-q"),
             ("init", region, "--reference", tmp_path / "ny.sqlite"),
             ("zones", "build", "--by", "postcode", "-o", "zones.geojson"),
             ("zones", "check")]
    for step in steps:
        proc = addrcode(*step, cwd=region if region.exists() else tmp_path)
        assert proc.returncode == 0, (step, proc.stderr)
    with open(source, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["NUMBER"] and r["STREET"]]
    picked = random.Random(18).sample(rows, 400)
    with open(region / "orders.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "address"])
        writer.writerows([i, f"{r['NUMBER']} {r['STREET']}, {r['CITY'].title()}, NY {r['POSTCODE']}"]
                         for i, r in enumerate(picked))
    enc = addrcode("encode", "-i", "orders.csv", "--column", "address", "-o", "coded.csv", "--jobs", "1",
                   cwd=region)
    assert enc.returncode in (0, 1), enc.stderr
    assert "demo data" not in enc.stderr and "demo zones" not in enc.stderr and "DEMO keyring" not in enc.stderr
    with open(region / "coded.csv", newline="") as fh:
        coded = list(csv.DictReader(fh))
    ok = [r for r in coded if r["addrcode_status"] == "ok"]
    assert len(coded) == 400 and len(ok) >= 0.98 * 400
    assert all(r["addrcode_zone"].startswith("128") for r in ok)  # the region's own ZIP zones
    for step in (("table", "build", "-o", "station.sqlite", "-q"),
                 ("resolve", "-i", "coded.csv", "--column", "addrcode_code", "-o", "resolved.csv", "--format",
                  "jsonl")):
        proc = addrcode(*step, cwd=region)
        assert proc.returncode in (0, 1), (step, proc.stderr)
        assert "demo" not in proc.stderr.lower(), step
    resolved = [json.loads(line) for line in (region / "resolved.csv").read_text().splitlines()]
    # resolve replaces the coded file's addrcode_* columns with its own answers, row for row
    coded_zone = {r["id"]: (r["addrcode_code"], r["addrcode_zone"]) for r in ok}
    answers = [r for r in resolved if r["id"] in coded_zone]
    assert len(resolved) == len(coded) and len(answers) == len(ok)
    assert all(r["addrcode_status"] == "ok" and (r["addrcode_code"], r["addrcode_zone"]) == coded_zone[r["id"]]
               for r in answers)

"""Resolving codes at a station: every status, input normalization, the job, a light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import keyring_with_history

from addrcode.codes.keyring import new_keyring, pub_path
from addrcode.codes.scheme import ALPHABET, encode_cell
from addrcode.errors import IntegrityError
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations import build as table_build
from addrcode.stations import cells as table_cells
from addrcode.stations import table as T
from addrcode.stations.resolver import STATUSES, ResolveJob, Resolver, resolve_codes
from addrcode.zones import default_zones_path, load_zones

HERE = Path(__file__).parent
ROOT = HERE.parent
POINTS_CSV = HERE / "data" / "table_points.csv"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A keyring with a revoked, a retired and an active generation; a full table and a SC-ADDISON extract."""
    work = tmp_path_factory.mktemp("resolve")
    ref = work / "ref.sqlite"
    build_reference([POINTS_CSV], ref)
    ring_path = work / "ring.json"
    ring, epochs = keyring_with_history(ring_path)
    grid = Grid()
    zones = load_zones(default_zones_path())
    cells = table_cells.issuable_cells(ref, grid)
    full = work / "full.sqlite"
    table_build.build_table(ref, zones, ring, grid, full, cells=cells, serial=1)
    ext = work / "addison.sqlite"
    table_build.build_table(ref, zones, ring, grid, ext, cells=cells, station="SC-ADDISON", serial=1)
    d, i = cells
    zs = zones.zone_of_cells(grid, d, i)
    cell_zone = [(int(a), int(b), z) for a, b, z in zip(d, i, zs) if z is not None]
    return {"ring": ring, "epochs": epochs, "pub": pub_path(ring_path), "full": full, "ext": ext,
            "cells": cell_zone, "work": work}


def _code(setup, sort_center=None, epoch="active"):
    for d, i, z in setup["cells"]:
        if sort_center is None or z.sort_center == sort_center:
            return encode_cell(d, i, setup["epochs"][epoch]), z
    raise AssertionError("no such cell in the fixture")


def test_ok_gives_the_destination_fields(setup):
    code, zone = _code(setup)
    with Resolver(setup["full"], setup["pub"]) as r:
        got = r.resolve(code.text())
        assert r.fields[:6] == ["status", "reason", "code", "zone", "sort_center", "route"]
        assert r.fields[-1] == "next_hop" and {"town", "county"} <= set(r.fields)
    assert got == {"status": "ok", "reason": "", "code": code.text(), **zone.to_dict()}


def test_retired_epoch_still_resolves(setup):
    code, zone = _code(setup, epoch="retired")
    got = resolve_codes(setup["full"], setup["pub"], [code.text()])[0]
    assert got["status"] == "ok" and got["zone"] == zone.id


def test_input_normalization_case_separators_lookalikes_whitespace(setup):
    code, zone = _code(setup)
    compact = code.compact()
    variants = [
        compact, compact.lower(), f"  {code.text()}\n", " ".join(compact), f"{compact[:3]}.{compact[3:]}",
        compact.replace("1", "I").replace("0", "O"), compact.replace("1", "l").replace("0", "o"),
        f"\t{code.text().lower()}\r",
    ]
    with Resolver(setup["full"], setup["pub"]) as r:
        for v in variants:
            got = r.resolve(v)
            assert got["status"] == "ok" and got["zone"] == zone.id and got["code"] == code.text(), v


def test_bad_check_for_every_single_substitution_and_adjacent_transposition(setup):
    """Every one-character typo of a real code is bad-check, never another destination (checked before lookup)."""
    with Resolver(setup["full"], setup["pub"]) as r:
        for d, i, _ in setup["cells"][:20]:
            compact = encode_cell(d, i, setup["ring"].active).compact()
            for pos in range(len(compact)):
                for ch in ALPHABET:
                    if ch == compact[pos]:
                        continue
                    typo = compact[:pos] + ch + compact[pos + 1:]
                    assert r.resolve(typo)["status"] == "bad-check"
            for pos in range(len(compact) - 1):
                if compact[pos] != compact[pos + 1]:
                    swapped = compact[:pos] + compact[pos + 1] + compact[pos] + compact[pos + 2:]
                    assert r.resolve(swapped)["status"] == "bad-check"


def test_bad_check_is_decided_before_the_lookup(setup, monkeypatch):
    code, _ = _code(setup)
    r = Resolver(setup["full"], setup["pub"])
    typo = code.compact()[:-1] + ("0" if code.check != "0" else "1")

    class Boom:
        def execute(self, *a):
            raise AssertionError("looked up a code whose check character is wrong")

    r._lookup = Boom()
    assert r.resolve(typo)["status"] == "bad-check"
    r.close()


@pytest.mark.parametrize("text", ["", "   ", "K7Q-3M9Q", "K7Q-3M9QX-TT", "K7Q-3M9UX-T", "637 College St", "ÄBC-DEFGH-J",
                                  "K7Q-3M9QX-T!", "12345678901234567890"])
def test_malformed(setup, text):
    with Resolver(setup["full"], setup["pub"]) as r:
        got = r.resolve(text)
    assert got["status"] == "malformed" and got["reason"]
    assert "college" not in got["reason"].lower()  # the input is never echoed


def test_unknown_well_formed_code_never_issued(setup):
    with Resolver(setup["full"], setup["pub"]) as r:
        issued = {b for (b,) in r.db.execute("SELECT body FROM codes")}
        active = T.ALPHABET.index(setup["epochs"]["active"].id)
        body = next(b for b in range((active << 20) + 1, 1 << 40) if b not in issued)  # active epoch, district 0
        got = r.resolve(T.code_of_body(body))
        assert got["status"] == "unknown" and got["code"] == T.code_of_body(body)


def test_code_of_an_epoch_outside_the_window_is_expired(setup):
    expired = [ch for ch, st in setup["ring"].epoch_statuses().items() if st == "expired"]
    assert len(expired) == 32 - 4  # revoked, retired, active, upcoming listed; the rest expired
    with Resolver(setup["full"], setup["pub"]) as r:
        for ch in expired:
            got = r.resolve(T.code_of_body((T.ALPHABET.index(ch) << 20) | 5))
            assert got["status"] == "expired" and f"epoch {ch}" in got["reason"] and "zone" not in got


def test_revoked_epoch(setup):
    d, i, _ = setup["cells"][0]
    # encode_cell refuses a revoked epoch, so build epoch-0 codes from a copy marked retired

    ep0 = setup["epochs"]["revoked"]
    code = encode_cell(d, i, ep0)
    with Resolver(setup["full"], setup["pub"]) as r:
        got = r.resolve(code.text())
    assert got["status"] == "revoked" and f"epoch {ep0.id}" in got["reason"] and "zone" not in got


def test_foreign_in_a_station_extract(setup):
    own, own_zone = _code(setup, "SC-ADDISON")
    other = next((d, i, z) for d, i, z in setup["cells"] if z.sort_center not in ("SC-ADDISON",))
    foreign = encode_cell(other[0], other[1], setup["ring"].active)
    with Resolver(setup["ext"], setup["pub"]) as r:
        assert r.info.station == "SC-ADDISON"
        assert r.resolve(own.text())["zone"] == own_zone.id
        got = r.resolve(foreign.text())
        assert got["status"] == "foreign" and got["next_hop"] and got["next_hop"] != "SC-ADDISON"
        assert "zone" not in got
    with Resolver(setup["full"], setup["pub"]) as r:  # the full table answers it directly
        assert r.resolve(foreign.text())["sort_center"] == other[2].sort_center


def test_every_status_is_reachable(setup):
    own, _ = _code(setup, "SC-ADDISON")
    other = next((d, i) for d, i, z in setup["cells"] if z.sort_center != "SC-ADDISON")
    ep0 = setup["epochs"]["revoked"]
    active = T.ALPHABET.index(setup["epochs"]["active"].id)
    expired = next(ch for ch, st in setup["ring"].epoch_statuses().items() if st == "expired")
    texts = [own.text(), own.compact()[:-1] + ("0" if own.check != "0" else "1"), "XYZ",
             T.code_of_body((active << 20) | 0xFFFFF), T.code_of_body((T.ALPHABET.index(expired) << 20) | 7),
             encode_cell(*other[:1], 1, ep0).text(), encode_cell(*other, setup["ring"].active).text()]
    got = [r["status"] for r in resolve_codes(setup["ext"], setup["pub"], texts)]
    assert got == ["ok", "bad-check", "malformed", "unknown", "expired", "revoked", "foreign"]
    assert set(got) == set(STATUSES)


def test_resolve_job_fields_text_and_dict_queries(setup):
    code, zone = _code(setup)
    job = ResolveJob(setup["full"], setup["pub"])
    rec = job(code.text())
    assert set(rec) <= set(job.fields) and job.info.serial == 1
    assert job.text(rec) == "\t".join([code.text(), zone.id, zone.sort_center, zone.route])
    assert job({"code": code.compact()})["zone"] == zone.id
    assert job.text(job("nope")).startswith("malformed: ")
    ext = ResolveJob(setup["ext"], setup["pub"])
    other = next((d, i) for d, i, z in setup["cells"] if z.sort_center != "SC-ADDISON")
    assert ext.text(ext(encode_cell(*other, setup["ring"].active).text())).startswith("foreign: next hop SC-")
    job.close()
    ext.close()


def test_tampered_table_is_refused_at_start(setup):
    bad = setup["work"] / "flip.sqlite"
    data = bytearray(setup["full"].read_bytes())
    data[len(data) // 3] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="signature check failed"):
        ResolveJob(bad, setup["pub"])


@pytest.mark.parametrize("command", ["resolve", "scan"])
def test_wrong_public_key_names_both_keys(setup, command):
    """`resolve` and `scan` with another keyring's .pub: exit 3, the signer's and the given key's fingerprints."""
    from click.testing import CliRunner

    from addrcode.cli import cli

    ring_path = setup["work"] / f"other-{command}.json"
    other = new_keyring(ring_path)
    table = ["--table", str(setup["full"]), "--public-key", str(pub_path(ring_path))]
    if command == "resolve":
        args = ["resolve", *table, _code(setup)[0].text()]
    else:
        pytest.importorskip("zxingcpp")
        # the table is checked before any image is read, so any existing file will do as the image
        args = ["scan", str(setup["pub"]), *table]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    signer, given = setup["ring"].verify_key.fingerprint, other.verify_key.fingerprint
    assert f"signed by key {signer} (claimed by the table, signature valid for it)" in result.stderr
    assert f"you gave key {given}" in result.stderr and "modified or is corrupt" not in result.stderr
    assert result.stdout == ""  # no answer from a table the given key does not verify


def test_start_up_imports_nothing_heavy(setup):
    """Resolving one code imports no numpy, pyproj, shapely or rapidfuzz (cold start <= 150 ms)."""
    code, zone = _code(setup)
    script = (
        "import sys, json\n"
        "from addrcode.stations.resolver import Resolver\n"
        f"r = Resolver({str(setup['full'])!r}, {str(setup['pub'])!r})\n"
        f"out = r.resolve({code.text()!r})\n"
        "heavy = sorted(m for m in ('numpy', 'pyproj', 'shapely', 'rapidfuzz', 'click') if m in sys.modules)\n"
        "print(json.dumps({'zone': out['zone'], 'heavy': heavy}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    got = json.loads(res.stdout)
    assert got == {"zone": zone.id, "heavy": []}


def test_preloaded_index_answers_like_sqlite(setup):
    """The in-memory index a stream switches to gives the same answers as the SQLite lookups."""

    ep0 = setup["epochs"]["revoked"]
    texts = []
    for d, i, _ in setup["cells"]:
        texts += [encode_cell(d, i, setup["ring"].active).text(), encode_cell(d, i, setup["epochs"]["retired"]).text(),
                  encode_cell(d, (i + 7) % (1 << 20), setup["ring"].active).text(), encode_cell(d, i, ep0).text()]
    for path in (setup["full"], setup["ext"]):
        slow = Resolver(path, setup["pub"], preload_after=-1)
        fast = Resolver(path, setup["pub"], preload_after=1)
        assert [fast.resolve(t) for t in texts] == [slow.resolve(t) for t in texts]
        assert fast._index is not None and slow._index is None
        slow.close()
        fast.close()

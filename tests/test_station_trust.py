"""Which keys and tables a station trusts: usable Ed25519 keys only, bounded table size, the demo only when asked.

Real CLI runs (`python -m addrcode`) on real tables built from tests/data/table_points.csv.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import keyring_with_history
from conftest import run_cli_unconfigured as run

from addrcode.codes.keyring import pub_path
from addrcode.errors import DataError, IntegrityError
from addrcode.geocoding.build import build_reference
from addrcode.grid import Grid
from addrcode.stations import signing
from addrcode.stations.build import build_table
from addrcode.zones import default_zones_path, load_zones

HERE = Path(__file__).parent
POINTS_CSV = HERE / "data" / "table_points.csv"
P = 2**255 - 19
D = -121665 * pow(121666, -1, P) % P

# The 8 small-order points of Ed25519 in canonical encoding ("Taming the many EdDSAs", Brendel et al. 2020,
# table 6; the canonical ones of libsodium's ed25519 blocklist plus their x-sign twins).
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity, order 1
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2 (y = -1)
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4 (y = 0)
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4 (y = 0, x negative)
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
]


def _decode(raw: bytes):
    """Affine (x, y) of an Ed25519 encoding (RFC 8032 5.1.3, y reduced mod p), or None if off the curve."""
    n = int.from_bytes(raw, "little")
    y, sign = (n & ((1 << 255) - 1)) % P, n >> 255
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    if v * x * x % P != u:
        return None
    if x & 1 != sign:
        x = (P - x) % P
    return x, y


def _add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + y1 * x2) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P)


def _times8(point):
    for _ in range(3):
        point = _add(point, point)
    return point


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    """A real keyring and the signed table built from it, as a carrier hands them to a station."""
    work = tmp_path_factory.mktemp("trust")
    ref = work / "ref.sqlite"
    build_reference([POINTS_CSV], ref)
    ring_path = work / "ring.json"
    ring, _ = keyring_with_history(ring_path)
    table = work / "station.sqlite"
    build_table(ref, load_zones(default_zones_path()), ring, Grid(), table, serial=1)
    return {"work": work, "table": table, "pub": pub_path(ring_path)}


# --------------------------------------------------------------------------- 1. unusable public keys


def test_the_listed_encodings_are_the_eight_small_order_points():
    """The test data itself: 8 distinct points on the curve, each killed by multiplying by 8."""
    points = [_decode(bytes.fromhex(h)) for h in SMALL_ORDER]
    assert None not in points and len(set(points)) == 8
    assert all(_times8(p) == (0, 1) for p in points)


@pytest.mark.parametrize("hexkey", SMALL_ORDER)
def test_small_order_public_key_is_refused_by_the_library(hexkey, tmp_path):
    pub = tmp_path / "bad.pub"
    pub.write_text(hexkey + "\n")
    for given in (hexkey, bytes.fromhex(hexkey), pub):
        with pytest.raises(IntegrityError, match="not a usable Ed25519 public key.*real .pub"):
            signing.load_public_key(given)


def test_non_canonical_public_keys_y_at_least_p_are_refused():
    """y = p + k (k < 19, both x signs) and y = 2^255 - 1: encodings that are not reduced mod p."""
    encodings = [((P + k) | sign << 255).to_bytes(32, "little") for k in range(19) for sign in (0, 1)]
    encodings.append(((1 << 255) - 1).to_bytes(32, "little"))
    for raw in encodings:
        assert int.from_bytes(raw, "little") & ((1 << 255) - 1) >= P
        with pytest.raises(IntegrityError, match="not a usable Ed25519 public key"):
            signing.load_public_key(raw)


Y_P_PLUS_1 = "ee" + "ff" * 30 + "7f"  # y = p + 1: the identity, non-canonically


@pytest.mark.parametrize("hexkey", [SMALL_ORDER[0], SMALL_ORDER[4], Y_P_PLUS_1])
def test_cli_refuses_a_small_order_or_non_canonical_pub_file_with_exit_3(station, hexkey, tmp_path):
    pub = tmp_path / "carrier.pub"
    pub.write_text(hexkey + "\n")
    for args in (["table", "verify", str(station["table"]), "--public-key", str(pub)],
                 ["resolve", "--table", str(station["table"]), "--public-key", str(pub), "K7Q-3M9QX-T"],
                 ["table", "diff", str(station["table"]), str(station["table"]), "--public-key", str(pub)]):
        got = run(*args)
        assert got.returncode == 3, (args, got.stderr)
        assert "not a usable Ed25519 public key" in got.stderr and "real .pub" in got.stderr
        assert "Traceback" not in got.stderr


def test_the_real_key_is_still_accepted(station):
    got = run("table", "verify", str(station["table"]), "--public-key", str(station["pub"]))
    assert got.returncode == 0, got.stderr
    assert "OK" in got.stdout


# --------------------------------------------------------------------------- 2. a bound on the table size


def test_a_table_over_the_bound_is_refused_before_it_is_read(station, tmp_path):
    """A sparse file one byte over MAX_TABLE_BYTES: exit 3 at once, no MemoryError, no traceback."""
    huge = tmp_path / "huge.sqlite"
    huge.touch()
    os.truncate(huge, signing.MAX_TABLE_BYTES + 1)
    for args in (["table", "verify", str(huge), "--public-key", str(station["pub"])],
                 ["resolve", "--table", str(huge), "--public-key", str(station["pub"]), "K7Q-3M9QX-T"]):
        got = run(*args)
        assert got.returncode == 3, (args, got.stderr)
        assert "larger than any station table addrcode reads" in got.stderr and "not read" in got.stderr
        assert "Traceback" not in got.stderr and "MemoryError" not in got.stderr
    assert huge.stat().st_blocks == 0 or huge.stat().st_blocks * 512 < 1 << 20  # still sparse: never filled


def test_the_bound_is_checked_against_the_real_size(station, monkeypatch):
    """The real table is accepted when the bound equals its size and refused one byte below it, unread."""
    size = station["table"].stat().st_size
    monkeypatch.setattr(signing, "MAX_TABLE_BYTES", size)
    assert signing.verified_bytes(station["table"], station["pub"])[:16] == b"SQLite format 3\x00"
    monkeypatch.setattr(signing, "MAX_TABLE_BYTES", size - 1)
    monkeypatch.setattr(signing, "_buffer", lambda n: pytest.fail("the file was read"))
    with pytest.raises(DataError, match="larger than any station table"):
        signing.verified_bytes(station["table"], station["pub"])
    with pytest.raises(DataError, match="larger than any station table"):
        signing.open_table(station["table"], station["pub"])


# --------------------------------------------------------------------------- 3. the demo table only when asked

DEMO_LINE = "DEMO: using the packaged demo station table and demo key: both are public, so these codes are not private"


@pytest.mark.parametrize("command", ["resolve", "scan"])
def test_public_key_without_table_is_a_usage_error_not_the_demo_table(station, command, tmp_path):
    """`--public-key K` alone: exit 2, nothing resolved, the demo table neither built nor used."""
    target = str(station["pub"]) if command == "scan" else "K7Q-3M9QX-T"  # scan: the table is checked first
    got = run(command, "--public-key", str(station["pub"]), target, cwd=tmp_path)
    assert got.returncode == 2, got.stderr
    assert "no station table configured" in got.stderr and "--table" in got.stderr
    assert DEMO_LINE not in got.stderr and "building" not in got.stderr and got.stdout == ""


@pytest.mark.parametrize("command", ["resolve", "scan"])
def test_nothing_configured_and_no_demo_flag_exits_3_and_says_what_to_pass(station, command, tmp_path):
    target = str(station["pub"]) if command == "scan" else "K7Q-3M9QX-T"
    got = run(command, target, cwd=tmp_path)  # an empty folder: no addrcode.toml (conftest: no user config)
    assert got.returncode == 3, got.stderr
    for needed in ("--table TABLE.sqlite --public-key KEY.pub", "addrcode.toml", "--demo"):
        assert needed in got.stderr
    assert DEMO_LINE not in got.stderr and "building" not in got.stderr and got.stdout == ""


@pytest.mark.parametrize("extra", [["--table", "t.sqlite"], ["--public-key", "k.pub"]])
def test_demo_with_a_table_or_key_is_a_usage_error(extra, tmp_path):
    got = run("resolve", "--demo", *extra, "K7Q-3M9QX-T", cwd=tmp_path)
    assert got.returncode == 2 and "--demo" in got.stderr and got.stdout == ""


def test_demo_flag_resolves_a_demo_code_and_says_loudly_it_is_public(tmp_path):
    """A code encoded with the demo keyring resolves with `--demo` only, with one DEMO line on stderr."""
    code = run("encode", "-q", "637 College St, Middlebury VT 05753", cwd=tmp_path)
    assert code.returncode == 0, code.stderr
    code = code.stdout.strip()
    got = run("resolve", "--demo", "--format", "jsonl", code, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["status"] == "ok"
    assert got.stderr.count(DEMO_LINE) == 1
    refused = run("resolve", "--format", "jsonl", code, cwd=tmp_path)
    assert refused.returncode == 3 and refused.stdout == ""


def test_scan_with_demo_uses_the_demo_table_and_says_so(tmp_path):
    pytest.importorskip("zxingcpp")
    not_an_image = tmp_path / "x.png"
    not_an_image.write_bytes(b"not a png")
    got = run("scan", "--demo", str(not_an_image), cwd=tmp_path)
    assert got.stderr.count(DEMO_LINE) == 1 and "Traceback" not in got.stderr
    assert got.returncode == 1 and "unreadable" in got.stdout  # the table opened; the image is what failed

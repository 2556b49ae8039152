"""Attackers: what codes, tables, keyrings and messages give away (nothing, or what SECURITY.md says).

- opaque parts of neighbouring cells and of consecutive epochs pass independence checks (per-position
  uniformity, equality rate, difference uniformity, 32x32 contingency), and the same checks do catch
  a leaky "cipher" (so they have power);
- station tables hold no address, coordinate or cell index (byte scan with chance-level controls);
- single-byte tampering of a table, its signature, a keyring or a public key is detected, 100 %;
- keyrings are 0600 and refused when group/world readable;
- addresses and keys never reach stderr, errors, journals or non-data stdout of any command;
- CSV output never starts a cell with a formula character.

The measuring functions return counts; `scripts/robustness_report.py` prints them into SECURITY.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import random
import re
import sqlite3
import stat
import struct
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import VT_ZONES
from hypothesis import example, given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
LONG = bool(os.environ.get("ADDRCODE_FUZZ_LONG"))
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VAL = {c: i for i, c in enumerate(ALPHABET)}


# --------------------------------------------------------------------------- statistics (no scipy)


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution (Wilson-Hilferty; good to ~1e-3 for df >= 30)."""
    z = ((x / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def chi2_uniform(values: list[int], k: int = 32) -> float:
    """p-value that `values` (in range(k)) are uniform."""
    n = len(values)
    counts = Counter(values)
    stat_ = sum((counts.get(i, 0) - n / k) ** 2 / (n / k) for i in range(k))
    return chi2_sf(stat_, k - 1)


def chi2_independent(pairs: list[tuple[int, int]], k: int = 32) -> float:
    """p-value of independence of the two coordinates of `pairs` (k x k contingency table)."""
    n = len(pairs)
    table = Counter(pairs)
    rows, cols = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    stat_ = 0.0
    for a in range(k):
        for b in range(k):
            expected = rows[a] * cols[b] / n
            if expected:
                stat_ += (table.get((a, b), 0) - expected) ** 2 / expected
    return chi2_sf(stat_, (k - 1) ** 2)


def equality_z(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Share of positions where the two opaque parts agree, and its z-score against 1/32."""
    n = len(pairs) * 4
    same = sum(a[i] == b[i] for a, b in pairs for i in range(4))
    p = 1 / 32
    return same / n, (same - n * p) / math.sqrt(n * p * (1 - p))


def independence_report(pairs: list[tuple[str, str]]) -> dict:
    """Every check on (opaque part, related opaque part) pairs; min p-value across positions."""
    share, z = equality_z(pairs)
    p_uniform = min(chi2_uniform([VAL[b[i]] for _, b in pairs]) for i in range(4))
    p_diff = min(chi2_uniform([(VAL[b[i]] - VAL[a[i]]) % 32 for a, b in pairs]) for i in range(4))
    p_joint = min(chi2_independent([(VAL[a[i]], VAL[b[i]]) for a, b in pairs]) for i in range(4))
    return {"pairs": len(pairs), "equal_share": share, "equal_z": z, "p_uniform": p_uniform, "p_diff": p_diff,
            "p_joint": p_joint}


def passes(report: dict, alpha: float = 1e-5) -> bool:
    return (abs(report["equal_z"]) < 4.5 and report["p_uniform"] > alpha and report["p_diff"] > alpha
            and report["p_joint"] > alpha)


# --------------------------------------------------------------------------- codes


def fixed_epochs(n: int = 2, seed: bytes = b"addrcode attackers test"):
    """Deterministic epochs (fixed secrets), so the statistics are the same on every run."""
    from addrcode.codes.keyring import Epoch

    return [Epoch(id=ALPHABET[i], created="2025-01-01T00:00:00Z", status="active",
                  secret=hashlib.sha256(seed + bytes([i])).digest()) for i in range(n)]


# A Vermont district (Middlebury is in it) and a 128 x 128 block of its cells.
DISTRICT = None


def block_cells(side: int = 128):
    from addrcode.grid import Grid

    cell = Grid().cell(-73.1673, 44.0153)
    x0, y0 = cell.index % 1024 - side // 2, cell.index // 1024 - side // 2
    x0, y0 = max(0, min(x0, 1024 - side)), max(0, min(y0, 1024 - side))
    return cell.district, [(x0 + dx, y0 + dy) for dy in range(side) for dx in range(side)]


def opaque_map(district: int, cells, epoch) -> dict:
    from addrcode.codes.scheme import encode_cells

    codes = encode_cells([(district, iy * 1024 + ix) for ix, iy in cells], epoch)
    return {cell: code.opaque for cell, code in zip(cells, codes)}


def code_independence(side: int = 128) -> dict:
    """The independence checks for neighbours (right, up), epochs, random pairs, and a leaky control."""
    district, cells = block_cells(side)
    e0, e1 = fixed_epochs(2)
    o0, o1 = opaque_map(district, cells, e0), opaque_map(district, cells, e1)
    rng = random.Random(3)
    right = [(o0[(x, y)], o0[(x + 1, y)]) for x, y in cells if (x + 1, y) in o0]
    up = [(o0[(x, y)], o0[(x, y + 1)]) for x, y in cells if (x, y + 1) in o0]
    epochs = [(o0[c], o1[c]) for c in cells]
    shuffled = list(o0.values())
    rng.shuffle(shuffled)
    rand = list(zip(list(o0.values()), shuffled))

    def plain(x, y):  # a "cipher" that leaks: the index itself, in base 32 (what FF1 must not look like)
        i = y * 1024 + x
        return "".join(ALPHABET[(i >> s) & 31] for s in (15, 10, 5, 0))

    leaky = [(plain(x, y), plain(x + 1, y)) for x, y in cells if (x + 1, y) in o0]
    # a subtler leak: a keyed permutation of each 5-bit digit on its own (positions don't mix)
    sbox = list(range(32))
    rng.shuffle(sbox)
    digits = lambda s: "".join(ALPHABET[sbox[VAL[c]]] for c in s)  # noqa: E731
    leaky_sbox = [(digits(a), digits(b)) for a, b in leaky]
    return {"cells": len(cells), "neighbours (right)": independence_report(right),
            "neighbours (up)": independence_report(up), "consecutive epochs": independence_report(epochs),
            "random pairs": independence_report(rand), "control: plain index": independence_report(leaky),
            "control: per-digit substitution": independence_report(leaky_sbox)}


# --------------------------------------------------------------------------- a world to attack


class World:
    """A small reference, a real keyring (a revoked, a retired and an active generation) and signed tables."""

    def __init__(self, root: Path):
        from conftest import keyring_with_history

        from addrcode.codes.keyring import pub_path
        from addrcode.geocoding.build import build_reference
        from addrcode.grid import Grid
        from addrcode.stations.build import build_table
        from addrcode.zones import default_zones_path, load_zones

        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.source = DATA / "oa_small.csv"
        self.reference = root / "small.sqlite"
        build_reference([self.source], self.reference)
        (root / "keys").mkdir()
        self.keyring_path = root / "keys" / "ring.json"
        self.keyring, self.epochs = keyring_with_history(self.keyring_path)
        self.public_key = pub_path(self.keyring_path)
        zones = load_zones(default_zones_path())
        self.table = root / "all.sqlite"
        build_table(self.reference, zones, self.keyring, Grid(), self.table, serial=10)
        self.extract = root / "essex.sqlite"
        build_table(self.reference, zones, self.keyring, Grid(), self.extract, station="SC-ESSEX", serial=11)

    def secrets(self) -> dict[str, bytes]:
        """Every secret of the keyring, in the encodings a leak could take."""
        import base64

        out = {}
        keys = [(f"{status} epoch {e.id} secret", e.secret) for status, e in self.epochs.items()]
        for name, raw in keys + [("signing seed", self.keyring.signing_seed)]:
            for form, value in (("raw", raw), ("hex", raw.hex().encode()), ("HEX", raw.hex().upper().encode()),
                                ("base64", base64.b64encode(raw)), ("base32", base64.b32encode(raw))):
                out[f"{name} ({form})"] = value
        return out


def source_points(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = [{k.upper(): v for k, v in r.items()} for r in csv.DictReader(fh)]
    return [r for r in rows if r["LON"][:1] == "-" and r["NUMBER"] and r["STREET"]]


def table_scan(world: World, path: Path) -> dict:
    """Look for addresses, coordinates and cell indices in a table file's bytes.

    Cell indices are 20-bit integers: some 3-byte sequences occur by chance in any binary file, so
    the count for the real cells is compared with the same count for as many random cells.
    """
    from addrcode.grid import Grid

    data = path.read_bytes()
    low = data.lower()
    pts = source_points(world.source)
    streets = sorted({p["STREET"] for p in pts})
    found = Counter()
    # Destinations come from the zones file (zone ids, sort centers, town names as routes): words of
    # street names that also occur there (BROOK in BROOKFIELD, ROUTE the field name) say nothing.
    from addrcode.zones import default_zones_path

    zone_text = default_zones_path().read_bytes().lower()
    tried = Counter({"street names": len(streets)})
    for s in streets:
        found["street names"] += s.lower().encode() in low
        words = [w.lower().encode() for w in s.split() if len(w) >= 4]
        words = [w for w in words if w not in zone_text]
        tried["street words not in the zones file"] += len(words)
        # 6+ letters never occur by chance in ~1 MB of bytes (about 1e-5 a table, case folded); 4 and 5
        # letters do (`sNoW` in the sorted records of a table: ~1 table in 10 for 4 letters), so those
        # are compared with as many random words of their lengths searched the same way
        found["street words not in the zones file"] += sum(w in low for w in words if len(w) >= 6)
        found["short street words"] += sum(w in low for w in words if len(w) < 6)
        tried["short street words"] += sum(len(w) < 6 for w in words)
    # 40 random words (not in the zones file either) for each short street word: the hits expected by chance
    rng_words, controls = random.Random(5), []
    while len(controls) < 40 * max(1, tried["short street words"]):
        w = "".join(rng_words.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng_words.choice((4, 5)))).encode()
        if w not in zone_text:
            controls.append(w)
    found["random short words (chance control)"] = sum(w in low for w in controls) / 40
    for p in pts:
        tried["house number + street"] += 1
        found["house number + street"] += f"{p['NUMBER']} {p['STREET']}".lower().encode() in low
        for c in (p["LON"], p["LAT"]):
            v = float(c)
            for k in range(3, 8):
                tried["coordinates as text (3-7 decimals)"] += 1
                found["coordinates as text (3-7 decimals)"] += f"{v:.{k}f}".encode() in data
            for fmt in (">d", "<d"):
                tried["coordinates as binary doubles"] += 1
                found["coordinates as binary doubles"] += struct.pack(fmt, v) in data
            # A 4-byte pattern occurs by chance in a table of random-looking bytes (signature, codes):
            # about tried * bytes / 2**32, a few tenths here, so the test bounds the rate instead.
            for fmt in (">f", "<f"):
                tried["coordinates as 4-byte floats"] += 1
                found["coordinates as 4-byte floats"] += struct.pack(fmt, v) in data
    grid = Grid()
    cells = {grid.cell(float(p["LON"]), float(p["LAT"])) for p in pts}
    cells.discard(None)
    rng = random.Random(4)
    controls = {(c.district, rng.randrange(2**20)) for c in cells}

    def hits(pairs):
        n = 0
        for district, index in pairs:
            g = district * 2**20 + index
            # SQLite stores integers big-endian in 1, 2, 3, 4, 6 or 8 bytes
            n += any(b in data for b in (index.to_bytes(3, "big"), g.to_bytes(6, "big"), g.to_bytes(8, "big"),
                                         str(g).encode(), f"{index % 1024},{index // 1024}".encode()))
        return n

    tried["cell indices"] = len(cells)
    found["cell indices"] = hits((c.district, c.index) for c in cells)
    found["random cells (chance control)"] = hits(controls)
    tried["random cells (chance control)"] = len(controls)
    for value in world.secrets().values():
        tried["key material"] += 1
        found["key material"] += value in data
    return {"bytes": len(data), "tried": dict(tried), "found": dict(found)}


# --------------------------------------------------------------------------- tampering


def flip_table(world: World, n: int, seed: int = 1, *, region: str = "anywhere") -> dict:
    """n random single-byte changes of the table (or of its signature slot): how many verify refuses."""
    from addrcode.errors import IntegrityError
    from addrcode.stations import signing

    data = world.extract.read_bytes()
    vk = signing.load_public_key(world.public_key)
    signing.verify_bytes(data, vk)
    rng = random.Random(seed)
    buf = bytearray(data)
    lo, hi = 0, len(data)
    if region == "signature":
        lo = signing._sig_offset(data)
        hi = lo + signing.SIG_LEN
    detected = 0
    for _ in range(n):
        off = rng.randrange(lo, hi)
        old = buf[off]
        buf[off] = old ^ rng.randrange(1, 256)
        try:
            signing.verify_bytes(bytes(buf), vk)
        except IntegrityError:
            detected += 1
        buf[off] = old
    return {"tries": n, "detected": detected, "bytes": hi - lo}


def flip_keyring(world: World, work: Path, n: int | None = None, seed: int = 2) -> dict:
    """Single-byte changes of the keyring file (every byte, or n random ones): how many are refused."""
    from addrcode.codes.keyring import load_keyring
    from addrcode.errors import KeyringError

    raw = world.keyring_path.read_bytes()
    rng = random.Random(seed)
    offsets = range(len(raw)) if n is None else [rng.randrange(len(raw)) for _ in range(n)]
    path = work / "flipped.json"
    detected = tries = 0
    leaked = []
    for off in offsets:
        buf = bytearray(raw)
        buf[off] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(buf))
        os.chmod(path, 0o600)
        tries += 1
        try:
            load_keyring(path)
        except KeyringError as exc:
            detected += 1
            msg = str(exc).encode()
            leaked += [k for k, v in world.secrets().items() if len(v) >= 16 and v in msg]
    return {"tries": tries, "detected": detected, "bytes": len(raw), "secrets_in_messages": leaked}


def flip_public_key(world: World, work: Path) -> dict:
    """Every single-character change of the .pub file: the table no longer verifies with it."""
    from addrcode.errors import IntegrityError, KeyringError, UsageError
    from addrcode.stations import signing

    text = world.public_key.read_bytes()
    data = world.extract.read_bytes()
    path = work / "flipped.pub"
    rng = random.Random(3)
    detected = tries = 0
    for off in range(len(text.rstrip())):
        buf = bytearray(text)
        buf[off] = ord(rng.choice([c for c in "0123456789abcdef" if ord(c) != buf[off]]))
        path.write_bytes(bytes(buf))
        tries += 1
        try:
            signing.verify_bytes(data, signing.load_public_key(path))
        except (IntegrityError, KeyringError, UsageError):
            detected += 1
    return {"tries": tries, "detected": detected}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("attackers"))


# --------------------------------------------------------------------------- codes look unrelated


def test_opaque_parts_of_neighbours_and_epochs_look_independent():
    report = code_independence()
    for name in ("neighbours (right)", "neighbours (up)", "consecutive epochs", "random pairs"):
        assert passes(report[name]), (name, report[name])
    # ... and the same checks catch leaky constructions, so passing them means something
    assert not passes(report["control: plain index"])
    assert not passes(report["control: per-digit substitution"])


def test_known_pairs_do_not_predict_a_neighbour():
    """An attacker with 10,000 (cell, code) pairs guesses the neighbour's opaque part no better than
    chance: best guess = the most common opaque (right-neighbour) digit given the known digit."""
    district, cells = block_cells(128)
    (e0,) = fixed_epochs(1)
    o = opaque_map(district, cells, e0)
    rng = random.Random(9)
    pairs = [(o[(x, y)], o[(x + 1, y)]) for x, y in cells if (x + 1, y) in o]
    rng.shuffle(pairs)
    train, test = pairs[:10_000], pairs[10_000:]
    for pos in range(4):
        table = Counter((a[pos], b[pos]) for a, b in train)
        best = {a: max(ALPHABET, key=lambda b: table.get((a, b), 0)) for a in ALPHABET}
        hits = sum(best[a[pos]] == b[pos] for a, b in test)
        n = len(test)
        assert (hits - n / 32) / math.sqrt(n / 32 * (31 / 32)) < 4.5, (pos, hits, n)


# --------------------------------------------------------------------------- tables hold nothing


@pytest.mark.parametrize("which", ["table", "extract"])
def test_table_bytes_hold_no_address_coordinate_cell_index_or_key(world, which):
    scan = table_scan(world, world.table if which == "table" else world.extract)
    f = scan["found"]
    assert f.get("street names", 0) == 0 and f.get("street words not in the zones file", 0) == 0
    assert scan["tried"]["street words not in the zones file"] > 30
    # a leak of the words stores them all (15 short ones here); chance finds a few tenths at most
    word_chance = f["random short words (chance control)"]
    assert f["short street words"] <= word_chance + 3 * math.sqrt(word_chance + 1)
    assert f.get("house number + street", 0) == 0
    assert f.get("coordinates as text (3-7 decimals)", 0) == 0
    assert f.get("coordinates as binary doubles", 0) == 0
    # a leak stores every point; chance finds ~0.3 of ~1,900 (P(>= 1 %) is below 1e-30)
    assert f.get("coordinates as 4-byte floats", 0) <= scan["tried"]["coordinates as 4-byte floats"] // 100
    assert f.get("key material", 0) == 0
    # cell indices: no more than the same search finds for random cells (chance 3-byte matches)
    chance = f["random cells (chance control)"]
    assert f["cell indices"] <= chance + 3 * math.sqrt(chance + 1)


def test_table_schema_has_no_location_columns(world):
    db = sqlite3.connect(f"file:{world.table}?mode=ro", uri=True)
    columns = [c for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
               for c in (r[1] for r in db.execute(f"PRAGMA table_info('{t}')"))]
    db.close()
    for bad in ("lon", "lat", "x", "y", "ix", "iy", "cell", "address", "street", "number", "point"):
        assert bad not in [c.lower() for c in columns], columns


# --------------------------------------------------------------------------- tampering


def test_random_byte_flips_in_a_table_are_all_detected(world):
    got = flip_table(world, 3000 if LONG else 600)
    assert got["detected"] == got["tries"]


def test_every_signature_byte_flip_is_detected(world):
    got = flip_table(world, 512, region="signature")
    assert got["detected"] == got["tries"] == 512


def test_every_keyring_byte_flip_is_detected_and_messages_hold_no_secret(world, tmp_path):
    got = flip_keyring(world, tmp_path)
    assert got["tries"] == got["bytes"] > 500
    assert got["detected"] == got["tries"]
    assert got["secrets_in_messages"] == []


def test_every_public_key_change_is_detected(world, tmp_path):
    got = flip_public_key(world, tmp_path)
    assert got["tries"] == 64 and got["detected"] == 64


def test_tampered_table_is_refused_by_the_cli(world, tmp_path):
    data = bytearray(world.extract.read_bytes())
    data[len(data) // 2] ^= 0x20
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(bytes(data))
    from addrcode.cli import cli

    for args in (["table", "verify", str(bad), "--public-key", str(world.public_key)],
                 ["resolve", "--table", str(bad), "--public-key", str(world.public_key), "AAT-0EM53-6"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 3, result.output
        assert "signature" in result.stderr and str(bad) in result.stderr


# --------------------------------------------------------------------------- key file permissions


def test_new_keyring_is_0600_even_with_a_permissive_umask(tmp_path):
    p = subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0); from addrcode.cli import main; "
                        "sys.argv=['addrcode', 'key', 'new', sys.argv[1]]; main()", str(tmp_path / "ring.json")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "ring.json").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "ring.json.pub").st_mode) == 0o644  # public by design
    from addrcode.codes.keyring import load_keyring, revoke, rotate

    first = load_keyring(tmp_path / "ring.json").active.id
    rotate(tmp_path / "ring.json")
    revoke(tmp_path / "ring.json", first)
    assert stat.S_IMODE(os.stat(tmp_path / "ring.json").st_mode) == 0o600  # rewrites keep it private


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666, 0o700, 0o610])
def test_keyring_readable_by_others_is_refused(world, tmp_path, mode):
    from addrcode.cli import cli

    ring = tmp_path / "ring.json"
    ring.write_bytes(world.keyring_path.read_bytes())
    os.chmod(ring, mode)
    args = {"encode": ["encode", "--reference", str(world.reference), "--zones", VT_ZONES,
                       "--keyring", str(ring), "1 Main St"],
            "table build": ["table", "build", "-o", str(tmp_path / "t.sqlite"), "--reference", str(world.reference),
                            "--zones", VT_ZONES, "--keyring", str(ring)],
            "key rotate": ["key", "rotate", "--keyring", str(ring)],
            "decode": ["decode", "--keyring", str(ring), "AAT-0EM53-6"]}
    for name, a in args.items():
        result = CliRunner().invoke(cli, a)
        if mode & 0o077:
            assert result.exit_code == 3, (name, oct(mode), result.output)
            assert f"chmod 600 {ring}" in result.stderr, result.stderr
        else:
            assert result.exit_code in (0, 1), (name, oct(mode), result.output)
    assert not (tmp_path / "t.sqlite").exists() or not mode & 0o077


# --------------------------------------------------------------------------- nothing leaks into messages


SENTINEL_STREET = "QUIXOTRAZ"
SENTINEL = f"2610 Boudle Rd Apt {SENTINEL_STREET}, Bloomfield VT 05905"
SENTINEL_BAD = f"77 {SENTINEL_STREET} Way, Nowhereville ZZ 99999"


def leak_commands(world: World, tmp: Path) -> list[tuple[str, list[str], str | None, bool]]:
    """(name, args, stdin, stdout is data) for every command, fed the sentinel address / keyring."""
    ring, pub, ref = str(world.keyring_path), str(world.public_key), str(world.reference)
    orders = tmp / "orders.csv"
    with open(orders, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "address"])
        for i, a in enumerate([SENTINEL, SENTINEL_BAD, SENTINEL + "\0", '"' + SENTINEL]):
            w.writerow([i, a])
        fh.write(f'9,"{SENTINEL}\n')  # unclosed quote
    from addrcode.codes.scheme import encode_cell
    from addrcode.grid import Grid

    code = encode_cell(*(lambda c: (c.district, c.index))(Grid().cell(-71.6690546, 44.8341274)),
                       world.keyring.active).text()
    corrupt = tmp / "corrupt.json"
    corrupt.write_bytes(world.keyring_path.read_bytes().replace(b'"active"', b'"actlve"'))
    os.chmod(corrupt, 0o600)
    opened = tmp / "open.json"
    opened.write_bytes(world.keyring_path.read_bytes())
    os.chmod(opened, 0o644)
    new_ring = tmp / "new" / "ring.json"
    new_ring.parent.mkdir(exist_ok=True)
    (tmp / "labels").mkdir(exist_ok=True)
    out = str(tmp / "out.csv")
    return [
        ("normalize args", ["normalize", SENTINEL, SENTINEL_BAD], None, True),
        ("normalize stdin", ["normalize"], SENTINEL + "\n" + SENTINEL_BAD + "\n", True),
        ("geocode", ["geocode", "--reference", ref, SENTINEL, SENTINEL_BAD], None, True),
        ("encode text", ["encode", "--reference", ref, "--zones", VT_ZONES,
                         "--keyring", ring, SENTINEL, SENTINEL_BAD], None, False),
        ("encode CSV file", ["encode", "--reference", ref, "--zones", VT_ZONES,
                             "--keyring", ring, "-i", str(orders), "-o", out,
                             "--rejects", str(tmp / "rej.csv")], None, False),
        ("encode jsonl", ["encode", "--reference", ref, "--zones", VT_ZONES, "--keyring", ring, "--format", "jsonl"],
         SENTINEL + "\n" + SENTINEL_BAD + "\n", True),
        ("encode, too-open keyring", ["encode", "--reference", ref, "--zones", VT_ZONES,
                                      "--keyring", str(opened), SENTINEL], None, False),
        ("encode, corrupt keyring", ["encode", "--reference", ref, "--zones", VT_ZONES,
                                     "--keyring", str(corrupt), SENTINEL], None, False),
        ("encode, missing reference", ["encode", "--reference", str(tmp / "none.sqlite"), SENTINEL], None, False),
        ("explain", ["explain", "--reference", ref, SENTINEL], None, True),
        ("decode", ["decode", "--keyring", ring, code, "AAT-0EM53-7", SENTINEL], None, True),
        ("resolve", ["resolve", "--table", str(world.table), "--public-key", pub, code, SENTINEL], None, True),
        ("table build", ["table", "build", "-o", str(tmp / "t.sqlite"), "--reference", ref, "--zones", VT_ZONES,
                         "--keyring", ring],
         None, False),
        ("table verify", ["table", "verify", str(world.table), "--public-key", pub], None, False),
        ("table diff", ["table", "diff", str(world.table), str(world.extract), "--public-key", pub], None, False),
        ("key new", ["key", "new", str(new_ring)], None, False),
        ("key list", ["key", "list", "--keyring", ring], None, False),
        ("key list json", ["key", "list", "--keyring", ring, "--format", "json"], None, False),
        ("key rotate", ["key", "rotate", "--keyring", str(new_ring)], None, False),
        ("key revoke", ["key", "revoke", "0", "--keyring", str(new_ring)], None, False),
        ("reference info", ["reference", "info", ref], None, False),
        # after "encode CSV file": its output feeds the label printer and the run report, whose files
        # are scanned too (labels never carry the address; the report masks it by default)
        ("label svg", ["label", "-i", out, "-o", str(tmp / "labels"), "--format", "svg", "--name-column", "id",
                       "--reference", ref, "--keyring", ring], None, False),
        ("report", ["report", out, "-o", str(tmp / "report.html")], None, False),
    ]


def leak_scan(world: World, tmp: Path) -> dict:
    """Run every command; look for the sentinel address and every key encoding in stderr, in stdout
    when it is not data, in journals and in error messages. Returns counts and the leaks found."""
    from addrcode.cli import cli

    needles = {"sentinel address": SENTINEL_STREET.encode(), **world.secrets()}
    new_secrets: dict = {}
    leaks, runs = [], 0
    for name, args, stdin, stdout_is_data in leak_commands(world, tmp):
        result = CliRunner().invoke(cli, args, input=stdin)
        runs += 1
        if name.startswith("key ") and (tmp / "new" / "ring.json").exists():
            from addrcode.codes.keyring import _parse

            raw = (tmp / "new" / "ring.json").read_bytes()
            ring = _parse(raw, None)
            for e in ring.epochs:
                new_secrets[f"new epoch {e.id} secret (hex)"] = e.secret.hex().encode()
            new_secrets["new signing seed (hex)"] = ring.signing_seed.hex().encode()
        streams = {"stderr": result.stderr_bytes}
        if not stdout_is_data:
            streams["stdout"] = result.stdout_bytes
        if result.exception and not isinstance(result.exception, SystemExit):
            streams["exception"] = repr(result.exception).encode()
        for stream, data in streams.items():
            for needle_name, needle in {**needles, **new_secrets}.items():
                if len(needle) >= 8 and needle.lower() in data.lower():
                    leaks.append((name, stream, needle_name))
    for journal in tmp.rglob(".*journal"):
        if SENTINEL_STREET.encode() in journal.read_bytes():
            leaks.append(("journal", str(journal), "sentinel address"))
    artefacts = sorted((tmp / "labels").glob("*.svg")) + [tmp / "report.html"]
    assert len(artefacts) >= 2 and all(a.exists() for a in artefacts), artefacts
    for artefact in artefacts:
        data = artefact.read_bytes().lower()
        for needle_name, needle in needles.items():
            if needle.lower() in data:
                leaks.append((artefact.name, "file", needle_name))
    return {"commands": runs, "needles": len(needles) + len(new_secrets), "leaks": leaks}


def test_no_address_or_key_in_messages_of_any_command(world, tmp_path):
    got = leak_scan(world, tmp_path)
    assert got["commands"] >= 23
    assert got["leaks"] == []


def test_internal_error_reason_holds_no_address():
    """A job that raises with the address in its message: the record's reason has the class name only."""
    from addrcode.batch.runner import apply

    def job(query):
        raise ValueError(f"cannot parse {query}")

    result = apply(job, SENTINEL)
    assert result == {"status": "error", "reason": "internal error (ValueError)"}


def test_journal_of_a_killed_run_holds_no_address(world, tmp_path):
    """The --resume journal next to the output holds counts and an input fingerprint, no row content."""
    from addrcode.batch import runner as batch
    from addrcode.batch.io import InputRecord

    out = tmp_path / "out.csv"
    records = [InputRecord(line=i + 2, fields={"address": SENTINEL}) for i in range(50)]
    plan = batch.RunPlan(fmt="csv", columns=["address", "addrcode_status", "addrcode_reason"], text=str,
                         to_output=lambda r, res: {**r.fields, **{"addrcode_" + k: v for k, v in res.items()}},
                         output=str(out), identity={"input": "x", "size": 1, "mtime_ns": 1, "options": "y"})

    def job(query):
        if job.n == 30:
            raise KeyboardInterrupt  # the run stops between chunks, as a kill would
        job.n += 1
        return {"status": "rejected", "reason": "no match"}
    job.n = 0
    with pytest.raises(KeyboardInterrupt):
        batch.execute(records, job, plan, chunk_size=10, column="address")
    journal = tmp_path / ".out.csv.journal"
    assert journal.exists()
    assert SENTINEL_STREET.encode() not in journal.read_bytes()


# --------------------------------------------------------------------------- formula injection


def starts_a_formula(cell: str) -> bool:
    """Whether a spreadsheet would evaluate `cell` (the rule SECURITY.md states, written out here on its
    own): after skipping leading controls, format characters and spaces, in the cell as written or
    NFKC-folded, it starts with `=` or `@`, or with `+`/`-` followed by more than a number or a phone."""
    for form in (cell, unicodedata.normalize("NFKC", cell)):
        head = form
        while head and unicodedata.category(head[0]) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            head = head[1:]
        if head[:1] in ("=", "@"):
            return True
        if head[:1] in ("+", "-"):
            rest = re.sub(r"\d[eE][+-]?\d+$", "0", head)  # an exponent is part of a number
            if any(not (c.isdigit() and c.isascii()) and c not in " .,()/+-" for c in rest):
                return True
    return False


def csv_cells(path: Path):
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            yield from row


def formula_check(tmp: Path, world: World, cells: list[str]) -> dict:
    """CSV in with hostile cells -> CSV out (and rejects): count cells that start a formula."""
    from addrcode.cli import cli

    src = tmp / "in.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["=id", "address", "+note"])
        for i, c in enumerate(cells):
            w.writerow([f"={i}", c, c])
    checked, bad = 0, []
    for command, extra in (("normalize", []), ("geocode", ["--reference", str(world.reference)]),
                           ("encode", ["--reference", str(world.reference), "--zones", VT_ZONES,
                                       "--keyring", str(world.keyring_path),
                                       "--with-coords"])):
        out, rej = tmp / f"{command}.csv", tmp / f"{command}.rej.csv"
        result = CliRunner().invoke(cli, [command, "-i", str(src), "--column", "address", "-o", str(out),
                                          "--rejects", str(rej), "-q", *extra])
        assert result.exit_code in (0, 1), result.output
        for path in (out, rej):
            for cell in csv_cells(path):
                checked += 1
                if starts_a_formula(cell):
                    bad.append((command, cell[:30]))
    return {"cells": checked, "formula_starts": bad}


HOSTILE_CELLS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "=HYPERLINK(\"http://x\",\"y\")",
                 "-2610 Boudle Rd, Bloomfield VT 05905", "=2610 Boudle Rd, Bloomfield VT 05905",
                 "2610 Boudle Rd, Bloomfield VT 05905", "@2610 Boudle Rd", "+133 Wilderness Dr, Guildhall VT"]


def test_csv_output_never_starts_a_cell_with_a_formula_character(world, tmp_path):
    lines = (DATA / "hostile" / "formula_cells.6rows.csv").read_text().splitlines()[1:]
    got = formula_check(tmp_path, world, HOSTILE_CELLS + [line.split(",", 1)[-1] for line in lines])
    assert got["cells"] > 500
    assert got["formula_starts"] == []


@settings(max_examples=400 if LONG else 60, deadline=None, derandomize=not LONG)
@given(cells=st.lists(st.text(alphabet=st.sampled_from("=+-@\t\r\n\"',;|!A1 ()") | st.characters(), min_size=1,
                              max_size=20), min_size=1, max_size=5))
def test_csv_writer_neutralises_every_formula_start(cells):
    from addrcode.batch.io import RecordWriter

    buf = io.StringIO(newline="")
    writer = RecordWriter(buf, "csv", [f"c{i}" for i in range(len(cells))], str)
    writer.write({f"c{i}": c for i, c in enumerate(cells)})
    writer.close()
    rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
    assert len(rows) == 2
    for original, cell in zip(cells, rows[1]):
        assert not starts_a_formula(cell)
        assert cell == ("'" + original if starts_a_formula(original) else original)  # only the quote, only then


_ANY_CELL = (st.none() | st.floats(allow_nan=False) | st.integers() | st.lists(st.text(max_size=5), max_size=3)
             | st.text(alphabet=st.sampled_from("=+-@\t\r\n\"' A1\ud800\udfff") | st.characters(), max_size=12))


@settings(max_examples=400 if LONG else 80, deadline=None, derandomize=not LONG)
@given(cells=st.lists(_ANY_CELL, min_size=1, max_size=6))
@example(cells=["x\ud800y", "=1+1", 0.1 + 0.2, None, 7, ["a", "=b"], "a\rb"])
def test_csv_rows_by_position_are_written_as_records_are(cells):
    """`RecordWriter.write_row` (the batch path: values already in column order) writes the bytes
    `write` writes for the same record: formula starts neutralised, numbers as numbers, a CR quoted,
    lone surrogates (which UTF-8 cannot encode) replaced."""
    from addrcode.batch.io import RecordWriter

    columns = [f"c{i}" for i in range(len(cells))]
    written = []
    for by_position in (False, True):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = RecordWriter(out, "csv", columns, str)
        if by_position:
            writer.write_row(list(cells))
        else:
            writer.write(dict(zip(columns, cells)))
        writer.close()
        written.append(raw.getvalue())
    assert written[0] == written[1]
    assert len(list(csv.reader(io.StringIO(written[1].decode(), newline="")))) == 2


@settings(max_examples=300 if LONG else 60, deadline=None, derandomize=not LONG)
@given(rows=st.lists(st.lists(_ANY_CELL, min_size=3, max_size=3), min_size=1, max_size=6), flush_each=st.booleans())
@example(rows=[["a", 1, 0.5], ["x\ud800y", "=1", None], [" b", ["c", "=d"], 7]], flush_each=False)
@example(rows=[["a", 1, 0.5], ["a\rb", "=1", None]], flush_each=False)
def test_csv_chunks_are_written_as_their_records_are(rows, flush_each):
    """`RecordWriter.write_rows` (a chunk's rows in one call) writes the bytes `write` writes for the
    same records one by one, also when one row of the chunk has a CR or a lone surrogate."""
    from addrcode.batch.io import RecordWriter

    columns = ["c0", "c1", "c2"]
    written = []
    for as_chunk in (False, True):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = RecordWriter(out, "csv", columns, str, flush_each=flush_each)
        if as_chunk:
            writer.write_rows([list(r) for r in rows])
        else:
            for r in rows:
                writer.write(dict(zip(columns, r)))
        assert writer.count == len(rows)
        writer.close()
        written.append(raw.getvalue())
    assert written[0] == written[1]


def test_demo_keyring_is_announced_as_not_private(world):
    """The packaged keyring is public: every command that uses it says so on stderr / in its listing."""
    from addrcode.cli import cli

    result = CliRunner().invoke(cli, ["encode", "--reference", str(world.reference), "--zones", VT_ZONES, SENTINEL])
    assert result.exit_code == 0 and "DEMO keyring" in result.stderr and "NOT private" in result.stderr
    result = CliRunner().invoke(cli, ["key", "list"], env={"ADDRCODE_KEYRING": "", "ADDRCODE_CONFIG": ""})
    assert "DEMO" in result.stdout and "not private" in result.stdout
    result = CliRunner().invoke(cli, ["encode", "--reference", str(world.reference), "--zones", VT_ZONES, "--keyring",
                                      str(world.keyring_path), SENTINEL])
    assert result.exit_code == 0 and "DEMO" not in result.stderr


# --------------------------------------------------------------------------- table classes (issue 19)


def _attack_script():
    sys.path.insert(0, str(TESTS.parent / "scripts"))
    try:
        import attack_table_classes
    finally:
        sys.path.pop(0)
    return attack_table_classes


def _cli(*args):
    p = subprocess.run([sys.executable, "-m", "addrcode", *args], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


def _points_plus(dst: Path, offsets) -> Path:
    """tests/data/table_points.csv plus one new address per (dlon, dlat) offset from an existing point."""
    rows = list(csv.DictReader((DATA / "table_points.csv").open(newline="")))
    extra = [dict(rows[n % len(rows)], LON=f"{float(rows[n % len(rows)]['LON']) + dx:.7f}",
                  LAT=f"{float(rows[n % len(rows)]['LAT']) + dy:.7f}", NUMBER=str(8001 + 2 * n), STREET="NEW RD",
                  UNIT="", ID=f"new{n}", HASH=f"{n:016x}") for n, (dx, dy) in enumerate(offsets)]
    with dst.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + extra)
    return dst


@pytest.fixture(scope="module")
def class_world(tmp_path_factory):
    """Real CLI runs: a keyring, three references (the fixture, + 20 addresses inside populated blocks,
    + those and 20 in empty blocks 2-5 km away) and the full table of each."""
    root = tmp_path_factory.mktemp("classes")
    ring = root / "ring.json"
    _cli("key", "new", str(ring))
    inside = [(0.0003 * (n % 5 - 2), 0.0002 * (n // 5 - 2)) for n in range(20)]
    far = [(0.02 + 0.012 * (n % 5), -0.03 - 0.012 * (n // 5)) for n in range(20)]
    out = {"root": root, "ring": ring, "pub": root / "ring.json.pub"}
    for name, offsets in (("old", []), ("inside", inside), ("forty", inside + far)):
        ref = root / f"{name}.sqlite"
        _cli("reference", "build", str(_points_plus(root / f"{name}.csv", offsets)), "-o", str(ref))
        table = root / f"{name}-table.sqlite"
        _cli("table", "build", "-o", str(table), "--reference", str(ref), "--zones", VT_ZONES, "--keyring",
             str(ring), "-q")
        out[name] = (ref, table)
    return out


def test_class_recomputation_pins_no_code_of_a_built_table(class_world):
    """scripts/attack_table_classes.py on a CLI-built table: every class matches the public cover (the
    attacker learns the cover, nothing finer), 0 codes pinned, and a class under k is a whole zone part."""
    from addrcode.codes.keyring import load_keyring
    from addrcode.grid import Grid
    from addrcode.stations.build import build_table
    from addrcode.stations.cover import MIN_CLASS_SIZE
    from addrcode.zones import load_zones

    attack = _attack_script()
    ref, table = class_world["old"]
    zones, grid = load_zones(VT_ZONES), Grid()
    got = attack.class_attack(table, class_world["pub"], ref, zones, grid, MIN_CLASS_SIZE)
    assert got["codes"] > 0 and got["matched_cover_count"] == got["classes"]
    assert got["pinned_codes"] == 0 and got["classes_below_k_not_whole"] == []
    assert got["median_anonymity"] >= MIN_CLASS_SIZE
    # the same attack on the old row set (issuable cells only) matches every class's issuable count, and its
    # classes under k are not whole zone parts: they are the populated cells
    bare = class_world["root"] / "bare.sqlite"
    build_table(ref, zones, load_keyring(class_world["ring"]), grid, bare, cover=False)
    was = attack.class_attack(bare, class_world["pub"], ref, zones, grid, MIN_CLASS_SIZE)
    assert was["matched_issuable_count"] == was["classes"] and was["classes_below_k_not_whole"]


def test_two_tables_do_not_tell_new_addresses(class_world):
    """New addresses inside populated 1 km blocks add no row; 20 more in empty blocks add rows whose
    candidate sets (codes added in the same class and key) have a median >= k, none pinned, none removed."""
    from addrcode.stations.cover import MIN_CLASS_SIZE

    attack = _attack_script()
    old, pub = class_world["old"][1], class_world["pub"]
    inside = attack.diff_attack(old, class_world["inside"][1], pub)
    assert inside["added"] == inside["removed"] == 0 and inside["new_rows"] == inside["old_rows"]
    forty = attack.diff_attack(old, class_world["forty"][1], pub)
    assert forty["added"] > 0 and forty["removed"] == 0
    assert forty["median_candidates"] >= MIN_CLASS_SIZE and forty["pinned_added_codes"] == 0
    diff = _cli("table", "diff", str(old), str(class_world["forty"][1]), "--public-key", str(pub))
    assert f"added {forty['added']}, removed 0" in diff.stdout + diff.stderr

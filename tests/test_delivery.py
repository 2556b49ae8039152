"""The last mile (issue 20): delivery keys, sealed envelopes, sealed labels, `addrcode unseal` and its audit log."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _labelworld import shared_world  # noqa: E402

from addrcode.delivery import audit, envelope, keys  # noqa: E402
from addrcode.errors import KeyringError  # noqa: E402
from addrcode.zones import default_zones_path  # noqa: E402

ZONES = default_zones_path()
LONG_NOTE = ("leave it at the back door by the garage, ring twice and call on arrival; the dog is friendly; the side "
             "gate is open on weekdays; thank you very much for bringing it all the way up the hill")

DETAILS = envelope.DeliveryDetails("AATV4S8TE", "1033 Boudle Rd Apt 2, Bloomfield VT 05905", "Jane Q. Public",
                                   "+1 802-555-0142", "back door")


def addrcode(*args, input=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "addrcode", *map(str, args)], input=input, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.fixture
def essex(tmp_path):
    return keys.new_delivery_key(tmp_path / "essex.key", "SC-ESSEX")


# --------------------------------------------------------------------------- the primitives, against published vectors


def test_base45_matches_rfc_9285_examples():
    import base45

    for raw, text in ((b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0")):
        assert base45.b45encode(raw).decode() == text and base45.b45decode(text) == raw
    with pytest.raises(ValueError):
        base45.b45decode("GGW")  # 65536 and more is not a pair of bytes (RFC 9285 section 6)


def test_x25519_and_nacl_box_match_rfc_7748_and_the_nacl_vector():
    from nacl.bindings import crypto_box, crypto_scalarmult, crypto_scalarmult_base

    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob_pub = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    assert crypto_scalarmult_base(alice).hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert crypto_scalarmult(alice, bob_pub).hex() == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    nonce = bytes.fromhex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
    message = bytes.fromhex(
        "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c61296cdc3c"
        "01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde048977eb48f5"
        "9ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705")
    assert crypto_box(message, nonce, bob_pub, alice).hex() == (
        "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186ac0dfc1"
        "7c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae90224368517a"
        "cfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5")


def test_envelope_is_a_libsodium_sealed_box_as_documented(essex):
    """epk || crypto_box(padded details, nonce = BLAKE2b-192(epk || pk), esk, pk): opened here by hand."""
    import base45
    from nacl.bindings import crypto_box_open, sodium_unpad

    data = base45.b45decode(envelope.seal(DETAILS, essex.public))
    assert data[0] == envelope.VERSION and data[1:5] == essex.public.key_id
    epk, box = data[5:37], data[37:]
    nonce = hashlib.blake2b(epk + essex.public.key, digest_size=24).digest()
    padded = crypto_box_open(box, nonce, epk, essex.secret)
    assert len(padded) == 128 and envelope.DeliveryDetails.from_bytes(sodium_unpad(padded, 128)) == DETAILS


# --------------------------------------------------------------------------- keys


def test_delivery_key_files_are_private_and_checked(tmp_path, essex):
    path = tmp_path / "essex.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_secret_key(path).public == keys.load_public_key(keys.public_path(path)) == essex.public
    assert essex.secret.hex() not in repr(essex)
    with pytest.raises(KeyringError, match="never overwritten"):
        keys.new_delivery_key(path, "SC-ESSEX")
    path.chmod(0o640)
    with pytest.raises(KeyringError, match="chmod 600"):
        keys.load_secret_key(path)


@pytest.mark.parametrize("point", ["00" * 32, "01" + "00" * 31,
                                   "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"])
def test_small_order_public_keys_are_refused(tmp_path, point):
    path = tmp_path / "bad.pub"
    path.write_text(json.dumps({"format": keys.PUBLIC_FORMAT, "version": 1, "region": "SC-X", "public_key": point}))
    with pytest.raises(KeyringError, match="small-order"):
        keys.load_public_key(path)


def test_region_keys_folder_refuses_two_keys_for_one_region(tmp_path):
    folder = tmp_path / "pubs"
    folder.mkdir()
    for name in ("a", "b"):
        key = keys.new_delivery_key(tmp_path / f"{name}.key", "SC-ESSEX")
        keys.write_public_key(key.public, folder / f"{name}.pub")
    with pytest.raises(Exception, match="two public keys for delivery region SC-ESSEX"):
        keys.load_region_keys(folder)


# --------------------------------------------------------------------------- envelopes


def test_envelope_sizes_are_fixed_by_bucket_not_by_length(essex):
    lengths = {len(envelope.seal(envelope.DeliveryDetails("AATV4S8TE", "1 A St" + "x" * n), essex.public))
               for n in range(0, 100)}
    assert lengths == {envelope.text_length(envelope.envelope_bytes(128))}
    sizes = {len(envelope.seal(envelope.DeliveryDetails("C", "x" * n), essex.public)) for n in (150, 200, 240)}
    assert sizes == {envelope.text_length(envelope.envelope_bytes(b)) for b in (192, 256)}
    with pytest.raises(envelope.DetailsTooLong):
        envelope.seal(envelope.DeliveryDetails("C", "x" * 260), essex.public)


def test_envelope_opens_only_with_its_key_and_never_when_altered(tmp_path, essex):
    import base45

    other = keys.new_delivery_key(tmp_path / "other.key", "SC-ORLEANS")
    text = envelope.seal(DETAILS, essex.public)
    assert envelope.open_envelope(text, [other, essex]) == (DETAILS, essex)
    assert envelope.open_envelope(text.rstrip(" "), [essex])[0] == DETAILS  # a scanner dropped trailing spaces
    with pytest.raises(envelope.EnvelopeError) as info:
        envelope.open_envelope(text, [other])
    assert info.value.kind == "another region"
    raw = bytearray(base45.b45decode(text))
    refused = 0
    for pos in range(5, len(raw)):  # every byte after the header
        changed = bytearray(raw)
        changed[pos] ^= 0x41
        try:
            envelope.open_envelope(base45.b45encode(bytes(changed)).decode(), [essex])
        except envelope.EnvelopeError as exc:
            refused += exc.kind == "does not open"
    assert refused == len(raw) - 5
    assert DETAILS.address.encode() not in raw and b"Jane" not in raw


# --------------------------------------------------------------------------- audit log


def test_audit_log_is_private_chained_and_shows_edits(tmp_path):
    log = audit.AuditLog(tmp_path / "logs" / "audit.log", "SC-ESSEX")
    for n in range(3):
        log.append(code=f"CODE{n}", region="SC-ESSEX", operator="op1", result="ok")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert audit.check_log(log.path) == (3, None)
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(lines[0] + lines[2])  # one entry removed
    assert audit.check_log(log.path)[1] == 2
    log.path.write_bytes(lines[0] + lines[1].replace(b"op1", b"op2") + lines[2])  # one entry edited
    assert audit.check_log(log.path)[1] == 3


def test_audit_log_never_follows_a_planted_symlink(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    (tmp_path / "audit.log").symlink_to(target)
    with pytest.raises(Exception, match="not a link"):
        audit.AuditLog(tmp_path / "audit.log", "SC-ESSEX").append(code="C", region="R", operator="o", result="ok")
    assert target.read_text() == "keep me\n"


# --------------------------------------------------------------------------- through the command line


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """The label world's ~300 Vermont addresses encoded with --seal by the real CLI, one delivery key per
    sort center, with names, phones and notes; labels rendered as thermal PDF and A4 sheets."""
    world = shared_world(tmp_path_factory)
    root = tmp_path_factory.mktemp("sealed")
    (root / "pubs").mkdir()
    (root / "station").mkdir()
    centers = sorted({r["sort_center"] for r in world.records if r.get("status") == "ok"})
    for center in centers:
        key = keys.new_delivery_key(root / "station" / f"{center}.key", center)
        keys.write_public_key(key.public, root / "pubs" / f"{center}.pub")
    orders = root / "orders.csv"
    with open(orders, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["address", "name", "phone", "notes"])
        for i, rec in enumerate(world.records):
            unit = f" Apt {i % 7}" if i % 3 == 0 else ""
            writer.writerow([rec["address"].replace(",", unit + ",", 1), rec["name"], rec["phone"],
                             LONG_NOTE[: 40 + i % 130] if i % 10 == 0 else "leave with the neighbour" if i % 4 == 0
                             else ""])  # long notes: the 192 and 256 byte envelopes (QR versions 12-13)
    coded = root / "coded.csv"
    run = addrcode("encode", "-i", orders, "--reference", world.reference, "--zones", ZONES, "--seal",
                   "--delivery-keys", root / "pubs", "--name-column", "name", "--phone-column", "phone",
                   "--notes-column", "notes", "-o", coded, "-q")
    assert run.returncode in (0, 1), run.stderr
    with open(orders, newline="", encoding="utf-8") as fh:
        inputs = list(csv.DictReader(fh))
    with open(coded, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(inputs)
    for fmt, sheet in (("thermal.pdf", None), ("a4.pdf", "a4")):
        args = ["label", "-i", coded, "-o", root / fmt, "--name-column", "name"] + (["--sheet", sheet] if sheet else [])
        run = addrcode(*args)
        assert run.returncode == 0 and "QR version 10-13)" in run.stderr, run.stderr  # said, for the printer set-up
    return {"root": root, "rows": rows, "inputs": inputs, "centers": centers, "world": world}


def _unseal(sealed, *args, key=None):
    root = sealed["root"]
    held = [key] if key else [root / "station" / f"{c}.key" for c in sealed["centers"]]
    keys_args = [a for k in held for a in ("--key", k)]
    return addrcode("unseal", *keys_args, "--audit-log", root / "audit.log", "--operator", "op-7", "--format", "jsonl",
                    *args)


def _expected(sealed) -> dict:
    """code -> the delivery details sealed for it (the input row), for the rows encoded ok."""
    out = {}
    for row, given in zip(sealed["rows"], sealed["inputs"]):
        if row["addrcode_status"] == "ok":
            out.setdefault(row["addrcode_code"].replace("-", ""), []).append(
                {k: given[k] for k in ("address", "name", "phone", "notes")})
    return out


@pytest.mark.parametrize("pdf", ["thermal.pdf", "a4.pdf"])
def test_every_sealed_label_scans_back_and_unseals_to_exactly_its_details(sealed, pdf):
    root, expected = sealed["root"], _expected(sealed)
    assert sum(map(len, expected.values())) >= 250
    before = (root / "audit.log").read_bytes().count(b"\n") if (root / "audit.log").exists() else 0
    run = _unseal(sealed, "--image", "--dpi", "203", root / pdf)  # a 203 dpi thermal printer's dots
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(records) == sum(map(len, expected.values()))  # every label read back, code + envelope
    sizes = {len(r["addrcode_sealed"].lstrip("'")) for r in sealed["rows"] if r["addrcode_status"] == "ok"}
    assert len(sizes) == 3  # all three envelope sizes among them
    for rec in records:
        assert rec["status"] == "ok"
        assert {k: rec[k] for k in ("address", "name", "phone", "notes")} in expected[rec["code"]]
    log = (root / "audit.log").read_text()
    assert log.count("\n") - before == len(records)  # one line per unseal
    assert audit.check_log(root / "audit.log")[1] is None
    for given in sealed["inputs"]:  # no address, name or phone in the log (one-letter names say nothing)
        assert given["address"] not in log and (len(given["name"]) < 3 or given["name"] not in log)
        assert not given["phone"] or given["phone"] not in log


def test_no_label_unseals_with_another_regions_key(sealed):
    root = sealed["root"]
    center = sealed["centers"][0]
    run = _unseal(sealed, "--image", root / "thermal.pdf", key=root / "station" / f"{center}.key")
    records = [json.loads(line) for line in run.stdout.splitlines()]
    ours = [r for r in records if r["status"] == "ok"]
    others = [r for r in records if r["status"] != "ok"]
    assert run.returncode == 3 and others and all("another delivery region" in r["reason"] for r in others)
    assert all(r["region"] == center for r in ours)
    assert all("address" not in r for r in others)


def test_unseal_refuses_a_tampered_or_swapped_envelope_with_exit_3(sealed):
    rows = [r for r in sealed["rows"] if r["addrcode_status"] == "ok"]
    a, b = rows[0], next(r for r in rows[1:] if r["addrcode_sort_center"] == rows[0]["addrcode_sort_center"])
    code = a["addrcode_code"].replace("-", "")
    envelope_text = a["addrcode_sealed"].lstrip("'")
    tampered = envelope_text[:40] + ("A" if envelope_text[40] != "A" else "B") + envelope_text[41:]
    for payload, says in ((f"{code}.{tampered}", "does not open"),
                          (f"{code}.{b['addrcode_sealed'].lstrip(chr(39))}", "another label"),
                          (code, "no sealed envelope")):
        run = _unseal(sealed, payload)
        assert run.returncode == 3, (says, run.stdout, run.stderr)
        assert says in run.stdout and "address" not in json.loads(run.stdout)
    assert _unseal(sealed, f"{code}.{envelope_text}").returncode == 0


def test_sorting_commands_read_the_code_alone_and_show_no_details(sealed):
    root, world = sealed["root"], sealed["world"]
    scan = addrcode("scan", root / "thermal.pdf", "--table", world.table, "--public-key", world.public_key,
                    "--format", "jsonl")
    records = [json.loads(line) for line in scan.stdout.splitlines()]
    assert records and all(r["status"] == "ok" for r in records), scan.stderr[-500:]
    row = next(r for r in sealed["rows"] if r["addrcode_status"] == "ok")
    payload = row["addrcode_code"].replace("-", "") + "." + row["addrcode_sealed"].lstrip("'")
    resolve = addrcode("resolve", "--table", world.table, "--public-key", world.public_key, payload)
    assert resolve.returncode == 0 and row["addrcode_zone"] in resolve.stdout
    for given in sealed["inputs"]:
        for out in (scan.stdout + scan.stderr, resolve.stdout + resolve.stderr):
            assert given["address"] not in out and (len(given["name"]) < 3 or given["name"] not in out)


def test_label_files_hold_no_address_or_name_text(sealed):
    """The PDF text layer of sealed labels (what a copy-paste or a text search gets): code, sort center,
    masked recipient; never the street, the full name or the phone."""
    pdfium = pytest.importorskip("pypdfium2")
    doc = pdfium.PdfDocument(str(sealed["root"] / "thermal.pdf"))
    text = "\n".join(doc[i].get_textpage().get_text_range() for i in range(40))
    assert "SORT CENTER" in text and "***" in text
    for given in [g for r, g in zip(sealed["rows"], sealed["inputs"]) if r["addrcode_status"] == "ok"][:40]:
        assert given["address"].split(",")[0] not in text
        assert len(given["name"]) < 3 or given["name"] not in text
        assert not given["phone"] or given["phone"] not in text


def test_encode_seal_needs_the_keys_and_refuses_rows_of_regions_without_one(tmp_path, sealed):
    world = sealed["world"]
    run = addrcode("encode", "--reference", world.reference, "--zones", ZONES, "--seal", world.queries[0])
    assert run.returncode == 2 and "--delivery-keys" in run.stderr
    run = addrcode("encode", "-i", sealed["root"] / "orders.csv", "--reference", world.reference, "--zones", ZONES,
                   "--name-column", "name")
    assert run.returncode == 2 and "--seal" in run.stderr
    pubs = tmp_path / "one"
    pubs.mkdir()
    key = keys.new_delivery_key(tmp_path / "k.key", "SC-ESSEX")
    keys.write_public_key(key.public, pubs / "essex.pub")
    run = addrcode("encode", "--reference", world.reference, "--zones", ZONES, "--seal", "--delivery-keys", pubs,
                   "--format", "jsonl",
                   *world.queries[:40])
    out = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(out) == 40
    assert all(bool(r["sealed"]) == (r["sort_center"] == "SC-ESSEX") for r in out if r["status"] == "ok")
    assert any("no delivery key for region" in r["reason"] for r in out)


def test_engine_path_seals_the_same_way(sealed):
    pd = pytest.importorskip("pandas")
    from addrcode.batch.engines import process_frame
    from addrcode.config import Config

    world, root = sealed["world"], sealed["root"]
    config = Config(reference=world.reference, zones=ZONES, delivery_keys=root / "pubs")
    df = pd.DataFrame({"address": world.queries[:20], "who": ["A Person"] * 20})
    with pytest.warns(Warning, match="DEMO keyring"):  # the label world's codes are the demo keyring's
        out = process_frame(df, config=config, details={"name": "who"}, seal=True, demo=True)
    ok = out[out["addrcode_status"] == "ok"]
    assert len(ok) and ok["addrcode_sealed"].str.len().min() > 200
    station = [keys.load_secret_key(root / "station" / f"{c}.key") for c in sealed["centers"]]
    opened = envelope.open_envelope(ok["addrcode_sealed"].iloc[0], station)[0]
    assert opened.name == "A Person" and opened.code == ok["addrcode_code"].iloc[0].replace("-", "")


def test_key_new_delivery_through_the_cli(tmp_path):
    run = addrcode("key", "new", "--delivery", "SC-ESSEX", tmp_path / "new" / "essex.key")
    assert run.returncode == 0, run.stderr
    secret = json.loads((tmp_path / "new" / "essex.key").read_text())["secret_key"]
    assert secret not in run.stdout + run.stderr and "fingerprint" in run.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "essex.key").st_mode) == 0o600
    assert addrcode("key", "new", "--delivery", "bad region!", tmp_path / "x.key").returncode == 2

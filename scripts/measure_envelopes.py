"""How big sealed envelopes and their QR codes are, for the addresses of the embedded Vermont data.

    python scripts/measure_envelopes.py [--sample 20000] [--seed 3]

Each sampled E911 point becomes the address line a shipper would send (number, street, unit when the
point has one, town, state, ZIP), with a synthetic recipient (name of 2-4 words, 8-28 characters,
seeded), a US phone number and, for 1 row in 5, a delivery note of 10-60 characters. The details are
sealed with the real `addrcode.delivery.envelope.seal` to a fresh key; printed: the share of parcels
per padding bucket (the only thing an envelope's length says), and the QR version of `CODE.ENVELOPE`
at level M, as `addrcode label` prints it. No address is printed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
WORDS = ["Ann", "Bo", "Christopher", "Dana", "Elizabeth", "Fitzgerald", "Garcia", "Hernandez", "Ito", "Jo",
         "Kowalczyk", "Lee", "Montgomery", "Nguyen", "O'Brien", "Papadopoulos", "Quinn", "Rodriguez-Smith"]
NOTES = "leave at the back door, ring twice, dog is friendly, call on arrival, side entrance by the garage"


def main(argv=None) -> int:
    import segno

    from addrcode.codes.payload import join_sealed
    from addrcode.delivery import envelope, keys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with gzip.open(SOURCE, "rt", newline="", encoding="utf-8") as fh:
        points = [r for r in csv.DictReader(fh) if r["NUMBER"] and r["STREET"]]
    sample = rng.sample(points, min(args.sample, len(points)))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        key = keys.new_delivery_key(Path(tmp) / "k.key", "SC-TEST").public
    buckets, versions, too_long, plain = Counter(), Counter(), 0, []
    for p in sample:
        unit = f" {p['UNIT']}" if p["UNIT"] else ""
        address = f"{p['NUMBER']} {p['STREET']}{unit}, {p['CITY']}, VT {p['POSTCODE']}"
        name = " ".join(rng.choice(WORDS) for _ in range(rng.choice((2, 2, 2, 3, 4))))[:28]
        note = NOTES[: rng.randint(10, 60)] if rng.random() < 0.2 else ""
        details = envelope.DeliveryDetails("A6RV8RBX5", address, name, f"+1 802-555-{rng.randint(0, 9999):04d}", note)
        plain.append(len(details.to_bytes()))
        try:
            text = envelope.seal(details, key)
        except envelope.DetailsTooLong:
            too_long += 1
            continue
        size = len(text)
        bucket = next(b for b in envelope.BUCKETS if envelope.text_length(envelope.envelope_bytes(b)) == size)
        buckets[bucket] += 1
    for b in envelope.BUCKETS:  # the version depends on the bucket only: one envelope of each size
        text = envelope.seal(envelope.DeliveryDetails("A6RV8RBX5", "x" * (b - 14)), key)
        versions[(b, segno.make(join_sealed("A6RV8RBX5", text), error="m", boost_error=False).version)] += 1
    n = len(sample)
    plain.sort()
    print(f"{n:,} parcels; details {plain[0]}-{plain[-1]} bytes, median {plain[n // 2]}, 99th percentile "
          f"{plain[int(n * 0.99)]}; too long to seal: {too_long}")
    print("| padded to | envelope bytes | base45 chars | QR version (level M) | parcels |")
    print("|---:|---:|---:|---|---:|")
    for b in envelope.BUCKETS:
        vs = sorted({v for (bb, v) in versions if bb == b})
        print(f"| {b} | {envelope.envelope_bytes(b)} | {envelope.text_length(envelope.envelope_bytes(b))} | "
              f"{', '.join(map(str, vs)) or '-'} | {buckets[b] / n:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much the masks on labels and in run reports single out, measured on the public reference.

    python scripts/measure_masks.py [--cache-dir DIR] [--seed 20] [--json figures.json]

Every point of the embedded Vermont reference (`default_reference`, 248k E911 address points, public
data) stands for one household. An attacker holds the public reference (and, for labels, a directory
of every household's name and phone: a phone book, a data broker) and sees one masked entry; the
entry's *anonymity set* is the number of reference households that would give exactly the same
entry. An entry is *singled out* when that set is 1.

Run report (`addrcode report`, `encode --report`): an example is what `ReportBuilder._example` puts on
the page for a refused row whose input and matched reference address are the household's reference
address. What an attacker can compute for each household is the example minus what the run (not the
address) decides: row number, reason, precision, score, and the keyed row hash, which needs the key
(random per report unless the user gives one). Measured for the default (nothing of the address),
and for comparison the masks of earlier versions (first character + length of every word) and a
fixed-length version of them (first character + `***`), and a bare SHA-256 of the address.

Labels (`addrcode label`): a label prints the routing prefix (the code's 100 km district) and the
sort center of the zone of the address's cell, the route (the town, default zones) only with
`--show-route`, the masked name and phone. The reference holds no names or phones, so each household
gets a synthetic one, drawn with a fixed seed: a name *shape* from `NAME_SHAPES` (two words, a middle
name or initial, a single-letter given name, a hyphenated family name) with initials drawn from
`GIVEN_INITIALS` / `FAMILY_INITIALS` (approximate shares of first letters of US given names and
surnames, rounded; an assumption of this script, not data of the repository: the effective number of
distinct initials is printed so the figures can be rescaled), and the phone's last digits uniform.
The names are put through the real `mask_name`, the phones through `mask_phone`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import sqlite3
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from addrcode.outputs.mask import mask_name, mask_phone  # noqa: E402
from addrcode.outputs.report import ReportBuilder  # noqa: E402

# (shape, share): G given name, M middle name, I a one-letter word, F family name, F-F hyphenated
NAME_SHAPES = (("G F", 0.80), ("G M F", 0.07), ("G I F", 0.05), ("I F", 0.02), ("G F-F", 0.04), ("G", 0.02))
GIVEN_INITIALS = dict(J=12.5, M=10.0, A=8.0, D=7.0, C=7.0, S=6.5, R=6.0, K=5.0, L=5.0, B=4.5, T=4.0, E=4.0,
                      G=3.0, P=2.5, N=2.5, H=2.5, W=2.0, F=1.5, V=1.5, I=1.0, O=0.5, Z=0.5, Y=0.3,
                      Q=0.1, U=0.1, X=0.1)
FAMILY_INITIALS = dict(S=10.0, M=9.6, B=8.9, C=7.6, H=7.0, W=5.5, R=5.3, G=5.3, P=4.9, L=4.9, D=4.7, K=3.9,
                       T=3.7, F=3.6, A=3.3, J=2.8, N=1.9, E=1.8, V=1.6, O=1.4, Y=0.6, Z=0.5, I=0.4, Q=0.2,
                       U=0.2, X=0.05)
PHONE_DIGITS = (0, 2, 4)


def legacy_mask(text: str) -> str:
    """The report's mask before: first character of each word, the length of the rest."""
    return re.sub(r"\w+", lambda m: m.group()[0] + "*" * (len(m.group()) - 1), text)


def fixed_mask(text: str) -> str:
    """The same, at a fixed length: first character of each word and `***`."""
    return re.sub(r"\w+", lambda m: m.group()[0] + "***", text)


def reference_rows(ref: Path):
    """(label, lon, lat, town) of every reference point, the label as the geocoder writes `matched`."""
    db = sqlite3.connect(f"file:{ref}?mode=ro", uri=True)
    sql = ("SELECT p.number, s.name, c.name, c.state, p.postcode, p.lon, p.lat FROM points p "
           "JOIN streets s ON s.id = p.street_id JOIN cities c ON c.id = s.city_id")
    for number, street, town, state, postcode, lon, lat in db.execute(sql):
        yield f"{number} {street}, {town}, {state} {postcode}".rstrip(), lon, lat, town


def anonymity(forms: list) -> dict:
    """Anonymity-set figures of a list of entries, one per household."""
    size = Counter(forms)
    k = sorted(size[f] for f in forms)
    n = len(k)
    return {"households": n, "classes": len(size), "singled_out_pct": round(100 * sum(1 for v in k if v == 1) / n, 2),
            "k_lt5_pct": round(100 * sum(1 for v in k if v < 5) / n, 2),
            "k_lt20_pct": round(100 * sum(1 for v in k if v < 20) / n, 2),
            "median_k": statistics.median(k), "p5_k": k[n // 20]}


def report_figures(labels: list[str]) -> dict:
    builder = ReportBuilder([])  # no zones needed for examples
    keyed = ReportBuilder([], row_hash=True)
    run_fields = ("row", "reason", "precision", "score", "hash")  # decided by the run or needing the key

    def attacker_view(b, label):
        ex = b._example({"address": label, "matched": label, "reason": "no match", "precision": "none", "score": "0"})
        return tuple(sorted((k, v) for k, v in ex.items() if k not in run_fields))

    return {
        "default (row number, reason)": anonymity([attacker_view(builder, s) for s in labels]),
        "--row-hash, without the key": anonymity([attacker_view(keyed, s) for s in labels]),
        "earlier mask (initial + length, input and matched)": anonymity([legacy_mask(s) for s in labels]),
        "fixed-length mask (initial + ***)": anonymity([fixed_mask(s) for s in labels]),
        "bare SHA-256 of the address (not used)": anonymity([hashlib.sha256(s.encode()).hexdigest() for s in labels]),
    }


def _draw(rng: random.Random, shares: dict) -> str:
    letters = [k for k, v in shares.items() if v > 0]
    return rng.choices(letters, weights=[shares[k] for k in letters])[0]


def synthetic_name(rng: random.Random) -> str:
    shape = rng.choices([s for s, _ in NAME_SHAPES], weights=[w for _, w in NAME_SHAPES])[0]
    words = []
    for part in shape.split():
        if part == "I":
            words.append(_draw(rng, GIVEN_INITIALS))
        elif part in ("G", "M"):
            words.append(_draw(rng, GIVEN_INITIALS) + "ohn")
        else:
            words.append("-".join(_draw(rng, FAMILY_INITIALS) + "mith" for _ in part.split("-")))
    return " ".join(words)


def label_figures(rows, seed: int) -> dict:
    import numpy as np

    from addrcode.codes.scheme import _int_to_b32
    from addrcode.grid import Grid
    from addrcode.zones import default_zones_path, load_zones

    lon = np.array([r[1] for r in rows])
    lat = np.array([r[2] for r in rows])
    grid = Grid()
    district, index, valid = grid.cells(lon, lat)
    clon, clat = grid.center(np.where(valid, district, 0), np.where(valid, index, 0))
    zones = load_zones(default_zones_path()).zones_at(clon, clat)  # the zone of the cell, as codes use
    rng = random.Random(seed)
    households = []
    for ok, d, zone in zip(valid.tolist(), district.tolist(), zones):
        if not ok or zone is None:
            continue  # no code, no label
        phone = "802-555-" + "".join(rng.choice("0123456789") for _ in range(4))
        households.append((_int_to_b32(d, 3), zone.sort_center, zone.route, mask_name(synthetic_name(rng)), phone))
    phones = {k: [mask_phone(h[4], k) for h in households] for k in PHONE_DIGITS}
    out = {}
    printed = {"prefix only (--no-routing)": lambda h: (h[0],),
               "prefix + sort center (default)": lambda h: (h[0], h[1]),
               "prefix + sort center + route (--show-route)": lambda h: (h[0], h[1], h[2])}
    names = {"no name": lambda h: (), "family initial only": lambda h: (h[3].split()[-1],),
             "masked name": lambda h: (h[3],)}
    for where, fields in printed.items():
        for name, shown in names.items():
            for k in PHONE_DIGITS:
                out[f"{where}; {name}; {k} phone digits"] = anonymity(
                    [fields(h) + shown(h) + (phones[k][i],) for i, h in enumerate(households)])
    out["issue 20 baseline: route + last 4 digits only"] = anonymity([(h[2], phones[4][i])
                                                                     for i, h in enumerate(households)])
    shapes = Counter(re.sub(r"[^* ]", "X", h[3]) for h in households)
    out["masked name shapes"] = {s: round(100 * n / len(households), 2) for s, n in shapes.most_common()}
    pairs = Counter(h[3] for h in households)
    collide = sum(v * v for v in pairs.values()) / len(households) ** 2
    out["effective distinct masked names (1 / sum p^2)"] = round(1 / collide)
    return out


def main(argv=None) -> int:
    from addrcode.config import Config
    from addrcode.geocoding.default import default_reference

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=None, help="where the built reference is (default: addrcode's)")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    t0 = time.time()
    ref = default_reference(args.cache_dir or Config().cache(), notify=lambda m: print(m, file=sys.stderr))
    rows = list(reference_rows(ref))
    figures = {"command": "python scripts/measure_masks.py" + (f" --seed {args.seed}" if args.seed != 20 else ""),
               "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {platform.system()} "
               f"{platform.python_implementation()} {platform.python_version()}", "reference_points": len(rows),
               "report": report_figures([r[0] for r in rows]), "label": label_figures(rows, args.seed)}
    figures["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(figures, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the real-data parse-accuracy set `tests/data/normalize_parse_testset.csv`.

Vermont E911 address points (../shared/data/vt-e911) carry a gold split: NUMBER, STREET, CITY,
POSTCODE. Each sampled row is written the way people write addresses (USPS caps with commas; title
case with `Street`/`North` spelled out; lower case without punctuation; state name spelled out;
ZIP+4; units; `c/o` and company names; highway variants such as `VT-12A` / `Vt Rte 12A`), and the
gold components are stored next to the text. Seeded, so re-running gives the same file.

    python scripts/make_parse_testset.py [--rows 3000] [--seed 3] [--src PATH] [-o PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT.parent / "shared" / "data" / "vt-e911" / "vt_e911_addresses_oa.csv.gz"
DEFAULT_OUT = ROOT / "tests" / "data" / "normalize_parse_testset.csv"

STYLES = ("usps", "title", "lower", "state_name", "zip4", "unit", "recipient", "periods", "mixed_commas", "highway",
          "messy")
NAMES = ["Jane Doe", "John Smith", "Acme Corp", "Green Mountain Coffee", "Dr. Maria Lopez", "Shipping Dept",
         "Bob's Garage LLC", "Anna-Lena Meyer", "The Hartley Family", "Mike O'Brien"]
UNITS = [("Apt {}", "APT"), ("# {}", "#"), ("Unit {}", "UNIT"), ("Ste {}", "STE"), ("Suite {}", "STE"),
         ("Apt. {}", "APT"), ("Fl {}", "FL"), ("Bldg {}", "BLDG"), ("Rm {}", "RM"), ("#{}", "#"),
         ("Apartment {}", "APT"), ("Lot {}", "LOT")]
ORD = {1: "1st", 2: "2nd", 3: "3rd"}


def _tables():
    import sys

    sys.path.insert(0, str(ROOT))
    from addrcode.normalize.tables import default_tables_dir

    base = default_tables_dir() / "usps-pub28"
    full_suffix = {}
    with open(base / "usps_street_suffixes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            full_suffix.setdefault(row["suf.output"].upper(), row["suf.type"])
    full_dir = {"N": "North", "S": "South", "E": "East", "W": "West", "NE": "Northeast", "NW": "Northwest",
                "SE": "Southeast", "SW": "Southwest"}
    return full_suffix, full_dir


def _title_street(street: str, full_suffix: dict, full_dir: dict) -> str:
    """`N MAIN ST` -> `North Main Street`; highways keep their numbers."""
    words = street.split()
    out = []
    for k, w in enumerate(words):
        last = k == len(words) - 1
        if last and w in full_suffix and k > 0:
            out.append(full_suffix[w])
        elif w in full_dir and len(words) > 2 and (k == 0 or (last and words[k - 1] in full_suffix)):
            out.append(full_dir[w])
        elif w in ("VT", "US"):
            out.append(w)
        else:
            out.append(w.capitalize() if not w[0].isdigit() else w.lower())
    return " ".join(out)


def _highway_variant(street: str, rng: random.Random) -> str:
    m = re.match(r"(VT|US) ROUTE (\w+)(.*)$", street)
    if not m:
        return street.title()
    kind, num, rest = m.groups()
    if kind == "VT":
        form = rng.choice(["VT-{}", "Vt Rte {}", "VT Route {}", "State Route {}", "Vermont Route {}", "VT {}",
                           "State Hwy {}"])
    else:
        form = rng.choice(["US {}", "US Hwy {}", "U.S. Route {}", "US-{}", "US Rte {}", "U.S. Highway {}"])
    return form.format(num) + rest.title()


def build(src: Path, rows: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    with gzip.open(src, "rt", newline="", encoding="utf-8") as fh:
        data = list(csv.DictReader(fh))
    full_suffix, full_dir = _tables()
    highway_rows = [r for r in data if re.match(r"(VT|US) ROUTE \w+", r["STREET"])]
    out = []
    for i in range(rows):
        style = STYLES[i % len(STYLES)]
        r = rng.choice(highway_rows if style == "highway" else data)
        num, street, city, zipc = r["NUMBER"], r["STREET"], r["CITY"], r["POSTCODE"]
        gold = {"number": num, "street": street, "unit_type": "", "unit_id": "", "city": city, "state": "VT",
                "postcode": zipc, "zip4": ""}
        if style == "usps":
            text = f"{num} {street}, {city}, VT {zipc}"
        elif style == "title":
            state = rng.choice(['VT', 'Vt', 'Vt.'])
            text = f"{num} {_title_street(street, full_suffix, full_dir)}, {city.title()}, {state} {zipc}"
        elif style == "lower":
            text = f"{num} {street} {city} vt {zipc}".lower()
        elif style == "state_name":
            text = f"{num} {street.title()}, {city.title()}, Vermont {zipc}"
        elif style == "zip4":
            z4 = f"{rng.randrange(10000):04d}"
            gold["zip4"] = z4
            text = f"{num} {street}, {city} VT {zipc}-{z4}"
        elif style == "unit":
            form, utype = rng.choice(UNITS)
            uid = rng.choice([str(rng.randint(1, 40)), rng.choice("ABCDEF"), f"{rng.randint(1, 3)}{rng.choice('AB')}"])
            if utype == "FL":
                uid = str(rng.randint(1, 3))
                if rng.random() < 0.5:
                    form = ORD[int(uid)] + " Floor"
                    uid_text = ""
                else:
                    uid_text = uid
            else:
                uid_text = uid
            unit_text = form.format(uid_text) if "{}" in form else form
            gold["unit_type"], gold["unit_id"] = utype, uid
            sep = rng.choice([" ", ", "])
            text = f"{num} {_title_street(street, full_suffix, full_dir)}{sep}{unit_text}, {city.title()}, VT {zipc}"
        elif style == "recipient":
            name = rng.choice(NAMES)
            lead = rng.choice([f"c/o {name}, ", f"C/O {name} ", f"ATTN: {name}, ", f"Attn {name} ", f"{name}, ",
                               f"{name} "])
            text = f"{lead}{num} {street.title()}, {city.title()}, VT {zipc}"
        elif style == "periods":
            st = re.sub(r"\b(ST|RD|AVE|LN|DR|CT|CIR|PL|TER|N|S|E|W)\b", lambda m: m.group().title() + ".", street)
            text = f"{num} {st}, {city.title()}, Vt. {zipc}"
        elif style == "mixed_commas":
            text = f"{num} {street.title()} {city.title()}, VT {zipc}"
        elif style == "highway":
            text = f"{num} {_highway_variant(street, rng)}, {city.title()}, VT {zipc}"
        else:  # messy: what a web form or a spreadsheet export gives
            st = _title_street(street, full_suffix, full_dir) if rng.random() < 0.5 else street.lower()
            parts = [f"{num} {st}"]
            if rng.random() < 0.3:
                form, utype = rng.choice([("Apt {}", "APT"), ("#{}", "#"), ("Unit {}", "UNIT")])
                uid = str(rng.randint(1, 20))
                gold["unit_type"], gold["unit_id"] = utype, uid
                parts.append(form.format(uid))
            sep = rng.choice(["  ", " ", ", ", " ,", "\n"])
            state = rng.choice(["VT", "vt", "Vt.", "Vermont", "VERMONT"])
            zpart = zipc if rng.random() < 0.7 else zipc.lstrip("0")  # spreadsheets eat leading zeros
            tail = rng.choice(["", "", ", USA", " United States", " (802) 555-0147"])
            text = sep.join(parts + [city.title() if rng.random() < 0.5 else city]) + f" {state} {zpart}{tail}"
        out.append({"style": style, "text": text, **gold})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3300)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    rows = build(args.src, args.rows, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

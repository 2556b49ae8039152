"""Loading the abbreviation tables shipped in `data/abbreviations/`.

Tables are read once per process and per folder (they are small: a few hundred rows) and returned
as plain dicts/sets, so the parser's hot loop only does dictionary look-ups.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from addrcode.errors import DataError


def default_tables_dir() -> Path:
    """The `data/abbreviations` folder of the installed package (or of the source tree)."""
    from addrcode.packaged import ABBREVIATIONS, data_path

    return data_path(ABBREVIATIONS)


# Suffix spellings that, when written, reliably end a street name even without a comma after them
# ("12 Main St Hyde Park"). Words like PARK, HILL or FALLS are suffixes too but also begin or end town
# names, so they only mark the end of a street when nothing stronger is found.
_STRONG_SUFFIXES = frozenset(
    "ST AVE RD LN DR CT CIR PL TER BLVD WAY HWY PKWY TRL EXT TPKE ALY CSWY EXPY FWY LOOP PATH ROW WALK".split()
)


@dataclass(frozen=True, eq=False)  # hashed by identity: used as a cache key
class USTables:
    """Look-up tables of the US locale (all keys and values upper case)."""

    suffixes: dict  # any spelling -> Pub 28 C1 abbreviation ("STREET" -> "ST")
    strong_suffixes: frozenset  # spellings that end a street name by themselves
    directionals: dict  # "NORTH" / "N" / "NORTHEAST" -> "N" / "NE"
    states: dict  # "VERMONT" / "VT" -> "VT" (multi-word names space-joined)
    state_max_words: int
    state_lengths: dict  # last word of a state name -> word counts of the names ending in it, longest first
    units: dict  # spelling -> (designator, needs_id, early)


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(
            f"cannot read abbreviation table {path}: {exc.strerror}; reinstall addrcode or restore data/abbreviations"
        ) from None


@functools.lru_cache(maxsize=8)
def load_us_tables(folder: str | None = None) -> USTables:
    """Read the US tables from `folder` (default: the shipped `data/abbreviations`)."""
    base = Path(folder) if folder else default_tables_dir()
    pub28 = base / "usps-pub28"
    suffixes: dict[str, str] = {}
    strong = set()
    for row in _read_csv(pub28 / "usps_street_suffixes.csv"):
        full = row["suf.type"].upper()
        spelling = row["suf.input"].upper()
        abbr = row["suf.output"].upper()
        suffixes[spelling] = abbr
        suffixes[full] = abbr
        suffixes[abbr] = abbr
        # A written abbreviation ("HL", "MDW", "HTS") is never a town word: it ends the street.
        if abbr in _STRONG_SUFFIXES:
            strong.update((spelling, full, abbr))
        elif spelling == abbr and spelling != full:
            strong.add(spelling)
    for spelling in ("EXTENSION", "EXTN", "EXTD"):
        suffixes.setdefault(spelling, "EXT")
        strong.add(spelling)
    directionals: dict[str, str] = {}
    for row in _read_csv(pub28 / "usps_directionals.csv"):
        spelling = row["dir.input"].upper()
        directionals[spelling] = row["dir.output"].upper()
    states: dict[str, str] = {}
    max_words = 1
    for row in _read_csv(pub28 / "usps_states.csv"):
        name = " ".join(row["state.input"].upper().replace(",", " ").split())
        states[name] = row["state.output"].upper()
        max_words = max(max_words, len(name.split()))
    lengths: dict[str, set] = {}
    for name in states:
        words = name.split()
        lengths.setdefault(words[-1], set()).add(len(words))
    state_lengths = {w: tuple(sorted(ks, reverse=True)) for w, ks in lengths.items()}
    units: dict[str, tuple[str, bool, bool]] = {}
    for row in _read_csv(pub28 / "units.csv"):
        entry = (row["designator"], row["needs_id"] == "1", row["early"] == "1")
        for spelling in row["inputs"].split("|"):
            units[spelling.strip().upper()] = entry
    return USTables(
        suffixes=suffixes,
        strong_suffixes=frozenset(strong),
        directionals=directionals,
        states=states,
        state_max_words=max_words,
        state_lengths=state_lengths,
        units=units,
    )

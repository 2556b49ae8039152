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
    designations: dict  # highway designation spelling as a token tuple -> (canonical designation, kind)
    designation_lengths: dict  # first token of a designation spelling -> its token counts, longest first
    route_words: dict  # state code -> the word its address authority writes numbered highways with
    pretypes: frozenset  # street types written before the name (`AVENUE C`, `CALLE SOL`)
    state_first: dict  # first word of a state name or code -> word counts of the names starting with it
    highway_starts: frozenset  # tokens a numbered highway can start with (designations, state names)
    highway_alone: frozenset  # those that are a whole designation or state by themselves (`US`, `CR`, `VT`)
    highway_next: dict  # start token -> the words that continue a longer spelling (`FARM` -> `TO`)
    qualifiers: dict  # route qualifier after the number -> its form (`BUSINESS` -> `BUS`)
    route_word_forms: dict  # one-word highway / route designation -> its form (`HIGHWAY` -> `HWY`, `RTE` -> `ROUTE`)


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
    forms = base / "street-forms"
    designations, designation_lengths = _designations(forms / "designations.csv")
    firsts: dict[str, set] = {}
    for name in states:
        firsts.setdefault(name.split()[0], set()).add(len(name.split()))
    state_first = {w: tuple(sorted(ks, reverse=True)) for w, ks in firsts.items()}
    return USTables(
        suffixes=suffixes,
        strong_suffixes=frozenset(strong),
        directionals=directionals,
        states=states,
        state_max_words=max_words,
        state_lengths=state_lengths,
        units=units,
        designations=designations,
        designation_lengths=designation_lengths,
        route_words={r["state"].upper(): r["word"].upper() for r in _read_csv(forms / "state_route_words.csv")},
        pretypes=frozenset(r["word"].upper() for r in _read_csv(forms / "street_pretypes.csv")),
        state_first=state_first,
        highway_starts=frozenset(designation_lengths) | frozenset(state_first),
        highway_alone=frozenset(k[0] for k in designations if len(k) == 1) | {n for n in states if " " not in n},
        highway_next=_highway_next(designations, states),
        qualifiers={k[0]: d for k, (d, kind) in designations.items() if kind == "qualifier" and len(k) == 1},
        route_word_forms={k[0]: d for k, (d, kind) in designations.items() if kind in ("highway", "route")
                          and len(k) == 1},
    )


def _highway_next(designations: dict, states: dict) -> dict:
    """First word of a designation or state name -> the second words of its longer spellings; a state
    name or code may also be followed by a route word (`VT RTE 12A`, `NORTH CAROLINA HWY 107`)."""
    words = {k[0] for k, (_d, kind) in designations.items() if kind in ("highway", "route") and len(k) == 1}
    # (the same words as `route_word_forms`)
    out: dict[str, set] = {}
    for k in designations:
        if len(k) > 1:
            out.setdefault(k[0], set()).add(k[1])
    for name in states:
        parts = name.split()
        out.setdefault(parts[0], set()).update([parts[1]] if len(parts) > 1 else words)
    return {w: frozenset(ws) for w, ws in out.items()}


def _designations(path: Path) -> tuple[dict, dict]:
    """Highway designations (`data/abbreviations/street-forms/designations.csv`): spelling tokens ->
    (canonical designation, kind), and first token -> the spellings' token counts, longest first."""
    table: dict[tuple, tuple[str, str]] = {}
    lengths: dict[str, set] = {}
    for row in _read_csv(path):
        tokens = tuple(row["spelling"].upper().split())
        table[tokens] = (row["designation"].upper(), row["kind"])
        lengths.setdefault(tokens[0], set()).add(len(tokens))
    return table, {w: tuple(sorted(ks, reverse=True)) for w, ks in lengths.items()}

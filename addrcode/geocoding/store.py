"""The reference store: a reference's towns, streets, ZIPs and town keys, read through its indexes.

Everything is read from the on-disk SQLite reference, with bounded caches of per-town street lists
and per-street number lists (a street's points are one rowid range): memory does not grow with the
reference. Only the town keys are held whole (up to `max_city_list`).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.geocoding.keys import StreetKey, street_key_text
from addrcode.geocoding.reference import open_reference, unpack_forms, unpack_numbers
from addrcode.geocoding.rules import GeoRules, geo_rules


class BoundedCache(OrderedDict):
    """A bounded cache: at most `maxsize` entries (and, with `weight`, at most `maxweight` in
    total, e.g. points), the oldest loaded evicted first.

    First-in-first-out rather than strict LRU: a hit is one plain dict look-up (no reordering on
    the hot path), and an evicted hot entry only costs one reload. An OrderedDict, because taking
    the oldest entry of a plain dict (`next(iter(d))`) walks over every slot its earlier evictions
    emptied: a full cache then spent milliseconds per eviction.
    """

    def __init__(self, maxsize: int, weight=None, maxweight: int = 0):
        super().__init__()
        self.maxsize = maxsize
        self.weight, self.maxweight, self.total = weight, maxweight, 0

    def get_or(self, key, load):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = self[key] = load(key)
            if self.weight is not None:
                self.total += self.weight(value)
                while self.total > self.maxweight and len(self) > 1:
                    self.total -= self.weight(self.popitem(last=False)[1])
            if len(self) > self.maxsize:
                old = self.popitem(last=False)[1]
                if self.weight is not None:
                    self.total -= self.weight(old)
        return value


_MISSING = object()


def _street_points(street) -> int:
    return len(street.nums) + 1


def _form_count(forms: tuple) -> int:
    return len(forms[0]) + 1


NEIGHBOURS = 8  # points read each side of the second point asked of a long street (`Street.row`)


@dataclass(slots=True)
class Street:
    """One street of a town: the integer part of each of its points' numbers, sorted (bisection finds
    a number), and its points read one at a time as scoring settles on them."""

    sid: int
    city_id: int
    name: str
    core: str
    full: str
    lon: float
    lat: float
    p0: int  # point id of nums[0]: the street's points are ids p0 .. p0 + len(nums) - 1, in nums order
    nums: object  # array of ints, sorted
    key: StreetKey
    fetch: object  # (first point id, last point id) -> [(number, lon, lat, ref_id, postcode, unit)]
    tail: str = ""  # ", TOWN, ST" for labels, filled on first use
    _some: dict = field(default_factory=dict)  # the points read alone or as a run (`hold`, neighbours), by index
    _all: tuple | None = None  # every point by column (see `point_columns`), once the street is read whole
    _reads: int = 0  # reads into `_some` so far (see `row`)

    def row(self, j: int) -> tuple:
        """(number, num, lon, lat, ref_id, postcode, unit) of the street's `j`-th point (by number).

        The first point asked for is read alone (most streets looked at once settle one number).
        A second one of a long street reads its neighbours, `NEIGHBOURS` each side (a national
        batch meets most streets once or twice, and reading a 50-point street whole for its second
        point cost a fifth of a row); any other point then reads them all, as a street in use is
        asked for more. `hold` reads a run of points in one go."""
        c = self._all
        if c is None:
            got = self._some.get(j)
            if got is not None:
                return got
            reads, n = self._reads, len(self.nums)
            if reads == 0:
                return self._read(j, j)[j]
            if reads == 1 and n > 4 * NEIGHBOURS:
                return self._read(max(0, j - NEIGHBOURS), min(n - 1, j + NEIGHBOURS))[j]
            c = self._read_all()
        ids = c[3]
        return c[0][j], self.nums[j], c[1][j], c[2][j], ids[j] if type(ids) is tuple else str(ids[j]), c[4][j], c[5][j]

    def hold(self, first: int, last: int) -> None:
        """Have points `first` .. `last` held, read in one go if some are not (the points with one
        number's integer part, an interpolation's two neighbours): then `row` reads nothing for them."""
        if self._all is not None:
            return
        some = self._some
        if all(k in some for k in range(first, last + 1)):
            return
        if self._reads < 2 and last - first <= 2 * NEIGHBOURS:
            self._read(first, last)
        else:
            self._read_all()

    def _read(self, first: int, last: int) -> dict:
        """Points `first` .. `last` read into `_some` (those not held yet); `_some` returned."""
        some, nums = self._some, self.nums
        self._reads += 1
        for k, r in enumerate(self.fetch(self.p0 + first, self.p0 + last), first):
            if k not in some:
                some[k] = (r[0], nums[k], *r[1:])
        return some

    def _read_all(self) -> tuple:
        c = self._all = point_columns(self.fetch(self.p0, self.p0 + len(self.nums) - 1))
        self._some = {}
        return c

    def number_at(self, j: int) -> str:
        """The house number as written of the street's `j`-th point: `row(j)[0]`, without building
        the row (a number's points are checked one by one, and most rows then take one of them)."""
        c = self._all
        return c[0][j] if c is not None else self.row(j)[0]


def point_columns(rows: list) -> tuple:
    """A street's point rows (without `num`: the street's `nums` has it) held by column: coordinates
    in two arrays of doubles, reference ids that are plain decimal numbers in an array of integers,
    the others as written (a tuple), the strings that repeat (numbers, postcodes, units) shared
    through `sys.intern`. The street cache holds up to a million points; as 7-tuples of Python
    objects a Vermont point took ~390 bytes, held this way 83 (161 with `num` and the ids as strings;
    tests/test_store.py), so a long Vermont batch, which holds ~246,000 points, peaks ~75 MB lower
    than with tuples (RESULTS.md)."""
    if not rows:
        return ((),) * 6
    number, lon, lat, ref_id, postcode, unit = zip(*rows)
    intern = sys.intern
    plain = all(type(r) is str and r.isdecimal() and r.isascii() and len(r) < 19 and (r[0] != "0" or r == "0")
                for r in ref_id)
    return (tuple(map(intern, number)), array("d", lon), array("d", lat), array("q", map(int, ref_id)) if plain
            else ref_id, tuple(map(intern, postcode)), tuple(map(intern, unit)))


OUTSIDE = "outside the reference"  # how a Match's reason starts for a query outside the coverage


@dataclass(frozen=True)
class Coverage:
    """The states and postcode regions (postcode minus its last two digits) a reference holds points
    in (`meta.coverage`); empty for a reference that does not record them."""

    states: frozenset
    postcode_regions: frozenset

    def outside(self, state: str, postcode: str) -> str:
        """Why a query naming `state` / `postcode` is outside the reference ("" when it is not).

        A state the reference holds settles it: a ZIP of an unknown region next to it is taken for
        a typo (the town and street still decide). Without one, the ZIP's region must be held.
        """
        if state and self.states:
            return "" if state in self.states else f"{OUTSIDE}: state {state}"
        if len(postcode) > 2 and self.postcode_regions and postcode[:-2] not in self.postcode_regions:
            return f"{OUTSIDE}: postcode {postcode}"
        return ""


# The caches' size (`Config.cache_size`): at the default a long Vermont batch holds every street it meets
# (~60 MB); a batch spread over a 20-state reference meets far more and runs ~1.3x faster with 4x the size,
# for ~+490 MB (benchmarks/RESULTS.md, run F). The caches stay bounded whatever the reference's size.
DEFAULT_CACHE_SIZE = 20_000
POINTS_PER_CACHED_STREET = 25  # `max_cached_points` per street the cache holds, when not given

HOT_TOWN = 4  # look-ups in a town after which all its streets are held (see `town_streets`)


class ReferenceStore:
    """An open reference and its caches: what the geocoder looks up, and nothing about scoring.

    `2 * cache_size` streets holding at most `max_cached_points` address points in all (long streets
    of a national file count for what they hold; twice the other caches' size so that a state's
    streets, Vermont's 22,700, stay held through a long batch: at 20,000 the cache churned and a
    row cost 15 % more), the fuzzy forms of `cache_size // 2` (town, level) pairs (at most
    `cache_size * 32` forms, ~90 MB at the default), `cache_size // 4` towns held whole (~16 KB each), and
    the town keys (at most `max_city_list`). A state's towns (Vermont: 255) fit many times over; the forms and
    whole-town bounds are set for a national batch, whose rows meet thousands of towns: held together
    (one without the other gains nothing) its rows run ~1.4x faster for ~140 MB (benchmarks/RESULTS.md).
    """

    def __init__(self, path: Path, *, cache_size: int = DEFAULT_CACHE_SIZE, max_city_list: int = 100_000,
                 max_cached_points: int | None = None):
        self.db = open_reference(path)
        if max_cached_points is None:  # 1,000,000 at the default (Vermont's streets hold ~11 points each)
            max_cached_points = POINTS_PER_CACHED_STREET * 2 * cache_size
        self.streets = BoundedCache(2 * cache_size, weight=_street_points, maxweight=max_cached_points)
        self.forms = BoundedCache(max(64, cache_size // 2), weight=_form_count, maxweight=cache_size * 32)
        self.zips = BoundedCache(max(256, cache_size // 4))
        self.city_key_ids = BoundedCache(max(256, cache_size // 4))
        self._city_state_ids = BoundedCache(max(256, cache_size // 4))
        self.global_cores = BoundedCache(max(256, cache_size // 16))
        # Street names repeat across towns (MAIN ST, SCHOOL ST) and, in a national file, across
        # states: their keys are computed once per name, not once per town.
        self._street_keys = BoundedCache(cache_size * 10)
        self._town_cores = BoundedCache(cache_size * 2)  # (town, core) -> street ids: the exact look-up
        self._town_maps = BoundedCache(max(64, cache_size // 4))  # hot town -> {core: street ids}, ~16 KB each
        self._town_asks: dict[int, int] = {}
        self._town_loads: dict[int, int] = {}  # times each town was held whole (see prefetch_town_streets)
        self.max_city_list = max_city_list
        self.city_list: tuple[list, list] | None = None
        self.city_index: dict | None = None  # town key -> city ids ({} when too many to hold)
        self.locale = self._meta_locale()
        self.coverage = self._meta_coverage()
        self._town_labels: dict[int, tuple] = {}
        self.rules: GeoRules = geo_rules(self.locale)
        self._cities: frozenset | None = None  # town names for the normalize stage (locales that use them)

    def close(self) -> None:
        """Close the reference."""
        self.db.close()

    def _meta_locale(self) -> str:
        """The address locale the reference was built with (`meta.locale`; `us` when absent)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='locale'").fetchone()
            loc = json.loads(row[0]) if row else "us"
        except (sqlite3.DatabaseError, ValueError, TypeError):
            loc = "us"
        return loc if isinstance(loc, str) and loc else "us"

    def _meta_coverage(self) -> Coverage:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='coverage'").fetchone()
            got = json.loads(row[0]) if row else {}
        except (sqlite3.DatabaseError, ValueError, TypeError):
            got = {}
        if not isinstance(got, dict):
            got = {}
        return Coverage(frozenset(got.get("states") or ()), frozenset(got.get("postcode_regions") or ()))

    def town_place(self, cid: int) -> tuple[str, str, float, float]:
        """(name, state, lon, lat) of town `cid`: one small query per town, remembered (towns are few
        next to points; at most `max_city_list` are held)."""
        got = self._town_labels.get(cid)
        if got is None and not self._town_labels:  # the first: all of them when they fit, in one read
            rows = self.db.execute("SELECT id, name, state, lon, lat FROM cities LIMIT ?",
                                   (self.max_city_list + 1,)).fetchall()
            if len(rows) <= self.max_city_list:
                self._town_labels.update((r[0], r[1:]) for r in rows)
            got = self._town_labels.get(cid)
        if got is None:
            got = self.db.execute("SELECT name, state, lon, lat FROM cities WHERE id=?", (cid,)).fetchone()
            got = got or ("", "", None, None)
            if len(self._town_labels) < self.max_city_list:
                self._town_labels[cid] = got
        return got

    def town_label(self, cid: int) -> tuple[str, str]:
        """(name, state) of town `cid`."""
        return self.town_place(cid)[:2]

    def town_state(self, cid: int) -> str:
        """The state of town `cid`."""
        return self.town_place(cid)[1]

    def towns_in_state(self, towns: dict, state: str) -> dict:
        """The entries of `towns` (town id -> anything) whose town is in `state`."""
        held, place = self._town_labels.get, self.town_place
        return {cid: v for cid, v in towns.items() if (held(cid) or place(cid))[1] == state}

    def town_streets(self, cid: int, core: str) -> tuple:
        """The street ids of town `cid` with this core key (streets and aliases, each in index order).

        A town asked about `HOT_TOWN` times has all its streets held (`_town_maps`: no round trip for
        it again, found or not); before that, each (town, core) is one indexed look-up, remembered:
        a national batch meets most towns once or twice, and reading a whole town for one street
        is what made a large reference slow."""
        held = self._town_maps.get(cid)
        if held is not None:
            return held.get(core, ())
        key = (cid, core)
        got = self._town_cores.get(key)
        if got is None:
            got = self._town_cores.get_or(key, lambda k: tuple(r[0] for r in self.db.execute(
                "SELECT id FROM streets WHERE city_id=? AND core=? UNION ALL "
                "SELECT street_id FROM street_aliases WHERE city_id=? AND core=?", (k[0], k[1], k[0], k[1]))))
        return got

    def prefetch_town_streets(self, cids, core: str) -> None:
        """Get `town_streets` ready for every town of `cids` with this core key: hot towns held
        whole, the others asked in one query (a query's block names several towns, most without
        the street: one round trip, not one each)."""
        missing = []
        for cid in dict.fromkeys(cids):
            if cid in self._town_maps or (cid, core) in self._town_cores:
                continue
            asked = self._town_asks.get(cid, 0) + 1
            # counted afresh once held; an evicted town must be hotter each time to return (4, 16, 64
            # asks...): when more towns are hot than are held (20 states' 4,900 towns, 625 held), they
            # would otherwise be read whole again every 4 asks, 0.8 whole-town reads per row
            if asked >= HOT_TOWN << 2 * min(self._town_loads.get(cid, 0), 8):
                self._town_asks.pop(cid, None)
                self._town_loads[cid] = self._town_loads.get(cid, 0) + 1
                self._town_maps.get_or(cid, self._load_town_map)
                continue
            if len(self._town_asks) >= self._town_maps.maxsize * 8:
                self._town_asks.clear()  # a rough count is enough: it only decides what to hold
                if len(self._town_loads) >= self._town_maps.maxsize * 8:
                    self._town_loads.clear()
            self._town_asks[cid] = asked
            missing.append(cid)
        if len(missing) < 2:
            return
        found: dict[int, list] = {cid: [] for cid in missing}
        marks = ",".join("?" * len(missing))
        for cid, sid, _src, _n in self.db.execute(
                f"SELECT city_id, id, 0 src, id n FROM streets WHERE core=? AND city_id IN ({marks}) UNION ALL "
                f"SELECT city_id, street_id, 1, rowid FROM street_aliases WHERE core=? AND city_id IN ({marks}) "
                "ORDER BY src, n", (core, *missing, core, *missing)):
            found[cid].append(sid)
        for cid, sids in found.items():
            self._town_cores.get_or((cid, core), lambda _k, v=tuple(sids): v)

    def _load_town_map(self, cid: int) -> dict:
        by_core: dict[str, list] = {}
        for sid, core in self.db.execute("SELECT id, core FROM streets WHERE city_id=? UNION ALL "
                                         "SELECT street_id, core FROM street_aliases WHERE city_id=?", (cid, cid)):
            by_core.setdefault(core, []).append(sid)
        return {core: tuple(sids) for core, sids in by_core.items()}

    def town_names(self) -> frozenset | None:
        """The reference's town names (as the normalize stage writes them), for locales whose
        normalizer settles the street/locality boundary with them; None for the others."""
        if not self.rules.known_cities:
            return None
        if self._cities is None:
            rows = self.db.execute("SELECT name FROM cities LIMIT ?", (self.max_city_list + 1,)).fetchall()
            self._cities = frozenset(r[0] for r in rows) if len(rows) <= self.max_city_list else frozenset()
        return self._cities or None

    def town_forms(self, cid: int, level: str) -> tuple[list, list, list]:
        """([fuzzy forms], [core of each], [length of each]) of town `cid`'s streets at one of
        `keys.FUZZY_LEVELS`, shortest first, so a query compares only forms whose length is within
        its edit budget (an edit distance is at least the difference in length). One stored row,
        remembered (bounded by forms held)."""
        def load(key):
            row = self.db.execute("SELECT forms, cores FROM town_forms WHERE city_id=? AND level=?", key).fetchone()
            return unpack_forms(*(row or ("", "")))
        return self.forms.get_or((cid, level), load)

    def street_key(self, full: str) -> StreetKey:
        """`keys.street_key_text` of a street's full key, memoized across towns."""
        got = self._street_keys.get(full)
        if got is None:
            got = self._street_keys.get_or(full, lambda f: street_key_text(f, self.rules))
        return got

    def _load_street(self, sid: int) -> Street:
        cid, name, core, full, lon, lat, p0, nums = self.db.execute(
            "SELECT city_id, name, core, full, lon, lat, p0, nums FROM streets WHERE id=?", (sid,)).fetchone()
        return Street(sid, cid, name, core, full, lon, lat, p0, unpack_numbers(nums), self.street_key(full),
                      self._points)

    def _points(self, first: int, last: int) -> list:
        return self.db.execute("SELECT number, lon, lat, ref_id, postcode, unit FROM points "
                               "WHERE id BETWEEN ? AND ?", (first, last)).fetchall()

    def street(self, sid: int) -> Street:
        return self.streets.get_or(sid, self._load_street)

    def _load_zip(self, pc: str) -> dict:
        return {cid: (n, lon, lat) for cid, n, lon, lat in
                self.db.execute("SELECT city_id, n, lon, lat FROM zips WHERE postcode=?", (pc,))}

    def zip_towns(self, postcode: str) -> dict:
        got = self.zips.get(postcode)
        return got if got is not None else self.zips.get_or(postcode, self._load_zip)

    def _load_city_ids(self, key: str) -> tuple:
        return tuple(r[0] for r in self.db.execute("SELECT city_id FROM city_keys WHERE key=?", (key,)))

    def city_ids(self, key: str) -> tuple:
        if self.city_index is None:
            self.load_city_list()
        if self.city_index:  # every town key in memory (the usual case): no database round trip
            return self.city_index.get(key, ())
        got = self.city_key_ids.get(key)
        return got if got is not None else self.city_key_ids.get_or(key, self._load_city_ids)

    def city_ids_in_state(self, key: str, state: str) -> tuple:
        """`city_ids(key)` of the towns in `state`, remembered."""
        got = self._city_state_ids.get((key, state))
        if got is None:
            got = self._city_state_ids.get_or((key, state), lambda k: tuple(
                cid for cid in self.city_ids(k[0]) if self.town_state(cid) == k[1]))
        return got

    def load_city_list(self) -> None:
        """The town keys (a few per town: small next to the points), loaded once. Above
        `max_city_list` keys only the fuzzy list is kept and exact keys go through the index."""
        rows = self.db.execute("SELECT key, city_id FROM city_keys LIMIT ?", (self.max_city_list + 1,)).fetchall()
        complete = len(rows) <= self.max_city_list
        index: dict[str, tuple] = {}
        for k, cid in rows[: self.max_city_list]:
            index[k] = index.get(k, ()) + (cid,)
        # one entry per distinct key with all its towns: a name shared by twenty states is one
        # string to compare, and a fuzzy hit on it finds the town of every state
        self.city_list = (list(index), list(index.values()))
        self.city_index = index if complete else {}

    def known_city(self, key: str) -> bool:
        return bool(key) and bool(self.city_ids(key))

    def fuzzy_cities(self, key: str) -> list[tuple[int, float]]:
        """Towns whose key is within a couple of edits of `key` (bounded list, loaded once)."""
        from rapidfuzz import fuzz, process

        if self.city_list is None:
            self.load_city_list()
        keys, ids = self.city_list
        out: dict[int, float] = {}
        for _k, sc, i in process.extract(key, keys, scorer=fuzz.ratio, score_cutoff=75, limit=5):
            for cid in ids[i]:
                out[cid] = max(out.get(cid, 0.0), sc / 100)
        return sorted(out.items(), key=lambda t: -t[1])

    def global_core(self, core: str, state: str = "") -> tuple:
        """(street id, town id) of every street with this core key anywhere in the reference, or in
        `state` when given (at most 200: a name every town has says nothing without a town)."""
        def load(key):
            c, st = key
            where = "core=? AND state=?" if st else "core=?"
            args = (c, st) if st else (c,)
            return tuple(dict.fromkeys(self.db.execute(
                f"SELECT id, city_id FROM streets WHERE {where} UNION ALL "
                f"SELECT street_id, city_id FROM street_aliases WHERE {where} LIMIT 200", args + args)))
        return self.global_cores.get_or((core, state), load)

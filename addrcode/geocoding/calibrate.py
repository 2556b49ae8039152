"""What the scores mean on one reference: geocode noisy queries made from its own points.

`calibrate(reference_path)` draws a reproducible random sample of the reference's address points,
writes each one as several queries (a clean `NUMBER STREET, TOWN, ST ZIP` and noisy variants: a typo,
abbreviations spelled out, no ZIP, no town, a wrong ZIP, a unit ...; `KINDS`), geocodes every query
with `Geocoder` and compares the answer with the point the query was made from. The report counts,
per kind and overall, the answers in each score band (`BANDS`, and "no match"), the share of them
within 50 m of the truth, and their median and 95th percentile distance error; it suggests the
`--min-score` (see `suggest_min_score`) at which answers are within 50 m 99 % of the time.

The scores were calibrated on Vermont (docs/ACCURACY.md); another region's street names, town
layout and source quality can move them, which is what this measures. Queries are made from points
the reference holds, so they measure how well a messy spelling of a known address is found, not
addresses missing from the reference (those are `docs/ACCURACY.md`'s `nonexistent` kind).

The report holds counts, shares and distances only: never an address, a name or a coordinate of
the reference (its `sample_fingerprint` is a hash of the sampled point ids, to tell two samples apart).
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.errors import DataError, UsageError
from addrcode.geocoding.scoring import distance_m
from addrcode.geocoding.variants import NAMES, UNITS, alias, dir_ordinal, expand, split_street, typo

# The query kinds, as in docs/ACCURACY.md (whose generator shares the variant functions): clean
# (`NUMBER STREET, TOWN, ST ZIP` as the reference writes it), title (title case, directionals and street
# type spelled out), lower (lower case, no commas), typo (one or two edits in a street word, sometimes one
# in the town), missing_zip, missing_city (no town), wrong_zip (another ZIP of the same state), alias
# (another name of a route, `St` for SAINT), unit (`Apt 3`, `Suite 200` ... added), leading_name (a person
# or company first), dir_ordinal (a directional or ordinal written the other way: North for N, FIRST for 1ST).
KINDS = ("clean", "title", "lower", "typo", "missing_zip", "missing_city", "wrong_zip", "alias", "unit",
         "leading_name", "dir_ordinal")
# Score bands, highest first: [low, high), the first one closed at 1.
BANDS = ((0.97, 1.0), (0.9, 0.97), (0.8, 0.9), (0.7, 0.8), (0.5, 0.7), (0.0, 0.5))
NO_MATCH = "no match"
WITHIN_M = 50.0
TARGET = 0.99
LOCALES = ("us", "au")


def band_label(low: float, high: float) -> str:
    """`[0.97, 1]`, `[0.9, 0.97)` ...: the band's bounds as printed."""
    return f"[{low:g}, {high:g}]" if high >= 1.0 else f"[{low:g}, {high:g})"


BAND_LABELS = tuple(band_label(lo, hi) for lo, hi in BANDS) + (NO_MATCH,)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BandStats:
    """The answers of one score band: how many, the share within 50 m, median and p95 error (m)."""

    band: str
    count: int
    within_50m: float | None = None
    median_m: float | None = None
    p95_m: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready (shares to 4 decimals, distances to 0.1 m)."""
        return {"band": self.band, "count": self.count,
                "within_50m": None if self.within_50m is None else round(self.within_50m, 4),
                "median_m": None if self.median_m is None else round(self.median_m, 1),
                "p95_m": None if self.p95_m is None else round(self.p95_m, 1)}


@dataclass(frozen=True)
class Threshold:
    """The answers scoring at or above `min_score`: how many, their share of all queries, within 50 m."""

    min_score: float
    answers: int
    share_of_queries: float
    within_50m: float | None

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"min_score": self.min_score, "answers": self.answers,
                "share_of_queries": round(self.share_of_queries, 4),
                "within_50m": None if self.within_50m is None else round(self.within_50m, 4)}


@dataclass(frozen=True)
class CalibrationReport:
    """`calibrate`'s measurement: per kind and overall, per score band (`BAND_LABELS`)."""

    reference: str  # the reference's file name
    locale: str
    seed: int
    sample_requested: int
    points_in_reference: int
    points_sampled: int
    sample_fingerprint: str
    queries: int
    kinds: dict  # kind -> queries made
    overall: tuple  # BandStats per band
    by_kind: dict  # kind -> BandStats per band
    thresholds: tuple  # Threshold per band edge, highest first
    suggested_min_score: float | None
    seconds: float = field(default=0.0, compare=False)  # not in to_dict/to_text: the report is reproducible

    def to_dict(self) -> dict:
        """A JSON-ready dict: counts, shares and distances only (no address, no coordinate)."""
        return {
            "reference": self.reference, "locale": self.locale, "seed": self.seed,
            "sample_requested": self.sample_requested, "points_in_reference": self.points_in_reference,
            "points_sampled": self.points_sampled, "sample_fingerprint": self.sample_fingerprint,
            "queries": self.queries, "within_m": WITHIN_M, "target": TARGET,
            "bands": list(BAND_LABELS), "kinds": dict(self.kinds),
            "overall": [b.to_dict() for b in self.overall],
            "by_kind": {k: [b.to_dict() for b in bands] for k, bands in self.by_kind.items()},
            "at_or_above": [t.to_dict() for t in self.thresholds],
            "suggested_min_score": self.suggested_min_score,
            "rule": SUGGESTION_RULE,
        }

    def to_text(self) -> str:
        """The report as tables for people: overall bands, thresholds, bands per kind, the suggestion."""
        return _report_text(self)


SUGGESTION_RULE = (f"the lowest band edge at which every score band from the top down to that edge has its "
                   f"answers within {WITHIN_M:g} m of the truth at least {TARGET:.0%} of the time "
                   "(bands with no answer passed over)")


def suggest_min_score(bands) -> float | None:
    """The suggested `--min-score`, from the overall `BandStats` of `BANDS` (highest first).

    Rule: going down the bands [0.97, 1], [0.9, 0.97), [0.8, 0.9) ..., [0, 0.5), the suggestion is
    the lower edge of the last band before the first one whose answers are within 50 m less than
    99 % of the time (a band with no answer is passed over). Then the answers scoring at or above
    the suggestion, and at or above any higher edge, are within 50 m at >= 99 %, and so is each
    band above it on its own: a mix of easy queries cannot hide a band of poor answers (pooled,
    a few wrong answers in [0.5, 0.7) vanish among thousands of exact ones). None when the answers
    of the top band that has any miss the target, or there is no answer at all.
    """
    best = None
    for (low, _high), b in zip(BANDS, bands):
        if b.count == 0:
            continue
        if b.within_50m < TARGET:
            break
        best = low
    return best


def _share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _metres(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} m"


def _kind_cell(b: BandStats) -> str:
    """One cell of the per-kind table: answers, and the share within 50 m."""
    if not b.count:
        return f"{'.':>14}"
    return f"{b.count:>6,} {'' if b.within_50m is None else f'{100 * b.within_50m:.1f}%':>7}"


def _report_text(r: CalibrationReport) -> str:
    """`CalibrationReport.to_text`."""
    lines = [f"score calibration of {r.reference}: {r.points_sampled:,} of its {r.points_in_reference:,} points "
             f"(seed {r.seed}, sample {r.sample_fingerprint}), {r.queries:,} queries written from them",
             "",
             f"{'score band':<14}{'answers':>9}{'within 50 m':>13}{'median error':>14}{'p95 error':>11}"]
    for b in r.overall:
        lines.append(f"{b.band:<14}{b.count:>9,}{_share(b.within_50m):>13}{_metres(b.median_m):>14}"
                     f"{_metres(b.p95_m):>11}")
    lines += ["", f"{'min score':<14}{'answers':>9}{'of queries':>13}{'within 50 m':>14}"]
    for t in r.thresholds:
        lines.append(f"{'>= ' + format(t.min_score, 'g'):<14}{t.answers:>9,}{_share(t.share_of_queries):>13}"
                     f"{_share(t.within_50m):>14}")
    lines += ["", "by kind: answers in each score band and their share within 50 m",
              f"{'kind':<14}{'queries':>8} " + " ".join(f"{label:>14}" for label in BAND_LABELS)]
    for kind, bands in r.by_kind.items():
        missed = bands[-1].count
        cells = [_kind_cell(b) for b in bands[:-1]] + [f"{missed:>14,}" if missed else f"{'.':>14}"]
        lines.append(f"{kind:<14}{r.kinds[kind]:>8,} " + " ".join(cells))
    skipped = [k for k, n in r.kinds.items() if not n]
    if skipped:
        lines.append(f"(no query of kind {', '.join(skipped)}: it applies to no sampled point)")
    lines.append("")
    if r.suggested_min_score is None:
        lines.append(f"suggested --min-score: none (the answers of the highest band are within "
                     f"{WITHIN_M:g} m less than {TARGET:.0%} of the time)")
    else:
        t = next(t for t in r.thresholds if t.min_score == r.suggested_min_score)
        lines.append(f"suggested --min-score: {r.suggested_min_score:g} (answers scoring >= it: "
                     f"{_share(t.within_50m)} within {WITHIN_M:g} m, {_share(t.share_of_queries)} of the queries)")
    lines.append(f"rule: {SUGGESTION_RULE}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Sampling the reference's points
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SampledPoint:
    """One sampled reference point: what its queries are written from, and its true location."""

    pid: int
    number: str
    street: str
    town: str
    state: str
    postcode: str
    city_id: int
    lon: float
    lat: float


_POINT_SQL = ("SELECT p.id, p.number, s.name, c.name, c.state, p.postcode, s.city_id, p.lon, p.lat, "
              "p.street_id, p.num FROM points p JOIN streets s ON s.id = p.street_id "
              "JOIN cities c ON c.id = s.city_id WHERE p.id = ?")


def _usable(db, row) -> bool:
    """A point whose (street, number) is unique in the reference, so the truth is one location."""
    if not row or not row[1].strip() or not row[2].strip():
        return False
    n = db.execute("SELECT COUNT(*) FROM points WHERE street_id = ? AND num IS ? AND number = ?",
                   (row[9], row[10], row[1])).fetchone()[0]
    return n == 1


def _point_count(db, span: int) -> int:
    """The reference's point count as its build recorded it (counting a national table would read it
    all), else the id span."""
    import json

    row = db.execute("SELECT value FROM meta WHERE key = 'counts'").fetchone()
    try:
        return int(json.loads(row[0])["points"])
    except (TypeError, ValueError, KeyError):
        return span


def _candidate_ids(db, sample: int, rng: random.Random):
    """Point ids in a seeded random order: all of them shuffled for a small reference, else random
    draws over the id range (a national reference is never listed whole)."""
    lo, hi = db.execute("SELECT MIN(id), MAX(id) FROM points").fetchone()
    if lo is None:
        return 0, iter(())
    n = _point_count(db, hi - lo + 1)
    if n <= 4 * sample:
        ids = [r[0] for r in db.execute("SELECT id FROM points ORDER BY id")]
        rng.shuffle(ids)
        return n, iter(ids)

    def draws():
        seen = set()
        for _ in range(50 * sample):
            pid = rng.randrange(lo, hi + 1)
            if pid not in seen:
                seen.add(pid)
                yield pid
    return n, draws()


def sample_points(db, sample: int, rng: random.Random) -> tuple[int, list[SampledPoint]]:
    """(points in the reference, up to `sample` usable points drawn with `rng`)."""
    total, ids = _candidate_ids(db, sample, rng)
    out = []
    for pid in ids:
        row = db.execute(_POINT_SQL, (pid,)).fetchone()
        if _usable(db, row):
            out.append(SampledPoint(*row[:9]))
            if len(out) >= sample:
                break
    return total, out


class _Zips:
    """The ZIPs of each town and each state of the reference (for the wrong-ZIP kind), cached."""

    def __init__(self, db):
        self.db, self._town, self._state = db, {}, {}

    def of_town(self, city_id: int) -> set:
        if city_id not in self._town:
            self._town[city_id] = {r[0] for r in self.db.execute(
                "SELECT postcode FROM zips WHERE city_id = ?", (city_id,))}
        return self._town[city_id]

    def of_state(self, state: str) -> list:
        if state not in self._state:
            self._state[state] = [r[0] for r in self.db.execute(
                "SELECT DISTINCT z.postcode FROM zips z JOIN cities c ON c.id = z.city_id WHERE c.state = ? "
                "AND z.postcode != '' ORDER BY 1", (state,))]
        return self._state[state]


# --------------------------------------------------------------------------------------------
# Writing a point as queries
# --------------------------------------------------------------------------------------------

def _text(number, street, town, state, postcode, locale, lead="", unit="") -> str:
    """`[LEAD, ]NUMBER STREET[, UNIT], TOWN, ST ZIP` (AU: `..., TOWN ST POSTCODE`), empty parts left out."""
    tail = " ".join(x for x in (state, postcode) if x)
    place = " ".join(x for x in (town, tail) if x) if locale == "au" else ", ".join(x for x in (town, tail) if x)
    return ", ".join(x for x in (lead, f"{number} {street}", unit, place) if x)


def _typo_query(p: SampledPoint, rng: random.Random, locale: str) -> str | None:
    """A typo in one long word of the street (a second edit sometimes), and sometimes in the town."""
    pre, toks, suf, post = split_street(p.street)
    long_idx = [i for i, t in enumerate(toks) if len(t) >= 4 and t.isalpha()]
    if not long_idx:
        return None
    i = rng.choice(long_idx)
    toks = list(toks)
    toks[i] = typo(toks[i], rng)
    if rng.random() < 0.25 and len(toks[i]) >= 7:
        toks[i] = typo(toks[i], rng)
    town = typo(p.town, rng) if rng.random() < 0.3 and len(p.town) >= 5 else p.town
    street = " ".join(([pre] if pre else []) + toks + ([suf] if suf else []) + ([post] if post else []))
    return _text(p.number, street.title(), town.title(), p.state, p.postcode, locale)


def make_query(kind: str, p: SampledPoint, rng: random.Random, zips: _Zips, locale: str = "us") -> str | None:
    """The query of `kind` (one of `KINDS`) written from point `p`, or None when the kind does not
    apply to it (no route alias, no directional, no other ZIP, no ZIP to leave out...)."""
    num, st, town, state, zc = p.number, p.street, p.town, p.state, p.postcode
    if kind == "clean":
        return _text(num, st, town, state, zc, locale)
    if kind == "title":
        return _text(num, expand(st), town.title(), state, zc, locale)
    if kind == "lower":
        return " ".join(x for x in (num, st, town, state, zc) if x).lower()
    if kind == "typo":
        return _typo_query(p, rng, locale)
    if kind in ("missing_zip", "missing_city"):
        if not zc:
            return None
        street = expand(st) if rng.random() < 0.5 else st
        return _text(num, street, town, state, "", locale) if kind == "missing_zip" else \
            _text(num, street, "", state, zc, locale)
    if kind == "wrong_zip":
        own = zips.of_town(p.city_id)
        others = [z for z in zips.of_state(state) if z not in own]
        return _text(num, st, town, state, rng.choice(others), locale) if others else None
    if kind == "alias":
        other = alias(st, rng)
        return None if other is None else _text(num, other, town.title(), state, zc, locale)
    if kind == "unit":
        u = rng.choice(UNITS)
        return _text(num, f"{expand(st)} {u}", town.title(), state, zc, locale) if rng.random() < 0.7 else \
            _text(num, st, town, state, zc, locale, unit=u)
    if kind == "leading_name":
        return _text(num, expand(st), town.title(), state, zc, locale, lead=rng.choice(NAMES))
    if kind == "dir_ordinal":
        other = dir_ordinal(st)
        return None if other is None else _text(num, other, town.title(), state, zc, locale)
    raise UsageError(f"unknown query kind {kind!r}; choose from {', '.join(KINDS)}")


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------

def _band_of(score: float) -> int:
    """The index in `BANDS` of a score."""
    for i, (low, _high) in enumerate(BANDS):
        if score >= low:
            return i
    return len(BANDS) - 1


def _p95(errors: list) -> float:
    """The 95th percentile (nearest rank) of sorted `errors`."""
    return errors[max(0, -(-95 * len(errors) // 100) - 1)]


def _band_stats(label: str, errors: list) -> BandStats:
    """`BandStats` of one band from its answers' distance errors."""
    if not errors:
        return BandStats(label, 0)
    errors = sorted(errors)
    return BandStats(label, len(errors), sum(e <= WITHIN_M for e in errors) / len(errors),
                     statistics.median(errors), _p95(errors))


def _bands(results: list) -> tuple:
    """BandStats of every band, then of "no match", from [(score, error or None)]."""
    per = [[] for _ in BANDS]
    missed = 0
    for score, err in results:
        if err is None:
            missed += 1
        else:
            per[_band_of(score)].append(err)
    return tuple(_band_stats(band_label(*b), errs) for b, errs in zip(BANDS, per)) + (BandStats(NO_MATCH, missed),)


def _thresholds(results: list) -> tuple:
    """A `Threshold` per band edge, highest first, from [(score, error or None)]."""
    out = []
    for low, _high in BANDS:
        errs = [e for s, e in results if e is not None and s >= low]
        out.append(Threshold(low, len(errs), len(errs) / len(results) if results else 0.0,
                             sum(e <= WITHIN_M for e in errs) / len(errs) if errs else None))
    return tuple(out)


def _geocode_all(geocoder, points, kinds, rng, zips, locale, progress) -> dict:
    """{kind: [(score, distance error in m, or None for no match)]} over every point's queries."""
    results = defaultdict(list)
    step = max(1, len(points) // 100)
    for i, p in enumerate(points, 1):
        for kind in kinds:
            text = make_query(kind, p, rng, zips, locale)
            if text is None:
                continue
            m = geocoder.geocode(text)
            matched = m.precision != "none" and m.lon is not None and m.lat is not None
            results[kind].append((m.score, distance_m(p.lon, p.lat, m.lon, m.lat) if matched else None))
        if progress is not None and (i % step == 0 or i == len(points)):
            progress(i, len(points))
    return results


def _check(sample: int, kinds, locale: str) -> tuple:
    """The kinds to make, after checking the arguments (UsageError)."""
    if not isinstance(sample, int) or sample < 1:
        raise UsageError(f"sample must be a positive number of points, not {sample!r}")
    if locale not in LOCALES:
        raise UsageError(f"locale {locale!r}: calibrate writes queries for {', '.join(LOCALES)}")
    kinds = tuple(KINDS if kinds is None else kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise UsageError(f"unknown query kind(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join(KINDS)}")
    return tuple(dict.fromkeys(kinds))


def calibrate(reference_path, *, sample: int = 2000, seed: int = 1, kinds=None, locale: str = "us",
              progress=None) -> CalibrationReport:
    """Measure what the scores mean on the reference at `reference_path`.

    Draws up to `sample` of its points (seeded by `seed`: the same seed draws the same points and
    writes the same queries, so the report is the same), keeping only points whose street and
    number are unique in the reference (the truth is one location), writes each as one query of
    each of `kinds` (default all of `KINDS`; a kind that does not apply to a point is left out),
    geocodes them and compares each answer with the point. `locale` is how the queries' last line is
    written (us: `TOWN, ST ZIP`; au: `TOWN ST POSTCODE`). `progress(points done, points)` is called
    as the work goes. Raises DataError for a reference that cannot be read or has no usable point,
    UsageError for bad arguments.
    """
    import time

    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.geocoding.reference import open_reference

    kinds = _check(sample, kinds, locale)
    t0 = time.monotonic()
    path = Path(reference_path)
    db = open_reference(path)
    try:
        total, points = sample_points(db, sample, random.Random(seed))
        if not points:
            raise DataError(f"{path}: no address point to calibrate on (every point shares its street "
                            "and number with another, or the reference is empty)")
        rng = random.Random(f"addrcode-calibrate-queries-{seed}")
        with Geocoder(path) as geocoder:
            results = _geocode_all(geocoder, points, kinds, rng, _Zips(db), locale, progress)
    finally:
        db.close()
    everything = [r for kind in kinds for r in results.get(kind, [])]
    thresholds = _thresholds(everything)
    ids = ",".join(str(p) for p in sorted(p.pid for p in points))
    overall = _bands(everything)
    return CalibrationReport(
        reference=path.name, locale=locale, seed=seed, sample_requested=sample, points_in_reference=total,
        points_sampled=len(points), sample_fingerprint=hashlib.sha256(ids.encode()).hexdigest()[:16],
        queries=len(everything), kinds={k: len(results.get(k, [])) for k in kinds},
        overall=overall, by_kind={k: _bands(results[k]) for k in kinds if results.get(k)},
        thresholds=thresholds, suggested_min_score=suggest_min_score(overall),
        seconds=time.monotonic() - t0)

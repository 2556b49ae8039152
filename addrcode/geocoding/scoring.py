"""Scoring: how sure a candidate street and house number are, as a product of named factors.

`score_candidate(store, query, street_id, street_similarity, notes)` gives one `Candidate` whose
score is

    street factor  x  town factor  x  number factor

- **street**: how alike the street names are (1.0 exact key, less for a fuzzy match), lowered when
  the suffix or directional differs (`street_factor`);
- **town**: whether the street's town is the one the query names and lies in its ZIP
  (`town_factor`);
- **number**: how the house number was placed on the street: exact point 1.0, interpolated
  between neighbours 0.72 or less, outside the street's range 0.4, no number 0.5
  (`_place_number`).

`pick_best` then lowers the winner when a runner-up nearly as good lies far away ("ambiguous").
The factors were calibrated on the noisy query set (docs/ACCURACY.md) so that score >= 0.9 means
"within 50 m" >= 98 % of the time; change one only with that measurement.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from addrcode.geocoding.keys import StreetKey
from addrcode.records import Address, Match, quick_match

# the order of precisions, for "which reading did better"
RANK = {"none": 0, "locality": 1, "postcode": 2, "street": 3, "interpolated": 4, "point": 5}
AMBIGUITY_MARGIN = 0.06  # a runner-up within this of the best, and > 100 m away, makes it ambiguous
_M_PER_DEG = 111_195.0


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres (equirectangular: exact enough below a few km, and fast)."""
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * k, lat2 - lat1) * _M_PER_DEG


@dataclass(frozen=True)
class Query:
    """What scoring reads of one reading of a query: its address and keys, and the towns it names.

    `town_evidence`: town id -> how sure the query names that town (1.0 exact key, less fuzzy);
    `zip_towns`: town id -> (points, lon, lat) of the query's ZIP in that town; `how`: how the
    street candidates were found (a phrase of `Geocoder._street_candidates`)."""

    address: Address
    street: StreetKey
    number: str
    num: int | None
    postcode: str
    town_evidence: dict
    zip_towns: dict
    how: str = ""


@dataclass(frozen=True)
class Candidate:
    """One scored candidate (used by `explain`): how each factor of its score came about."""

    label: str
    precision: str
    score: float
    lon: float | None
    lat: float | None
    ref_id: str = ""
    street_factor: float = 0.0
    town_factor: float = 0.0
    number_factor: float = 0.0
    notes: tuple[str, ...] = ()
    street_id: int = 0


def quick_candidate(label, precision, score, lon, lat, ref_id, sf, tf, nf, notes, sid) -> Candidate:
    """`Candidate(...)` by position, faster (the hot path builds several per query)."""
    c = object.__new__(Candidate)
    object.__setattr__(c, "__dict__", {"label": label, "precision": precision, "score": score, "lon": lon, "lat": lat,
                             "ref_id": ref_id, "street_factor": sf, "town_factor": tf, "number_factor": nf,
                             "notes": notes, "street_id": sid})
    return c


def by_score(c: Candidate) -> float:
    """Sort key: best first."""
    return -c.score


def street_factor(query_key: StreetKey, street_key: StreetKey, similarity: float, notes: list) -> float:
    """The name similarity lowered for a suffix or directional that differs: the same evidence
    whichever side of the name they were written on."""
    f = similarity
    if query_key.suffix != street_key.suffix:
        if query_key.suffix and street_key.suffix:
            f *= 0.85
            notes.append("different street suffix")
        elif street_key.suffix:
            f *= 0.97
        else:
            f *= 0.93
    qd, rd = query_key.predir or query_key.postdir, street_key.predir or street_key.postdir
    if qd != rd:
        if qd and rd:
            f *= 0.6
            notes.append("different directional")
        else:
            f *= 0.9
    return f


def town_factor(q: Query, city_id: int, notes: list) -> float:
    """Whether the street's town is one the query names, and lies in the query's ZIP."""
    ev = q.town_evidence.get(city_id, 0.0)
    in_zip = city_id in q.zip_towns
    if ev >= 1.0:
        return 1.0 if (not q.postcode or in_zip) else 0.95
    if ev > 0:
        return ev if (not q.postcode or in_zip) else ev * 0.9
    if in_zip:
        if not q.address.city:
            return 0.97
        if q.town_evidence:  # the query names another town the reference knows
            notes.append("town differs from the query")
            return 0.68
        # a name the reference has no town for (a village or postal name: Morrisville for
        # Morristown): it contradicts nothing, and the ZIP places the street
        notes.append("town name not in the reference; the ZIP agrees")
        return 0.93
    if q.how.startswith("exact street key, no town"):
        return 0.8
    notes.append("street found outside the named town/ZIP")
    return 0.45


def score_candidate(store, q: Query, sid: int, similarity: float, found_notes: tuple) -> Candidate:
    """Score street `sid` of `store` (an `addrcode.geocoding.store.ReferenceStore`) for `q`."""
    st = store.streets.get(sid) or store.street(sid)
    notes = list(found_notes)
    sfac = street_factor(q.street, st.key, similarity, notes)
    tfac = town_factor(q, st.city_id, notes)
    return _place_number(q, st, sid, sfac, tfac, street_label(st, q.address), street_tail(store, st), notes)


def street_label(st, a: Address) -> str:
    """The street's name, with the query's unit when it gives one, for labels."""
    if a.unit_type or a.unit_id:
        return st.name + " " + (f"{a.unit_type} {a.unit_id}" if a.unit_type and a.unit_id else a.unit_type or a.unit_id)
    return st.name


def street_tail(store, st) -> str:
    """", TOWN, ST" of street `st`'s town, for labels: worked out once per cached street."""
    tail = st.tail
    if not tail:
        name, state = store.town_label(st.city_id)
        tail = st.tail = f", {name}, {state}"
    return tail


def _place_number(q: Query, st, sid, sfac, tfac, label_street, tail, notes) -> Candidate:
    """The number factor: the query's house number on street `st` — its point, else interpolated
    between its neighbours, else the end of the street's range, else the street's middle."""
    number, num, a = q.number, q.num, q.address
    nums = st.nums
    i = bisect_left(nums, num) if num is not None else 0
    idx = points_of_number(st, number, num, i) if number and num is not None else None
    if idx is not None:
        if len(idx) > 1:
            # units of one number (flats of a complex, spread over a site): the query's unit, or
            # without one the number's own point (no unit), settles which; else all are compared
            uid = a.unit_id
            same = [j for j in idx if st.row(j)[6] == uid] if uid or a.unit_type else \
                [j for j in idx if not st.row(j)[6]]
            if same:
                idx = same
        r = st.row(idx[0])
        nfac = 1.0
        if len(idx) > 1:
            far = max(distance_m(r[2], r[3], st.row(j)[2], st.row(j)[3]) for j in idx[1:])
            if far > 50:
                nfac = 0.6
                notes.append(f"ambiguous: {len(idx)} points with this number")
        if q.postcode and r[5] and r[5] != q.postcode and tfac >= 1.0:
            tfac = 0.97
        return quick_candidate(f"{r[0]} {label_street}{tail} {r[5]}".rstrip(), "point", sfac * tfac * nfac,
                               r[2], r[3], r[4], sfac, tfac, nfac, tuple(notes), sid)
    if num is not None and nums:
        if i < len(nums) and nums[i] == num:  # same integer, other letter/fraction ("12" vs "12A")
            r = st.row(i)
            notes.append("house number differs in its suffix")
            return quick_candidate(f"{r[0]} {label_street}{tail} {r[5]}".rstrip(), "point", sfac * tfac * 0.85,
                                   r[2], r[3], r[4], sfac, tfac, 0.85, tuple(notes), sid)
        return _interpolate(st, sid, number, num, i, sfac, tfac, label_street, tail, notes)
    notes.append("house number not usable" if number or a.po_box else "no house number in the query")
    mid = st.row(len(st.nums) // 2)
    return quick_candidate(f"{label_street}{tail}", "street", sfac * tfac * 0.5, mid[2], mid[3], "",
                           sfac, tfac, 0.5, tuple(notes), sid)


def points_of_number(st, number: str, num: int, i: int) -> list[int] | None:
    """Indexes of the street's points written exactly `number` (from `i`, the first with its integer)."""
    idx = None
    nums = st.nums
    j, n = i, len(nums)
    if i + 1 < n and nums[i + 1] == num:  # several points with this integer part: read them at once
        st.hold(i, bisect_right(nums, num, i) - 1)
    while j < n and nums[j] == num:
        if st.number_at(j) == number:
            if idx is None:
                idx = [j]
            else:
                idx.append(j)
        j += 1
    return idx


# Interpolation stays local: between two points further apart than this (a road through
# empty country, or a source that mixes two places under one street), a number is not placed
# in between but on the street (`street` precision). The station table's cells follow the same
# rule (`addrcode.stations.cells`), so every code geocode can issue has its row.
MAX_INTERPOLATION_GAP_M = 5000.0
AMBIGUOUS_REGION_M = 50_000.0  # rivals this far apart are different places, not neighbouring streets


def _interpolate(st, sid, number, num, i, sfac, tfac, label_street, tail, notes) -> Candidate:
    """A number the street does not hold: between the nearest same-side neighbours, else the end of
    the street's range (`street` precision)."""
    nums = st.nums
    lo = hi = None
    for j in range(i - 1, max(-1, i - 60), -1):
        if nums[j] % 2 == num % 2:
            lo = j
            break
    for j in range(i, min(len(nums), i + 60)):
        if nums[j] % 2 == num % 2:
            hi = j
            break
    nfac = 0.72
    if lo is None or hi is None:  # no same-side bracket: use the other side
        lo = i - 1 if i > 0 else None
        hi = i if i < len(nums) else None
        nfac = 0.65
    if lo is not None and hi is not None:
        st.hold(lo, hi)  # the two neighbours (and any between), one read
    gap = distance_m(st.row(lo)[2], st.row(lo)[3], st.row(hi)[2], st.row(hi)[3]) \
        if lo is not None and hi is not None else 0.0
    if lo is not None and hi is not None and gap <= MAX_INTERPOLATION_GAP_M:
        r0, r1 = st.row(lo), st.row(hi)
        t = (num - r0[1]) / (r1[1] - r0[1]) if r1[1] != r0[1] else 0.5
        lon, lat = r0[2] + t * (r1[2] - r0[2]), r0[3] + t * (r1[3] - r0[3])
        # rural numbers follow distance along the road only roughly: the wider the gap between
        # the bracketing points, the less the interpolated point is worth
        if gap > 300:
            nfac *= 0.6
        elif gap > 120:
            nfac *= 0.8
        zipc = r0[5] if r0[5] == r1[5] else ""
        notes.append("house number not in the reference: interpolated")
        return quick_candidate(f"{number} {label_street}{tail} {zipc}".rstrip(), "interpolated",
                               sfac * tfac * nfac, lon, lat, "", sfac, tfac, nfac, tuple(notes), sid)
    if gap > MAX_INTERPOLATION_GAP_M:  # the nearer-numbered of two far-apart neighbours
        r = st.row(lo) if num - st.row(lo)[1] <= st.row(hi)[1] - num else st.row(hi)
        notes.append("house number between two points too far apart to interpolate")
        return quick_candidate(f"{label_street}{tail}", "street", sfac * tfac * 0.4, r[2], r[3], "",
                               sfac, tfac, 0.4, tuple(notes), sid)
    # outside the street's range: the nearest number on the street
    r = st.row(0) if i == 0 else st.row(len(st.nums) - 1)
    notes.append("house number outside the street's range")
    return quick_candidate(f"{label_street}{tail}", "street", sfac * tfac * 0.4, r[2], r[3], "",
                           sfac, tfac, 0.4, tuple(notes), sid)


def pick_best(cands: list[Candidate], address: Address) -> tuple[Match, Candidate]:
    """The match of the best candidate (`cands` sorted best first), lowered to 0.6 of its score
    when a runner-up nearly as good lies more than 100 m away, and to 0.4 when it lies more than
    50 km away (another region: the same town and street in two states), so that such a guess
    stays below the default `--min-score` (0.5) and is never encoded."""
    best = cands[0]
    reason = ""
    for other in cands[1:4]:
        apart = distance_m(best.lon, best.lat, other.lon, other.lat) \
            if other.lon is not None and best.lon is not None else 0.0
        if other.score >= best.score - AMBIGUITY_MARGIN and apart > 100:
            alike = 1 + sum(1 for o in cands[1:] if o.score >= best.score - AMBIGUITY_MARGIN)
            reason = f"ambiguous: {alike} candidates far apart score alike"
            factor = 0.4 if apart > AMBIGUOUS_REGION_M else 0.6
            best = quick_candidate(best.label, best.precision, best.score * factor, best.lon, best.lat, best.ref_id,
                                   best.street_factor, best.town_factor, best.number_factor,
                                   best.notes + ("ambiguous",), best.street_id)
            break
    if not reason and best.notes:
        reason = "; ".join(n for n in best.notes if not n.startswith("_"))
    m = quick_match(precision=best.precision, score=round(min(best.score, 1.0), 3), lon=best.lon, lat=best.lat,
                    matched=best.label, ref_id=best.ref_id, reason=reason, address=address)
    return m, best


def fallback(store, q: Query) -> Match:
    """No street candidate: the ZIP's centroid, else the town's, else nothing."""
    a = q.address
    why = "no such street in the town/ZIP" if q.street.core else "no street in the query"
    zip_towns, town_ev = q.zip_towns, q.town_evidence
    if q.postcode and zip_towns:
        n = sum(v[0] for v in zip_towns.values())
        lon = sum(v[0] * v[1] for v in zip_towns.values()) / n
        lat = sum(v[0] * v[2] for v in zip_towns.values()) / n
        agree = not town_ev or any(c in zip_towns for c in town_ev)
        return Match(precision="postcode", score=0.3 if agree else 0.2, lon=lon, lat=lat,
                     matched=f"{q.postcode}", reason=why + "; ZIP centroid", address=a)
    if town_ev:
        cid = max(town_ev, key=town_ev.get)
        name, state, lon, lat = store.town_place(cid)
        return Match(precision="locality", score=0.2 if len(town_ev) == 1 else 0.1, lon=lon, lat=lat,
                     matched=f"{name}, {state}", reason=why + "; town centroid", address=a)
    if a.city or q.postcode:
        return Match(reason="town and ZIP not in the reference", address=a)
    return Match(reason="nothing to match (no street, town or ZIP)", address=a)


def why(best: Candidate, cands: list) -> str:
    """One line saying how the winner's score came about (`explain`)."""
    parts = [f"{best.precision} match, score {best.score:.3f} = street {best.street_factor:.2f} "
             f"x town {best.town_factor:.2f} x number {best.number_factor:.2f}"]
    parts.append(f"runner-up scored {cands[1].score:.3f}" if len(cands) > 1 else "only candidate")
    return "; ".join(parts)

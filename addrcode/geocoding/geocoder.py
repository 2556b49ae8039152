"""Geocoding: a normalized `Address` + a local reference -> `Match` (point, precision, score).

How a query is matched (the same shape as addok / Pelias: block first, then compare a few):

1. Matching keys (`keys.py`, with the locale's tables of `rules.py`): street names re-tokenized
   into a *core* (`MOUNTAIN`->`MTN`, `VT ROUTE 12A` -> `RTE 12A`) and a *full* key; the reference
   stores the same keys, so both sides go through one function.
2. Blocking. The query's ZIP and city each name a set of towns (city by exact key, else fuzzy over
   the bounded list of city keys); the block is their union, so a wrong ZIP of the right town, or a
   wrong town of the right ZIP, still finds the street. Without either, the street key is looked
   up across the whole reference through its index.
3. Street candidates in the block: exact full key, then exact core key, and only when both miss,
   rapidfuzz over the block's core keys (a few hundred strings at most).
4. House number on each candidate street: exact -> `point`; else between the nearest lower and
   higher numbers of the same parity -> `interpolated`; else the nearest number -> `street`.
   No street: ZIP centroid -> `postcode`, town centroid -> `locality`, else `none`.
5. Score (`scoring.py`): street factor x town factor x number factor, then lowered when a second
   candidate is nearly as good but far away ("ambiguous"); calibrated so that score >= 0.9 means
   "within 50 m" >= 98 % of the time on the noisy query set (docs/ACCURACY.md).

Free text is read twice at most (`Geocoder.geocode`): first with the reference's own town names
(`guided.guided_parse`: ZIP at the end, a known town before it, the number, the street between); when
that gives a confident point, or settles the number on the exact street of the named town, the
rule-based normalize stage is not run at all (6 queries in 7 on the noisy set). Otherwise the
normalize stage's reading is matched too (unless it asks the same question) and the better wins.

Everything is read from the on-disk SQLite reference through its indexes (`store.py`), with
bounded caches: memory does not grow with the reference.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from addrcode.geocoding.guided import guided_parse
from addrcode.geocoding.keys import FUZZY_LEVELS, StreetKey, city_key, fuzzy_level, number_key, street_key
from addrcode.geocoding.scoring import (
    AMBIGUITY_MARGIN,
    RANK,
    Candidate,
    Query,
    by_score,
    fallback,
    pick_best,
    points_of_number,
    score_candidate,
    street_factor,
    street_label,
    street_tail,
    why,
)
from addrcode.geocoding.store import DEFAULT_CACHE_SIZE, OUTSIDE, BoundedCache, ReferenceStore
from addrcode.records import Address, Match, quick_match

_DIGITS = re.compile(r"\d+")
_SETTLED_NOTES = {("house number not in the reference: interpolated",), ("house number outside the street's range",)}


def _normalize(text: str, locale: str = "us", cities=None) -> Address:
    from addrcode.normalize import normalize

    return normalize(text, locale=locale, cities=cities)


def _confident(m: Match) -> bool:
    """A point scored >= 0.9: no other reading of the text is worth trying."""
    return m.precision == "point" and m.score >= 0.9


def _settled(best) -> bool:
    """A reading the rule-based parse cannot improve on: the exact street key in the town the query
    names (agreeing with its ZIP), no rival, and the query's house number read and placed on that
    street (interpolated, or beyond its range): a point is not there to be found by another reading."""
    return best is not None and best.street_factor >= 1.0 and best.town_factor >= 1.0 and \
        best.notes in _SETTLED_NOTES


def _guided_did_better(guided: Match, parsed: Match) -> bool:
    """Whether the reference-guided reading's match beats the normalize stage's (precision, then score)."""
    return (RANK[guided.precision], guided.score) > (RANK[parsed.precision], parsed.score)


def _core_alternatives(sk: StreetKey) -> list[tuple[str, float]]:
    """The core keys a street is looked up by, with the street similarity each gives."""
    if sk.route and sk.core.startswith("RTE "):
        return [(sk.core, 1.0), ("US " + sk.core, 0.97)]  # "Route 7" may be US Route 7
    if sk.route and sk.core.startswith("US RTE "):
        return [(sk.core, 1.0), (sk.core[3:], 0.9)]
    return [(sk.core, 1.0)]


def _query_keys(a: Address, rules=None) -> tuple:
    """Everything of an `Address` that matching reads: two readings with equal keys match alike."""
    return (street_key(a, rules), number_key(a.number) if a.number else None, a.postcode[:5],
            city_key(a.city, rules) if a.city else "",
            bool(a.city), a.unit_type, a.unit_id, bool(a.po_box))


@dataclass(frozen=True)
class Explanation:
    """Why a query matched what it matched: components, keys, block, top candidates, verdict."""

    components: dict
    keys: dict
    block: dict
    candidates: list
    match: dict
    why: str

    def to_dict(self) -> dict:
        """A JSON-ready dict (the CLI's `--format json`)."""
        return asdict(self)

    def to_text(self) -> str:
        """A human-readable multi-line report (the CLI's text format)."""
        comp = ", ".join(f"{k}={v!r}" for k, v in self.components.items() if v and k != "warnings")
        lines = [f"components: {comp}",
                 "keys:       " + ", ".join(f"{k}={v!r}" for k, v in self.keys.items()),
                 "block:      " + ", ".join(f"{k}={v}" for k, v in self.block.items()),
                 "candidates:"]
        for i, c in enumerate(self.candidates, 1):
            lines.append(f"  {i}. {c['score']:.3f} {c['precision']:<12} {c['label']}  "
                         f"(street {c['street_factor']:.2f} x town {c['town_factor']:.2f} x number "
                         f"{c['number_factor']:.2f}{'; ' + '; '.join(c['notes']) if c['notes'] else ''})")
        if not self.candidates:
            lines.append("  (none)")
        m = self.match
        lines.append(f"result:     {m['precision']} score={m['score']:.3f} {m['matched']}"
                     + (f"  [{m['reason']}]" if m["reason"] else ""))
        lines.append(f"why:        {self.why}")
        return "\n".join(lines)


class Geocoder:
    """Geocode addresses against a reference built by `addrcode.geocoding.build.build_reference`.

    Thread-compatible (one instance per thread/process). Memory is bounded by the caches of its
    `ReferenceStore` (`cache_size`, `max_city_list`, `max_cached_points`: see there).
    """

    def __init__(self, reference_path: Path | str, *, cache_size: int = DEFAULT_CACHE_SIZE,
                 max_city_list: int = 100_000, max_cached_points: int | None = None):
        self.path = Path(reference_path)
        self.store = ReferenceStore(self.path, cache_size=cache_size, max_city_list=max_city_list,
                                    max_cached_points=max_cached_points)
        self.locale, self.rules = self.store.locale, self.store.rules
        self._fuzzy_cache = BoundedCache(max(256, cache_size // 8))

    def close(self) -> None:
        """Close the reference."""
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, text: str) -> Address:
        """The normalize stage's reading of `text` in the reference's locale."""
        try:
            return _normalize(text, self.locale, self.store.town_names())
        except Exception as e:  # a bad row is data, not a crash
            return Address(warnings=(f"normalize failed ({type(e).__name__})",))

    # -- public API ---------------------------------------------------------------------------

    def geocode(self, text: str) -> Match:
        """Geocode one free-text address. Never raises on odd input: returns precision "none".

        `Match.address` is the reading the answer came from: the reference-guided one (street
        words as written, e.g. `NORTH JAY ROAD`) when it was confident, else the normalize stage's.
        """
        if not isinstance(text, str) or not text.strip():
            return Match(reason="empty address")
        # exact look-ups first: the text read with what the reference knows (its town names) is
        # usually enough, and a confident point there (exact town, exact street key, exact number,
        # no rival) is what the rule-based parse would find too; only the rest pays for it
        alt = guided_parse(text, self.store.known_city, self.rules)
        prepared = self._prepare(alt)
        clean = self._clean_point(alt, prepared)
        if clean is not None:  # what `_run` answers, found the short way (a confident point)
            return clean
        m2, best = self._run(alt, explain=False, prepared=prepared)
        if _confident(m2) or _settled(best):
            return m2
        address = self._read(text)
        if _query_keys(address, self.rules) == _query_keys(alt, self.rules):  # both readings ask the same question
            return quick_match(**{**m2.__dict__, "address": address})
        m = self.geocode_address(address)
        if _confident(m) or m.reason.startswith(OUTSIDE):
            # outside: the rule-based reading found a state or ZIP the reference does not hold (`Main
            # St, Duluth Georgia`), where the guided one took the state's name for a town of that name
            return m
        if _guided_did_better(m2, m):
            return quick_match(**{**m2.__dict__, "address": address if address.street else alt})
        return m

    def geocode_fields(self, **components) -> Match:
        """Geocode from separate fields: number, street, unit, city, state, postcode."""
        from addrcode.normalize import normalize_fields

        fields = {k: components.get(k, "") or "" for k in ("number", "street", "unit", "city", "state", "postcode")}
        return self.geocode_address(normalize_fields(**fields, locale=self.locale))

    def geocode_address(self, address: Address) -> Match:
        """Geocode a normalized `Address`."""
        return self._run(address, explain=False)[0]

    def geocode_many(self, texts) -> list[Match]:
        """Geocode a batch of free-text addresses, in order."""
        return [self.geocode(t) for t in texts]

    def explain(self, text: str) -> Explanation:
        """Geocode `text` and say why: components, keys, block, top candidates, verdict.

        Follows `geocode`'s path: the reference-guided reading first, the rule-based parse when
        that is not a confident point, the better of the two.
        """
        if not isinstance(text, str):
            text = ""
        alt = guided_parse(text, self.store.known_city, self.rules)
        m2, exp2 = self._run(alt, explain=True)
        if _confident(m2) or _settled(self._run(alt, explain=False)[1]):
            return replace(exp2, why=exp2.why + "; text read with the reference's town names (settled, "
                                                "the rule-based parse was not needed)")
        address = self._read(text)
        m, exp = self._run(address, explain=True)
        if _confident(m):
            return exp
        if _guided_did_better(m2, m):
            return replace(exp2, why=exp2.why + "; the rule-based parse did worse, text re-read with the reference")
        return exp

    # -- matching -----------------------------------------------------------------------------

    def _prepare(self, a: Address) -> tuple:
        """What matching works out of a reading before looking for streets: (street key, number key,
        its integer, ZIP5, city key, why it is outside the reference or "", the ZIP's towns, the named
        towns, the narrowing state). Worked out once per reading for `_clean_point` and `_run`."""
        rules = self.rules
        sk = street_key(a, rules)
        number, num = number_key(a.number) if a.number else ("", None)
        postcode = a.postcode[:5] if a.postcode else ""
        ckey = city_key(a.city, rules) if a.city else ""
        outside = self.store.coverage.outside(a.state, postcode)
        towns = ({}, {}, "") if outside else self._towns(a.state, postcode, ckey)
        return (sk, number, num, postcode, ckey, outside, *towns)

    def _run(self, a: Address, explain: bool, prepared: tuple | None = None):
        """(match, best candidate or None), or with `explain` (match, `Explanation`)."""
        sk, number, num, postcode, ckey, outside, zip_towns, town_ev, state = prepared or self._prepare(a)
        if outside:  # a state or ZIP the reference does not hold: never a confident match elsewhere
            m = Match(reason=outside, address=a)
            return (m, None) if not explain else (m, self._outside_explanation(a, sk, ckey, postcode, m))
        block = list(dict.fromkeys(list(town_ev) + list(zip_towns)))
        sids, how, more = self._street_ids(sk, block, len(town_ev), state) if sk.core else ([], "", None)
        q = Query(a, sk, number, num, postcode, town_ev, zip_towns, how)
        cands = self._scored_candidates(q, sids, explain, more) if sids else []
        if cands:
            m, best = pick_best(cands, a)
            verdict = why(best, cands) if explain else ""
        else:
            best, m = None, fallback(self.store, q)
            verdict = f"no street candidate; fell back to {m.precision}"
        if not explain:
            return m, best
        block_notes = {"towns_from_city": len(town_ev), "towns_from_zip": len(zip_towns),
                       "towns": [self.store.town_label(c)[0] for c in block[:12]],
                       "streets_considered": len(cands), "street_match": q.how or "no street in the query"}
        return m, Explanation(
            components=a.to_dict(),
            keys={"street_core": sk.core, "street_full": sk.full, "number": number, "city": ckey, "postcode": postcode},
            block=block_notes,
            candidates=[{k: v for k, v in asdict(c).items() if k != "street_id"} for c in cands[:5]],
            match={"precision": m.precision, "score": m.score, "matched": m.matched, "reason": m.reason,
                   "lon": m.lon, "lat": m.lat},
            why=verdict)

    def _towns(self, query_state: str, postcode: str, ckey: str) -> tuple[dict, dict, str]:
        """(the ZIP's towns, the named towns with the confidence of each, the state narrowing them)
        of a reading: town id -> (points, lon, lat) and town id -> confidence (see `Query`)."""
        zip_towns = self.store.zip_towns(postcode) if postcode else {}
        several = len(self.store.coverage.states) > 1  # one state (or none recorded): nothing to narrow
        state = query_state if several and query_state in self.store.coverage.states else ""
        town_ev = self._named_towns(ckey, state)
        if several:
            zip_towns = self._in_state(zip_towns, state)
            town_ev = self._in_state(town_ev, state) if state else self._in_state(
                town_ev, self._state_of(zip_towns), soft=True)
        if len(town_ev) > 1 and zip_towns:  # same-named towns (two counties' FRANKLIN): the ZIP's one
            town_ev = {cid: v for cid, v in town_ev.items() if cid in zip_towns} or town_ev
        return zip_towns, town_ev, state

    def _clean_point(self, a: Address, prepared: tuple | None = None) -> Match | None:
        """What `_run(a)` answers, for a clean reading, without its candidate machinery; None otherwise.

        Clean: the house number written exactly as one point of the only street with the query's
        street core key (its suffix and directional the query's) in the one town the query names by
        its exact key, or in its ZIP's towns when it names none. Then `_run` scores that street
        street 1.0 x town x number 1.0, with no note, and no rival: a street of another town of the
        ZIP scores at most 0.68 (`town_factor`: "town differs"), too low to tie. Other streets of the
        town with the same core key (`MAIN RD` next to `MAIN ST`, `N MAIN ST`) are rivals only if
        their street factor alone, an upper bound of their score, comes within `AMBIGUITY_MARGIN` of
        this one's score: else they can neither win nor make it ambiguous. So its match is built here
        from the same rules (`scoring.town_factor`, `street_factor`, `_place_number`, `pick_best`).
        Seven rows in ten of a noisy batch are clean (benchmarks/RESULTS.md); tests/test_geocode.py
        checks the answers are `_run`'s.
        """
        if not a.number or not a.street or a.po_box:
            return None
        store = self.store
        sk, number, num, postcode, _ckey, outside, zip_towns, town_ev, _state = prepared or self._prepare(a)
        if not sk.core or num is None or outside:
            return None
        if (len(town_ev) != 1 or min(town_ev.values()) < 1.0) if a.city else not zip_towns:
            return None
        # the towns the street is looked for in: the one the query names (a street of another town of
        # its ZIP scores <= 0.68), else the ZIP's
        towns = list(town_ev) if a.city else list(zip_towns)
        alts = _core_alternatives(sk)
        for core, _f in alts:
            store.prefetch_town_streets(towns, core)
        got = None
        for cid in towns:
            for core, f in alts:
                found = store.town_streets(cid, core)
                if found:
                    if got is not None or f < 1.0:
                        return None
                    got = found
        if got is None:
            return None
        st, rival = self._exact_street(sk, got)
        if st is None:
            return None
        if a.city:
            if town_ev.get(st.city_id, 0.0) < 1.0:
                return None
            tfac = 1.0 if not postcode or st.city_id in zip_towns else 0.95
        elif st.city_id in zip_towns:
            tfac = 0.97
        else:
            return None
        idx = points_of_number(st, number, num, bisect_left(st.nums, num))
        if idx is None or len(idx) > 1:
            return None
        r = st.row(idx[0])
        if postcode and r[5] and r[5] != postcode and tfac >= 1.0:
            tfac = 0.97
        if rival >= tfac - AMBIGUITY_MARGIN:  # a same-named street might tie: let `_run` weigh it
            return None
        return quick_match(precision="point", score=round(min(tfac, 1.0), 3), lon=r[2], lat=r[3],
                           matched=f"{r[0]} {street_label(st, a)}{street_tail(store, st)} {r[5]}".rstrip(),
                           ref_id=r[4], reason="", address=a)

    def _exact_street(self, sk: StreetKey, sids: tuple) -> tuple:
        """(the one street of `sids` whose key is the query's, suffix and directional alike, the
        highest street factor of the others), or (None, 0.0) when not exactly one is."""
        store = self.store
        exact, rival = None, 0.0
        for sid in dict.fromkeys(sids):  # a street and its alias under one core: one street
            st = store.streets.get(sid) or store.street(sid)
            f = street_factor(sk, st.key, 1.0, [])
            if f >= 1.0:
                if exact is not None:
                    return None, 0.0
                exact = st
            elif f > rival:
                rival = f
        return exact, rival

    def _in_state(self, towns: dict, state: str, *, soft: bool = False) -> dict:
        """`towns` (town id -> anything) narrowed to `state` when given. `soft` (the state a ZIP
        implies): left whole if none is in it, so a wrong ZIP does not hide the town the query names."""
        if not state or not towns:
            return towns
        inside = self.store.towns_in_state(towns, state)
        return inside or towns if soft else inside

    def _state_of(self, zip_towns: dict) -> str:
        """The one state of a ZIP's towns ("" for none, or a ZIP spanning states)."""
        states = {self.store.town_state(cid) for cid in zip_towns}
        return states.pop() if len(states) == 1 else ""

    def _outside_explanation(self, a: Address, sk: StreetKey, ckey: str, postcode: str, m: Match) -> Explanation:
        return Explanation(components=a.to_dict(), keys={"street_core": sk.core, "street_full": sk.full,
                                                         "city": ckey, "state": a.state, "postcode": postcode},
                           block={"towns": [], "street_match": "not looked up"}, candidates=[],
                           match={"precision": m.precision, "score": m.score, "matched": m.matched,
                                  "reason": m.reason, "lon": m.lon, "lat": m.lat},
                           why=f"{m.reason}: the reference covers {', '.join(sorted(self.store.coverage.states))}")

    def _named_towns(self, ckey: str, state: str = "") -> dict[int, float]:
        """town id -> confidence that the query's city names it (exact key 1.0, else fuzzy); with an
        exact key, only the towns of `state` when given (a name twenty states share is one look-up)."""
        if not ckey:
            return {}
        ids = self.store.city_ids(ckey)
        if ids:
            return dict.fromkeys(self.store.city_ids_in_state(ckey, state) if state and len(ids) > 1 else ids, 1.0)
        return {cid: 0.97 if sim >= 0.85 else 0.9 for cid, sim in self.store.fuzzy_cities(ckey)}

    def _street_ids(self, sk: StreetKey, block: list[int], named: int, state: str = "") -> tuple[list, str, object]:
        """[(street id, similarity, notes, town id)] for the query's street, how they were found (in
        the block, else by the exact key anywhere: in the query's state, when it names one), and the
        `_FuzzyFind` when they are fuzzy hits of the first `named` towns of the block (else None)."""
        sids, how, more = self._street_candidates(sk, block, named, state)
        if not sids and block:
            sids = self._anywhere(sk.core, state)
            how = "exact street key outside the named town/ZIP"
        return sids, how, more

    def _anywhere(self, core: str, state: str) -> list:
        """The streets with this core key in the whole reference (or the query's state), as candidates."""
        return [(sid, 1.0, (), cid) for sid, cid in self.store.global_core(core, state)]

    def _scored_candidates(self, q: Query, sids: list, explain: bool, more=None) -> list[Candidate]:
        """The street candidates `sids`, scored, best first. `more`: the `_FuzzyFind` whose named towns'
        hits `sids` are, the other towns' hits found only if they can matter (see below)."""
        town_ev = q.town_evidence
        rest = ()
        if more is not None:
            if explain:
                sids = sids + list(more.rest(self._fuzzy_hits))
            else:
                rest = more  # the other towns' hits, after the named towns' (block order), if needed
        elif town_ev and not explain and len(sids) > 1:
            # the query names a town: a street of another town scores at most 0.68 (town factor),
            # so once a named town's street scores >= 0.75 the others can neither win nor tie
            # within the ambiguity margin (0.06): score them only when needed
            named = [c for c in sids if c[3] in town_ev]
            if named and len(named) < len(sids):
                rest = [c for c in sids if c[3] not in town_ev]
                sids = named
        cands = [score_candidate(self.store, q, sid, sfac, snotes) for sid, sfac, snotes, _cid in sids]
        if rest and max(c.score for c in cands) < 0.75:
            if rest is more:
                rest = more.rest(self._fuzzy_hits)
            cands += [score_candidate(self.store, q, sid, sfac, snotes) for sid, sfac, snotes, _cid in rest]
        if len(cands) > 1:
            cands.sort(key=by_score)
        return cands

    def _street_candidates(self, sk: StreetKey, block: list[int], named: int, state: str = ""):
        """([(street id, street factor, notes, town id)] in the block: exact core key first, fuzzy if
        none; how they were found; the `_FuzzyFind` of fuzzy hits of the block's first `named` towns)."""
        out = []
        alts = _core_alternatives(sk)
        town_streets = self.store.town_streets
        for core, _f in alts:
            self.store.prefetch_town_streets(block, core)
        for cid in block:
            for core, f in alts:
                for sid in town_streets(cid, core):
                    out.append((sid, f, (), cid))
        if out or not block:
            if not block:
                return self._anywhere(sk.core, state), "exact street key, no town or ZIP in the query", None
            return out, "exact street key in the block", None
        # the same misspelt street in the same block comes back (the second reading of one query,
        # repeated rows): remember the fuzzy verdict, bounded
        ckey = (sk.predir, sk.core, sk.suffix, sk.postdir, tuple(block), named)
        hit = self._fuzzy_cache.get(ckey)
        if hit is None:
            hit = self._fuzzy_cache.get_or(ckey, lambda _k: self._fuzzy_streets(sk, block, named))
        how = "fuzzy street name in the block"
        if hit.pending:  # the named towns' hits; the others' only if `_scored_candidates` needs them
            return list(hit.first), how, hit
        return list(hit.first) + list(hit.rest(self._fuzzy_hits)), how, None

    def _fuzzy_streets(self, sk: StreetKey, block: list[int], named: int = 0) -> _FuzzyFind:
        """Streets of the block whose name is a few edits from the query's, at the first level that
        finds any. Its first `named` towns (those the query names) are searched first at each level:
        when they have hits, the other towns' at that level are searched only if `rest()` is asked
        (a named town's street scoring >= 0.75 leaves them no chance: `_scored_candidates`)."""
        # as typed with directionals and suffix first ("W IHLL RD"), then name + suffix ("JOHNSON
        # LOYOP" is one edit from "JOHNSON LOOP"), then the name alone (typo and a missing suffix)
        first, others = (block[:named], block[named:]) if 0 < named < len(block) else (block, [])
        tried = set()
        for level in FUZZY_LEVELS:
            q = fuzzy_level(sk, level, self.rules)
            if q in tried:
                continue
            tried.add(q)
            seen: set = set()
            hits = self._fuzzy_hits(q, level, first, seen)
            if hits:
                return _FuzzyFind(hits, (q, level, others, seen) if others else None)
            hits = self._fuzzy_hits(q, level, others, seen) if others else []
            if hits:
                return _FuzzyFind(hits, None)
        return _FuzzyFind([], None)

    def _fuzzy_hits(self, q: str, level: str, towns: list[int], seen: set) -> list:
        """[(street id, street factor, notes, town id)] of `towns` whose fuzzy form at `level` is within
        the edit budget of `q`, in town order; street ids in `seen` skipped (and added)."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        out: list = []
        qdigits = _DIGITS.findall(q)
        qn = q.replace(" ", "")
        n = len(qn)
        max_edits = 1 if n <= 4 else 2 if n <= 12 else 3
        lq = len(q)
        for cid in towns:
            forms, cores, lens = self.store.town_forms(cid, level)
            lo, hi = bisect_left(lens, lq - max_edits), bisect_right(lens, lq + max_edits)
            if lo >= hi:
                continue
            for form, dist, i in process.extract(q, forms[lo:hi], scorer=OSA.distance,
                                                 score_cutoff=max_edits, limit=8):
                i += lo
                if _DIGITS.findall(form) != qdigits:  # route 118 is not a typo of route 103
                    continue
                if form.replace(" ", "") == qn:  # "MC DONALD" / "MCDONALD": not a typo
                    dist = 0.3
                # evidence falls with the share of the name that had to change
                f = 0.95 * (1.0 - min(dist, n) / max(n, 1)) ** 1.5
                for sid in self.store.town_streets(cid, cores[i]):
                    if sid not in seen:
                        seen.add(sid)
                        out.append((sid, f, (f"street name {dist:g} edit(s) away",), cid))
        return out


class _FuzzyFind:
    """A fuzzy street search's hits: `first`, the hits of the towns searched first at the level that
    found any, and `rest(search)`, the other towns' hits at that level, searched once when first
    asked (`pending` until then): `search` is `Geocoder._fuzzy_hits`, `asked` its arguments."""

    __slots__ = ("first", "_rest", "_asked")

    def __init__(self, first: list, asked: tuple | None):
        self.first, self._asked, self._rest = tuple(first), asked, ()

    @property
    def pending(self) -> bool:
        return self._asked is not None

    def rest(self, search) -> tuple:
        if self._asked is not None:
            self._rest, self._asked = tuple(search(*self._asked)), None
        return self._rest

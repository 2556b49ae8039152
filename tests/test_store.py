"""The reference store's look-ups give the same answers whichever way they are served: a town's
streets held whole (hot) or asked one key at a time, a street's points read one by one or all."""

from __future__ import annotations

import pytest

from addrcode.geocoding.store import HOT_TOWN, NEIGHBOURS, BoundedCache, ReferenceStore, Street


@pytest.fixture
def store(small_reference):
    s = ReferenceStore(small_reference)
    yield s
    s.close()


def test_town_streets_same_held_whole_or_asked_by_key(small_reference, store):
    towns = [r[0] for r in store.db.execute("SELECT id FROM cities")]
    cores = [r[0] for r in store.db.execute("SELECT DISTINCT core FROM streets")] + ["NO SUCH ST"]
    cold = {(t, c): store.town_streets(t, c) for t in towns for c in cores}
    hot = ReferenceStore(small_reference)
    try:
        for c in cores[:HOT_TOWN]:  # a town asked about HOT_TOWN streets
            hot.prefetch_town_streets(towns, c)
        assert set(hot._town_maps) == set(towns)  # every town is now held whole
        assert {(t, c): hot.town_streets(t, c) for t in towns for c in cores} == cold
        assert any(cold.values()) and cold[(towns[0], "NO SUCH ST")] == ()
    finally:
        hot.close()


def test_street_points_same_read_one_by_one_or_all(store):
    sids = [r[0] for r in store.db.execute("SELECT id FROM streets WHERE n > 3 LIMIT 20")]
    assert sids
    for sid in sids:
        st = store.street(sid)
        want = store.db.execute("SELECT number, num, lon, lat, ref_id, postcode, unit FROM points "
                                "WHERE id BETWEEN ? AND ? ORDER BY id", (st.p0, st.p0 + len(st.nums) - 1)).fetchall()
        last = len(st.nums) - 1
        assert st.number_at(last) == want[last][0] and st._all is None  # the first point: read alone
        assert st.row(last) == want[last] and st._all is None
        assert [st.row(j) for j in range(len(st.nums))] == want  # then all of them
        assert [st.number_at(j) for j in range(len(st.nums))] == [r[0] for r in want]
        assert [r[1] for r in want] == list(st.nums)


def test_streets_read_whole_hold_their_points_compactly(store):
    """The street cache holds up to a million points: held by column with repeating strings shared,
    a point costs well under what it took as a tuple of Python objects (383 bytes on this small
    reference, whose short streets weigh their per-street overhead on each point; 275 with the
    columns, 187 since the integer part is not held twice and plain ids are held as integers; on
    the Vermont reference 390 -> 161 -> 83)."""
    import gc
    import tracemalloc

    sids = [r[0] for r in store.db.execute("SELECT id FROM streets WHERE n > 3")]
    gc.collect()
    tracemalloc.start()
    try:
        streets = [store._load_street(sid) for sid in sids]
        before = tracemalloc.get_traced_memory()[0]
        for st in streets:
            st.row(0), st.row(1), st.row(len(st.nums) - 1)  # a third point far off: the street is read whole
        per_point = (tracemalloc.get_traced_memory()[0] - before) / sum(len(st.nums) for st in streets)
    finally:
        tracemalloc.stop()
    assert per_point < 220, per_point
    postcodes = [pc for st in streets for pc in st._all[4]]
    one = {}
    assert all(one.setdefault(pc, pc) is pc for pc in postcodes)  # one string per distinct postcode


def test_bounded_cache_evicts_oldest_first_by_count_and_weight():
    c = BoundedCache(3)
    for k in range(5):
        c.get_or(k, lambda k: k * 10)
    assert list(c) == [2, 3, 4]
    w = BoundedCache(100, weight=len, maxweight=5)
    for k in "abc":
        w.get_or(k, lambda k: k * 2)  # each weighs 2
    assert list(w) == ["b", "c"] and w.total == 4


def test_more_hot_towns_than_held_are_not_read_whole_again_and_again(small_reference):
    """Two towns asked about in turn with room to hold one whole: each comes back hotter than the last
    time before it is read whole again, so whole-town reads grow with the log of the asks (they were
    one per HOT_TOWN asks: 20 states' towns churned through the 625 held, 0.8 reads per row)."""
    store = ReferenceStore(small_reference)
    store._town_maps.maxsize = 1
    towns = [cid for (cid,) in store.db.execute("SELECT id FROM cities ORDER BY id")][:2]
    cores = [core for (core,) in store.db.execute("SELECT DISTINCT core FROM streets")]
    loads = []
    real = store._load_town_map
    store._load_town_map = lambda cid: loads.append(cid) or real(cid)
    asks = 0
    for core in cores * 20:
        for cid in towns:
            store.prefetch_town_streets([cid, towns[0] + towns[1]], core)  # a second town id: a real block
            asks += 1
        for cid in towns:  # the answers are the same whether a town is held whole or asked by key
            assert store.town_streets(cid, core) == tuple(r[0] for r in store.db.execute(
                "SELECT id FROM streets WHERE city_id=? AND core=? UNION ALL "
                "SELECT street_id FROM street_aliases WHERE city_id=? AND core=?", (cid, core, cid, core)))
    store.close()
    assert asks >= 400 and 2 <= len(loads) <= 12, (asks, len(loads))


def _recorded_street(rows: list, nums: list) -> tuple:
    """A `Street` over point `rows` (number, lon, lat, ref_id, postcode, unit; integer parts `nums`),
    the rows `row` must give for them, and the list of (first, last) index ranges it reads."""
    reads = []

    def fetch(a, b):
        reads.append((a - 100, b - 100))
        return rows[a - 100:b - 100 + 1]

    st = Street(1, 1, "MAIN ST", "MAIN", "MAIN ST", -73.0, 44.0, 100, nums, None, fetch)
    return st, [(r[0], num, *r[1:]) for r, num in zip(rows, nums)], reads


@pytest.mark.parametrize("n", [4 * NEIGHBOURS + 1, 4 * NEIGHBOURS, 3])
def test_a_long_streets_second_point_reads_its_neighbours_not_the_street(n):
    """A national batch meets most streets once or twice: the second point asked of a long street
    reads the `NEIGHBOURS` each side of it (an interpolation's brackets, the number's other points),
    a third elsewhere reads the street whole; a short street is read whole at the second. Each way
    `row` gives the points as stored."""
    st, want, reads = _recorded_street([(str(2 * k), -73.0 - k / 1000, 44.0, f"VT{k}", "05401", "") for k in range(n)],
                                       [2 * k for k in range(n)])
    mid = n // 2
    assert st.row(mid) == want[mid] and reads == [(mid, mid)]
    assert st.row(mid + 1) == want[mid + 1]
    if n > 4 * NEIGHBOURS:
        around = (mid + 1 - NEIGHBOURS, mid + 1 + NEIGHBOURS)
        assert reads[1] == around and st._all is None
        assert [st.row(j) for j in range(around[0], around[1] + 1)] == want[around[0]:around[1] + 1]
        assert len(reads) == 2  # the neighbours came with it
        assert st.row(0) == want[0] and reads[2] == (0, n - 1) and st._all is not None
    else:
        assert reads[1] == (0, n - 1) and st._all is not None
    assert [st.row(j) for j in range(n)] == want and len(reads) == (3 if n > 4 * NEIGHBOURS else 2)


def test_hold_reads_a_run_of_points_in_one_go():
    """`hold(first, last)`: the points with one number's integer part or an interpolation's two
    neighbours in one read; nothing read when they are held; a run longer than the neighbours (or
    after two reads) reads the street whole. `row` then gives the points as stored."""
    n = 60
    st, want, reads = _recorded_street([(str(k // 3), -73.0 - k / 1000, 44.0, f"VT{k}", "05401", str(k % 3))
                                        for k in range(n)], [k // 3 for k in range(n)])
    st.hold(30, 32)
    assert reads == [(30, 32)] and [st.row(j) for j in (30, 31, 32)] == want[30:33] and len(reads) == 1
    st.hold(31, 32)
    assert len(reads) == 1 and st._all is None  # held already
    st.hold(0, 2 * NEIGHBOURS + 1)  # longer than the neighbours: the street whole
    assert reads[-1] == (0, n - 1) and st._all is not None
    assert [st.row(j) for j in range(n)] == want and len(reads) == 2


@pytest.mark.parametrize("ids", [("7", "12", "40001"), ("007", "12", "40001"), ("A7", "12", "40001"),
                                 ("7", "", "40001"), ("7", "12", "99999999999999999999"), ("7", "12", None)])
def test_point_ids_come_back_as_written_whether_held_as_integers_or_not(ids):
    """Plain decimal ids are held as integers (a third of a point's memory); any other (a leading
    zero, letters, empty, too long for 64 bits, NULL) as written - either way `row` gives it back."""
    rows = [(str(n), -73.0 - n / 1000, 44.0, ref, "05401", "") for n, ref in zip((5, 7, 9), ids)]
    st = Street(1, 1, "MAIN ST", "MAIN", "MAIN ST", -73.0, 44.0, 100, [5, 7, 9], None,
                lambda a, b: rows[a - 100:b - 100 + 1])
    got = [st.row(j) for j in range(3)]  # the first alone, then all three by column
    assert st._all is not None
    assert got == [(number, num, lon, lat, ref, pc, unit) for (number, lon, lat, ref, pc, unit), num in
                   zip(rows, (5, 7, 9))]
    assert all(type(r[4]) is type(ref) for r, ref in zip(got, ids))


def test_a_zip_spanning_states_is_narrowed_to_the_querys_state(tmp_path, small_oa):
    """A ZIP whose towns lie in two states (the NH copy given Vermont's own ZIP, 05905, same towns
    and streets): the same address is placed in the state the query names."""
    from addrcode.geocoding.build import build_reference
    from addrcode.geocoding.geocoder import Geocoder
    from tests.conftest import relabelled_state

    nh = relabelled_state(small_oa, tmp_path / "nh.csv", state="NH", zip_prefix="059", dlon=2.0)
    shared = tmp_path / "shared-zip.sqlite"
    build_reference([small_oa, nh], shared)
    with Geocoder(shared) as g:
        towns = g.store.zip_towns("05905")
        assert {g.store.town_state(c) for c in towns} == {"VT", "NH"}
        vt, nh_m = (g.geocode(f"1033 Boudle Rd, Bloomfield, {st} 05905") for st in ("VT", "NH"))
    assert vt.precision == nh_m.precision == "point" and vt.score == nh_m.score
    assert abs(vt.lon - -71.6690546) < 1e-6 and abs(nh_m.lon - (-71.6690546 + 2.0)) < 1e-6

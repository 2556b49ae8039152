"""The reference store's look-ups give the same answers whichever way they are served: a town's
streets held whole (hot) or asked one key at a time, a street's points read one by one or all."""

from __future__ import annotations

import pytest

from addrcode.geocoding.store import HOT_TOWN, BoundedCache, ReferenceStore


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
        assert st.row(last) == want[last] and st._all is None  # the first point: read alone
        assert [st.row(j) for j in range(len(st.nums))] == want  # then all of them
        assert [r[1] for r in want] == list(st.nums)


def test_bounded_cache_evicts_oldest_first_by_count_and_weight():
    c = BoundedCache(3)
    for k in range(5):
        c.get_or(k, lambda k: k * 10)
    assert list(c) == [2, 3, 4]
    w = BoundedCache(100, weight=len, maxweight=5)
    for k in "abc":
        w.get_or(k, lambda k: k * 2)  # each weighs 2
    assert list(w) == ["b", "c"] and w.total == 4

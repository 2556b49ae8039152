"""AU geocoding on the Australian reference (noisy queries from real points, scripts/make_au_queries.py).

The geocoder reads the reference's locale (`meta.locale = "au"`): AU street types (`PDE` = `PARADE`),
4-digit postcodes, AU states, flat/level types and the `2/15` unit form, so the thresholds are the US
ones (tests/test_geocode_accuracy.py); docs/ACCURACY-AU.md has the full figures.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PER_KIND = 60


def _aq():
    spec = importlib.util.spec_from_file_location("make_au_queries", ROOT / "scripts" / "make_au_queries.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    from addrcode.geocoding.build import build_reference
    from addrcode.geocoding.geocoder import Geocoder
    from addrcode.geocoding.reference import reference_info

    aq = _aq()
    towns = {"PAKENHAM", "WARRAGUL", "LILYDALE", "KATOOMBA", "BLACKHEATH", "LITHGOW", "WENTWORTH FALLS"}
    rows = [r for r in aq.load_rows() if r["CITY"] in towns]
    d = tmp_path_factory.mktemp("auref")
    src = d / "au.csv.gz"
    aq._mq().write_oa(rows, src)
    ref = d / "au.sqlite"
    build_reference([src], ref, locale="au")
    assert reference_info(ref)["locale"] == "au"
    with Geocoder(ref) as g:
        return aq._mq().evaluate(g, aq.make_queries(rows, PER_KIND, seed=5))


@pytest.mark.parametrize("kind", ["clean", "title", "lower", "no_comma", "unit"])
def test_clean_and_unit_forms_land_on_the_point(stats, kind):
    # the US levels (tests/test_geocode_accuracy.py): AU text is read with the reference's locale
    assert stats[kind]["within50"] >= 0.99, stats[kind]["examples"]


@pytest.mark.parametrize("kind", ["typo", "missing_postcode", "missing_locality", "wrong_postcode", "leading_name"])
def test_noisy_forms_land_on_the_point(stats, kind):
    assert stats[kind]["within50"] >= 0.97, stats[kind]["examples"]


def test_nonexistent_streets_are_not_confident(stats):
    assert stats["nonexistent"]["false_confident"] <= 0.05, stats["nonexistent"]["examples"]


def test_calibration_holds_on_au(stats):
    hi = sum(s["hi"] for s in stats.values())
    ok = sum(s["hi_ok"] for s in stats.values())
    assert hi >= 100 and ok / hi >= 0.98

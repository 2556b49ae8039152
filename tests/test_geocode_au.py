"""AU geocoding on the Australian reference (noisy queries from real points, scripts/make_au_queries.py).

These pin what the geocoder does *today* with AU text (it still reads free text with the US rules;
see docs/ACCURACY-AU.md): the clean forms already land on the point. The thresholds of the kinds that
need AU reading (units `2/15`, AU street-type spellings in typos) rise when geocode.py takes the
reference's locale.
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
    from addrcode.geocode import Geocoder
    from addrcode.reference import build_reference, reference_info

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


@pytest.mark.parametrize("kind", ["clean", "title", "missing_postcode", "leading_name", "no_comma"])
def test_clean_forms_land_on_the_point(stats, kind):
    assert stats[kind]["within50"] >= 0.85, stats[kind]["examples"]


def test_calibration_holds_on_au(stats):
    hi = sum(s["hi"] for s in stats.values())
    ok = sum(s["hi_ok"] for s in stats.values())
    assert hi >= 100 and ok / hi >= 0.98

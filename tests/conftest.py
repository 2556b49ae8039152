"""Shared fixtures.

- `small_reference`: a reference built from `tests/data/oa_small.csv` (two Vermont towns, ~480 rows,
  plus four rows the builder must reject); needs nothing outside the project.
- `vt_reference`: the embedded Vermont reference (248k points, ~10 s to build), built once per
  session into a temporary directory.
"""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
ROOT = TESTS.parent
SHARED = TESTS.parents[1] / "shared"  # ../shared next to the repo: the real data sets


@pytest.fixture(scope="session")
def small_oa() -> Path:
    return DATA / "oa_small.csv"


@pytest.fixture(scope="session")
def small_reference(tmp_path_factory, small_oa) -> Path:
    from addrcode.reference import build_reference

    out = tmp_path_factory.mktemp("ref") / "small.sqlite"
    build_reference([small_oa], out)
    return out


@pytest.fixture(scope="session")
def vt_reference(tmp_path_factory) -> Path:
    from addrcode.reference import EMBEDDED_SOURCE, build_reference

    if not EMBEDDED_SOURCE.is_file():
        pytest.skip("embedded Vermont data (data/vt-e911) absent")
    out = tmp_path_factory.mktemp("vtref") / "vt.sqlite"
    build_reference([EMBEDDED_SOURCE], out)
    return out

"""The one place that knows where addrcode's packaged data lives.

The embedded default data sits in the top-level `data/` folder of the source tree and is installed as the
package `addrcode.data` (see `pyproject.toml`). Both an editable and a regular install find it here; nothing
else in addrcode computes a path from `__file__` to reach it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DEMO_KEYRING = "demo-keyring.json"
VT_ZONES = "vt-zones.geojson"
VT_SOURCE = "vt-e911/vt_e911_addresses_oa.csv.gz"
ABBREVIATIONS = "abbreviations"


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """The folder of the packaged data: the installed `addrcode/data`, else the source tree's `data/`.

    Found beside this file rather than through `importlib.resources`: `addrcode.data` has no
    `__init__.py`, so `resources.files` gives a `MultiplexedPath` whose text is not a path, and a
    regular `pip install .` then looked for the data outside the package.
    """
    here = Path(__file__).resolve().parent
    installed = here / "data"
    return installed if installed.is_dir() else here.parent / "data"


def data_path(name: str) -> Path:
    """Path of one file (or folder) of the packaged data, `name` relative to `data/`."""
    return data_dir() / name


def package_dir() -> Path:
    """The `addrcode` package folder (for hashing the code that shapes cached builds)."""
    return Path(__file__).resolve().parent

"""addrcode: opaque delivery codes instead of addresses on parcel labels.

The stages, each a sub-package with a small function API (README, Layout):
normalize -> geocoding -> grid, zones, codes -> stations; batch runs them over files, outputs draws them.

The main entry points are importable from here; they load lazily, so `import addrcode` costs nothing.
(`addrcode.normalize` stays the sub-package: `from addrcode.normalize import normalize`.)

    import addrcode
    job = addrcode.make_job("encode", addrcode.load_config())
    job("637 College St, Middlebury VT 05753")["code"]
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Address": "addrcode.records",
    "Match": "addrcode.records",
    "Geocoder": "addrcode.geocoding.geocoder",
    "load_config": "addrcode.config",
    "Config": "addrcode.config",
    "make_job": "addrcode.batch.jobs",
    "Resolver": "addrcode.stations.resolver",
    "process_frame": "addrcode.batch.engines",
    "AddrcodeError": "addrcode.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'addrcode' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(__all__)

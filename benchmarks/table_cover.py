"""Table size cost of the cover and of the key window (issue 19): the embedded Vermont reference, demo keyring.

Prints cover statistics, then rows, MB and CPU seconds of a full table and one station extract, with and
without the cover (the previous row set), built in the same run, and the run's peak RSS.

    python benchmarks/table_cover.py
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from addrcode.codes.keyring import demo_keyring_path, load_keyring
from addrcode.geocoding.default import default_reference
from addrcode.grid import Grid
from addrcode.stations.build import build_table
from addrcode.stations.cells import issuable_cells
from addrcode.stations.cover import covered_cells
from addrcode.zones import default_zones_path, load_zones

RUNS = [("all, issuable only", dict(cover=False)), ("all, covered", {}),
        ("SC-ESSEX, issuable only", dict(cover=False, station="SC-ESSEX")),
        ("SC-ESSEX, covered", dict(station="SC-ESSEX"))]


def main() -> None:
    ref = default_reference(Path(os.path.expanduser("~/.cache/addrcode")), print)
    grid, zones, keyring = Grid(), load_zones(default_zones_path()), load_keyring(demo_keyring_path())
    issuable = issuable_cells(ref, grid)
    stats: dict = {}
    t = time.process_time()
    covered_cells(ref, zones, grid, issuable=issuable, stats=stats)
    print(f"cover: {time.process_time() - t:.1f} CPU-s", stats)
    with tempfile.TemporaryDirectory() as folder:
        for n, (name, options) in enumerate(RUNS):
            t = time.process_time()
            info = build_table(ref, zones, keyring, grid, Path(folder) / f"{n}.sqlite", cells=issuable, **options)
            print(f"{name:<26} rows {info.rows:>11,}  {info.size_bytes / 1e6:7.1f} MB  "
                  f"{time.process_time() - t:6.1f} CPU-s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()

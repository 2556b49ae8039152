"""The demo station table for the embedded data, built once into a cache directory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from addrcode.stations.build import build_table
from addrcode.stations.table import TABLE_VERSION


def default_table(cache_dir, notify: Callable[[str], None] | None = None, *, reference=None, zones_path=None,
                  keyring_path=None, grid=None) -> tuple[Path, Path]:
    """The demo station table for the embedded data, built once into `cache_dir`: (table, public key).

    Defaults: the embedded Vermont reference (`addrcode.geocoding.default.default_reference`), `data/vt-zones.geojson`,
    the demo keyring and the EPSG:5070 100 m grid. The file name carries a hash of every input, so
    new data, zones, keys or a new table format build a new file.
    """
    # only what naming the file needs is imported up front: a station's start-up stays light
    from addrcode.codes.keyring import demo_keyring_path, pub_path

    cache_dir = Path(cache_dir)
    if reference is not None:
        ref = Path(reference)
    else:
        from addrcode.geocoding.default import default_reference

        ref = default_reference(cache_dir, notify)
    if zones_path is not None:
        zpath = Path(zones_path)
    else:
        from addrcode.zones import default_zones_path

        zpath = default_zones_path()
    kpath = Path(keyring_path) if keyring_path is not None else demo_keyring_path()
    if grid is None:
        from addrcode.grid import Grid

        grid = Grid()
    from addrcode.codes.keyring import load_keyring

    keyring = load_keyring(kpath)
    h = hashlib.sha256()
    # the current key period too: a table holds the keys of one window, so each period builds its own
    for part in (str(keyring.current_period), ref.name, str(ref.stat().st_size),
                 hashlib.sha256(zpath.read_bytes()).hexdigest(),
                 hashlib.sha256(kpath.read_bytes()).hexdigest(), grid.crs, repr(grid.cell_size_m),
                 str(TABLE_VERSION)):
        h.update(part.encode() + b"\x00")
    out = cache_dir / f"table-v{TABLE_VERSION}-{h.hexdigest()[:12]}.sqlite"
    pub = pub_path(kpath)
    from addrcode.geocoding.default import cache_intact, record_integrity

    # the demo key is public, so its signature proves nothing about a cached file: its SHA-256 does
    if out.is_file() and cache_intact(out, notify, "demo station table"):
        return out, pub
    if notify is not None:
        notify(f"building the default station table (once) into {out} ...")
    from addrcode.zones import load_zones

    build_table(ref, load_zones(zpath), keyring, grid, out)
    record_integrity(out)
    return out, pub

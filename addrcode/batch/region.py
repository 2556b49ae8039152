"""`addrcode init`: one folder per region, holding its configuration, keyring, zones and station table.

The folder's `addrcode.toml` names the reference (absolute: it usually lives elsewhere) and the files
the next commands make inside the folder (relative: they resolve against the TOML file, so the folder
can be moved). Run from that folder, every command finds `./addrcode.toml` and uses the region's files,
never the embedded Vermont demo data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from addrcode.config import CONFIG_NAME
from addrcode.errors import UsageError

# The files of a region folder, as named in its addrcode.toml (relative to the folder).
REGION_FILES = {"zones": "zones.geojson", "keyring": "keyring.json", "table": "station.sqlite",
                "public_key": "keyring.json.pub"}


@dataclass
class RegionSetup:
    """What `init_region` made: the folder, its config file, whether it created a keyring, what to run next."""

    folder: Path
    config_path: Path
    keyring_path: Path
    created_keyring: bool
    locale: str
    next_commands: list[str] = field(default_factory=list)


def _toml_text(reference: Path, locale: str) -> str:
    import json

    lines = ["# addrcode region configuration, written by `addrcode init`.",
             "# Relative paths are relative to this file. `addrcode config` shows what is in force.",
             f"reference = {json.dumps(str(reference))}  # built with `addrcode reference build`"]
    lines += [f"{key} = {json.dumps(name)}" for key, name in REGION_FILES.items()]
    lines.append(f"locale = {json.dumps(locale)}")
    return "\n".join(lines) + "\n"  # json.dumps quoting is valid TOML for these plain strings


def init_region(folder: str | os.PathLike, reference: str | os.PathLike, *, force: bool = False) -> RegionSetup:
    """Make `folder` (mode 0700) a region: write its `addrcode.toml` (0600) naming `reference` and the
    region's zones, keyring and table, and create the keyring (0600) and its `.pub` unless one is there.

    An existing `addrcode.toml` is replaced only with `force` (a keyring already there is always kept:
    replacing it would orphan every code issued with it). The reference is checked first (DataError if it
    is not a readable addrcode reference), and its locale is written to the configuration.
    """
    from addrcode.codes.keyring import new_keyring
    from addrcode.files import write_private
    from addrcode.geocoding.reference import reference_info

    folder, reference = Path(folder).expanduser().absolute(), Path(reference).expanduser().absolute()
    locale = str(reference_info(reference).get("locale") or "us")
    config_path = folder / CONFIG_NAME
    if config_path.exists() and not force:
        raise UsageError(f"{config_path} exists; pass --force to replace it (its keyring is kept)")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(config_path, _toml_text(reference, locale))
    keyring_path = folder / REGION_FILES["keyring"]
    created = not keyring_path.exists()
    if created:
        new_keyring(keyring_path)
    return RegionSetup(folder, config_path, keyring_path, created, locale, _next_commands(folder))


def _next_commands(folder: Path) -> list[str]:
    """The commands that take a new region from its reference to resolved codes, in order."""
    import shlex

    return [f"cd {shlex.quote(str(folder))}",
            f"addrcode zones build --by postcode -o {REGION_FILES['zones']}",
            "addrcode zones check",
            "addrcode encode -i orders.csv --column address -o coded.csv",
            f"addrcode table build -o {REGION_FILES['table']}",
            "addrcode resolve -i coded.csv --column addrcode_code -o resolved.csv"]

"""The `addrcode zones` commands: draw, build and check delivery zones (added to `addrcode.cli.cli`)."""

from __future__ import annotations

from pathlib import Path

import click

from addrcode.cli_options import config_options, load, notify, table_options
from addrcode.errors import UsageError


@click.group("zones")
def zones_group():
    """Inspect delivery zones."""


@zones_group.command("map")
@click.option("-o", "--output", required=True, metavar="zones.html|zones.svg", help="HTML page or bare SVG.")
@click.option("--width", type=click.FloatRange(200, 10000), default=1000.0, show_default=True,
              help="Drawing width in pixels.")
@config_options
@click.option("--zones", metavar="ZONES.geojson", help="Zones file (default: from the configuration).")
@table_options
def zones_map(output, width, config_path, locale, zones, table, public_key):
    """Draw the zones, labelled with routing keys and sort centers (coloured by a station table if given)."""
    from addrcode.batch.jobs import open_grid, open_zones
    from addrcode.outputs.zonemap import render_zone_map

    config = load(config_path, locale=locale, zones=zones, table=table, public_key=public_key)
    if config.table is not None and config.public_key is None:
        raise UsageError("--table needs --public-key (the keyring's .pub file)")
    render_zone_map(open_zones(config, notify), Path(output), table=config.table, public_key=config.public_key,
                    grid=open_grid(config), width=width, file_mode=config.file_mode)
    click.echo(f"wrote {output}", err=True)

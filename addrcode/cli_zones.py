"""The `addrcode zones` commands: draw, build and check delivery zones (added to `addrcode.cli.cli`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from addrcode.cli_options import (
    config_options,
    echo_json,
    load,
    notify,
    reference_options,
    table_options,
    text_or_json_option,
)
from addrcode.errors import UsageError


@click.group("zones")
def zones_group():
    """Draw, build and check delivery zones."""


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


@zones_group.command("build")
@click.option("-o", "--output", required=True, metavar="ZONES.geojson",
              help="Zones file to write (atomically; `-` = stdout, once the file is verified).")
@reference_options
@click.option("--by", type=click.Choice(["postcode", "town"]),
              help="Draw the zones from the reference: one per postcode, or per town (STATE-TOWN).")
@click.option("--from", "source", metavar="FILE.geojson",
              help="Take the zone polygons from this GeoJSON file instead (with --id-field).")
@click.option("--id-field", metavar="NAME", help="With --from: the property holding each zone's id.")
@click.option("--sort-centers", type=click.IntRange(min=1), metavar="N",
              help="N balanced sort centers (SC01...) of neighbouring zones, by address count [default: one].")
@click.option("--sort-centers-csv", metavar="FILE.csv",
              help="Sort centers from a CSV with the header zone,sort_center[,route,...], a row per zone.")
@config_options
def zones_build(output, reference, by, source, id_field, sort_centers, sort_centers_csv, config_path, locale):
    """Build the delivery zones of your reference's region.

    \b
    addrcode zones build --reference ma.sqlite --by postcode -o zones.geojson
    addrcode zones build --from towns.geojson --id-field NAME --sort-centers-csv centers.csv -o zones.geojson
    """
    from addrcode.batch.jobs import open_grid, reference_path
    from addrcode.stations.zone_builder import build_zones

    if (by is None) == (source is None):
        raise UsageError("give --by postcode, --by town or --from FILE.geojson --id-field NAME (one of them)")
    if id_field is not None and source is None:
        raise UsageError("--id-field goes with --from FILE.geojson")
    if sort_centers is not None and sort_centers_csv is not None:
        raise UsageError("give --sort-centers N or --sort-centers-csv FILE, not both")
    config = load(config_path, locale=locale, reference=reference)
    # `-` is stdout, as for every other command: the file is built and verified aside, then streamed
    target = "/dev/stdout" if output == "-" else output
    summary = build_zones(reference_path(config, notify), open_grid(config), by=by or "postcode", source=source,
                          id_field=id_field, sort_centers=sort_centers, sort_centers_csv=sort_centers_csv,
                          output=target, file_mode=config.file_mode, progress=notify)
    if output == "-":
        summary = replace(summary, output="stdout")
    click.echo(summary.to_text(), err=True)


@zones_group.command("check")
@click.argument("zones", required=False, metavar="[ZONES.geojson]")
@reference_options
@text_or_json_option
@config_options
def zones_check(zones, reference, fmt, config_path, locale):
    """Check zones against the reference: overlaps, gaps (issuable cells in no zone), invalid polygons.

    ZONES defaults to the configured zones. Exit code 0 when none is found, 1 when some are.
    """
    import sys

    from addrcode.batch.jobs import open_grid, reference_path, zones_path
    from addrcode.cli_group import EXIT_OK, EXIT_SOME_FAILED
    from addrcode.stations.zone_builder import check_zones

    config = load(config_path, locale=locale, reference=reference, zones=zones)
    result = check_zones(zones_path(config, notify), reference_path(config, notify), open_grid(config))
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        click.echo(result.to_text())
    sys.exit(EXIT_OK if result.ok else EXIT_SOME_FAILED)

"""The station commands: `addrcode table build|verify|diff` and `addrcode scan`, and the station
configuration `resolve` shares (added to `addrcode.cli.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from addrcode.cli_group import EXIT_OK, EXIT_SOME_FAILED
from addrcode.cli_options import (
    code_options,
    config_options,
    demo_table_option,
    echo_json,
    load,
    notify,
    quiet_option,
    reference_options,
    table_options,
    text_or_json_option,
)


def station_config(config_path, locale, table, public_key, demo):
    """The configuration of `resolve`/`scan` with the station table and its public key pinned
    (`addrcode.batch.jobs.table_paths`: the demo table only with `--demo`)."""
    from dataclasses import replace

    from addrcode.batch.jobs import table_paths

    config = load(config_path, locale=locale, table=table, public_key=public_key)
    table_path, key_path = table_paths(config, notify, demo=demo)
    return replace(config, table=table_path, public_key=key_path)


@click.group("table")
def table_group():
    """Build, verify and compare signed station tables (code -> destination, no addresses)."""


@table_group.command("build")
@click.option("-o", "--output", required=True, metavar="TABLE.sqlite", help="Table file to write (atomically).")
@click.option("--station", metavar="SORT_CENTER", help="Per-station extract: only this sort center's codes "
              "plus the routing-prefix next-hop table.")
@click.option("--serial", type=click.IntRange(min=0), help="Table serial, at most the build time "
              "[default: build time, YYYYMMDDHHMMSS]. Stations refuse a serial lower than one they used.")
@click.option("--valid-days", type=click.FloatRange(min=0, min_open=True, max=366), metavar="DAYS",
              help="Stations refuse the table after this [default: the end of the last key period it holds, "
                   "1-2 periods].")
@config_options
@reference_options
@code_options
@quiet_option
def table_build(output, station, serial, valid_days, config_path, locale, reference, zones, keyring, quiet):
    """Build a signed station table from the reference, the zones and the keyring.

    One row per covered cell (every cell of a zone near a populated 1 km block, plus decoys: the rows
    do not say who lives where) and per key of the window. Rebuild it every key period (week). Give
    stations the table and the keyring's .pub file, never the keyring.
    """
    from addrcode.batch.jobs import open_grid, open_keyring, open_zones, reference_path
    from addrcode.stations.build import build_table

    config = load(config_path, locale=locale, reference=reference, zones=zones, keyring=keyring)
    info = build_table(reference_path(config, notify), open_zones(config, notify), open_keyring(config, notify),
                       open_grid(config), Path(output), station=station, serial=serial, valid_days=valid_days,
                       progress=None if quiet else notify, file_mode=config.file_mode)
    if not quiet:
        click.echo(f"{output}: serial {info.serial}, {info.rows:,} codes, {info.zones} zones, station "
                   f"{info.station}, {info.size_bytes:,} bytes, valid until {info.not_after}, signed by key "
                   f"{info.public_key_fingerprint}", err=True)


@table_group.command("verify")
@click.argument("table_path", metavar="TABLE")
@click.option("--public-key", required=True, multiple=True, metavar="FILE.pub",
              help="Public key the table must be signed with (twice: either of two keys, during a key change).")
@click.option("--newer-than", metavar="INSTALLED|SERIAL",
              help="Refuse unless TABLE's serial is newer than this installed table (or serial) and, given the "
                   "installed table, for the same station: no replay, no substitution.")
@click.option("--station", metavar="SORT_CENTER", help="Refuse unless TABLE is this station's extract "
              "(or a full table).")
@text_or_json_option
def table_verify(table_path, public_key, newer_than, station, fmt):
    """Check a table before installing it: signature over every byte, consistency, expiry, serial, station.

    The fingerprint and demo flag printed are those of the key that verified the table.
    """
    from addrcode.stations.signing import verify_table
    from addrcode.stations.trust import StationTrust

    info = verify_table(table_path, list(public_key), newer_than=newer_than,
                        trust=StationTrust(station=station, notify=notify))
    if fmt == "json":
        return echo_json(info.to_dict())
    epochs = ", ".join(f"{i} {s}" for i, s in info.epochs)
    click.echo(f"{table_path}: OK — serial {info.serial}, built {info.built_at}, valid until {info.not_after}, "
               f"station {info.station}, {info.rows:,} codes, {info.zones} zones, epochs {epochs}, signed by key "
               f"{info.public_key_fingerprint}"
               + (" (DEMO key: not private)" if info.demo else ""))


@table_group.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--public-key", required=True, multiple=True, metavar="FILE.pub",
              help="Public key both tables are signed with (twice: either of two keys, during a key change).")
@text_or_json_option
def table_diff(old, new, public_key, fmt):
    """What changes from OLD to NEW: codes added, removed, re-routed, revoked (check before deploying)."""
    from addrcode.stations.diff import diff_tables

    diff = diff_tables(old, new, list(public_key))
    if fmt == "json":
        return echo_json(diff.to_dict())
    click.echo(diff.text())


@click.command("scan")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", default="-", metavar="FILE", show_default=True,
              help="Output file (`-` = stdout), written atomically.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "jsonl", "json"]), default="text",
              show_default=True, help="Output format: one record per code found (or per unreadable file).")
@click.option("--dpi", type=click.IntRange(72, 1200), default=200, show_default=True,
              help="Resolution at which PDF pages are rasterised.")
@config_options
@table_options
@demo_table_option
def scan(images, output, fmt, dpi, config_path, locale, table, public_key, demo):
    """Read the Code 128 / QR symbols of label images (PNG, JPEG, PDF) and resolve each code.

    For stations with a camera instead of a scanner, and for testing printed labels.
    """
    from addrcode.batch.frame import scan_images

    config = station_config(config_path, locale, table, public_key, demo)
    failed = scan_images(images, config, output, fmt, dpi=dpi, notify=notify)
    sys.exit(EXIT_SOME_FAILED if failed else EXIT_OK)


COMMANDS = (table_group, scan)

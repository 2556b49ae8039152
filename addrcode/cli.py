"""The `addrcode` command line: parses options and calls the library, nothing more.

Exit codes: 0 every record ok · 1 finished, some records rejected or errored · 2 usage error ·
3 data or configuration error. Data goes to stdout (or `-o FILE`), messages to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from addrcode import __version__, cli_delivery, cli_region, cli_station, cli_zones
from addrcode.cli_group import EXIT_OK, EXIT_PIPE_CLOSED, EXIT_SOME_FAILED, AddrcodeGroup, quiet_stdout
from addrcode.cli_options import (
    batch_options,
    code_options,
    config_options,
    demo_table_option,
    echo_json,
    input_options,
    load,
    notify,
    options,
    output_options,
    quiet_option,
    reference_options,
    table_options,
    text_or_json_option,
)


@click.group(cls=AddrcodeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="addrcode")
@click.option("-v", "--verbose", is_flag=True, help="Show the traceback behind an `internal error (...)` on "
              "stderr (also $ADDRCODE_DEBUG=1). It may show the record's data.")
def cli(verbose):
    """Short opaque delivery codes instead of addresses on parcel labels.

    Normalize and geocode addresses, encode them to codes, and resolve codes at sorting stations
    from a signed table that holds no addresses.
    """
    if verbose:  # through the environment: the worker processes see it too
        from addrcode.config import DEBUG_ENV

        os.environ[DEBUG_ENV] = "1"


# --------------------------------------------------------------------------- the batch commands


def batch_command(*more_options):
    """`@cli.command()` with the options every batch command has, then `more_options`."""
    return options(cli.command(), input_options, output_options, batch_options, config_options, *more_options)


def run_batch(command, config, job_options=None, *, texts, input_path, column, delimiter, encoding, output, fmt,
              rejects, quiet, report=None, show_addresses=False, row_hash=False, details=None, **run_options) -> None:
    """Run a batch command from its options (`addrcode.batch.frame.run_batch`), print the summary, exit.

    `run_options`: the component columns (`number_col` ... `postcode_col`) and `batch_options`."""
    from addrcode.batch import frame
    from addrcode.batch.columns import COMPONENT_PARTS
    from addrcode.batch.io import parse_delimiter
    from addrcode.batch.progress import TerminalProgress

    columns = {part: run_options.pop(f"{part}_col") for part in COMPONENT_PARTS}  # --number ... --postcode
    source = frame.InputSpec(texts=tuple(texts), path=input_path, column=column, delimiter=parse_delimiter(delimiter),
                             encoding=encoding, components={part: name for part, name in columns.items() if name},
                             details={part: name for part, name in (details or {}).items() if name})
    target = frame.OutputSpec(path=output, fmt=fmt, rejects=rejects, report=report, show_addresses=show_addresses,
                              row_hash=row_hash)
    summary = frame.run_batch(command, config, source, target, frame.RunSpec(**run_options), options=job_options,
                              notify=notify, progress=None if quiet or not sys.stderr.isatty() else TerminalProgress)
    if not quiet:
        click.echo(summary.text(), err=True)
    sys.exit(EXIT_OK if summary.ok == summary.rows else EXIT_SOME_FAILED)


# --------------------------------------------------------------------------- commands


@batch_command()
def normalize(config_path, locale, **options):
    """Parse and normalize addresses: US in USPS Publication 28 style, Australian with --locale au.

    \b
    echo "637 college street middlebury vermont 05753" | addrcode normalize
    addrcode normalize --format jsonl "12 1/2 N Main St Apt 3, Barre VT"
    addrcode normalize -i orders.csv --column address -o normalized.csv
    """
    run_batch("normalize", load(config_path, locale=locale), **options)


@batch_command(reference_options)
def geocode(config_path, locale, reference, **options):
    """Geocode addresses against the local reference: lon, lat, precision, score, matched.

    \b
    precision: point (house found) > interpolated > street > postcode > locality > none
    score: 0-1, calibrated (>= 0.9: at least 98 % within 50 m on the test set)
    \b
    addrcode geocode "637 College St, Middlebury VT 05753"
    addrcode geocode -i orders.csv --column address -o geocoded.csv
    """
    run_batch("geocode", load(config_path, locale=locale, reference=reference), **options)


@cli.command()
@click.argument("text")
@config_options
@reference_options
@text_or_json_option
@click.option("--steps", is_flag=True, help="Also show the parser's steps, one by one.")
def explain(text, config_path, locale, reference, fmt, steps):
    """Show how one address is parsed and matched: components, block, candidates, and why the winner won."""
    from addrcode.batch.jobs import open_geocoder
    from addrcode.normalize import trace

    config = load(config_path, locale=locale, reference=reference)
    explanation = open_geocoder(config, notify).explain(text)
    parse_steps = trace(text, config.locale) if steps else []
    if fmt == "json":
        return echo_json({**explanation.to_dict(), **({"steps": parse_steps} if steps else {})}, ascii_only=False)
    for step in parse_steps:
        found = ", ".join(f"{k}={v!r}" for k, v in step["fields"].items())
        click.echo(f"step {step['step']}: {step['doc']}\n    {found or '-'}"
                   + (f"  [{'; '.join(step['warnings'])}]" if step["warnings"] else ""))
    click.echo(explanation.to_text())


@batch_command(reference_options, code_options)
@click.option("--min-precision", type=click.Choice(["point", "interpolated", "street", "postcode", "locality"]),
              default=None, help="Refuse matches coarser than this [default: from config, interpolated].")
@click.option("--min-score", type=float, default=None, help="Refuse matches scoring below this [default: 0.5].")
@click.option("--with-coords", is_flag=True, help="Also output lon/lat (off by default: privacy).")
@click.option("--report", metavar="REPORT.html", help="Also write a self-contained HTML report of the run.")
@click.option("--show-addresses", is_flag=True, help="Show the addresses in the report's examples (default: "
              "row number and reason only, no address text).")
@click.option("--row-hash", is_flag=True, help="Also show a keyed hash (HMAC-SHA256, random key of this report) "
              "of each report example's address: equal hashes, same address.")
@click.option("--seal", is_flag=True, help="Also seal each parcel's delivery details (address, and the name, phone "
              "and notes columns) to its delivery region's key: the addrcode_sealed column, for the label's QR.")
@click.option("--delivery-keys", metavar="DIR", help="Folder of the delivery regions' public keys (.pub) "
              "[default: delivery_keys from the config].")
@click.option("--name-column", metavar="NAME", help="Recipient name column, sealed with --seal.")
@click.option("--phone-column", metavar="NAME", help="Recipient phone column, sealed with --seal.")
@click.option("--notes-column", metavar="NAME", help="Delivery notes column, sealed with --seal.")
def encode(config_path, locale, reference, zones, keyring, min_precision, min_score, with_coords, seal,
           delivery_keys, name_column, phone_column, notes_column, **options):
    """Encode addresses to opaque delivery codes: geocode -> grid cell -> zone -> code.

    \b
    addrcode encode "637 College St, Middlebury VT 05753"
    addrcode encode -i orders.csv --column address -o coded.csv --rejects rejects.csv
    addrcode encode -i orders.csv --seal --name-column name --phone-column phone -o coded.csv
    """
    config = load(config_path, locale=locale, reference=reference, zones=zones, keyring=keyring,
                  min_precision=min_precision, min_score=min_score, delivery_keys=delivery_keys)
    details = {"name": name_column, "phone": phone_column, "notes": notes_column}
    run_batch("encode", config, {"with_coords": with_coords, **({"seal": True} if seal else {})}, details=details,
              **options)


@batch_command(code_options)
def decode(config_path, locale, zones, keyring, **options):
    """Decode codes with the keyring (key holders only): district, cell, cell centre, current zone."""
    run_batch("decode", load(config_path, locale=locale, zones=zones, keyring=keyring), **options)


# --------------------------------------------------------------------------- stations


@batch_command(table_options, demo_table_option)
def resolve(config_path, locale, table, public_key, demo, **options):
    """Resolve delivery codes to destinations from a signed station table (offline).

    \b
    status: ok (destination) · bad-check (probable typo) · malformed · unknown (never issued)
            expired (older than the key window) · revoked (key epoch revoked)
            foreign (another station's code: next_hop)
    \b
    addrcode resolve --demo K7Q-3M9QX-T
    scanner | addrcode resolve --table station.sqlite --public-key addrcode.keyring.pub
    """
    run_batch("resolve", cli_station.station_config(config_path, locale, table, public_key, demo), **options)


# --------------------------------------------------------------------------- labels


@cli.command()
@click.option("-i", "--input", "input_path", required=True, metavar="CODED.csv|.jsonl",
              help="encode output (CSV or JSON Lines); plain addresses are encoded on the way.")
@click.option("-o", "--output", required=True, metavar="labels.pdf|DIR", help="PDF file, or a directory for svg/png.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "svg", "png"]), default="pdf", show_default=True,
              help="pdf: one file; svg/png: one file per label in the -o directory.")
@click.option("--sheet", type=click.Choice(["a4", "letter"]), help="Several labels per page (PDF); default one "
              "100 x 150 mm thermal label per page.")
@click.option("--name-column", metavar="NAME", help="Recipient name column, printed masked: first and last "
              "initial, fixed length (J*** S***).")
@click.option("--phone-column", metavar="NAME", help="Recipient phone column, printed masked (***-***-**67).")
@click.option("--phone-digits", type=click.IntRange(0, 4), default=None, metavar="N",
              help="Last digits of the phone printed, 0-4 (at least 6 always hidden) [default: 2, or 0 with "
              "--name-column: initials and 2 digits together single out most households].")
@click.option("--column", metavar="NAME", help="Address column, when the input still has to be encoded.")
@click.option("--no-routing", is_flag=True, help="Leave the sort center (and route) off the label.")
@click.option("--show-route", is_flag=True, help="Also print the route (the town, in the default zones); "
              "off by default: next to the masked recipient it narrows who the parcel is for.")
@click.option("--dpi", type=click.IntRange(72, 1200), default=300, show_default=True, help="PNG resolution.")
@click.option("--delimiter", default=",", show_default=True, help="CSV delimiter of the input.")
@config_options
@reference_options
@code_options
@quiet_option
def label(input_path, output, fmt, sheet, name_column, phone_column, phone_digits, column, no_routing, show_route,
          dpi, delimiter, config_path, locale, reference, zones, keyring, quiet):
    """Print privacy waybill labels: the code (large, grouped), its routing prefix, sort center, Code 128
    and QR symbols, and the recipient's name and phone masked. Never the address; the route only with
    --show-route.

    \b
    addrcode encode -i orders.csv --column address -o coded.csv
    addrcode label -i coded.csv --name-column name --phone-column phone -o labels.pdf
    """
    from addrcode.batch.frame import rows_for_labels
    from addrcode.files import refuse_same_file
    from addrcode.outputs.label import render_labels

    refuse_same_file(output, input_path)
    config = load(config_path, locale=locale, reference=reference, zones=zones, keyring=keyring)
    rows = rows_for_labels(input_path, delimiter, column=column, notify=notify, load_config=lambda: config)
    target = sys.stdout.buffer if output == "-" and fmt == "pdf" else output
    report = render_labels(rows, target, fmt=fmt, sheet=sheet, name_key=name_column, phone_key=phone_column,
                           dpi=dpi, routing=not no_routing, show_route=show_route, phone_digits=phone_digits,
                           file_mode=config.file_mode)
    if not quiet:
        click.echo(report.summary(), err=True)
    sys.exit(EXIT_SOME_FAILED if report.skipped else EXIT_OK)


# --------------------------------------------------------------------------- reports and maps


@cli.command()
@click.argument("run", metavar="RUN.csv")
@click.option("-o", "--output", required=True, metavar="report.html", help="HTML file to write (atomically).")
@click.option("--show-addresses", is_flag=True, help="Show the addresses in the examples (default: row number "
              "and reason only, no address text).")
@click.option("--row-hash", is_flag=True, help="Also show a keyed hash (HMAC-SHA256) of each example's address, "
              "under a random key of this report: equal hashes, same address.")
@click.option("--row-hash-key", metavar="KEYFILE", help="Key the row hashes with this file's bytes (>= 16) "
              "instead, to match them against your own rows or other reports.")
@click.option("--column", "columns", multiple=True, metavar="NAME",
              help="Input column(s) shown or hashed in the examples (default: guessed). Repeatable.")
@config_options
@click.option("--zones", metavar="ZONES.geojson", help="Zones the run was encoded with "
              "(default: from the configuration).")
def report(run, output, show_addresses, row_hash, row_hash_key, columns, config_path, locale, zones):
    """A self-contained HTML report of an encode run: summary, zone maps, reject reasons with examples
    (row number and reason; no address text unless --show-addresses).

    No internet needed to open it: inline SVG and CSS only.
    """
    from addrcode.batch.jobs import open_zones
    from addrcode.outputs.report import load_row_hash_key, render_report

    key = load_row_hash_key(row_hash_key) if row_hash_key else None
    config = load(config_path, locale=locale, zones=zones)
    summary = render_report(Path(run), open_zones(config, notify), Path(output), show_addresses=show_addresses,
                            row_hash=row_hash, row_hash_key=key, address_columns=list(columns) or None,
                            file_mode=config.file_mode)
    click.echo(f"{output}: {summary.rows:,} rows, {summary.bytes:,} bytes"
               + (f"; {summary.not_placed:,} refused rows could not be placed on the map" if summary.not_placed
                  else ""), err=True)


# --------------------------------------------------------------------------- a region of one's own


@cli.command("init")
@click.argument("folder", metavar="DIR")
@click.option("--reference", required=True, metavar="REF.sqlite", help="The region's reference "
              "(`addrcode reference build`).")
@click.option("--force", is_flag=True, help="Replace an existing DIR/addrcode.toml (a keyring there is kept).")
def init(folder, reference, force):
    """Make DIR a region: an addrcode.toml naming the reference, zones, keyring and station table,
    and a new keyring (0600). Then run the printed commands from DIR."""
    from addrcode.batch.region import init_region

    setup = init_region(folder, reference, force=force)
    click.echo(f"wrote {setup.config_path} (locale {setup.locale})", err=True)
    click.echo(f"{'created' if setup.created_keyring else 'kept the existing'} keyring {setup.keyring_path} "
               "(keep it private and backed up; stations get only its .pub)", err=True)
    click.echo("next:", err=True)
    for line in setup.next_commands:
        click.echo(f"  {line}", err=True)


@cli.command("config")
@config_options
@text_or_json_option
def show_config(config_path, locale, fmt):
    """Show which configuration file is in force, and each setting with where it came from
    (default, locale preset, file, environment or flag). Paths only: never keys or addresses."""
    from addrcode.config import describe_config, find_config

    path = config_path or find_config()
    settings = describe_config(path, locale=locale)
    if fmt == "json":
        shown = {s.key: list(s.value) if isinstance(s.value, tuple) else _shown(s.key, s.value) for s in settings}
        echo_json({"file": str(path) if path else None,
                   "settings": {s.key: {"value": shown[s.key], "origin": s.origin} for s in settings}})
        return
    click.echo(f"file: {path or '(none: ./addrcode.toml and the user config folder have none)'}")
    for s in settings:
        value = _shown(s.key, s.value)
        click.echo(f"{s.key:<22} {'(not set)' if value is None else value}  [{s.origin}]")


def _shown(key: str, value):
    """A setting as printed: paths as text, the file mode in octal (None: not set, the demo data is used)."""
    if key == "file_mode":
        return f"{value:04o}"
    if isinstance(value, tuple):  # pinned fingerprints
        return ", ".join(value) or None
    return str(value) if isinstance(value, Path) else value


for command in (*cli_region.COMMANDS, *cli_station.COMMANDS, *cli_delivery.COMMANDS, cli_zones.zones_group):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point: quiet on a closed pipe (`addrcode ... | head`)."""
    try:
        cli(prog_name="addrcode")
    except BrokenPipeError:  # the reader left: no traceback for the lines it did not take
        quiet_stdout()
        sys.exit(EXIT_PIPE_CLOSED)

"""Options and helpers shared by the command modules (`cli`, `cli_region`): no commands here."""

from __future__ import annotations

import functools

import click


def options(*decorators):
    """One decorator applying several click parameters, in the order given (the order of --help)."""
    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f
    return apply


# TEXT arguments, or stdin lines, or `-i FILE` as CSV with column choices.
input_options = options(
    click.argument("texts", nargs=-1, metavar="[TEXT]..."),
    click.option("-i", "--input", "input_path", metavar="FILE",
                 help="Read a CSV file (`-` = stdin) or a Parquet file. Without it: TEXT arguments, "
                      "else stdin lines."),
    click.option("--column", metavar="NAME", help="CSV column holding the one-line address."),
    click.option("--number", "number_col", metavar="NAME", help="CSV column of the house number."),
    click.option("--street", "street_col", metavar="NAME", help="CSV column of the street line."),
    click.option("--unit", "unit_col", metavar="NAME", help="CSV column of the unit (APT 3, STE 100)."),
    click.option("--city", "city_col", metavar="NAME", help="CSV column of the city."),
    click.option("--state", "state_col", metavar="NAME", help="CSV column of the state."),
    click.option("--postcode", "postcode_col", metavar="NAME", help="CSV column of the ZIP / postcode."),
    click.option("--delimiter", default=",", show_default=True, help="CSV delimiter (`\\t` for tab)."),
    click.option("--encoding", default=None, help="Input encoding (default: UTF-8 with or without BOM, "
                 "UTF-16 with BOM; lines that are not UTF-8 are read as cp1252 with a warning)."),
)

output_options = options(
    click.option("-o", "--output", default="-", metavar="FILE", show_default=True,
                 help="Output file (`-` = stdout); written to a temporary file and renamed at the end."),
    click.option("--format", "fmt", type=click.Choice(["text", "csv", "jsonl", "json"]), default=None,
                 help="Output format [default: csv for CSV input, else text]."),
    click.option("--rejects", metavar="FILE", help="Write rejected and failed records here instead of the output."),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr."),
)

config_options = options(
    click.option("--config", "config_path", metavar="FILE", envvar="ADDRCODE_CONFIG",
                 help="TOML configuration file (also $ADDRCODE_CONFIG)."),
    click.option("--locale", default=None, help="Address locale (default: us)."),
)

batch_options = options(
    click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                 help="Worker processes [default: all cores]. Output order is kept."),
    click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
                 help="Records per chunk (the unit of work for workers and of --resume)."),
    click.option("--resume", is_flag=True,
                 help="Continue an interrupted run from its last completed chunk (same -i, -o and options)."),
    click.option("--engine", type=click.Choice(["local", "dask", "spark"]), default="local", show_default=True,
                 help="dask/spark: run on a cluster; -i is a CSV/Parquet file, glob or folder, "
                      "-o a folder of parts."),
    click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: a local cluster)."),
    click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
                 help="Worker processes of the local Dask cluster."),
)

reference_options = options(
    click.option("--reference", metavar="REF.sqlite", help="Reference built with `addrcode reference build` "
                 "(default: from the configuration, else the embedded demo data, built once into the cache)."),
)

code_options = options(
    click.option("--zones", metavar="ZONES.geojson", help="Delivery zones (default: from the "
                 "configuration; the embedded demo zones only with the demo reference)."),
    click.option("--keyring", metavar="FILE", help="Keyring (default: the packaged DEMO keyring, not private)."),
)

table_options = options(
    click.option("--table", metavar="TABLE.sqlite", help="Signed station table "
                 "(default: from the configuration; the demo table only with --demo)."),
    click.option("--public-key", metavar="FILE.pub", help="Public key the table is signed with "
                 "(the keyring's .pub file)."),
)

demo_table_option = click.option(
    "--demo", is_flag=True, help="Use the packaged demo table and demo key (public: the codes are not private); "
    "only when no table or public key is given or configured.")

text_or_json_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                                   show_default=True, help="text for people, json for scripts.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr.")
config_file_option = click.option("--config", "config_path", metavar="FILE", envvar="ADDRCODE_CONFIG",
                                  help="TOML configuration file.")
keyring_option = click.option("--keyring", metavar="FILE", help="Keyring file (default: from the configuration).")

notify = functools.partial(click.echo, err=True)  # the library's notes and warnings, on stderr


def echo_json(data, *, ascii_only: bool = True) -> None:
    """`--format json`: the data as indented JSON on stdout."""
    import json

    click.echo(json.dumps(data, indent=2, ensure_ascii=ascii_only))


def load(config_path, **flags):
    """The layered configuration (`addrcode.config.load_config`) with these flag values on top."""
    from addrcode.config import find_config, load_config

    return load_config(config_path or find_config(), **flags)

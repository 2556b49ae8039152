"""The delivering station's command: `addrcode unseal` (added to `addrcode.cli.cli`)."""

from __future__ import annotations

import sys

import click

from addrcode.cli_group import EXIT_DATA, EXIT_OK
from addrcode.cli_options import config_file_option, load


def _operator(configured: str | None) -> str:
    """Who unseals: `--operator`/`operator`/$ADDRCODE_OPERATOR, else the login name."""
    import getpass

    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's unnamed uid)
        return "unknown"


@click.command()
@click.argument("payloads", nargs=-1, metavar="[PAYLOAD]...")
@click.option("--image", "images", is_flag=True, help="The arguments are label images or PDFs (photos, scans, "
              "label files): read their sealed QR codes.")
@click.option("--dpi", type=click.IntRange(72, 1200), default=203, show_default=True,
              help="Resolution at which PDF pages are rasterised (a thermal printer's 203 dpi).")
@click.option("--key", "keys", multiple=True, metavar="FILE", help="The station's delivery key (repeatable: the "
              "old region's key too, during a re-zoning) [default: delivery_key from the config].")
@click.option("--operator", metavar="ID", help="Who unseals, for the audit log [default: operator from the config, "
              "$ADDRCODE_OPERATOR, else the login name].")
@click.option("--audit-log", metavar="FILE", help="Append-only audit log [default: audit_log from the config, else "
              "the user state folder's unseal-audit.log].")
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True,
              help="text for the courier, jsonl for a terminal app.")
@click.option("--check-log", is_flag=True, help="Only check the audit log's hash chain and say how many entries "
              "it holds (exit 3 when it was edited).")
@config_file_option
def unseal(payloads, images, dpi, keys, operator, audit_log, fmt, check_log, config_path):
    """At the delivering station: open the sealed delivery details of a label (address, unit, name,
    phone, notes) for the courier, one label at a time. Every unseal is logged (time, code, station,
    operator; never the address). Another region's parcel, an altered envelope or one copied onto
    another label is refused (exit 3).

    \b
    scanner | addrcode unseal --key essex.delivery.key --operator jdoe
    addrcode unseal --image label.png photo.jpg
    """
    import json

    from addrcode.delivery import audit
    from addrcode.delivery.unseal import Unsealer, payloads_in_images, station_keys
    from addrcode.errors import DataError, UsageError

    config = load(config_path, audit_log=audit_log, operator=operator)
    log_path = config.audit_log or audit.default_log_path()
    if check_log:
        entries, broken = audit.check_log(log_path) if log_path.exists() else (0, None)
        if broken is not None:
            raise DataError(f"{log_path}: the audit log was edited or cut at line {broken} (its hash chain breaks "
                            "there); keep the file as evidence and start a new log")
        return click.echo(f"{log_path}: {entries} entries, hash chain intact", err=True)
    if not keys and config.delivery_key is None:
        raise UsageError("unseal needs this station's delivery key: --key FILE (or `delivery_key` in addrcode.toml); "
                         "create one with `addrcode key new --delivery REGION FILE`")
    if images and not payloads:
        raise UsageError("--image reads the label image or PDF files given as arguments: name at least one")
    held = station_keys(keys or [config.delivery_key])
    station = config.station or "+".join(dict.fromkeys(k.region for k in held))
    job = Unsealer(held, audit.AuditLog(log_path, station), _operator(config.operator))
    if images:
        items = payloads_in_images(payloads, dpi=dpi)
    else:
        items = ((None, p) for p in (payloads or (line for line in sys.stdin if line.strip())))
    refused = seen = 0
    for where, payload in items:
        seen += 1
        record = job(payload)
        refused += record["status"] != "ok"
        if where:
            record = {"source": where, **record}
        line = json.dumps(record, ensure_ascii=False) if fmt == "jsonl" else job.text(record)
        click.echo(line if where is None or fmt == "jsonl" else f"[{where}]\n{line}")
        sys.stdout.flush()
    if images and not seen:
        raise DataError("no sealed label QR code found in the images (rescan closer, flatter, better lit)")
    sys.exit(EXIT_DATA if refused else EXIT_OK)


COMMANDS = [unseal]

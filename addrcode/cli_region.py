"""Commands that set up a region: references, delivery zones and keyrings (added to `addrcode.cli.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from addrcode.cli_options import (
    config_file_option,
    config_options,
    echo_json,
    keyring_option,
    load,
    notify,
    quiet_option,
    text_or_json_option,
)
from addrcode.errors import UsageError

# --------------------------------------------------------------------------- reference


@click.group()
def reference():
    """Build and inspect local address references (indexed SQLite)."""


@reference.command("build")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, metavar="REF.sqlite", help="Reference file to write.")
@click.option("--rejects", metavar="FILE", help="CSV of the rows that could not be used, with reasons.")
@click.option("--locale", default="us", show_default=True, help="Address rules the sources are read with (us, au).")
@quiet_option
def reference_build(sources, output, rejects, locale, quiet):
    """Build a reference from OpenAddresses-layout CSV or CSV.gz files.

    Columns LON,LAT,NUMBER,STREET,UNIT,CITY,DISTRICT,REGION,POSTCODE,ID,HASH (case-insensitive; extra
    columns ignored).
    """
    from addrcode.geocoding.build import build_reference

    progress = None if quiet or not sys.stderr.isatty() else (
        lambda n: click.echo(f"\r{n:,} rows read", err=True, nl=False))
    report = build_reference([Path(s) for s in sources], Path(output), rejects=Path(rejects) if rejects else None,
                             progress=progress, locale=locale, file_mode=load(None).file_mode)
    if not quiet:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(report.reject_reasons.items(), key=lambda x: -x[1]))
        click.echo(f"\n{output}: {report.rows_kept:,} points kept of {report.rows_read:,} rows read "
                   f"({report.rows_rejected:,} rejected{': ' + reasons if reasons else ''}); "
                   f"{report.streets:,} streets, {report.cities:,} cities, {report.postcodes:,} postcodes; "
                   f"{report.seconds:.1f} s", err=True)


@reference.command("info")
@click.argument("ref", required=False)
@text_or_json_option
@config_file_option
def reference_info(ref, fmt, config_path):
    """Print a reference's sources, row counts, build time and format version (default: the embedded one)."""
    import json

    from addrcode.batch.jobs import reference_path
    from addrcode.geocoding.reference import reference_info as info_of

    info = info_of(Path(ref) if ref else reference_path(load(config_path), notify))
    if fmt == "json":
        return echo_json(info, ascii_only=False)
    for key, value in info.items():
        click.echo(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value}")


# --------------------------------------------------------------------------- keys


@click.group()
def key():
    """Create and manage keyrings (code key epochs + the table signing key)."""


@key.command("new")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Overwrite an existing keyring (it is succeeded: its labels answer revoked, never a wrong zone).")
@click.option("--succeeds", "succeeds", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The keyring this one replaces: its epochs are listed as revoked and never reused in the window.")
@click.option("--period-days", type=click.IntRange(1, 366), default=7, show_default=True,
              help="Length of a key period: every period has its own key.")
@click.option("--window", type=click.IntRange(1, 15), default=4, show_default=True,
              help="Periods a station accepts (the longest transit time); older codes answer expired.")
@click.option("--delivery", "region", metavar="REGION", help="Create a delivery key for delivery REGION (its sort "
              "center) instead: the station keeps PATH, shippers seal to PATH.pub (encode --seal).")
def key_new(path, force, succeeds, period_days, window, region):
    """Create a keyring at PATH (mode 0600) and its public key PATH.pub for stations; or, with
    --delivery REGION, a delivering station's delivery key (PATH, 0600) and PATH.pub for shippers.

    Secrets are never printed. Keep PATH private and backed up; give out only PATH.pub.
    """
    if region is not None:
        return _new_delivery_key(path, region, force, succeeds)
    from addrcode.codes import keyring as keys
    from addrcode.codes.schedule import Schedule

    ring = keys.new_keyring(path, force=force, succeeds=succeeds,
                            schedule=Schedule(period_days=period_days, window=window))
    click.echo(f"created keyring {path} (epoch {ring.active.id} active, mode 0600); {ring.schedule.describe()}",
               err=True)
    if ring.predecessor:
        click.echo(f"it succeeds keyring {ring.predecessor}: epochs {', '.join(i.id for i in ring.inherited)} "
                   "answer revoked at stations with its tables", err=True)
    click.echo(f"public key for stations: {keys.pub_path(path)} (fingerprint {ring.verify_key.fingerprint})", err=True)


def _new_delivery_key(path, region, force, succeeds):
    from addrcode.delivery.keys import new_delivery_key, public_path

    if succeeds:
        raise UsageError("--succeeds is for keyrings; a delivery key replaces nothing (keep the old one while "
                         "parcels sealed to it are in transit)")
    key = new_delivery_key(path, region, force=force)
    click.echo(f"created delivery key {path} for region {region} (mode 0600): keep it at the delivering "
               "station, private and backed up", err=True)
    click.echo(f"public key for shippers: {public_path(path)} (fingerprint {key.public.fingerprint}); put it in "
               "their delivery keys folder", err=True)


def _keyring_to_show(keyring, config_path):
    from addrcode.codes import keyring as keys
    from addrcode.config import keyring_to_change

    try:
        return keyring_to_change(load(config_path, keyring=keyring))
    except UsageError:  # no keyring configured: list the packaged demo keyring
        if keyring is not None:
            raise
        return keys.demo_keyring_path()


@key.command("list")
@keyring_option
@config_file_option
@text_or_json_option
def key_list(keyring, config_path, fmt):
    """List the epochs of the current window (character, period start, status; never secrets)."""
    from addrcode.codes import keyring as keys

    ring = keys.load_keyring(_keyring_to_show(keyring, config_path))
    rows = [info.__dict__ for info in keys.list_epochs(ring)]
    upcoming = keys.SigningKey(ring.next_signing_seed).verify_key.fingerprint if ring.next_signing_seed else None
    if fmt == "json":
        return echo_json({"keyring": str(ring.path), "demo": ring.is_demo,
                          "public_key_fingerprint": ring.verify_key.fingerprint,
                          "next_public_key_fingerprint": upcoming,
                          "schedule": ring.schedule.__dict__, "current_period": ring.current_period,
                          "succeeds": ring.predecessor or None, "epochs": rows})
    click.echo(f"keyring {ring.path}{'  (DEMO: codes are not private)' if ring.is_demo else ''}")
    click.echo(f"public key fingerprint {ring.verify_key.fingerprint}"
               + (f" (next, prepared: {upcoming})" if upcoming else ""))
    click.echo(ring.schedule.describe())
    for row in rows:
        gen = "replaced keyring" if row["generation"] is None else f"generation {row['generation']}"
        click.echo(f"  epoch {row['id']}  {row['status']:<8} period from {row['created']}  ({gen})")


def _changed_keyring(keyring, config_path):
    from addrcode.config import keyring_to_change

    return keyring_to_change(load(config_path, keyring=keyring))


@key.command("rotate")
@keyring_option
@config_file_option
def key_rotate(keyring, config_path):
    """Emergency rotation: a new key from now on; codes of the old one still resolve (revoke it if leaked).

    Keys change every period by themselves; rotate only when a key may be compromised. Rebuild and
    redeploy station tables afterwards so stations know the new key.
    """
    from addrcode.codes import keyring as keys

    path = _changed_keyring(keyring, config_path)
    ring = keys.rotate(path)
    click.echo(f"{path}: epoch {ring.active.id} is now active; rebuild the station tables", err=True)


@key.command("revoke")
@click.argument("epoch")
@keyring_option
@config_file_option
def key_revoke(epoch, keyring, config_path):
    """Revoke the retired key that made EPOCH: stations refuse its codes once their table is rebuilt."""
    from addrcode.codes import keyring as keys

    path = _changed_keyring(keyring, config_path)
    keys.revoke(path, epoch)
    click.echo(f"{path}: epoch {epoch.upper()} revoked and its key erased; rebuild the station tables", err=True)


@key.command("rotate-signing")
@click.option("--switch", is_flag=True, help="Step 2: sign with the prepared key from now on.")
@keyring_option
@config_file_option
def key_rotate_signing(switch, keyring, config_path):
    """Change the table signing key with an overlap (codes unchanged), in two steps.

    \b
    1. rotate-signing           makes the next key: give KEYRING.next.pub to every station
                                (next_public_key in its addrcode.toml); they trust both keys
    2. rotate-signing --switch  tables are signed by the new key from now on
    """
    from addrcode.codes import signing_keys
    from addrcode.codes.keyring import SigningKey, pub_path

    path = _changed_keyring(keyring, config_path)
    if switch:
        ring = signing_keys.switch_signing_key(path)
        click.echo(f"{path}: tables are now signed by key {ring.verify_key.fingerprint} ({pub_path(path)}); the old "
                   f"key is in {signing_keys.previous_pub_path(path)}. Rebuild the station tables", err=True)
        return
    ring = signing_keys.prepare_signing_key(path)
    fingerprint = SigningKey(ring.next_signing_seed).verify_key.fingerprint
    click.echo(f"{path}: next signing key {fingerprint} in {signing_keys.next_pub_path(path)}; give it to every "
               "station (next_public_key), then run `addrcode key rotate-signing --switch`", err=True)


@key.command("prune")
@keyring_option
@config_file_option
def key_prune(keyring, config_path):
    """Erase keys of periods that have left the window (run weekly): a stolen copy then cannot decode them."""
    from addrcode.codes import keyring as keys

    path = _changed_keyring(keyring, config_path)
    ring = keys.prune(path)
    click.echo(f"{path}: keys older than period {ring.current_period - ring.schedule.window + 1} erased", err=True)


# --------------------------------------------------------------------------- calibrate


@click.command()
@click.argument("ref", metavar="[REFERENCE]", required=False)
@click.option("--sample", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Reference points to write queries from (each gives one query of every kind).")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed: the same seed, the same report.")
@text_or_json_option
@config_options
@quiet_option
def calibrate(ref, sample, seed, fmt, config_path, locale, quiet):
    """Measure what the scores mean on REFERENCE (default: the configured one).

    Writes noisy queries from a random sample of the reference's own points (clean, title case,
    lower case, typo, no ZIP, no town, wrong ZIP, route alias, unit, leading name, directional or
    ordinal variants), geocodes them and reports, per score band and kind, how many answers land
    within 50 m of the point, their median and p95 error, and the lowest --min-score at which
    answers are within 50 m 99 % of the time. The report holds no address or coordinate.
    """
    from addrcode.batch.jobs import reference_path
    from addrcode.geocoding.calibrate import calibrate as measure

    config = load(config_path, locale=locale, reference=ref)
    path = reference_path(config, notify)
    progress = None if quiet or not sys.stderr.isatty() else (
        lambda done, total: click.echo(f"\r{done:,}/{total:,} points", err=True, nl=False))
    report = measure(path, sample=sample, seed=seed, locale=config.locale, progress=progress)
    if progress is not None:
        click.echo("", err=True)
    if not quiet:
        suggested = "none" if report.suggested_min_score is None else f"{report.suggested_min_score:g}"
        notify(f"{path}: {report.queries:,} queries from {report.points_sampled:,} points in {report.seconds:.1f} s; "
               f"suggested --min-score {suggested}")
    if fmt == "json":
        return echo_json(report.to_dict())
    click.echo(report.to_text())


COMMANDS = (reference, key, calibrate)

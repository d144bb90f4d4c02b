"""Feed commands: ingest third-party reports, export events (abuse contacts: cli/contacts.py)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    pass


from botcensus.cli._app import (
    CONFIG_OPTION,
    DATA_OPTION,
    UtcTime,
    check_range,
    load_settings,
    main,
)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@DATA_OPTION
@click.option(
    "--feed",
    default=None,
    metavar="NAME",
    help="Report type when the file name does not say it (e.g. event4_sinkhole_http); "
    "feed name for a --mapping file.",
)
@click.option(
    "--mapping",
    default=None,
    metavar="NAME|FILE",
    help="Bundled mapping (shadowserver-2024-09-24 [default], shadowserver-2023-12-17, "
    "shadowserver-legacy, intelmq) or a mapping file.",
)
@CONFIG_OPTION
def ingest(
    paths: tuple[Path, ...],
    data_dir: Path,
    feed: str | None,
    mapping: str | None,
    config_file: Path | None,
) -> None:
    """Ingest Shadowserver reports (.csv, .csv.gz, .zip, directories), CSV / JSON lines with a
    mapping file, or IntelMQ events. Report types botcensus does not read are skipped, counted.

    Exit status: 0 every row stored or a duplicate, 1 some rows quarantined, 2 a file failed."""
    from botcensus.cli.feeds_run import run_ingest

    settings = load_settings(config_file)
    sys.exit(run_ingest(list(paths), data_dir, settings=settings, feed=feed, mapping=mapping))


@main.command("export")
@DATA_OPTION
@click.option("--format", "fmt", type=click.Choice(["intelmq", "shadowserver"]), required=True)
@click.option("--since", type=UtcTime(), default=None, help="Only events at or after this time.")
@click.option("--until", type=UtcTime(), default=None, help="Only events before this time.")
@click.option("--country", multiple=True, metavar="CC", help="Only this country (repeatable).")
@click.option("--asn", type=int, multiple=True, metavar="N", help="Only this ASN (repeatable).")
@click.option(
    "--prefix", multiple=True, metavar="CIDR", help="Only this network prefix (repeatable)."
)
@click.option("--family", multiple=True, help="Only this malware family (repeatable).")
@click.option("--feed", multiple=True, help="Only this feed, e.g. botcensus-sinkhole (repeatable).")
@click.option("--include-unclaimed", is_flag=True, help="Also events without a malware family.")
@CONFIG_OPTION
def export_cmd(
    data_dir: Path,
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    country: tuple[str, ...],
    asn: tuple[int, ...],
    prefix: tuple[str, ...],
    family: tuple[str, ...],
    feed: tuple[str, ...],
    include_unclaimed: bool,
    config_file: Path | None,
) -> None:
    """Export sinkhole and feed events as IntelMQ JSON lines or a Shadowserver CSV report."""
    import ipaddress

    from botcensus.cli.feeds_run import run_export
    from botcensus.export.event_query import ExportQuery

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    check_range(since, until, ("--since", "--until"), inclusive=False)
    for p in prefix:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise click.BadParameter(
                f"{p!r} is not a network prefix", param_hint="--prefix"
            ) from None
    query = ExportQuery(
        since=since,
        until=until,
        countries=country,
        asns=asn,
        prefixes=prefix,
        families=family,
        feeds=feed,
        include_unclaimed=include_unclaimed,
    )
    sys.exit(run_export(data_dir, fmt, query, settings=load_settings(config_file)))


@main.group("feeds")
def feeds_group() -> None:
    """Feed reports: the Shadowserver schema in use, collecting reports unattended."""


@feeds_group.group("schema")
def schema_group() -> None:
    """Shadowserver's published report schema (the file IntelMQ downloads)."""


@schema_group.command("update")
@DATA_OPTION
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-older", is_flag=True, help="Install a schema older than the one in use.")
def schema_update(data_dir: Path, file: Path, allow_older: bool) -> None:
    """Load Shadowserver's schema FILE (intelmq.json, as IntelMQ downloads it) as this
    dataset's mapping: new report types and mapping changes work without a new botcensus.
    Until one is installed, the bundled snapshot is used."""
    from botcensus.feeds import MappingError
    from botcensus.feeds.schema import install

    try:
        update = install(data_dir, file, allow_older=allow_older)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"installed {update.mapping.name}: {len(update.kept)} infected-host report types "
        f"({', '.join(update.kept)}); {len(update.not_infected)} other report types not read"
    )
    for line in update.change_log:
        click.echo(f"change log: {line}")
    for note in update.notes:
        click.echo(f"note: {note}", err=True)


@schema_group.command("show")
@DATA_OPTION
def schema_show(data_dir: Path) -> None:
    """Which mapping ingest uses for this dataset, its schema date and report types."""
    from botcensus.feeds import MappingError
    from botcensus.feeds.schema import active, installed_path

    try:
        mapping = active(data_dir)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    where = installed_path(data_dir)
    origin = f"installed ({where})" if where.exists() else "bundled snapshot"
    click.echo(f"{mapping.name} (schema date {mapping.schema_date}, {origin})")
    for report_type, report in sorted(mapping.reports.items()):
        click.echo(f"  {report_type}: {report.feed_name}")


@feeds_group.command("collect")
@click.argument("inbox", type=click.Path(exists=True, file_okay=False, path_type=Path))
@DATA_OPTION
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Leave files changed within this many seconds for the next run.",
)
@click.option("--fetch", is_flag=True, help="First download new reports from the Reports API.")
@CONFIG_OPTION
def collect_cmd(
    inbox: Path, data_dir: Path, settle: float, fetch: bool, config_file: Path | None
) -> None:
    """Ingest the INBOX's new report files (.csv, .csv.gz, .zip, any depth) and remember
    them: safe from cron or a systemd timer every few minutes, and after a crash.

    Exit status as `ingest`; 0 with a note when another collect run is going."""
    from botcensus.cli.feeds_run import run_collect

    settings = load_settings(config_file)
    sys.exit(run_collect(inbox, data_dir, settings=settings, settle=settle, fetch=fetch))


@feeds_group.command("fetch")
@click.argument("inbox", type=click.Path(file_okay=False, path_type=Path))
@DATA_OPTION
@CONFIG_OPTION
def fetch_cmd(inbox: Path, data_dir: Path, config_file: Path | None) -> None:
    """Download the reports not downloaded yet from Shadowserver's Reports API into INBOX
    (settings [shadowserver]: api_key, secret, reports, types, days)."""
    from botcensus.cli.feeds_run import run_fetch

    settings = load_settings(config_file)
    sys.exit(run_fetch(inbox, data_dir, settings=settings))

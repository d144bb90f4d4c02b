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
    load_settings,
    main,
)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
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
    """Ingest Shadowserver reports, CSV / JSON lines with a mapping file, or IntelMQ events.

    Exit status: 0 every row stored or a duplicate, 1 some rows quarantined, 2 a file failed."""
    from botcensus.feeds.cli_commands import run_ingest

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

    from botcensus.feeds import ExportQuery
    from botcensus.feeds.cli_commands import run_export

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
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

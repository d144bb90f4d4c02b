"""Simulation commands: simulate; and the enrichment database tools (the demo: cli/demo.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    pass


from botcensus.cli._app import (
    CONFIG_OPTION,
    check_range,
    load_settings,
    main,
)


@main.command("simulate")
@click.option(
    "--scenario",
    default="rustock-2011",
    show_default=True,
    help="A bundled scenario name or a TOML file.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=0.001,
    show_default=True,
    help="Fraction of the scenario's population.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First simulated day [default: the scenario's].",
)
@click.option(
    "--to",
    "date_to",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last simulated day [default: the scenario's].",
)
@click.option(
    "--via",
    default=None,
    metavar="http://127.0.0.1:PORT",
    help="Drive a sinkhole running with --replay --proxy-protocol.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write daily sightings straight into this dataset.",
)
@click.option(
    "--truth",
    "truth_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the ground truth (Parquet) here.",
)
@click.option(
    "--sensor", default="simulated", show_default=True, help="Sensor name of direct-path sightings."
)
@CONFIG_OPTION
def simulate_cmd(
    scenario: str,
    scale: float,
    seed: int,
    date_from: datetime | None,
    date_to: datetime | None,
    via: str | None,
    data_dir: Path | None,
    truth_dir: Path | None,
    sensor: str,
    config_file: Path | None,
) -> None:
    """Simulate a takedown with known ground truth: into a dataset, through a sinkhole, or both."""
    from rich.progress import Progress

    from botcensus import enrich, simulate
    from botcensus.simulate import outputs
    from botcensus.simulate.replay import ReplayError

    if via is None and data_dir is None and truth_dir is None:
        raise click.UsageError("give --via, --data and/or --truth")
    check_range(date_from, date_to, ("--from", "--to"), inclusive=True)
    settings = load_settings(config_file)
    port = None
    if via is not None:
        try:
            port = outputs.loopback_port(via)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--via") from None
    try:
        spec = simulate.load_scenario(scenario)
        geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        sim = simulate.simulate(
            spec,
            address_space=enrich.ipv4_ranges(geo),
            scale=scale,
            seed=seed,
            start=date_from.date() if date_from else None,
            end=date_to.date() if date_to else None,
        )
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    with Progress(transient=True) as bar:
        if data_dir is not None:
            task = bar.add_task("sightings (days)", total=len(sim.days))
            rows = outputs.write_direct(
                sim, data_dir, lambda t: enrich.enrich(t, geo), sensor=sensor,
                progress=lambda n: bar.advance(task, n),
            )  # fmt: skip
            click.echo(f"{rows} daily sightings written to {data_dir}", err=True)
        if port is not None:
            task = bar.add_task("check-ins sent", total=None)
            try:
                result = outputs.send_http(sim, port, progress=lambda n: bar.advance(task, n))
            except ReplayError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"{result.sent} check-ins sent, {result.answered} answered", err=True)
        if truth_dir is not None:
            files = simulate.write_truth(sim, truth_dir)
            click.echo(f"ground truth: {len(files)} files in {truth_dir}", err=True)


@main.group("enrich")
def enrich_group() -> None:
    """IP address -> country, ASN and AS name."""


@enrich_group.command("lookup")
@click.argument("ips", nargs=-1, required=True)
@CONFIG_OPTION
def enrich_lookup(ips: tuple[str, ...], config_file: Path | None) -> None:
    """Country, ASN and AS name of each IP (the database the settings choose)."""
    import pyarrow as pa

    from botcensus import enrich

    settings = load_settings(config_file)
    geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
    for ip, row in zip(ips, enrich.lookup(geo, pa.array(ips)).to_pylist(), strict=True):
        asn = f"AS{row['source_asn']}" if row["source_asn"] is not None else "-"
        click.echo(f"{ip}\t{row['source_cc'] or '-'}\t{asn}\t{row['source_as_name'] or '-'}")
    click.echo(f"# {geo.name}", err=True)


@enrich_group.command("build-db")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file [default: the bundled file in the source tree].",
)
@click.option(
    "--geoip",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Tor IPv4 geoip file [default: Debian tor-geoipdb's].",
)
@click.option(
    "--geoip6",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Tor IPv6 geoip6 file [default: Debian tor-geoipdb's].",
)
@click.option(
    "--libloc-db",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="libloc location.db or `location dump` text [default: Debian libloc-database's].",
)
def enrich_build_db(
    out: Path | None, geoip: Path | None, geoip6: Path | None, libloc_db: Path | None
) -> None:
    """Rebuild the bundled offline database from Debian's tor-geoipdb and libloc-database."""
    from botcensus.enrich import build_bundled
    from botcensus.enrich.bundle import DEFAULT_GEOIP, DEFAULT_GEOIP6, DEFAULT_LIBLOC_DB
    from botcensus.enrich.geotable import bundled_path

    report = build_bundled(
        out or bundled_path(),
        geoip=geoip or DEFAULT_GEOIP,
        geoip6=geoip6 or DEFAULT_GEOIP6,
        libloc_db=libloc_db or DEFAULT_LIBLOC_DB,
    )
    click.echo(report.summary())

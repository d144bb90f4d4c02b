"""The botcensus command line: one entry point, each command a thin call into a stage."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus import config as config_mod

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from botcensus.store import RollupReport

DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory (events, write-ahead log, quarantine).",
)


class UtcTime(click.ParamType[datetime, str]):
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""

    name = "TIME"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date or date-time (e.g. 2011-03-16T00:00Z)",
                param,
                ctx,
            )
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="botcensus: %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics at debug level.")
@click.version_option(package_name="botcensus")
def main(verbose: bool) -> None:
    """botcensus: sinkhole, census and clean-up measurement for botnet takedowns."""
    _setup_logging(verbose)


@main.group()
def sinkhole() -> None:
    """The sinkhole: listen, record, answer with a fixed reply."""


@sinkhole.command("serve")
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="HOST:PORT",
    help="Listen here (repeatable); IPv6 as [ADDR]:PORT. Adds to the config's listeners.",
)
@DATA_OPTION
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes [default: one per core].",
)
@click.option(
    "--metrics",
    "metrics_address",
    metavar="HOST:PORT",
    default=None,
    help="Prometheus metrics on HOST:PORT, or PORT on 127.0.0.1 (off by default).",
)
@click.option(
    "--proxy-protocol",
    is_flag=True,
    help="Expect PROXY protocol headers on the --listen listeners.",
)
@click.option(
    "--replay",
    is_flag=True,
    help="Honour simulated receive times from trusted replayers (never in production).",
)
def sinkhole_serve(
    listen: tuple[str, ...],
    data_dir: Path,
    config_file: Path | None,
    workers: int | None,
    metrics_address: str | None,
    proxy_protocol: bool,
    replay: bool,
) -> None:
    """Run the sinkhole until SIGTERM or SIGINT."""
    from botcensus.capture import DataDirBusyError, serve
    from botcensus.store import clean_temporaries, roll_segment

    settings = _load(config_file)
    try:
        extra = [
            config_mod.ListenerSettings(
                name=address, address=address, proxy_protocol=proxy_protocol
            )
            for address in listen
        ]
        if metrics_address is not None:
            if metrics_address.isdigit():  # a bare port stays on loopback
                metrics_address = f"127.0.0.1:{metrics_address}"
            config_mod.split_address(metrics_address)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    sink = settings.sinkhole.model_copy(
        update={
            "listeners": [*settings.sinkhole.listeners, *extra],
            "replay": settings.sinkhole.replay or replay,
        }
    )
    if not sink.listeners:
        raise click.UsageError(
            "no listeners: give --listen HOST:PORT or [[sinkhole.listeners]] in --config"
        )
    try:
        code = serve(
            sink,
            data_dir,
            lambda segment: roll_segment(segment, data_dir),
            workers=workers or os.cpu_count() or 1,
            metrics_address=metrics_address,
            on_locked=lambda: clean_temporaries(data_dir),
        )
    except DataDirBusyError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@DATA_OPTION
@click.option(
    "--since", type=UtcTime(), default=None, help="Only events at or after this time (UTC)."
)
@click.option("--until", type=UtcTime(), default=None, help="Only events before this time (UTC).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
def events(data_dir: Path, since: datetime | None, until: datetime | None, fmt: str) -> None:
    """Print recorded events with IntelMQ field names."""
    from botcensus.report import intelmq_events, write_csv, write_jsonl
    from botcensus.store import iter_events

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    rows = intelmq_events(iter_events(data_dir, since=since, until=until))
    out = sys.stdout
    if fmt == "jsonl":
        write_jsonl(rows, out)
    else:
        write_csv(rows, out)


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
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
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

    settings = _load(config_file)
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
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
    sys.exit(run_export(data_dir, fmt, query, settings=_load(config_file)))


@main.command()
@DATA_OPTION
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def rollup(data_dir: Path, config_file: Path | None) -> None:
    """Roll raw events up into enriched daily sightings, then apply retention.

    Incremental and idempotent. Retention deletes raw-event days older than
    store.event_retention_days that are rolled up, and sighting days older than
    store.sighting_retention_days."""
    from botcensus.store import apply_retention

    settings = _load(config_file)
    report = _rollup(data_dir, settings)
    click.echo(
        f"{len(report.days_rolled)} days rolled up ({report.sightings} sightings), "
        f"{report.days_unchanged} unchanged"
    )
    kept = apply_retention(
        data_dir,
        datetime.now(UTC).date(),
        event_days=settings.store.event_retention_days,
        sighting_days=settings.store.sighting_retention_days,
    )
    click.echo(
        f"retention: {len(kept.event_days_deleted)} event days and "
        f"{len(kept.sighting_days_deleted)} sighting days deleted"
        + (
            f"; {len(kept.event_days_kept_unrolled)} expired days kept (not rolled up)"
            if kept.event_days_kept_unrolled
            else ""
        )
    )


def _rollup(data_dir: Path, settings: config_mod.Settings) -> RollupReport:
    from botcensus import enrich
    from botcensus.store import rollup as store_rollup

    geo = None

    def step(table: pa.Table) -> pa.Table:
        nonlocal geo
        if geo is None:
            geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        return enrich.enrich(table, geo)

    report = store_rollup(data_dir, step)
    # Sketches before retention can expire a day: they outlive the raw sightings.
    from botcensus.measure import sketches as sketch_build
    from botcensus.store.sketches import sketch_days

    sketch_days(data_dir, sketch_build.sketch_sightings)
    return report


@main.command("census")
@DATA_OPTION
@click.option("--window", type=click.Choice(["day", "week"]), default="week", show_default=True)
@click.option(
    "--week-ends",
    type=click.Choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    default="sat",
    show_default=True,
    help="Last day of a week window (Microsoft's Rustock weeks end on Saturday).",
)
@click.option(
    "--by",
    "by",
    type=click.Choice(["country", "asn", "family", "feed", "sensor"]),
    multiple=True,
    help="Group by (repeatable).",
)
@click.option(
    "--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day (UTC)."
)
@click.option(
    "--to",
    "date_to",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day, inclusive (UTC).",
)
@click.option("--family", default=None, help="Only this malware family.")
@click.option("--feed", default=None, help="Only this feed (feed.name), e.g. botcensus-sinkhole.")
@click.option("--include-unclaimed", is_flag=True, help="Also count requests no decoder claimed.")
@click.option(
    "--top", type=click.IntRange(min=1), default=None, help="Keep the top N groups per window."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def census_cmd(
    data_dir: Path,
    window: str,
    week_ends: str,
    by: tuple[str, ...],
    date_from: datetime | None,
    date_to: datetime | None,
    family: str | None,
    feed: str | None,
    include_unclaimed: bool,
    top: int | None,
    fmt: str,
    config_file: Path | None,
) -> None:
    """Count unique IPs, unique bot ids and hits per day or week, by country, ASN or family."""
    from botcensus.measure import CensusQuery, with_change
    from botcensus.measure.sketches_census import census_answer, with_change_hll
    from botcensus.report import tables
    from botcensus.store import connect, sightings_view
    from botcensus.store.sketches import read_sketches

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    _rollup(data_dir, _load(config_file))
    query = CensusQuery(
        window="day" if window == "day" else "week",
        week_ends=week_ends,
        by=by,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        family=family,
        feed=feed,
        include_unclaimed=include_unclaimed,
    )
    con = connect()
    _progress(con, interactive=fmt == "table")
    answer = census_answer(
        con,
        query,
        sightings_view(con, data_dir),
        read_sketches(data_dir, query.date_from, query.date_to),
    )
    if answer.source == "sketches":
        click.echo(f"note: {answer.reason}", err=True)
    result = (
        with_change(con, answer.table, by)
        if answer.unit == "unique_ip"
        else with_change_hll(con, answer.table, by)
    )
    if top is not None:
        import pyarrow.compute as pc

        result = result.filter(pc.less_equal(result["rank"], top))
    if fmt == "json":
        tables.write_json(result, sys.stdout)
    elif fmt == "csv":
        tables.write_csv(result, sys.stdout)
    else:
        tables.print_table(
            result,
            f"Census per {window} (UTC){' by ' + ', '.join(by) if by else ''}; "
            "change: against the previous window",
            columns=tables.census_columns(result, window, by),
        )


@main.command()
@DATA_OPTION
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the report files.",
)
@click.option("--family", default=None, help="Only this malware family.")
@click.option("--title", default="botcensus takedown report", show_default=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def report(
    data_dir: Path, out_dir: Path, family: str | None, title: str, config_file: Path | None
) -> None:
    """Write a PNG chart, CSV tables and an offline HTML page of the weekly census."""
    from rich.console import Console

    from botcensus.measure.summary import summarise
    from botcensus.report import tables, write_report
    from botcensus.store import connect, sightings_view

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    _rollup(data_dir, _load(config_file))
    con = connect()
    _progress(con, interactive=True)
    summary = summarise(con, sightings_view(con, data_dir), family=family)
    files = write_report(summary, out_dir, title=title)
    console = Console()
    tables.print_table(
        summary.countries.slice(0, 10), "Top countries, first vs last complete week", console
    )
    tables.print_table(summary.asns.slice(0, 10), "Top networks (ASN)", console)
    console.print(f"Report: {files.html}")


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Dataset and report directory [default: ./demo-data, replaced on each run].",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True, max=0.01),
    default=0.001,
    show_default=True,
    help="Fraction of the Rustock population to replay.",
)
@click.option("--seed", type=int, default=2011, show_default=True)
def demo(data_dir: Path | None, scale: float, seed: int) -> None:
    """Replay the 2011 Rustock takedown through a real sinkhole on loopback, count, report."""
    from botcensus.simulate.demo import run_demo

    sys.exit(run_demo(data_dir, scale=scale, seed=seed))


@main.command("cleanup")
@DATA_OPTION
@click.option(
    "--by",
    "by",
    type=click.Choice(["country", "asn"]),
    default=None,
    help="Also per country or per network (ASN).",
)
@click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (UTC) [default: the first day of data].",
)
@click.option(
    "--to",
    "date_to",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day, inclusive (UTC) [default: the last day of data].",
)
@click.option(
    "--marks",
    "marks_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Intervention dates: one 'YYYY-MM-DD label' per line.",
)
@click.option(
    "--notified",
    "notified_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="CSV of a campaign: asn|cc|identity, notified, day.",
)
@click.option("--family", default=None, help="Only this malware family.")
@click.option(
    "--week-ends",
    type=click.Choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    default="sat",
    show_default=True,
)
@click.option(
    "--charts",
    "charts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write decay.png and survival.png here.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def cleanup_cmd(
    data_dir: Path,
    by: str | None,
    date_from: datetime | None,
    date_to: datetime | None,
    marks_file: Path | None,
    notified_file: Path | None,
    family: str | None,
    week_ends: str,
    charts_dir: Path | None,
    fmt: str,
    config_file: Path | None,
) -> None:
    """Decay rate and half-life, rates around intervention marks, time to clean-up,
    notification effect."""
    import json

    import pyarrow.csv as pv
    from rich.console import Console

    from botcensus.measure.cleanup import parse_marks
    from botcensus.measure.cleanup_run import CleanupQuery, cleanup
    from botcensus.report import cleanup_view
    from botcensus.store import connect, sightings_view
    from botcensus.store.sketches import read_sketches

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    _rollup(data_dir, _load(config_file))
    try:
        marks = parse_marks(marks_file.read_text(encoding="utf-8")) if marks_file else []
    except ValueError as exc:
        raise click.BadParameter(f"{marks_file}: {exc}", param_hint="--marks") from None
    notified = pv.read_csv(notified_file) if notified_file is not None else None
    query = CleanupQuery(
        by="country" if by == "country" else "asn" if by == "asn" else None,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        family=family,
        week_ends=week_ends,
        marks=tuple(marks),
        notified=notified,
    )
    con = connect()
    try:
        result = cleanup(con, sightings_view(con, data_dir), read_sketches(data_dir), query)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        json.dump(cleanup_view.as_json(result), sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        cleanup_view.print_cleanup(result, Console())
    if charts_dir is not None:
        cleanup_view.write_charts(result, charts_dir, [(m.day, m.label) for m in marks])


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
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
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

    if via is None and data_dir is None and truth_dir is None:
        raise click.UsageError("give --via, --data and/or --truth")
    settings = _load(config_file)
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
            result = outputs.send_http(sim, port, progress=lambda n: bar.advance(task, n))
            click.echo(f"{result.sent} check-ins sent, {result.answered} answered", err=True)
        if truth_dir is not None:
            files = simulate.write_truth(sim, truth_dir)
            click.echo(f"ground truth: {len(files)} files in {truth_dir}", err=True)


@main.group("enrich")
def enrich_group() -> None:
    """IP address -> country, ASN and AS name."""


@enrich_group.command("lookup")
@click.argument("ips", nargs=-1, required=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
def enrich_lookup(ips: tuple[str, ...], config_file: Path | None) -> None:
    """Country, ASN and AS name of each IP (the database the settings choose)."""
    import pyarrow as pa

    from botcensus import enrich

    settings = _load(config_file)
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


@main.group("contacts")
def contacts_group() -> None:
    """Abuse contacts: import RIPE / CSV sources, look addresses up."""


@contacts_group.command("import")
@DATA_OPTION
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--ripe", "fmt", flag_value="ripe", help="FILES are RIPE split files (plain or gzip)."
)
@click.option("--csv", "fmt", flag_value="csv", help="FILE is a CSV contact table.")
@click.option("--source", default=None, help="Source name [default: ripe, or the CSV file's name].")
def contacts_import(
    data_dir: Path, files: tuple[Path, ...], fmt: str | None, source: str | None
) -> None:
    """Import abuse contacts as one source, replacing that source's previous import."""
    from botcensus.enrich import contacts

    if fmt is None:
        raise click.UsageError("say what FILES are: --ripe or --csv")
    if fmt == "csv" and len(files) != 1:
        raise click.UsageError("--csv takes one file")
    try:
        if fmt == "ripe":
            report = contacts.import_ripe(data_dir, list(files), source=source or "ripe")
        else:
            report = contacts.import_csv(data_dir, files[0], source=source)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())


@contacts_group.command("lookup")
@DATA_OPTION
@click.argument("ips", nargs=-1, required=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file (for the country / ASN database).",
)
def contacts_lookup(data_dir: Path, ips: tuple[str, ...], config_file: Path | None) -> None:
    """Abuse contact of each IP: most specific prefix, else its ASN, else its country's CERT."""
    import pyarrow as pa

    from botcensus import enrich
    from botcensus.enrich import contacts

    settings = _load(config_file)
    geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
    table = enrich.enrich(pa.table({"source_ip": pa.array(ips, pa.string())}), geo)
    found = contacts.enrich_contacts(table, contacts.load_contacts(data_dir))
    for line in contacts.describe(found):
        click.echo(line)
    click.echo(f"# {geo.name}", err=True)


def _progress(con: duckdb.DuckDBPyConnection, *, interactive: bool) -> None:
    """DuckDB's own progress bar for long queries, only when a person watches a terminal."""
    if interactive and sys.stdout.isatty():
        con.execute("SET enable_progress_bar = true")


def _load(config_file: Path | None) -> config_mod.Settings:
    try:
        return config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None

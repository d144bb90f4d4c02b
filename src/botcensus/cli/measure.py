"""Measurement commands: roll-up, census, report (clean-up: cli/cleanup.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus.times import utc_today

if TYPE_CHECKING:
    from botcensus.config import Settings
    from botcensus.measure.census import CensusQuery
    from botcensus.measure.census_run import CensusResult
    from botcensus.measure.cleanup import Mark
    from botcensus.store.sightings import RollupReport

from botcensus.cli._app import (
    CONFIG_OPTION,
    DATA_OPTION,
    FROM_DAY_OPTION,
    MARKS_OPTION,
    TO_DAY_OPTION,
    check_range,
    duckdb_progress,
    lazy_settings,
    load_settings,
    main,
    rollup_dataset,
)


@main.command()
@DATA_OPTION
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Who builds the day sketches (HLL / Theta per day, sensor, feed, country, ASN, "
    "family): this machine, or Spark SQL's hll_sketch_agg / theta_sketch_agg (needs "
    "botcensus[spark] and Java; the same bytes). Events to sightings (enrichment) and the "
    "dashboard's tables run here either way.",
)
@click.option(
    "--master",
    default="local[*]",
    show_default=True,
    metavar="URL",
    help="With --engine spark: the Spark master (local[N], spark://HOST:7077, yarn, k8s://...).",
)
@click.option(
    "--add-address-key",
    is_flag=True,
    help="First rewrite every sightings file written before schema version 2 with the "
    "address as a number (source_ip_hi/lo), one file at a time, atomically, each named on "
    "stderr; the census counts by it once every file has it (faster, the same counts).",
)
@CONFIG_OPTION
def rollup(
    data_dir: Path, engine: str, master: str, add_address_key: bool, config_file: Path | None
) -> None:
    """Roll raw events up into enriched daily sightings, sketches and the dashboard's
    roll-up tables.

    Incremental and idempotent; deletes nothing. With store.retention_on_rollup = true it
    then runs `botcensus retention apply`; otherwise it says when data is past its limit."""
    from botcensus.cli.retention import run_retention

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    settings = load_settings(config_file)
    if add_address_key:
        _add_address_key(data_dir)
    report = _rollup_on(engine, master, data_dir, settings)
    click.echo(
        f"{len(report.days_rolled)} days rolled up ({report.sightings} sightings), "
        f"{report.days_unchanged} unchanged"
        + (f"; {len(report.problems)} problems (see above)" if report.problems else "")
    )
    if settings.store.retention_on_rollup:
        run_retention(data_dir, settings, dry_run=False)
        return
    due = _retention_due(data_dir, settings)
    if due:
        click.echo(
            f"retention: {due} day partitions are past their limit; "
            "`botcensus retention apply` deletes them",
            err=True,
        )


def _add_address_key(data_dir: Path) -> None:
    from botcensus.store.upgrade import add_address_key

    done = add_address_key(data_dir)
    for path in done.rewritten:
        click.echo(f"{path}: rewritten with the address key (sightings version 2)", err=True)
    click.echo(
        f"{len(done.rewritten)} sightings files given the address key, {done.current} had it"
        + (f"; {len(done.problems)} left without it (see above)" if done.problems else "")
    )


def _retention_due(data_dir: Path, settings: Settings) -> int:
    from botcensus.store.retention import apply_retention

    preview = apply_retention(
        data_dir,
        datetime.now(UTC),
        event_days=settings.store.event_retention_days,
        sighting_days=settings.store.sighting_retention_days,
        dry_run=True,
    )
    return len(preview.deleted)


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
@FROM_DAY_OPTION
@TO_DAY_OPTION
@click.option("--family", default=None, help="Only this malware family.")
@click.option("--feed", default=None, help="Only this feed (feed.name), e.g. botcensus-sinkhole.")
@click.option("--include-unclaimed", is_flag=True, help="Also count requests no decoder claimed.")
@click.option(
    "--estimate",
    is_flag=True,
    help="Add estimated infected machines (hosts_est) with a 90% interval (hosts_lo, hosts_hi) "
    "and its support (hosts_support: estimate, widened, or bounds where these data support no "
    "estimate; notes on stderr say why), and the mean distinct addresses per hour "
    "(ips_hourly_avg).",
)
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
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Who runs the census SQL: DuckDB on this machine, or Spark SQL (needs "
    "botcensus[spark] and Java; reads the sightings as they are, so run `botcensus rollup` "
    "first; exact counts only, no --estimate).",
)
@click.option(
    "--master",
    default="local[*]",
    show_default=True,
    metavar="URL",
    help="With --engine spark: the Spark master (local[N], spark://HOST:7077, yarn, k8s://...).",
)
@CONFIG_OPTION
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
    estimate: bool,
    top: int | None,
    fmt: str,
    engine: str,
    master: str,
    config_file: Path | None,
) -> None:
    """Count unique IPs, unique bot ids and hits per day or week, by country, ASN or family;
    with --estimate, also the estimated number of infected machines."""
    from botcensus.measure.census import CensusQuery
    from botcensus.report import tables

    check_range(date_from, date_to, ("--from", "--to"), inclusive=True)
    query = CensusQuery(
        window="day" if window == "day" else "week",
        week_ends=week_ends,
        by=by,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        family=family,
        feed=feed,
        include_unclaimed=include_unclaimed,
        today=utc_today(),
    )
    if engine == "spark":
        if estimate:
            raise click.UsageError("--estimate runs on --engine duckdb only")
        result = _census_on_spark(data_dir, query, master, top)
    else:
        result = _census_on_duckdb(data_dir, query, estimate, top, fmt, config_file)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if fmt == "json":
        tables.write_json(result.rows, sys.stdout)
    elif fmt == "csv":
        tables.write_csv(result.rows, sys.stdout)
    else:
        tables.print_table(
            result.rows,
            f"Census per {window} (UTC){' by ' + ', '.join(by) if by else ''}; "
            f"change: against the {window} before, full {window}s only",
            columns=tables.census_columns(result.rows, window, by),
        )


def _census_on_duckdb(
    data_dir: Path,
    query: CensusQuery,
    estimate: bool,
    top: int | None,
    fmt: str,
    config_file: Path | None,
) -> CensusResult:
    from botcensus.measure.census_run import census_of_dataset

    try:
        return census_of_dataset(
            data_dir,
            query,
            estimate=estimate,
            top=top,
            refresh=lambda d: rollup_dataset(d, lazy_settings(config_file)),
            progress=fmt == "table" and sys.stdout.isatty(),
        )
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="--data") from None


def _rollup_on(engine: str, master: str, data_dir: Path, settings: Settings) -> RollupReport:
    if engine == "duckdb":
        return rollup_dataset(data_dir, settings, aggregates=True)
    from botcensus.measure.spark import SparkSketcher, SparkUnavailableError

    sketcher = SparkSketcher(master)
    try:
        return rollup_dataset(data_dir, settings, aggregates=True, sketcher=sketcher)
    except SparkUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sketcher.close()


def _census_on_spark(
    data_dir: Path, query: CensusQuery, master: str, top: int | None
) -> CensusResult:
    from botcensus.measure.spark import SparkUnavailableError, census_of_dataset

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    try:
        query.check()
        return census_of_dataset(data_dir, query, master=master, top=top)
    except SparkUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


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
@FROM_DAY_OPTION
@TO_DAY_OPTION
@MARKS_OPTION
@click.option(
    "--no-cleanup",
    is_flag=True,
    help="Leave out the clean-up section (decay and survival charts).",
)
@CONFIG_OPTION
def report(
    data_dir: Path,
    out_dir: Path,
    family: str | None,
    title: str,
    date_from: datetime | None,
    date_to: datetime | None,
    marks: list[Mark],
    no_cleanup: bool,
    config_file: Path | None,
) -> None:
    """Write PNG charts, CSV tables and an offline HTML page of the weekly census, with the
    decay rate, half-life and time to clean-up per country."""
    from rich.console import Console

    from botcensus.measure.cleanup import CleanupDataError, CleanupQuery, CleanupResult, cleanup
    from botcensus.measure.summary import summarise
    from botcensus.report import tables, write_report
    from botcensus.report.cleanup_html import decay_sentence
    from botcensus.store import connect, sightings_view
    from botcensus.store.sketches import read_sketches

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    check_range(date_from, date_to, ("--from", "--to"), inclusive=True)
    first = date_from.date() if date_from else None
    last = date_to.date() if date_to else None
    rollup_dataset(data_dir, load_settings(config_file))
    con = connect()
    duckdb_progress(con, interactive=True)
    relation = sightings_view(con, data_dir)
    today = utc_today()
    summary = summarise(con, relation, family=family, date_from=first, date_to=last, today=today)
    result: CleanupResult | None = None
    error = failed = None
    if not no_cleanup:
        query = CleanupQuery(
            by="country", family=family, marks=tuple(marks), date_from=first, date_to=last,
            today=today,
        )  # fmt: skip
        try:
            result = cleanup(con, relation, read_sketches(data_dir), query)
        except CleanupDataError as exc:
            error = f"clean-up not computed: {exc}"
            click.echo(f"note: {error}", err=True)
        except Exception as exc:  # a fault must not cost the census pages
            # The page is for readers: it names the failure, never a library's raw message,
            # which goes to the error output for whoever reports the fault.
            error = (
                "clean-up not computed: it failed on these data (a fault in botcensus, "
                "not in the data); `botcensus cleanup` shows the details"
            )
            failed = f"{type(exc).__name__}: {exc}"
            click.echo(
                f"error: the clean-up section failed ({failed}); report written without it",
                err=True,
            )
    files = write_report(
        summary,
        out_dir,
        title=title,
        cleanup=result,
        marks=[(m.day, m.label) for m in marks],
        cleanup_error=error,
    )
    console = Console()
    weeks = summary.weekly
    if weeks.num_rows and max(weeks["window_end"].to_pylist()) >= today:
        click.echo(
            f"note: today ({today}, UTC) is not over: not counted as a day with data, so "
            "the week that holds it is partial",
            err=True,
        )
    complete = weeks.num_rows and not all(weeks["partial"].to_pylist())
    compared = "first vs last complete week" if complete else "first vs last week (none complete)"
    tables.print_table(summary.countries.slice(0, 10), f"Top countries, {compared}", console)
    tables.print_table(summary.asns.slice(0, 10), "Top networks (ASN)", console)
    if result is not None:
        line = decay_sentence(result)
        if result.fit is None:
            click.echo(f"note: {line}", err=True)
        else:
            console.print(line, markup=False, highlight=False)
    console.print(f"Report: {files.html}", markup=False, highlight=False)
    if failed is not None:
        sys.exit(1)

"""The command group, shared options and the helpers every command uses."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # config loads pydantic: only commands that read settings pay for it
    import duckdb
    import pyarrow as pa

    from botcensus import config as config_mod
    from botcensus.measure.cleanup import Mark
    from botcensus.store import RollupReport


CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML settings file.",
)
DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset directory (events, write-ahead log, quarantine).",
)


def _read_marks(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> list[Mark]:
    if value is None:
        return []
    from botcensus.measure.cleanup import parse_marks

    try:
        return parse_marks(value.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.BadParameter(f"{value}: {exc}") from None


FROM_DAY_OPTION = click.option(
    "--from",
    "date_from",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day (UTC) [default: the first day of data].",
)
TO_DAY_OPTION = click.option(
    "--to",
    "date_to",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day, inclusive (UTC) [default: the last day of data].",
)
MARKS_OPTION = click.option(
    "--marks",
    "marks",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    callback=_read_marks,
    help="Intervention dates (a removal-tool release, a notification campaign): one "
    "'YYYY-MM-DD label' per line.",
)


def check_range(
    start: datetime | None, end: datetime | None, names: tuple[str, str], *, inclusive: bool
) -> None:
    """Refuse a range that holds nothing (start after end; start equal to an exclusive end),
    instead of printing an empty result as if there were no data."""
    if start is None or end is None:
        return
    if start > end or (start == end and not inclusive):
        first, last = names
        what = "after" if start > end else "equal to"
        raise click.UsageError(
            f"{first} {start.isoformat()} is {what} {last} {end.isoformat()}: "
            "the range holds no time"
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


CHATTY_LOGGERS: tuple[str, ...] = ("mail.log",)
"""Other libraries' loggers that write a line per protocol step at INFO: aiosmtpd's, behind the
demo's loopback SMTP server (notify.loopback). They speak only under --verbose."""


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="botcensus: %(message)s",
        stream=sys.stderr,
    )
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


COMMAND_MODULES: dict[str, str] = {
    "sinkhole": "capture",
    "events": "capture",
    "cleanup": "cleanup",
    "contacts": "contacts",
    "demo": "demo",
    "ingest": "feeds",
    "export": "feeds",
    "feeds": "feeds",
    "rollup": "measure",
    "census": "measure",
    "report": "measure",
    "notify": "notify",
    "retention": "retention",
    "simulate": "simulate",
    "enrich": "simulate",
    "serve": "web",
    "web": "web",
}
"""Command -> the botcensus.cli module that defines it. A command missing here still works
(every module is loaded to find it), only more slowly; tests/test_cli.py checks the table."""


class LazyGroup(click.Group):
    """The command group, loading a command's module when that command runs: `census`
    then imports no sinkhole, settings or plotting code. Listing the commands (--help) or
    reading `commands` loads every module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loaded = False
        self._loading = False
        super().__init__(*args, **kwargs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        if not self._loaded and not self._loading:
            self.load_all()
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._commands = value

    def _import(self, modules: Iterable[str]) -> None:
        self._loading = True  # registering a command must not load every module
        try:
            for module in modules:
                importlib.import_module(f"botcensus.cli.{module}")
        finally:
            self._loading = False

    def load_all(self) -> None:
        self._import(sorted(set(COMMAND_MODULES.values())))
        self._loaded = True

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._commands and cmd_name in COMMAND_MODULES:
            self._import([COMMAND_MODULES[cmd_name]])
        if cmd_name not in self._commands:
            self.load_all()
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics at debug level.")
@click.version_option(package_name="botcensus")
def main(verbose: bool) -> None:
    """botcensus: sinkhole, census and clean-up measurement for botnet takedowns."""
    setup_logging(verbose)


def rollup_dataset(
    data_dir: Path,
    settings: config_mod.Settings | Callable[[], config_mod.Settings],
    *,
    aggregates: bool = False,
    sketcher: Callable[[pa.Table], pa.Table] | None = None,
    products_min_age: float = 0.0,
) -> RollupReport:
    """Bring the dataset's sightings and sketches up to date (enriching new sightings);
    with `aggregates`, the dashboard's roll-up tables and products too (`botcensus rollup`
    and `serve` ask; `census` does not wait for them). `settings` may be a function
    (lazy_settings): it is called only when there is something to enrich. `sketcher` turns
    one day's sightings into sketch rows (default: store/sketch_build.sketch_sightings;
    `rollup --engine spark`: measure/spark.SparkSketcher, the same bytes)."""
    from botcensus.store import rollup as store_rollup
    from botcensus.store.atomic import DatasetError
    from botcensus.store.sketches import sketch_days

    geo = None

    def step(table: pa.Table) -> pa.Table:
        nonlocal geo
        from botcensus import enrich

        if geo is None:
            found = settings() if callable(settings) else settings
            geo = enrich.load(found.enrich.country_mmdb, found.enrich.asn_mmdb)
        return enrich.enrich(table, geo)

    def sketch(sightings: pa.Table) -> pa.Table:
        from botcensus.store.sketch_build import sketch_sightings

        return sketch_sightings(sightings)

    try:
        report = store_rollup(data_dir, step)
        # Sketches before retention can expire a day: they outlive the raw sightings.
        sketch_days(data_dir, sketcher or sketch)
        if aggregates:
            found = settings() if callable(settings) else settings
            aggregate_dataset(data_dir, found.web.week_ends, products_min_age)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    return report


def aggregate_dataset(data_dir: Path, week_ends: str, products_min_age: float = 0.0) -> None:
    """The web's roll-up: exact census tables per day and week (store/aggregates.py, built
    by measure/rollups.py), then the products the dashboard cannot compute per request
    (those built less than `products_min_age` seconds ago kept: web.products)."""
    from botcensus.measure.rollups import rollup_rows
    from botcensus.store.aggregates import aggregate_windows
    from botcensus.web.products import build_products

    built = aggregate_windows(
        data_dir, lambda con, view, window: rollup_rows(con, view, window, week_ends), week_ends
    )
    if built.days_built or built.weeks_built:
        logging.getLogger("botcensus").info(
            "roll-up tables: %d days, %d weeks built", len(built.days_built), len(built.weeks_built)
        )
    build_products(data_dir, week_ends, min_age=products_min_age)


def duckdb_progress(con: duckdb.DuckDBPyConnection, *, interactive: bool) -> None:
    """DuckDB's own progress bar for long queries, only when a person watches a terminal."""
    if interactive and sys.stdout.isatty():
        con.execute("SET enable_progress_bar = true")


def load_settings(config_file: Path | None) -> config_mod.Settings:
    from botcensus import config as config_mod

    try:
        return config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def lazy_settings(
    config_file: Path | None,
) -> config_mod.Settings | Callable[[], config_mod.Settings]:
    """The settings now when a file or a BOTCENSUS_* variable could make them invalid (the
    error shows at once, as for every command), else a function building the defaults on
    first use: a census over an up-to-date dataset never needs them."""
    if config_file is not None or any(k.startswith("BOTCENSUS_") for k in os.environ):
        return load_settings(config_file)
    return lambda: load_settings(None)

"""The command group, shared options and the helpers every command uses."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus import config as config_mod

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

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


MARKS_OPTION = click.option(
    "--marks",
    "marks",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    callback=_read_marks,
    help="Intervention dates (a removal-tool release, a notification campaign): one "
    "'YYYY-MM-DD label' per line.",
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


def setup_logging(verbose: bool) -> None:
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
    setup_logging(verbose)


def rollup_dataset(data_dir: Path, settings: config_mod.Settings) -> RollupReport:
    """Bring the dataset's sightings and sketches up to date (enriching new sightings)."""
    from botcensus import enrich
    from botcensus.store import rollup as store_rollup
    from botcensus.store import sketch_build
    from botcensus.store.sketches import sketch_days

    geo = None

    def step(table: pa.Table) -> pa.Table:
        nonlocal geo
        if geo is None:
            geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        return enrich.enrich(table, geo)

    report = store_rollup(data_dir, step)
    # Sketches before retention can expire a day: they outlive the raw sightings.
    sketch_days(data_dir, sketch_build.sketch_sightings)
    return report


def duckdb_progress(con: duckdb.DuckDBPyConnection, *, interactive: bool) -> None:
    """DuckDB's own progress bar for long queries, only when a person watches a terminal."""
    if interactive and sys.stdout.isatty():
        con.execute("SET enable_progress_bar = true")


def load_settings(config_file: Path | None) -> config_mod.Settings:
    try:
        return config_mod.load(config_file)
    except config_mod.ConfigError as exc:
        raise click.ClickException(str(exc)) from None

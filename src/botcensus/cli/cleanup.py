"""The clean-up command: decay rate and half-life, intervention marks, time to clean-up and
the notification effect."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus.times import utc_today

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.csv as pv

    from botcensus.measure.cleanup import Mark

from botcensus.cli._app import (
    CONFIG_OPTION,
    DATA_OPTION,
    FROM_DAY_OPTION,
    MARKS_OPTION,
    TO_DAY_OPTION,
    check_range,
    load_settings,
    main,
    rollup_dataset,
)


def _read_notified(
    _ctx: click.Context, _param: click.Parameter, value: Path | None
) -> pa.Table | None:
    """The --notified CSV, checked and typed; what is wrong with it (and where) as a usage
    error, not a traceback from pyarrow or DuckDB."""
    if value is None:
        return None
    import re

    import pyarrow as pa
    import pyarrow.csv as pv

    from botcensus.measure.cleanup import NOTIFIED_COLUMNS, notification_table

    invalid: list[pv.InvalidRow] = []

    def stop(row: pv.InvalidRow) -> str:
        invalid.append(row)
        return "error"

    try:
        text = pv.read_csv(
            value,
            # One thread and blank lines kept: pyarrow then counts rows as lines of the file.
            read_options=pv.ReadOptions(use_threads=False),
            parse_options=pv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=stop),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(NOTIFIED_COLUMNS, pa.string()),
                strings_can_be_null=False,
            ),
        )
        return notification_table(text)
    except UnicodeDecodeError as exc:
        raise click.BadParameter(
            f"{value}: not UTF-8 text (byte {exc.start})", param_hint="--notified"
        ) from None
    except ValueError as exc:  # pyarrow.ArrowInvalid is one
        why = str(exc).removeprefix("CSV parse error: ")
        cell = re.match(r"In CSV column #(\d+): Row #(\d+): (.*)", why, re.DOTALL)
        if cell:  # a value pyarrow could not read (not UTF-8): its line and column, from 1
            why = f"line {cell[2]}, column {int(cell[1]) + 1}: {cell[3]}"
        if invalid:
            row = invalid[0]
            why = (
                f"line {row.number}: expected {row.expected_columns} columns, "
                f"got {row.actual_columns}: {row.text}"
            )
        raise click.BadParameter(f"{value}: {why}", param_hint="--notified") from None


def _journal_groups(data_dir: Path, *, required: bool) -> pa.Table | None:
    """The notification journal's hold-out design as a campaign table (notify/effect.py)."""
    from botcensus.notify import notification_groups

    try:
        groups = notification_groups(data_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if groups is None:
        if required:
            raise click.UsageError(f"{data_dir}: the notification journal has no hold-out design")
        return None
    held = groups.num_rows - sum(groups["notified"].to_pylist())
    click.echo(
        f"note: notification groups from the journal's hold-out design: {groups.num_rows} "
        f"networks ({groups.column_names[0]}), {held} held out",
        err=True,
    )
    return groups


@main.command("cleanup")
@DATA_OPTION
@click.option(
    "--by",
    "by",
    type=click.Choice(["country", "asn"]),
    default=None,
    help="Also per country or per network (ASN).",
)
@FROM_DAY_OPTION
@TO_DAY_OPTION
@MARKS_OPTION
@click.option(
    "--notified",
    "notified",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    callback=_read_notified,
    help="CSV of a campaign, with a header: asn|cc|identity, notified (true/false or 1/0), "
    "day (YYYY-MM-DD).",
)
@click.option(
    "--notified-from-journal/--no-notified-from-journal",
    "from_journal",
    default=None,
    help="Take the campaign from the hold-out design in the notification journal "
    "(DIR/notify/journal.sqlite) [default: when it has one and --notified is not given].",
)
@click.option("--family", default=None, help="Only this malware family.")
@click.option(
    "--week-ends",
    type=click.Choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    default="sat",
    show_default=True,
)
@click.option(
    "--count",
    "count",
    type=click.Choice(["addresses", "hosts"]),
    default="addresses",
    show_default=True,
    help="Fit the decay to weekly unique addresses, or to the weekly host estimates "
    "(census --estimate; corrects for NAT and renumbering, needs raw sightings).",
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
@CONFIG_OPTION
def cleanup_cmd(
    data_dir: Path,
    by: str | None,
    date_from: datetime | None,
    date_to: datetime | None,
    marks: list[Mark],
    notified: pa.Table | None,
    from_journal: bool | None,
    family: str | None,
    week_ends: str,
    count: str,
    charts_dir: Path | None,
    fmt: str,
    config_file: Path | None,
) -> None:
    """Decay rate and half-life, rates around intervention marks, time to clean-up,
    notification effect."""
    import json

    from rich.console import Console

    from botcensus.measure.cleanup import CleanupQuery, cleanup
    from botcensus.report import cleanup_view
    from botcensus.store import connect, sightings_view
    from botcensus.store.sketches import read_sketches

    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    check_range(date_from, date_to, ("--from", "--to"), inclusive=True)
    rollup_dataset(data_dir, load_settings(config_file))
    if notified is None and from_journal is not False:
        notified = _journal_groups(data_dir, required=bool(from_journal))
    query = CleanupQuery(
        by="country" if by == "country" else "asn" if by == "asn" else None,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        family=family,
        week_ends=week_ends,
        marks=tuple(marks),
        notified=notified,
        count="hosts" if count == "hosts" else "addresses",
        today=utc_today(),
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

"""Retention commands: the explicit, logged step that deletes personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from botcensus.cli._app import CONFIG_OPTION, DATA_OPTION, load_settings, main

if TYPE_CHECKING:
    from botcensus.config import Settings
    from botcensus.store.retention import RetentionReport


@main.group("retention")
def retention_group() -> None:
    """Delete raw events and sightings past their retention limits (store.* settings)."""


def run_retention(data_dir: Path, settings: Settings, *, dry_run: bool) -> RetentionReport:
    """Apply the settings' limits at the wall clock now; print what was done."""
    from botcensus.store.atomic import DatasetError
    from botcensus.store.retention import apply_retention

    try:
        report = apply_retention(
            data_dir,
            datetime.now(UTC),
            event_days=settings.store.event_retention_days,
            sighting_days=settings.store.sighting_retention_days,
            dry_run=dry_run,
        )
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    for line in describe(report):
        click.echo(line)
    return report


def describe(report: RetentionReport) -> list[str]:
    """What a run deleted (or would delete) and kept, one line each."""
    verb = "would delete" if report.dry_run else "deleted"
    passive = "would be deleted" if report.dry_run else "deleted"
    lines = [
        f"retention: {verb} {d.area}/date={d.day} ({d.files} files, {d.bytes} bytes; "
        f"written {d.written}, {d.age_days:.1f} days ago > {d.limit_days})"
        for d in report.deleted
    ]
    for days, why in (
        (report.kept_unrolled, "events not all rolled up yet (botcensus rollup)"),
        (report.kept_pending, "feed sightings not written yet (next botcensus ingest)"),
        (report.kept_unsketched, "sightings not sketched yet (botcensus rollup)"),
    ):
        if days:
            lines.append(f"retention: kept {len(days)} days, {why}: {', '.join(days)}")
    if report.clocks_started:
        started = "clock would start" if report.dry_run else "clock started"
        lines.append(
            f"retention: {len(report.clocks_started)} days had no write time recorded; "
            f"their {started} now"
        )
    total = len(report.deleted)
    lines.append(
        f"retention: {total} day partitions {passive}" + ("" if report.dry_run or not total else
        " (each one recorded in retention.log)")
    )  # fmt: skip
    return lines


@retention_group.command("apply")
@DATA_OPTION
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@CONFIG_OPTION
def retention_apply(data_dir: Path, dry_run: bool, config_file: Path | None) -> None:
    """Delete raw-event days rolled up more than store.event_retention_days ago, feed-event
    days ingested more than that ago, and sighting days written more than
    store.sighting_retention_days ago. Ages count from when the data was written here, never
    from its own dates. Each deletion is appended to DIR/retention.log."""
    if not data_dir.is_dir():
        raise click.BadParameter(f"{data_dir}: no such directory", param_hint="--data")
    run_retention(data_dir, load_settings(config_file), dry_run=dry_run)

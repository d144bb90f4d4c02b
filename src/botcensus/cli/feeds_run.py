"""The bodies of the feed commands (ingest, export, feeds collect / fetch): wire settings,
the enrichment step and output to feeds/ and export/; cli/feeds.py's click commands call
them, and each returns the process exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final, TextIO

import pyarrow as pa

from botcensus.config import Settings
from botcensus.export.event_query import ExportQuery, LeftOut
from botcensus.export.events import export_events
from botcensus.feeds.ingest import FileReport, IngestReport, ingest
from botcensus.feeds.mapping import MappingError
from botcensus.store.atomic import private_dir

PROGRESS_MIN_BYTES: Final = 64 << 20


def enrich_step(settings: Settings) -> Callable[[pa.Table], pa.Table]:
    """The enrichment step the settings ask for, loading its database on first use."""
    from botcensus import enrich

    geo: enrich.GeoTable | None = None

    def step(table: pa.Table) -> pa.Table:
        nonlocal geo
        if geo is None:
            geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        return enrich.enrich(table, geo)

    return step


def _line(f: FileReport) -> str:
    if f.error:
        return f"error: {f.error}"
    if f.skipped:
        return f"skipped: {f.label}: {f.skipped}"
    text = (
        f"{f.label}: {f.report_type} ({f.mapping}): {f.read} rows read, {f.stored} stored, "
        f"{f.duplicate} duplicate, {f.quarantined} quarantined"
    )
    if f.padded:
        text += (
            f"; {f.padded} short rows read with their missing last cells empty "
            "(flagged extra.missing_columns)"
        )
    if f.without_source:
        text += f"; {f.without_source} stored without a source address (no sighting)"
    if f.not_infections:
        text += (
            f"; {f.not_infections} classed by the report as not an infected system "
            "(e.g. spam): stored, not counted in the census"
        )
    if f.cc_disagreements or f.asn_disagreements:
        text += (
            f"; feed and our enrichment disagree on country for {f.cc_disagreements}, "
            f"on ASN for {f.asn_disagreements}"
        )
    if f.quarantine_file:
        text += f"; rejected rows in {f.quarantine_file}"
    return text


def summary(report: IngestReport) -> list[str]:
    """One line per file and a total line."""
    lines = [_line(f) for f in report.files]
    if report.rebuilt_days:
        days = report.rebuilt_days
        lines.append(
            f"sightings of {len(days)} day(s) an earlier ingest left pending rebuilt from their "
            f"events first ({days[0]}{f' to {days[-1]}' if len(days) > 1 else ''}): "
            f"{report.rebuilt} sightings"
        )
    if report.sightings_error:
        lines.append(f"error: {report.sightings_error}")
    skipped = report.skipped
    total = (
        f"total: {report.total('read')} rows read, {report.total('stored')} stored, "
        f"{report.total('duplicate')} duplicate, {report.total('quarantined')} quarantined; "
        f"{report.sightings} sightings written for {len(report.days)} days"
    )
    if skipped:
        kinds = sorted({f.skipped.split("'")[1] for f in skipped if f.skipped and "'" in f.skipped})
        total += f"; {len(skipped)} files skipped (report types not read: {', '.join(kinds)})"
    lines.append(total)
    return lines


def run_ingest(
    paths: list[Path],
    data_dir: Path,
    *,
    settings: Settings,
    feed: str | None = None,
    mapping: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Ingest files, print the summary; exit status 0 / 1 (rows quarantined) / 2 (failed)."""
    out = out or sys.stdout
    err = err or sys.stderr
    private_dir(data_dir)
    try:
        report = _ingest(paths, data_dir, settings, feed, mapping, err)
    except MappingError as exc:
        print(f"error: {exc}", file=err)
        return 2
    for line in summary(report):
        print(line, file=err if line.startswith("error:") else out)
    return report.exit_code


def _ingest(
    paths: list[Path],
    data_dir: Path,
    settings: Settings,
    feed: str | None,
    mapping: str | None,
    err: TextIO,
) -> IngestReport:
    """Ingest, with a progress bar on a terminal when a file is large."""
    show = err.isatty() and any(
        p.is_file() and p.stat().st_size >= PROGRESS_MIN_BYTES for p in paths
    )
    if show:
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import Progress

        with Progress(console=Console(file=err), transient=True) as bar:
            tasks: dict[Path, object] = {}

            def advance(path: Path, done: int, total: int) -> None:
                if path not in tasks:
                    # a file name is text, not markup: "[/]x.csv" raised MarkupError
                    tasks[path] = bar.add_task(escape(path.name), total=total)
                bar.update(tasks[path], completed=done)  # type: ignore[arg-type]

            report = ingest(
                paths,
                data_dir,
                enrich_step(settings),
                mapping=mapping,
                feed=feed,
                on_progress=advance,
            )
    else:
        report = ingest(paths, data_dir, enrich_step(settings), mapping=mapping, feed=feed)
    return report


def run_export(
    data_dir: Path,
    fmt: str,
    query: ExportQuery,
    *,
    settings: Settings,
    out: BinaryIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Export events to `out` (stdout); the count goes to stderr. Exit status 0."""
    binary = out or sys.stdout.buffer
    left_out = LeftOut()
    n = export_events(data_dir, query, fmt, binary, enrich_step(settings), left_out)
    binary.flush()
    note = f"{n} events exported"
    if left_out.unclaimed:
        note += (
            f"; {left_out.unclaimed} matching events without a malware family left out "
            "(unclaimed sinkhole requests, report rows not classed as infections); "
            "--include-unclaimed exports them"
        )
    print(note, file=err or sys.stderr)
    return 0


def run_fetch(inbox: Path, data_dir: Path, *, settings: Settings, out: TextIO | None = None) -> int:
    """Download new reports from the Reports API; exit 2 if the API refused or failed."""
    from datetime import UTC, datetime

    from botcensus.feeds.reports_api import ApiError, ReportsApi, fetch

    out = out or sys.stdout
    conf = settings.shadowserver
    if not conf.api_key or conf.secret is None:
        print(
            "error: no Reports API key and secret (settings shadowserver.api_key, "
            "shadowserver.secret, or BOTCENSUS_SHADOWSERVER__API_KEY / __SECRET)",
            file=sys.stderr,
        )
        return 2
    api = ReportsApi(conf.api_key, conf.secret.get_secret_value(), conf.api_url)
    private_dir(data_dir)
    try:
        report = fetch(
            api,
            inbox,
            data_dir,
            today=datetime.now(UTC).date(),
            days=conf.days,
            reports=conf.reports,
            types=conf.types,
        )
    except ApiError as exc:
        print(f"error: Reports API: {exc}", file=sys.stderr)
        return 2
    print(
        f"fetch: {report.listed} reports listed, {len(report.downloaded)} downloaded, "
        f"{report.already} downloaded before",
        file=out,
    )
    for why in report.refused:
        print(f"error: not downloaded: {why}", file=sys.stderr)
    return 2 if report.refused else 0


def run_collect(
    inbox: Path,
    data_dir: Path,
    *,
    settings: Settings,
    settle: float,
    fetch: bool = False,
    out: TextIO | None = None,
) -> int:
    """Collect the inbox (fetching first if asked); print what was done."""
    from botcensus.feeds.collect import CollectBusyError, collect

    out = out or sys.stdout
    code = run_fetch(inbox, data_dir, settings=settings, out=out) if fetch else 0
    private_dir(data_dir)
    try:
        result = collect(inbox, data_dir, enrich_step(settings), settle=settle)
    except CollectBusyError as exc:
        print(f"note: {exc}; nothing done", file=out)
        return code
    except MappingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in summary(result.ingest):
        print(line, file=sys.stderr if line.startswith("error:") else out)
    print(result.summary(), file=out)
    return max(code, result.ingest.exit_code)

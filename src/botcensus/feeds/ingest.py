"""Ingest report files: map, check, deduplicate, enrich and store their rows as feed events.

Per file (feeds/file_ingest.py): read batches (a background thread parses while this one
maps), map each batch with one DuckDB SELECT compiled from the mapping, quarantine rejected
rows, drop rows already stored, enrich the new ones and write them. Memory holds a few
batches and 8 bytes per stored row of the days the file touches, never the file. Here: the
files of one run, each one's errors recorded on its report, and the sightings of the days
they touched.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from botcensus.feeds import fused
from botcensus.feeds.file_ingest import Enrich, FileIngest, Run
from botcensus.feeds.inputs import CutOffError, Input, UnreadableError, archive_problem, expand
from botcensus.feeds.mapping import Mapping, MappingError
from botcensus.feeds.outcome import FileReport, IngestReport, clear
from botcensus.feeds.plan import future_limit
from botcensus.feeds.quarantine import Quarantine
from botcensus.feeds.read import Batch, ReadError, prefetch
from botcensus.feeds.resolve import UnknownReportError, resolve
from botcensus.feeds.schema import active as active_schema
from botcensus.store import ledger
from botcensus.store.feed_events import FeedStore
from botcensus.store.feed_sightings import (
    add_new_events,
    clear_pending,
    finish_pending,
    mark_pending,
    pending_days,
)

__all__ = ["Enrich", "FileReport", "IngestReport", "Progress", "ingest"]

Progress = Callable[[Path, int, int], None]


def ingest(
    paths: list[Path],
    dataset: Path,
    enrich: Enrich,
    *,
    mapping: str | Path | Mapping | None = None,
    feed: str | None = None,
    on_progress: Progress | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Ingest report files (also .gz, .zip members and whole directories) into `dataset`; a
    file that fails is reported and the others go on; a report type botcensus does not read
    is skipped and counted. `on_file` is called after each file is committed. `now` (default:
    the clock) is when the ingest began, for the rows dated in the future (times.py): a
    datetime with a time zone (a naive one raises ValueError before anything is read)."""
    result = IngestReport()
    started = datetime.now(UTC) if now is None else now
    future_limit(started)  # refuses a naive `now`
    run = Run(dataset, FeedStore(dataset, uuid.uuid4().hex[:8]), enrich, started)
    lock = run.store.lock()
    try:
        run.store.clean_temporaries()
        # a crash (or a failure) between storing events and their sightings
        try:
            result.rebuilt_days, result.rebuilt = finish_pending(dataset)
        except (OSError, duckdb.Error) as exc:
            # the mark stays; reading on would overwrite it with this run's days only
            days = ", ".join(sorted(pending_days(dataset)))
            result.sightings_error = (
                f"the sightings of days an earlier ingest left pending ({days}) could not be "
                f"rebuilt ({exc}); no file was read: run the ingest again once this is fixed"
            )
            return result
        touched: set[str] = set()
        default = active_schema(dataset) if mapping is None else None
        for item in expand(paths):
            report = FileReport(item.path, item.member)
            result.files.append(report)
            self_file = _one_file(item, report, run, mapping, feed, default, on_progress)
            touched.update(self_file)
            mark_pending(dataset, touched)
            for day, files in run.store.commit().items():
                run.published.setdefault(day, []).extend(files)
            if on_file is not None:
                on_file(report)
        result.days = tuple(sorted(touched))
        # The retention clock of a feed day starts at the last ingest that stored rows of it.
        ledger.stamp(dataset, "feeds", sorted(run.published), datetime.now(UTC))
        try:
            result.sightings = add_new_events(dataset, run.published, run.store.written)
        except (OSError, duckdb.Error) as exc:
            result.sightings_error = f"sightings not written ({exc}); the next ingest writes them"
            return result
        clear_pending(dataset)
    finally:
        os.close(lock)
    return result


def _one_file(
    item: Input,
    report: FileReport,
    run: Run,
    mapping: str | Path | Mapping | None,
    feed: str | None,
    default: Mapping | None,
    on_progress: Progress | None,
) -> set[str]:
    """Read one report into the run's open files (committed by the caller); the days it
    wrote rows of. Errors are recorded on `report`, never raised."""
    if item.member is None and item.name.lower().endswith(".zip"):
        problem = archive_problem(item.path)  # a zip archive expand() could not open
        report.error = f"{item.label}: {problem}"
        report.unreadable = isinstance(problem, UnreadableError)
        return set()
    try:
        source = resolve(item.name, mapping, feed, default)
    except UnknownReportError as exc:
        report.skipped = str(exc)
        return set()
    except MappingError as exc:
        report.error = f"{item.label}: {exc}"
        return set()
    quarantine = Quarantine(run.dataset, Path(item.label))
    before = run.store.mark()
    whole = False  # read to its end: its rejected rows replace an earlier ingest's
    try:
        report.report_type = source.report.report_type
        report.feed_name, report.mapping = source.feed_name, source.mapping.name
        work = FileIngest(item, source, run, report, quarantine)
        size = item.size()

        def take(batches: Iterator[tuple[Batch, pa.Table | None]]) -> None:
            for batch, mapped in prefetch(batches):
                work.batch(batch, mapped)
                if on_progress is not None:
                    on_progress(item.path, min(batch.position, size), size)

        first = work.fused()
        if first is not None:
            mark = run.store.mark()
            try:
                report.reader = "duckdb"
                take(first)
                whole = True
                return run.store.days()
            except fused.IrregularError as why:  # read it again, exactly; nothing of it is kept
                if work.reading is not None:
                    work.reading.close()
                run.store.rollback(mark)
                quarantine.discard()
                clear(report)
                report.reread = str(why)
        report.reader = "exact"
        take(work.mapped(b) for b in work.batches())
        whole = True
    except UnreadableError as exc:  # its rows, if any were read, are not to be trusted
        run.store.rollback(before)
        quarantine.discard()
        clear(report)
        report.error = f"{item.label}: {exc}; nothing of it stored"
        report.unreadable = True
    except CutOffError as exc:  # the rows before the cut are as sent: kept
        report.error = f"{item.label}: {exc}; the rows before the cut are kept ({report.read} read)"
        report.unreadable = True
    except (
        OSError,
        EOFError,
        zlib.error,
        ReadError,
        MappingError,
        pa.ArrowInvalid,
        duckdb.Error,
    ) as exc:
        report.error = f"{item.label}: {exc}"
    finally:
        # Only a whole read replaces (or removes) an earlier ingest's rejected rows; a read
        # that stopped adds to them, one that stored nothing (or an exception on its way
        # out, whose rows are not committed) leaves them as they were.
        if whole:
            report.quarantine_file = quarantine.publish()
        elif report.error is not None:
            report.quarantine_file = quarantine.add()
        else:
            quarantine.discard()
        report.quarantined = quarantine.count
    return run.store.days()

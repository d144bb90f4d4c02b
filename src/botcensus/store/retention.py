"""Retention: the one step that deletes personal data, run only when asked, and logged.

Age counts from when data was written, as the retention ledger records it (store/ledger.py):
raw sinkhole events from when their day was last rolled up into sightings, feed events from
the last ingest that stored rows of their day, sightings from when their day was last
written. The data's own dates never count, so a replayed or historical dataset (Rustock 2011)
is kept as long as one recorded today. Nothing is deleted before it is summarised: an events
day only once every file of it was rolled up, a feed day only once its sightings are written,
a sightings day only once it is sketched. A day with no stamp starts its clock at the first
run. Every deletion is appended to `DIR/retention.log` (JSON lines) and logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from botcensus.store import layout, ledger, manifest
from botcensus.store.atomic import append_line
from botcensus.store.files import day_files, day_partitions, locked, warn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Deletion:
    """One day partition deleted (or, in a dry run, to be deleted)."""

    area: str
    day: str
    written: str
    """When the day was last written (ledger stamp), ISO 8601 UTC."""
    age_days: float
    limit_days: int
    files: int
    bytes: int


@dataclass(slots=True)
class RetentionReport:
    """What one retention run deleted, kept and why."""

    dry_run: bool
    deleted: list[Deletion] = field(default_factory=list)
    kept_unrolled: list[str] = field(default_factory=list)
    """Events days past their limit with files not yet rolled up into sightings."""
    kept_pending: list[str] = field(default_factory=list)
    """Feed days past their limit whose sightings are not written yet."""
    kept_unsketched: list[str] = field(default_factory=list)
    """Sightings days past their limit not yet sketched (sketches outlive sightings)."""
    clocks_started: list[str] = field(default_factory=list)
    """`area/day` present with no stamp: their age starts now."""
    problems: list[str] = field(default_factory=list)

    def days(self, area: str) -> tuple[str, ...]:
        return tuple(d.day for d in self.deleted if d.area == area)

    @property
    def event_days_deleted(self) -> tuple[str, ...]:
        return self.days(layout.EVENTS) + tuple(
            f"{layout.FEEDS}/{d}" for d in self.days(layout.FEEDS)
        )

    @property
    def sighting_days_deleted(self) -> tuple[str, ...]:
        return self.days(layout.SIGHTINGS)


class _Run:
    def __init__(self, dataset: Path, now: datetime, dry_run: bool) -> None:
        self.dataset, self.now = dataset, now
        self.report = RetentionReport(dry_run)
        self.stamps = ledger.read_ledger(dataset)
        self.changes: dict[ledger.Area, dict[str, str | None]] = {a: {} for a in ledger.AREAS}

    def expired(self, area: ledger.Area, day: str, limit: int) -> tuple[str, float] | None:
        """(stamp, age in days) if the day is past `limit`; starts an unknown day's clock."""
        written = self.stamps[area].get(day)
        if written is None:
            self.report.clocks_started.append(f"{area}/{day}")
            self.changes[area][day] = self.now.isoformat(timespec="seconds")
            return None
        try:
            age = self.now - datetime.fromisoformat(written)
        except (ValueError, TypeError):
            self.report.problems.append(warn(f"{area}/{day}: stamp {written!r} unreadable"))
            self.changes[area][day] = self.now.isoformat(timespec="seconds")
            return None
        if age <= timedelta(days=limit):
            return None
        return written, age / timedelta(days=1)

    def delete(
        self, area: ledger.Area, day: str, files: list[Path], stamp: tuple[str, float], limit: int
    ) -> None:
        """Delete these files of one partition (only these: a file that arrived since the
        check stays), then the partition directory if it is empty."""
        size = sum(f.stat().st_size for f in files)
        gone = Deletion(area, day, stamp[0], round(stamp[1], 2), limit, len(files), size)
        self.report.deleted.append(gone)
        if self.report.dry_run:
            return
        for path in files:
            path.unlink(missing_ok=True)
        if files:
            # A file that arrived since the check (or a writer's temporary) keeps the folder.
            with contextlib.suppress(OSError):
                files[0].parent.rmdir()
        self.changes[area][day] = None
        _append_log(self.dataset, gone, self.now)
        # the record is retention.log; the command that asked prints each deletion itself
        log.debug(
            "retention: deleted %s/date=%s (%d files, %d bytes; written %s, %.1f days ago, "
            "limit %d)",
            area, day, len(files), size, stamp[0], stamp[1], limit,
        )  # fmt: skip


def _append_log(dataset: Path, gone: Deletion, now: datetime) -> None:
    record: dict[str, object] = {
        "time": now.isoformat(timespec="seconds"),
        "deleted": f"{gone.area}/date={gone.day}",
    }
    record |= {
        "written": gone.written, "age_days": gone.age_days, "limit_days": gone.limit_days,
        "files": gone.files, "bytes": gone.bytes,
    }  # fmt: skip
    append_line(json.dumps(record, sort_keys=True), dataset / layout.RETENTION_LOG)


Held = Callable[[str, list[Path]], list[str] | None]
"""The report list a day of an area is kept in (not summarised yet), or None if it may go."""


def _sweep(run: _Run, area: ledger.Area, limit: int, held: Held, *, when_due: bool) -> None:
    """Delete an area's days past `limit`, except those `held` keeps; a kept day is listed
    always, or (`when_due`) only once it is past the limit."""
    listing = day_partitions(run.dataset / area)
    run.report.problems += listing.problems
    for day, folder in listing.days:
        files = day_files(folder, run.report.problems)
        if not files:
            continue
        kept = held(day, files)
        if kept is not None and not when_due:
            kept.append(day)
            continue
        stamp = run.expired(area, day, limit)
        if stamp is None:
            continue
        if kept is not None:
            kept.append(day)
        else:
            run.delete(area, day, files, stamp, limit)


def _pending(run: _Run) -> set[str] | None:
    """Feed days whose sightings are not written yet; None if that cannot be known."""
    # Imported here: the feed writers load pyarrow.compute, which the census never needs.
    from botcensus.store.feed_sightings import pending_days

    try:
        return pending_days(run.dataset)
    except ValueError as exc:
        run.report.problems.append(warn(f"{exc}; no feed day deleted"))
        return None


def _events(run: _Run, limit: int) -> None:
    """An events day goes only once every file of it was rolled up into sightings."""
    rolled = manifest.load(run.dataset, manifest.SIGHTINGS)

    def held(day: str, files: list[Path]) -> list[str] | None:
        done = {f.name for f in files} <= manifest.names(rolled.entry(day))
        return None if done else run.report.kept_unrolled

    _sweep(run, layout.EVENTS, limit, held, when_due=False)


def _feeds(run: _Run, limit: int) -> None:
    """A feed day goes only once its sightings are written."""
    pending = _pending(run)

    def held(day: str, _files: list[Path]) -> list[str] | None:
        return run.report.kept_pending if pending is None or day in pending else None

    _sweep(run, layout.FEEDS, limit, held, when_due=False)


def _sightings(run: _Run, limit: int) -> None:
    """A sightings day goes only once it is sketched (sketches outlive sightings)."""
    sketched = manifest.load(run.dataset, manifest.SKETCHES)

    def held(day: str, files: list[Path]) -> list[str] | None:
        return None if sketched.built_from(day, files) else run.report.kept_unsketched

    _sweep(run, layout.SIGHTINGS, limit, held, when_due=True)


def apply_retention(
    dataset: Path, now: datetime, *, event_days: int, sighting_days: int, dry_run: bool = False
) -> RetentionReport:
    """Delete the day partitions older than the limits, counted from when each day was
    written (`now` is passed in: no clock here). With `dry_run`, change nothing and report
    what would be deleted."""
    run = _Run(dataset, now, dry_run)
    if not dataset.is_dir():
        return run.report
    with contextlib.ExitStack() as held:
        held.enter_context(locked(dataset / layout.ROLLUP_LOCK))
        feeds = (dataset / layout.FEEDS).is_dir()  # no feeds yet: no lock file made
        if feeds:
            held.enter_context(locked(dataset / layout.INGEST_LOCK))
        _events(run, event_days)
        if feeds:
            _feeds(run, event_days)
        _sightings(run, sighting_days)
        if not dry_run:
            ledger.update(dataset, run.changes)
    return run.report

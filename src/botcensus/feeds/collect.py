"""Collect an inbox unattended: ingest the report files not read yet, remember what was read,
safe from cron or a systemd timer every few minutes and after a crash.

State (DIR/feeds/collect/state.json, written atomically after each file is committed)
records every file read: its path in the inbox, size, modification time and SHA-256. A file
is read again only if it changed; a file only touched (same content) is not read again, and a
copy of a file already read (same content, another name) is recorded without reading it. A
file whose bytes cannot be read (an encrypted or damaged zip archive, a damaged or cut-off .gz
file: FileReport.unreadable) is recorded with its error and not tried again until it changes.
A file that had rows quarantined for being dated ahead (later than FEED_FUTURE_SKEW after the
ingest: a wrong clock, FileReport.future) is read again, unchanged, once the earliest of them
is within FEED_FUTURE_SKEW of the clock, at most once per FUTURE_RETRY_GAP: each such read
stores the rows whose time has come (the others are duplicates). A run killed at any point
leaves at worst one committed file not yet recorded: the next run reads it again and finds
every row a duplicate (events are deduplicated by content), so nothing is counted twice and
nothing is skipped. Files changed within the last `settle` seconds are left for the next run
(a mail fetcher may still be writing them); a second run while one is going exits at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from botcensus.feeds.ingest import Enrich, FileReport, IngestReport, ingest
from botcensus.feeds.inputs import expand
from botcensus.feeds.mapping import Mapping
from botcensus.store.atomic import write_json
from botcensus.store.files import locked_fd
from botcensus.store.layout import COLLECT_LOCK, COLLECT_STATE
from botcensus.times import FEED_FUTURE_SKEW

SETTLE_SECONDS: Final = 60.0
FUTURE_RETRY_GAP: Final = timedelta(days=1)
"""A file with rows dated ahead is read again at most this often: rows spread over the coming
days cost one read of it a day, not one every run (each row is stored at most this much later
than FEED_FUTURE_SKEW before its time)."""


class CollectBusyError(Exception):
    """Another collect run holds the dataset's collect lock."""


@dataclass
class CollectReport:
    """One collect run: what was ingested, what was already read, what was left for later."""

    ingest: IngestReport = field(default_factory=IngestReport)
    already: int = 0
    """Files read before, unchanged (their content; `touched` of them have a new time)."""
    touched: int = 0
    copies: int = 0
    """Files whose content was read before under another name."""
    settling: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    """Files that could not be read in this run, recorded: not tried again until they change."""
    unreadable_before: int = 0
    """Files an earlier run could not read, unchanged since: not tried again."""
    due: list[Path] = field(default_factory=list)
    """Files read before, unchanged, read again in this run: rows of theirs were quarantined
    as dated ahead and the earliest of them is now within FEED_FUTURE_SKEW."""

    def summary(self) -> str:
        """The line `feeds collect` ends with: reports (a zip archive holds several) read
        without an error, then files."""
        files = self.ingest.files
        read = sum(1 for f in files if not f.error)
        failed = sum(1 for f in files if f.error and not f.unreadable)
        text = f"collect: {_count(read, 'report')} read"
        if self.due:
            text += (
                f", {_count(len(self.due), 'file')} read before and again now (rows of "
                "theirs quarantined as dated ahead, whose time has come)"
            )
        if failed:
            text += f", {failed} failed (tried again at the next run)"
        if self.unreadable:
            text += (
                f", {_count(len(self.unreadable), 'file')} that cannot be read (the error "
                "recorded: not tried again until the file changes)"
            )
        text += f", {self.already} read before"
        if self.touched:
            text += f" ({self.touched} of them touched since, content unchanged)"
        text += f", {self.copies} copies of reports read before under another name"
        if self.unreadable_before:
            text += (
                f", {_count(self.unreadable_before, 'file')} that could not be read before, "
                "unchanged (not tried again until the file changes)"
            )
        return text + f", {len(self.settling)} still changing (left for the next run)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


class State:
    """What the inbox's files were when read (atomically rewritten after each file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        if path.exists():
            body = json.loads(path.read_text(encoding="utf-8"))
            self.files = dict(body.get("files", {}))
        self.by_digest = {
            v["sha256"]: k for k, v in self.files.items() if "sha256" in v and not v.get("error")
        }

    def unchanged(self, key: str, stat: os.stat_result) -> bool:
        known = self.files.get(key)
        return (
            known is not None
            and known.get("size") == stat.st_size
            and known.get("mtime_ns") == stat.st_mtime_ns
        )

    def due(self, key: str, when: datetime) -> bool:
        """Whether the file is to be read again for rows dated ahead (FileReport.future)."""
        retry = self.files.get(key, {}).get("retry_at")
        return retry is not None and datetime.fromisoformat(retry) <= when

    def record(
        self, key: str, stat: os.stat_result, digest: str, report: FileReport, when: datetime
    ) -> None:
        self.files[key] = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": digest,
            "read": datetime.now(UTC).isoformat(timespec="seconds"),
            "report_type": report.report_type,
            "stored": report.stored,
            "duplicate": report.duplicate,
            "quarantined": report.quarantined,
            "skipped": report.skipped,
        }
        if report.error:
            self.files[key]["error"] = report.error
        else:
            self.by_digest[digest] = key
        if report.future is not None:
            self.files[key]["retry_at"] = _retry_at(report.future, when).isoformat()
        self.save()

    def touch(self, key: str, stat: os.stat_result) -> None:
        """The file was touched: its content is as recorded, its time is new."""
        self.files[key] |= {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        self.save()

    def save(self) -> None:
        write_json({"files": self.files}, self.path)


def _retry_at(future: datetime, when: datetime) -> datetime:
    """When to read again a file read at `when` whose earliest row dated ahead is `future`:
    FEED_FUTURE_SKEW before it (rounded up to the second, as the ingest's limit is), and not
    within FUTURE_RETRY_GAP of this read."""
    due = future - FEED_FUTURE_SKEW
    if due.microsecond:
        due = due.replace(microsecond=0) + timedelta(seconds=1)
    return max(due, when + FUTURE_RETRY_GAP)


@contextlib.contextmanager
def _collect_lock(dataset: Path) -> Iterator[None]:
    try:
        fd = locked_fd(dataset / COLLECT_LOCK, wait=False)
    except BlockingIOError:
        raise CollectBusyError(f"{dataset}: another collect run is going") from None
    try:
        yield
    finally:
        os.close(fd)


def collect(
    inbox: Path,
    dataset: Path,
    enrich: Enrich,
    *,
    mapping: str | Path | Mapping | None = None,
    settle: float = SETTLE_SECONDS,
    now: float | None = None,
) -> CollectReport:
    """Ingest the inbox's report files that are new or changed since the last run."""
    result = CollectReport()
    with _collect_lock(dataset):
        state = State(dataset / COLLECT_STATE)
        clock = time.time() if now is None else now
        when = datetime.fromtimestamp(clock, UTC)
        todo: dict[Path, tuple[str, os.stat_result, str]] = {}
        for path in sorted({i.path for i in expand([inbox])}):
            key = str(path.relative_to(inbox))
            stat = path.stat()
            known = state.files.get(key, {})
            same, touched = state.unchanged(key, stat), False
            if not same:
                if clock - stat.st_mtime < settle:
                    result.settling.append(path)
                    continue
                digest = _digest(path)
                if known.get("sha256") == digest:  # touched: the same content, a new time
                    state.touch(key, stat)
                    same = touched = True
            if same:
                if state.due(key, when):
                    result.due.append(path)
                    todo[path] = (key, stat, known["sha256"])
                elif known.get("error"):
                    result.unreadable_before += 1
                else:
                    result.already += 1
                    result.touched += touched
                continue
            if digest in state.by_digest:
                result.copies += 1
                state.record(
                    key, stat, digest, FileReport(path, skipped="a copy of one read"), when
                )
                continue
            todo[path] = (key, stat, digest)
        # Even with nothing new, ingest runs: it writes the sightings a killed run left
        # pending (sightings-pending.json).
        done: dict[Path, list[FileReport]] = {}

        def on_file(report: FileReport) -> None:
            done.setdefault(report.path, []).append(report)
            if report.path not in todo or (report.error and not report.unreadable):
                return  # a failed file is read again next run (a full disk, a missing column)
            key, stat, digest = todo[report.path]
            if report.member is None or _all_members_done(report.path, done):
                total = _total(done[report.path])
                state.record(key, stat, digest, total, when)
                if total.error:
                    result.unreadable.append(report.path)

        result.ingest = ingest(
            list(todo),
            dataset,
            enrich,
            mapping=mapping,
            on_file=on_file,
            now=when,
        )
    return result


def _all_members_done(path: Path, done: dict[Path, list[FileReport]]) -> bool:
    """Whether every report in a zip archive has been committed or cannot be read (then the
    archive is done)."""
    members = [i.member for i in expand([path])]
    seen = {r.member for r in done.get(path, []) if not r.error or r.unreadable}
    return all(m in seen for m in members)


def _total(reports: list[FileReport]) -> FileReport:
    total = FileReport(reports[0].path)
    for r in reports:
        total.stored += r.stored
        total.duplicate += r.duplicate
        total.quarantined += r.quarantined
    types = sorted({r.report_type for r in reports if r.report_type})
    total.report_type = ",".join(types) or None
    skipped = [r.skipped for r in reports if r.skipped]
    total.skipped = skipped[0] if skipped and len(skipped) == len(reports) else None
    futures = [r.future for r in reports if r.future is not None]
    total.future = min(futures) if futures else None
    errors = [r.error for r in reports if r.error]
    total.error = "; ".join(errors) or None
    total.unreadable = bool(errors)
    return total

"""What an ingest did, per file and in all: rows read, stored, duplicate and quarantined,
the reader used, and why a file failed or was skipped (feeds/ingest.py fills them in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

COUNTS: Final = (
    "read",
    "stored",
    "duplicate",
    "without_source",
    "cc_disagreements",
    "asn_disagreements",
    "padded",
    "not_infections",
)
"""The row counts of a FileReport that start again from zero when nothing of it is kept."""


@dataclass
class FileReport:
    """What ingesting one file did. Rows read = stored + duplicate + quarantined."""

    path: Path
    member: str | None = None
    """The report's name inside a zip archive."""
    report_type: str | None = None
    feed_name: str | None = None
    mapping: str | None = None
    read: int = 0
    stored: int = 0
    duplicate: int = 0
    quarantined: int = 0
    without_source: int = 0
    cc_disagreements: int = 0
    asn_disagreements: int = 0
    padded: int = 0
    """Short rows (fewer cells than the header) read with the missing cells empty."""
    not_infections: int = 0
    """Stored events of an infected-host report that the report classes otherwise (legacy
    drone `spam` rows): no malware family, so not in the census."""
    quarantine_file: Path | None = None
    """Where this ingest's rejected rows of the file are (None: it quarantined none; an
    earlier ingest's file, if any, is then left as it was unless the file was read whole)."""
    future: datetime | None = None
    """The earliest time of a row quarantined for being later than FEED_FUTURE_SKEW after
    the ingest began: reading the file again from FEED_FUTURE_SKEW before it stores the row
    (feeds collect does: collect.py)."""
    error: str | None = None
    unreadable: bool = False
    """The error is that the file's bytes cannot be read (an encrypted, damaged or cut-off zip
    archive or member, a damaged or cut-off .gz file): reading it again gives the same error
    until the file changes. Nothing of it is stored, except the rows of a .gz file before
    its cut (CutOffError)."""
    skipped: str | None = None
    """Why the file was skipped (a report type botcensus does not read)."""
    reader: str | None = None
    """How the rows were read: 'duckdb' (a regular CSV file, read and mapped in one DuckDB
    statement: feeds/fused.py) or 'exact' (batch by batch, every irregular row kept)."""
    reread: str | None = None
    """Why a file tried with DuckDB's reader was read again with the exact one."""

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member is not None else str(self.path)


@dataclass
class IngestReport:
    """All files of one ingest run, and the sightings written for their days."""

    files: list[FileReport] = field(default_factory=list)
    days: tuple[str, ...] = ()
    sightings: int = 0
    sightings_error: str | None = None
    """Why the sightings of the stored events could not be written (the days stay pending
    and the next ingest writes them)."""
    rebuilt_days: tuple[str, ...] = ()
    """Days an earlier ingest left pending, whose sightings this one rebuilt first."""
    rebuilt: int = 0
    """The sightings written for those days."""

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def skipped(self) -> list[FileReport]:
        return [f for f in self.files if f.skipped]

    @property
    def exit_code(self) -> int:
        """0: every row stored or a duplicate; 1: some rows quarantined; 2: a file failed."""
        if any(f.error for f in self.files) or self.sightings_error:
            return 2
        return 1 if self.total("quarantined") else 0


def clear(report: FileReport) -> None:
    """Nothing of the file is kept: its counts start again from zero."""
    for name in COUNTS:
        setattr(report, name, 0)
    report.future = None

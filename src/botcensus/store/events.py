"""Roll closed write-ahead-log segments into the day-partitioned Parquet event dataset.

Each segment becomes at most one file per day, ``events/date=YYYY-MM-DD/<segment>.parquet``,
written under a temporary name, fsynced and renamed: a reader never sees half a file, and
rolling the same segment twice (after a crash between rename and unlink) rewrites the same
files with the same rows. A torn or corrupt tail is copied to ``quarantine/wal/`` with its
reason before the segment is removed, so nothing once accepted disappears unexplained.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from botcensus.capture.wal import fsync_dir, scan_segment
from botcensus.model import EVENT_FIELDS, EVENT_SCHEMA

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"


@dataclass(frozen=True, slots=True)
class RollReport:
    """What rolling one segment did."""

    segment: Path
    events: int
    files: tuple[Path, ...]
    dropped_bytes: int
    dropped_reason: str | None


def events_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns from WAL event rows (values in ``EVENT_COLUMNS`` order)."""
    columns: list[Sequence[Any]] = (
        list(zip(*rows, strict=True)) if rows else [()] * len(EVENT_FIELDS)
    )
    arrays = [
        pa.array(col, type=field.type) for col, field in zip(columns, EVENT_FIELDS, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def write_atomic(table: pa.Table, target: Path) -> None:
    """Write a zstd Parquet file under a temporary name, fsync it, rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp"
    import pyarrow.parquet as pq  # loaded by writers only: readers of the dataset use DuckDB

    pq.write_table(table, tmp, compression="zstd")
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(target)
    fsync_dir(target.parent)


def write_partitioned(table: pa.Table, dataset: Path, name: str) -> tuple[Path, ...]:
    """Split events by UTC day of receipt and write one file per day."""
    import pyarrow.compute as pc  # slow to load: only writers need it, not the census

    days = pc.cast(table["time_received"], pa.date32())
    written = []
    for day in pc.unique(days).to_pylist():
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        part = part.sort_by("time_received")
        target = dataset / EVENTS_DIR / f"date={day.isoformat()}" / f"{name}.parquet"
        write_atomic(part, target)
        written.append(target)
    return tuple(written)


def roll_segment(segment: Path, dataset: Path) -> RollReport:
    """Turn one closed segment into Parquet, set aside any torn tail, remove the segment."""
    scan = scan_segment(segment)
    files = (
        write_partitioned(events_table(scan.events), dataset, segment.stem) if scan.events else ()
    )
    if scan.tail:
        qdir = dataset / QUARANTINE_DIR / "wal"
        qdir.mkdir(parents=True, exist_ok=True)
        (qdir / f"{segment.stem}.tail").write_bytes(scan.tail)
        (qdir / f"{segment.stem}.tail.txt").write_text(
            f"segment: {segment.name}\noffset: {scan.good_bytes}\n"
            f"bytes: {len(scan.tail)}\nreason: {scan.tail_reason}\n",
            encoding="utf-8",
        )
        fsync_dir(qdir)
    segment.unlink()
    fsync_dir(segment.parent)
    return RollReport(segment, len(scan.events), files, len(scan.tail), scan.tail_reason)


def clean_temporaries(dataset: Path) -> int:
    """Remove temporary files a crash left behind (never visible to readers)."""
    removed = 0
    root = dataset / EVENTS_DIR
    if root.is_dir():
        for tmp in root.glob("date=*/.*.tmp"):
            tmp.unlink()
            removed += 1
    return removed

"""Roll closed write-ahead-log segments into the day-partitioned Parquet event dataset.

Each segment becomes at most one file per day, ``events/date=YYYY-MM-DD/<segment>.parquet``,
written under a temporary name, fsynced and renamed: a reader never sees half a file, and
rolling the same segment twice (after a crash between rename and unlink) rewrites the same
files with the same rows. A torn or corrupt tail is copied to ``quarantine/wal/`` with its
reason before the segment is removed, and so is every row whose values do not fit the event
schema (``<segment>.rows``, msgpack, with a ``.rows.txt`` giving each row's reason): nothing
once accepted disappears unexplained, and no row can stop the roll.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.capture.wal import fsync_dir, scan_segment
from botcensus.model import EVENT_FIELDS, EVENT_SCHEMA
from botcensus.store import layout

EVENTS_DIR = "events"
QUARANTINE_DIR = "quarantine"
TIME_RANGE_US = (0, 253_402_300_800_000_000)
"""time_received must fall in [1970-01-01, 10000-01-01) to be partitioned by day."""
_CONVERSION_ERRORS = (pa.ArrowException, OverflowError, ValueError, TypeError)


@dataclass(frozen=True, slots=True)
class RollReport:
    """What rolling one segment did."""

    segment: Path
    events: int
    files: tuple[Path, ...]
    dropped_bytes: int
    dropped_reason: str | None
    rows_quarantined: int = 0
    """Rows set aside because a value did not fit the event schema."""


_ROW = pa.struct(list(EVENT_FIELDS))


def events_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns from WAL event rows (values in ``EVENT_COLUMNS`` order; tuples convert fastest).
    Raises on a row that does not fit the schema; `convert_rows` sets such rows aside."""
    if not rows:
        return EVENT_SCHEMA.empty_table()
    if not isinstance(rows[0], tuple):
        rows = [r if isinstance(r, tuple) else tuple(r) for r in rows]
    # One conversion of whole rows: much cheaper than transposing them into 23 columns.
    batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=_ROW))
    return pa.Table.from_batches([batch], schema=EVENT_SCHEMA)


def convert_rows(
    rows: Sequence[Any], header: Mapping[str, Any] | None = None
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The table of every row that fits the schema, and (index, reason) of every one that
    does not. Raw requests are decoded first, with the segment's `header`. One conversion
    when all rows fit; bisection finds the few that do not."""
    bad: list[tuple[int, str]] = []
    events, origin = _decode_raw(rows, header, bad)
    found: list[tuple[int, str]] = []
    parts = _convert(events, 0, found)
    table = pa.concat_tables(parts) if parts else EVENT_SCHEMA.empty_table()
    times = pc.cast(table["time_received"], pa.int64())
    low, high = TIME_RANGE_US
    outside = pc.or_(pc.less(times, low), pc.greater_equal(times, high))
    if table.num_rows and pc.any(outside).as_py():
        # Convertible, but no calendar day to file it under: set aside like any bad value.
        failed = {i for i, _ in found}
        kept_index = [i for i in range(len(events)) if i not in failed]
        why = "time_received outside 1970-01-01 to 9999-12-31"
        found.extend((kept_index[pos], why) for pos in pc.indices_nonzero(outside).to_pylist())
        table = table.filter(pc.invert(outside))
    bad.extend((origin[i], why) for i, why in found)
    bad.sort()
    return table, bad


def _decode_raw(
    rows: Sequence[Any], header: Mapping[str, Any] | None, bad: list[tuple[int, str]]
) -> tuple[Sequence[Any], list[int]]:
    """Rows with every raw request replaced by its event, and each one's index in `rows`; a
    raw request that cannot be decoded goes to `bad` instead."""
    # Loaded by rolls only: the decoders bring the settings, which readers (census) skip.
    from botcensus.capture.record import RAW_WIDTH, RawDecoder

    raw = [
        i for i, row in enumerate(rows) if isinstance(row, tuple | list) and len(row) == RAW_WIDTH
    ]
    if not raw:
        return rows, list(range(len(rows)))
    decoder = RawDecoder(header) if header is not None else None
    events: list[Any] = list(rows)
    for i in raw:
        try:
            if decoder is None:
                raise ValueError("raw request in a segment without a header")
            events[i] = decoder.event(rows[i])
        except Exception as exc:  # whatever it is, the row is set aside with its reason
            events[i] = None
            bad.append((i, f"raw request not decodable: {type(exc).__name__}: {exc}"))
    origin = [i for i, event in enumerate(events) if event is not None]
    return [events[i] for i in origin], origin


def _convert(rows: Sequence[Any], offset: int, bad: list[tuple[int, str]]) -> list[pa.Table]:
    try:
        return [events_table(rows)] if rows else []
    except _CONVERSION_ERRORS as exc:
        if len(rows) == 1:
            bad.append((offset, _why(rows[0], exc)))
            return []
    half = len(rows) // 2
    return _convert(rows[:half], offset, bad) + _convert(rows[half:], offset + half, bad)


def _why(row: Any, exc: BaseException) -> str:
    """Name the first value of a lone bad row that does not fit its column."""
    if not isinstance(row, list | tuple) or len(row) != len(EVENT_FIELDS):
        size = len(row) if isinstance(row, list | tuple) else 1
        return f"{size} values, expected {len(EVENT_FIELDS)}"
    for value, field in zip(row, EVENT_FIELDS, strict=True):
        try:
            pa.array([value], type=field.type)
        except _CONVERSION_ERRORS as error:
            return f"{field.name}: {type(error).__name__}: {error}"
        if value is None and not field.nullable:
            return f"{field.name}: null in a column that cannot be null"
    return f"{type(exc).__name__}: {exc}"


def private_dir(path: Path) -> None:
    """Create `path` and any missing parent as 0700: the dataset holds source addresses."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another writer
            directory.mkdir(mode=0o700)


def write_atomic(table: pa.Table, target: Path) -> None:
    """Write a zstd Parquet file (0600) under a temporary name, fsync it, rename it into place."""
    private_dir(target.parent)
    tmp = target.parent / f".{target.name}.tmp"
    try:
        # Created 0600 before pyarrow opens it (it keeps the mode of an existing file).
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        import pyarrow.parquet as pq  # loaded by writers only: readers of the dataset use DuckDB

        pq.write_table(table, tmp, compression="zstd")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(target)
    except BaseException:
        # pyarrow removes what it wrote when its write fails; a failed fsync or rename
        # must not leave the temporary behind either.
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def write_partitioned(table: pa.Table, dataset: Path, name: str) -> tuple[Path, ...]:
    """Split events by UTC day of receipt and write one file per day."""
    import pyarrow.compute as pc  # slow to load: only writers need it, not the census

    days = pc.cast(table["time_received"], pa.date32())
    unique = pc.unique(days).to_pylist()
    written = []
    for day in unique:
        part = table
        if len(unique) > 1:
            part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        if not _in_time_order(part):  # a worker's segment mostly is: sorting costs a copy
            part = part.sort_by("time_received")
        target = dataset / EVENTS_DIR / f"date={day.isoformat()}" / f"{name}.parquet"
        write_atomic(part, target)
        written.append(target)
    return tuple(written)


def _in_time_order(table: pa.Table) -> bool:
    times = table["time_received"]
    n = len(times)
    return n < 2 or bool(pc.all(pc.less_equal(times.slice(0, n - 1), times.slice(1))).as_py())


def roll_segment(segment: Path, dataset: Path) -> RollReport:
    """Turn one closed segment into Parquet, set aside any torn tail and any row that does
    not fit the schema, remove the segment."""
    # Millions of short-lived tuples: the cyclic collector would walk them again and again
    # for nothing (they hold no cycles), tripling the cost of the roll.
    collecting = gc.isenabled()
    gc.disable()
    try:
        scan = scan_segment(segment, tuples=True)
        table, bad = convert_rows(scan.events, scan.header)
    finally:
        if collecting:
            gc.enable()
    name = layout.event_part(segment_sensor(scan.header, table), segment.stem)
    files = write_partitioned(table, dataset, name) if table.num_rows else ()
    qdir = dataset / QUARANTINE_DIR / "wal"
    if bad:
        rows = [scan.events[i] for i, _ in bad]
        lines = [f"row {i} of {len(scan.events)}: {why}" for i, why in bad]
        _quarantine(
            qdir,
            f"{segment.stem}.rows",
            msgpack.packb(rows, use_bin_type=True),
            f"segment: {segment.name}\nrows: {len(bad)}\n" + "\n".join(lines) + "\n",
        )
    if scan.tail:
        _quarantine(
            qdir,
            f"{segment.stem}.tail",
            scan.tail,
            f"segment: {segment.name}\noffset: {scan.good_bytes}\n"
            f"bytes: {len(scan.tail)}\nreason: {scan.tail_reason}\n",
        )
    segment.unlink()
    fsync_dir(segment.parent)
    return RollReport(segment, table.num_rows, files, len(scan.tail), scan.tail_reason, len(bad))


def _quarantine(qdir: Path, name: str, data: bytes, note: str) -> None:
    """Set bytes aside with a note saying why, durably, before their segment is removed."""
    private_dir(qdir)
    _write_durable(qdir / name, data)
    _write_durable(qdir / f"{name}.txt", note.encode("utf-8"))
    fsync_dir(qdir)


def _write_durable(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_temporaries(dataset: Path, sensor: str | None = None) -> int:
    """Remove temporary files a crash left behind (never visible to readers); with `sensor`,
    only that sensor's and unnamed ones (others writing into the dataset may be mid-write)."""
    removed = 0
    root = dataset / EVENTS_DIR
    if root.is_dir():
        for tmp in root.glob("date=*/.*.tmp"):
            if sensor is not None and layout.sensor_of_part(tmp.name[1:-4]) not in (sensor, None):
                continue
            tmp.unlink()
            removed += 1
    return removed


def segment_sensor(header: Mapping[str, Any] | None, table: pa.Table) -> str:
    """The sensor that wrote a segment: its header says so; a segment without one (the first
    format) has it in every row."""
    if header is not None and isinstance(header.get("sensor"), str):
        return str(header["sensor"])
    sensors = pc.unique(table["sensor"]).to_pylist() if table.num_rows else []
    return str(sensors[0]) if len(sensors) == 1 else "unknown"

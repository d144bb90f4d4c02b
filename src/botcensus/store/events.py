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

import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.capture.wal import scan_segment
from botcensus.model import EVENT_FIELDS, EVENT_SCHEMA
from botcensus.store import atomic, layout
from botcensus.times import TIME_RANGE_TEXT, TIME_RANGE_US

if TYPE_CHECKING:
    from botcensus.capture.record import RawDecoder

RAW_WIDTH = 8
"""Values in a raw request row (capture.record.RAW_WIDTH; checked by the tests)."""

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


_NOT_NULL = [f for f in EVENT_SCHEMA if not f.nullable]


def events_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns from WAL event rows (values in ``EVENT_COLUMNS`` order; tuples convert fastest).
    Raises on a row that does not fit the schema; `convert_rows` sets such rows aside."""
    if not rows:
        return EVENT_SCHEMA.empty_table()
    if not isinstance(rows[0], tuple):
        rows = [r if isinstance(r, tuple) else tuple(r) for r in rows]
    # One conversion of whole rows: much cheaper than transposing them into 23 columns.
    batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=_ROW))
    table = pa.Table.from_batches([batch], schema=EVENT_SCHEMA)
    for field in _NOT_NULL:  # Arrow takes a null into a non-nullable field without a word
        if table.column(field.name).null_count:
            raise pa.ArrowInvalid(f"{field.name}: null in a column that cannot be null")
    return table


def convert_rows(
    rows: Sequence[Any], header: Mapping[str, Any] | None = None
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The table of every row that fits the schema, in the order of `rows`, and (index,
    reason) of every one that does not. Raw requests are decoded with the segment's
    `header`: in bulk where they are what workers write, one by one otherwise. One
    conversion when all rows fit; bisection finds the few that do not."""
    bad: list[tuple[int, str]] = []
    decoder, raw = _raw_rows(rows, header, bad)
    bulk = _decode_bulk(rows, raw, decoder)
    rest: Sequence[int] = range(len(rows))
    if bulk is not None:
        left = np.ones(len(rows), np.bool_)
        left[bulk[1]] = False
        rest = np.flatnonzero(left).tolist()
    raw_set = set(raw.tolist()) if len(raw) != len(rows) else None
    events, origin = _decode_each(rows, rest, raw_set, decoder, bad)
    found: list[tuple[int, str]] = []
    parts = _convert(events, 0, found)
    failed = {i for i, _ in found}
    bad.extend((origin[i], why) for i, why in found)
    table = pa.concat_tables(parts) if parts else EVENT_SCHEMA.empty_table()
    at = np.array([origin[i] for i in range(len(events)) if i not in failed], np.int64)
    if bulk is not None:
        table, at = _merge(bulk[0], bulk[1], table, at)
    times = pc.cast(table["time_received"], pa.int64())
    low, high = TIME_RANGE_US
    outside = pc.fill_null(pc.or_(pc.less(times, low), pc.greater_equal(times, high)), True)
    if table.num_rows and pc.any(outside).as_py():
        # Convertible, but no calendar day to file it under: set aside like any bad value.
        why = f"time_received missing or outside {TIME_RANGE_TEXT}"
        bad.extend((int(at[pos]), why) for pos in pc.indices_nonzero(outside).to_pylist())
        table = table.filter(pc.invert(outside))
    bad.sort()
    return table, bad


def _raw_rows(
    rows: Sequence[Any], header: Mapping[str, Any] | None, bad: list[tuple[int, str]]
) -> tuple[RawDecoder | None, npt.NDArray[np.int64]]:
    """The decoder of the segment's raw rows, and where those rows are. Without a (usable)
    header no raw row can be decoded: each is set aside with the reason."""
    # Loaded by rolls only: the decoders bring the settings, which readers (census) skip.
    from botcensus.capture.record import RawDecoder

    if set(map(type, rows)) <= {tuple}:  # what scan_segment(tuples=True) gives
        widths = np.fromiter(map(len, rows), np.int64, len(rows))
        raw = np.flatnonzero(widths == RAW_WIDTH)
    else:
        raw = np.array(
            [i for i, r in enumerate(rows) if isinstance(r, tuple | list) and len(r) == RAW_WIDTH],
            np.int64,
        )
    if not len(raw):
        return None, raw
    why = "raw request in a segment without a header"
    if header is not None:
        try:
            return RawDecoder(header), raw
        except Exception as exc:  # a damaged header: its rows are kept aside, with the reason
            why = f"segment header unusable: {type(exc).__name__}: {exc}"
    bad.extend((i, f"raw request not decodable: ValueError: {why}") for i in raw.tolist())
    return None, raw  # still raw: the per-row path skips them (they are in `bad` already)


def _decode_bulk(
    rows: Sequence[Any], raw: npt.NDArray[np.int64], decoder: RawDecoder | None
) -> tuple[pa.Table, npt.NDArray[np.int64]] | None:
    """Events of the raw rows the bulk path takes, and their indices in `rows`."""
    if decoder is None or not len(raw):
        return None
    from botcensus.capture.columns import raw_columns

    every = len(raw) == len(rows)
    done = raw_columns(rows if every else [rows[i] for i in raw.tolist()], decoder)
    if done is None:
        return None
    table, taken = done
    return table, taken if every else raw[taken]


def _decode_each(
    rows: Sequence[Any],
    positions: Sequence[int],
    raw: set[int] | None,
    decoder: RawDecoder | None,
    bad: list[tuple[int, str]],
) -> tuple[list[Any], list[int]]:
    """The rows at `positions` as events, one by one (raw ones decoded; every row raw when
    `raw` is None), and each one's index in `rows`; a raw request that cannot be decoded goes
    to `bad` instead."""
    events: list[Any] = []
    origin: list[int] = []
    for i in positions:
        row = rows[i]
        if raw is None or i in raw:
            if decoder is None:
                continue  # already in `bad`: no usable header
            try:
                row = decoder.event(row)
            except Exception as exc:  # whatever it is, the row is set aside with its reason
                bad.append((i, f"raw request not decodable: {type(exc).__name__}: {exc}"))
                continue
        events.append(row)
        origin.append(i)
    return events, origin


def _merge(
    first: pa.Table,
    first_at: npt.NDArray[np.int64],
    second: pa.Table,
    second_at: npt.NDArray[np.int64],
) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """Two tables of rows from one list, as one in the list's order."""
    if not second.num_rows:
        return first, first_at
    at = np.concatenate([first_at, second_at])
    order = np.argsort(at, kind="stable")
    return pa.concat_tables([first, second]).take(pa.array(order)), at[order]


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


_PLAIN = ("body_sha256", "body_head")
"""Columns of (nearly) unique values: dictionary encoding them is tried, fails, and costs."""
_UNSORTED = (*_PLAIN, "header_names")
"""Columns nobody filters on: no min/max statistics."""
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "use_dictionary": [f.name for f in EVENT_SCHEMA if f.name not in _PLAIN],
    "write_statistics": [f.name for f in EVENT_SCHEMA if f.name not in _UNSORTED],
}


def write_atomic(table: pa.Table, target: Path) -> None:
    """Write a zstd Parquet file of events (0600, in 0700 directories) with store.atomic:
    under a temporary name, fsynced, renamed into place, the directory fsynced."""
    import pyarrow.parquet as pq  # loaded by writers only: readers of the dataset use DuckDB

    pending = atomic.Pending(target)  # created 0600 before pyarrow opens it (keeps the mode)
    try:
        pq.write_table(table, pending.tmp, **_WRITE_OPTIONS)
        pending.publish()
    except BaseException:
        # pyarrow removes what it wrote when its write fails; a failed fsync or rename
        # must not leave the temporary behind either.
        pending.discard()
        raise


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
        target = layout.part(dataset, layout.EVENTS, day.isoformat(), name)
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
    qdir = dataset / layout.QUARANTINE_WAL
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
    atomic.fsync_dir(segment.parent)
    return RollReport(segment, table.num_rows, files, len(scan.tail), scan.tail_reason, len(bad))


def _quarantine(qdir: Path, name: str, data: bytes, note: str) -> None:
    """Set bytes aside with a note saying why, durably, before their segment is removed."""
    atomic.write_bytes(data, qdir / name)
    atomic.write_bytes(note.encode("utf-8"), qdir / f"{name}.txt")


def clean_temporaries(dataset: Path, sensor: str | None = None) -> int:
    """Remove temporary files a crash left behind in the event days and the WAL quarantine
    (never visible to readers). With `sensor` (sinkholes may share the dataset, and another
    may be mid-write): only that sensor's event temporaries and unnamed ones, and none in
    the quarantine, whose names carry no sensor (a leftover there is a dot-name no reader
    sees; `clean_temporaries(dataset)` with no other writer running removes it)."""
    days = sorted(layout.area(dataset, layout.EVENTS).glob(f"{layout.PARTITION_PREFIX}*"))
    folders = [d for d in days if d.is_dir() and not d.is_symlink()]
    quarantine = dataset / layout.QUARANTINE_WAL

    def ours(name: str) -> bool:
        return layout.sensor_of_part(name) in (sensor, None)

    removed = atomic.clean_temporaries(folders, "*.parquet", None if sensor is None else ours)
    if sensor is None and quarantine.is_dir() and not quarantine.is_symlink():
        removed += atomic.clean_temporaries([quarantine])
    return removed


def segment_sensor(header: Mapping[str, Any] | None, table: pa.Table) -> str:
    """The sensor that wrote a segment: its header says so; a segment without one (the first
    format) has it in every row."""
    if header is not None and isinstance(header.get("sensor"), str):
        return str(header["sensor"])
    sensors = pc.unique(table["sensor"]).to_pylist() if table.num_rows else []
    return str(sensors[0]) if len(sensors) == 1 else "unknown"

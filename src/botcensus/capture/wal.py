"""Append-only write-ahead log: the segment format, reading it back, and segment housekeeping.

A segment file starts with an 8-byte magic and holds records of the form
``<u32 little-endian payload length> <u32 crc32 of payload> <payload>``. The first record
may be the segment's header, a msgpack map saying what the writer was configured with (its
sensor, listeners, body_head_bytes and decoder rules: what turning raw rows into events
needs). Every other payload is a msgpack array of rows: an event (values in
``model.EVENT_COLUMNS`` order, time as int microseconds) or a raw request
(``record.RAW_WIDTH`` values, the last its bytes). A segment being written ends in
``.open``; a closed one in ``.wal``. Reading stops at the first incomplete or corrupt record
(a torn write from a crash): the records before it are kept, the bytes from it on are
reported and set aside.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

MAGIC = b"BCWAL2\n\x00"
MAGIC_V1 = b"BCWAL1\n\x00"
"""Segments of the first format (no header, no raw rows) are still read."""
RECORD_HEAD = struct.Struct("<II")
"""Before each payload: its length and its CRC-32, both little-endian u32."""
_HEAD = RECORD_HEAD
MAX_RECORD_BYTES = 256 * 1024 * 1024
"""Readers refuse a record longer than this (a corrupt length field): writers never write one."""
RECORD_MAX_EVENTS = 1024
"""A writer puts at most this many events in one record..."""
RECORD_MAX_BYTES = 8 * 1024 * 1024
"""... and splits a batch whose payload is larger than this (one event alone may be larger, up
to MAX_RECORD_BYTES)."""
OPEN_SUFFIX = ".open"
CLOSED_SUFFIX = ".wal"


def encode_record(events: Sequence[Sequence[Any]] | Mapping[str, Any]) -> bytes:
    """Frame a batch of rows (or a segment header) as one WAL record."""
    payload: bytes = msgpack.packb(events, use_bin_type=True)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What reading a segment found: rows in order, and any torn or corrupt tail."""

    events: list[Any]
    records: int
    good_bytes: int
    tail: bytes
    tail_reason: str | None
    header: dict[str, Any] | None = None


def scan_segment(path: Path, *, tuples: bool = False) -> SegmentScan:
    """Read every complete, checksum-valid record of a segment; events as lists, or as tuples
    (cheaper to build, and what pyarrow converts fastest)."""
    data = path.read_bytes()
    view = memoryview(data)
    if not data.startswith((MAGIC, MAGIC_V1)):
        why = "segment shorter than its header" if len(data) < len(MAGIC) else "bad magic"
        return SegmentScan([], 0, 0, data, why if data else None)
    pos, records = len(MAGIC), 0
    events: list[Any] = []
    header: dict[str, Any] | None = None
    reason: str | None = None
    while pos < len(data):
        if pos + _HEAD.size > len(data):
            reason = "torn record header"
            break
        length, crc = _HEAD.unpack_from(data, pos)
        start, end = pos + _HEAD.size, pos + _HEAD.size + length
        if length > MAX_RECORD_BYTES:
            reason = f"record length {length} exceeds {MAX_RECORD_BYTES}"
            break
        if end > len(data):
            reason = f"torn record: {len(data) - start} of {length} payload bytes"
            break
        payload = view[start:end]
        if zlib.crc32(payload) != crc:
            reason = "record checksum mismatch"
            break
        try:
            batch = msgpack.unpackb(payload, raw=False, use_list=not tuples)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            reason = "record checksum matches but its payload is not msgpack"
            break
        if isinstance(batch, dict) and records == 0:
            header = batch
        elif isinstance(batch, list | tuple):
            events.extend(batch)
        else:
            reason = "record payload is not a list of events"
            break
        records += 1
        pos = end
    return SegmentScan(events, records, pos, data[pos:], reason, header)


def segments(wal_dir: Path, *, include_open: bool) -> list[Path]:
    """Segments in the order they were written (names sort by worker, start time, sequence)."""
    if not wal_dir.is_dir():
        return []
    found = [p for p in wal_dir.iterdir() if p.suffix == CLOSED_SUFFIX]
    if include_open:
        found += [p for p in wal_dir.iterdir() if p.suffix == OPEN_SUFFIX]
    return sorted(found, key=lambda p: p.stem)


def close_orphans(wal_dir: Path, *, prefix: str = "") -> list[Path]:
    """Mark segments left open by a writer that died as closed, so they get rolled.

    Only call this while no writer uses those segments (the supervisor holds the data lock
    and calls it before starting workers, or for a worker that has exited)."""
    closed = []
    for path in segments(wal_dir, include_open=True):
        if path.suffix == OPEN_SUFFIX and path.name.startswith(prefix):
            target = path.with_suffix(CLOSED_SUFFIX)
            path.rename(target)
            closed.append(target)
    if closed:
        fsync_dir(wal_dir)
    return closed


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_scans(wal_dir: Path) -> Iterator[tuple[Path, SegmentScan]]:
    """Scan each closed segment in order."""
    for path in segments(wal_dir, include_open=False):
        yield path, scan_segment(path)


# The writer lives in its own module; it is part of this module's public face.
from botcensus.capture.writer import WalWriter  # noqa: E402

__all__ = [
    "CLOSED_SUFFIX",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "OPEN_SUFFIX",
    "RECORD_MAX_BYTES",
    "RECORD_MAX_EVENTS",
    "SegmentScan",
    "WalWriter",
    "close_orphans",
    "encode_record",
    "fsync_dir",
    "iter_scans",
    "scan_segment",
    "segments",
]

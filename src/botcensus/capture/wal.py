"""Append-only write-ahead log: length-prefixed, checksummed records in rotating segments.

A segment file starts with an 8-byte magic and holds records of the form
``<u32 little-endian payload length> <u32 crc32 of payload> <payload>``; a payload is a
msgpack array of events, each a list of values in ``model.EVENT_COLUMNS`` order (time as
int microseconds). A segment being written ends in ``.open``; a closed one in ``.wal``.
Reading stops at the first incomplete or corrupt record (a torn write from a crash): the
records before it are kept, the bytes from it on are reported and set aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

MAGIC = b"BCWAL1\n\x00"
_HEAD = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024
"""Readers refuse a record longer than this (a corrupt length field): writers never write one."""
RECORD_MAX_EVENTS = 1024
"""A writer puts at most this many events in one record..."""
RECORD_MAX_BYTES = 8 * 1024 * 1024
"""... and splits a batch whose payload is larger than this (one event alone may be larger, up
to MAX_RECORD_BYTES)."""
OPEN_SUFFIX = ".open"
CLOSED_SUFFIX = ".wal"


def encode_record(events: Sequence[Sequence[Any]]) -> bytes:
    """Frame a batch of events as one WAL record."""
    payload: bytes = msgpack.packb(events, use_bin_type=True)
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What reading a segment found: events in order, and any torn or corrupt tail."""

    events: list[list[Any]]
    records: int
    good_bytes: int
    tail: bytes
    tail_reason: str | None


def scan_segment(path: Path) -> SegmentScan:
    """Read every complete, checksum-valid record of a segment."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        why = "segment shorter than its header" if len(data) < len(MAGIC) else "bad magic"
        return SegmentScan([], 0, 0, data, why if data else None)
    pos, records, events = len(MAGIC), 0, []
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
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            reason = "record checksum mismatch"
            break
        try:
            batch = msgpack.unpackb(payload, raw=False, use_list=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            reason = "record checksum matches but its payload is not msgpack"
            break
        if not isinstance(batch, list):
            reason = "record payload is not a list of events"
            break
        events.extend(batch)
        records += 1
        pos = end
    return SegmentScan(events, records, pos, data[pos:], reason)


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


class WalWriter:
    """One worker's log writer. Writes happen on the event-loop thread; fsyncs run in a thread
    every ``fsync_interval`` seconds so the loop never waits on the disk."""

    def __init__(
        self,
        wal_dir: Path,
        worker: str,
        *,
        fsync_interval: float,
        segment_seconds: float,
        segment_bytes: int,
    ) -> None:
        self._dir = wal_dir
        self._worker = worker
        self._fsync_interval = fsync_interval
        self._segment_seconds = segment_seconds
        self._segment_bytes = segment_bytes
        self._seq = 0
        self._fd = -1
        self._path = Path()
        self._opened_at = 0.0
        self._size = 0
        self._closed = False
        self.events_written = 0
        self.bytes_written = 0
        self.bytes_synced = 0
        self.segments_closed = 0
        self.last_sync = time.time()
        # One packer for the writer's life: packb() would build (and free) one per record.
        self._packer = msgpack.Packer(use_bin_type=True)
        wal_dir.mkdir(parents=True, exist_ok=True)
        self._open_segment()

    def _open_segment(self) -> None:
        self._seq += 1
        name = f"{self._worker}-{time.time_ns():016x}-{self._seq:06d}{OPEN_SUFFIX}"
        self._path = self._dir / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._write_all(self._fd, MAGIC)
        self._size = len(MAGIC)
        self._opened_at = time.monotonic()
        fsync_dir(self._dir)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def write(self, events: Sequence[Sequence[Any]]) -> None:
        """Append a batch of events (to the OS page cache; durable at the next sync), as one
        record, or as several when it has more than RECORD_MAX_EVENTS events or
        RECORD_MAX_BYTES bytes. Raises OSError when the batch was not (wholly) written."""
        if not events:
            return
        if len(events) > RECORD_MAX_EVENTS:
            for start in range(0, len(events), RECORD_MAX_EVENTS):
                self.write(events[start : start + RECORD_MAX_EVENTS])
            return
        payload = self._packer.pack(events)
        if len(payload) > RECORD_MAX_BYTES:
            if len(events) > 1:
                half = len(events) // 2
                self.write(events[:half])
                self.write(events[half:])
                return
            if len(payload) > MAX_RECORD_BYTES:
                raise OSError(errno.EFBIG, f"event of {len(payload)} bytes too large to log")
        head = _HEAD.pack(len(payload), zlib.crc32(payload))
        size = len(head) + len(payload)
        try:
            # Two buffers, one syscall: no copy of the payload to prepend its header.
            written = os.writev(self._fd, (head, payload))
            if written != size:  # a short write (rare): finish it the slow way
                self._write_all(self._fd, (head + payload)[written:])
        except OSError:
            # A partly written record would hide every later record from readers: cut the
            # segment back to its last complete record before reporting the failure.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += size
        self.events_written += len(events)
        self.bytes_written += size

    def _due(self) -> bool:
        age = time.monotonic() - self._opened_at
        return self._size > len(MAGIC) and (
            age >= self._segment_seconds or self._size >= self._segment_bytes
        )

    async def run(self) -> None:
        """Fsync every interval and rotate segments that are old or large enough."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self._fsync_interval)
            if self._closed:
                break
            if self._due():
                await self._rotate(loop)
            else:
                target = self.bytes_written
                await loop.run_in_executor(None, os.fsync, self._fd)
                self._mark_synced(target)

    def _mark_synced(self, target: int) -> None:
        self.bytes_synced = max(self.bytes_synced, target)
        self.last_sync = time.time()

    async def _rotate(self, loop: asyncio.AbstractEventLoop) -> None:
        old_fd, old_path, target = self._fd, self._path, self.bytes_written
        self._open_segment()
        await loop.run_in_executor(None, self._close_segment, old_fd, old_path)
        self._mark_synced(target)

    def _close_segment(self, fd: int, path: Path) -> None:
        os.fsync(fd)
        os.close(fd)
        path.rename(path.with_suffix(CLOSED_SUFFIX))
        fsync_dir(self._dir)
        self.segments_closed += 1

    def close(self) -> None:
        """Fsync and close the current segment (synchronously: used at shutdown)."""
        if self._closed:
            return
        self._closed = True
        target = self.bytes_written
        if self._size > len(MAGIC):
            self._close_segment(self._fd, self._path)
        else:
            os.close(self._fd)
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        self._mark_synced(target)


def iter_scans(wal_dir: Path) -> Iterator[tuple[Path, SegmentScan]]:
    """Scan each closed segment in order."""
    for path in segments(wal_dir, include_open=False):
        yield path, scan_segment(path)

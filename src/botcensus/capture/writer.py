"""One worker's write-ahead-log writer: append records, fsync on a cadence, rotate segments,
and keep doing so through full disks and unwritable directories.

Writes happen on the event-loop thread (to the page cache; a failed write is cut back so no
partial record stays behind). Fsyncs and segment closes run in a thread, under a lock that
``close()`` takes too, so no file descriptor is closed while a thread still uses it. When a
background step fails (no space for a new segment, a directory that refuses a rename, a failed
fsync) the writer keeps the segment it has, logs once, counts the failure, and tries again
later; the current segment is still fsynced every interval whatever else fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgpack

from botcensus.capture.logs import Throttled
from botcensus.capture.wal import (
    CLOSED_SUFFIX,
    MAGIC,
    MAX_RECORD_BYTES,
    OPEN_SUFFIX,
    RECORD_HEAD,
    RECORD_MAX_BYTES,
    RECORD_MAX_EVENTS,
    encode_record,
    fsync_dir,
)

log = logging.getLogger(__name__)

ROTATE_RETRY_MAX = 30.0
"""Longest wait, in seconds, between attempts to open a new segment while that keeps failing."""


class WalWriter:
    """Appends event batches to the current segment; `run()` fsyncs and rotates."""

    def __init__(
        self,
        wal_dir: Path,
        worker: str,
        *,
        fsync_interval: float,
        segment_seconds: float,
        segment_bytes: int,
        header: Mapping[str, Any] | None = None,
    ) -> None:
        self._dir = wal_dir
        # Every segment begins with the magic and, if given, the header record.
        self._start = MAGIC + (encode_record(header) if header is not None else b"")
        self._worker = worker
        self._fsync_interval = fsync_interval
        self._segment_seconds = segment_seconds
        self._segment_bytes = segment_bytes
        self._seq = 0
        self._lock = threading.Lock()
        self._open_fds: set[int] = set()
        self._unrenamed: list[Path] = []
        self._torn = False
        self._closed = False
        self._rotate_after = 0.0
        self._rotate_failures = 0
        self._trouble = Throttled(log, f"write-ahead log {wal_dir}")
        self.events_written = 0
        self.bytes_written = 0
        self.bytes_synced = 0
        self.segments_closed = 0
        self.last_sync = time.time()
        # One packer for the writer's life: packb() would build (and free) one per record.
        self._packer = msgpack.Packer(use_bin_type=True)
        wal_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd, self._path = self._create_segment()
        self._size = len(self._start)
        self._opened_at = time.monotonic()

    # -- state seen from outside -------------------------------------------------------------
    @property
    def errors(self) -> int:
        """Background steps that failed (fsync, rotation, rename, close) so far."""
        return self._trouble.failures

    @property
    def failing(self) -> bool:
        """Whether the latest background step failed."""
        return self._trouble.failing

    # -- segments --------------------------------------------------------------------------
    def _create_segment(self) -> tuple[int, Path]:
        """A new segment holding only the magic; on failure nothing of it is left behind."""
        self._seq += 1
        path = self._dir / f"{self._worker}-{time.time_ns():016x}-{self._seq:06d}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _write_all(fd, self._start)
            fsync_dir(self._dir)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        with self._lock:
            self._open_fds.add(fd)
        return fd, path

    def _switch_to(self, fd: int, path: Path) -> tuple[int, Path]:
        old = self._fd, self._path
        self._fd, self._path = fd, path
        self._size = len(self._start)
        self._opened_at = time.monotonic()
        return old

    def _close_segment(self, fd: int, path: Path) -> None:
        """Fsync, close and mark a segment closed (in a thread, or at shutdown). The segment is
        renamed even if its fsync failed; a failed rename is retried later. Raises the fsync
        error, if any, once the rest is done."""
        with self._lock:
            if fd not in self._open_fds:
                return
            try:
                os.fsync(fd)
            finally:
                self._open_fds.discard(fd)
                os.close(fd)
                self._rename(path)

    def _rename(self, path: Path) -> None:
        try:
            path.rename(path.with_suffix(CLOSED_SUFFIX))
            fsync_dir(self._dir)
        except OSError as exc:
            if path not in self._unrenamed:
                self._unrenamed.append(path)
            self._trouble.failed(f"cannot mark {path.name} closed ({exc}); will retry")
            return
        if path in self._unrenamed:
            self._unrenamed.remove(path)
        self.segments_closed += 1

    def _fsync(self, fd: int) -> None:
        with self._lock:
            if fd in self._open_fds:
                os.fsync(fd)

    # -- writing -----------------------------------------------------------------------------
    def write(self, events: Sequence[Sequence[Any]]) -> None:
        """Append a batch of events (to the OS page cache; durable at the next sync), as one
        record, or as several when it has more than RECORD_MAX_EVENTS events or
        RECORD_MAX_BYTES bytes. Raises OSError when the batch was not (wholly) written."""
        if not events:
            return
        if self._closed:
            raise OSError(errno.EBADF, "write-ahead log already closed")
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
        if self._torn:
            self._replace_torn_segment()
        head = RECORD_HEAD.pack(len(payload), zlib.crc32(payload))
        size = len(head) + len(payload)
        fd = self._fd
        try:
            # Two buffers, one syscall: no copy of the payload to prepend its header.
            written = os.writev(fd, (head, payload))
            if written != size:  # a short write (rare): finish it the slow way
                _write_all(fd, (head + payload)[written:])
        except OSError:
            # A partly written record would hide every later record from readers: cut the
            # segment back to its last complete record before reporting the failure.
            try:
                os.ftruncate(fd, self._size)
            except OSError:
                self._torn = True  # the next write starts a new segment
            raise
        self._size += size
        self.events_written += len(events)
        self.bytes_written += size

    def _replace_torn_segment(self) -> None:
        """A segment we could not cut back ends in a partial record: leave it (its tail is
        quarantined when it is rolled) and go on in a new one."""
        fd, path = self._create_segment()
        old_fd, old_path = self._switch_to(fd, path)
        self._torn = False
        with contextlib.suppress(OSError):
            self._close_segment(old_fd, old_path)

    # -- background ----------------------------------------------------------------------------
    def _due(self) -> bool:
        age = time.monotonic() - self._opened_at
        return self._size > len(self._start) and (
            age >= self._segment_seconds or self._size >= self._segment_bytes
        )

    async def run(self) -> None:
        """Every `fsync_interval`: rotate the segment if it is old or large enough, else fsync
        it. Runs until the writer is closed; no error ends it."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            await asyncio.sleep(self._fsync_interval)
            if self._closed:
                break
            try:
                await self._tick(loop)
            except OSError as exc:
                self._trouble.failed(f"fsync of {self._path.name} failed ({exc})")
            else:
                if not self._unrenamed and self._rotate_failures == 0:
                    self._trouble.recovered()

    async def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        for path in list(self._unrenamed):
            await loop.run_in_executor(None, self._retry_rename, path)
        target = self.bytes_written
        if self._due() and time.monotonic() >= self._rotate_after:
            try:
                fd, path = self._create_segment()
            except OSError as exc:
                self._rotate_failures += 1
                delay = min(ROTATE_RETRY_MAX, self._fsync_interval * 2**self._rotate_failures)
                self._rotate_after = time.monotonic() + delay
                self._trouble.failed(
                    f"cannot start a new segment ({exc}); {self._path.name} stays open"
                )
            else:
                self._rotate_failures = 0
                old_fd, old_path = self._switch_to(fd, path)
                await loop.run_in_executor(None, self._close_segment, old_fd, old_path)
                self._mark_synced(target)
                return
        await loop.run_in_executor(None, self._fsync, self._fd)
        self._mark_synced(target)

    def _retry_rename(self, path: Path) -> None:
        with self._lock:
            self._rename(path)

    def _mark_synced(self, target: int) -> None:
        self.bytes_synced = max(self.bytes_synced, target)
        self.last_sync = time.time()

    def close(self) -> None:
        """Fsync and close the current segment (synchronously: used at shutdown). Waits for a
        background fsync in progress; never raises: what cannot be closed now is left open
        for the supervisor's recovery to close."""
        if self._closed:
            return
        self._closed = True
        target = self.bytes_written
        try:
            if self._size > len(self._start):
                self._close_segment(self._fd, self._path)
            else:
                with self._lock:
                    self._open_fds.discard(self._fd)
                    os.close(self._fd)
                with contextlib.suppress(OSError):
                    self._path.unlink()
            for path in list(self._unrenamed):
                self._retry_rename(path)
        except OSError as exc:
            self._trouble.failed(f"closing {self._path.name} failed ({exc})")
            return
        self._mark_synced(target)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

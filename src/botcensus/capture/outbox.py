"""The worker's outbox: the events and replies of one loop turn, logged before any reply leaves.

Events produced during one turn of the event loop are written to the write-ahead log as one
record *before* any of their replies is sent, so a bot that got an answer has its check-in in
the log (the OS page cache at least; on disk after the next fsync). A request that cannot be
logged gets a fixed 503 instead of its reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botcensus.capture.logs import Throttled
from botcensus.capture.reply import UNAVAILABLE_REPLY, Reject
from botcensus.capture.wal import RECORD_MAX_EVENTS, WalWriter

log = logging.getLogger(__name__)

Event = Sequence[Any]
"""A log row: an event (model.EVENT_COLUMNS order) or a raw request (record.RAW_WIDTH)."""


@dataclass(slots=True)
class Stats:
    """Counters of one worker, copied into shared memory for the metrics endpoint."""

    requests: int = 0
    bytes_in: int = 0
    connections_total: int = 0
    connections_refused: int = 0
    write_errors: int = 0
    rejects: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in Reject})


class Outbox:
    """Events and replies of one loop turn: the WAL write goes first, then the replies."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wal: WalWriter, stats: Stats) -> None:
        self._loop = loop
        self._wal = wal
        self._stats = stats
        self._trouble = Throttled(log, "write-ahead log write failed")
        self._closed = False
        self._events: list[Event] = []
        self._replies: list[tuple[asyncio.Transport, bytes, bool]] = []
        self._scheduled = False

    def put(
        self, event: Event, transport: asyncio.Transport | None, data: bytes, close: bool
    ) -> None:
        if self._closed:
            # After the log was closed at shutdown: cannot be recorded, so never answered.
            self._stats.write_errors += 1
            self._trouble.failed("event after the log was closed at shutdown; not recorded")
            if transport is not None:
                transport.abort()
            return
        events = self._events
        events.append(event)
        if transport is not None:
            self._replies.append((transport, data, close))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_soon)
        elif len(events) >= RECORD_MAX_EVENTS:
            # A burst (a long pipeline, many connections in one turn): log and answer what
            # we have now, so no record and no list of pending replies grows without bound.
            self.flush()

    def close(self) -> None:
        """Log what is pending; refuse (and count) whatever comes later."""
        self.flush()
        self._closed = True

    def later(self, callback: Callable[[], object]) -> None:
        """Run callback in a later loop turn, after this turn's events are logged and their
        replies written."""
        self._loop.call_soon(callback)

    def _flush_soon(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        events, replies = self._events, self._replies
        self._events, self._replies = [], []
        try:
            self._wal.write(events)
        except OSError as exc:
            # Not recorded means not answered: a fixed 503 instead of the reply, then close.
            self._stats.write_errors += len(events)
            self._trouble.failed(f"{exc}; requests refused with 503", len(events))
            for transport, _, _ in replies:
                if not transport.is_closing():
                    transport.write(UNAVAILABLE_REPLY)
                    transport.close()
            return
        if self._trouble.failing:
            self._trouble.recovered()
        for transport, data, close in replies:
            if not transport.is_closing():
                transport.write(data)
                if close:
                    transport.close()

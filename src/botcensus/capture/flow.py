"""Flow control for a sinkhole connection: never read more than can be answered.

A connection whose client does not read its replies (the transport calls pause_writing) is
no longer read from, and at most `slice_bytes` of a long read are parsed per loop turn, the
rest kept as a backlog; so a client that pipelines without reading holds only its own kernel
buffers, not the sinkhole's memory, and cannot make it answer into the void.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botcensus.capture.listener import Listener


class FlowControl:
    """Mixed into SinkholeConnection, which provides `_feed`, `lst`, `transport` and `dead`.
    No __slots__: its state starts as class defaults and lives in the instance dict when set
    (a connection that never needs flow control never sets it)."""

    backlog: memoryview | None = None
    reading_paused = False
    write_paused = False
    lst: Listener
    transport: asyncio.Transport | None
    dead: bool

    def _feed(self, data: bytes | memoryview) -> None:
        raise NotImplementedError

    def _consume(self, view: memoryview) -> None:
        """Parse one slice now; keep the rest for the next loop turn, not reading meanwhile."""
        size = self.lst.slice_bytes
        if len(view) <= size:
            self._feed(view)
            return
        self.backlog = view[size:]
        self._pause_reading()
        self._feed(view[:size])
        # After this slice's replies are written (the outbox flush is already scheduled).
        self.lst.outbox.later(self._continue)

    def _continue(self) -> None:
        """Parse the next slice of the backlog, unless the client is not reading its replies
        (then resume_writing continues); read again once the backlog is gone."""
        if self.dead:
            self.backlog = None
            return
        if self.write_paused:
            return
        backlog, self.backlog = self.backlog, None
        if backlog is not None:
            self._consume(backlog)
        if self.backlog is None and self.reading_paused and not self.dead:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def pause_writing(self) -> None:
        """The transport's write buffer is over its high-water mark: stop reading."""
        self.write_paused = True
        if not self.dead:
            self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._continue()

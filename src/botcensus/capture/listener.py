"""What the connections of one listener share, the fast path's parser, and the sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httptools

from botcensus.capture import proxy
from botcensus.capture.outbox import Outbox, Stats
from botcensus.capture.protocols import Decoder
from botcensus.capture.reply import REJECT_REPLY, Reply
from botcensus.config import LimitSettings

if TYPE_CHECKING:
    from botcensus.capture.http import SinkholeConnection

REPLY_BUDGET = 256 * 1024
"""Reply bytes one connection may queue per loop turn beyond what its client has read."""
HttpRequestParser = httptools.HttpRequestParser


@dataclass(slots=True)
class Listener:
    """What every connection on one listener shares."""

    name: str
    sensor: str
    reply: Reply
    proxy_protocol: bool
    trusted: proxy.TrustedNetworks
    replay: bool
    limits: LimitSettings
    body_head_bytes: int
    decode: Decoder
    outbox: Outbox
    stats: Stats
    connections: set[SinkholeConnection]
    clock: Callable[[], float]
    local: tuple[str, int] | None = None
    """The listener's own address when it is bound to one (not a wildcard): every connection's
    destination, known without a getsockname call per connection."""
    index: int = 0
    """The listener's place in the worker's list: raw log rows name their listener by it."""
    slice_bytes: int = field(init=False)
    """Most bytes parsed from one connection per loop turn (see SinkholeConnection)."""
    fast_bytes: int = field(init=False)
    """Largest read the fast path takes: one that cannot hold a head or body over a limit."""

    def __post_init__(self) -> None:
        # A slice of the smallest requests (~16 bytes each) may owe at most about
        # REPLY_BUDGET bytes of replies before the connection waits for its client to read.
        biggest = max(len(self.reply.keep_alive), *(len(r) for r in REJECT_REPLY.values()))
        self.slice_bytes = max(512, min(65536, REPLY_BUDGET * 16 // biggest))
        limits = self.limits
        self.fast_bytes = min(self.slice_bytes, limits.max_header_bytes, limits.max_body_bytes)


class FastParser:
    """The fast path's parser and its callbacks: only where messages begin and end, and whether the
    connection stays open (llhttp knows that only until the next message starts)."""

    __slots__ = ("begun", "done", "keep", "parser")

    def __init__(self) -> None:
        self.begun = self.done = 0
        self.keep = False
        self.parser: HttpRequestParser | None = HttpRequestParser(self)

    def on_message_begin(self) -> None:
        self.begun += 1

    def on_message_complete(self) -> None:
        self.done += 1
        parser = self.parser
        assert parser is not None
        self.keep = parser.should_keep_alive() and not parser.should_upgrade()


def wire_limit(limits: LimitSettings) -> int:
    """Bytes a request may take on the wire once its head is in: a body of max_body_bytes in
    chunks of at least a few bytes, plus trailers of up to max_header_bytes."""
    return 2 * limits.max_body_bytes + limits.max_header_bytes


async def sweep(connections: set[SinkholeConnection], clock: Callable[[], float]) -> None:
    """Once a second, time out slow or idle connections (cheaper than a timer per request)."""
    while True:
        await asyncio.sleep(1.0)
        now = clock()
        for conn in list(connections):
            conn.expire(now)

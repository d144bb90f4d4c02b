"""The sinkhole's HTTP/1.1 connection handler: parse, record, answer with the fixed reply.

Per connection an httptools parser; per request one event. Events produced during one turn of
the event loop are written to the write-ahead log as one record *before* any of their replies
is sent, so a bot that got an answer has its check-in in the log (the OS page cache at least;
on disk after the next fsync).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httptools

from botcensus.capture import proxy
from botcensus.capture.logs import Throttled
from botcensus.capture.protocols import Decoder, Request
from botcensus.capture.reply import (
    NO_REPLY_STATUS,
    REJECT_REPLY,
    REJECT_STATUS,
    UNAVAILABLE_REPLY,
    Reject,
    Reply,
)
from botcensus.capture.wal import RECORD_MAX_EVENTS, WalWriter
from botcensus.config import LimitSettings

log = logging.getLogger(__name__)

_EMPTY_SHA256 = hashlib.sha256(b"").digest()
_IDLE, _HEAD, _BODY = 0, 1, 2
_WANTED = {b"host": 0, b"user-agent": 1, b"content-length": 2}
_METHODS = {m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")}
INT64_MAX = 2**63 - 1
REPLY_BUDGET = 256 * 1024
"""Reply bytes one connection may queue per loop turn beyond what its client has read."""
REPLAY_TIME_RANGE_US = (0, 253_402_300_800_000_000)
"""Replayed receive times must fall in [1970-01-01, 10000-01-01): a time outside cannot be
partitioned by day, so a PROXY header carrying one is refused rather than logged."""
sha256 = hashlib.sha256
Event = list[Any]


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
    slice_bytes: int = field(init=False)
    """Most bytes parsed from one connection per loop turn (see SinkholeConnection)."""

    def __post_init__(self) -> None:
        # A slice of the smallest requests (~16 bytes each) may owe at most about
        # REPLY_BUDGET bytes of replies before the connection waits for its client to read.
        biggest = max(len(self.reply.keep_alive), *(len(r) for r in REJECT_REPLY.values()))
        self.slice_bytes = max(512, min(65536, REPLY_BUDGET * 16 // biggest))


class _LimitError(Exception):
    """Raised inside a parser callback to stop parsing a request that broke a limit."""

    def __init__(self, reason: Reject, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class SinkholeConnection(asyncio.Protocol):
    """One client connection. Parser callbacks (on_*) are called by httptools.

    Flow control: a connection whose client does not read its replies (the transport calls
    pause_writing) is no longer read from, and at most `slice_bytes` are parsed per loop turn,
    the rest kept as a backlog; so a client that pipelines without reading holds only its own
    kernel buffers, not the sinkhole's memory, and cannot make it answer into the void."""

    __slots__ = (
        "backlog",
        "body",
        "body_length",
        "body_wire",
        "dead",
        "deadline",
        "dst_ip",
        "dst_port",
        "head_bytes",
        "head_parsed",
        "headers",
        "lst",
        "parser",
        "pending_proxy",
        "phase",
        "proxy_peer",
        "reading_paused",
        "replay_times",
        "requests_seen",
        "src_ip",
        "src_port",
        "transport",
        "url",
        "write_paused",
    )

    def __init__(self, listener: Listener) -> None:
        self.lst = listener
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.src_ip = self.dst_ip = ""
        self.src_port = self.dst_port = 0
        self.proxy_peer: str | None = None
        self.replay_times: tuple[int, ...] | None = None
        self.requests_seen = 0
        self.pending_proxy: bytearray | None = None
        self.phase = _IDLE
        self.deadline = 0.0
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0
        self.head_parsed = 0
        self.body = bytearray()
        self.body_length = 0
        self.body_wire = 0
        self.dead = False
        self.backlog: memoryview | None = None
        self.reading_paused = False
        self.write_paused = False

    # -- connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        lst = self.lst
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        lst.stats.connections_total += 1
        if len(lst.connections) >= lst.limits.max_connections:
            lst.stats.connections_refused += 1
            self.dead = True
            self.transport.abort()
            return
        peer = transport.get_extra_info("peername")
        local = lst.local or transport.get_extra_info("sockname")
        if peer is None or local is None:
            # Reset by the client between accept and now: no one to read from or answer.
            self.dead = True
            self.transport.abort()
            return
        lst.connections.add(self)
        self.src_ip, self.src_port = peer[0], peer[1]
        self.dst_ip, self.dst_port = local[0], local[1]
        self.deadline = lst.clock() + lst.limits.header_timeout
        if lst.proxy_protocol:
            self.pending_proxy = bytearray()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lst.connections.discard(self)
        if not self.dead:
            if self.phase in (_HEAD, _BODY):
                why = "connection closed mid-request"
            elif self.pending_proxy:  # some bytes of a PROXY header, not all of it
                why = "connection closed mid-PROXY-header"
            else:
                why = None
            if why is not None:
                event = self._event(NO_REPLY_STATUS, f"{Reject.INCOMPLETE}: {why}")
                self.lst.outbox.put(event, None, b"", False)
        self.dead = True
        # The parser refers back to us: drop it so refcounting frees the connection at once
        # instead of leaving a cycle for the garbage collector.
        self.parser = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.dead:
            return
        self.lst.stats.bytes_in += len(data)
        if self.pending_proxy is not None:
            data = self._take_proxy_header(data)
            if not data:
                return
        if self.backlog is not None:  # cannot happen while reading is paused; be safe
            self.backlog = memoryview(bytes(self.backlog) + data)
            return
        if len(data) > self.lst.slice_bytes:
            self._consume(memoryview(data))
        else:
            self._feed(data)

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

    def _feed(self, data: bytes | memoryview) -> None:
        # Bytes since the last complete request, while a head is being read: bounds what
        # httptools buffers for an unfinished head (it reports no offsets to be exact).
        if self.phase != _BODY:
            self.head_bytes += len(data)
        else:
            self.body_wire += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _LimitError):
                self._reject(cause.reason, cause.detail)
            else:
                raise
        except httptools.HttpParserUpgrade:
            # CONNECT or Upgrade: we speak nothing but the fixed reply, then close.
            if self.phase != _IDLE:
                self._answer(keep=False)
        except httptools.HttpParserError as exc:
            self._reject(Reject.MALFORMED, str(exc) or type(exc).__name__)
        else:
            phase, limits = self.phase, self.lst.limits
            if phase == _HEAD and self.head_bytes > limits.max_header_bytes:
                self._reject(Reject.HEADER_TOO_LARGE, f"head exceeds {self.head_bytes} bytes")
            elif phase == _BODY and self.body_wire > _wire_limit(limits):
                # Chunk framing and trailers are not body: bound them too, or one unfinished
                # trailer name could grow the parser's buffer without end.
                self._reject(
                    Reject.BODY_TOO_LARGE,
                    f"body exceeds {_wire_limit(limits)} bytes on the wire "
                    "(chunk framing and trailers included)",
                )

    def _take_proxy_header(self, data: bytes) -> bytes:
        assert self.pending_proxy is not None
        if not proxy.is_trusted(self.src_ip, self.lst.trusted):
            self._reject(Reject.PROXY, "PROXY header from a peer not in trusted_proxies")
            return b""
        buf = self.pending_proxy
        buf += data
        try:
            parsed = proxy.parse(buf)
        except proxy.ProxyError as exc:
            self._reject(Reject.PROXY, exc.reason)
            return b""
        if parsed is None:
            return b""
        info, used = parsed
        if self.lst.replay and info.replay_times_us is not None:
            low, high = REPLAY_TIME_RANGE_US
            if not all(low <= t < high for t in info.replay_times_us):
                self._reject(Reject.PROXY, "replay time outside 1970-01-01 to 9999-12-31")
                return b""
            self.replay_times = info.replay_times_us
        self.pending_proxy = None
        if info.source_ip is not None and info.source_port is not None:
            self.proxy_peer = self.src_ip
            self.src_ip, self.src_port = info.source_ip, info.source_port
            if info.destination_ip is not None and info.destination_port is not None:
                self.dst_ip, self.dst_port = info.destination_ip, info.destination_port
        return bytes(buf[used:])

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.phase = _HEAD
        self.url = b""
        self.headers = []
        self.head_parsed = 0
        self.body = bytearray()
        self.body_length = 0
        self.body_wire = 0
        self.deadline = self.lst.clock() + self.lst.limits.header_timeout

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_parsed += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        self.head_parsed += len(name) + len(value) + 4  # ": " and CRLF
        if self.phase == _BODY and self.head_parsed > self.lst.limits.max_header_bytes:
            # A trailer (after a chunked body): trailers count against the head's limit.
            limit = self.lst.limits.max_header_bytes
            raise _LimitError(Reject.HEADER_TOO_LARGE, f"head and trailers exceed {limit} bytes")

    def on_headers_complete(self) -> None:
        # A whole head can arrive in one read, past the unfinished-head check in data_received.
        limit = self.lst.limits.max_header_bytes
        if self.head_parsed > limit:
            raise _LimitError(Reject.HEADER_TOO_LARGE, f"head exceeds {limit} bytes")
        self.phase = _BODY
        self.deadline = self.lst.clock() + self.lst.limits.body_timeout

    def on_body(self, chunk: bytes) -> None:
        limit = self.lst.limits.max_body_bytes
        room = limit - len(self.body)
        if room > 0:
            self.body += chunk[:room]
        self.body_length += len(chunk)
        if self.body_length > limit:
            raise _LimitError(Reject.BODY_TOO_LARGE, f"body exceeds {limit} bytes")

    def on_message_complete(self) -> None:
        # CONNECT or Upgrade: the parser stops at this request (HttpParserUpgrade follows), so
        # answer it with the close variant rather than keep a connection we will not parse.
        parser = self.parser
        self._answer(parser.should_keep_alive() and not parser.should_upgrade())

    def _answer(self, keep: bool) -> None:
        lst = self.lst
        event = self._event(lst.reply.status, None)
        self.phase = _IDLE
        self.head_bytes = 0
        self.deadline = lst.clock() + lst.limits.keepalive_timeout
        assert self.transport is not None
        lst.outbox.put(
            event, self.transport, lst.reply.keep_alive if keep else lst.reply.close, not keep
        )
        if not keep:
            self.dead = True

    # -- events --------------------------------------------------------------------------
    def _event(self, status: int, reject: str | None) -> Event:
        """The event of the current request, complete or not."""
        lst = self.lst
        lst.stats.requests += 1
        url = self.url
        path, _, query = url.partition(b"?")
        host = user_agent = None
        content_length: int | None = None
        names: list[str] = []
        pairs: list[tuple[str, str]] = []
        for raw_name, raw_value in self.headers:
            name = raw_name.decode("utf-8", "backslashreplace")
            value = raw_value.decode("utf-8", "backslashreplace")
            names.append(name)
            pairs.append((name, value))
            which = _WANTED.get(raw_name.lower())
            if which is not None:
                if which == 0:
                    host = value
                elif which == 1:
                    user_agent = value
                else:
                    content_length = _content_length(raw_value)
        headers = tuple(pairs)
        body = bytes(self.body)
        # The method is known once the parser got past it, i.e. once the URL has started.
        method = None
        if url:
            raw_method = self.parser.get_method()
            method = _METHODS.get(raw_method) or raw_method.decode("ascii", "replace")
        path_text = path.decode("utf-8", "backslashreplace")
        query_text = query.decode("utf-8", "backslashreplace") if query else ""
        family = bot_id = None
        if reject is None:
            decoded = lst.decode(
                Request(method or "", host, path_text, query_text, headers, body, self.body_length)
            )
            if decoded is not None:
                family, bot_id = decoded.family, decoded.bot_id
        else:
            lst.stats.rejects[reject.partition(":")[0]] += 1
        return [
            self._time_received(),
            self.src_ip,
            self.src_port,
            self.dst_ip,
            self.dst_port,
            self.proxy_peer,
            lst.name,
            lst.sensor,
            method,
            host,
            path_text if url else None,
            query_text or None,
            user_agent,
            names,
            content_length,
            self.body_length,
            self.body_length > len(body),
            sha256(body).digest() if body else _EMPTY_SHA256,
            body[: lst.body_head_bytes],
            family,
            bot_id,
            status,
            reject,
        ]

    def _time_received(self) -> int:
        """Now, or in replay mode the replayer's time for the n-th request of the connection
        (its last time for any requests beyond the list)."""
        n = self.requests_seen
        self.requests_seen = n + 1
        times = self.replay_times
        if times is None:
            return time.time_ns() // 1000
        return times[n] if n < len(times) else times[-1]

    def _reject(self, reason: Reject, detail: str) -> None:
        """Record the current (partial) request as rejected, answer with the fixed error, close."""
        if self.dead:
            return
        event = self._event(REJECT_STATUS[reason], f"{reason}: {detail}")
        self.dead = True
        assert self.transport is not None
        self.transport.pause_reading()
        self.lst.outbox.put(event, self.transport, REJECT_REPLY[reason], True)

    def expire(self, now: float) -> None:
        """Called by the sweeper: enforce the head, body and keep-alive timeouts."""
        if self.dead or now < self.deadline:
            return
        if self.phase == _HEAD or (self.phase == _IDLE and self.pending_proxy is not None):
            self._reject(Reject.HEADER_TIMEOUT, "request head not complete in time")
        elif self.phase == _BODY:
            self._reject(Reject.BODY_TIMEOUT, "request body not complete in time")
        else:
            self.dead = True
            assert self.transport is not None
            self.transport.close()


def _wire_limit(limits: LimitSettings) -> int:
    """Bytes a request may take on the wire once its head is in: a body of max_body_bytes in
    chunks of at least a few bytes, plus trailers of up to max_header_bytes."""
    return 2 * limits.max_body_bytes + limits.max_header_bytes


def _content_length(raw: bytes) -> int | None:
    """A Content-Length value as an int64, or None when it is not one (llhttp takes up to
    2^64 - 1, which no Parquet int64 column can hold)."""
    value = raw.strip(b" \t")
    if value.isdigit() and len(value) <= 19:  # bytes.isdigit: ASCII digits only
        number = int(value)
        if number <= INT64_MAX:
            return number
    return None


async def sweep(connections: set[SinkholeConnection], clock: Callable[[], float]) -> None:
    """Once a second, time out slow or idle connections (cheaper than a timer per request)."""
    while True:
        await asyncio.sleep(1.0)
        now = clock()
        for conn in list(connections):
            conn.expire(now)

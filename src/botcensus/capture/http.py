"""The sinkhole's HTTP/1.1 connection handler: parse, record, answer with the fixed reply.

Two paths. The fast one takes a read that holds exactly one complete, small request, the
common case of a bot's check-in: a parser without per-field callbacks finds it complete, and
its raw bytes go to the log with time, addresses and listener, to be turned into an event
when the segment is rolled (record.RawDecoder). Everything else (split or pipelined requests,
bad or oversized ones, PROXY headers, timeouts, clients that vanish mid-request) takes the
full path, which builds the event at once with the same functions (record.read_head and
record.event_row). Either way the log write comes before the reply (outbox.Outbox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

import httptools

from botcensus.capture import proxy
from botcensus.capture.flow import FlowControl
from botcensus.capture.listener import FastParser, Listener, sweep, wire_limit
from botcensus.capture.outbox import Event, Outbox, Stats
from botcensus.capture.record import event_row, read_head
from botcensus.capture.reply import NO_REPLY_STATUS, REJECT_REPLY, REJECT_STATUS, Reject

log = logging.getLogger(__name__)

_IDLE, _HEAD, _BODY = 0, 1, 2
HttpRequestParser = httptools.HttpRequestParser
time_ns = time.time_ns
_PARSE_STOPS = (httptools.HttpParserError, httptools.HttpParserUpgrade)
__all__ = ["Event", "Listener", "Outbox", "SinkholeConnection", "Stats", "sweep"]


class _LimitError(Exception):
    """Raised inside a parser callback to stop parsing a request that broke a limit."""

    def __init__(self, reason: Reject, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class SinkholeConnection(FlowControl, asyncio.Protocol):
    """One client connection. Parser callbacks (on_*) are called by httptools; flow control
    (pause_writing, resume_writing, slices of long reads) comes from FlowControl."""

    # What every connection uses lives in slots; what only the full parser uses starts as
    # a class default and gets an instance value when the full path first needs it, so
    # the common connection (one check-in, fast path) sets up little.
    __slots__ = (  # FlowControl brings the instance __dict__ for the rest
        "dead",
        "deadline",
        "dst_ip",
        "dst_port",
        "light",
        "lst",
        "pending_proxy",
        "phase",
        "proxy_peer",
        "src_ip",
        "src_port",
        "transport",
    )
    parser: httptools.HttpRequestParser | None = None
    replay_times: tuple[int, ...] | None = None
    requests_seen = 0
    url = b""
    headers: list[tuple[bytes, bytes]] = []  # noqa: RUF012 (read-only: replaced, never mutated)
    head_bytes = 0
    head_parsed = 0
    body: bytes | bytearray = b""
    body_length = 0
    body_wire = 0

    def __init__(self, listener: Listener) -> None:
        self.lst = listener
        self.transport: asyncio.Transport | None = None
        self.light: FastParser | None = None  # made at the first read; the full parser if needed
        self.src_ip = self.dst_ip = ""
        self.src_port = self.dst_port = 0
        self.proxy_peer: str | None = None
        self.pending_proxy: bytearray | None = None
        self.phase = _IDLE
        self.deadline = 0.0
        self.dead = False

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
        # The parsers refer back to their callbacks: drop them so refcounting frees the
        # connection at once instead of leaving cycles for the garbage collector.
        self.parser = None
        self._drop_light()

    def eof_received(self) -> bool:
        """The client half-closed after its last request: close only once the replies to what
        it sent are written. They wait in the outbox until a later loop turn, and the outbox
        writes nothing to a transport that is closing, so the transport's own close on EOF
        (returning false) dropped them whenever the last read and the EOF came in one turn."""
        self.lst.outbox.later(self._close_after_replies)
        return True

    def _close_after_replies(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

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
        if self.phase == _IDLE and len(data) <= self.lst.fast_bytes:
            self._fast(data)
        elif len(data) > self.lst.slice_bytes:
            self._consume(memoryview(data))
        else:
            self._feed(data)

    def _fast(self, data: bytes) -> None:
        """One complete request in one read, at a request boundary: log its bytes raw and
        answer. Anything else goes to the full parser, which starts from the same boundary."""
        state = self.light
        if state is None:
            state = self.light = FastParser()
        state.begun = state.done = 0
        try:
            state.parser.feed_data(data)  # type: ignore[union-attr]
        except _PARSE_STOPS:  # malformed, CONNECT or Upgrade: the full path decides
            self._drop_light()
            self._feed(data)
            return
        if state.done != 1 or state.begun != 1:
            if state.begun:  # part of a request, or several: the full path reads them all
                self._drop_light()
                self._feed(data)
            return
        lst = self.lst
        lst.stats.requests += 1
        keep = state.keep
        when = time_ns() // 1000 if self.replay_times is None else self._time_received()
        row = (
            when, lst.index, self.src_ip, self.src_port, self.dst_ip, self.dst_port,
            self.proxy_peer, data,
        )  # fmt: skip
        self.deadline = lst.clock() + lst.limits.keepalive_timeout
        reply = lst.reply
        assert self.transport is not None
        lst.outbox.put(row, self.transport, reply.keep_alive if keep else reply.close, not keep)
        if not keep:
            self.dead = True

    def _drop_light(self) -> None:
        state = self.light
        if state is not None:
            state.parser = None  # it refers back to its callbacks: no cycle left behind
            self.light = None

    def _feed(self, data: bytes | memoryview) -> None:
        # Bytes since the last complete request, while a head is being read: bounds what
        # httptools buffers for an unfinished head (it reports no offsets to be exact).
        if self.phase != _BODY:
            self.head_bytes += len(data)
        else:
            self.body_wire += len(data)
        parser = self.parser
        if parser is None:
            parser = self.parser = HttpRequestParser(self)
        try:
            parser.feed_data(data)
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
                self._reject(
                    Reject.HEADER_TOO_LARGE, f"head exceeds {limits.max_header_bytes} bytes"
                )
            elif phase == _BODY and self.body_wire > wire_limit(limits):
                # Chunk framing and trailers are not body: bound them too, or one unfinished
                # trailer name could grow the parser's buffer without end.
                self._reject(
                    Reject.BODY_TOO_LARGE,
                    f"body exceeds {wire_limit(limits)} bytes on the wire "
                    "(chunk framing and trailers included)",
                )

    def _take_proxy_header(self, data: bytes) -> bytes:
        """Bytes after the PROXY header once it is complete and accepted, else b""."""
        assert self.pending_proxy is not None
        buf = self.pending_proxy
        buf += data
        lst = self.lst
        try:
            admitted = proxy.admit(buf, self.src_ip, lst.trusted, replay=lst.replay)
        except proxy.ProxyError as exc:
            self._reject(
                Reject.PROXY, str(exc) if isinstance(exc, proxy.ProxyRefusedError) else exc.reason
            )
            return b""
        if admitted is None:
            return b""
        info, used = admitted
        self.pending_proxy = None
        if lst.replay and info.replay_times_us is not None:
            self.replay_times = info.replay_times_us
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

    # A head over max_header_bytes is recorded with what fits in the limit: the URL and the
    # headers are kept up to it (the last one cut short) and the request is rejected at once,
    # so no stored field holds more than the limit, however much one read brought.
    def on_url(self, url: bytes) -> None:
        limit = self.lst.limits.max_header_bytes
        room = limit - self.head_parsed
        self.head_parsed += len(url)
        if self.head_parsed > limit:
            self.url += url[:room]
            raise _LimitError(Reject.HEADER_TOO_LARGE, f"head exceeds {limit} bytes")
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        limit = self.lst.limits.max_header_bytes
        room = limit - self.head_parsed
        self.head_parsed += len(name) + len(value) + 4  # ": " and CRLF
        if self.head_parsed <= limit:
            self.headers.append((name, value))
            return
        if room > len(name) + 4:
            self.headers.append((name, value[: room - len(name) - 4]))
        if self.phase == _BODY:  # a trailer (after a chunked body): counts against the limit
            raise _LimitError(Reject.HEADER_TOO_LARGE, f"head and trailers exceed {limit} bytes")
        raise _LimitError(Reject.HEADER_TOO_LARGE, f"head exceeds {limit} bytes")

    def on_headers_complete(self) -> None:
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
        assert parser is not None
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
        if reject is not None:
            lst.stats.rejects[reject.partition(":")[0]] += 1
        raw_method = self.parser.get_method() if self.url and self.parser is not None else None
        head = read_head(raw_method, self.url, self.headers)
        where = (
            self._time_received(), self.src_ip, self.src_port, self.dst_ip, self.dst_port,
            self.proxy_peer, lst.name, lst.sensor,
        )  # fmt: skip
        return event_row(
            where, head, bytes(self.body), self.body_length, body_head_bytes=lst.body_head_bytes,
            decode=lst.decode, status=status, reject=reject,
        )  # fmt: skip

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

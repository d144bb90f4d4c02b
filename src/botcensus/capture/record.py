"""What a request becomes: its event row, built by the same functions live and at roll time.

Most requests reach the write-ahead log raw: the bytes of one complete request with its time,
addresses and listener (see http.SinkholeConnection), because building the event costs more
than answering. They become events when their segment is rolled: `decode_raw` parses each
one with the same parser and the same `read_head`/`event_row` the live path uses for the
requests it records itself, so both paths give the same event for the same bytes. Requests
of one family share their head (method, URL, headers), so each distinct head is read once
per segment, and only the body-dependent fields are computed per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httptools

from botcensus.capture.protocols import Decoder, Request, build_decoder
from botcensus.capture.text import received_text, stored_text
from botcensus.config import GenericRule

EMPTY_SHA256 = hashlib.sha256(b"").digest()
INT64_MAX = 2**63 - 1
RAW_WIDTH = 8
"""A raw log row: (time_us, listener, src_ip, src_port, dst_ip, dst_port, proxy_peer, bytes)."""
_WANTED = {b"host": 0, b"user-agent": 1, b"content-length": 2}
_METHODS = {m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH")}
_sha256 = hashlib.sha256

ReceivedHead = tuple[str, str | None, str, str, tuple[tuple[str, str], ...]]
"""protocols.Request's method, host, path, query and headers: the head as a decoder sees it."""


@dataclass(frozen=True, slots=True)
class Head:
    """The fields of an event that come from the request line and the headers (as stored:
    capture/text.py), and the head as received, for the decoder."""

    method: str | None
    host: str | None
    path: str | None
    query: str | None
    user_agent: str | None
    names: list[str]
    content_length: int | None
    received: ReceivedHead


def content_length(raw: bytes) -> int | None:
    """A Content-Length value as an int64, or None when it is not one (llhttp takes up to
    2^64 - 1, which no Parquet int64 column can hold)."""
    value = raw.strip(b" \t")
    if value.isdigit() and len(value) <= 19:  # bytes.isdigit: ASCII digits only
        number = int(value)
        if number <= INT64_MAX:
            return number
    return None


def read_head(raw_method: bytes | None, url: bytes, headers: Sequence[tuple[bytes, bytes]]) -> Head:
    """Decode what the parser reported of a request head (the method is known once the URL
    has started; a request cut off before it has none). The event's text follows
    capture/text.py's rule; the decoder gets it as received, so that a bot id is stripped
    and cut as sent before it is escaped (protocols.Request)."""
    host = user_agent = None
    length: int | None = None
    names: list[str] = []
    pairs: list[tuple[str, str]] = []
    for raw_name, raw_value in headers:
        name = received_text(raw_name)
        value = received_text(raw_value)
        names.append(stored_text(name))
        pairs.append((name, value))
        which = _WANTED.get(raw_name.lower())
        if which is not None:
            if which == 0:
                host = value
            elif which == 1:
                user_agent = value
            else:
                length = content_length(raw_value)
    method = path = query = None
    if url and raw_method is not None:
        method = _METHODS.get(raw_method) or received_text(raw_method)
        raw_path, _, raw_query = url.partition(b"?")
        path = received_text(raw_path)
        query = received_text(raw_query) if raw_query else None
    return Head(
        _stored(method), _stored(host), _stored(path), _stored(query), _stored(user_agent),
        names, length, (method or "", host, path or "", query or "", tuple(pairs)),
    )  # fmt: skip


def _stored(text: str | None) -> str | None:
    return None if text is None else stored_text(text)


def event_row(
    where: Sequence[Any],
    head: Head,
    body: bytes,
    body_length: int,
    *,
    body_head_bytes: int,
    decode: Decoder | None,
    status: int,
    reject: str | None,
) -> tuple[Any, ...]:
    """The event: `where` is (time_us, src_ip, src_port, dst_ip, dst_port, proxy_peer,
    listener, sensor); the decoder runs on requests that were not rejected."""
    family = bot_id = None
    if reject is None and decode is not None:
        decoded = decode(Request(*head.received, body, body_length))
        if decoded is not None:
            family, bot_id = decoded.family, decoded.bot_id
    return (
        *where,
        head.method,
        head.host,
        head.path,
        head.query,
        head.user_agent,
        head.names,
        head.content_length,
        body_length,
        body_length > len(body),
        _sha256(body).digest() if body else EMPTY_SHA256,
        body[:body_head_bytes],
        family,
        bot_id,
        status,
        reject,
    )


# -- decoding raw rows at roll time ----------------------------------------------------------------
class _Parse:
    """httptools callbacks collecting one request (the same the live slow path collects)."""

    __slots__ = ("body", "complete", "headers", "headers_done", "messages", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.messages = self.complete = self.headers_done = 0

    def on_message_begin(self) -> None:
        self.messages += 1

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done += 1

    def on_body(self, chunk: bytes) -> None:
        self.body += chunk

    def on_message_complete(self) -> None:
        self.complete += 1


class RawDecoder:
    """Turns raw log rows of one segment into event rows, given the segment's header (what
    the worker that wrote it was configured with)."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        self.sensor: str = header["sensor"]
        self.listeners: list[tuple[str, int]] = [(n, s) for n, s in header["listeners"]]
        self.body_head_bytes: int = header["body_head_bytes"]
        rules = [GenericRule(**rule) for rule in header.get("decoders", [])]
        self.decode = build_decoder(rules)
        # Only a rule taking the bot id from the body makes the decoder's answer depend on
        # more than the head and the body's length.
        self._body_decides = any(rule.bot_id_body_regex for rule in rules)
        self._heads: dict[bytes, KnownHead] = {}

    def event(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """The event of one raw row; raises ValueError if its bytes are not exactly one
        complete request (a raw row never holds anything else)."""
        time_us, listener, src_ip, src_port, dst_ip, dst_port, proxy_peer, data = row
        name, status = self.listeners[listener]
        where = (time_us, src_ip, src_port, dst_ip, dst_port, proxy_peer, name, self.sensor)
        split = data.find(b"\r\n\r\n") + 4
        known = self._heads.get(data[:split]) if split > 3 else None
        if known is None or len(data) - split != known.body_length:
            known = self._learn(data, split)
        body = data[split:] if known.cached else known.body
        found = known.found
        if found is None:
            decoded = self.decode(Request(*known.head.received, body, len(body)))
            found = (None, None) if decoded is None else (decoded.family, decoded.bot_id)
        digest = _sha256(body).digest() if body else EMPTY_SHA256
        tail = (len(body), False, digest, body[: self.body_head_bytes], *found, status, None)
        return where + known.fields + tail

    def known(self, head: bytes, data: bytes) -> KnownHead | None:
        """The parsed `head` (the bytes of `data` up to and including its first blank line)
        when every request with these head bytes can reuse it; None when they cannot (a
        chunked body, say) or when `data` is not exactly one request."""
        found = self._heads.get(head)
        if found is None:
            try:
                learnt = self._learn(data, len(head))
            except Exception:  # the per-row path parses it again and says why
                return None
            found = learnt if learnt.cached else None
        return found

    def _learn(self, data: bytes, split: int) -> KnownHead:
        """Parse one request in full; remember its head when the next requests with the
        same head bytes can reuse it (the body is everything after the first blank line)."""
        state = _Parse()
        parser = httptools.HttpRequestParser(state)
        parser.feed_data(data)
        if state.messages != 1 or state.complete != 1:
            raise ValueError(
                f"raw row holds {state.complete} complete of {state.messages} requests"
            )
        raw_method = parser.get_method() if state.url else None
        head = read_head(raw_method, state.url, state.headers)
        body = bytes(state.body)
        reusable = split > 3 and split + len(body) == len(data) and not _chunked(state.headers)
        found = None
        if not self._body_decides:
            decoded = self.decode(Request(*head.received, body, len(body)))
            found = (None, None) if decoded is None else (decoded.family, decoded.bot_id)
        known = KnownHead(head, _fields(head), len(body), found, reusable, body)
        if reusable:
            self._heads[data[:split]] = known
        return known


@dataclass(frozen=True, slots=True)
class KnownHead:
    """A parsed head: its event fields, its body length, and the decoder's answer when that
    depends on nothing else (None when a rule reads the bot id from the body)."""

    head: Head
    fields: tuple[Any, ...]
    body_length: int
    found: tuple[str | None, str | None] | None
    cached: bool
    body: bytes
    """The body of the request this was learnt from (used when not `cached`)."""


def _fields(head: Head) -> tuple[Any, ...]:
    return (
        head.method, head.host, head.path, head.query, head.user_agent, head.names,
        head.content_length,
    )  # fmt: skip


def _chunked(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"transfer-encoding" for name, _ in headers)

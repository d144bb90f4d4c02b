"""The sinkhole's fixed replies: one per listener for well-formed requests, one per reject reason.

Every reply is built once at start-up from configuration and is byte-for-byte the same for every
request it answers: no code path puts anything from a request into a reply, and there is no
code path that sends a bot a command, payload, update or uninstaller. Replies carry no Date or
Server header, so they do not even vary with time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from botcensus.config import ReplySettings

_REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class Reject(StrEnum):
    """Why a request was not answered with the listener's reply. Recorded in the event as
    ``reject_reason`` (``<code>: <detail>``) and counted in the metrics by code."""

    MALFORMED = "malformed"
    HEADER_TOO_LARGE = "header_too_large"
    BODY_TOO_LARGE = "body_too_large"
    HEADER_TIMEOUT = "header_timeout"
    BODY_TIMEOUT = "body_timeout"
    PROXY = "proxy"
    INCOMPLETE = "incomplete"
    """The client closed the connection mid-request; there was no one left to reply to."""


REJECT_STATUS: Final[dict[Reject, int]] = {
    Reject.MALFORMED: 400,
    Reject.HEADER_TOO_LARGE: 431,
    Reject.BODY_TOO_LARGE: 413,
    Reject.HEADER_TIMEOUT: 408,
    Reject.BODY_TIMEOUT: 408,
    Reject.PROXY: 400,
}


def encode(status: int, body: bytes, content_type: str, *, close: bool) -> bytes:
    """A complete HTTP/1.1 response."""
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Length: {len(body)}"]
    if body:
        lines.append(f"Content-Type: {content_type}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


@dataclass(frozen=True, slots=True)
class Reply:
    """A listener's reply in its two framings: keep the connection open, or close it."""

    status: int
    keep_alive: bytes
    close: bytes


def listener_reply(settings: ReplySettings) -> Reply:
    """Build a listener's fixed reply, reading its body file once."""
    body = settings.body_file.read_bytes() if settings.body_file is not None else b""
    return Reply(
        settings.status,
        encode(settings.status, body, settings.content_type, close=False),
        encode(settings.status, body, settings.content_type, close=True),
    )


REJECT_REPLY: Final[dict[Reject, bytes]] = {
    reason: encode(status, b"", "text/plain", close=True)
    for reason, status in REJECT_STATUS.items()
}
UNAVAILABLE_REPLY: Final = encode(503, b"", "text/plain", close=True)
"""Sent instead of the listener's reply when the request could not be logged (a full disk):
the sinkhole never gives its reply to a request it has not recorded."""
NO_REPLY_STATUS: Final = 0
"""The status recorded for a request that got no reply (the client went away first)."""

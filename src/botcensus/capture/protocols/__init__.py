"""Bot protocol decoders: pure functions from a received request to a family and bot id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple


class Request(NamedTuple):
    """What a decoder may look at: one HTTP request as the sinkhole received it, its text as
    received (capture/text.received_text): UTF-8, a byte that is not UTF-8 as one lone
    surrogate U+DC80-U+DCFF, nothing escaped, white space as sent. A bot id a decoder returns
    is stored as it returns it, so it escapes it (capture/text.stored_text), last."""

    method: str
    host: str | None
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    """(name, value) in the order received, names as sent (not case-folded)."""
    body: bytes
    """The body as received, cut at the sinkhole's max_body_bytes when truncated."""
    body_length: int
    """Bytes of body received (the full length unless truncated)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoder's answer: the malware family, and the bot id where the protocol has one."""

    family: str
    bot_id: str | None = None


Decoder = Callable[[Request], Decoded | None]

# Last, because the registry's decoders import the types above from this package.
from .registry import build_decoder  # noqa: E402

__all__ = ["Decoded", "Decoder", "Request", "build_decoder"]

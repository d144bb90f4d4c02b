"""How text taken from the network is stored: UTF-8, anything else spelled out as an escape.

The rule (docs/events.md, "Fields"): bytes are decoded as UTF-8 and bytes that are not UTF-8
appear as `\\xNN` (always `\\x80`-`\\xff`); control and format characters (Unicode categories
Cc, Cf, Zl, Zp and Cs: NUL, TAB, CR, LF, ESC, DEL, the C1 controls, bidirectional overrides
such as U+202E, zero-width characters, line and paragraph separators) appear as `\\xNN` below
U+0080 and as `\\uNNNN` (`\\UNNNNNNNN`) above. A stored value then holds nothing that moves a
terminal's cursor, starts an escape sequence, splits a CSV row or reorders text, and an
escaped character is never spelled like an escaped invalid byte (so `%ff` and `%c2%80` stay
two bot ids). A backslash the client sent is kept as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Final

ESCAPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
"""Unicode categories stored as escapes: none of them is text a person reads."""
# received_text's lone surrogates: the bytes 0x80-0xff that were not UTF-8. UTF-8 decoding
# yields no surrogate otherwise (an encoded surrogate is invalid bytes, one each).
_INVALID_BYTE_LOW: Final = 0xDC80
_INVALID_BYTE_HIGH: Final = 0xDCFF


def received_text(raw: bytes) -> str:
    """`raw` decoded as UTF-8 without loss: a byte that is not UTF-8 becomes one lone
    surrogate, U+DC80-U+DCFF (Python's surrogateescape), nothing is escaped. What decoders
    see (protocols.Request), so they strip and cut what was sent before it is escaped."""
    return raw.decode("utf-8", "surrogateescape")


def stored_text(text: str) -> str:
    """Text as received (received_text) as botcensus stores it (the rule above): its
    invalid bytes as `\\xNN`, its control and format characters as escapes. Text holding
    none (almost all of it) is returned as it is after one C-speed check. Applying it twice
    changes nothing: an escape is printable ASCII."""
    return text if text.isprintable() else _escaped(text)


def network_text(raw: bytes) -> str:
    """`raw` from the network as the text botcensus stores (the rule above)."""
    return stored_text(received_text(raw))


def _escaped(text: str) -> str:
    # isprintable() is False for every escaped category, and for a few harmless ones
    # (unassigned, private use, spaces other than ASCII's), which are kept here.
    return "".join(_escape(c) if unicodedata.category(c) in ESCAPED_CATEGORIES else c for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if _INVALID_BYTE_LOW <= code <= _INVALID_BYTE_HIGH:  # a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"

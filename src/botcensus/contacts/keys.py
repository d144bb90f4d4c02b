"""Address ranges written as text (prefixes, 'first - last' ranges) -> 128-bit key ranges.

Shared by the RIPE and CSV readers; parsing is vectorised with the addr helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from botcensus.enrich.ranges import prefix_end
from botcensus.ipaddr import Keys, hilo_from_keys, keys_from_ipv4, parse_ips


@dataclass(frozen=True)
class KeyRanges:
    """Parsed ranges, row for row: version 4 or 6 (0 where `error` says why not), inclusive
    [start, end] as S16 keys (IPv4 as plain 32-bit values)."""

    version: npt.NDArray[np.uint8]
    start: Keys
    end: Keys
    error: list[str | None]


def _keys(ips: pa.Array) -> tuple[Keys, npt.NDArray[np.uint8]]:
    parsed = parse_ips(ips)
    keys = np.where(parsed.is_v4, keys_from_ipv4(parsed.v4), parsed.v6)
    version = np.where(parsed.is_v4, 4, np.where(parsed.is_v6, 6, 0)).astype(np.uint8)
    return keys, version


def text_ranges(first: pa.Array, last: pa.Array, bits: npt.NDArray[np.int64]) -> KeyRanges:
    """Rows `first/bits` (a prefix, where bits >= 0) or `first - last` (where bits < 0).

    A prefix must have its host bits zero; a range's ends must be one family and in order.
    IPv4-mapped IPv6 text counts as IPv4, with its prefix length counted out of 32.
    """
    start, version = _keys(first)
    end_text, end_version = _keys(last.fill_null(""))
    is_prefix = bits >= 0
    width = np.where(version == 4, 32, 128)
    bits128 = np.clip(np.where(version == 4, bits + 96, bits), 0, 128)
    host_hi, host_lo = hilo_from_keys(prefix_end(np.zeros(len(start), dtype="S16"), bits128))
    start_hi, start_lo = hilo_from_keys(start)
    aligned = ((start_hi & host_hi) == 0) & ((start_lo & host_lo) == 0)
    end = np.where(is_prefix, prefix_end(start, bits128), end_text)
    reasons = [
        (version == 0, "not an IP address"),
        (is_prefix & (bits > width), "prefix length out of range"),
        (is_prefix & ~aligned, "prefix has host bits set"),
        (~is_prefix & (end_version != version), "range ends are not both IPv4 or both IPv6"),
        (~is_prefix & (end < start), "range ends before it starts"),
    ]
    error: list[str | None] = [None] * len(start)
    bad = np.zeros(len(start), dtype=bool)
    for mask, reason in reasons:  # the first reason that applies is the one reported
        for i in np.flatnonzero(mask & ~bad).tolist():
            error[i] = reason
        bad |= mask
    version = np.where(bad, 0, version).astype(np.uint8)
    return KeyRanges(version, start, end, error)

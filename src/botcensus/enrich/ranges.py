"""Range tables: disjoint sorted address ranges with (cc, asn, as_name), and their algebra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import Keys, Mask, hilo_from_keys, keys_from_hilo

ATTR_SCHEMA: Final = pa.schema([("cc", pa.string()), ("asn", pa.int64()), ("as_name", pa.string())])
_ALL_ONES: Final = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE: Final = np.uint64(1)
Index = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Ranges:
    """Disjoint inclusive ranges [start, end] sorted by start, one attribute row per range.

    Keys are S16 (128-bit big-endian); IPv4 tables hold the plain 32-bit value, not ::ffff:.
    """

    start: Keys
    end: Keys
    attrs: pa.Table
    """Columns of ATTR_SCHEMA; null where the source does not say."""

    def __len__(self) -> int:
        return len(self.start)


def empty_ranges() -> Ranges:
    """A table that covers nothing."""
    none = np.zeros(0, dtype="S16")
    return Ranges(none, none, ATTR_SCHEMA.empty_table())


def increment(keys: Keys) -> tuple[Keys, Mask]:
    """keys + 1, and a mask of keys that wrapped past 2**128 - 1."""
    hi, lo = hilo_from_keys(keys)
    carry = lo == _ALL_ONES
    return keys_from_hilo(hi + carry.astype(np.uint64), lo + _ONE), carry & (hi == _ALL_ONES)


def decrement(keys: Keys) -> Keys:
    """keys - 1 (callers never pass zero)."""
    hi, lo = hilo_from_keys(keys)
    return keys_from_hilo(hi - (lo == 0).astype(np.uint64), lo - _ONE)


def prefix_end(start: Keys, prefix_bits: npt.NDArray[np.integer]) -> Keys:
    """The last address of each network start/prefix_bits (prefix_bits counted out of 128)."""
    host = 128 - np.asarray(prefix_bits, dtype=np.int64)
    hi, lo = hilo_from_keys(start)
    lo_mask = np.where(
        host >= 64, _ALL_ONES, (_ONE << np.minimum(host, 63).astype(np.uint64)) - _ONE
    )
    hi_host = np.clip(host - 64, 0, 63).astype(np.uint64)
    hi_mask = np.where(host >= 128, _ALL_ONES, np.where(host > 64, (_ONE << hi_host) - _ONE, 0))
    return keys_from_hilo(hi | hi_mask.astype(np.uint64), lo | lo_mask)


SORTED_SEARCH: Final = 4096
"""From this many points on, `cover` sorts them first: binary searches for neighbouring
points touch the same cache lines (a batch of 100,000 IPv4 addresses in 650,000 ranges:
3.5 times faster, sort included)."""


def cover(start: npt.NDArray[Any], end: npt.NDArray[Any], points: npt.NDArray[Any]) -> Index:
    """Index of the range holding each point, -1 where none does (uint32 or S16 keys)."""
    if len(start) == 0:
        return np.full(len(points), -1, dtype=np.int64)
    if len(points) >= SORTED_SEARCH and points.dtype.kind in "iu":
        order = np.argsort(points)
        i = np.empty(len(points), dtype=np.int64)
        i[order] = np.searchsorted(start, points[order], side="right")
        i -= 1
    else:
        i = np.searchsorted(start, points, side="right").astype(np.int64) - 1
    found = (i >= 0) & (end[np.maximum(i, 0)] >= points)
    return np.where(found, i, -1)


def _segments(*tables: tuple[Keys, Keys]) -> tuple[Keys, Keys]:
    """Elementary segments: the partition of the key space by every range's start and end."""
    starts = [s for s, _ in tables]
    for _, e in tables:
        after, wrapped = increment(e)
        starts.append(after[~wrapped])
    bounds = np.unique(np.concatenate(starts)) if starts else np.zeros(0, dtype="S16")
    if len(bounds) == 0:
        return bounds, bounds
    last = keys_from_hilo(np.array([_ALL_ONES]), np.array([_ALL_ONES]))
    return bounds, np.concatenate([decrement(bounds[1:]), last])


def _take(attrs: pa.Table, index: Index) -> pa.Table:
    return attrs.take(pa.array(index, mask=index < 0))


def _same_as_previous(column: pa.Array) -> Mask:
    prev, cur = column[:-1], column[1:]
    equal = pc.fill_null(pc.equal(prev, cur), False)
    both_null = pc.and_(pc.is_null(prev), pc.is_null(cur))
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


def merge_adjacent(r: Ranges) -> Ranges:
    """Drop rows with no attribute at all; join touching rows whose attributes are equal."""
    attrs = r.attrs.combine_chunks()
    known = np.zeros(len(r), dtype=bool)
    for column in attrs.columns:
        known |= np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    keep = np.flatnonzero(known)
    start, end, attrs = r.start[keep], r.end[keep], attrs.take(pa.array(keep)).combine_chunks()
    if len(start) < 2:
        return Ranges(start, end, attrs)
    joined = increment(end[:-1])[0] == start[1:]
    for column in attrs.columns:
        joined &= _same_as_previous(column.combine_chunks())
    first = np.flatnonzero(np.concatenate([[True], ~joined]))
    last = np.concatenate([first[1:] - 1, [len(start) - 1]])
    return Ranges(start[first], end[last], attrs.take(pa.array(first)))


def from_disjoint(start: Keys, end: Keys, attrs: pa.Table) -> Ranges:
    """A range table from non-overlapping ranges in any order."""
    order = np.argsort(start, kind="stable")
    return merge_adjacent(Ranges(start[order], end[order], attrs.take(pa.array(order))))


def from_prefixes(start: Keys, prefix_bits: npt.NDArray[np.integer], attrs: pa.Table) -> Ranges:
    """A range table from possibly nested networks: the most specific network wins (as libloc).

    One vectorised pass per distinct prefix length, shortest first, so longer ones overwrite.
    """
    bits = np.asarray(prefix_bits, dtype=np.int64)
    end = prefix_end(start, bits)
    seg_start, seg_end = _segments((start, end))
    owner = np.full(len(seg_start), -1, dtype=np.int64)
    for b in np.unique(bits):
        rows = np.flatnonzero(bits == b)
        rows = rows[np.argsort(start[rows], kind="stable")]
        hit = cover(start[rows], end[rows], seg_start)
        owner[hit >= 0] = rows[hit[hit >= 0]]
    keep = owner >= 0
    return merge_adjacent(Ranges(seg_start[keep], seg_end[keep], _take(attrs, owner[keep])))


def overlay(country: Ranges, asn: Ranges) -> Ranges:
    """Intersect two tables: cc from `country` (else `asn`), asn and as_name from `asn` (else
    `country`), both taken together from one side so a name always belongs to its number."""
    seg_start, seg_end = _segments((country.start, country.end), (asn.start, asn.end))
    a = _take(country.attrs, cover(country.start, country.end, seg_start))
    b = _take(asn.attrs, cover(asn.start, asn.end, seg_start))
    from_b = pc.is_valid(b.column("asn"))
    attrs = pa.table(
        {
            "cc": pc.coalesce(a.column("cc"), b.column("cc")),
            "asn": pc.if_else(from_b, b.column("asn"), a.column("asn")),
            "as_name": pc.if_else(from_b, b.column("as_name"), a.column("as_name")),
        },
        schema=ATTR_SCHEMA,
    )
    return merge_adjacent(Ranges(seg_start, seg_end, attrs))

"""Nested address ranges flattened to sorted disjoint pieces: the most specific range wins.

RIPE inetnum ranges are not always CIDR-aligned, so "most specific" is the smallest range
that holds an address, not the longest prefix. Ranges of equal size are ordered by a
caller-given priority, then by input order (later wins).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from botcensus.enrich.ranges import Index, decrement, increment
from botcensus.ipaddr import Keys, hilo_from_keys, keys_from_hilo

_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def specificity_rank(start: Keys, end: Keys, priority: npt.NDArray[np.integer]) -> Index:
    """A permutation 0..n-1 of the ranges: higher for smaller ranges, then higher priority,
    then later input position."""
    start_hi, start_lo = hilo_from_keys(start)
    end_hi, end_lo = hilo_from_keys(end)
    size_lo = end_lo - start_lo  # size - 1 as a 128-bit number, wrapping subtraction with borrow
    size_hi = end_hi - start_hi - (end_lo < start_lo).astype(np.uint64)
    position = np.arange(len(start), dtype=np.int64)
    order = np.lexsort((position, np.asarray(priority, dtype=np.int64), ~size_lo, ~size_hi))
    rank = np.empty(len(start), dtype=np.int64)
    rank[order] = position
    return rank


def flatten(start: Keys, end: Keys, rank: Index) -> tuple[Keys, Keys, Index]:
    """Sorted disjoint pieces (start, end inclusive) and, for each, the index of the range of
    highest rank that covers it. Addresses no range covers are in no piece.

    One vectorised range-maximum pass over the elementary segments (a segment tree over
    segment numbers), so nesting depth and CIDR alignment do not matter.
    """
    n = len(start)
    if n == 0:
        none = np.zeros(0, dtype="S16")
        return none, none, np.zeros(0, dtype=np.int64)
    after, wrapped = increment(end)
    points = np.concatenate([start, after])
    segment, bounds = _number_points(points)
    first = segment[:n]
    stop = np.where(wrapped, len(bounds), segment[n:])
    best = _range_max(first, stop, rank, len(bounds))
    top = keys_from_hilo(np.array([_ALL_ONES]), np.array([_ALL_ONES]))
    seg_end = np.concatenate([decrement(bounds[1:]), top])
    keep = np.flatnonzero(best >= 0)
    by_rank = np.empty(n, dtype=np.int64)
    by_rank[rank] = np.arange(n, dtype=np.int64)
    owner = by_rank[best[keep]]
    # Kept segments with the same owner next to each other are contiguous: the owner's range
    # also covers anything between them, so no uncovered gap can separate them.
    new = np.concatenate([[True], owner[1:] != owner[:-1]])
    head = np.flatnonzero(new)
    tail = np.concatenate([head[1:] - 1, [len(owner) - 1]])
    return bounds[keep[head]], seg_end[keep[tail]], owner[head]


def _number_points(points: Keys) -> tuple[Index, Keys]:
    """Each point's number among the sorted distinct points, and those distinct points.

    Sorts (hi, lo) integer halves rather than the 16-byte keys, which numpy compares slowly;
    IPv4 tables (hi all zero) sort one uint64 column.
    """
    hi, lo = hilo_from_keys(points)
    if hi.any():
        order = np.lexsort((lo, hi))
        hi_s, lo_s = hi[order], lo[order]
        new = np.concatenate([[True], (hi_s[1:] != hi_s[:-1]) | (lo_s[1:] != lo_s[:-1])])
    else:
        order = np.argsort(lo, kind="stable")
        hi_s, lo_s = hi[: len(hi)], lo[order]
        new = np.concatenate([[True], lo_s[1:] != lo_s[:-1]])
    number = np.empty(len(points), dtype=np.int64)
    number[order] = np.cumsum(new) - 1
    distinct = np.flatnonzero(new)
    return number, keys_from_hilo(hi_s[distinct], lo_s[distinct])


def _range_max(first: Index, stop: Index, value: Index, m: int) -> Index:
    """For each of m slots, the largest value among intervals [first, stop) holding it, or -1."""
    size = 1 << max(0, (m - 1).bit_length())
    dtype = np.int32 if len(value) < 2**31 else np.int64
    tree = np.full(2 * size, -1, dtype=dtype)
    lo, hi, v = first + size, stop + size, value.astype(dtype)
    while len(lo):
        active = lo < hi
        lo, hi, v = lo[active], hi[active], v[active]
        left = (lo & 1) == 1
        np.maximum.at(tree, lo[left], v[left])
        lo = lo + left
        right = (hi & 1) == 1
        hi = hi - right
        np.maximum.at(tree, hi[right], v[right])
        lo >>= 1
        hi >>= 1
    level = 1
    while level < size:  # push each node's value down to its two children
        parents = tree[level : 2 * level]
        children = tree[2 * level : 4 * level]
        np.maximum(children, np.repeat(parents, 2), out=children)
        level *= 2
    return tree[size : size + m].astype(np.int64)

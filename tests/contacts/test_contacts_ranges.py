"""Flattening nested ranges: the smallest covering range wins, then priority, then input order."""

from __future__ import annotations

import numpy as np
import pytest

from botcensus.contacts.ranges import flatten, specificity_rank
from botcensus.ipaddr import hilo_from_keys, keys_from_hilo

TOP = 2**128 - 1


def keys(*values: int) -> np.ndarray:
    return keys_from_hilo(
        np.array([v >> 64 for v in values], dtype=np.uint64),
        np.array([v & (2**64 - 1) for v in values], dtype=np.uint64),
    )


def ints(k: np.ndarray) -> list[int]:
    hi, lo = hilo_from_keys(k)
    return [(int(h) << 64) | int(low) for h, low in zip(hi, lo, strict=True)]


def pieces(
    ranges: list[tuple[int, int]], priority: list[int] | None = None
) -> list[tuple[int, int, int]]:
    start = keys(*(s for s, _ in ranges))
    end = keys(*(e for _, e in ranges))
    rank = specificity_rank(start, end, np.array(priority or [0] * len(ranges)))
    first, last, owner = flatten(start, end, rank)
    return list(zip(ints(first), ints(last), owner.tolist(), strict=True))


def reference(ranges: list[tuple[int, int]], priority: list[int], point: int) -> int | None:
    holding = [i for i, (s, e) in enumerate(ranges) if s <= point <= e]
    return max(holding, key=lambda i: (ranges[i][0] - ranges[i][1], priority[i], i), default=None)


@pytest.mark.parametrize(
    ("ranges", "expected"),
    [
        ([], []),
        ([(10, 20)], [(10, 20, 0)]),
        ([(0, 99), (10, 19)], [(0, 9, 0), (10, 19, 1), (20, 99, 0)]),
        ([(10, 19), (0, 99)], [(0, 9, 1), (10, 19, 0), (20, 99, 1)]),
        ([(0, 99), (0, 9)], [(0, 9, 1), (10, 99, 0)]),
        ([(0, 99), (90, 99)], [(0, 89, 0), (90, 99, 1)]),
        ([(0, 9), (20, 29)], [(0, 9, 0), (20, 29, 1)]),
        ([(0, 9), (10, 19)], [(0, 9, 0), (10, 19, 1)]),
        (
            [(0, 99), (10, 19), (12, 13)],
            [(0, 9, 0), (10, 11, 1), (12, 13, 2), (14, 19, 1), (20, 99, 0)],
        ),
        ([(0, TOP), (5, 5)], [(0, 4, 0), (5, 5, 1), (6, TOP, 0)]),
        ([(TOP - 1, TOP)], [(TOP - 1, TOP, 0)]),
    ],
)
def test_the_most_specific_range_owns_each_piece(
    ranges: list[tuple[int, int]], expected: list[tuple[int, int, int]]
) -> None:
    assert pieces(ranges) == expected


def test_between_equal_ranges_the_higher_priority_wins() -> None:
    assert pieces([(0, 9), (0, 9)], [1, 0]) == [(0, 9, 0)]
    assert pieces([(0, 9), (0, 9)], [0, 1]) == [(0, 9, 1)]


def test_between_equal_ranges_of_equal_priority_the_later_wins() -> None:
    assert pieces([(0, 9), (0, 9), (0, 9)]) == [(0, 9, 2)]


def test_size_beats_priority() -> None:
    assert pieces([(0, 9), (0, 99)], [0, 5]) == [(0, 9, 0), (10, 99, 1)]


def test_partly_overlapping_ranges_go_to_the_smaller_where_they_overlap() -> None:
    assert pieces([(0, 19), (10, 39)]) == [(0, 19, 0), (20, 39, 1)]


def test_ranges_across_the_64_bit_boundary() -> None:
    low, high = 2**64 - 2, 2**64 + 1
    assert pieces([(low, high), (2**64, 2**64)]) == [
        (low, 2**64 - 1, 0),
        (2**64, 2**64, 1),
        (2**64 + 1, high, 0),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_random_ranges_match_a_per_address_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    base = int(rng.choice([0, 2**64 - 100, 2**96]))
    starts = rng.integers(0, 200, n)
    ranges = [(base + int(s), base + int(s + rng.integers(0, 80))) for s in starts]
    priority = rng.integers(0, 3, n).tolist()
    owner = {}
    for first, last, i in pieces(ranges, priority):
        for point in range(first, last + 1):
            assert point not in owner
            owner[point] = i
    for point in range(base, base + 300):
        assert owner.get(point) == reference(ranges, priority, point)

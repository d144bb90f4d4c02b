"""Range tables: nested prefixes, intersection of two sources, merging, 128-bit key arithmetic."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pytest

from botcensus.enrich.ranges import (
    ATTR_SCHEMA,
    SORTED_SEARCH,
    Ranges,
    cover,
    from_disjoint,
    from_prefixes,
    increment,
    merge_adjacent,
    overlay,
    prefix_end,
)
from botcensus.ipaddr import hilo_from_keys, keys_from_hilo

Attr = tuple[str | None, int | None, str | None]


def keys(*values: int) -> np.ndarray:
    return keys_from_hilo(
        np.array([v >> 64 for v in values], dtype=np.uint64),
        np.array([v & (2**64 - 1) for v in values], dtype=np.uint64),
    )


def attrs(*rows: Attr) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(ATTR_SCHEMA.names, row, strict=True)) for row in rows], schema=ATTR_SCHEMA
    )


def rows(r: Ranges) -> list[tuple[int, int, Attr]]:
    def ints(k: np.ndarray) -> list[int]:
        hi, lo = hilo_from_keys(k)
        return [(int(h) << 64) | int(low) for h, low in zip(hi, lo, strict=True)]

    values = [tuple(row.values()) for row in r.attrs.to_pylist()]
    return list(zip(ints(r.start), ints(r.end), values, strict=True))  # type: ignore[arg-type]


def nets(*specs: tuple[str, Attr]) -> Ranges:
    networks = [ipaddress.ip_network(n) for n, _ in specs]
    start = keys(*(int(n.network_address) for n in networks))
    bits = np.array([n.prefixlen + (96 if n.version == 4 else 0) for n in networks])
    return from_prefixes(start, bits, attrs(*(a for _, a in specs)))


def ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    ("network", "last"),
    [
        ("0.0.0.0/0", "255.255.255.255"),
        ("10.0.0.0/8", "10.255.255.255"),
        ("192.0.2.1/32", "192.0.2.1"),
        ("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff"),
        ("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff"),
        ("2001:db8::/63", "2001:db8:0:1:ffff:ffff:ffff:ffff"),
        ("2001:db8::1/128", "2001:db8::1"),
        ("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
)
def test_prefix_end_is_the_last_address(network: str, last: str) -> None:
    net = ipaddress.ip_network(network)
    bits = net.prefixlen + (96 if net.version == 4 else 0)
    assert prefix_end(keys(int(net.network_address)), np.array([bits])) == keys(ip(last))


def test_increment_carries_and_reports_wrap() -> None:
    after, wrapped = increment(keys(2**64 - 1, 5, 2**128 - 1))
    assert list(after) == list(keys(2**64, 6, 0))
    assert wrapped.tolist() == [False, False, True]


def test_cover_finds_the_range_or_minus_one() -> None:
    start, end = np.array([10, 20], dtype=np.uint32), np.array([12, 29], dtype=np.uint32)
    points = np.array([9, 10, 12, 13, 20, 29, 30], dtype=np.uint32)
    assert cover(start, end, points).tolist() == [-1, 0, 0, -1, 1, 1, -1]


def test_cover_of_many_points_matches_one_search_per_point() -> None:
    """Past SORTED_SEARCH points the search runs over the points sorted; the answer is each
    point's own range, in the points' order (duplicates and gaps included)."""
    rng = np.random.default_rng(11)
    start = np.unique(rng.integers(0, 2**32 - 1, 3_000, dtype=np.uint64)).astype(np.uint32)
    width = rng.integers(0, 2**20, len(start), dtype=np.uint64)
    ceiling = np.append(start[1:].astype(np.uint64) - 1, 2**32 - 1)
    end = np.minimum(start.astype(np.uint64) + width, ceiling).astype(np.uint32)
    points = rng.integers(0, 2**32 - 1, SORTED_SEARCH * 3, dtype=np.uint64).astype(np.uint32)
    points[::7] = start[rng.integers(0, len(start), len(points[::7]))]  # range starts
    points[1::9] = points[0]  # duplicates
    expected = [
        int(i) if i >= 0 and end[i] >= p else -1
        for p, i in zip(points, np.searchsorted(start, points, side="right") - 1, strict=True)
    ]
    assert cover(start, end, points).tolist() == expected
    assert max(expected) >= 0


def test_cover_of_an_empty_table_finds_nothing() -> None:
    empty = np.zeros(0, dtype=np.uint32)
    assert cover(empty, empty, np.array([1], dtype=np.uint32)).tolist() == [-1]


def test_most_specific_network_wins_and_attributes_do_not_inherit() -> None:
    r = nets(
        ("10.0.0.0/8", ("US", 1, "ONE")),
        ("10.1.0.0/16", ("DE", None, None)),
        ("10.1.2.0/24", ("FR", 3, "THREE")),
    )
    assert rows(r) == [
        (ip("10.0.0.0"), ip("10.0.255.255"), ("US", 1, "ONE")),
        (ip("10.1.0.0"), ip("10.1.1.255"), ("DE", None, None)),
        (ip("10.1.2.0"), ip("10.1.2.255"), ("FR", 3, "THREE")),
        (ip("10.1.3.0"), ip("10.1.255.255"), ("DE", None, None)),
        (ip("10.2.0.0"), ip("10.255.255.255"), ("US", 1, "ONE")),
    ]


def test_nested_network_with_equal_attributes_merges_away() -> None:
    same = ("AU", 38803, "Wirefree")
    assert rows(nets(("1.0.4.0/22", same), ("1.0.5.0/24", same))) == [
        (ip("1.0.4.0"), ip("1.0.7.255"), same)
    ]


def test_merge_joins_only_touching_equal_rows() -> None:
    a, b = ("US", 1, "A"), ("US", 2, "B")
    r = Ranges(keys(0, 10, 20, 31, 41), keys(9, 19, 30, 39, 49), attrs(a, a, b, b, b))
    assert rows(merge_adjacent(r)) == [(0, 19, a), (20, 39, b), (41, 49, b)]


def test_merge_drops_rows_without_any_attribute() -> None:
    r = Ranges(keys(0, 10), keys(9, 19), attrs((None, None, None), ("SE", None, None)))
    assert rows(merge_adjacent(r)) == [(10, 19, ("SE", None, None))]


def test_from_disjoint_sorts() -> None:
    r = from_disjoint(keys(50, 0), keys(59, 9), attrs(("B", None, None), ("A", None, None)))
    assert rows(r) == [(0, 9, ("A", None, None)), (50, 59, ("B", None, None))]


def test_overlay_intersects_country_and_asn_tables() -> None:
    country = Ranges(keys(0, 100), keys(99, 199), attrs(("GB", None, None), ("SE", None, None)))
    asn = Ranges(keys(50, 150), keys(149, 300), attrs(("XX", 7, "SEVEN"), (None, 8, "EIGHT")))
    assert rows(overlay(country, asn)) == [
        (0, 49, ("GB", None, None)),
        (50, 99, ("GB", 7, "SEVEN")),
        (100, 149, ("SE", 7, "SEVEN")),
        (150, 199, ("SE", 8, "EIGHT")),
        (200, 300, (None, 8, "EIGHT")),
    ]


def test_overlay_falls_back_to_the_other_side() -> None:
    country = Ranges(keys(0), keys(9), attrs((None, 5, "FIVE")))
    asn = Ranges(keys(0), keys(9), attrs(("NO", None, None)))
    assert rows(overlay(country, asn)) == [(0, 9, ("NO", 5, "FIVE"))]


def test_overlay_reaches_the_top_of_the_address_space() -> None:
    top = 2**128 - 1
    country = Ranges(keys(top - 9), keys(top), attrs(("JP", None, None)))
    asn = Ranges(keys(top - 4), keys(top), attrs((None, 9, "NINE")))
    assert rows(overlay(country, asn)) == [
        (top - 9, top - 5, ("JP", None, None)),
        (top - 4, top, ("JP", 9, "NINE")),
    ]

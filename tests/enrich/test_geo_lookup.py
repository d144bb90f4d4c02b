"""lookup and enrich: vectorised answers equal a per-address reference; bad input gives nulls."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
from enrich_cases import SlowReference
from hypothesis import given, settings
from hypothesis import strategies as st

from botcensus.enrich import GeoTable, enrich, ipv4_from_int, lookup
from botcensus.ipaddr import hilo_from_keys
from botcensus.model import SIGHTING_SCHEMA

OUT_COLUMNS = ["source_cc", "source_asn", "source_as_name"]


def answers(
    geo: GeoTable, ips: list[str | None]
) -> list[tuple[str | None, int | None, str | None]]:
    table = lookup(geo, pa.array(ips, pa.string()))
    return [tuple(row.values()) for row in table.to_pylist()]  # type: ignore[misc]


def sample_addresses(geo: GeoTable, n: int, seed: int) -> list[str]:
    """Uniform IPv4, IPv6 drawn inside and around the table's ranges, and mapped IPv4."""
    rng = np.random.default_rng(seed)
    v4 = ipv4_from_int(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)).to_pylist()
    hi, lo = hilo_from_keys(geo.v6.start[rng.integers(0, len(geo.v6), n)])
    jitter = rng.integers(-(2**20), 2**20, n)
    v6 = [
        str(ipaddress.IPv6Address(max(0, ((int(h) << 64) | int(low)) + int(j))))
        for h, low, j in zip(hi, lo, jitter, strict=True)
    ]
    mapped = [f"::ffff:{a}" for a in v4[: n // 10]]
    return v4 + v6 + mapped


def test_lookup_equals_the_slow_reference_on_random_addresses(
    bundled: GeoTable, bundled_reference: SlowReference
) -> None:
    ips = sample_addresses(bundled, 3000, seed=20110316)
    got = answers(bundled, ips)
    assert got == [bundled_reference(ip) for ip in ips]
    assert sum(cc is not None for cc, _, _ in got) > len(ips) // 2


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.one_of(st.ip_addresses().map(str), st.none(), st.text(max_size=12)), max_size=40)
)
def test_lookup_equals_the_slow_reference_on_any_input(
    bundled: GeoTable, bundled_reference: SlowReference, ips: list[str | None]
) -> None:
    assert answers(bundled, ips) == [bundled_reference(ip) for ip in ips]


@pytest.mark.parametrize(
    "bad", ["", "not an ip", "1.2.3", "300.1.1.1", "01.1.1.1", "fe80::1%eth0", "::g", "1.1.1.1/24"]
)
def test_invalid_strings_give_nulls(bundled: GeoTable, bad: str) -> None:
    assert answers(bundled, [bad, "8.8.8.8"])[0] == (None, None, None)


def test_lookup_keeps_order_length_and_nulls(bundled: GeoTable) -> None:
    ips = ["8.8.8.8", None, "junk", "8.8.8.8", "2001:4860:4860::8888", None]
    got = answers(bundled, ips)
    assert len(got) == len(ips)
    assert got[1] == got[2] == got[5] == (None, None, None)
    assert got[0] == got[3] == got[4]


def test_lookup_output_schema(bundled: GeoTable) -> None:
    table = lookup(bundled, pa.array(["8.8.8.8"]))
    assert table.schema == pa.schema(
        [("source_cc", pa.string()), ("source_asn", pa.int64()), ("source_as_name", pa.string())]
    )


@pytest.mark.parametrize(
    "wrap",
    [
        lambda a: pa.chunked_array([a[:2], a[2:]]),
        lambda a: pa.chunked_array([], pa.string()) if len(a) == 0 else a.dictionary_encode(),
        lambda a: a.cast(pa.large_string()),
        lambda a: a.slice(0),
    ],
    ids=["chunked", "dictionary", "large_string", "slice"],
)
def test_lookup_accepts_string_like_arrays(bundled: GeoTable, wrap: object) -> None:
    plain = pa.array(["8.8.8.8", "1.1.1.1", None, "2606:4700:4700::1111"])
    assert lookup(bundled, wrap(plain)).equals(lookup(bundled, plain))  # type: ignore[operator]


def test_a_dictionary_column_is_looked_up_through_its_own_dictionary(bundled: GeoTable) -> None:
    """Taken as it comes (no second encoding): repeated entries, null indices, chunks."""
    plain = pa.array(["8.8.8.8", "1.1.1.1", None, "8.8.8.8", "2606:4700:4700::1111", "x"])
    repeated = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, None, 2, 3, 4], pa.int32()),
        pa.array(["8.8.8.8", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "x"]),
    )
    assert lookup(bundled, repeated).equals(lookup(bundled, plain))
    chunked = pa.chunked_array([repeated.slice(0, 2), repeated.slice(2)])
    assert lookup(bundled, chunked).equals(lookup(bundled, plain))
    apart = pa.chunked_array([plain[:3].dictionary_encode(), plain[3:].dictionary_encode()])
    assert lookup(bundled, apart).equals(lookup(bundled, plain))  # two dictionaries


def test_lookup_of_an_empty_column(bundled: GeoTable) -> None:
    assert lookup(bundled, pa.chunked_array([], pa.string())).num_rows == 0
    assert lookup(bundled, pa.array([], pa.string())).num_rows == 0


def test_lookup_of_a_sliced_array_uses_its_window(bundled: GeoTable) -> None:
    whole = pa.array(["1.1.1.1", "8.8.8.8", "bad"])
    assert answers(bundled, ["8.8.8.8", "bad"]) == [
        tuple(r.values()) for r in lookup(bundled, whole.slice(1)).to_pylist()
    ]


def test_ipv4_mapped_ipv6_answers_as_ipv4(bundled: GeoTable) -> None:
    assert answers(bundled, ["::ffff:8.8.8.8"]) == answers(bundled, ["8.8.8.8"])


def _sightings(ips: list[str]) -> pa.Table:
    t = datetime(2011, 3, 16, tzinfo=UTC)
    n = len(ips)
    return pa.Table.from_pydict(
        {
            "day": [date(2011, 3, 16)] * n,
            "source_ip": ips,
            "bot_id": [None] * n,
            "malware_family": ["rustock"] * n,
            "sensor": ["s1"] * n,
            "feed_name": ["botcensus-sinkhole"] * n,
            "first_seen": [t] * n,
            "last_seen": [t] * n,
            "hits": [1] * n,
            "source_cc": [None] * n,
            "source_asn": [None] * n,
            "source_as_name": [None] * n,
            "geo_db": [None] * n,
            "source_ip_hi": [None] * n,  # the address key: enrich leaves it alone
            "source_ip_lo": [None] * n,
        },
        schema=SIGHTING_SCHEMA,
    )


def test_enrich_fills_the_sighting_columns_in_place(bundled: GeoTable) -> None:
    table = _sightings(["8.8.8.8", "nonsense", "2001:4860:4860::8888"])
    out = enrich(table, bundled)
    assert out.schema == SIGHTING_SCHEMA
    assert out.select(OUT_COLUMNS).equals(lookup(bundled, table.column("source_ip")))
    assert out.column("geo_db").to_pylist() == [bundled.name] * 3
    assert out.drop_columns([*OUT_COLUMNS, "geo_db"]).equals(
        table.drop_columns([*OUT_COLUMNS, "geo_db"])
    )


def test_enrich_appends_missing_columns_and_reads_any_ip_column(bundled: GeoTable) -> None:
    table = pa.table({"peer": ["1.1.1.1", "9.9.9.9"], "n": [1, 2]})
    out = enrich(table, bundled, ip_column="peer")
    assert out.column_names == ["peer", "n", *OUT_COLUMNS, "geo_db"]
    assert out.column("source_asn").type == pa.int64()


def test_enrich_of_an_empty_table(bundled: GeoTable) -> None:
    out = enrich(_sightings([]), bundled)
    assert out.num_rows == 0
    assert out.schema == SIGHTING_SCHEMA

"""botcensus.ipaddr: one rule for what an address is, used by the feeds, the sketches and the
enrichment alike."""

from __future__ import annotations

import ipaddress
import socket

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botcensus import ipaddr

RULE = [
    ("192.0.2.1", "192.0.2.1"),
    ("255.255.255.255", "255.255.255.255"),
    ("127.0.0.1", "127.0.0.1"),  # loopback is an address (tests, a sinkhole on a bench)
    ("10.1.2.3", "10.1.2.3"),  # so is a private one (a sinkhole behind NAT)
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ("::1", "::1"),
    ("::ffff:192.0.2.1", "192.0.2.1"),  # IPv4-mapped: the IPv4 host
    ("::FFFF:c000:0201", "192.0.2.1"),
    ("0.0.0.0", None),  # unspecified: no host has it
    ("::", None),
    ("::ffff:0.0.0.0", None),
    ("fe80::1%eth0", None),  # a zone id means something only on the reporter's machine
    ("010.0.0.1", None),  # leading zero: octal to inet_aton
    ("1.2.3", None),
    ("256.1.1.1", None),
    ("192.0.2.0/24", None),
    ("2001:db8::/32", None),
    (" 192.0.2.1", None),
    ("", None),
    ("example.com", None),
    ("::zz", None),
]


@pytest.mark.parametrize(("text", "stored"), RULE)
def test_one_address_by_the_rule(text: str, stored: str | None) -> None:
    assert ipaddr.canonical_ip(text) == stored


def test_a_column_follows_the_same_rule() -> None:
    column = pa.chunked_array([[t for t, _ in RULE[:10]], [t for t, _ in RULE[10:]] + [None]])
    assert ipaddr.canonical_ips(column).to_pylist() == [s for _, s in RULE] + [None]


def test_the_key_of_canonical_text_is_the_key_of_any_text() -> None:
    """address_key(canonical=True) skips the quad check on canonical_ips' output and gives
    the same key, family and validity as the checked parse."""
    texts = [t for t, _ in RULE] + [None, "1.2.3.4", "9.9.9.9", "::ffff:10.0.0.1", "2001:db8::1"]
    canonical = ipaddr.canonical_ips(pa.array(texts, pa.string()))
    fast = ipaddr.address_key(canonical, canonical=True)
    checked = ipaddr.address_key(canonical)
    for a, b in zip(fast, checked, strict=True):
        assert a.tolist() == b.tolist()
    assert fast[2].tolist() == [t is not None for t in canonical.to_pylist()]


@given(st.ip_addresses())
def test_canonical_keys_agree_on_every_address(address: object) -> None:
    canonical = ipaddr.canonical_ips(pa.array([str(address), "192.0.2.7"]))
    fast = ipaddr.address_key(canonical, canonical=True)
    checked = ipaddr.address_key(canonical)
    assert [x.tolist() for x in fast] == [x.tolist() for x in checked]


def test_checked_ipv4_is_passed_as_it_is() -> None:
    """Feeds null bad IPv4 text in their mapping SQL (IPV4_RE); IPv6 is still checked."""
    column = pa.array(["192.0.2.1", None, "2001:DB8::1", "::"])
    assert ipaddr.canonical_ips(column, ipv4_checked=True).to_pylist() == [
        "192.0.2.1",
        None,
        "2001:db8::1",
        None,
    ]


@given(st.ip_addresses())
def test_the_rule_agrees_with_ipaddress_on_every_address(address: object) -> None:
    assert isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    expected = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        expected = address.ipv4_mapped
    stored = ipaddr.canonical_ip(str(address))
    assert stored == (None if expected.is_unspecified else str(expected))
    assert ipaddr.canonical_ips(pa.array([str(address)])).to_pylist() == [stored]


def test_prefix_membership_for_both_families() -> None:
    column = pa.array(
        ["192.0.2.7", "198.51.100.1", "2001:db8::5", "2001:db9::1", "::ffff:192.0.2.9", "x", None]
    )
    inside = ipaddr.in_prefixes(column, ["192.0.2.0/24", "2001:db8::/32"]).to_pylist()
    assert inside == [True, False, True, False, True, False, False]


def test_ipv4_int_sql_is_the_address_number() -> None:
    from botcensus.store.db import connect

    numbers = [0, 1, 255, 256, 65_535, 16_777_216, 3_221_225_985, 2**31, 2**32 - 1]
    numbers += [int(n) for n in np.random.default_rng(7).integers(0, 2**32, 2_000)]
    texts = pa.array([str(ipaddress.IPv4Address(n)) for n in numbers])
    con = connect()
    con.register("ips", pa.table({"ip": texts}))
    found = con.sql(f"SELECT {ipaddr.ipv4_int_sql('ip')} FROM ips").fetchall()  # noqa: S608
    assert [n for (n,) in found] == numbers


@pytest.mark.parametrize("text", ["2001:db8::1", "", "not an address"])
def test_ipv4_int_sql_is_null_for_other_text(text: str) -> None:
    from botcensus.store.db import connect

    sql = f"SELECT {ipaddr.ipv4_int_sql('$ip')}"
    assert connect().sql(sql, params={"ip": text}).fetchall() == [(None,)]


_HEXTET = st.one_of(st.just(0), st.just(1), st.just(0xFFFF), st.integers(0, 0xFFFF))


@st.composite
def _ipv6_texts(draw: st.DrawFn) -> str:
    """IPv6 text as writers and reports spell it: zero runs of every length and place (so
    the `::` rule and its ties are met), mapped and compatible forms, and the same value
    written as Python, the C library, upper case or in full."""
    groups = draw(st.lists(_HEXTET, min_size=8, max_size=8))
    address = ipaddress.IPv6Address(b"".join(g.to_bytes(2, "big") for g in groups))
    packed = address.packed
    spelling = draw(st.sampled_from(["python", "libc", "upper", "exploded"]))
    if spelling == "python":
        return str(address)
    if spelling == "libc":
        return socket.inet_ntop(socket.AF_INET6, packed)
    if spelling == "upper":
        return str(address).upper()
    return address.exploded


@given(st.one_of(_ipv6_texts(), st.text(alphabet="0123456789abcdefABCDEF:.%", max_size=45)))
def test_the_fast_path_for_stored_ipv6_text_agrees_with_ipaddress(text: str) -> None:
    """The round-trip through the C library takes only text already in the stored form;
    on any text (well formed, mis-spelt or hostile) the column gives what `canonical_ip`
    gives one value at a time."""
    assert ipaddr.canonical_ips(pa.array([text, "::1"])).to_pylist() == [
        ipaddr.canonical_ip(text),
        "::1",
    ]


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("::ffff:1.2.3.4", "1.2.3.4"),  # mapped: the IPv4 address
        ("::ffff:102:304", "1.2.3.4"),
        ("::1.2.3.4", "::102:304"),  # compatible: the C library writes a dotted quad
        ("::102:304", "::102:304"),
        ("::", None),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),  # the longer run is `::`
        ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),  # a tie: the first run
        ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),  # one zero group stays
        ("fe80::1%eth0", None),
        ("2001:DB8::1", "2001:db8::1"),
    ],
)
def test_ipv6_forms_the_fast_path_must_not_take(text: str, stored: str | None) -> None:
    assert ipaddr.canonical_ips(pa.array([text])).to_pylist() == [stored]

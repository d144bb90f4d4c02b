"""botcensus.ipaddr conversions: IPv4 text <-> integers vectorised, IPv6 per distinct value, mapped
addresses."""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botcensus.ipaddr import ipv4_from_int, ipv4_to_int, parse_ips

VALID_V4 = ["0.0.0.0", "1.2.3.4", "8.8.8.8", "192.0.2.255", "255.255.255.255", "10.0.0.1"]
INVALID_V4 = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.999",
    "01.2.3.4",
    "1.2.3.04",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4\n",
    "1..3.4",
    "1.2.3.",
    "a.b.c.d",
    "1.2.3.-4",
    "+1.2.3.4",
    "١.٢.٣.٤",
    "::1",
    "1.2.3.4/32",
    "0x7f.0.0.1",
]


@pytest.mark.parametrize("text", VALID_V4)
def test_ipv4_to_int_reads_dotted_quads(text: str) -> None:
    value, valid = ipv4_to_int(pa.array([text]))
    assert valid.tolist() == [True]
    assert int(value[0]) == int(ipaddress.IPv4Address(text))


@pytest.mark.parametrize("text", INVALID_V4)
def test_ipv4_to_int_marks_anything_else_invalid(text: str) -> None:
    value, valid = ipv4_to_int(pa.array([text]))
    assert valid.tolist() == [False]
    assert value.tolist() == [0]


def test_ipv4_to_int_treats_null_as_invalid() -> None:
    value, valid = ipv4_to_int(pa.array(["1.2.3.4", None], pa.string()))
    assert valid.tolist() == [True, False]
    assert value.dtype == np.uint32


def test_ipv4_from_int_writes_dotted_quads() -> None:
    values = np.array([0, 1, 0x01020304, 0xFFFFFFFF], dtype=np.uint32)
    assert ipv4_from_int(values).to_pylist() == ["0.0.0.0", "0.0.0.1", "1.2.3.4", "255.255.255.255"]


@given(st.lists(st.integers(0, 2**32 - 1), max_size=50))
def test_ipv4_text_round_trips(values: list[int]) -> None:
    texts = ipv4_from_int(np.array(values, dtype=np.uint32))
    assert texts.to_pylist() == [str(ipaddress.IPv4Address(v)) for v in values]
    back, valid = ipv4_to_int(texts)
    assert valid.all()
    assert back.tolist() == values


@given(st.lists(st.text(alphabet="0123456789.:abcdef x%/", max_size=20), max_size=30))
def test_parse_agrees_with_ipaddress_on_arbitrary_text(texts: list[str]) -> None:
    parsed = parse_ips(pa.array(texts, pa.string()))
    for i, text in enumerate(texts):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            address = None
        if address is not None and address.version == 6 and address.scope_id:
            address = None  # zone ids name a local link, never a routable source
        if address is not None and address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        assert bool(parsed.is_v4[i]) == (address is not None and address.version == 4), text
        assert bool(parsed.is_v6[i]) == (address is not None and address.version == 6), text
        if address is not None and address.version == 4:
            assert int(parsed.v4[i]) == int(address)
        if address is not None and address.version == 6:
            assert parsed.v6[i].ljust(16, b"\0") == address.packed


@pytest.mark.parametrize(
    ("text", "v4"),
    [("::ffff:8.8.8.8", "8.8.8.8"), ("::ffff:0808:0404", "8.8.4.4"), ("::FFFF:1.2.3.4", "1.2.3.4")],
)
def test_ipv4_mapped_ipv6_is_parsed_as_ipv4(text: str, v4: str) -> None:
    parsed = parse_ips(pa.array([text]))
    assert parsed.is_v4.tolist() == [True]
    assert not parsed.is_v6[0]
    assert int(parsed.v4[0]) == int(ipaddress.IPv4Address(v4))


@pytest.mark.parametrize(
    "text", ["2001:db8::1", "::1", "::", "fe80::1", "::1.2.3.4", "64:ff9b::1.2.3.4"]
)
def test_other_ipv6_stays_ipv6(text: str) -> None:
    parsed = parse_ips(pa.array([text]))
    assert parsed.is_v6.tolist() == [True]
    assert parsed.v6[0].ljust(16, b"\0") == ipaddress.IPv6Address(text).packed


@pytest.mark.parametrize("text", ["fe80::1%eth0", "2001:db8::1::2", "2001:db8:::1", "12345::", ":"])
def test_invalid_ipv6_is_neither_family(text: str) -> None:
    parsed = parse_ips(pa.array([text]))
    assert not parsed.is_v4[0]
    assert not parsed.is_v6[0]

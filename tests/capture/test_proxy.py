"""Tests of the PROXY protocol parser and builders: v1, v2, TLVs, partial and hostile input."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botcensus.capture.proxy import (
    MAX_REPLAY_TIMES,
    REASONS,
    REPLAY_TIME_RANGE_US,
    REPLAY_TLV_TYPE,
    V1_MAX_LEN,
    ProxyError,
    ProxyInfo,
    ProxyRefusedError,
    admit,
    build_v1,
    build_v2,
    compile_networks,
    is_trusted,
    parse,
)
from botcensus.ipaddr import canonical_ip
from botcensus.times import EARLIEST_TIME, LATEST_TIME

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V4_BODY = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 12345, 443)
V6_BODY = (
    ipaddress.IPv6Address("2001:db8::1").packed
    + ipaddress.IPv6Address("2001:db8::2").packed
    + struct.pack("!HH", 12345, 443)
)
NONE = ProxyInfo(None, None, None, None, None)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _v2(ver_cmd: int, fam: int, body: bytes) -> bytes:
    return SIG + struct.pack("!BBH", ver_cmd, fam, len(body)) + body


def _tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def _replay_tlv(time_us: int) -> bytes:
    return _tlv(REPLAY_TLV_TYPE, struct.pack("!q", time_us))


def _reason(data: bytes) -> str:
    with pytest.raises(ProxyError) as caught:
        parse(data)
    return caught.value.reason


def _info(data: bytes) -> ProxyInfo:
    result = parse(data)
    assert result is not None
    assert result[1] == len(data)
    return result[0]


# Version 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b"PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n",
            ProxyInfo("192.0.2.1", 12345, "198.51.100.2", 443, None),
        ),
        (
            b"PROXY TCP4 0.0.0.1 255.255.255.255 0 65535\r\n",
            ProxyInfo("0.0.0.1", 0, "255.255.255.255", 65535, None),
        ),
        (
            b"PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n",
            ProxyInfo("2001:db8::1", 12345, "2001:db8::2", 443, None),
        ),
        (
            b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 0000:0000::0001 1 2\r\n",
            ProxyInfo("2001:db8::1", 1, "::1", 2, None),
        ),
        (b"PROXY UNKNOWN\r\n", NONE),
        (b"PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n", NONE),
        (b"PROXY UNKNOWN whatever follows is ignored\r\n", NONE),
    ],
)
def test_v1_parses(line: bytes, expected: ProxyInfo) -> None:
    assert _info(line) == expected


@pytest.mark.parametrize(
    ("line", "source", "destination"),
    [
        (b"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", "192.0.2.1", "::1"),
        (b"PROXY TCP6 ::FFFF:c000:0201 ::ffff:198.51.100.2 1 2\r\n", "192.0.2.1", "198.51.100.2"),
        (b"PROXY TCP6 0:0:0:0:0:ffff:192.0.2.1 2001:db8::2 1 2\r\n", "192.0.2.1", "2001:db8::2"),
    ],
)
def test_v1_ipv4_mapped_addresses_are_stored_as_ipv4(
    line: bytes, source: str, destination: str
) -> None:
    info = _info(line)
    assert (info.source_ip, info.destination_ip) == (source, destination)


def test_v1_line_of_exactly_the_maximum_length_is_accepted() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (V1_MAX_LEN - 16) + b"\r\n"
    assert len(line) == V1_MAX_LEN
    assert parse(line) == (NONE, V1_MAX_LEN)


def test_v1_without_crlf_in_the_first_107_bytes_is_too_long() -> None:
    assert _reason(b"PROXY UNKNOWN " + b"x" * (V1_MAX_LEN - 14)) == "proxy_header_too_long"


def test_v1_crlf_just_past_the_maximum_is_too_long() -> None:
    line = b"PROXY UNKNOWN " + b"x" * (V1_MAX_LEN - 15) + b"\r\n"
    assert len(line) == V1_MAX_LEN + 1
    assert _reason(line) == "proxy_header_too_long"


def test_v1_one_byte_short_of_the_maximum_waits_for_more() -> None:
    assert parse(b"PROXY UNKNOWN " + b"x" * (V1_MAX_LEN - 15)) is None


@pytest.mark.parametrize(
    "line",
    [
        b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY\r\n",
        b"PROXY \r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY UNKNOWN ignored\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\t\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n",
        b"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.\xd9\xa3 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
        b"PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n",
        b"PROXY TCP6 12345::1 ::1 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 000001\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1_0 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa3 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
    ],
)
def test_v1_malformed(line: bytes) -> None:
    assert _reason(line) == "proxy_v1_malformed"


def test_v1_missing_space_after_proxy_fails_without_waiting_for_crlf() -> None:
    assert _reason(b"PROXYX") == "proxy_v1_malformed"


# Version 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (_v2(0x21, 0x11, V4_BODY), ProxyInfo("192.0.2.1", 12345, "198.51.100.2", 443, None)),
        (_v2(0x21, 0x21, V6_BODY), ProxyInfo("2001:db8::1", 12345, "2001:db8::2", 443, None)),
        (_v2(0x20, 0x00, b""), NONE),
        (_v2(0x20, 0x11, V4_BODY), NONE),
        (_v2(0x20, 0x31, b"\xff" * 216), NONE),
        (_v2(0x20, 0xFF, b"junk"), NONE),
        (_v2(0x21, 0x00, b""), NONE),
        (_v2(0x21, 0x00, V4_BODY + _replay_tlv(5)), NONE),
    ],
    ids=[
        "tcp4",
        "tcp6",
        "local",
        "local-tcp4",
        "local-unix",
        "local-junk",
        "unspec",
        "unspec-body",
    ],
)
def test_v2_parses(header: bytes, expected: ProxyInfo) -> None:
    assert _info(header) == expected


def test_v2_ipv4_mapped_addresses_are_stored_as_ipv4() -> None:
    mapped = ipaddress.IPv6Address("::ffff:192.0.2.1").packed
    body = mapped + ipaddress.IPv6Address("::ffff:198.51.100.2").packed + struct.pack("!HH", 1, 2)
    info = _info(_v2(0x21, 0x21, body))
    assert (info.source_ip, info.destination_ip) == ("192.0.2.1", "198.51.100.2")


def _v2_addresses(source: str, destination: str) -> bytes:
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    family = 0x11 if src.version == 4 else 0x21
    return _v2(0x21, family, src.packed + dst.packed + struct.pack("!HH", 1, 2))


# No host has the unspecified address: a dataset holding one fails every roll-up (ipaddr).
UNSPECIFIED = [
    b"PROXY TCP4 0.0.0.0 192.0.2.1 1234 80\r\n",
    b"PROXY TCP4 192.0.2.1 0.0.0.0 1234 80\r\n",
    b"PROXY TCP6 :: 2001:db8::1 1234 80\r\n",
    b"PROXY TCP6 0:0:0:0:0:0:0:0 2001:db8::1 1234 80\r\n",
    b"PROXY TCP6 2001:db8::1 :: 1234 80\r\n",
    b"PROXY TCP6 ::ffff:0.0.0.0 2001:db8::1 1234 80\r\n",
    _v2_addresses("0.0.0.0", "192.0.2.1"),
    _v2_addresses("192.0.2.1", "0.0.0.0"),
    _v2_addresses("::", "2001:db8::1"),
    _v2_addresses("2001:db8::1", "::"),
    _v2_addresses("::ffff:0.0.0.0", "2001:db8::1"),
]


@pytest.mark.parametrize("header", UNSPECIFIED)
def test_an_unspecified_address_is_refused(header: bytes) -> None:
    assert _reason(header) == "proxy_unspecified_address"


# IPv6 is stored as ipaddress writes it (RFC 5952), whatever the C library's inet_ntop prints:
# glibc prints IPv4-compatible addresses (first 96 bits zero) with a dotted quad.
@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("::1.2.3.4", "::102:304"),  # glibc: ::1.2.3.4
        ("::102:304", "::102:304"),
        ("::0.1.0.0", "::1:0"),  # glibc: ::0.1.0.0
        ("::0.0.0.1", "::1"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),  # IPv4-translated (SIIT)
        ("64:ff9b::192.0.2.1", "64:ff9b::c000:201"),  # NAT64
        ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # the first longest zero run
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  # one zero group stays
        ("::FFFF:C000:0201", "192.0.2.1"),
    ],
)
def test_v1_and_v2_spell_an_address_as_ipaddress_does(sent: str, stored: str) -> None:
    v1 = _info(b"PROXY TCP6 %s %s 1 2\r\n" % (sent.encode(), sent.encode()))
    v2 = _info(_v2_addresses(sent, sent))
    assert (v1.source_ip, v1.destination_ip) == (stored, stored)
    assert (v2.source_ip, v2.destination_ip) == (stored, stored)


def test_ordinary_addresses_are_read_without_python_ipaddress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """parse runs once per connection; ipaddress costs ~20x what inet_pton/inet_ntop do, so
    only a spelling inet_ntop may get wrong (a dotted quad) is left to it."""
    headers = [
        b"PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n",
        b"PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 12345 443\r\n",
        _v2(0x21, 0x11, V4_BODY),
        _v2(0x21, 0x21, V6_BODY),
        _v2_addresses("::ffff:192.0.2.1", "fe80::1"),
    ]

    def refuse(*_: object) -> None:
        raise AssertionError("ipaddress used on the per-connection path")

    for name in ("ip_address", "IPv4Address", "IPv6Address"):
        monkeypatch.setattr(ipaddress, name, refuse)
    assert [_info(header).source_ip for header in headers] == [
        "192.0.2.1", "2001:db8::1", "192.0.2.1", "2001:db8::1", "192.0.2.1",
    ]  # fmt: skip


def test_v2_unknown_tlvs_are_skipped() -> None:
    tlvs = (
        _tlv(0x04, b"")  # NOOP
        + _tlv(0x01, b"h2")  # ALPN
        + _tlv(0x20, b"\x01\x00\x00\x00\x00" + _tlv(0x21, b"TLSv1.3"))  # SSL with a sub-TLV
        + _tlv(0xE5, b"\x00" * 300)
        + _replay_tlv(42)
        + _tlv(0xF0, b"")
    )
    assert _info(_v2(0x21, 0x11, V4_BODY + tlvs)).replay_times_us == (42,)


def test_v2_without_tlvs_has_no_replay_time() -> None:
    assert _info(_v2(0x21, 0x21, V6_BODY)).replay_times_us is None


V2_MALFORMED = [
    (0x11, 0x11, V4_BODY, "proxy_v2_bad_version"),
    (0x01, 0x11, V4_BODY, "proxy_v2_bad_version"),
    (0x31, 0x11, V4_BODY, "proxy_v2_bad_version"),
    (0x22, 0x11, V4_BODY, "proxy_v2_bad_command"),
    (0x2F, 0x11, V4_BODY, "proxy_v2_bad_command"),
    (0x21, 0x31, b"\x00" * 216, "proxy_v2_bad_family"),
    (0x21, 0x32, b"\x00" * 216, "proxy_v2_bad_family"),
    (0x21, 0x12, V4_BODY, "proxy_v2_bad_family"),
    (0x21, 0x22, V6_BODY, "proxy_v2_bad_family"),
    (0x21, 0x10, V4_BODY, "proxy_v2_bad_family"),
    (0x21, 0x41, V4_BODY, "proxy_v2_bad_family"),
    (0x21, 0x13, V4_BODY, "proxy_v2_bad_family"),
    (0x21, 0x11, V4_BODY[:-1], "proxy_v2_bad_length"),
    (0x21, 0x21, V4_BODY, "proxy_v2_bad_length"),
    (0x21, 0x11, V4_BODY + b"\xe0", "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + b"\xe0\x00", "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + b"\x04\x00\x01", "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(0x04, b"") + b"\x05\x00\x09abc", "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b"\x00" * 7), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b"\x00" * 9), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b"\x00" * 17), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b""), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _replay_tlv(1) + _replay_tlv(2), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b"\x00" * 8 * 4097), "proxy_v2_bad_tlv"),
    (0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, b"\x00" * 8 * 8000), "proxy_v2_bad_tlv"),
]


@pytest.mark.parametrize(("ver_cmd", "fam", "body", "reason"), V2_MALFORMED)
def test_v2_malformed(ver_cmd: int, fam: int, body: bytes, reason: str) -> None:
    assert _reason(_v2(ver_cmd, fam, body)) == reason


def test_v2_replay_tlv_of_exactly_the_maximum_number_of_times_is_accepted() -> None:
    times = bytes(range(8)) * MAX_REPLAY_TIMES
    info = _info(_v2(0x21, 0x11, V4_BODY + _tlv(REPLAY_TLV_TYPE, times)))
    assert info.replay_times_us is not None
    assert len(info.replay_times_us) == MAX_REPLAY_TIMES


def test_v2_tlv_cannot_borrow_bytes_from_the_payload() -> None:
    header = _v2(0x21, 0x11, V4_BODY + struct.pack("!BH", 0xE5, 4))
    assert _reason(header + b"DATA") == "proxy_v2_bad_tlv"


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        (SIG + b"\x11", "proxy_v2_bad_version"),
        (SIG + b"\x23", "proxy_v2_bad_command"),
        (SIG + b"\x21\x31", "proxy_v2_bad_family"),
        (SIG + b"\x21\x11\x00\x0b", "proxy_v2_bad_length"),
    ],
)
def test_v2_bad_fixed_field_fails_as_soon_as_it_arrives(prefix: bytes, reason: str) -> None:
    assert _reason(prefix) == reason


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /gate.php HTTP/1.0\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXZ",
        b"PRX",
        b"\x00",
        b"\r\n\r\n\r\n",
        b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c",
    ],
)
def test_non_proxy_bytes_are_a_missing_header(data: bytes) -> None:
    assert _reason(data) == "proxy_header_missing"


def test_every_reason_in_the_tests_is_catalogued() -> None:
    reasons = {"proxy_header_missing", "proxy_header_too_long", "proxy_v1_malformed"}
    reasons |= {reason for *_, reason in V2_MALFORMED}
    reasons |= {_reason(header) for header in UNSPECIFIED}
    assert reasons == REASONS


EVENTS_DOC = Path(__file__).parents[2] / "docs" / "events.md"


@pytest.mark.parametrize(
    "reason",
    [
        *sorted(REASONS),
        "PROXY header from a peer not in trusted_proxies",
        "replay time outside 1970-01-01 to 2099-12-31",
    ],
)
def test_every_reason_is_in_the_event_catalogue(reason: str) -> None:
    assert f"| `{reason}` |" in EVENTS_DOC.read_text(encoding="utf-8")


def test_proxy_error_is_a_value_error_with_a_reason() -> None:
    with pytest.raises(ValueError, match="proxy_header_missing") as caught:
        parse(b"GET /")
    assert isinstance(caught.value, ProxyError)
    assert caught.value.reason == "proxy_header_missing"


# Partial headers and what follows them

VALID_HEADERS = [
    b"PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n",
    b"PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n",
    b"PROXY UNKNOWN\r\n",
    _v2(0x21, 0x11, V4_BODY),
    _v2(0x21, 0x21, V6_BODY + _tlv(0x04, b"pad") + _replay_tlv(1_700_000_000_000_000)),
    _v2(0x20, 0x00, b""),
    _v2(0x21, 0x00, b""),
    build_v1(("192.0.2.1", 1), ("192.0.2.2", 2)),
    build_v2(("2001:db8::1", 1), ("2001:db8::2", 2), replay_times_us=[-1]),
]


@pytest.mark.parametrize("header", VALID_HEADERS)
def test_every_incomplete_prefix_waits_for_more(header: bytes) -> None:
    for length in range(len(header)):
        assert parse(header[:length]) is None, header[:length]


@pytest.mark.parametrize("header", VALID_HEADERS)
@pytest.mark.parametrize(
    "payload",
    [b"GET /gate.php HTTP/1.1\r\n\r\n", b"\r\n", b"PROXY UNKNOWN\r\n", SIG, b"\x00" * 200],
)
def test_payload_after_the_header_is_not_consumed(header: bytes, payload: bytes) -> None:
    result = parse(header + payload)
    assert result is not None
    assert result[1] == len(header)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("header", VALID_HEADERS)
def test_accepts_any_bytes_like(
    wrap: Callable[[bytes], bytes | bytearray | memoryview], header: bytes
) -> None:
    assert parse(wrap(header + b"payload")) == parse(header)


def test_empty_buffer_waits_for_more() -> None:
    assert parse(b"") is None


# Builders


def test_build_v1_tcp4() -> None:
    header = build_v1(("192.0.2.1", 12345), ("198.51.100.2", 443))
    assert header == b"PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n"


def test_build_v1_tcp6_is_compressed() -> None:
    header = build_v1(("2001:DB8:0:0:0:0:0:1", 1), ("::1", 2))
    assert header == b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n"


def test_build_v2_tcp4_matches_the_spec_layout() -> None:
    header = build_v2(("192.0.2.1", 12345), ("198.51.100.2", 443))
    assert header == SIG + b"\x21\x11\x00\x0c" + V4_BODY


def test_build_v2_tcp6_matches_the_spec_layout() -> None:
    header = build_v2(("2001:db8::1", 12345), ("2001:db8::2", 443))
    assert header == SIG + b"\x21\x21\x00\x24" + V6_BODY


def test_build_v2_replay_tlv_layout() -> None:
    header = build_v2(("192.0.2.1", 12345), ("198.51.100.2", 443), replay_times_us=[1])
    assert header == SIG + b"\x21\x11\x00\x17" + V4_BODY + b"\xe0\x00\x08" + b"\x00" * 7 + b"\x01"


def test_replay_tlv_carries_one_time_per_pipelined_request() -> None:
    times = [1_300_000_000_000_000 + i for i in range(3)]
    header = build_v2(("192.0.2.1", 12345), ("198.51.100.2", 443), replay_times_us=times)
    assert _info(header).replay_times_us == tuple(times)


@pytest.mark.parametrize("count", [0, MAX_REPLAY_TIMES + 1])
def test_build_v2_limits_the_number_of_replay_times(count: int) -> None:
    with pytest.raises(ValueError, match="replay times"):
        build_v2(("192.0.2.1", 1), ("192.0.2.2", 2), replay_times_us=[0] * count)


@pytest.mark.parametrize(
    "time_us", [0, 1, -1, 1_700_000_000_123_456, -86_400_000_000, INT64_MIN, INT64_MAX]
)
@pytest.mark.parametrize(
    ("src", "dst"),
    [(("192.0.2.1", 1), ("192.0.2.2", 2)), (("2001:db8::1", 1), ("2001:db8::2", 2))],
)
def test_replay_tlv_roundtrip(src: tuple[str, int], dst: tuple[str, int], time_us: int) -> None:
    info = _info(build_v2(src, dst, replay_times_us=[time_us]))
    assert info.replay_times_us == (time_us,)
    assert (info.source_ip, info.source_port) == src


@pytest.mark.parametrize("build", [build_v1, build_v2])
@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (("192.0.2.1", 1), ("2001:db8::1", 2), "same address family"),
        (("::ffff:192.0.2.1", 1), ("192.0.2.2", 2), "same address family"),
        (("192.0.2.1", -1), ("192.0.2.2", 2), "port -1"),
        (("192.0.2.1", 1), ("192.0.2.2", 65536), "port 65536"),
        (("fe80::2", 1), ("fe80::1%eth0", 2), "scope"),
        (("192.0.2.256", 1), ("192.0.2.2", 2), "does not appear to be"),
        (("example.org", 1), ("192.0.2.2", 2), "does not appear to be"),
    ],
)
def test_builders_reject_bad_input(
    build: Callable[[tuple[str, int], tuple[str, int]], bytes],
    src: tuple[str, int],
    dst: tuple[str, int],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        build(src, dst)


@pytest.mark.parametrize("time_us", [INT64_MIN - 1, INT64_MAX + 1])
def test_build_v2_rejects_replay_time_outside_int64(time_us: int) -> None:
    with pytest.raises(ValueError, match="int64"):
        build_v2(("192.0.2.1", 1), ("192.0.2.2", 2), replay_times_us=[time_us])


# Replayed times: every stored event time is in [times.EARLIEST_TIME, times.LATEST_TIME)


def test_the_replay_range_is_the_models_time_range() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    low, high = (epoch + timedelta(microseconds=t) for t in REPLAY_TIME_RANGE_US)
    assert (low, high) == (EARLIEST_TIME, LATEST_TIME)


def _admit(time_us: int) -> None:
    header = build_v2(("192.0.2.1", 1), ("192.0.2.2", 2), replay_times_us=[1, time_us])
    admit(header, "127.0.0.1", compile_networks(["127.0.0.0/8"]), replay=True)


@pytest.mark.parametrize(
    "time_us",
    [REPLAY_TIME_RANGE_US[0], REPLAY_TIME_RANGE_US[1] - 1, 1_300_000_000_000_000],
    ids=["1970-01-01", "2099-12-31T23:59:59.999999", "2011"],
)
def test_replay_times_in_range_are_admitted(time_us: int) -> None:
    _admit(time_us)


@pytest.mark.parametrize(
    "time_us",
    [
        REPLAY_TIME_RANGE_US[0] - 1,
        REPLAY_TIME_RANGE_US[1],
        253_402_300_799_000_000,  # 9999-12-31T23:59:59: the census's weeks overflow
        INT64_MAX,
        INT64_MIN,
    ],
    ids=["before-1970", "2100-01-01", "9999-12-31", "int64-max", "int64-min"],
)
def test_replay_times_out_of_range_are_refused_naming_the_range(time_us: int) -> None:
    with pytest.raises(ProxyRefusedError) as caught:
        _admit(time_us)
    assert str(caught.value) == "replay time outside 1970-01-01 to 2099-12-31"


# Trusted proxies


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("10.1.2.3", True),
        ("::1", True),
        ("2001:db8:0:1::7", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.9.9.9", True),
        ("::ffff:192.0.2.1", True),
        ("fe80::1%eth0", False),
        ("11.0.0.1", False),
        ("192.0.2.2", False),
        ("::2", False),
        ("2001:db8:0:2::7", False),
        ("::ffff:11.0.0.1", False),
        ("::127.0.0.1", False),
        ("", False),
        ("/run/botcensus.sock", False),
    ],
)
def test_is_trusted(peer: str, trusted: bool) -> None:
    networks = compile_networks(
        ["127.0.0.0/8", "10.0.0.0/8", "::1", "2001:db8:0:1::/64", "::ffff:192.0.2.1/128"]
    )
    assert is_trusted(peer, networks) is trusted


def test_mapped_network_becomes_ipv4() -> None:
    assert compile_networks(["::ffff:10.0.0.0/104"]) == (ipaddress.IPv4Network("10.0.0.0/8"),)


def test_no_networks_trusts_nobody() -> None:
    assert not is_trusted("127.0.0.1", compile_networks([]))


def test_compile_networks_rejects_host_bits() -> None:
    with pytest.raises(ValueError, match="host bits"):
        compile_networks(["10.0.0.1/8"])


def test_compile_networks_rejects_a_lone_string() -> None:
    with pytest.raises(TypeError):
        compile_networks("127.0.0.0/8")


# Properties

ports = st.integers(min_value=0, max_value=65535)
versions: st.SearchStrategy[Literal[4, 6]] = st.sampled_from([4, 6])
address_pairs = versions.flatmap(lambda v: st.tuples(st.ip_addresses(v=v), st.ip_addresses(v=v)))


@given(address_pairs, ports, ports)
def test_build_v1_then_parse_roundtrips(
    pair: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...], sport: int, dport: int
) -> None:
    src, dst = pair
    header = build_v1((str(src), sport), (str(dst), dport))
    source, destination = canonical_ip(str(src)), canonical_ip(str(dst))
    if source is None or destination is None:
        assert _reason(header + b"x") == "proxy_unspecified_address"
        return
    assert parse(header + b"x") == (ProxyInfo(source, sport, destination, dport, None), len(header))


@given(
    address_pairs,
    ports,
    ports,
    st.none() | st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
)
def test_build_v2_then_parse_roundtrips(
    pair: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...],
    sport: int,
    dport: int,
    time_us: int | None,
) -> None:
    src, dst = pair
    times = None if time_us is None else [time_us]
    header = build_v2((str(src), sport), (str(dst), dport), replay_times_us=times)
    source, destination = canonical_ip(str(src)), canonical_ip(str(dst))
    if source is None or destination is None:
        assert _reason(header + b"x") == "proxy_unspecified_address"
        return
    assert parse(header + b"x") == (
        ProxyInfo(source, sport, destination, dport, None if times is None else tuple(times)),
        len(header),
    )


# Packed addresses with the prefixes whose spelling is special: IPv4-compatible (::/96),
# IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), NAT64, 6to4, link-local,
# loopback and unspecified; and groups drawn so that zero runs of every length occur.
_V6_PREFIXES = [
    b"", bytes(12), bytes(10) + b"\xff\xff", bytes(8) + b"\xff\xff\0\0", bytes.fromhex("0064ff9b"),
    b"\x20\x02", b"\xfe\x80", bytes(14), bytes(15), bytes(16),
]  # fmt: skip
_groups = st.sampled_from([0, 0, 0, 1, 0xFFFF]) | st.integers(0, 0xFFFF)
packed_v6 = st.tuples(st.sampled_from(_V6_PREFIXES), st.binary(min_size=16, max_size=16)).map(
    lambda pair: pair[0] + pair[1][len(pair[0]) :]
) | st.lists(_groups, min_size=8, max_size=8).map(lambda groups: struct.pack("!8H", *groups))
packed_v4 = st.binary(min_size=4, max_size=4) | st.sampled_from([bytes(4), b"\x7f\0\0\1"])


def _v1_spellings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """The ways a balancer may write `address` in a v1 line."""
    if address.version == 4:
        return [str(address)]
    spellings = [
        address.compressed, address.exploded, address.exploded.upper(),
        socket.inet_ntop(socket.AF_INET6, address.packed),  # glibc's: a dotted quad at times
    ]  # fmt: skip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        spellings.append(f"::ffff:{address.ipv4_mapped}")
    return spellings


@settings(max_examples=500)
@given(packed_v4 | packed_v6)
def test_addresses_are_stored_as_canonical_ip_stores_them(packed: bytes) -> None:
    address = ipaddress.ip_address(packed)
    expected = canonical_ip(str(address))
    v1 = [b"PROXY TCP%d %s %s 1 2\r\n" % (address.version, t.encode(), t.encode())
          for t in _v1_spellings(address)]  # fmt: skip
    family = 0x11 if address.version == 4 else 0x21
    for header in [_v2(0x21, family, packed + packed + struct.pack("!HH", 1, 2)), *v1]:
        if expected is None:
            assert _reason(header) == "proxy_unspecified_address", header
        else:
            info = _info(header)
            assert (info.source_ip, info.destination_ip) == (expected, expected), header


@given(st.text(alphabet="0123456789abcdefABCDEF:.%", min_size=1, max_size=41))
def test_v1_takes_the_ipv6_text_ipaddress_takes(text: str) -> None:
    header = f"PROXY TCP6 {text} 2001:db8::2 1 2\r\n".encode()
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        address = None
    if address is None or address.scope_id is not None:  # no scope id in a PROXY header
        assert _reason(header) == "proxy_v1_malformed"
    elif (expected := canonical_ip(text)) is None:
        assert _reason(header) == "proxy_unspecified_address"
    else:
        assert _info(header).source_ip == expected


@given(st.sampled_from([b"", b"PROXY ", b"PROXY TCP4 ", SIG, SIG + b"\x21"]), st.binary())
def test_arbitrary_bytes_parse_or_raise_proxy_error(start: bytes, rest: bytes) -> None:
    data = start + rest
    reason: str | None = None
    try:
        result = parse(data)
    except ProxyError as error:
        reason, result = error.reason, None
    assert reason is None or reason in REASONS
    assert result is None or 0 < result[1] <= len(data)

"""Text from the network as it is stored: UTF-8, invalid bytes and control characters escaped."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botcensus.capture.text import ESCAPED_CATEGORIES, network_text, received_text, stored_text


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (b"TestBot/1.0 (compatible; x)", "TestBot/1.0 (compatible; x)"),
        ("caf\u00e9 \u4e2d\u6587 \U0001f600".encode(), "caf\u00e9 \u4e2d\u6587 \U0001f600"),
        (b"caf\xe9", "caf\\xe9"),
        (b"\xff\xfe", "\\xff\\xfe"),
        (b"a\x00b", "a\\x00b"),
        (b"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        (b"line\r\nbreak", "line\\x0d\\x0abreak"),
        (b"tab\there", "tab\\x09here"),
        (b"del\x7f", "del\\x7f"),
        ("c1\u0085\u009b".encode(), "c1\\u0085\\u009b"),
        ("abc\u202edef".encode(), "abc\\u202edef"),
        ("zero\u200bwidth\ufeff".encode(), "zero\\u200bwidth\\ufeff"),
        ("sep\u2028\u2029".encode(), "sep\\u2028\\u2029"),
        ("tag\U000e0041".encode(), "tag\\U000e0041"),
        (b"a\\x00b", "a\\x00b"),  # a backslash the client sent stays as sent
    ],
    ids=[
        "ascii",
        "utf-8",
        "latin-1-byte",
        "invalid-bytes",
        "nul",
        "esc",
        "crlf",
        "tab",
        "del",
        "c1",
        "rlo",
        "zero-width",
        "separators",
        "tag",
        "literal-backslash",
    ],
)
def test_network_text(raw: bytes, stored: str) -> None:
    assert network_text(raw) == stored


def test_an_invalid_byte_and_a_c1_character_stay_distinct() -> None:
    assert network_text(b"\x85") != network_text("\u0085".encode())


def test_printable_non_ascii_is_kept() -> None:
    text = "\u00a0\u3000 \u00e9\u00df"  # spaces other than ASCII's are not escaped
    assert stored_text(text) == text


@given(st.binary(max_size=64))
def test_stored_text_holds_no_control_or_format_character(raw: bytes) -> None:
    stored = network_text(raw)
    assert not any(unicodedata.category(c) in ESCAPED_CATEGORIES for c in stored)
    stored.encode("utf-8")  # raises for a lone surrogate, which Arrow could not store


@given(st.text(max_size=64))
def test_escaping_twice_changes_nothing(text: str) -> None:
    once = stored_text(text)
    assert stored_text(once) == once


@given(st.text(max_size=32), st.text(max_size=32))
def test_distinct_text_without_backslashes_stays_distinct(a: str, b: str) -> None:
    if a != b and "\\" not in a + b:
        assert stored_text(a) != stored_text(b)


def test_an_invalid_byte_is_one_character_as_received_and_spelled_as_sent() -> None:
    received = received_text(b"a\xff\xc3(")  # \xc3 would begin a two-byte character
    assert len(received) == 4
    assert stored_text(received) == "a\\xff\\xc3("


@given(st.binary(max_size=64))
def test_received_text_loses_nothing(raw: bytes) -> None:
    assert received_text(raw).encode("utf-8", "surrogateescape") == raw


@given(st.binary(max_size=64))
def test_stored_text_spells_invalid_bytes_as_python_backslashreplace_does(raw: bytes) -> None:
    stored = stored_text(raw.decode("utf-8", "backslashreplace"))
    assert network_text(raw) == stored_text(received_text(raw)) == stored

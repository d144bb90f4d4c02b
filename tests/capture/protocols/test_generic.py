"""Tests of the generic decoder: rule matching, bot-id sources, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botcensus.capture.protocols import Decoded, Request
from botcensus.capture.protocols.generic import MAX_BOT_ID, make_decoder
from botcensus.capture.text import stored_text
from botcensus.config import GenericRule

UA = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"


def _request(
    *,
    method: str = "GET",
    host: str | None = "bot.example-cnc.net",
    path: str = "/gate.php",
    query: str = "",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> Request:
    sent = (("Host", host),) if host is not None else ()
    return Request(
        method=method,
        host=host,
        path=path,
        query=query,
        headers=(*sent, ("User-Agent", UA), *headers),
        body=body,
        body_length=len(body),
    )


def _decode(request: Request, **rule: Any) -> Decoded | None:
    rule.setdefault("family", "testbot")
    return make_decoder([GenericRule(**rule)])(request)


def _bot_id(request: Request, **rule: Any) -> str | None:
    rule.setdefault("path", "gate")
    decoded = _decode(request, **rule)
    assert decoded is not None
    return decoded.bot_id


# Matching


@pytest.mark.parametrize(
    ("glob", "host", "matches"),
    [
        ("*.example-cnc.net", "bot.example-cnc.net", True),
        ("*.example-cnc.net", "a.b.example-cnc.net", True),
        ("*.example-cnc.net", "BOT.Example-CNC.NET", True),
        ("*.EXAMPLE-cnc.net", "bot.example-cnc.net", True),
        ("*.example-cnc.net", "bot.example-cnc.net:8080", True),
        ("*.example-cnc.net", "bot.example-cnc.net.", True),
        ("*.example-cnc.net", "example-cnc.net", False),
        ("*.example-cnc.net", "bot.example-cnc.net.evil.org", False),
        ("*.example-cnc.net", "evil.org", False),
        ("*.example-cnc.net", None, False),
        ("91.212.45.*", "91.212.45.10:80", True),
        ("91.212.45.*", "91.212.46.10", False),
        ("2001:db8::*", "[2001:db8::1]:443", True),
        ("2001:db8::*", "[2001:db8::1]", True),
        ("2001:db8::1", "2001:db8::1", True),
        ("cnc-?.net", "cnc-7.net", True),
    ],
)
def test_host_glob(glob: str, host: str | None, matches: bool) -> None:
    decoded = _decode(_request(host=host), host=glob)
    assert (decoded == Decoded("testbot")) is matches


@pytest.mark.parametrize(
    ("regex", "path", "matches"),
    [
        (r"^/gate\.php$", "/gate.php", True),
        (r"^/gate\.php$", "/x/gate.php", False),
        (r"^/gate\.php$", "/gate.php.bak", False),
        (r"gate\.php", "/panel/gate.php", True),
        (r"^/[a-f0-9]{8}/in$", "/deadbeef/in", True),
        (r"^/[a-f0-9]{8}/in$", "/DEADBEEF/in", False),
    ],
)
def test_path_regex(regex: str, path: str, matches: bool) -> None:
    assert (_decode(_request(path=path), path=regex) is not None) is matches


def test_path_regex_does_not_see_the_query() -> None:
    request = _request(path="/index.php", query="page=gate.php")
    assert _decode(request, path=r"gate\.php") is None


@pytest.mark.parametrize(
    ("host", "path", "matches"),
    [
        ("bot.example-cnc.net", "/gate.php", True),
        ("bot.example-cnc.net", "/index.php", False),
        ("evil.org", "/gate.php", False),
    ],
)
def test_host_and_path_must_both_match(host: str, path: str, matches: bool) -> None:
    decoded = _decode(_request(host=host, path=path), host="*.example-cnc.net", path="gate")
    assert (decoded is not None) is matches


def test_first_matching_rule_wins() -> None:
    decode = make_decoder(
        [
            GenericRule(family="narrow", host="bot.example-cnc.net", path="^/gate"),
            GenericRule(family="broad", host="*.example-cnc.net"),
            GenericRule(family="never", path="gate"),
        ]
    )
    assert decode(_request()) == Decoded("narrow")
    assert decode(_request(path="/other")) == Decoded("broad")
    assert decode(_request(host="evil.org")) == Decoded("never")


def test_no_rules_claim_nothing() -> None:
    assert make_decoder([])(_request()) is None


def test_matching_rule_without_bot_id_source_gives_none_id() -> None:
    assert _decode(_request(), path="gate") == Decoded("testbot", None)


# Bot-id sources


@pytest.mark.parametrize(
    ("query", "bot_id"),
    [
        ("id=A1B2C3D4&v=2", "A1B2C3D4"),
        ("v=2&id=A1B2C3D4", "A1B2C3D4"),
        ("id=first&id=second", "first"),
        ("id=a%20b", "a b"),
        ("id=+padded+", "padded"),
        ("id=", None),
        ("id", None),
        ("ident=x", None),
        ("", None),
        ("%zz=1&id=%zz", "%zz"),
        # Percent-decoded as UTF-8; invalid bytes and control characters as escapes
        # (docs/events.md): nothing a terminal or a CSV reader would act on, and distinct
        # invalid ids stay distinct.
        ("id=caf%C3%A9", "caf\u00e9"),
        ("id=%ff%fe", "\\xff\\xfe"),
        ("id=%fe%ff", "\\xfe\\xff"),
        ("id=a%00b", "a\\x00b"),
        ("id=%1b%5b2J%1b%5bH", "\\x1b[2J\\x1b[H"),
        ("id=a%0d%0aSet-Cookie:x", "a\\x0d\\x0aSet-Cookie:x"),
        ("id=abc%e2%80%aegpj.exe", "abc\\u202egpj.exe"),
        ("id=a%c2%85b", "a\\u0085b"),
        ("id=a%85b", "a\\x85b"),
    ],
)
def test_bot_id_from_query(query: str, bot_id: str | None) -> None:
    assert _bot_id(_request(query=query), bot_id_query="id") == bot_id


@pytest.mark.parametrize("name", ["X-Bot-Id", "x-bot-id", "X-BOT-ID"])
def test_bot_id_from_header_any_case(name: str) -> None:
    request = _request(headers=((name, " 0xC0FFEE "),))
    assert _bot_id(request, bot_id_header="X-Bot-ID") == "0xC0FFEE"


def test_header_skips_empty_occurrences() -> None:
    request = _request(headers=(("X-Bot-Id", "  "), ("X-Bot-Id", "second")))
    assert _bot_id(request, bot_id_header="x-bot-id") == "second"


def test_missing_header_gives_none() -> None:
    assert _bot_id(_request(), bot_id_header="X-Bot-Id") is None


@pytest.mark.parametrize(
    ("cookie", "bot_id"),
    [
        ("bid=abc123", "abc123"),
        ("PHPSESSID=x; bid=abc123; lang=en", "abc123"),
        ('bid="abc123"', "abc123"),
        ("bid = abc123 ", "abc123"),
        ("BID=abc123", None),
        ("xbid=abc123", None),
        ("bid=", None),
        ("bid=; bid=later", "later"),
        ("garbage;;=;bid; =x; bid=ok", "ok"),
        ("$Version=1; bid=abc123; $Path=/", "abc123"),
        ("expires=Thu, 01 Jan 1970; bid=abc123", "abc123"),
        ('bid="unterminated', '"unterminated'),
        ("bid=a=b=c", "a=b=c"),
        ("bid=\x00\x7fé", "\\x00\\x7fé"),
        ("bid=a\u202eb", "a\\u202eb"),
        (";;;", None),
    ],
)
def test_bot_id_from_cookie(cookie: str, bot_id: str | None) -> None:
    request = _request(headers=(("Cookie", cookie),))
    assert _bot_id(request, bot_id_cookie="bid") == bot_id


def test_cookie_from_any_cookie_header() -> None:
    request = _request(headers=(("cookie", "lang=en"), ("COOKIE", "bid=abc123")))
    assert _bot_id(request, bot_id_cookie="bid") == "abc123"


@pytest.mark.parametrize(
    ("body", "bot_id"),
    [
        (b"id=HOST-PC_4F2A&os=5.1&ver=3", "HOST-PC_4F2A"),
        (b"os=5.1&ver=3", None),
        (b"\xff\xfe id=\xe9t\xe9 \x00", "\\xe9t\\xe9"),
        ("id=\u00e9t\u00e9&".encode(), "\u00e9t\u00e9"),
        (b"id=a\x1b[0m\x00b&", "a\\x1b[0m\\x00b"),
        (b"", None),
    ],
)
def test_bot_id_from_body(body: bytes, bot_id: str | None) -> None:
    request = _request(method="POST", body=body)
    assert _bot_id(request, bot_id_body_regex=r"id=([^&\s]+)") == bot_id


def test_body_regex_with_unmatched_optional_group_gives_none() -> None:
    request = _request(method="POST", body=b"hello")
    assert _bot_id(request, bot_id_body_regex=r"hello(?:id=(\w+))?") is None


@pytest.mark.parametrize(
    ("query", "header", "cookie", "body", "bot_id"),
    [
        ("id=q", "h", "bid=c", b"id=b", "q"),
        ("", "h", "bid=c", b"id=b", "h"),
        ("", "", "bid=c", b"id=b", "c"),
        ("", "", "", b"id=b", "b"),
        ("id=", " ", "bid=", b"id=b", "b"),
        ("", "", "", b"", None),
    ],
)
def test_sources_tried_in_order(
    query: str, header: str, cookie: str, body: bytes, bot_id: str | None
) -> None:
    request = _request(
        method="POST",
        query=query,
        headers=(("X-Bot-Id", header), ("Cookie", cookie)),
        body=body,
    )
    rule = {
        "bot_id_query": "id",
        "bot_id_header": "X-Bot-Id",
        "bot_id_cookie": "bid",
        "bot_id_body_regex": r"id=(\w+)",
    }
    assert _bot_id(request, **rule) == bot_id


def test_long_bot_id_is_truncated() -> None:
    request = _request(query="id=" + "A" * 10_000)
    assert _bot_id(request, bot_id_query="id") == "A" * MAX_BOT_ID


def test_bot_id_is_cut_before_its_control_characters_are_escaped() -> None:
    request = _request(query="id=" + "A" * (MAX_BOT_ID - 1) + "%1b%1b")
    assert _bot_id(request, bot_id_query="id") == "A" * (MAX_BOT_ID - 1) + "\\x1b"


# Request text is as received: a byte that is not UTF-8 is a lone surrogate U+DC80-U+DCFF
# (capture/text.received_text). It counts as one character of MAX_BOT_ID, and the id is
# escaped once, after the cut: never cut inside an escape.
_SENT = "a" + "\udcff" * 300
_STORED = "a" + "\\xff" * (MAX_BOT_ID - 1)


@pytest.mark.parametrize(
    ("request_", "rule"),
    [
        (_request(query="id=a" + "%ff" * 300), {"bot_id_query": "id"}),
        (_request(headers=(("X-Bot-Id", _SENT + " \t"),)), {"bot_id_header": "X-Bot-Id"}),
        (_request(headers=(("Cookie", f"x=1; bid={_SENT}"),)), {"bot_id_cookie": "bid"}),
        (_request(body=b"id=a" + b"\xff" * 300), {"bot_id_body_regex": r"id=(\S+)"}),
    ],
    ids=["query", "header", "cookie", "body"],
)
def test_invalid_bytes_count_as_one_character_each(request_: Request, rule: dict[str, str]) -> None:
    assert _bot_id(request_, **rule) == _STORED


@pytest.mark.parametrize("value", ["abc \t", "\tabc\t \t", "abc\u3000", "abc\x1f"])
def test_header_bot_id_is_stripped_as_sent(value: str) -> None:
    request = _request(headers=(("X-Bot-Id", value),))
    assert _bot_id(request, bot_id_header="X-Bot-Id") == "abc"


def test_host_glob_sees_the_host_as_sent() -> None:
    assert _decode(_request(host="bot.example-cnc.net \t"), host="*.example-cnc.net") is not None


def test_bot_id_at_the_limit_is_kept_whole() -> None:
    request = _request(headers=(("X-Bot-Id", "B" * MAX_BOT_ID),))
    assert _bot_id(request, bot_id_header="X-Bot-Id") == "B" * MAX_BOT_ID


# Configuration errors surface when the decoder is built, never per request


@pytest.mark.parametrize(
    "rule",
    [
        {"path": "("},
        {"path": "gate", "bot_id_body_regex": "[unclosed"},
        {"path": "gate", "bot_id_body_regex": r"id=\w+"},
    ],
)
def test_bad_rule_raises_value_error_at_build(rule: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="'testbot'"):
        make_decoder([GenericRule(family="testbot", **rule)])


# Hostile input

_HOSTILE_RULES = [
    GenericRule(
        family="a",
        host="*.example-cnc.net",
        bot_id_query="id",
        bot_id_header="X-Bot-Id",
        bot_id_cookie="bid",
        bot_id_body_regex=r"id=(\w*)",
    ),
    GenericRule(family="b", path=".", bot_id_cookie="bid", bot_id_body_regex=r"(?:x(\d+))?"),
]
_text = st.text(
    alphabet=st.characters() | st.integers(0xDC80, 0xDCFF).map(chr),
    max_size=60,
)  # lone surrogates too: how Request holds bytes that are not UTF-8
_header_name = st.sampled_from(["Cookie", "cookie", "X-Bot-Id", "Host", "X"]) | _text


@given(
    host=st.none() | _text | st.sampled_from(["[", "[::1", ":", "a.example-cnc.net:x:"]),
    path=_text,
    query=_text,
    headers=st.lists(st.tuples(_header_name, _text), max_size=6),
    body=st.binary(max_size=200),
)
def test_hostile_requests_never_raise(
    host: str | None, path: str, query: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    request = Request("POST", host, path, query, tuple(headers), body, len(body))
    decoded = make_decoder(_HOSTILE_RULES)(request)
    if decoded is not None and decoded.bot_id is not None:
        assert decoded.bot_id == decoded.bot_id.strip()
        assert stored_text(decoded.bot_id) == decoded.bot_id  # escaped, and only once
        # MAX_BOT_ID characters as sent, each spelled in at most 10 (\UNNNNNNNN)
        assert 0 < len(decoded.bot_id) <= 10 * MAX_BOT_ID


def test_empty_host_glob_matches_only_an_empty_host() -> None:
    assert _decode(_request(host="bot.example-cnc.net"), host="") is None

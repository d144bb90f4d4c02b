"""Tests of the Rustock decoder: the 96-byte POST to login.php, and what it must not claim."""

from __future__ import annotations

import random

import pytest

from botcensus.capture.protocols import Decoded, Request, rustock

UA = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"


def _body(length: int) -> bytes:
    return random.Random(length).randbytes(length)


def _request(
    *,
    method: str = "POST",
    host: str | None = "91.212.45.10",
    path: str = "/login.php",
    query: str = "",
    length: int = 96,
) -> Request:
    body = _body(length)
    return Request(
        method=method,
        host=host,
        path=path,
        query=query,
        headers=(
            ("Host", host or ""),
            ("User-Agent", UA),
            ("Content-Length", str(length)),
            ("Connection", "Keep-Alive"),
            ("Cache-Control", "no-cache"),
        ),
        body=body,
        body_length=len(body),
    )


@pytest.mark.parametrize(
    ("host", "path", "query"),
    [
        ("91.212.45.10", "/login.php", ""),
        ("208.66.194.232", "/login.php", ""),
        ("onlinescannow.com", "/login.php", ""),
        (None, "/login.php", ""),
        ("91.212.45.10", "/login.php", "x=1"),
        ("91.212.45.10", "/cnc/login.php", ""),
    ],
)
def test_check_in_is_rustock(host: str | None, path: str, query: str) -> None:
    assert rustock.decode(_request(host=host, path=path, query=query)) == Decoded("rustock")


def test_check_in_has_no_bot_id() -> None:
    decoded = rustock.decode(_request())
    assert decoded is not None
    assert decoded.bot_id is None


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "post"])
def test_other_methods_are_not_rustock(method: str) -> None:
    assert rustock.decode(_request(method=method)) is None


@pytest.mark.parametrize("length", [0, 16, 95, 97, 192])
def test_other_body_lengths_are_not_rustock(length: int) -> None:
    assert rustock.decode(_request(length=length)) is None


@pytest.mark.parametrize(
    "path", ["/login.php.bak", "/login.php/", "/login.phpx", "/index.php", "/", "/gate.php"]
)
def test_other_paths_are_not_rustock(path: str) -> None:
    assert rustock.decode(_request(path=path)) is None


def test_login_php_in_query_only_is_not_rustock() -> None:
    assert rustock.decode(_request(path="/index.php", query="page=login.php")) is None


def test_declared_length_counts_not_bytes_kept() -> None:
    # A body cut short by the sinkhole still reports its full length in body_length.
    request = _request()
    cut = Request(
        method=request.method,
        host=request.host,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=request.body[:10],
        body_length=96,
    )
    assert rustock.decode(cut) == Decoded("rustock")

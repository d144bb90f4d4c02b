"""Tests of the decoder registry: built-ins first, then generic rules, None when unclaimed."""

from __future__ import annotations

import pytest

from botcensus.capture import protocols
from botcensus.capture.protocols import Decoded, Request, build_decoder, registry, rustock
from botcensus.config import GenericRule


def _request(
    *, method: str = "POST", host: str = "91.212.45.10", path: str = "/login.php", length: int = 96
) -> Request:
    body = bytes(range(length % 256)) if length < 256 else b"\0" * length
    return Request(
        method=method,
        host=host,
        path=path,
        query="",
        headers=(("Host", host),),
        body=body,
        body_length=length,
    )


LOGIN_RULE = GenericRule(family="other", path=r"login\.php$")


def test_builtin_lists_rustock() -> None:
    families = [family for family, _ in registry.BUILTIN]
    assert families == ["rustock"]
    assert dict(registry.BUILTIN)["rustock"] is rustock.decode


def test_without_rules_the_builtin_is_used_unwrapped() -> None:
    assert build_decoder(()) is rustock.decode


def test_package_exports_build_decoder() -> None:
    assert protocols.build_decoder is build_decoder
    assert "build_decoder" in protocols.__all__


@pytest.mark.parametrize(
    ("request_", "family"),
    [
        (_request(), "rustock"),
        (_request(method="GET"), "other"),
        (_request(length=95), "other"),
        (_request(path="/gate.php"), None),
    ],
)
def test_builtin_before_generic(request_: Request, family: str | None) -> None:
    decoded = build_decoder([LOGIN_RULE])(request_)
    assert (decoded.family if decoded else None) == family


def test_generic_rules_follow_in_their_order() -> None:
    decode = build_decoder(
        [GenericRule(family="first", path="^/gate"), GenericRule(family="second", path="gate")]
    )
    assert decode(_request(path="/gate.php")) == Decoded("first")
    assert decode(_request(path="/x/gate.php")) == Decoded("second")


def test_unclaimed_request_is_none() -> None:
    assert build_decoder([LOGIN_RULE])(_request(path="/favicon.ico", method="GET")) is None


def test_bad_rule_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match="'broken'"):
        build_decoder([GenericRule(family="broken", path="(")])

"""Generic decoder: families and bot ids recognised by configured rules (config.GenericRule)."""

# Rules are compiled once at start-up; the decoder they yield runs per request on the sinkhole
# hot path and must never raise on what a client sends. Bot ids are stripped of surrounding
# whitespace and cut to MAX_BOT_ID characters rather than dropped: a real bot id is far
# shorter, so the cut only bounds what a hostile client can make us store, while the request
# still counts with the best id it offered. Whatever the source, a bot id is taken as it was
# sent (Request's text is as received; a query parameter is percent-decoded as UTF-8, a body
# match read back from its bytes the same way, a byte that is not UTF-8 one character each),
# stripped and cut, and only then escaped by the rule for all text from the network
# (capture/text.py): an escape is never cut in two, and white space the parser kept (llhttp
# keeps what follows a header value) never makes one bot two ids. The regular expressions
# come from the operator's configuration; keeping them free of catastrophic backtracking is
# the operator's care.

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs

from botcensus.capture.text import stored_text
from botcensus.config import GenericRule

from . import Decoded, Decoder, Request

MAX_BOT_ID = 256
"""Characters kept of a bot id as sent (a byte that is not UTF-8 counts as one), after the
white space around it is stripped; longer values are cut to this length before the id is
escaped, so a stored id may spell its control characters and invalid bytes out in more."""


@dataclass(frozen=True, slots=True)
class _Rule:
    """A GenericRule with its patterns compiled and its header name case-folded."""

    family: str
    host: re.Pattern[str] | None
    path: re.Pattern[str] | None
    query: str | None
    header: str | None
    cookie: str | None
    body: re.Pattern[str] | None


def make_decoder(rules: Sequence[GenericRule]) -> Decoder:
    """Compile `rules` into one decoder that tries them in order; the first match wins.

    A rule matches when its Host glob (case-insensitive, port and brackets removed) and its
    path regex (searched in the path, query excluded) both match, where set. Its bot id comes
    from the first source set on the rule that yields a non-empty value: query parameter,
    header, cookie, then group 1 of the body regex; with none, the bot id is None. Raises
    ValueError for a pattern that does not compile or a body regex without a group.
    """
    compiled = tuple(_compile(rule) for rule in rules)
    uses_host = any(rule.host is not None for rule in compiled)

    def decode(request: Request) -> Decoded | None:
        host = _bare_host(request.host) if uses_host else None
        for rule in compiled:
            if rule.host is not None and (host is None or rule.host.match(host) is None):
                continue
            if rule.path is not None and rule.path.search(request.path) is None:
                continue
            return Decoded(rule.family, _bot_id(rule, request))
        return None

    return decode


def _compile(rule: GenericRule) -> _Rule:
    host = None
    if rule.host is not None:
        host = _regex(rule, "host", fnmatch.translate(rule.host), re.IGNORECASE)
    path = _regex(rule, "path", rule.path) if rule.path is not None else None
    body = None
    if rule.bot_id_body_regex is not None:
        body = _regex(rule, "bot_id_body_regex", rule.bot_id_body_regex)
        if body.groups < 1:
            raise ValueError(
                f"decoder rule for {rule.family!r}: bot_id_body_regex needs a group "
                "around the bot id"
            )
    return _Rule(
        family=rule.family,
        host=host,
        path=path,
        query=rule.bot_id_query,
        header=rule.bot_id_header.lower() if rule.bot_id_header is not None else None,
        cookie=rule.bot_id_cookie,
        body=body,
    )


def _regex(rule: GenericRule, field: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"decoder rule for {rule.family!r}: bad {field} pattern: {exc}") from exc


def _bare_host(host: str | None) -> str | None:
    """The Host header without :port, IPv6 brackets or a trailing dot."""
    if host is None:
        return None
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end != -1 else host
    name, sep, port = host.rpartition(":")
    # A bare IPv6 address has more colons; only a single one separates a port.
    if sep and ":" not in name and (port.isdigit() or not port):
        host = name
    return host[:-1] if host.endswith(".") else host


def _bot_id(rule: _Rule, request: Request) -> str | None:
    if rule.query is not None:
        # Percent-decoded bytes that are not UTF-8 stay one character each, as the rest of
        # the request's text holds them (U+FFFD would merge distinct ids). llhttp admits only
        # ASCII in a query, so no raw byte sits between percent-escapes.
        values = parse_qs(request.query, errors="surrogateescape").get(rule.query)
        if values and (found := _clean(values[0])):
            return found
    if rule.header is not None:
        for name, value in request.headers:
            if name.lower() == rule.header and (found := _clean(value)):
                return found
    if rule.cookie is not None and (found := _cookie(request.headers, rule.cookie)):
        return found
    if rule.body is not None and request.body:
        # Latin-1 maps each byte to one character, so a pattern sees every byte; the id is
        # then read back from its bytes as UTF-8, as all text from the network is.
        match = rule.body.search(request.body.decode("latin-1"))
        if match is not None and (group := match.group(1)) is not None:
            return _clean(group.encode("latin-1").decode("utf-8", "surrogateescape"))
    return None


def _cookie(headers: tuple[tuple[str, str], ...], wanted: str) -> str | None:
    """Value of cookie `wanted` from the Cookie header(s); tolerant of any malformed pair."""
    # A plain split, not http.cookies: SimpleCookie stops at the first pair it dislikes and
    # raises CookieError on some reserved names, and bots are not careful cookie writers.
    for name, value in headers:
        if name.lower() != "cookie":
            continue
        for pair in value.split(";"):
            key, sep, raw = pair.partition("=")
            if not sep or key.strip() != wanted:
                continue
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            if found := _clean(raw):
                return found
    return None


def _clean(value: str) -> str | None:
    """A bot id as received, stripped and cut (MAX_BOT_ID), then as stored; None if empty."""
    value = value.strip()[:MAX_BOT_ID].rstrip()
    return stored_text(value) or None

"""Every route x every role: the public, two network owners with different scopes (by ASN,
by prefix), an IPv6-prefix owner, the operator, and tokens that are not valid (malformed,
revoked, expired, wrong secret). No public answer holds an address or a bot id; no owner's
answer holds an address outside its scope; a token that is not valid gets nothing.

The routes are read from the app itself: a route added later is in the matrix (and the test
fails until it says which role may call it)."""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import Any

import pyarrow.parquet as pq
import pytest
import webdata
from fastapi.routing import APIRoute
from starlette.routing import Route

from botcensus.store.files import area_files
from botcensus.web.scope import Scope

PUBLIC_ROUTES = {
    "/",
    "/estimates",
    "/cleanup",
    "/login",
    "/api/v1/meta",
    "/api/v1/census",
    "/api/v1/estimates",
    "/api/v1/cleanup",
    "/openapi.json",
}
OWNER_ROUTES = {
    "/owner",
    "/api/v1/owner/hosts",
    "/api/v1/owner/events",
    "/api/v1/owner/report",
    "/api/v1/owner/cleanup",
    "/api/v1/owner/notices",
}
OPERATOR_ROUTES = {
    "/operator",
    "/api/v1/operator/health",
    "/api/v1/operator/quarantine",
    "/api/v1/operator/audit",
    "/api/v1/operator/tokens",
    "/api/v1/operator/hosts",
    "/api/v1/operator/sightings.csv",
}
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "/": [{}, {"by": "asn", "window": "day"}, {"week": "2011-04-03"}],
    "/api/v1/census": [
        {},
        {"by": "asn", "window": "day"},
        {"by": "country", "format": "csv"},
        {"by": "feed", "family": "examplebot"},
    ],
    "/api/v1/estimates": [{}, {"by": "country", "format": "csv"}],
    "/api/v1/owner/hosts": [{}, {"format": "csv"}, {"family": "examplebot"}],
    "/api/v1/owner/events": [{"format": "intelmq"}, {"format": "shadowserver"}],
    "/api/v1/owner/report": [
        {"format": "shadowserver", "from": "2011-03-16", "to": "2011-04-15"},
        {"format": "intelmq"},
        {"format": "shadowserver-sinkhole", "from": "2011-04-10"},
    ],
    "/api/v1/operator/hosts": [{}, {"format": "csv"}],
    "/owner": [{}, {"family": "rustock"}],
}
SCOPES = {
    "owner_a": Scope.of([64500]),
    "owner_b": Scope.of([], ["203.0.113.0/24"]),
    "owner_v6": Scope.of([], ["2001:db8:a::/64"]),
}
_IP = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})(?![\w.:])"
)


def routes(app: Any) -> set[str]:
    """Every GET route of the app (FastAPI keeps included routers as they are)."""
    found: set[str] = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        if hasattr(route, "original_router"):
            pending += route.original_router.routes
        elif isinstance(route, APIRoute | Route) and "GET" in (route.methods or ()):
            found.add(route.path)
    return found


@cache
def known(data: str) -> tuple[frozenset[str], frozenset[str]]:
    """Every address and bot id the dataset holds (sightings, events, feed events)."""
    from pathlib import Path

    root = Path(data)
    addresses: set[str] = set()
    bots: set[str] = set()
    for area, columns in (
        ("sightings", ("source_ip", "bot_id")),
        ("events", ("source_ip", "bot_id")),
        ("feeds", ("source_ip",)),
    ):
        for path in area_files(root / area):
            table = pq.read_table(path, columns=list(columns))
            addresses |= {str(ipaddress.ip_address(a)) for a in table["source_ip"].to_pylist() if a}
            if "bot_id" in columns:
                bots |= {b for b in table["bot_id"].to_pylist() if b}
    return frozenset(addresses), frozenset(bots)


def addresses_in(text: str, data: str) -> set[str]:
    """The dataset's addresses that appear in a response body."""
    addresses, _ = known(data)
    found = set()
    for match in _IP.findall(text):
        try:
            canonical = str(ipaddress.ip_address(match))
        except ValueError:
            continue
        if canonical in addresses:
            found.add(canonical)
    return found


def in_scope(scope: Scope, ip: str) -> bool:
    net = webdata.net_of(ip)
    return scope.contains(ip, net.asn if net else None, net.cc if net else None)


def calls(app: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(path, params) for path in sorted(routes(app)) for params in VARIANTS.get(path, [{}])]


def test_every_route_has_a_role(app):
    assert routes(app) == PUBLIC_ROUTES | OWNER_ROUTES | OPERATOR_ROUTES


def test_the_dataset_has_addresses_of_every_network(web_data):
    addresses, bots = known(str(web_data))
    for scope in SCOPES.values():
        assert any(in_scope(scope, a) for a in addresses)
    assert any(not in_scope(s, a) for a in addresses for s in SCOPES.values())
    assert bots


def _get(client, path, params, token):
    return client.get(path, token, params=params)


@pytest.mark.parametrize("role", ["public", "owner_a", "owner_b", "owner_v6", "operator"])
def test_matrix(app, client, tokens, web_data, role):
    token = None if role == "public" else getattr(tokens, role)
    data = str(web_data)
    _, bots = known(data)
    seen_hosts = False
    for path, params in calls(app):
        reply = _get(client, path, params, token)
        where = f"{role} GET {path} {params}"
        body = reply.text
        if path in OPERATOR_ROUTES and role != "operator":
            assert reply.status_code in (401, 403), where
            assert not addresses_in(body, data), where
            continue
        if path in OWNER_ROUTES and role == "public":
            assert reply.status_code == 401, where
            assert not addresses_in(body, data), where
            continue
        assert reply.status_code == 200, f"{where}: {reply.status_code} {body[:300]}"
        leaked = addresses_in(body, data)
        if role == "public" or path in PUBLIC_ROUTES:
            assert not leaked, f"{where} shows addresses {sorted(leaked)[:5]}"
            assert not any(b in body for b in bots), f"{where} shows a bot id"
        elif role in SCOPES:
            outside = {a for a in leaked if not in_scope(SCOPES[role], a)}
            assert not outside, f"{where} shows addresses outside the scope: {sorted(outside)[:5]}"
            seen_hosts |= bool(leaked)
        elif role == "operator" and path.startswith("/api/v1/operator/"):
            assert not leaked, f"{where}: the operator's analytic views are pseudonymised"
    if role in SCOPES:
        assert seen_hosts, f"{role} never saw one of its own hosts"


@pytest.mark.parametrize("kind", ["malformed", "revoked", "expired", "wrong-secret", "basic"])
def test_a_token_that_is_not_valid_gets_nothing(app, client, tokens, web_data, kind):
    token = {
        "malformed": "letmein",
        "revoked": tokens.revoked,
        "expired": tokens.expired,
        "wrong-secret": tokens.owner_a[:-4]
        + ("AAAA" if not tokens.owner_a.endswith("AAAA") else "BBBB"),
        "basic": None,
    }[kind]
    headers = {"Authorization": "Basic b3BlcmF0b3I6eA=="} if kind == "basic" else {}
    for path, params in calls(app):
        if path == "/openapi.json":
            continue
        reply = client.get(path, token, params=params, headers=headers)
        where = f"{kind} GET {path} {params}"
        if path.startswith("/api/"):
            assert reply.status_code == 401, f"{where}: {reply.status_code}"
            assert set(reply.json()) == {"detail"}, where
        else:  # a page: the sign-in form, the public view at most
            assert reply.status_code == 401, f"{where}: {reply.status_code}"
            assert 'id="hosts"' not in reply.text, where
            assert 'id="audit"' not in reply.text, where
        assert not addresses_in(reply.text, str(web_data)), where


def test_an_owner_cannot_choose_its_scope(client, tokens):
    for params in ({"asn": 64502}, {"prefix": "100.64.0.0/16"}, {"country": "US"}):
        reply = client.get("/api/v1/owner/hosts", tokens.owner_a, params=params)
        assert reply.status_code == 403, params


def test_the_operator_may_name_a_scope(client, tokens, web_data):
    reply = client.get("/api/v1/owner/hosts", tokens.operator, params={"asn": 64501, "limit": 1000})
    assert reply.status_code == 200
    shown = {r["source.ip"] for r in reply.json()["rows"]}
    assert shown
    assert all(webdata.net_of(ip).asn == 64501 for ip in shown)


def test_owner_b_sees_the_feed_only_host_of_its_prefix(client, tokens):
    rows = client.get("/api/v1/owner/hosts", tokens.owner_b, params={"limit": 1000}).json()["rows"]
    assert "203.0.113.77" in {r["source.ip"] for r in rows}  # from the Shadowserver report only


def test_owner_events_hold_its_events_only(client, tokens):
    a = client.get("/api/v1/owner/events", tokens.owner_a, params={"format": "intelmq"})
    lines = [line for line in a.text.splitlines() if line]
    ips = {__import__("json").loads(line)["source.ip"] for line in lines}
    assert ips == {"198.51.100.9", "2001:db8:a::3", "198.51.100.201"}
    assert a.headers["x-events"] == str(len(lines))

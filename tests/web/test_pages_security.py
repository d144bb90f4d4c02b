"""What a browser gets: security headers on every answer, no inline script, no reference to
anything outside the site, the vendored assets intact, sign-in by cookie; the notification
panel; the serve command."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.web.app import STATIC
from botcensus.web.notices import Notice, NoticeAddress, NoticePage, NoticeQuery
from botcensus.web.scope import Scope

PAGES = ["/", "/estimates", "/cleanup", "/login"]


class Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and "src" not in values:
            self.inline.append(tag)
        self.handlers += [k for k in values if k.startswith("on")]
        if "style" in values:
            self.styles.append(tag)
        self.urls += [v for k, v in values.items() if k in ("src", "href", "action") and v]

    def handle_data(self, data):
        pass


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_and_only_local_urls(client, path):
    reply = client.get(path)
    assert reply.status_code == 200
    scan = Scan()
    scan.feed(reply.text)
    assert scan.inline == []
    assert scan.handlers == []
    assert scan.styles == []
    outside = [
        u
        for u in scan.urls
        if not (
            u.startswith("/") or u.startswith("?") or u.startswith("#") or u.startswith("data:")
        )
    ]
    assert outside == []


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/census", "/openapi.json", "/static/app.js", "/login"]
)
def test_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "http" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    expected = "public, max-age=3600" if path.startswith("/static/") else "no-store"
    assert headers["cache-control"] == expected


def test_no_asset_names_another_site():
    """The script and style sheet of the site, and the vendored ones, fetch nothing remote
    (the SVG namespace and licence texts name sites, they fetch nothing)."""
    for path in STATIC.rglob("*"):
        if path.suffix not in (".js", ".css"):
            continue
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\A\s*(?://[^\n]*\n|/\*.*?\*/\s*)+", "", text, flags=re.S)  # banners
        for url in re.findall(r"https?://[^\s\"')]+", text):
            assert url.startswith("http://www.w3.org/"), f"{path.name}: {url}"
        assert 'fetch("http' not in text
        assert "import(" not in text


def test_vendored_assets_match_their_recorded_digests():
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    recorded = {
        name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    }
    assert len(recorded) == 5
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest
    for licence in ("uPlot", "topojson-client", "world-atlas", "i18n-iso-countries"):
        assert (STATIC / "vendor" / f"{licence}.LICENSE").stat().st_size > 200


def test_no_docs_page_loading_scripts_from_a_cdn(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").json()["paths"]["/api/v1/census"]


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_clears_it(client, tokens):
    reply = client.post("/login", data={"token": tokens.owner_a}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/owner"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    value = re.search(r"botcensus_session=([^;]+)", cookie).group(1)
    jar = {"Cookie": f"botcensus_session={value}"}
    page = client.get("/owner", headers=jar)
    assert page.status_code == 200
    assert "AS64500" in page.text
    out = client.post("/logout", headers=jar, follow_redirects=False)
    assert (
        'botcensus_session=""' in out.headers["set-cookie"]
        or "Max-Age=0" in out.headers["set-cookie"]
    )


def test_sign_in_with_a_bad_token_fails(client):
    reply = client.post("/login", data={"token": "bcw_nope"}, follow_redirects=False)
    assert reply.status_code == 401
    assert "not valid" in reply.text
    assert "set-cookie" not in reply.headers


def test_sign_in_from_another_site_is_refused(client, tokens):
    reply = client.post(
        "/login",
        data={"token": tokens.owner_a},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert reply.status_code == 403


def test_pages_for_owners_need_a_token(client, tokens):
    assert client.get("/owner").status_code == 401
    assert client.get("/operator", tokens.owner_a).status_code == 403


class Journal:
    """A notification journal as notify/ will provide it (here: two notices, one of them
    about another network, and one address outside the scope in the first)."""

    def notices(self, scope: Scope, query: NoticeQuery) -> NoticePage:
        sent = datetime(2011, 4, 1, 9, tzinfo=UTC)
        mine = Notice(
            "n-1",
            sent,
            "abuse@example-nl.example",
            "email",
            "rustock",
            (NoticeAddress("198.51.100.9", 64500, "NL"), NoticeAddress("203.0.113.5", 64501, "DE")),
            "TKT-7",
            "resolved",
            sent,
        )
        other = Notice(
            "n-2",
            sent,
            "cert@de.example",
            "xarf",
            "rustock",
            (NoticeAddress("203.0.113.9", 64501, "DE"),),
        )
        return NoticePage(2, (mine, other), "test journal")


def test_notifications_panel_shows_only_the_owner_s(web_data, make_client, tokens):
    c = make_client(web_data, notices=Journal())
    doc = c.get("/api/v1/owner/notices", tokens.owner_a).json()
    assert doc["total"] == 1
    assert doc["source"] == "test journal"
    assert doc["rows"][0]["ticket_state"] == "resolved"
    assert [a["ip"] for a in doc["rows"][0]["addresses"]] == ["198.51.100.9"]
    page = c.get("/owner", tokens.owner_a).text
    assert "TKT-7" in page
    assert "203.0.113" not in page


# -- the serve command ---------------------------------------------------------------------
def test_serve_answers_on_loopback(server):
    import httpx

    reply = httpx.get(f"{server.url}/api/v1/meta", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["week_ends"] == "sat"
    assert "server" not in reply.headers


@pytest.mark.parametrize("listen", ["nowhere", "127.0.0.1:99999", "example.com:80"])
def test_serve_rejects_a_bad_listen_address(tmp_path, listen):
    result = CliRunner().invoke(main, ["serve", "--data", str(tmp_path), "--listen", listen])
    assert result.exit_code == 2
    assert "listen address" in result.stderr


def test_serve_on_a_missing_directory_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such directory" in result.stderr

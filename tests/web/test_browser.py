"""The dashboard in a real browser: Debian's Chromium driven by Playwright against
`botcensus serve` on loopback. Every page loads, its charts draw, the map shows countries,
filters change the numbers, an owner sees only its hosts, a wrong token gets nothing, and
no page makes a request outside loopback. Saves a screenshot of the public dashboard
(BOTCENSUS_SCREENSHOT=PATH also writes it there: docs/images/web-dashboard.png).

Without /usr/bin/chromium (Debian package `chromium`, installed by .ci/run) the tests skip,
except under CI=true, where they fail."""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import webdata

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield found
        found.close()


class Watched:
    """A page that records every request it makes and every console error."""

    def __init__(self, browser, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.base = base
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> None:
        reply = self.page.goto(self.base + path)
        assert reply is not None
        self.page.wait_for_load_state("networkidle")
        self.status = reply.status

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser, server) -> Iterator[Watched]:
    w = Watched(browser, server.url)
    yield w
    w.close()
    outside = [u for u in w.requests if not _loopback(u)]
    assert outside == [], f"requests outside loopback: {outside}"


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return parts.hostname == "localhost"


def _drawn_canvases(page) -> list[int]:
    """Per chart canvas: how many of its pixels are not blank."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('figure.chart canvas')).map(c => {
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0;
             for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) n++; }
             return n; })"""
    )


def _sign_in(w: Watched, token: str) -> None:
    w.open("/login")
    w.page.fill("input[name=token]", token)
    with w.page.expect_navigation():
        w.page.click("form.login button")
    w.page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("path", ["/", "/?window=day&by=feed", "/estimates", "/cleanup", "/login"])
def test_public_pages_load_and_draw(watched, path, tmp_path):
    watched.open(path)
    assert watched.status == 200
    assert watched.errors == []
    if path != "/login":
        drawn = _drawn_canvases(watched.page)
        assert drawn, "no chart"
        assert all(n > 500 for n in drawn), drawn
    assert not watched.page.query_selector(".failed")


def test_the_map_shows_countries(watched, tmp_path):
    watched.open("/?week=2011-04-03")
    paths = watched.page.locator("svg#map path")
    assert paths.count() > 150
    coloured = watched.page.eval_on_selector_all(
        "svg#map path.has-data", "els => els.map(e => e.dataset.cc)"
    )
    assert sorted(coloured) == ["DE", "NL", "US"]
    assert watched.page.locator("svg#map path.small[data-cc=FR]").count() == 1
    shot = tmp_path / "web-dashboard.png"
    watched.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if target := os.environ.get("BOTCENSUS_SCREENSHOT"):
        shutil.copy(shot, target)


def test_filters_change_the_numbers(watched):
    watched.open("/?by=none")
    before = watched.page.eval_on_selector_all(
        "#series td[data-col=unique_ip]", "els => els.map(e => e.dataset.value)"
    )
    with watched.page.expect_navigation():
        watched.page.select_option("select[name=family]", "examplebot")
    watched.page.wait_for_load_state("networkidle")
    after = watched.page.eval_on_selector_all(
        "#series td[data-col=unique_ip]", "els => els.map(e => e.dataset.value)"
    )
    assert before
    assert after
    assert before != after
    assert "family=examplebot" in watched.page.url
    assert all(n > 500 for n in _drawn_canvases(watched.page))


@pytest.mark.parametrize("role", ["owner_a", "owner_b"])
def test_an_owner_sees_only_its_hosts(watched, tokens, role):
    scope = {
        "owner_a": lambda n: n.asn == 64500,
        "owner_b": lambda n: n.prefix == "203.0.113.0/24",
    }[role]
    _sign_in(watched, getattr(tokens, role))
    assert urlsplit(watched.page.url).path == "/owner", watched.page.content()[-1500:]
    shown = watched.page.eval_on_selector_all("#hosts td.ip", "els => els.map(e => e.textContent)")
    assert len(shown) > 10
    assert all(scope(webdata.net_of(ip)) for ip in shown), shown
    page_text = watched.page.content()
    for other in ("100.64.0.", "10.9.0."):
        assert other not in page_text
    assert all(n > 100 for n in _drawn_canvases(watched.page))
    assert "Half-life" in watched.page.inner_text("#curve-summary")
    assert watched.errors == []


def test_the_operator_pages_load(watched, tokens):
    _sign_in(watched, tokens.operator)
    assert urlsplit(watched.page.url).path == "/operator"
    for section in ("#sinkhole", "#feeds", "#quarantine", "#tokens", "#audit"):
        assert watched.page.locator(section).count() == 1
    watched.open("/owner?asn=64501")
    assert watched.page.locator("#hosts td.ip").count() > 10
    assert watched.errors == []


@pytest.mark.parametrize("token", ["bcw_aaaaaaaaaa_" + "b" * 43, "nonsense"])
def test_a_wrong_token_gets_nothing(watched, token):
    _sign_in(watched, token)
    assert watched.page.locator("#login-error").count() == 1
    assert watched.page.locator("#hosts").count() == 0
    watched.context.add_cookies(
        [{"name": "botcensus_session", "value": token, "url": watched.base}]
    )
    watched.open("/owner")
    assert watched.status == 401
    assert watched.page.locator("#hosts").count() == 0


def test_a_revoked_token_s_session_ends(watched, tokens):
    watched.context.add_cookies(
        [{"name": "botcensus_session", "value": tokens.revoked, "url": watched.base}]
    )
    watched.open("/owner")
    assert watched.status == 401
    assert watched.page.locator("#hosts").count() == 0

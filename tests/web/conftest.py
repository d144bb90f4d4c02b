"""Web fixtures: one rolled-up dataset for the module tests (copied where a test writes),
tokens for every role, an in-process ASGI client, and a real server on loopback."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import webdata

from botcensus.web import create_app
from botcensus.web.scope import Scope
from botcensus.web.tokens import add_token, revoke_token


@dataclass(frozen=True)
class Tokens:
    owner_a: str
    owner_b: str
    operator: str
    revoked: str
    expired: str
    owner_v6: str


@pytest.fixture(scope="session")
def built_data(
    tmp_path_factory: pytest.TempPathFactory, make_event: Any, make_segment: Any
) -> Path:
    """The web dataset, built and rolled up once per session (read-only: copy to write)."""
    return webdata.build(tmp_path_factory.mktemp("web") / "data", make_event, make_segment)


@pytest.fixture(scope="session")
def web_data(built_data: Path) -> Path:
    return built_data


@pytest.fixture(scope="session")
def tokens(web_data: Path) -> Tokens:
    a, _ = add_token(web_data, "owner", "AS64500 abuse desk", Scope.of([64500]), days=30)
    b, _ = add_token(
        web_data, "owner", "EXAMPLE-DE CERT", Scope.of([], ["203.0.113.0/24"]), days=30
    )
    v6, _ = add_token(web_data, "owner", "v6 only", Scope.of([], ["2001:db8:a::/64"]), days=30)
    op, _ = add_token(web_data, "operator", "sinkhole operator", Scope(), days=30)
    gone, info = add_token(web_data, "owner", "revoked desk", Scope.of([64500]), days=30)
    revoke_token(web_data, info.id)
    old, _ = add_token(
        web_data,
        "owner",
        "expired desk",
        Scope.of([64500]),
        days=1,
        now=datetime.now(UTC) - timedelta(days=2),
    )
    return Tokens(a, b, op, gone, old, v6)


@pytest.fixture
def copy_data(built_data: Path, tmp_path: Path) -> Callable[[], Path]:
    """A private copy of the dataset for a test that changes it."""

    def make() -> Path:
        target = tmp_path / "data"
        shutil.copytree(built_data, target, symlinks=True)
        return target

    return make


class Client:
    """httpx against the ASGI app in process (no server), driven from synchronous tests."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.loop.run_until_complete(
                self.http.request(method, url, headers=headers, **kw)
            )
        finally:
            self.http.cookies.clear()  # no session leaks from one test into another

    def get(self, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", url, token, **kw)

    def post(self, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", url, token, **kw)

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()


@pytest.fixture(scope="session")
def app(web_data: Path, tokens: Tokens) -> Any:
    return create_app(web_data, enrich_loader=lambda: webdata.fake_enrich)


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[Client]:
    c = Client(app)
    yield c
    c.close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(data: Path, **kw: Any) -> Client:
        c = Client(create_app(data, enrich_loader=lambda: webdata.fake_enrich, **kw))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def server(web_data: Path, tokens: Tokens) -> Iterator[Server]:
    """`botcensus serve` on a free loopback port (a real uvicorn process)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botcensus",
            "serve",
            "--data",
            str(web_data),
            "--listen",
            f"127.0.0.1:{port}",
            "--no-rollup",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                why = proc.stderr.read() if proc.stderr else ""
                raise RuntimeError(f"serve exited: {why!r}") from None
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("serve did not start listening within 60 s")
    yield Server(f"http://127.0.0.1:{port}", proc)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()

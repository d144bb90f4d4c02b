"""The ASGI application: the JSON API, the pages, the vendored assets, and the headers that
keep a browser from loading anything from elsewhere or running inline script."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botcensus.config import WebSettings
from botcensus.export import Party
from botcensus.web import api, api_operator, api_owner, pages
from botcensus.web.census_view import CensusView
from botcensus.web.context import Enrich, WebContext
from botcensus.web.db import WebDbError
from botcensus.web.notices import NoticeReader
from botcensus.web.notices_journal import JournalNotices

STATIC: Final = Path(__file__).parent / "static"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS: Final = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer makes a browser send Origin: null
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


class SecurityHeaders:
    """Adds the security headers to every response; nothing but the static assets may be
    cached (an answer differs by who asks: a cache must never hand the operator's to the
    public)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers += HEADERS
                headers.append(
                    (b"cache-control", b"public, max-age=3600" if static else b"no-store")
                )
                if not static:
                    headers.append((b"vary", b"Authorization, Cookie"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    dataset: Path,
    settings: WebSettings | None = None,
    *,
    notices: NoticeReader | None = None,
    enrich_loader: Callable[[], Enrich] | None = None,
    live_workers: int = 1,
    reporter: Party | None = None,
) -> FastAPI:
    """The dashboard and API over one dataset directory. `notices`: what the owner view
    reads notifications from (default: the notify stage's journal in the directory);
    `enrich_loader` makes the
    step that enriches exported sinkhole events, on first use (default: the bundled
    database); `reporter` is named in downloaded reports (XARF needs one)."""
    settings = settings or WebSettings()
    context = WebContext(dataset, settings, CensusView(dataset, settings.week_ends, live_workers))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        context.census.close()

    app = FastAPI(
        lifespan=lifespan,
        title="botcensus",
        version="1",
        description="Census of a botnet after its takedown: public aggregates, each network "
        "owner's infected hosts, the operator's view of the sinkhole. Counts name their unit "
        "(unique_ip is not hosts).",
        docs_url=None,  # Swagger UI and ReDoc load scripts from CDNs: no third-party requests
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    context.notices = notices if notices is not None else JournalNotices(dataset)
    context.enrich_loader = enrich_loader
    context.reporter = reporter
    app.state.ctx = context
    app.include_router(api.router)
    app.include_router(api_owner.router)
    app.include_router(api_operator.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(WebDbError)
    async def database_unavailable(_request: Request, exc: WebDbError) -> JSONResponse:
        logging.getLogger("botcensus.web").error("%s", exc)  # the path stays in the log
        return JSONResponse({"detail": "the web database cannot be used; see the server log"}, 503)

    return app


def context_of(app: Any) -> WebContext:
    ctx: WebContext = app.state.ctx
    return ctx

"""Run the web app on uvicorn (uvloop and httptools, as the sinkhole uses)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa

from botcensus.config import Settings
from botcensus.export import Party

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("botcensus")

MAX_WAIT: Final = 86_400.0
"""The longest wait between roll-ups (an endless one would not fit the platform's time_t)."""
ROLLUP_NICE: Final = 10
"""The periodic roll-up's thread runs this much nicer than the answers (Linux gives each
thread its own nice value; DuckDB's threads started from it inherit it)."""


def _keep_rolling(refresh: Callable[[], object], every: float, stop: threading.Event) -> None:
    """Run `refresh` every `every` seconds until `stop`; a failure is logged and tried again
    at the next turn (the dashboard keeps answering from what the last roll-up left)."""
    # not Linux, or not allowed: at the answers' priority
    with contextlib.suppress(AttributeError, OSError):
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + ROLLUP_NICE)
    while not stop.wait(min(every, MAX_WAIT)):
        try:
            refresh()
        except Exception as exc:  # any failure: keep serving, try again later
            log.error("periodic roll-up failed (%s); trying again in %g s", exc, every)


def run(
    dataset: Path,
    settings: Settings,
    host: str,
    port: int,
    forwarded_allow_ips: str | None = None,
    reporter: Party | None = None,
    *,
    refresh: Callable[[], object] | None = None,
    every: float = 0.0,
) -> None:
    """Serve until SIGINT / SIGTERM; with `refresh` and `every` > 0, also run `refresh`
    (the roll-up) every `every` seconds in a thread of lower priority, so the dashboard
    follows a live sinkhole."""

    from botcensus import enrich
    from botcensus.web.app import create_app

    def enricher() -> Callable[[pa.Table], pa.Table]:
        geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        return lambda t: enrich.enrich(t, geo)

    app = create_app(dataset, settings.web, enrich_loader=enricher, reporter=reporter)
    log.info("serving %s on http://%s:%d/", dataset, f"[{host}]" if ":" in host else host, port)
    stop = threading.Event()
    rolling = None
    if refresh is not None and every > 0:
        rolling = threading.Thread(
            target=_keep_rolling, args=(refresh, every, stop), name="rollup", daemon=True
        )
        rolling.start()
    try:
        _serve(app, host, port, forwarded_allow_ips)
    finally:
        stop.set()
        if rolling is not None:
            rolling.join(60)  # a roll-up under way finishes (its files are written atomically)


def _serve(app: FastAPI, host: str, port: int, forwarded_allow_ips: str | None) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        access_log=False,
        log_level="warning",
    )

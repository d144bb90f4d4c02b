"""Run the web app on uvicorn (uvloop and httptools, as the sinkhole uses)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from botcensus.config import Settings
from botcensus.export import Party


def run(
    dataset: Path,
    settings: Settings,
    host: str,
    port: int,
    forwarded_allow_ips: str | None = None,
    reporter: Party | None = None,
) -> None:
    """Serve until SIGINT / SIGTERM."""
    import uvicorn

    from botcensus import enrich
    from botcensus.web.app import create_app

    def enricher() -> Callable[[pa.Table], pa.Table]:
        geo = enrich.load(settings.enrich.country_mmdb, settings.enrich.asn_mmdb)
        return lambda t: enrich.enrich(t, geo)

    app = create_app(dataset, settings.web, enrich_loader=enricher, reporter=reporter)
    logging.getLogger("botcensus").info(
        "serving %s on http://%s:%d/", dataset, f"[{host}]" if ":" in host else host, port
    )
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

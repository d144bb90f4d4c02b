"""What every request of one server shares: the dataset, the settings, the census view, the
notification reader, the sinkhole probe, and the kept products (re-read when they change)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botcensus.config import WebSettings
from botcensus.export import Party
from botcensus.web import products
from botcensus.web.auth import FailureLog
from botcensus.web.census_view import CensusView
from botcensus.web.notices import NoJournal, NoticeReader
from botcensus.web.operator_data import HealthProbe

Enrich = Callable[[Any], Any]


@dataclass
class WebContext:
    dataset: Path
    settings: WebSettings
    census: CensusView
    notices: NoticeReader = field(default_factory=NoJournal)
    enrich_loader: Callable[[], Enrich] | None = None
    reporter: Party | None = None
    """Who the downloaded reports name as reporter (XARF needs one): the notify sender."""
    health: HealthProbe = field(default_factory=HealthProbe)
    failures: FailureLog = field(default_factory=FailureLog)
    _products: dict[str, tuple[str, products.Product | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _enrich: Enrich | None = None

    @property
    def week_ends(self) -> str:
        return self.settings.week_ends

    def product(self, name: str) -> products.Product | None:
        """A kept product, read again when the data or the product changed."""
        token = self.census.state().fresh.token
        path = self.dataset / "aggregates" / "products" / f"{name}.json"
        stamp = f"{token}|{path.stat().st_mtime_ns if path.exists() else 0}"
        with self._lock:
            cached = self._products.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        found = products.read(self.dataset, name)
        with self._lock:
            self._products[name] = (stamp, found)
        return found

    def enrich(self) -> Enrich:
        """The enrichment step for sinkhole events being exported (loaded on first use)."""
        with self._lock:
            if self._enrich is None:
                if self.enrich_loader is None:
                    from botcensus import enrich

                    geo = enrich.load_bundled()
                    self._enrich = lambda t: enrich.enrich(t, geo)
                else:
                    self._enrich = self.enrich_loader()
            return self._enrich

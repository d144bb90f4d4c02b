"""Renderers: tables, files and pages built from results; they compute nothing new.

The names below load their module on first use (PEP 562): `botcensus census` renders a
table without loading matplotlib, which only the report's charts need."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botcensus.report.page import ReportFiles, write_report

_HOMES = {
    "ReportFiles": "botcensus.report.page",
    "write_report": "botcensus.report.page",
}

__all__ = [
    "ReportFiles",
    "write_report",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value

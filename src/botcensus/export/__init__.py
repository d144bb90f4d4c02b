"""Everything that leaves the system as events or tables, behind one renderer interface
(export/base.py) and its formats, with their cell rules.

    renderer("shadowserver").render(hosts, meta)   # hosts: HOST_SCHEMA rows -> CSV bytes
    export_events(dataset, ExportQuery(...), "intelmq", out, enrich)   # stored events out
    write_recorded(dataset, "jsonl", out)          # `botcensus events`

Host-row formats (what notify sends): `shadowserver` (CSV in the columns of Shadowserver's
event4_sinkhole_http), `shadowserver-sinkhole` (event4_sinkhole), `xarf` (XARF v4 botnet
reports, JSON lines), `intelmq` (IntelMQ JSON lines), `summary` (counts per network, no
addresses). Event formats (`botcensus export`, `botcensus events`): `intelmq`,
`shadowserver`, `intelmq-csv`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from botcensus.export.base import (
    HOST_SCHEMA,
    EventRenderer,
    Party,
    Renderer,
    ReportMeta,
    sorted_hosts,
    utc_text,
)
from botcensus.export.cells import safe_cell, safe_table
from botcensus.export.intelmq import IntelMqJsonLines
from botcensus.export.registry import RENDERERS, renderer
from botcensus.export.shadowserver import ShadowserverCsv
from botcensus.export.summary import SummaryCsv
from botcensus.export.xarf import XarfError, XarfJson

if TYPE_CHECKING:
    from botcensus.export.event_formats import CSV_COLUMNS, EVENT_RENDERERS, event_renderer
    from botcensus.export.event_query import ExportQuery, LeftOut
    from botcensus.export.events import FORMATS, export_events, write_recorded

# The event names load their modules on first use (PEP 562): they bring the feed readers
# and DuckDB, which a census table (report/tables.py uses the cell rule) does not need.
_LAZY = {
    "CSV_COLUMNS": "botcensus.export.event_formats",
    "EVENT_RENDERERS": "botcensus.export.event_formats",
    "event_renderer": "botcensus.export.event_formats",
    "ExportQuery": "botcensus.export.event_query",
    "LeftOut": "botcensus.export.event_query",
    "FORMATS": "botcensus.export.events",
    "export_events": "botcensus.export.events",
    "write_recorded": "botcensus.export.events",
}

__all__ = [
    "CSV_COLUMNS",
    "EVENT_RENDERERS",
    "FORMATS",
    "HOST_SCHEMA",
    "RENDERERS",
    "EventRenderer",
    "ExportQuery",
    "IntelMqJsonLines",
    "LeftOut",
    "Party",
    "Renderer",
    "ReportMeta",
    "ShadowserverCsv",
    "SummaryCsv",
    "XarfError",
    "XarfJson",
    "event_renderer",
    "export_events",
    "renderer",
    "safe_cell",
    "safe_table",
    "sorted_hosts",
    "utc_text",
    "write_recorded",
]


def __getattr__(name: str) -> object:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value

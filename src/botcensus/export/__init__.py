"""Everything that leaves the system as events or tables: one renderer interface (host rows
and report facts in, file bytes out) and its formats, with their cell rules.

    renderer("shadowserver").render(hosts, meta)   # hosts: HOST_SCHEMA rows -> CSV bytes

Formats: `shadowserver` (CSV in the columns of Shadowserver's event4_sinkhole_http),
`shadowserver-sinkhole` (event4_sinkhole), `xarf` (XARF v4 botnet reports, JSON lines),
`intelmq` (IntelMQ JSON lines), `summary` (counts per network, no addresses).
"""

from botcensus.export.base import HOST_SCHEMA, Party, Renderer, ReportMeta, sorted_hosts, utc_text
from botcensus.export.cells import safe_cell, safe_table
from botcensus.export.intelmq import IntelMqJsonLines
from botcensus.export.registry import RENDERERS, renderer
from botcensus.export.shadowserver import ShadowserverCsv
from botcensus.export.summary import SummaryCsv
from botcensus.export.xarf import XarfError, XarfJson

__all__ = [
    "HOST_SCHEMA",
    "RENDERERS",
    "IntelMqJsonLines",
    "Party",
    "Renderer",
    "ReportMeta",
    "ShadowserverCsv",
    "SummaryCsv",
    "XarfError",
    "XarfJson",
    "renderer",
    "safe_cell",
    "safe_table",
    "sorted_hosts",
    "utc_text",
]

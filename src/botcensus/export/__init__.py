"""Everything that leaves the system as events or tables: one renderer interface (host rows
and report facts in, file bytes out) and its formats, with their cell rules.

    renderer("shadowserver").render(hosts, meta)   # hosts: HOST_SCHEMA rows -> CSV bytes

Formats: `shadowserver` (CSV in the columns of Shadowserver's event4_sinkhole_http),
`shadowserver-sinkhole` (event4_sinkhole), `xarf` (XARF v4 botnet reports, JSON lines),
`intelmq` (IntelMQ JSON lines), `summary` (counts per network, no addresses).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from botcensus.export.base import HOST_SCHEMA, Party, Renderer, ReportMeta, sorted_hosts
from botcensus.export.cells import safe_cell, safe_table
from botcensus.export.intelmq import IntelMqJsonLines
from botcensus.export.shadowserver import ShadowserverCsv
from botcensus.export.summary import SummaryCsv
from botcensus.export.xarf import XarfError, XarfJson

RENDERERS: Final[Mapping[str, Renderer]] = MappingProxyType(
    {
        r.name: r
        for r in (
            ShadowserverCsv("shadowserver", "event4_sinkhole_http"),
            ShadowserverCsv("shadowserver-sinkhole", "event4_sinkhole"),
            XarfJson(),
            IntelMqJsonLines(),
            SummaryCsv(),
        )
    }
)
"""Every format by the name rules use."""


def renderer(name: str) -> Renderer:
    """The renderer of a format; ValueError naming the known ones otherwise."""
    try:
        return RENDERERS[name]
    except KeyError:
        raise ValueError(f"format {name!r}: choose from {', '.join(RENDERERS)}") from None


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
]

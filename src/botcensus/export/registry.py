"""Every export format by the name rules and commands use."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from botcensus.export.base import Renderer
from botcensus.export.intelmq import IntelMqJsonLines
from botcensus.export.shadowserver import ShadowserverCsv
from botcensus.export.summary import SummaryCsv
from botcensus.export.xarf import XarfJson

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

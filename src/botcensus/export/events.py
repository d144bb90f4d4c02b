"""Stored events out: `botcensus export` (feed and sinkhole events matching a query, enriched)
and `botcensus events` (recorded sinkhole events as recorded), both through the event
renderers of export/event_formats.py, so one event leaves as the same line from either."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

import pyarrow as pa

from botcensus.export.base import EventSource
from botcensus.export.event_formats import event_renderer
from botcensus.export.event_query import (
    Enrich,
    ExportQuery,
    LeftOut,
    feed_batches,
    sinkhole_batches,
)
from botcensus.model import put_columns
from botcensus.store import iter_events

FORMATS: Final = ("intelmq", "shadowserver")
"""What `botcensus export --format` writes."""
RECORDED_FORMATS: Final = {"jsonl": "intelmq", "csv": "intelmq-csv"}
"""`botcensus events --format` -> the event renderer it uses."""


def export_events(
    dataset: Path,
    query: ExportQuery,
    fmt: str,
    out: BinaryIO,
    enrich: Enrich,
    left_out: LeftOut | None = None,
) -> int:
    """Write the events matching the query to `out`, feed events first, then sinkhole events
    (enriched); the number written. `left_out` (if given) counts the matching events the
    export leaves out, and why."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    renderer = event_renderer(fmt)
    out.write(renderer.header())
    written = 0
    sources: tuple[tuple[EventSource, Iterator[pa.Table]], ...] = (
        ("feed", feed_batches(dataset, query, left_out=left_out)),
        ("sinkhole", sinkhole_batches(dataset, query, enrich, left_out)),
    )
    for source, batches in sources:
        for table in batches:
            if table.num_rows:
                renderer.write(table, source, out)
                written += table.num_rows
    return written


def unenriched(events: pa.Table) -> pa.Table:
    """Sinkhole events with the enrichment columns a renderer reads, null (nothing looked up)."""
    missing = [
        (name, pa.nulls(events.num_rows, kind))
        for name, kind in (
            ("source_asn", pa.int64()),
            ("source_as_name", pa.string()),
            ("source_cc", pa.string()),
        )
        if name not in events.column_names
    ]
    return put_columns(events, missing)


def write_recorded(
    dataset: Path,
    fmt: str,
    out: BinaryIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write every recorded sinkhole event in [since, until) to `out` as recorded (no
    enrichment, unclaimed requests included), in time order; the number written. `fmt` is a
    key of RECORDED_FORMATS."""
    if fmt not in RECORDED_FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(RECORDED_FORMATS)}")
    renderer = event_renderer(RECORDED_FORMATS[fmt])
    out.write(renderer.header())
    written = 0
    for batch in iter_events(dataset, since=since, until=until):
        if batch.num_rows:
            renderer.write(unenriched(pa.Table.from_batches([batch])), "sinkhole", out)
            written += batch.num_rows
    return written

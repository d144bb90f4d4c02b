"""The event formats: IntelMQ JSON lines, Shadowserver CSV, and IntelMQ-named CSV, each an
EventRenderer over batches of stored events. The IntelMQ rendering of a sinkhole event is one
SELECT list (event_sql.sinkhole_fields): `botcensus events` and `botcensus export` share it."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, BinaryIO, Final

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from botcensus.export.base import EventRenderer, EventSource
from botcensus.export.cells import safe_cell, safe_table
from botcensus.export.event_sql import (
    ENRICHED,
    feed_csv,
    feed_json,
    sinkhole_csv,
    sinkhole_fields,
    sinkhole_json,
)
from botcensus.feeds.mapping import DEFAULT_MAPPING, field_types, load_mapping
from botcensus.store.db import connect
from botcensus.store.feed_sightings import MEMORY_LIMIT

CSV_REPORT: Final = "event4_sinkhole_http"
"""The Shadowserver report whose columns `--format shadowserver` writes."""
CSV_COLUMNS: Final = tuple(k for k, _ in sinkhole_fields() if k not in ENRICHED)
"""The columns of `botcensus events --format csv`: every IntelMQ field of a recorded sinkhole
event, in the order the JSON lines write them."""


@functools.cache
def _mapping_types() -> Mapping[str, str]:
    return MappingProxyType(field_types(load_mapping(DEFAULT_MAPPING)))


@functools.cache
def _csv_header(report: str = CSV_REPORT) -> list[str]:
    return list(load_mapping(DEFAULT_MAPPING).report(report).columns)


def _select(table: pa.Table, select: str) -> pa.Table:
    con = connect(memory_limit=MEMORY_LIMIT)
    con.register("events", table)
    return con.sql(f"SELECT {select} FROM events").to_arrow_table()  # noqa: S608 (our SQL)


def _write_lines(lines: pa.Table, out: BinaryIO) -> None:
    """Write a column of newline-terminated strings straight from its Arrow data buffer."""
    array = lines["line"].combine_chunks()
    if len(array) == 0:
        return
    width = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=width)
    lo, hi = offsets[array.offset], offsets[array.offset + len(array)]
    out.write(memoryview(array.buffers()[2])[int(lo) : int(hi)])


def intelmq_lines(
    events: pa.Table, source: EventSource, constants: Mapping[str, str] | None = None
) -> pa.Table:
    """One IntelMQ JSON line per event (column `line`, newline-terminated), in the events'
    order; `constants` (field -> text) go on every line (a report's `tlp`, say)."""
    if source == "feed":
        return _select(events, feed_json(events.column_names, _mapping_types(), constants))
    return _select(events, sinkhole_json(constants))


def shadowserver_rows(events: pa.Table, source: EventSource, report: str = CSV_REPORT) -> pa.Table:
    """Events in the columns of a Shadowserver report (`event4_sinkhole_http`,
    `event4_sinkhole`), one row per event in the events' order, every cell formula-safe."""
    header = _csv_header(report)
    select = feed_csv(header, events.column_names) if source == "feed" else sinkhole_csv(header)
    return safe_table(_select(events, select))


class IntelMqEvents(EventRenderer):
    """IntelMQ JSON lines: IntelMQ's field names (harmonization.conf), empty fields left out."""

    name = "intelmq"
    media_type = "application/x-ndjson"
    extension = ".jsonl"

    def write(self, events: pa.Table, source: EventSource, out: BinaryIO) -> None:
        _write_lines(intelmq_lines(events, source), out)


class ShadowserverEvents(EventRenderer):
    """A Shadowserver event4_sinkhole_http report (CSV); no cell opens as a formula."""

    name = "shadowserver"
    media_type = "text/csv"
    extension = ".csv"

    def header(self) -> bytes:
        return (",".join(f'"{h}"' for h in _csv_header()) + "\n").encode()

    def write(self, events: pa.Table, source: EventSource, out: BinaryIO) -> None:
        rows = shadowserver_rows(events, source)
        pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False))


class IntelMqCsvEvents(EventRenderer):
    """Sinkhole events as CSV under their IntelMQ names (CSV_COLUMNS): the IntelMQ JSON lines
    laid out in columns. RFC 4180 (CRLF line ends, so a cell holding a bare CR is quoted and
    cannot split its row); a text cell starting with = + - @ TAB or CR gets a leading
    apostrophe (OWASP), so a spreadsheet shows bot-chosen values as text."""

    name = "intelmq-csv"
    media_type = "text/csv"
    extension = ".csv"

    def header(self) -> bytes:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(CSV_COLUMNS)
        return text.getvalue().encode()

    def write(self, events: pa.Table, source: EventSource, out: BinaryIO) -> None:
        if source != "sinkhole":
            raise ValueError("intelmq-csv renders sinkhole events only")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        for line in intelmq_lines(events, source)["line"].to_pylist():
            event: dict[str, Any] = json.loads(line)
            names = event.get("extra.header_names")
            if names is not None:
                event["extra.header_names"] = " ".join(names)
            writer.writerow({k: safe_cell(v) for k, v in event.items()})
        out.write(text.getvalue().encode())


EVENT_RENDERERS: Final[Mapping[str, EventRenderer]] = MappingProxyType(
    {r.name: r for r in (IntelMqEvents(), ShadowserverEvents(), IntelMqCsvEvents())}
)
"""Every event format by its name."""


def event_renderer(name: str) -> EventRenderer:
    """The renderer of an event format; ValueError naming the known ones otherwise."""
    try:
        return EVENT_RENDERERS[name]
    except KeyError:
        raise ValueError(f"format {name!r}: choose from {', '.join(EVENT_RENDERERS)}") from None

"""Render recorded events with IntelMQ field names, as JSON lines or CSV (text cells a
spreadsheet would run as formulas are written as text: feeds/cells.py)."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

import pyarrow as pa

from botcensus.export.cells import safe_cell
from botcensus.model import EVENT_COLUMNS, INTELMQ_CONSTANTS, intelmq_name

# CSV columns: the constant fields first, then every event column under its IntelMQ name.
CSV_COLUMNS: tuple[str, ...] = (
    intelmq_name("time_received"),
    *INTELMQ_CONSTANTS,
    *(intelmq_name(c) for c in EVENT_COLUMNS if c != "time_received"),
)


def _value(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if column == "body_sha256":
        return value.hex()
    if column == "body_head":
        return base64.b64encode(value).decode("ascii") if value else None
    return value


def intelmq_events(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    """Each event as an IntelMQ-style dict; absent values are left out, as IntelMQ does."""
    for batch in batches:
        for row in batch.to_pylist():
            event: dict[str, Any] = {"time.source": _value("time_received", row["time_received"])}
            event.update(INTELMQ_CONSTANTS)
            for column in EVENT_COLUMNS[1:]:
                value = row.get(column)
                if value is None or value == "" or value == []:
                    continue
                value = _value(column, value)
                if value is not None:
                    event[intelmq_name(column)] = value
            yield event


def write_jsonl(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    n = 0
    for event in events:
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def write_csv(events: Iterable[dict[str, Any]], out: TextIO) -> int:
    """One CSV row per event (RFC 4180: CRLF line ends, so a cell holding a bare CR is
    quoted and cannot split its row); a text cell starting with = + - @ TAB or CR gets a
    leading apostrophe (OWASP), so a spreadsheet shows bot-chosen values as text."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    n = 0
    for event in events:
        names = event.get("extra.header_names")
        if names is not None:
            event = {**event, "extra.header_names": " ".join(names)}
        writer.writerow({k: safe_cell(v) for k, v in event.items()})
        n += 1
    return n

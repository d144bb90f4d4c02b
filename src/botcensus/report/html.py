"""One self-contained HTML page: charts embedded as data URIs, tables inline; opens offline."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa

from botcensus.report.tables import HEADERS, UNITS, is_identifier, missing

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.unit{color:#777;font-weight:normal;font-size:.8em}img{max-width:100%}
"""


def _cell(value: Any, name: str = "") -> tuple[str, bool]:
    if value is None:
        return missing(name), False
    if isinstance(value, int) and not isinstance(value, bool) and is_identifier(name):
        return str(value), False
    if isinstance(value, bool):  # before int: a flag, not a count
        return ("yes" if value else ""), False
    if isinstance(value, float):
        return f"{value:+.1%}", True
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, date):
        return value.isoformat(), False
    return html.escape(str(value)), False


def table_html(
    table: pa.Table, columns: Sequence[str] | None = None, *, numeric: Sequence[str] = ()
) -> str:
    """An HTML table; numbers right-aligned, and so are the (preformatted) `numeric` columns."""
    names = list(columns or table.column_names)
    # a window that ends on another day is a week: its first day is not "day"
    weeks = {"window_start": "week starting"} if "window_end" in names else {}
    head = "".join(
        f"<th>{html.escape(weeks.get(n) or HEADERS.get(n, n))}"
        + (f' <span class="unit">{UNITS[n]}</span>' if n in UNITS else "")
        + "</th>"
        for n in names
    )
    body = []
    for row in table.select(names).to_pylist():
        cells = []
        for n in names:
            text, is_number = _cell(row[n], n)
            right = is_number or n in numeric
            cells.append(f'<td class="n">{text}</td>' if right else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A page of (heading, HTML fragment) sections."""
    parts = [f"<h2>{html.escape(h)}</h2>\n{fragment}" for h, fragment in sections]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n"
        + "\n".join(parts)
        + "</body></html>\n"
    )


def image_html(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

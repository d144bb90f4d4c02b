"""Render census results: rich terminal tables, JSON rows, CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Final, TextIO

import pyarrow as pa

from botcensus.export.cells import safe_cell
from botcensus.model import Unit

if TYPE_CHECKING:  # rich is loaded for terminal tables only, not for JSON or CSV
    from rich.console import Console
    from rich.table import Table

# Column -> the unit its numbers are in (printed in headers and JSON metadata).
UNITS: dict[str, str] = {
    "unique_ip": Unit.UNIQUE_IP,
    "unique_bot_id": Unit.UNIQUE_BOT_ID,
    "unique_ip_first": Unit.UNIQUE_IP,
    "unique_ip_last": Unit.UNIQUE_IP,
    "hits": Unit.HITS,
    "unique_ip_hll": "unique_ip_hll",
    "unique_ip_hll_lower": "unique_ip_hll",
    "unique_ip_hll_upper": "unique_ip_hll",
    "unique_bot_id_hll": "unique_bot_id_hll",
    "hosts_est": Unit.HOSTS,
    "hosts_lo": Unit.HOSTS,
    "hosts_hi": Unit.HOSTS,
    "ips_hourly_avg": "unique_ip/h",
}
# Short headers for terminal tables; JSON and CSV keep the column names.
HEADERS: dict[str, str] = {
    "window_start": "day",
    "window_end": "week ending",
    "unique_ip": "IPs",
    "unique_bot_id": "bot ids",
    "hits": "hits",
    "unique_ip_change": "change",
    "unique_ip_hll": "IPs (sketch)",
    "unique_ip_hll_change": "change",
    "unique_ip_change_since_first": "since first",
    "unique_ip_first": "first week",
    "unique_ip_last": "last week",
    "rank": "#",
    "hosts_est": "hosts (est.)",
    "hosts_lo": "90% low",
    "hosts_hi": "90% high",
    "hosts_support": "support",
    "ips_hourly_avg": "IPs/hour",
    "days_covered": "days of 7",
    "partial": "partial",
}


IDENTIFIERS: Final = frozenset(
    {"asn", "source_asn", "destination_asn", "reported_asn", "source_port", "destination_port",
     "port", "group"}
)  # fmt: skip
"""Columns of numbers that name something (an ASN, a port, a network as a clean-up group)
rather than count it: written without thousands separators."""


def is_identifier(name: str) -> bool:
    """Whether column `name` is one of IDENTIFIERS."""
    return name in IDENTIFIERS


GROUPS: Final = frozenset({"country", "asn", "family", "feed"})
"""Group columns: a missing value there is a group of its own, shown as "unknown" (as the
dashboard and the charts show it); elsewhere a missing value is "—"."""


def missing(name: str) -> str:
    """How a missing value in column `name` is shown."""
    return "unknown" if name in GROUPS else "—"


def _cell(value: Any, name: str = "") -> str:
    if value is None:
        return missing(name)
    if isinstance(value, int) and not isinstance(value, bool) and is_identifier(name):
        return str(value)
    if isinstance(value, bool):  # before int: a flag, not a count
        return ("partial" if value else "") if name == "partial" else str(value).lower()
    if isinstance(value, float) and name in UNITS:  # an estimated count
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:+.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rich_table(table: pa.Table, title: str, columns: Sequence[str] | None = None) -> Table:
    """A rich Table with units in the headers of count columns."""
    from rich.table import Table
    from rich.text import Text

    names = list(columns or table.column_names)
    # Titles and cells are text, never markup: a feed's family or network name such as
    # "[/]" stopped the table (rich's MarkupError), and "[link=...]" made a hyperlink.
    out = Table(title=Text(title), title_justify="left")
    for name in names:
        unit = UNITS.get(name)
        header = HEADERS.get(name, name)
        if unit and unit != header:
            header += f"\n[dim]{unit}[/]"
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type
        )
        out.add_column(header, justify="right" if numeric else "left", no_wrap=name in HEADERS)
    for row in table.select(names).to_pylist():
        out.add_row(*(Text(_cell(row[n], n)) for n in names))
    return out


def print_table(
    table: pa.Table,
    title: str,
    console: Console | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print `table` whole: no number or name is ever cut to "…". A table wider than the
    console is printed at its own width where the output is a file or a pipe (rich takes
    80 columns there, as from cron); on a terminal its cells are wrapped between words to
    fit, and only where even that cannot fit is it printed at its own width."""
    from rich.console import Console
    from rich.measure import Measurement

    console = console or Console()
    rendered = rich_table(table, title, columns)
    # Fitted to the console, rich cuts cells to "…" and can squeeze a column to nothing
    # (the country column of `census --estimate --by country` at 80 columns, before
    # 2026-12-05).
    need = Measurement.get(console, console.options.update_width(10_000), rendered).maximum
    if need <= console.width:
        console.print(rendered)
        return
    if console.is_terminal and _wrap_to(console, rendered, console.width):
        console.print(rendered)
        return
    # Console.print(width=...) cannot exceed the console's own width: a console of the
    # table's width on the same file, so the caller's keeps sizing itself to the terminal.
    wide = Console(
        file=console.file,
        width=need,
        color_system=console.color_system,  # type: ignore[arg-type]
        force_terminal=console.is_terminal,
        no_color=console.no_color,
        highlight=False,
    )
    wide.print(rendered, crop=False)


def _wrap_to(console: Console, rendered: Table, width: int) -> bool:
    """Give each column of `rendered` a fixed width, wrapped between words, so that the
    table is `width` wide: each at least its longest word, the room left shared in
    proportion to what each would take unwrapped. False (and `rendered` unchanged) where
    the longest words alone are wider."""
    from rich.measure import Measurement
    from rich.text import Text

    wide = console.options.update_width(10_000)
    low, high = [], []
    for column in rendered.columns:
        cells = [Text.from_markup(str(column.header)), *column.cells]
        sizes = [Measurement.get(console, wide, c) for c in cells]
        low.append(max(m.minimum for m in sizes))
        high.append(max(m.maximum for m in sizes))
    frame = Measurement.get(console, wide, rendered).maximum - sum(high)  # borders, padding
    room = width - frame - sum(low)
    if room < 0:
        return False
    spare = [h - lo for h, lo in zip(high, low, strict=True)]
    total = sum(spare) or 1
    widths = [lo + (room * s) // total for lo, s in zip(low, spare, strict=True)]
    for column, w in zip(rendered.columns, widths, strict=True):
        column.width, column.no_wrap, column.overflow = w, False, "fold"
    return True


def census_columns(table: pa.Table, window: str, by: Sequence[str]) -> list[str]:
    """The columns worth a terminal's width: the window's last day, the groups, the counts
    (bot ids only where a protocol has them), change against the previous window, whether
    the window is partial (for days: only where one is), rank."""
    names = [
        "window_end" if window == "week" else "window_start",
        "days_covered" if window == "week" else "",  # a day's row covers its day
        *by,
        "unique_ip",
        "unique_ip_hll",
    ]
    if "unique_bot_id" in table.column_names and any(table["unique_bot_id"].to_pylist()):
        names.append("unique_bot_id")
    names += ["hosts_est", "hosts_lo", "hosts_hi", "hosts_support", "ips_hourly_avg"]
    if "hosts_est" not in table.column_names:  # with estimates, hits do not fit 80 columns
        names.append("hits")
    names += ["unique_ip_change", "unique_ip_hll_change"]
    # a day is partial when it has no data of the feed asked for, or is not over (today)
    if window == "week" or ("partial" in table.column_names and any(table["partial"].to_pylist())):
        names.append("partial")
    if by:
        names.append("rank")
    return [n for n in names if n in table.column_names]


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def write_json(table: pa.Table, out: TextIO) -> None:
    """A JSON list of row objects; dates as ISO 8601."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_pylist()]
    json.dump(rows, out, indent=1)
    out.write("\n")


def write_csv(table: pa.Table, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(safe_cell(_json_value(row[c])) for c in table.column_names)

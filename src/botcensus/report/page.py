"""Write a takedown report: a PNG chart, CSV tables and one offline HTML page bundling them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from botcensus.measure.summary import Summary
from botcensus.report import charts, html


@dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    chart: Path
    countries: Path
    asns: Path


def _write_csv(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(table, path)
    return path


def write_report(summary: Summary, out: Path, *, title: str, top: int = 20) -> ReportFiles:
    """Render `summary` into `out/` (created). Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    png = charts.weekly_by_country_png(
        summary.weekly_by_country, title=f"{title}: weekly unique IPs, top countries stacked"
    )
    chart = out / "weekly_unique_ip_by_country.png"
    chart.write_bytes(png)
    countries = _write_csv(summary.countries, out / "countries.csv")
    asns = _write_csv(summary.asns, out / "asns.csv")
    period = (
        f"<p>Change from the week starting {summary.first_week} to the week starting "
        f"{summary.last_week} (first and last complete weeks, UTC).</p>"
        if summary.first_week
        else "<p>No data.</p>"
    )
    sections = [
        ("Weekly unique IP addresses", html.image_html(png, "weekly unique IPs by country")),
        ("Weeks", html.table_html(summary.weekly)),
        (f"Countries (top {top})", period + html.table_html(summary.countries.slice(0, top))),
        (f"Networks (top {top} ASNs)", period + html.table_html(summary.asns.slice(0, top))),
    ]
    page = out / "index.html"
    page.write_text(html.page(title, sections), encoding="utf-8")
    return ReportFiles(page, chart, countries, asns)

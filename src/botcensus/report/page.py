"""Write a takedown report: PNG charts, CSV tables and one offline HTML page bundling them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from botcensus.export.cells import safe_table
from botcensus.measure.cleanup import CleanupResult
from botcensus.measure.summary import Summary
from botcensus.report import charts, cleanup_html, html
from botcensus.report.cleanup_charts import chart_pngs

CLEANUP_CHARTS = ("decay.png", "survival.png")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    html: Path
    chart: Path
    countries: Path
    asns: Path
    decay: Path | None = None
    """Weekly count on a log scale with the fitted decay (None: no clean-up result)."""
    survival: Path | None = None
    """Kaplan–Meier curves per group (None: no clean-up result, or no curves)."""


def _write_csv(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(safe_table(table), path)  # AS names and families open as text
    return path


_WEEKS_NOTE = (
    "<p>Days covered: days of the week with any data. A partial week (fewer than 7) is "
    "hatched in the chart and has no change figures; a week without data is a gap.</p>"
)


def _weeks_note(summary: Summary) -> str:
    """_WEEKS_NOTE, and where a week holds the day the report was made in, that the day is
    not over (not a day with data: its week is partial whatever it holds)."""
    today = summary.today
    ends = summary.weekly["window_end"].to_pylist()
    if today is None or not ends or max(ends) < today:
        return _WEEKS_NOTE
    return _WEEKS_NOTE + (
        f"<p>Today ({today}, UTC) is not over: it is not counted as a day with data, so the "
        "week that holds it is partial.</p>"
    )


def _period(summary: Summary) -> str:
    """What the country and network tables compare."""
    if summary.first_week is None:
        return "<p>No data.</p>"
    full = not all(summary.weekly["partial"].to_pylist())
    which = (
        "first and last full weeks: data on all 7 days"
        if full
        else "no week has data on all 7 days: first and last weeks, both partial"
    )
    if summary.first_week == summary.last_week:
        return (
            f"<p>One week to compare (starting {summary.first_week}, UTC): no change to "
            "compute, the change columns are empty.</p>"
        )
    return (
        f"<p>Change from the week starting {summary.first_week} to the week starting "
        f"{summary.last_week} ({which}, UTC).</p>"
    )


def write_report(
    summary: Summary,
    out: Path,
    *,
    title: str,
    top: int = 20,
    cleanup: CleanupResult | None = None,
    marks: Sequence[tuple[date, str]] = (),
    cleanup_error: str | None = None,
) -> ReportFiles:
    """Render `summary` into `out/` (created), with the decay and survival charts and tables
    of `cleanup` when given (`marks` drawn on the decay chart), or `cleanup_error` saying
    why there are none. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    png = charts.weekly_by_country_png(
        summary.weekly_by_country,
        title=f"{title}: weekly unique IPs, top countries stacked",
        covered=summary.weekly,
    )
    chart = out / "weekly_unique_ip_by_country.png"
    chart.write_bytes(png)
    countries = _write_csv(summary.countries, out / "countries.csv")
    asns = _write_csv(summary.asns, out / "asns.csv")
    period = _period(summary)
    sections = [
        ("Weekly unique IP addresses", html.image_html(png, "weekly unique IPs by country")),
        ("Weeks", _weeks_note(summary) + html.table_html(summary.weekly)),
        (f"Countries (top {top})", period + html.table_html(summary.countries.slice(0, top))),
        (f"Networks (top {top} ASNs)", period + html.table_html(summary.asns.slice(0, top))),
    ]
    pngs = chart_pngs(cleanup, marks, title=title) if cleanup is not None else {}
    for name in CLEANUP_CHARTS:  # a chart left from an earlier report would contradict the page
        if name in pngs:
            (out / name).write_bytes(pngs[name])
        else:
            (out / name).unlink(missing_ok=True)
    if cleanup is not None:
        sections += cleanup_html.cleanup_sections(cleanup, pngs)
    elif cleanup_error is not None:
        sections += cleanup_html.cleanup_missing(cleanup_error)
    page = out / "index.html"
    page.write_text(html.page(title, sections), encoding="utf-8")
    written = {name: out / name if name in pngs else None for name in CLEANUP_CHARTS}
    return ReportFiles(page, chart, countries, asns, written["decay.png"], written["survival.png"])

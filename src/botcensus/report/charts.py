"""Charts as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date, timedelta

import matplotlib as mpl

mpl.use("Agg")  # headless: charts are files, never windows

import matplotlib.pyplot as plt
import pyarrow as pa
from matplotlib.patches import Patch

FULL_WEEK = 7


def week_axis(ends: list[date]) -> list[date]:
    """Every week end from the first to the last of `ends`, the weeks without data included
    (a chart must show them as gaps, not draw across them)."""
    if not ends:
        return []
    first, last = min(ends), max(ends)
    return [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]


@dataclass(frozen=True, slots=True)
class StackedWeeks:
    """What the weekly chart draws: every week of the span, a series per country."""

    weeks: list[date]
    series: dict[str, list[float]]
    """Unique IPs per week; NaN for a week without any data (a gap, not a zero)."""
    days: list[int | None]
    """Days with data of each week (None: not known)."""

    @property
    def partial(self) -> list[bool]:
        return [d is not None and d < FULL_WEEK for d in self.days]


def stacked_weeks(
    counts: pa.Table, *, top: int = 8, covered: pa.Table | None = None
) -> StackedWeeks:
    """The `top` countries (by their first-week count) and the rest, per week of the span.
    `counts`: window_end, country, unique_ip; `covered`: window_end, days_covered."""
    rows = counts.to_pylist()
    days: dict[date, int] = {}
    if covered is not None:
        days = {r["window_end"]: r["days_covered"] for r in covered.to_pylist()}
    weeks = week_axis(sorted({r["window_end"] for r in rows} | set(days)))
    first = min((r["window_end"] for r in rows), default=None)
    first_week = sorted(
        (r for r in rows if r["window_end"] == first), key=lambda r: -r["unique_ip"]
    )
    leaders = [r["country"] for r in first_week[:top]]
    index = {w: i for i, w in enumerate(weeks)}
    series: dict[str, list[float]] = {str(c or "unknown"): [math.nan] * len(weeks) for c in leaders}
    series["other"] = [math.nan] * len(weeks)
    for i in {index[r["window_end"]] for r in rows}:  # a week with data: zero, not a gap
        for values in series.values():
            values[i] = 0.0
    for r in rows:
        key = str(r["country"] or "unknown") if r["country"] in leaders else "other"
        series[key][index[r["window_end"]]] += r["unique_ip"]
    return StackedWeeks(weeks, series, [days.get(w) for w in weeks])


def weekly_by_country_png(
    counts: pa.Table, *, top: int = 8, title: str, covered: pa.Table | None = None
) -> bytes:
    """Stacked weekly unique IPs (stacked_weeks), one bar per week: a week without data is
    an empty slot, never a line drawn across it, and a partial week (`covered`: window_end,
    days_covered; fewer than 7) is hatched and labelled "k/7 d"."""
    chart = stacked_weeks(counts, top=top, covered=covered)
    weeks, partial = chart.weeks, chart.partial
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    bottom = [0.0] * len(weeks)
    handles: list[Patch] = []
    for i, (name, values) in enumerate(chart.series.items()):
        color = f"C{i % 10}"
        hatch = ["//" if p else "" for p in partial]
        ax.bar(weeks, values, width=6, bottom=bottom, color=color, alpha=0.85,  # type: ignore[arg-type]
               hatch=hatch, edgecolor="white", linewidth=0)  # fmt: skip
        handles.append(Patch(facecolor=color, alpha=0.85, label=name))
        bottom = [b + (0.0 if math.isnan(v) else v) for b, v in zip(bottom, values, strict=True)]
    for week, height, days, is_partial in zip(weeks, bottom, chart.days, partial, strict=True):
        if is_partial:
            ax.annotate(f"{days}/7 d", (week, height), ha="center", va="bottom",
                        fontsize="small")  # fmt: skip
    if any(partial):
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="grey",
                hatch="//",
                label="partial week (days with data of 7)",
            )
        )
    ax.set_title(title)
    ax.set_xlabel("week ending (UTC)")
    ax.set_ylabel("unique IP addresses per week (unit: unique_ip)")
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()

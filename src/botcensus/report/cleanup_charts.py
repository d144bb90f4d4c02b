"""Clean-up charts as PNG bytes: weekly decay with its fitted rate and intervention marks,
and Kaplan–Meier curves of time to clean-up per group (renders results, computes nothing)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # headless: charts are files, never windows

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from botcensus.measure.cleanup import CleanupResult
from botcensus.report.charts import week_axis


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _plain_log_ticks(ax: Axes) -> None:
    """Round numbers as plain text on a log axis (700, 1,000, 1,500, not 10³): a log scale
    over less than a decade would otherwise show one label or none."""
    low, high = ax.get_ylim()
    ticks = [t for t in mticker.MaxNLocator(nbins=6).tick_values(low, high) if low <= t <= high]
    if len(ticks) >= 3 and ticks[0] > 0 and high / low < 100:
        ax.yaxis.set_major_locator(mticker.FixedLocator(ticks))
        ax.yaxis.set_minor_locator(mticker.NullLocator())
    ax.yaxis.set_major_formatter(
        mticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    )
    ax.yaxis.set_minor_formatter(mticker.NullFormatter())


def decay_png(
    weekly: pa.Table,
    *,
    count: str = "unique_ip",
    rate_per_week: float | None = None,
    intercept: float | None = None,
    marks: Sequence[tuple[date, str]] = (),
    title: str,
) -> bytes:
    """decay_figure as PNG bytes."""
    return _png(
        decay_figure(
            weekly,
            count=count,
            rate_per_week=rate_per_week,
            intercept=intercept,
            marks=marks,
            title=title,
        )
    )


def decay_figure(
    weekly: pa.Table,
    *,
    count: str = "unique_ip",
    rate_per_week: float | None = None,
    intercept: float | None = None,
    marks: Sequence[tuple[date, str]] = (),
    title: str,
) -> Figure:
    """Weekly counts on a log scale (one row per window: window_start, window_end, `count`),
    the fitted exponential exp(intercept − rate·t) with t in weeks after the first window's
    middle, and a dashed line per mark. The unit is the count column's name."""
    starts = weekly["window_start"].to_pylist()
    ends = weekly["window_end"].to_pylist()
    seen = dict(zip(ends, (v or 0.0 for v in weekly[count].to_pylist()), strict=True))
    axis = week_axis(ends)  # a week left out (no data, or partial) is a break in the line
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    values = [seen.get(w, math.nan) for w in axis]
    ax.plot(axis, values, "o-", label=f"{count} per week")  # type: ignore[arg-type]  # dates: matplotlib units
    if rate_per_week is not None and intercept is not None and starts:
        origin = starts[0] + timedelta(days=3.5)
        days = [s + timedelta(days=3.5) for s in starts]
        fitted = [math.exp(intercept - rate_per_week * (d - origin).days / 7.0) for d in days]
        half = math.log(2) / rate_per_week if rate_per_week > 0 else math.inf
        ax.plot(
            ends,
            fitted,
            "--",
            label=f"fit: {rate_per_week:.3f} per week (half-life {half:.1f} weeks)",
        )
    for day, label in marks:
        ax.axvline(day, color="grey", linestyle=":", linewidth=1)  # type: ignore[arg-type]
        ax.annotate(label, (day, 1), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize="small")  # fmt: skip
    ax.set_yscale("log")
    _plain_log_ticks(ax)
    ax.set_title(title)
    ax.set_xlabel("week ending (UTC)")
    ax.set_ylabel(f"per week (unit: {count}, log scale)")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3, which="both")
    fig.autofmt_xdate()
    return fig


def survival_png(curves: pa.Table, *, top: int = 6, title: str) -> bytes:
    """survival_figure as PNG bytes."""
    return _png(survival_figure(curves, top=top, title=title))


def survival_figure(curves: pa.Table, *, top: int = 6, title: str) -> Figure:
    """Kaplan–Meier step curves with their interval bands, one per group (the `top` groups
    with most identities; the overall curve is the group null)."""
    groups = pc.unique(curves["group"]).to_pylist()
    sizes = {g: int(pc.max(_of(curves, g)["at_risk"]).as_py() or 0) for g in groups}
    chosen = sorted(groups, key=lambda g: -sizes[g])[:top]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    for group in chosen:
        curve = _of(curves, group)
        times = [0.0, *curve["time"].to_pylist()]
        label = "all" if group is None else str(group)
        (line,) = ax.step(times, [1.0, *curve["survival"].to_pylist()], where="post", label=label)
        ax.fill_between(
            times,
            [1.0, *curve["lower"].to_pylist()],
            [1.0, *curve["upper"].to_pylist()],
            step="post",
            alpha=0.15,
            color=line.get_color(),
        )
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.set_xlabel("days since the start of the data")
    ax.set_ylabel("share not yet cleaned (Kaplan–Meier)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def _of(curves: pa.Table, group: object) -> pa.Table:
    column = curves["group"]
    return curves.filter(pc.is_null(column) if group is None else pc.equal(column, group))


def number(value: float, digits: int = 3) -> str:
    """A count in whole numbers (with thousands separators), anything smaller to `digits`
    significant digits."""
    if math.isfinite(value) and abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def week_bounds(row: Mapping[str, Any], name: str) -> tuple[int | None, int | None] | None:
    """A decay row's first or last week (`name`) where its count's level is not supported
    (`{name}_support` bounds, cleanup.decay): its bounds in whole machines, rounded outward,
    None for an end that is not a finite number; None where the count stands."""
    if row.get(f"{name}_support") != "bounds":
        return None

    def end(column: str, rounded: Callable[[float], int]) -> int | None:
        got = row.get(f"{name}_{column}")
        if isinstance(got, int | float) and math.isfinite(got):
            return rounded(got)
        return None

    return end("lower", math.floor), end("upper", math.ceil)


def readable(table: pa.Table, digits: int = 3) -> pa.Table:
    """Float columns as text: counts in whole numbers, rates, half-lives and survival shares
    to `digits` significant digits (they are not percentages of change, as the census's
    terminal cells assume)."""
    columns = {}
    for name in table.column_names:
        column = table[name]
        if pa.types.is_floating(column.type):
            text = [None if v is None else number(v, digits) for v in column.to_pylist()]
            columns[name] = pa.array(text, pa.string())
        else:
            columns[name] = column
    return pa.table(columns)


def chart_pngs(
    result: CleanupResult, marks: Sequence[tuple[date, str]], *, title: str = ""
) -> dict[str, bytes]:
    """decay.png when some complete week has a count, survival.png when there are curves;
    file name -> PNG bytes. `title` prefixes the charts' titles."""

    def titled(text: str) -> str:
        return f"{title}: {text}" if title else text.capitalize()

    pngs = {}
    if any(v for v in result.weekly[result.unit].to_pylist()):  # a log axis needs a count
        fit = result.fit
        pngs["decay.png"] = decay_png(
            result.weekly,
            count=result.unit,
            rate_per_week=fit.rate_per_week if fit else None,
            intercept=fit.intercept if fit else None,
            marks=list(marks),
            title=titled("weekly count and fitted decay"),
        )
    if result.curves is not None and result.curves.num_rows:
        pngs["survival.png"] = survival_png(
            result.curves, title=titled("time to clean-up (Kaplan–Meier)")
        )
    return pngs

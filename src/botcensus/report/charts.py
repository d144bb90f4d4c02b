"""Charts as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import matplotlib as mpl

mpl.use("Agg")  # headless: charts are files, never windows

import matplotlib.pyplot as plt
import pyarrow as pa


def weekly_by_country_png(counts: pa.Table, *, top: int = 8, title: str) -> bytes:
    """Stacked weekly unique IPs of the `top` countries (by their first-week count) plus the rest.

    `counts` has window_end, country, unique_ip (one row per week and country)."""
    rows = counts.to_pylist()
    weeks = sorted({r["window_end"] for r in rows})
    first = weeks[0] if weeks else None
    first_week = sorted(
        (r for r in rows if r["window_end"] == first), key=lambda r: -r["unique_ip"]
    )
    leaders = [r["country"] for r in first_week[:top]]
    series: dict[str, list[int]] = {str(c or "??"): [0] * len(weeks) for c in leaders}
    series["other"] = [0] * len(weeks)
    index = {w: i for i, w in enumerate(weeks)}
    for r in rows:
        key = str(r["country"] or "??") if r["country"] in leaders else "other"
        series[key][index[r["window_end"]]] += r["unique_ip"]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    ax.stackplot(weeks, list(series.values()), labels=list(series), alpha=0.85)
    ax.set_title(title)
    ax.set_xlabel("week ending (UTC)")
    ax.set_ylabel("unique IP addresses per week (unit: unique_ip)")
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(loc="upper right", ncols=3, fontsize="small")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()

"""The weekly chart's data: every week of the span, gaps where no data, partial weeks flagged;
and the decay chart's line breaks at a week left out instead of drawing across it."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pyarrow as pa

from botcensus.report.charts import stacked_weeks, week_axis, weekly_by_country_png
from botcensus.report.cleanup_charts import decay_figure

SAT = date(2021, 3, 6)


def _week(n: int) -> date:
    return SAT + timedelta(days=7 * n)


def _counts(weeks: list[int]) -> pa.Table:
    rows = [
        {"window_end": _week(w), "country": cc, "unique_ip": n}
        for w in weeks
        for cc, n in (("DE", 10), ("US", 5))
    ]
    return pa.Table.from_pylist(rows)


def test_the_week_axis_holds_the_weeks_without_data() -> None:
    assert week_axis([_week(0), _week(3)]) == [_week(i) for i in range(4)]
    assert week_axis([]) == []


def test_a_week_without_data_is_a_gap_not_a_zero_and_not_a_line() -> None:
    chart = stacked_weeks(_counts([0, 1, 3]))
    assert chart.weeks == [_week(i) for i in range(4)]
    assert chart.series["DE"][:2] == [10.0, 10.0]
    assert math.isnan(chart.series["DE"][2])
    assert math.isnan(chart.series["other"][2])
    assert chart.series["DE"][3] == 10.0


def test_partial_weeks_carry_their_days_with_data() -> None:
    covered = pa.Table.from_pylist(
        [{"window_end": _week(0), "days_covered": 7}, {"window_end": _week(1), "days_covered": 1}]
    )
    chart = stacked_weeks(_counts([0, 1]), covered=covered)
    assert chart.days == [7, 1]
    assert chart.partial == [False, True]


def test_the_chart_renders_gaps_and_partial_weeks() -> None:
    covered = pa.Table.from_pylist([{"window_end": _week(3), "days_covered": 2}])
    png = weekly_by_country_png(_counts([0, 3]), title="t", covered=covered)
    assert png.startswith(b"\x89PNG")


def test_the_decay_line_breaks_at_a_missing_week() -> None:
    weekly = pa.Table.from_pylist(
        [
            {"window_start": _week(w) - timedelta(days=6), "window_end": _week(w), "unique_ip": n}
            for w, n in ((0, 100), (1, 80), (3, 50))
        ]
    )
    fig = decay_figure(weekly, title="t")
    y = list(fig.axes[0].lines[0].get_ydata())
    assert y[:2] == [100, 80]
    assert math.isnan(y[2])
    assert y[3] == 50

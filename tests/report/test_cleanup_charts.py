"""Clean-up charts: what each figure draws (its data, scale, marks, labels) before it is
rendered, and the rendered PNG decoded as an image."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable, Iterator

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pyarrow as pa
import pytest
from matplotlib.figure import Figure
from PIL import Image

from botcensus.measure.survival import kaplan_meier
from botcensus.report.cleanup_charts import (
    decay_figure,
    decay_png,
    readable,
    survival_figure,
    survival_png,
)

STARTS = [dt.date(2011, 3, 20) + dt.timedelta(days=7 * i) for i in range(6)]
WEEKLY = pa.table(
    {
        "window_start": STARTS,
        "window_end": [s + dt.timedelta(days=6) for s in STARTS],
        "unique_ip": [1000.0 * 0.8**i for i in range(6)],
    }
)
RATE, INTERCEPT = 0.223, math.log(1000.0)
MARK = dt.date(2011, 4, 12)


@pytest.fixture
def decay() -> Iterator[Figure]:
    fig = decay_figure(
        WEEKLY, rate_per_week=RATE, intercept=INTERCEPT, marks=[(MARK, "MSRT")], title="decay"
    )
    yield fig
    plt.close(fig)


def test_decay_draws_each_week_at_its_end_on_a_log_scale(decay: Figure) -> None:
    ax = decay.axes[0]
    counts = ax.get_lines()[0]
    assert [mdates.num2date(x).date() for x in counts.get_xdata(orig=False)] == [
        s + dt.timedelta(days=6) for s in STARTS
    ]
    assert list(counts.get_ydata()) == pytest.approx(WEEKLY["unique_ip"].to_pylist())
    assert ax.get_yscale() == "log"
    assert ax.get_ylabel() == "per week (unit: unique_ip, log scale)"
    assert ax.get_title() == "decay"


def test_decay_fit_follows_the_rate_from_the_first_weeks_middle(decay: Figure) -> None:
    fitted = decay.axes[0].get_lines()[1]
    expected = [math.exp(INTERCEPT - RATE * i) for i in range(6)]
    assert list(fitted.get_ydata()) == pytest.approx(expected)
    labels = [t.get_text() for t in decay.axes[0].get_legend().get_texts()]
    assert labels == [
        "unique_ip per week",
        f"fit: {RATE:.3f} per week (half-life {math.log(2) / RATE:.1f} weeks)",
    ]


def test_decay_marks_the_intervention_day(decay: Figure) -> None:
    ax = decay.axes[0]
    mark = ax.get_lines()[2]
    assert mdates.date2num(mark.get_xdata()[0]) == mdates.date2num(MARK)
    assert [t.get_text() for t in ax.texts] == ["MSRT"]


def test_decay_without_a_fit_draws_the_counts_only() -> None:
    fig = decay_figure(WEEKLY, title="no fit")
    try:
        assert len(fig.axes[0].get_lines()) == 1
    finally:
        plt.close(fig)


def _curves() -> pa.Table:
    parts = []
    for group, n in (("US", 6), ("IN", 9), (None, 15), ("RU", 3)):
        curve = kaplan_meier(list(range(1, n + 1)), [i % 3 != 0 for i in range(n)])
        parts.append(curve.add_column(0, "group", pa.array([group] * curve.num_rows, pa.string())))
    return pa.concat_tables(parts)


def test_survival_draws_the_largest_groups_as_steps_from_one() -> None:
    curves = _curves()
    fig = survival_figure(curves, top=3, title="time to clean-up")
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["all", "IN", "US"]  # by identities at risk; RU left out
        steps = {line.get_label(): line for line in ax.get_lines()}
        overall = curves.filter(pa.compute.is_null(curves["group"]))
        assert list(steps["all"].get_xdata()) == [0.0, *overall["time"].to_pylist()]
        assert list(steps["all"].get_ydata()) == [1.0, *overall["survival"].to_pylist()]
        assert ax.get_ylim() == (0, 1.02)
        assert ax.get_ylabel() == "share not yet cleaned (Kaplan–Meier)"
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    "png",
    [
        lambda: decay_png(WEEKLY, rate_per_week=RATE, intercept=INTERCEPT, title="decay"),
        lambda: survival_png(_curves(), title="time to clean-up"),
    ],
    ids=["decay", "survival"],
)
def test_the_png_decodes_to_a_drawn_image(png: Callable[[], bytes]) -> None:
    image = Image.open(io.BytesIO(png()))
    assert image.format == "PNG"
    assert 800 <= image.width <= 1100
    assert 400 <= image.height <= 600
    pixels = np.asarray(image.convert("L"))
    assert (pixels < 128).mean() > 0.005  # lines and text, not a blank canvas
    assert (pixels > 250).mean() > 0.5  # on a white background


def test_readable_writes_floats_as_plain_numbers() -> None:
    table = readable(
        pa.table({"group": ["US"], "first": [7305.0], "rate_per_week": [0.176617], "weeks": [9]})
    )
    assert table.to_pylist() == [
        {"group": "US", "first": "7,305", "rate_per_week": "0.177", "weeks": 9}
    ]

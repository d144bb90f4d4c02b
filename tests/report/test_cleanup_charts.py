"""Clean-up charts render to PNG bytes from result tables."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from botcensus.measure.survival import kaplan_meier
from botcensus.report.cleanup_charts import decay_png, survival_png

PNG = b"\x89PNG\r\n\x1a\n"


def test_decay_chart_is_a_png() -> None:
    starts = [dt.date(2011, 3, 20) + dt.timedelta(days=7 * i) for i in range(6)]
    weekly = pa.table(
        {
            "window_start": starts,
            "window_end": [s + dt.timedelta(days=6) for s in starts],
            "unique_ip": [1000.0 * 0.8**i for i in range(6)],
        }
    )
    png = decay_png(
        weekly,
        rate_per_week=0.223,
        intercept=6.9,
        marks=[(dt.date(2011, 4, 12), "MSRT")],
        title="decay",
    )
    assert png.startswith(PNG)


def test_survival_chart_is_a_png() -> None:
    curve = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    curves = curve.add_column(0, "group", pa.array(["US"] * curve.num_rows, pa.string()))
    assert survival_png(curves, title="time to clean-up").startswith(PNG)


def test_readable_writes_floats_as_plain_numbers() -> None:
    from botcensus.report.cleanup_charts import readable

    table = readable(
        pa.table({"group": ["US"], "first": [7305.0], "rate_per_week": [0.176617], "weeks": [9]})
    )
    assert table.to_pylist() == [
        {"group": "US", "first": "7,305", "rate_per_week": "0.177", "weeks": 9}
    ]

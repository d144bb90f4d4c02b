"""An identity cleaned in the last days of the data is never called cleaned (its silence is
too short): censoring it there while the uninfected run on to the end would bias the tail
of the curve upwards. Every identity not yet called is censored at its horizon instead."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure.survival.curves import curves_by_group, survival_at

D0 = dt.date(2011, 3, 17)
END = 55  # the last day of data, days after D0
THRESHOLD = 6


def _rows(n: int, rate: float, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Identities seen every day from D0 until cleaned (exponential), called cleaned when
    their silence to the end exceeds THRESHOLD days."""
    rng = np.random.default_rng(seed)
    cleaned_at = rng.exponential(1 / rate, n)
    last = np.minimum(np.floor(cleaned_at), END).astype(int)
    silence = END - last
    rows = pa.table(
        {
            "identity": [f"10.0.{i >> 8}.{i & 255}" for i in range(n)],
            "asn": pa.array([64500] * n, pa.int64()),
            "cc": ["ZZ"] * n,
            "first_day": [D0] * n,
            "last_day": [D0 + dt.timedelta(days=int(d)) for d in last],
            "days_seen": pa.array(last + 1, pa.int64()),
            "silence": pa.array(silence, pa.int64()),
            "threshold": pa.array([THRESHOLD] * n, pa.int64()),
            "cleaned": pa.array(silence > THRESHOLD),
            "renumbering": pa.array([0.0] * n),
        }
    )
    return rows, cleaned_at


def test_the_curve_stops_at_the_horizon_and_is_right_up_to_it() -> None:
    rows, cleaned_at = _rows(20_000, 0.015, seed=1)
    curve = curves_by_group(rows, D0, None)
    horizon = END + 1 - THRESHOLD
    assert float(curve["time"].to_numpy().max()) == pytest.approx(horizon)
    for day in (14, 28, 42):
        true = float(np.mean(cleaned_at > day))
        assert survival_at(curve, day) == pytest.approx(true, abs=0.012)
    assert survival_at(curve, 56) is None  # past the horizon: not estimable here


def test_censoring_at_the_last_sighting_would_read_too_high() -> None:
    """The old rule (censored at the last sighting), for comparison: the tail reads high."""
    rows, cleaned_at = _rows(20_000, 0.015, seed=2)
    naive = rows.drop_columns(["silence", "threshold"])
    curve = curves_by_group(naive, D0, None)
    true = float(np.mean(cleaned_at > END))
    reading = survival_at(curve, END)
    assert reading is not None
    assert reading > true + 0.03

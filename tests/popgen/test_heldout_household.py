"""The post hoc household rescaling (bench/heldout/household.py): on a population whose
households thin as the model says, the rescaled estimates are the machines."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from bench.heldout.household import HOUSEHOLD, M0, lines_left, per_line, rescale, summary

START = date(2024, 3, 10)


def _weeks(rate: float = 0.05, n: int = 9, machines: float = 8000.0) -> list[dict[str, object]]:
    """Geometric households (mean M0 in the first full week, week 1), machines cleaned one
    by one at `rate` a week: each week's lines counted exactly and reported with the
    constant HOUSEHOLD, as the estimator does; week 0 partial."""
    p = 1.0 / M0
    rows = []
    for w in range(n):
        s = math.exp(-rate * (w - 1))
        line_count = machines / M0 * s / (p + s * (1 - p))
        est = HOUSEHOLD * line_count
        rows.append({"week_end": (START + timedelta(days=7 * w)).isoformat(), "cc": None,
                     "days": 4 if w == 0 else 7, "active": machines * s, "est": est,
                     "lo": 0.9 * est, "hi": 1.1 * est})  # fmt: skip
    return rows


def test_households_that_thin_as_modelled_give_back_the_machines() -> None:
    weeks = _weeks()
    got = rescale(weeks)
    assert [r.est for r in got[1:]] == pytest.approx([w["active"] for w in weeks[1:]], rel=1e-9)
    # the partial week takes the first full week's x (1): M0 machines a line there too
    assert got[0].est == pytest.approx(weeks[0]["est"] / HOUSEHOLD * M0)


def test_the_constant_reads_the_first_weeks_low_and_the_rescaling_does_not() -> None:
    weeks = _weeks()[1:]
    s = summary(weeks)
    assert s["scored"]["error_global"] > 0.04  # 1.25 against 1.375 down to 1.27
    assert s["rescaled"]["error_global"] < 1e-9
    assert s["rescaled"]["inside"] == s["rescaled"]["checked"] == len(weeks)


def test_lines_left_never_exceed_the_first_full_week() -> None:
    weeks = _weeks(rate=-0.02)  # more lines each week: new infections
    assert set(lines_left(weeks).values()) == {1.0}
    assert per_line(1.0) == pytest.approx(M0)
    assert per_line(0.0) == 1.0


def test_no_full_week_no_rescaling() -> None:
    assert rescale(_weeks(n=1)) == []

"""Identities against the decay of the host estimates (cleanup.checks): agreement is
reported, disagreement gives bounds, a lone figure is labelled."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from botcensus.measure.cleanup.checks import (
    AGREE,
    checked_hazard,
    checked_survival,
    decay_hazard,
    decay_share,
    decide,
)
from botcensus.measure.cleanup.decay import DecayFit


def _fit(rate: float, se: float = 0.005) -> DecayFit:
    return DecayFit(rate, rate - 2 * se, rate + 2 * se, 0.95, 9.0, se, 1.0, 8)


def test_figures_that_agree_give_the_identities_figure() -> None:
    figure = decide((0.80, 0.78, 0.82), (0.79, 0.77, 0.81), AGREE)
    assert (figure.value, figure.support) == (0.80, "estimate")


def test_figures_that_disagree_give_only_bounds_spanning_both() -> None:
    figure = decide((0.40, 0.38, 0.42), (0.78, 0.76, 0.80), AGREE)
    assert figure.value is None
    assert (figure.lower, figure.upper, figure.support) == (0.38, 0.80, "bounds")


def test_a_lone_figure_is_labelled_by_where_it_came_from() -> None:
    assert decide(None, (0.6, 0.5, 0.7), AGREE).support == "decay"
    assert decide((0.6, 0.5, 0.7), None, AGREE).support == "identities"
    assert decide(None, None, AGREE).support == "none"


def test_the_decay_gives_the_share_left_after_a_number_of_days() -> None:
    value, lo, hi = decay_share(_fit(0.06), 28) or (0, 0, 0)
    assert value == pytest.approx(math.exp(-0.24))
    assert lo < value < hi


def test_checked_survival_adds_the_support_and_keeps_the_identities_figure() -> None:
    summary = pa.Table.from_pylist(
        [
            {
                "group": None,
                "identities": 500,
                "surviving_28d": 0.40,
                "surviving_28d_lower": 0.37,
                "surviving_28d_upper": 0.43,
                "surviving_56d": None,
                "surviving_56d_lower": None,
                "surviving_56d_upper": None,
            }
        ]
    )
    out = checked_survival(summary, {None: _fit(0.06)}, None).to_pylist()[0]
    assert out["surviving_28d_km"] == 0.40
    assert out["surviving_28d"] is None  # 0.40 against exp(-0.24) = 0.79
    assert out["surviving_28d_support"] == "bounds"
    assert out["surviving_28d_lower"] <= 0.40
    assert out["surviving_28d_upper"] >= 0.78
    assert out["surviving_56d_support"] == "decay"
    assert out["surviving_56d"] == pytest.approx(math.exp(-0.48))


def test_lines_followed_are_turned_into_machines() -> None:
    row = {"group": None, "identities": 500, "surviving_28d": 0.8}
    row |= {"surviving_28d_lower": 0.8, "surviving_28d_upper": 0.8}
    summary = pa.Table.from_pylist([row])
    out = checked_survival(summary, {}, 1.25, days=(28,)).to_pylist()[0]
    assert out["surviving_28d"] < 0.8
    assert out["surviving_28d_support"] == "identities"


def test_a_group_with_a_decay_but_no_identities_still_gets_a_row() -> None:
    summary = pa.Table.from_pylist([{"group": None, "identities": 0}])
    out = checked_survival(summary, {None: _fit(0.06), "IN": _fit(0.09)}, None).to_pylist()
    assert {r["group"] for r in out} == {None, "IN"}
    assert all(r["surviving_28d_support"] == "decay" for r in out)


def test_the_ratio_of_decay_rates_has_an_interval_from_both() -> None:
    value, lo, hi = decay_hazard(_fit(0.09), _fit(0.06)) or (0, 0, 0)
    assert value == pytest.approx(1.5)
    assert lo < 1.5 < hi


def test_no_ratio_from_a_count_that_does_not_fall() -> None:
    assert decay_hazard(_fit(0.09), _fit(-0.01)) is None
    assert decay_hazard(None, _fit(0.06)) is None


def test_a_cox_ratio_far_from_the_decay_ratio_is_not_reported() -> None:
    figure = checked_hazard((1.0, 0.9, 1.1), (1.6, 1.4, 1.8))
    assert figure.value is None
    assert figure.support == "bounds"
    assert (figure.lower, figure.upper) == (0.9, 1.8)

"""hosts.model: machines per line where the data cannot show them (households)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.model import (
    HOUSEHOLD,
    WIDENED_SCALE,
    Z90,
    Estimate,
    household_spread,
    with_household,
)

from .hosts_cases import Population, connect, per_hour, populate


@pytest.mark.parametrize("lines", [15, 50, 400])
def test_the_household_spread_holds_a_groups_own_mean(lines: int) -> None:
    """Groups of `lines` households drawn from the law (geometric, mean HOUSEHOLD): the
    90% range the spread gives holds their own mean machines per line in about 90% of
    groups. Without the term a group's mean was taken as the law's, exactly."""
    rng = np.random.default_rng(lines)
    groups = rng.geometric(1.0 / HOUSEHOLD, size=(4000, lines)).mean(axis=1)
    half = Z90 * math.sqrt(float(household_spread(np.array([lines], float), HOUSEHOLD)[0]))
    held = np.abs(np.log(groups / HOUSEHOLD)) <= half
    assert 0.86 <= held.mean() <= 0.94


def test_few_lines_are_widened_more_than_many_and_machines_do_not_move() -> None:
    lines = np.array([20.0, 2000.0])
    zero = np.zeros(2)
    est = Estimate(lines, zero, zero, lines, zero, zero, np.zeros(2, np.int64), zero > 0)
    out = with_household(est, HOUSEHOLD)
    assert out.group_hosts == pytest.approx(lines * HOUSEHOLD)
    assert out.country_var[0] == pytest.approx((1 - 1 / HOUSEHOLD) / 20)
    assert out.country_var[0] == pytest.approx(100 * out.country_var[1])
    assert np.all(out.group_shared == 0)  # one group's households are not another's
    # where every line is one machine there is nothing to spread
    assert np.all(with_household(est, 1.0).group_var == 0)


def test_a_small_network_without_a_timer_gets_its_households_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 static lines, reports per hour (no timer to show machines behind an address): the
    interval is that without the households' spread widened by the spread of 30
    households' mean (each on the log scale, in quadrature)."""
    from botcensus.measure.hosts import model

    pop = Population()
    populate(pop, range(30), "static", cc="AA", asn=64501, weeks=2)
    con = connect(per_hour(pop.table()))
    answer = hosts_answer(con, CensusQuery(), "sightings")
    assert answer.household
    monkeypatch.setattr(model, "household_spread", lambda lines, m: np.zeros_like(lines))
    without = hosts_answer(con, CensusQuery(), "sightings").table.to_pylist()
    for row, old in zip(answer.table.to_pylist(), without, strict=True):
        assert row["hosts_est"] == pytest.approx(old["hosts_est"])
        lines = row["hosts_est"] / HOUSEHOLD
        need = Z90 * math.sqrt((1 - 1 / HOUSEHOLD) / lines)
        # A widened interval is narrowed by WIDENED_SCALE, the spread added to it as well.
        assert row["hosts_support"] == old["hosts_support"] == "widened"
        need *= WIDENED_SCALE
        before = math.log(old["hosts_est"] / old["hosts_lo"])
        after = math.log(row["hosts_est"] / row["hosts_lo"])
        assert after == pytest.approx(math.hypot(before, need), rel=0.1), row
        assert after > before + 0.02

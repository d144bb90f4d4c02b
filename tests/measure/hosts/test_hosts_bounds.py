"""Bounds counted from addresses (hosts.bounds) and the cross-check they make of the
address model's estimates (hosts.answer)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts.answer import _table
from botcensus.measure.hosts.bounds import MOST_PER_ADDRESS, address_bounds
from botcensus.measure.hosts.model import HOUSEHOLD
from botcensus.measure.hosts.support import Fit

from .hosts_cases import START, Population, connect, populate


def _two_hours() -> Population:
    """Three addresses online 10:00-11:30 on the first day, one more at 15:00, and an IPv6
    address alongside (left out of the lower bound)."""
    pop = Population()
    for n in range(3):
        pop.session([n], START, f"10.0.0.{n + 1}", 10 * 3600, 11.5 * 3600, cc="AA", asn=1)
    pop.session([3], START, "10.0.0.9", 15 * 3600, 15.2 * 3600, cc="AA", asn=1)
    for address in ("2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4"):
        pop.session([4], START, address, 10 * 3600, 10.5 * 3600, cc="AA", asn=1)
    return pop


def test_the_lower_bound_is_the_busiest_hour_of_ipv4_addresses() -> None:
    con = connect(_two_hours().table())
    bounds = address_bounds(con, CensusQuery(), "sightings")
    ((key, (peak, most)),) = bounds.items()
    assert key == (START,)
    assert peak == 3
    assert most == pytest.approx(8 * MOST_PER_ADDRESS)


def test_bounds_are_per_group() -> None:
    con = connect(_two_hours().table())
    bounds = address_bounds(con, CensusQuery(by=("country",)), "sightings")
    assert set(bounds) == {(START, "AA")}


def test_address_bounds_hold_on_lines_that_renumber() -> None:
    pop = Population()
    populate(pop, range(200), "session", cc="AA", asn=1, weeks=2)
    populate(pop, range(200, 400), "daily", cc="AA", asn=2, weeks=2, seed=1)
    bounds = address_bounds(connect(pop.table()), CensusQuery(), "sightings")
    for (start,), (peak, most) in bounds.items():
        true = pop.hosts(start, start + timedelta(days=6))  # type: ignore[operator]
        assert peak <= true <= most


def _one_row(est: float, var: float, checks: tuple[float, float], untimed: bool) -> tuple:
    fit = Fit(untimed=untimed)
    key = (date(2011, 3, 6),)
    table, middle = _table(
        {key: [est, var, 0.0]}, {key: 0}, fit, CensusQuery(), 1.6448536, {key[0]: 7},
        {key: checks},
    )  # fmt: skip
    return table.to_pylist()[0], middle[0], fit


def test_an_estimate_below_the_busiest_hour_is_not_supported() -> None:
    row, middle, fit = _one_row(100.0, 25.0, (150.0, 1000.0), untimed=True)
    assert row["hosts_support"] == "bounds"
    assert row["hosts_est"] is None
    assert row["hosts_lo"] == 150.0
    assert row["hosts_hi"] == 1000.0
    assert middle == 100.0  # the model's figure still gives the trend
    assert fit.disagree == {"hourly": 1}
    notes = fit.notes()
    assert any("below the peak hourly distinct addresses" in n for n in notes)
    assert any("hosts_lo is the larger of" in n for n in notes)


def test_an_estimate_above_the_addresses_is_not_supported_without_a_timer() -> None:
    row, _, fit = _one_row(2000.0, 100.0, (150.0, 1000.0), untimed=True)
    assert row["hosts_support"] == "bounds"
    assert row["hosts_lo"] == 150.0
    assert row["hosts_hi"] == 1000.0
    assert fit.disagree == {"addresses": 1}


def test_with_a_timer_the_addresses_do_not_bound_from_above() -> None:
    """Where a timer shows machines behind one address, the model counts them: unique
    addresses times an assumed household are no bound."""
    row, _, fit = _one_row(2000.0, 100.0, (150.0, 1000.0), untimed=False)
    assert row["hosts_support"] == "estimate"
    assert row["hosts_est"] == 2000.0
    assert fit.disagree == {}


def test_an_estimate_inside_the_bounds_keeps_its_interval() -> None:
    row, middle, fit = _one_row(500.0, 2500.0, (150.0, 1000.0), untimed=True)
    assert row["hosts_support"] == "widened"
    assert row["hosts_est"] == 500.0
    assert middle == 500.0
    assert row["hosts_lo"] < 500.0 < row["hosts_hi"]
    assert fit.disagree == {}


def test_the_most_per_address_is_the_household_assumptions_top() -> None:
    assert HOUSEHOLD < MOST_PER_ADDRESS < 2 * HOUSEHOLD

"""Bounds counted from addresses (hosts.bounds) and the cross-check they make of the
address model's estimates (hosts.answer)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.answer import WINDOW, _table
from botcensus.measure.hosts.bounds import (
    MOST_PER_ADDRESS,
    address_bounds,
    busiest_hour_ratio,
    most_machines,
)
from botcensus.measure.hosts.model import BOUNDS, BUSY_EXCESS, HOUSEHOLD, MIN_REFERENCE
from botcensus.measure.hosts.support import Fit

from .hosts_cases import START, Population, connect, merge_by_address, populate


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
    ((key, (peak, most, floor)),) = bounds.items()
    assert key == (START,)
    assert peak == floor == 3
    assert most == pytest.approx(most_machines(8))


def _checkins(*times_h: tuple[str, float, float]) -> Population:
    """One address-day per (address, first check-in, last check-in), hours of the day."""
    pop = Population()
    for address, first, last in times_h:
        pop.session([len(pop.rows)], START, address, first * 3600, last * 3600, cc="AA", asn=1)
    return pop


@pytest.mark.parametrize(
    ("rows", "peak", "floor"),
    [
        # Check-ins at 08:00 and 20:00 (two sessions a day, off in between) and two other
        # addresses at 14:00: the span rule counts three at 14:00, the floor two.
        ((("10.0.0.1", 8, 20), ("10.0.0.2", 14, 14.2), ("10.0.0.3", 14, 14.2)), 3, 2),
        # 10:50 and 11:40, less than an hour apart: in both hours, as before.
        ((("10.0.0.1", 10 + 50 / 60, 11 + 40 / 60), ("10.0.0.2", 11, 11.2)), 2, 2),
        # Exactly an hour apart (09:30, 10:30) still counts across; 61 minutes from 09:00 to
        # 11:01 spans 10:00 without a check-in in it.
        ((("10.0.0.1", 9.5, 10.5), ("10.0.0.2", 10, 10.1)), 2, 2),
        ((("10.0.0.1", 9, 11 + 1 / 60), ("10.0.0.2", 10, 10.1)), 2, 1),
    ],
)
def test_the_floor_counts_an_address_between_check_ins_only_an_hour_apart(
    rows: tuple[tuple[str, float, float], ...], peak: int, floor: int
) -> None:
    pop = _checkins(*rows)
    ((_, got),) = address_bounds(connect(pop.table()), CensusQuery(), "sightings").items()
    assert (got.peak, got.floor) == (peak, floor)


def _remapped_pool(machines: int, pool: int) -> Population:
    """A carrier-grade NAT that remaps: `machines` online 08:00-20:00 on a Sunday, each
    checking in once an hour from whichever address of a pool of `pool` it holds then; the
    sinkhole sees one sighting per address (first and last check-in of the day)."""
    rng = np.random.default_rng(5)
    addresses = [f"10.9.0.{i + 1}" for i in range(pool)]
    pop = Population()
    for m in range(machines):
        for hour in range(8, 20):
            at = (hour + rng.uniform(0.0, 0.9)) * 3600
            address = addresses[int(rng.integers(pool))]
            pop.session([m], START, address, at, at, cc="AA", asn=1)
    pop.rows = merge_by_address(pop.rows)
    return pop


def test_the_floor_holds_behind_a_pool_that_remaps_where_the_span_does_not() -> None:
    """b-mobile: an address seen at 08:00 and 19:00 served other machines in between; the
    span rule counts it in every hour and its busiest hour exceeds the machines."""
    pop = _remapped_pool(20, 60)
    true = pop.hosts(START, START)
    ((_, got),) = address_bounds(connect(pop.table()), CensusQuery(), "sightings").items()
    assert got.floor <= true < got.peak


def test_bounds_hold_behind_a_pool_that_remaps() -> None:
    pop = _remapped_pool(20, 60)
    answer = hosts_answer(connect(pop.table()), CensusQuery(), "sightings")
    for row in answer.table.to_pylist():
        assert row["hosts_lo"] <= pop.hosts(row["window_start"], row["window_end"])


def test_bounds_are_per_group() -> None:
    con = connect(_two_hours().table())
    bounds = address_bounds(con, CensusQuery(by=("country",)), "sightings")
    assert set(bounds) == {(START, "AA")}


def test_address_bounds_hold_on_lines_that_renumber() -> None:
    pop = Population()
    populate(pop, range(200), "session", cc="AA", asn=1, weeks=2)
    populate(pop, range(200, 400), "daily", cc="AA", asn=2, weeks=2, seed=1)
    bounds = address_bounds(connect(pop.table()), CensusQuery(), "sightings")
    for (start,), (peak, most, floor) in bounds.items():
        true = pop.hosts(start, start + timedelta(days=6))  # type: ignore[operator]
        assert floor <= peak <= true <= most


def _one_row(est: float, var: float, checks: tuple[float, ...], untimed: bool) -> tuple:
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
    assert any("hosts_lo is the smaller of" in n for n in notes)


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


def _lines(n: int, asn: int, hours: tuple[float, float], pop: Population) -> None:
    """n lines of network `asn` in AA, one address each, online `hours` on the first day."""
    for i in range(n):
        pop.session([asn * 1000 + i], START, pop.address(), hours[0] * 3600, hours[1] * 3600,
                    cc="AA", asn=asn)  # fmt: skip


def test_the_busiest_hour_ratio_counts_the_stable_networks_only() -> None:
    """60 lines, 40 of them online at 10:00 and 20 at 15:00: 60 lines per 40 busiest-hour
    addresses; a network not in the stable set (asn 2) changes nothing."""
    pop = Population()
    _lines(40, 1, (10, 10.5), pop)
    _lines(20, 1, (15, 15.5), pop)
    _lines(500, 2, (12, 12.2), pop)
    ratio = busiest_hour_ratio(connect(pop.table()), CensusQuery(), "sightings", {("AA", 1)})
    assert ratio == {START: pytest.approx(MOST_PER_ADDRESS * 60 / 40)}


def test_the_busiest_hour_ratio_needs_a_reference() -> None:
    pop = Population()
    _lines(MIN_REFERENCE - 1, 1, (10, 10.5), pop)
    con = connect(pop.table())
    assert busiest_hour_ratio(con, CensusQuery(), "sightings", {("AA", 1)}) == {}
    assert busiest_hour_ratio(con, CensusQuery(), "sightings", set()) == {}


def _busy_row(est: float, ratio: float, untimed: bool = True) -> tuple:
    """One weekly row with a busiest hour of 100 IPv4 addresses, 10,000 unique addresses
    times the most per address, and the stable networks' machines per busiest-hour address
    `ratio`."""
    fit = Fit(untimed=untimed)
    key = (date(2011, 3, 6),)
    table, middle = _table(
        {key: [est, est * est * 0.01, 0.0]}, {key: 1}, fit, CensusQuery(), 1.6448536,
        {key[0]: 7}, {key: (100.0, 10_000.0)}, {key[0]: ratio},
    )  # fmt: skip
    return table.to_pylist()[0], middle[0], fit


def test_an_estimate_far_above_its_busiest_hour_is_not_supported() -> None:
    """The stable networks show 2 machines per busiest-hour address: 100 addresses in the
    busiest hour allow BUSY_EXCESS x 200, and an estimate whose interval (10% standard
    error) lies above it counts host-days the data do not show (b-mobile: many addresses a
    machine-day)."""
    est = BUSY_EXCESS * 200 * 1.25
    row, middle, fit = _busy_row(est, 2.0)
    assert row["hosts_support"] == "bounds"
    assert row["hosts_est"] is None
    assert fit.disagree == {"busiest": 1}
    assert middle == pytest.approx(est)
    assert row["hosts_lo"] == 100.0  # the busiest hour, below the model's interval
    assert row["hosts_hi"] == 10_000.0
    notes = fit.notes()
    assert any("busiest hour" in n and "stable networks" in n for n in notes)


@pytest.mark.parametrize("over", [0.95, 1.05])
def test_an_estimate_within_its_busiest_hour_allowance_is_kept(over: float) -> None:
    """Within the allowance, or above it by less than its own error (10% standard error:
    its 90% range reaches below): a knife-edge over the point allowance cost b-harsh seed 14
    with ids a whole week."""
    row, _, fit = _busy_row(BUSY_EXCESS * 200 * over, 2.0)
    assert row["hosts_support"] == "widened"
    assert row["hosts_est"] == pytest.approx(BUSY_EXCESS * 200 * over)
    assert fit.disagree == {}


def test_without_a_stable_reference_the_busiest_hour_check_is_not_made() -> None:
    row, _, fit = _busy_row(5_000.0, float("inf"))
    assert row["hosts_support"] == "widened"
    assert fit.disagree == {}


def test_a_country_over_its_allowance_by_less_than_its_error_keeps_the_window() -> None:
    """The country check takes the country's estimate at the bottom of its 90% range: France
    at 0.06% over the point allowance took b-harsh seed 14's whole week (with ids) to bounds.
    A country over by more than its error still takes the window."""

    def support(hosts: float, var: float) -> list[str]:
        start = date(2011, 3, 6)
        keys = [(start, "AA"), (start, "BB")]
        sums = {k: [100.0, 100.0, 0.0] for k in keys}
        checks = dict.fromkeys(keys, (50.0, 10_000.0))  # the rows' own: within every check
        # BB's busiest hour: 100 addresses (top of its Poisson range 116.4), 2 machines each
        countries = {(start, "AA"): (100.0, 1000.0, 100.0), (start, "BB"): (hosts, 100.0, var)}
        table, _ = _table(
            sums, dict.fromkeys(keys, 1), Fit(untimed=True), CensusQuery(by=("country",)),
            1.6448536, {start: 7}, checks, {start: 2.0}, countries,
        )  # fmt: skip
        return [r["hosts_support"] for r in table.to_pylist()]

    allowance = BUSY_EXCESS * 2.0 * (100 + 1.6448536 * 10)
    assert support(allowance * 1.01, (0.1 * allowance) ** 2) == ["widened", "widened"]
    assert support(allowance * 1.01, 0.0) == ["bounds", "bounds"]
    assert support(allowance * 1.5, (0.1 * allowance * 1.5) ** 2) == ["bounds", "bounds"]


def test_a_window_over_its_busiest_hour_allowance_has_no_estimate_in_any_group() -> None:
    """Two countries, each within its own busiest hour's allowance (their busiest hours
    fall at different times), but the window's busiest hour (120 addresses, 2 machines each
    by the stable networks) allows fewer than their sum: host-days per machine are the
    model's everywhere, so neither keeps its estimate."""
    fit = Fit(untimed=True)
    start = date(2011, 3, 6)
    keys = [(start, "AA"), (start, "BB")]
    sums = {k: [200.0, 400.0, 0.0] for k in keys}
    checks = dict.fromkeys(keys, (100.0, 10000.0)) | {(start, WINDOW): (120.0, 20_000.0)}
    table, _ = _table(
        sums, dict.fromkeys(keys, 1), fit, CensusQuery(by=("country",)), 1.6448536,
        {start: 7}, checks, {start: 2.0},
    )  # fmt: skip
    assert [r["hosts_support"] for r in table.to_pylist()] == ["bounds", "bounds"]
    assert fit.disagree == {"busiest": 2}


def test_the_lower_bound_takes_the_floor_and_the_allowance_the_peak() -> None:
    """Busiest hour 100 addresses by the span rule, 40 by check-ins: the allowance stays
    BUSY_EXCESS x 100 x 2 (counted as the stable networks' ratio is), the lower bound 40."""
    fit = Fit(untimed=True)
    key = (date(2011, 3, 6),)
    table, _ = _table(
        {key: [BUSY_EXCESS * 200 * 1.05, 10.0, 0.0]}, {key: 1}, fit, CensusQuery(),
        1.6448536, {key[0]: 7}, {key: (100.0, 10_000.0, 40.0)}, {key[0]: 2.0},
    )  # fmt: skip
    (row,) = table.to_pylist()
    assert row["hosts_support"] == "bounds"
    assert fit.disagree == {"busiest": 1}
    assert row["hosts_lo"] == 40.0


def test_an_estimate_between_the_floor_and_the_span_peak_is_kept() -> None:
    row, _, fit = _one_row(100.0, 25.0, (150.0, 1000.0, 80.0), untimed=True)
    assert row["hosts_support"] == "widened"
    assert fit.disagree == {}


def test_bounds_take_the_smaller_of_the_host_day_bound_and_the_busiest_hour() -> None:
    """Where only bounds (code BOUNDS), the lower bound is the smaller of the model's
    host-day bound and the busiest hour: each fails where the other may hold (the host-day
    bound where addresses split a machine's day in more than two; the busiest hour behind
    NAT that picks an address per connection)."""
    key = (date(2011, 3, 6),)

    def lower(peak: float) -> float:
        table, _ = _table(
            {key: [1000.0, 10_000.0, 0.0]}, {key: BOUNDS}, Fit(untimed=True), CensusQuery(),
            1.6448536, {key[0]: 7}, {key: (peak, 100_000.0)},
        )  # fmt: skip
        return float(table.to_pylist()[0]["hosts_lo"])

    model = lower(0.0)  # no IPv4 busiest hour: the host-day bound alone
    assert 0 < model < 1000.0
    assert lower(model / 2) == pytest.approx(model / 2)
    assert lower(model * 2) == pytest.approx(model)


def test_where_the_model_brackets_days_active_its_figure_is_the_bracket_middle() -> None:
    """Where only bounds because days active are unknown (code BOUNDS), cleanup fits the
    decay to the model's figure: the geometric middle of its bracket of days active, the same
    level as in the weeks with an estimate. The bounds' lower end also allows for renumbering
    (MIN_SPLIT); the middle of the whole bounds read 0.71 times the model's figure, and a
    series of estimated weeks then bounds weeks fell at the join (b-harsh seed 22 with ids
    on 12%: decay 24.5% fast)."""
    key = (date(2011, 3, 6),)
    table, middle = _table(
        {key: [1000.0, 10_000.0, 0.0]}, {key: BOUNDS}, Fit(untimed=False), CensusQuery(),
        1.6448536, {key[0]: 7}, {key: (0.0, 100_000.0)},
    )  # fmt: skip
    row = table.to_pylist()[0]
    assert middle[0] == pytest.approx(1000.0)
    assert row["hosts_lo"] < 1000.0 < row["hosts_hi"]
    assert row["hosts_est"] is None


def test_the_upper_bound_allows_for_few_households() -> None:
    """Households of the law's mean, drawn for groups of 40 lines: the sum of their machines
    stays under the bound in at least 90% of groups (unique addresses times the most per
    address alone: about 75% here)."""
    rng = np.random.default_rng(3)
    machines = rng.geometric(1.0 / HOUSEHOLD, size=(4000, 40)).sum(axis=1)
    assert np.mean(machines <= most_machines(40)) >= 0.9
    assert np.mean(machines <= 40 * MOST_PER_ADDRESS) < 0.85
    assert most_machines(10_000) / (10_000 * MOST_PER_ADDRESS) < 1.02  # large groups: no change

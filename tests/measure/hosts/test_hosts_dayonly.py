"""Where the model cannot be checked, only bounds: sightings with no time within a day
(daily reports), and windows where a country's estimate is above its busiest hour's
allowance (hosts.answer)."""

from __future__ import annotations

import functools
import math
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.answer import _table
from botcensus.measure.hosts.bounds import address_bounds
from botcensus.measure.hosts.hourly import timed_share
from botcensus.measure.hosts.model import BUSY_EXCESS, MIN_TIMED_SHARE, Z90
from botcensus.measure.hosts.split import MIN_SPLIT
from botcensus.measure.hosts.support import DAYONLY_NOTE, Fit

from .hosts_cases import START, Population, connect, mixed, per_day, per_hour


@functools.cache
def _daily() -> pa.Table:
    return per_day(mixed(3).table())


def test_daily_reports_show_no_time_within_a_day() -> None:
    assert timed_share(connect(_daily()), CensusQuery(), "sightings") == 0.0
    assert timed_share(connect(per_hour(mixed(3).table())), CensusQuery(), "sightings") > 0.9


def test_no_sightings_count_as_timed() -> None:
    """An empty range says nothing against the model (no rows, no bounds either)."""
    assert (
        timed_share(connect(_daily()), CensusQuery(date_from=date(2030, 1, 1)), "sightings") == 1.0
    )


@pytest.mark.parametrize("by", [(), ("country",)])
def test_daily_reports_give_only_bounds_and_they_hold(by: tuple[str, ...]) -> None:
    """Without a time within the day, address-days split by renumbering cannot be counted
    (the model took them as host-days): no estimate, bounds that hold the truth."""
    pop = mixed(3)
    answer = hosts_answer(connect(_daily()), CensusQuery(by=by), "sightings")
    rows = answer.table.to_pylist()
    assert rows
    assert {r["hosts_support"] for r in rows} == {"bounds"}
    assert all(r["hosts_est"] is None for r in rows)
    for r in rows:
        true = pop.hosts(r["window_start"], r["window_end"], r.get("country"))
        assert r["hosts_lo"] <= true <= r["hosts_hi"]
    assert DAYONLY_NOTE in answer.notes
    assert len(answer.middle) == len(rows)  # the model's figure still gives the decay


def test_daily_bounds_are_half_the_busiest_day_and_the_addresses() -> None:
    con = connect(_daily())
    answer = hosts_answer(con, CensusQuery(), "sightings")
    checks = address_bounds(con, CensusQuery(), "sightings")
    for r in answer.table.to_pylist():
        _, most, floor = checks[(r["window_start"],)]
        assert r["hosts_lo"] == pytest.approx(MIN_SPLIT * floor)
        assert r["hosts_hi"] == pytest.approx(most)


def test_the_same_sightings_per_hour_keep_their_estimates() -> None:
    answer = hosts_answer(connect(per_hour(mixed(3).table())), CensusQuery(), "sightings")
    assert set(answer.table["hosts_support"].to_pylist()) == {"widened"}
    assert DAYONLY_NOTE not in answer.notes


def test_the_threshold_is_a_small_share() -> None:
    assert 0 < MIN_TIMED_SHARE <= 0.1


def _global_row(countries: dict[tuple[object, object], tuple[float, float]]) -> tuple:
    """One weekly global row of 300 machines, within its own busiest hour's allowance (200
    addresses, 2 machines per busiest-hour address on the stable networks); each country's
    (estimate, busiest hour) exact (no variance: its point is its range's bottom)."""
    fit = Fit(untimed=True)
    key = (START,)
    exact = {k: (e, top, 0.0) for k, (e, top) in countries.items()}
    table, _ = _table(
        {key: [300.0, 900.0, 0.0]}, {key: 1}, fit, CensusQuery(), 1.6448536, {START: 7},
        {key: (200.0, 10_000.0)}, {START: 2.0}, exact,
    )  # fmt: skip
    return table.to_pylist()[0], fit


def test_a_window_where_one_country_is_over_its_busiest_hour_has_no_global_estimate() -> None:
    """The global row is within its own allowance, but country BB counts more than its own
    busiest hour allows: the days active and machines per address are the same figures in
    every country, so the global row is not supported either."""
    over = BUSY_EXCESS * 2.0 * (50.0 + Z90 * math.sqrt(50.0)) * 1.05
    row, fit = _global_row({(START, "AA"): (300.0 - over, 150.0), (START, "BB"): (over, 50.0)})
    assert row["hosts_support"] == "bounds"
    assert row["hosts_est"] is None
    assert fit.disagree == {"busiest": 1}


def test_a_country_over_only_within_its_busiest_hours_noise_does_not_take_the_window() -> None:
    """A busiest hour of 50 addresses is a count with a Poisson spread of about 7: 10% over
    the allowance at 50 is within its 90% top (a small country, family A at 1,000 machines)."""
    over = BUSY_EXCESS * 2.0 * 50.0 * 1.1
    row, fit = _global_row({(START, "AA"): (300.0 - over, 150.0), (START, "BB"): (over, 50.0)})
    assert row["hosts_support"] == "widened"
    assert fit.disagree == {}


def test_a_window_whose_countries_are_within_their_allowance_keeps_its_estimate() -> None:
    under = BUSY_EXCESS * 2.0 * 50.0 * 0.9
    row, fit = _global_row({(START, "AA"): (300.0 - under, 150.0), (START, "BB"): (under, 50.0)})
    assert row["hosts_support"] == "widened"
    assert row["hosts_est"] == 300.0
    assert fit.disagree == {}


def test_by_country_one_country_over_takes_the_estimate_of_the_others_too() -> None:
    fit = Fit(untimed=True)
    keys = [(START, "AA"), (START, "BB")]
    sums = {keys[0]: [100.0, 100.0, 0.0], keys[1]: [400.0, 1600.0, 0.0]}
    checks = {keys[0]: (150.0, 10_000.0), keys[1]: (100.0, 10_000.0)}
    countries = {k: (sums[k][0], checks[k][0], sums[k][1]) for k in keys}  # BB: 10% error
    table, _ = _table(
        sums, dict.fromkeys(keys, 1), fit, CensusQuery(by=("country",)), 1.6448536,
        {START: 7}, checks, {START: 2.0}, countries,
    )  # fmt: skip
    assert [r["hosts_support"] for r in table.to_pylist()] == ["bounds", "bounds"]


@functools.cache
def _with_ids() -> tuple[Population, pa.Table]:
    """mixed(3) and 1,500 machines with bot ids, each online about one day a week on a new
    address every session, all as daily reports (no time within a day): the ids count more
    machines in a week than half the busiest day's addresses."""
    pop = mixed(3)
    extra = Population(rows=list(pop.rows), active=dict(pop.active), country=dict(pop.country))
    extra._next_address = 100_000  # new addresses apart from mixed(3)'s
    rng = np.random.default_rng(7)
    for m in range(1000, 2500):
        for d in range(21):
            if rng.random() < 0.15:
                day = START + timedelta(days=d)
                start = rng.uniform(7, 15) * 3600
                extra.session([m], day, extra.address(), start, start + 3600, cc="CC",
                              asn=64505, bot_id=f"bot-{m}")  # fmt: skip
    return extra, per_day(extra.table())


def _ids_in(pop: Population, first: date, last: date, cc: str | None = None) -> int:
    return sum(
        1
        for m, days in pop.active.items()
        if m >= 1000 and (cc is None or pop.country[m] == cc)
        and any(first <= d <= last for d in days)
    )  # fmt: skip


@pytest.mark.parametrize("by", [(), ("country",)])
def test_daily_bounds_are_at_least_the_machines_counted_from_their_ids(
    by: tuple[str, ...],
) -> None:
    """b-sparse with bot ids (seen, fifth held-out set): the no-time-within-a-day rule gave
    every row half the busiest day's addresses as its lower end, whatever the ids counted.
    Each id is a machine: the lower end is at least those, and still below the truth."""
    pop, table = _with_ids()
    answer = hosts_answer(connect(table), CensusQuery(by=by), "sightings")
    rows = answer.table.to_pylist()
    assert {r["hosts_support"] for r in rows} == {"bounds"}
    raised = 0
    for r in rows:
        ids = _ids_in(pop, r["window_start"], r["window_end"], r.get("country"))
        true = pop.hosts(r["window_start"], r["window_end"], r.get("country"))
        assert ids <= r["hosts_lo"] <= true <= r["hosts_hi"]
        raised += r["hosts_lo"] == ids
    assert raised >= 3  # every week's global row at least (by country: CC's)
    assert any("counted from their bot ids" in n for n in answer.notes)


def test_rows_without_ids_are_not_raised() -> None:
    answer = hosts_answer(connect(_daily()), CensusQuery(), "sightings")
    assert not any("counted from their bot ids" in n for n in answer.notes)

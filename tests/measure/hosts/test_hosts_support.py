"""Diagnostics that widen an interval or withhold an estimate where the data do not support
the model (hosts.support): no check-in timer, no network where an address is a line, pools
that look stable, estimates that scatter from week to week."""

from __future__ import annotations

import functools
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import address_model, checkin_timer, hosts_answer, model
from botcensus.measure.hosts.model import HOUSEHOLD, Ratio
from botcensus.measure.hosts.support import Fit, scatter

from .hosts_cases import (
    START,
    Population,
    connect,
    mixed,
    per_hour,
    populate,
    populate_households,
    populate_pool,
)

DAY = timedelta(days=1)


@functools.cache
def churning() -> Population:
    """No line keeps its address anywhere: per-session and daily renumbered lines."""
    pop = Population()
    populate(pop, range(400), "session", cc="AA", asn=64501, weeks=4)
    populate(pop, range(400, 800), "daily", cc="BB", asn=64502, weeks=4)
    return pop


def _weeks(pop: Population) -> list[tuple[date, date]]:
    return [(START + timedelta(days=7 * w), START + timedelta(days=7 * w + 6)) for w in range(4)]


def test_a_timer_is_read_where_bots_keep_one() -> None:
    answer = hosts_answer(connect(mixed(4).table()), CensusQuery(), "sightings")
    assert not answer.household
    assert set(answer.table["hosts_support"].to_pylist()) <= {"estimate", "widened"}
    assert not any("no common check-in timer" in n for n in answer.notes)


def test_reports_per_hour_show_no_timer_and_say_so() -> None:
    con = connect(per_hour(mixed(4).table()))
    assert checkin_timer(con, CensusQuery(), "sightings") is None
    answer = hosts_answer(con, CensusQuery(), "sightings")
    assert answer.household
    assert set(answer.table["hosts_support"].to_pylist()) == {"widened"}
    (note,) = [n for n in answer.notes if "no common check-in timer" in n]
    # the assumption's limit is said where the figure is used (twelfth held-out set, c-office)
    assert "behind business NAT" in note
    assert "neither the estimate nor its interval covers that" in note


def test_reports_per_hour_keep_the_estimate_near_the_truth() -> None:
    """Without a timer, renumbering splits are taken off by hours online (hosts.split) and
    machines per address assumed: the interval still holds the truth. This population has
    one machine a line and no clean-up, so the lines are counted and the assumption
    (HOUSEHOLD, no line cleaned) is what lifts the estimate above the machines."""
    pop = mixed(4)
    table = hosts_answer(connect(per_hour(pop.table())), CensusQuery(), "sightings").table
    for row in table.to_pylist():
        true = pop.hosts(row["window_start"], row["window_end"])
        assert row["hosts_lo"] <= true <= row["hosts_hi"]
        assert row["hosts_est"] / HOUSEHOLD == pytest.approx(true, rel=0.15)


def test_a_country_without_a_line_of_its_own_borrows_and_is_widened() -> None:
    answer = hosts_answer(connect(mixed(4).table()), CensusQuery(by=("country",)), "sightings")
    support = {
        (r["window_start"], r["country"]): r["hosts_support"] for r in answer.table.to_pylist()
    }
    assert {s for (_, cc), s in support.items() if cc == "BB"} == {"widened"}
    assert any("BB" in n and "borrowed" in n for n in answer.notes)


def test_without_any_stable_network_only_bounds_and_they_hold() -> None:
    pop = churning()
    con = connect(pop.table())
    answer = hosts_answer(con, CensusQuery(by=("country",)), "sightings")
    assert set(answer.table["hosts_support"].to_pylist()) == {"bounds"}
    assert answer.table["hosts_est"].null_count == answer.table.num_rows
    assert any("not supported by these data" in n for n in answer.notes)
    for row in answer.table.to_pylist():
        true = pop.hosts(row["window_start"], row["window_end"], row["country"])
        assert row["hosts_lo"] <= true <= row["hosts_hi"]


def test_a_pool_of_addresses_handed_round_is_not_a_stable_network() -> None:
    """In reports per hour no timer shows two machines on one address, and a pool a little
    larger than its machines hands each address out every few days, so its addresses come
    back within a week and live long like lines': only their scattered use tells them
    apart."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4)
    populate_pool(pop, range(300, 600), 400, cc="AA", asn=64502, weeks=4)
    model = address_model(connect(per_hour(pop.table())), CensusQuery(), "sightings")
    assert model is not None
    stable = dict(zip(model.groups, model.ref.stable.tolist(), strict=True))
    assert stable == {("AA", 64501): True, ("AA", 64502): False}


def test_split_days_are_taken_off_without_a_timer() -> None:
    model = address_model(connect(per_hour(mixed(4).table())), CensusQuery(), "sightings")
    assert model is not None
    assert model.timer is None
    share = dict(zip(model.groups, model.ref.split.tolist(), strict=True))
    assert share[("AA", 64501)] == 1.0  # a stable network is the yardstick
    assert share[("BB", 64504)] < 0.95  # renumbered daily: some days are split in two


def test_a_smooth_series_needs_no_widening() -> None:
    weeks = [START + timedelta(days=7 * w) for w in range(6)]
    rows = [(w, 1000 * 0.95**i, 0.01**2, 200 * 0.95**i) for i, w in enumerate(weeks)]
    assert scatter({(): rows}) == {}


def test_a_series_that_jumps_beyond_its_intervals_is_widened_by_its_scatter() -> None:
    weeks = [START + timedelta(days=7 * w) for w in range(6)]
    jumps = [1.0, 1.3, 0.8, 1.25, 0.75, 1.2]
    rows = [(w, 1000 * j, 0.01**2, 200.0) for w, j in zip(weeks, jumps, strict=True)]
    extra = scatter({("AA",): rows})
    assert extra[("AA",)] == pytest.approx(0.23, abs=0.08)


def test_too_few_windows_are_not_judged() -> None:
    rows = [(START, 1000.0, 0.0, 100.0), (START + timedelta(days=7), 2000.0, 0.0, 100.0)]
    assert scatter({(): rows}) == {}


def test_the_support_column_reaches_the_census_rows() -> None:
    from botcensus.measure.census_run import run_census

    con = connect(pa.Table.from_pylist(churning().rows, schema=churning().table().schema))
    result = run_census(con, CensusQuery(), "sightings", estimate=True)
    assert set(result.rows["hosts_support"].to_pylist()) == {"bounds"}
    assert any("not supported by these data" in n for n in result.notes)


@functools.cache
def lent_within() -> Population:
    """AA's static lines are used on most days, its per-session lines on fewer: the days
    active its stable network measures are not those of its other network's machines. The
    lending errs 1.75-1.9 times, about what b-harsh seed 18 showed (1.2-1.75). At 2.5 times
    (the session lines online on 20-40% of days) the interval, narrowed by WIDENED_SCALE
    since the thirty-eighth held-out set, misses (it held before)."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4, online=(0.7, 0.95))
    populate(pop, range(300, 600), "session", cc="AA", asn=64502, weeks=4, online=(0.35, 0.55))
    return pop


@pytest.mark.xfail(strict=True, reason="a 2.5-fold lending error: the narrowed interval misses")
def test_a_lending_error_of_two_and_a_half_times_falls_outside_the_narrowed_interval() -> None:
    """The known cost of WIDENED_SCALE, kept in view: the session lines online on 20-40% of
    days against the static lines' 70-95% (estimates 0.37-0.40 of the machines). Its
    interval held before the narrowing; if it holds again, this test says so."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4, online=(0.7, 0.95))
    populate(pop, range(300, 600), "session", cc="AA", asn=64502, weeks=4, online=(0.2, 0.4))
    answer = hosts_answer(connect(pop.table()), CensusQuery(by=("country", "asn")), "sightings")
    rows = [r for r in answer.table.to_pylist()
            if r["window_end"] - r["window_start"] == 6 * DAY and r["asn"] == 64502]  # fmt: skip
    assert rows
    for row in rows:
        true = sum(
            1
            for m in range(300, 600)
            if any(row["window_start"] <= d <= row["window_end"] for d in pop.active.get(m, ()))
        )
        assert row["hosts_lo"] <= true <= row["hosts_hi"], row


def test_days_active_lent_within_a_country_are_widened_where_nothing_measures_networks_apart():
    """Added after the fifteenth held-out set (b-harsh seed 18): one stable network per
    country lent to the country's others with intervals of a few percent that missed."""
    pop = lent_within()
    query = CensusQuery(by=("country", "asn"))
    answer = hosts_answer(connect(pop.table()), query, "sightings")
    rows = [r for r in answer.table.to_pylist() if r["window_end"] - r["window_start"] == 6 * DAY]
    assert rows
    off = []
    for row in rows:
        machines = range(300) if row["asn"] == 64501 else range(300, 600)
        true = sum(
            1
            for m in machines
            if any(row["window_start"] <= d <= row["window_end"] for d in pop.active.get(m, ()))
        )
        assert row["hosts_lo"] <= true <= row["hosts_hi"], row
        off.append(row["hosts_est"] / true)
        assert row["hosts_support"] == "widened"
    assert max(off) > 1.5 or min(off) < 0.67  # the error the widening is for is there
    (note,) = [n for n in answer.notes if "lent to its other networks" in n]
    assert "in AA " in note
    assert "a factor of 2 is assumed" in note


def test_networks_of_a_country_measured_alike_add_no_spread() -> None:
    """Where a country has two stable networks whose lines behave alike, the spread between
    networks is measured (about none) and nothing is assumed."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4)
    populate(pop, range(300, 600), "static", cc="AA", asn=64505, weeks=4)
    populate(pop, range(600, 900), "session", cc="AA", asn=64502, weeks=4)
    con = connect(pop.table())
    built = address_model(con, CensusQuery(), "sightings")
    assert built is not None
    week = next(w for w in built.windows if w.week is not None and len(w.sums.days) == 7)
    spread, measured = model.within_spread(week, built.ref, built.country)
    assert measured
    assert spread < 0.05
    answer = hosts_answer(con, CensusQuery(by=("country",)), "sightings")
    assert not any("lent to its other networks" in n for n in answer.notes)
    assert "estimate" in set(answer.table["hosts_support"].to_pylist())


def test_without_two_stable_networks_in_any_country_the_spread_is_assumed() -> None:
    built = address_model(connect(lent_within().table()), CensusQuery(), "sightings")
    assert built is not None
    week = next(w for w in built.windows if w.week is not None and len(w.sums.days) == 7)
    assert model.within_spread(week, built.ref, built.country) == (model.WITHIN_SPREAD, False)


@functools.cache
def one_lender() -> Population:
    """Only AA has a line that keeps its address; BB and CC renumber: one country would
    lend its days active to two."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4)
    populate(pop, range(300, 500), "session", cc="BB", asn=64502, weeks=4)
    populate(pop, range(500, 700), "daily", cc="CC", asn=64503, weeks=4)
    return pop


def test_one_country_lending_to_two_gives_only_bounds_and_names_the_lender() -> None:
    pop = one_lender()
    answer = hosts_answer(connect(pop.table()), CensusQuery(by=("country",)), "sightings")
    assert set(answer.table["hosts_support"].to_pylist()) == {"bounds"}
    note = next(n for n in answer.notes if "one lender cannot be checked" in n)
    assert "only 1 country (AA)" in note
    assert "BB" in note
    assert "CC" in note
    for row in answer.table.to_pylist():
        true = pop.hosts(row["window_start"], row["window_end"], row["country"])
        assert row["hosts_lo"] <= true <= row["hosts_hi"]


@functools.cache
def two_lenders(busier: bool) -> Population:
    """AA and BB have lines that keep their addresses; CC, DD and EE renumber every session
    and borrow. With `busier`, BB's machines are online 6-12 hours a session instead of 1-4:
    its stable addresses hold about four times AA's check-ins on the same days."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=4)
    long = (6.0, 12.0) if busier else (1.0, 4.0)
    populate(pop, range(300, 600), "static", cc="BB", asn=64502, weeks=4, hours=long)
    for i, cc in enumerate(("CC", "DD", "EE")):
        start = 600 + 200 * i
        populate(pop, range(start, start + 200), "session", cc=cc, asn=64503 + i, weeks=4)
    return pop


@pytest.mark.parametrize("busier", [False, True])
def test_two_lenders_whose_stable_addresses_differ_in_check_ins_lend_nothing(
    busier: bool,
) -> None:
    """Whole query: hosts.model.lenders_busier, then bounds in every window and a note."""
    pop = two_lenders(busier)
    built = address_model(connect(pop.table()), CensusQuery(), "sightings")
    assert built is not None
    assert model.lenders_busier(built.windows, built.ref, built.country, len(built.ccs)) is busier
    answer = hosts_answer(connect(pop.table()), CensusQuery(by=("country",)), "sightings")
    supports = set(answer.table["hosts_support"].to_pylist())
    noted = any("hold check-ins that differ by more than" in n for n in answer.notes)
    assert noted is busier
    if busier:
        assert supports == {"bounds"}
        for row in answer.table.to_pylist():
            true = pop.hosts(row["window_start"], row["window_end"], row["country"])
            assert row["hosts_lo"] <= true <= row["hosts_hi"]
    else:
        assert supports != {"bounds"}


@functools.cache
def one_lender_with_ids() -> Population:
    """AA: households on static lines, half the machines with bot ids, the only country
    whose addresses follow lines; BB (an address per session) and CC (renumbered daily)
    borrow from it, without ids: only bounds there, an estimate in AA."""
    pop = Population()
    populate_households(pop, 600, HOUSEHOLD, 0.5, cc="AA", asn=64501)
    populate(pop, range(10000, 10300), "session", cc="BB", asn=64502, weeks=4)
    populate(pop, range(10300, 10500), "daily", cc="CC", asn=64503, weeks=4)
    return pop


def test_a_total_of_estimated_and_bounded_countries_takes_its_bounds_from_them() -> None:
    """The global row sums AA's estimate and BB's and CC's bounds: only bounds, built from
    the countries' own ends (AA's lower end; AA's upper end and the others' bounds). Until
    2026-12-05 the whole row took a bracket of days active as if no country had one
    (300-3,648 here against 489-2,800; b-harsh with ids on 12%, seed 24: a factor of 14
    instead of 2.2)."""
    pop = one_lender_with_ids()
    con = connect(pop.table())
    countries = hosts_answer(con, CensusQuery(by=("country",)), "sightings").table.to_pylist()
    support = {(r["window_start"], r["country"]): r["hosts_support"] for r in countries}
    assert {cc: s for (_, cc), s in support.items()} == {
        "AA": "estimate", "BB": "bounds", "CC": "bounds",
    }  # fmt: skip
    answer = hosts_answer(con, CensusQuery(), "sightings")
    assert any("sum countries with an estimate and countries with only bounds" in n
               for n in answer.notes)  # fmt: skip
    for row in answer.table.to_pylist():
        start = row["window_start"]
        mine = [r for r in countries if r["window_start"] == start]
        aa = next(r for r in mine if r["country"] == "AA")
        assert row["hosts_support"] == "bounds"
        assert row["hosts_est"] is None
        assert row["hosts_lo"] == pytest.approx(aa["hosts_lo"], rel=1e-6)
        assert row["hosts_hi"] == pytest.approx(sum(r["hosts_hi"] for r in mine), rel=1e-6)
        true = pop.hosts(start, row["window_end"])
        assert row["hosts_lo"] <= true <= row["hosts_hi"]


def test_one_country_lending_to_one_still_gives_an_estimate() -> None:
    """mixed(4): AA lends to BB only; as many lend as borrow, so the borrower is widened."""
    answer = hosts_answer(connect(mixed(4).table()), CensusQuery(by=("country",)), "sightings")
    assert "bounds" not in set(answer.table["hosts_support"].to_pylist())
    assert not any("one lender cannot be checked" in n for n in answer.notes)


def test_the_decay_follows_the_model_figure_where_only_bounds() -> None:
    """HostsAnswer.middle: the estimate where there is one, inside the bounds otherwise."""
    answer = hosts_answer(connect(one_lender().table()), CensusQuery(), "sightings")
    assert len(answer.middle) == answer.table.num_rows
    for row, middle in zip(answer.table.to_pylist(), answer.middle, strict=True):
        assert row["hosts_est"] is None
        assert row["hosts_lo"] <= middle <= row["hosts_hi"] * 1.0000001


def _shrink(own: list[float], solid: list[bool], days: int = 7) -> Ratio:
    n = len(own)
    return model._shrink(
        np.array(own), np.full(n, 0.001), np.array(solid), np.full(n, 0.3), days
    )  # fmt: skip


@pytest.mark.parametrize(
    ("own", "solid", "fragile"),
    [
        ([-1.8, -1.9, -1.85, -1.8], [True, True, True, False], ""),  # three lend to one
        ([-1.8, -1.9, -1.85, -1.8], [True, False, False, False], "few"),  # one to three
        ([-1.8, -1.9, -1.85, -1.8], [True, False, True, True], ""),  # three, one borrows
        ([-1.8, -1.9, -1.85, -1.8], [True, True, False, False], ""),  # two to two
        ([-1.8, -0.9, -1.85, -1.8, -1.8], [True, True, False, False, False], "disagree"),
        ([-1.8, -1.6, -1.85, -1.8, -1.8], [True, True, False, False, False], ""),  # 1.2x
        ([-1.8, -0.9, -1.85, -1.8], [True, True, True, False], ""),  # three: spread measured
    ],
)
def test_the_shared_days_active_is_trusted_only_where_lenders_can_check_one_another(
    own: list[float], solid: list[bool], fragile: str
) -> None:
    ratio = _shrink(own, solid)
    assert ratio.fragile == fragile
    assert ratio.bracket == bool(fragile)
    if fragile:
        assert ratio.own.tolist() == solid  # the lenders are named in the note


@pytest.mark.parametrize(
    ("days", "own", "fragile"),
    [
        # Two days: days active 1.57 against 1.22 (0.25 apart in log, most of the 0.69 a
        # two-day window allows); a whole week's limit (0.41) would let them pass.
        (2, [-0.45, -0.2], "disagree"),
        (3, [-0.75, -0.45], "disagree"),  # limit 0.23 in three days
        (3, [-0.75, -0.6], ""),  # 0.15 apart: they agree
        (7, [-1.5, -1.2], ""),  # the same 0.3 in a whole week: they agree
        (7, [-1.5, -1.0], "disagree"),
        (1, [-0.01, 0.0], "disagree"),  # one day: days active cannot differ
    ],
)
def test_a_partial_week_scales_the_lenders_limit_by_its_days(
    days: int, own: list[float], fragile: str
) -> None:
    """Two lenders, three borrowers; the limit is MAX_LENDER_SPREAD x log(D) / log(7)."""
    ratio = _shrink([*own, -1.0, -1.0, -1.0], [True, True, False, False, False], days)
    assert ratio.fragile == fragile
    assert ratio.bracket == bool(fragile)


def test_the_lenders_limit_is_the_constant_in_a_whole_week() -> None:
    assert model.lender_spread(7) == pytest.approx(model.MAX_LENDER_SPREAD)
    assert model.lender_spread(2) == pytest.approx(np.log(1.5) * np.log(2) / np.log(7))
    assert model.lender_spread(1) == 0.0


@pytest.mark.parametrize(
    ("busy", "solid", "fragile"),
    [
        # two lenders whose stable addresses hold 2.3 times the check-ins of the other's
        # (b-harsh seed 36: one lender's lines moved between addresses)
        ([np.log(190.0), np.log(82.0), 4.0, 4.0, 4.0], [True, True, False, False, False], "busier"),
        ([np.log(190.0), np.log(140.0), 4.0, 4.0, 4.0], [True, True, False, False, False], ""),
        # three lenders: the spread between countries is measured, not checked
        ([np.log(190.0), np.log(82.0), np.log(150.0), 4.0], [True, True, True, False], ""),
        # one day: the limit is the whole week's (check-ins do not run up against the days)
        ([np.log(30.0), np.log(19.0), 4.0, 4.0, 4.0], [True, True, False, False, False], "busier"),
    ],
)
def test_two_lenders_must_agree_on_the_check_ins_of_their_stable_addresses(
    busy: list[float], solid: list[bool], fragile: str
) -> None:
    """The same days active (own) everywhere: only the check-ins per stable address differ.
    Beyond a factor of MAX_LENDER_SPREAD (1.5) between two lenders: bounds, lenders named."""
    n = len(busy)
    ratio = model._shrink(
        np.full(n, -1.8), np.full(n, 0.001), np.array(solid), np.full(n, 0.3),
        1 if busy[0] == np.log(30.0) else 7, np.array(busy),
    )  # fmt: skip
    assert ratio.fragile == fragile
    assert ratio.bracket == bool(fragile)
    if fragile:
        assert ratio.own.tolist() == solid


@pytest.mark.parametrize(
    ("solid", "fragile"),
    [
        ([True, True, False, False, False], "busier"),  # two lenders: none lends here either
        ([True, True, True, False, False], ""),  # three: not checked (the spread is measured)
    ],
)
def test_lenders_that_differ_in_another_week_lend_in_none(solid: list[bool], fragile: str) -> None:
    """`busier` (hosts.model.lenders_busier over the query's complete weeks): this window's
    two lenders agree, but a pair near the limit must not lend in some weeks and not in
    others (b-mobile seed 27: 1.41-1.52 apart, every other week over 1.5)."""
    n = len(solid)
    ratio = model._shrink(
        np.full(n, -1.8), np.full(n, 0.001), np.array(solid), np.full(n, 0.3), 7,
        np.full(n, np.log(50.0)), True,
    )  # fmt: skip
    assert ratio.fragile == fragile
    assert ratio.bracket == bool(fragile)


def test_days_active_that_disagree_are_named_before_check_ins() -> None:
    """Both tests fail: the reason is the days active (the first test)."""
    ratio = model._shrink(
        np.array([-1.8, -0.9, -1.8, -1.8, -1.8]), np.full(5, 0.001),
        np.array([True, True, False, False, False]), np.full(5, 0.3), 7,
        np.array([np.log(190.0), np.log(82.0), 4.0, 4.0, 4.0]),
    )  # fmt: skip
    assert ratio.fragile == "disagree"


def test_lenders_whose_check_ins_differ_are_named_in_the_note() -> None:
    fit = Fit(bracketed={"AA", "BB", "CC"}, fragile={"busier"}, lenders={"AA", "BB"})
    (note,) = (n for n in fit.notes() if "hold check-ins that differ by more than" in n)
    assert "only 2 countries (AA, BB) have" in note
    assert "days active differ" not in note


def test_lenders_that_disagree_are_named_in_the_note() -> None:
    fit = Fit(bracketed={"AA", "BB", "CC", "DD"}, fragile={"disagree"}, lenders={"AA", "BB"})
    (note,) = (n for n in fit.notes() if "differ by more than a factor of 1.5" in n)
    assert "only 2 countries (AA, BB) have" in note


def test_only_a_row_with_both_kinds_of_parts_is_mixed() -> None:
    from botcensus.measure.hosts.answer import Part, _mixed

    z = 1.6448536269514722
    est, bound = Part(100.0, 25.0, False), Part(50.0, 400.0, True)
    assert _mixed([est, est], z, 0.9) is None
    assert _mixed([bound, bound], z, 0.9) is None
    lo, hi = _mixed([est, bound], z, 0.9) or (0.0, 0.0)
    own = np.sqrt(np.log1p(25.0 / 100.0**2))
    assert lo == pytest.approx(100.0 * np.exp(-z * own))  # the bounded part adds nothing
    assert hi > 100.0 * np.exp(z * own) + 50.0


def _mixed_row(*, untimed: bool, most: float, scatter: float = 0.0) -> tuple[float, float, Fit]:
    """_table on one global row summing an estimated country (1,000, variance 2,500) and a
    bounded one (100, its bracket's variance), address checks peak 300, floor 300."""
    from botcensus.measure.hosts.answer import Part, _table
    from botcensus.measure.hosts.model import BOUNDS

    key = (START,)
    fit = Fit(untimed=untimed)
    fit.scatter = {(): scatter} if scatter else {}
    bracket_var = (np.log(7) / 2 / 1.6448536269514722) ** 2 * 100.0**2
    table, _ = _table(
        {key: [1100.0, 2500.0 + bracket_var, 0.0]},
        {key: BOUNDS},
        fit,
        CensusQuery(window="week"),
        1.6448536269514722,
        {START: 7},
        {key: (300.0, most, 300.0)},
        parts={key: [Part(1000.0, 2500.0, False), Part(100.0, bracket_var, True)]},
    )
    row = table.to_pylist()[0]
    assert row["hosts_support"] == "bounds"
    return row["hosts_lo"], row["hosts_hi"], fit


def test_a_mixed_row_is_the_sum_of_its_parts_ends() -> None:
    z = 1.6448536269514722
    lo, hi, fit = _mixed_row(untimed=False, most=float("inf"))
    own = np.sqrt(np.log1p(2500.0 / 1000.0**2))
    assert lo == pytest.approx(1000.0 * np.exp(-z * own))
    bracket = np.log(7) / 2
    assert hi == pytest.approx(1000.0 * np.exp(z * own) + 100.0 * np.exp(bracket))
    assert fit.mixed == 1


def test_a_mixed_row_keeps_inside_the_addresses_limit() -> None:
    """Without a timer neither end above the unique addresses times the most per address
    (review: the estimated part's lower end alone, 921, had lifted both ends above 600)."""
    lo, hi, _ = _mixed_row(untimed=True, most=600.0)
    assert lo <= hi <= 600.0


def test_a_mixed_row_takes_the_rows_scatter() -> None:
    """The week-to-week scatter that widens every estimate of the row widens its parts too."""
    plain, _, _ = _mixed_row(untimed=False, most=float("inf"))
    wide, _, _ = _mixed_row(untimed=False, most=float("inf"), scatter=0.5)
    assert wide < 0.5 * plain

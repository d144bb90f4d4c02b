"""Networks whose addresses keep office hours (hosts.office): without a check-in timer the
machines behind an office's address are not seen, so rows that hold such addresses have only
bounds, and their upper end does not take the household law's most machines per address."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts import office as office_module
from botcensus.measure.hosts.answer import _table
from botcensus.measure.hosts.model import BOUNDS, Z90
from botcensus.measure.hosts.office import (
    MIN_TIMED_ROWS,
    MIN_WEEKENDS,
    OFFICE_RATIO,
    Weekends,
    local_shift,
    lower_tail,
    office_addresses,
    office_networks,
    quiet_addresses,
    weekend_counts,
)
from botcensus.measure.hosts.support import Fit

from .hosts_cases import START, Population, connect, per_hour, populate

H = 3600
OFFICE_ASN = 64509


def _add_offices(
    pop: Population, per_site: int, sites: int, weeks: int, *, ids: bool = False
) -> None:
    """`sites` offices of `per_site` machines behind one static address each, 09:00-17:00
    on weekdays, on network AA AS{OFFICE_ASN}; each machine with its own bot id where
    `ids`."""
    for s in range(sites):
        address = pop.address()
        machines = list(range(10_000 + s * per_site, 10_000 + (s + 1) * per_site))
        for d in range(7 * weeks):
            day = START + timedelta(days=d)
            if day.weekday() >= 5:
                continue
            if ids:
                for m in machines:
                    pop.session([m], day, address, 9 * H, 17 * H, cc="AA", asn=OFFICE_ASN,
                                bot_id=f"o{m}")  # fmt: skip
            else:
                pop.session(machines, day, address, 9 * H, 17 * H, cc="AA", asn=OFFICE_ASN)


def _with_offices(per_site: int, *, sites: int = 60, weeks: int = 4) -> Population:
    """Home lines (hosts_cases: static and per-session, online any day of the week) and
    offices of `per_site` machines behind one static address each, 09:00-17:00 on weekdays,
    none with a bot id."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=weeks)
    populate(pop, range(300, 600), "session", cc="AA", asn=64502, weeks=weeks)
    _add_offices(pop, per_site, sites, weeks)
    return pop


def test_the_ratio_and_its_sampling_error() -> None:
    # c-office's business networks (seen) read 0.55-0.63 over 8 weekends of thousands of
    # address-days; its home networks 0.85-1.05
    assert Weekends(8, 5_600, 10_000).office
    assert not Weekends(8, 9_000, 10_000).office
    # silent at weekends
    silent = Weekends(MIN_WEEKENDS, 0.0, 400.0)
    assert silent.ratio == 0.0
    assert silent.office
    # too few weekends, or too few address-days to tell a low ratio from chance
    assert not Weekends(MIN_WEEKENDS - 1, 0.0, 400.0).office
    assert Weekends(4, 2.0, 6.0).ratio < OFFICE_RATIO
    assert not Weekends(4, 2.0, 6.0).office
    # no weekday address-days: nothing to compare
    assert math.isnan(Weekends(4, 10.0, 0.0).ratio)
    assert not Weekends(4, 10.0, 0.0).office
    # just below the threshold is not enough: the ratio's 90% top must be
    assert not Weekends(8, 0.65 * 1_000, 1_000).office
    assert Weekends(8, 0.60 * 100_000, 100_000).office


def test_weekends_are_counted_against_the_days_around_them() -> None:
    pop = _with_offices(per_site=4)
    con = connect(per_hour(pop.table()))
    counts = weekend_counts(con, CensusQuery(), "sightings")
    # four weeks from a Sunday: three weekends have their Friday and Monday in the data
    offices = counts[("AA", OFFICE_ASN)]
    assert offices == Weekends(3, 0.0, 60 * 2 * 3)
    homes = counts[("AA", 64501)]
    assert homes.weekends == 3
    assert 0.8 < homes.ratio < 1.25
    assert set(office_networks(counts)) == {("AA", OFFICE_ASN)}
    # a day without any sightings (a sensor outage on a Monday) takes its weekend out
    monday = START + timedelta(days=8)
    kept = pop.table().filter([d != monday for d in pop.table()["day"].to_pylist()])
    assert (
        weekend_counts(connect(kept), CensusQuery(), "sightings")[("AA", OFFICE_ASN)].weekends == 2
    )


def test_rows_with_office_addresses_have_only_bounds_that_hold() -> None:
    pop = _with_offices(per_site=4)
    con = connect(per_hour(pop.table()))  # hourly reports: no check-in timer to read
    query = CensusQuery(window="week", by=("asn",))
    counted = office_addresses(
        con, query, "sightings", office_networks(weekend_counts(con, query, "sightings"))
    )
    assert {k[1] for k in counted} == {OFFICE_ASN}
    assert all(n == 60 for n in counted.values())
    answer = hosts_answer(con, query, "sightings")
    assert answer.household
    assert any(f"AS{OFFICE_ASN} AA 0.00" in n for n in answer.notes)
    rows = answer.table.to_pylist()
    office_rows = [r for r in rows if r["asn"] == OFFICE_ASN]
    assert office_rows
    for row in office_rows:
        assert row["hosts_support"] == "bounds"
        assert row["hosts_est"] is None
        truth = 60 * 4
        assert row["hosts_lo"] <= truth <= row["hosts_hi"], row
    # the home networks' rows are not held to the offices' rule
    assert any(r["hosts_est"] is not None for r in rows if r["asn"] != OFFICE_ASN)


def test_without_the_rule_the_household_cap_misses_the_offices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same population with both office tests switched off: the upper end takes the
    household law's most machines per address, and four machines behind each office address
    are more than that allows."""
    monkeypatch.setattr(office_module, "OFFICE_RATIO", 0.0)
    monkeypatch.setattr(office_module, "QUIET_SHARE", math.inf)
    con = connect(per_hour(_with_offices(per_site=4).table()))
    answer = hosts_answer(con, CensusQuery(window="week", by=("asn",)), "sightings")
    office_rows = [r for r in answer.table.to_pylist() if r["asn"] == OFFICE_ASN]
    assert not any("office hours" in n for n in answer.notes)
    assert any(r["hosts_hi"] < 60 * 4 for r in office_rows)


def test_with_a_timer_offices_are_seen_and_the_test_is_not_made() -> None:
    """Where the timer shows the machines behind one address, households are not assumed."""
    answer = hosts_answer(
        connect(_with_offices(per_site=4).table()), CensusQuery(window="week"), "sightings"
    )
    assert not answer.household
    assert not any("office hours" in n for n in answer.notes)


def test_a_short_range_is_judged_on_the_networks_habit_over_all_the_data() -> None:
    """One week holds one weekend at most: too few to show the habit, which is the
    network's, so the test reads every weekend of the data."""
    pop = _with_offices(per_site=4)
    con = connect(per_hour(pop.table()))
    week = CensusQuery(
        window="week",
        by=("asn",),
        date_from=START + timedelta(days=7),
        date_to=START + timedelta(days=13),
    )
    assert weekend_counts(con, week, "sightings")[("AA", OFFICE_ASN)].weekends == 3
    answer = hosts_answer(con, week, "sightings")
    (row,) = [r for r in answer.table.to_pylist() if r["asn"] == OFFICE_ASN]
    assert row["hosts_support"] == "bounds"
    assert row["hosts_lo"] <= 60 * 4 <= row["hosts_hi"]


def _far_offices(sites: int = 60, weeks: int = 4) -> Population:
    """Offices nine hours east of UTC: 07:00-16:00 local, Monday to Friday, is 22:00 the UTC
    day before to 07:00, so each working day leaves a row on the UTC day before it; half the
    sites also have a machine on all day, every day."""
    pop = Population()
    populate(pop, range(300), "static", cc="JJ", asn=64501, weeks=weeks)
    for s in range(sites):
        address = pop.address()
        machines = list(range(10_000 + 4 * s, 10_004 + 4 * s))
        for d in range(1, 7 * weeks):
            day = START + timedelta(days=d)
            if day.weekday() < 5:
                before = day - timedelta(days=1)
                pop.session(machines, before, address, 22 * H, 23 * H + 55 * 60, cc="JJ",
                            asn=OFFICE_ASN)  # fmt: skip
                pop.session(machines, day, address, 0, 7 * H, cc="JJ", asn=OFFICE_ASN)
            if s % 2:
                pop.session([20_000 + s], day, address, 0, 23 * H + 55 * 60, cc="JJ",
                            asn=OFFICE_ASN)  # fmt: skip
    return pop


def test_the_night_is_placed_opposite_the_days_activity() -> None:
    def at(hour: float, rows: int = 500) -> int:
        angle = math.radians(15 * hour)
        return local_shift(math.cos(angle), math.sin(angle), rows)

    assert at(13) == -1  # busiest at 13:00 UTC: the night at 01:00, an hour after midnight
    assert at(4) == 8  # busiest at 04:00 UTC, as offices nine hours east: night at 16:00
    assert at(1) == 11
    assert at(0) == 12  # opposite midnight: the shift that is also -12 is given as 12
    assert local_shift(0.0, 0.0, 500) == 0  # activity all over the day: nothing to place
    assert local_shift(0.05, 0.05, 500) == 0
    assert at(4, rows=MIN_TIMED_ROWS - 1) == 0


def test_offices_far_from_utc_are_judged_on_their_own_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On UTC days their Monday mornings fall on a Sunday and the weekends do not look quiet
    enough (c-office's Japan, 0.70-0.74); on the network's own days they do."""
    con = connect(per_hour(_far_offices().table()))
    own = weekend_counts(con, CensusQuery(), "sightings")[("JJ", OFFICE_ASN)]
    assert own.office
    assert own.ratio == pytest.approx(0.5, abs=0.02)
    monkeypatch.setattr(office_module, "local_shift", lambda x, y, rows: 0)
    utc = weekend_counts(con, CensusQuery(), "sightings")[("JJ", OFFICE_ASN)]
    assert utc.ratio > 0.7
    assert not utc.office


def test_the_lower_tail_is_the_binomial_distributions() -> None:
    stats = pytest.importorskip("scipy.stats")  # the oracle: scipy is a dependency of lifelines
    rng = np.random.default_rng(5)
    n = rng.integers(1, 120, 400)
    k = np.minimum(rng.integers(0, 40, 400), n)
    p = rng.uniform(0.01, 0.999, 400)
    assert lower_tail(k, n, p) == pytest.approx(stats.binom.cdf(k, n, p), rel=1e-9, abs=1e-300)
    # far into the tail, where a product of probabilities would underflow
    assert lower_tail(np.array([0]), np.array([2_000]), np.array([0.9]))[0] == 0.0
    tiny = lower_tail(np.array([3]), np.array([300]), np.array([0.9]))[0]
    assert tiny == pytest.approx(stats.binom.cdf(3, 300, 0.9), rel=1e-9)


def _mixed_with_offices(sites: int = 60, weeks: int = 4) -> Population:
    """One network serving homes (static lines, online on 30-90% of days, any day of the
    week) and `sites` offices of four machines behind one static address each, 09:00-17:00
    on weekdays: a network whose weekends are not quiet as a whole."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=OFFICE_ASN, weeks=weeks)
    _add_offices(pop, 4, sites, weeks)
    return pop


def test_offices_among_homes_are_found_one_address_at_a_time() -> None:
    pop = _mixed_with_offices()
    con = connect(per_hour(pop.table()))
    query = CensusQuery(window="week")
    weekends = weekend_counts(con, query, "sightings")[("AA", OFFICE_ASN)]
    assert weekends.ratio > OFFICE_RATIO  # the network as a whole does not look like offices
    assert not weekends.office
    quiet = quiet_addresses(con, query, "sightings")[("AA", OFFICE_ASN)]
    assert quiet.quiet >= 60  # every office, and hardly a home
    assert quiet.quiet <= 60 + 3
    assert quiet.office
    assert quiet.share == pytest.approx(60 * 20 / quiet.days, rel=0.05)
    answer = hosts_answer(con, query, "sightings")
    assert not answer.offices  # the decay is not withheld for them (HostsAnswer.offices)
    assert any("hardly ever at weekends" in n and f"AS{OFFICE_ASN} AA" in n for n in answer.notes)
    for row in answer.table.to_pylist():
        first, last = row["window_start"], row["window_start"] + timedelta(days=6)
        assert row["hosts_support"] == "bounds"
        assert row["hosts_lo"] <= pop.hosts(first, last) <= row["hosts_hi"], row


def test_homes_online_on_some_days_are_not_offices() -> None:
    """Machines online on a fifth to half of the days miss whole weekends by chance; the
    test weighs that against the weekdays they were seen on."""
    pop = Population()
    populate(pop, range(600), "static", cc="AA", asn=64501, weeks=8, online=(0.2, 0.5))
    con = connect(per_hour(pop.table()))
    quiet = quiet_addresses(con, CensusQuery(), "sightings")[("AA", 64501)]
    assert quiet.tested > 500
    assert quiet.quiet <= 0.03 * quiet.tested
    assert not quiet.office
    assert not hosts_answer(con, CensusQuery(window="week"), "sightings").offices


def _mixed_with_one_machine_offices(*, ids: bool, sites: int = 80, weeks: int = 4) -> Population:
    """Homes (static lines, no ids) and `sites` offices of one machine each on one network,
    09:00-17:00 on weekdays, each office machine with its own bot id where `ids`."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=OFFICE_ASN, weeks=weeks)
    _add_offices(pop, 1, sites, weeks, ids=ids)
    return pop


def test_with_bot_ids_fitted_the_addresses_are_not_judged_by_their_weekends() -> None:
    """Where the strip-the-ids check corrects each network's level from its machines with
    ids, an office's machines are among those it sees: its quiet addresses do not withhold
    the estimate."""
    query = CensusQuery(window="week")
    without = connect(per_hour(_mixed_with_one_machine_offices(ids=False).table()))
    assert quiet_addresses(without, query, "sightings")[("AA", OFFICE_ASN)].office
    assert any(
        "hardly ever at weekends" in n for n in hosts_answer(without, query, "sightings").notes
    )
    with_ids = connect(per_hour(_mixed_with_one_machine_offices(ids=True).table()))
    assert quiet_addresses(with_ids, query, "sightings")[("AA", OFFICE_ASN)].office
    answer = hosts_answer(with_ids, query, "sightings")
    assert not any("hardly ever at weekends" in n for n in answer.notes)
    assert any(r["hosts_est"] is not None for r in answer.table.to_pylist())


def test_an_office_row_of_a_partial_window_keeps_the_upper_end_of_the_week_next_to_it() -> None:
    """c-office seed 21 (thirty-first held-out set), Poland's last week of two days (a
    weekend): 1,092 machines, the upper end 853 from the bracket of days active over two
    days, where the complete week before it had 1,778 (holding). The partial week's upper
    end is now the complete week's; a row without office addresses, and a partial window
    whose neighbour is missing, keep their own."""
    fit = Fit(untimed=True)
    query = CensusQuery(by=("country",))
    full, short, alone = date(2019, 11, 18), date(2019, 11, 25), date(2019, 12, 16)
    keys = [(w, cc) for w in (full, short, alone) for cc in ("PL", "FR")]
    sums = {k: [600.0, 900.0, 0.0] for k in keys}
    checks = dict.fromkeys(keys, (100.0, math.inf))
    offices = {k: 50 for k in keys if k[1] == "PL"}
    table, _ = _table(
        sums, dict.fromkeys(keys, BOUNDS), fit, query, Z90, {full: 7, short: 2, alone: 2}, checks,
        offices=offices,
    )  # fmt: skip
    rows = {(r["window_start"], r["country"]): r for r in table.to_pylist()}
    top = rows[(full, "PL")]["hosts_hi"]
    # the bracket of days active narrows with the days: the two-day week's own is lower
    assert rows[(short, "FR")]["hosts_hi"] < rows[(full, "FR")]["hosts_hi"]
    assert rows[(short, "PL")]["hosts_hi"] == top
    assert rows[(short, "FR")]["hosts_hi"] < top  # no office addresses: its own
    assert rows[(alone, "PL")]["hosts_hi"] < top  # no complete week next to it
    assert rows[(short, "PL")]["hosts_support"] == "bounds"
    assert any("in a partial window it is no lower" in note for note in fit.notes())

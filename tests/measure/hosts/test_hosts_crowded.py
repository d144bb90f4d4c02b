"""Bot ids as a check of the household assumption (hosts.crowded): where more address-days
show several ids than households could, there is no estimate and the upper bound does not
take the household cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.crowded import MIN_ID_DAYS, Crowding, crowding
from botcensus.measure.hosts.model import HOUSEHOLD

from .hosts_cases import START, Population, connect, per_hour, populate

H = 3600


def _offices(per_site: int, sites: int = 60, weeks: int = 4, weekends: bool = False) -> Population:
    """Home lines as in hosts_cases (static and per-session, no ids) and offices: `per_site`
    machines behind one static address each, on weekdays (and at weekends with `weekends`),
    every one with its own bot id."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=weeks)
    populate(pop, range(300, 600), "session", cc="AA", asn=64502, weeks=weeks)
    for s in range(sites):
        address = pop.address()
        for d in range(7 * weeks):
            day = START + timedelta(days=d)
            if day.weekday() >= 5 and not weekends:
                continue
            for j in range(per_site):
                m = 10_000 + s * per_site + j
                start = 9 * H + 60 * j
                pop.session([m], day, address, start, 17 * H, cc="AA", asn=64509, bot_id=f"o{m}")
    return pop


def test_the_household_law_allows_at_most_its_share_of_several_ids() -> None:
    assert Crowding(100, 0.0).allowed == pytest.approx(1 - 1 / HOUSEHOLD)
    # the twelfth held-out set's figures: c-office (offices behind NAT) and b-sparse
    assert Crowding(72_895, 0.361).contradicts
    assert not Crowding(111_502, 0.062).contradicts
    # at the law's share, or a little above it on few address-days: sampling error
    assert not Crowding(10_000, 1 - 1 / HOUSEHOLD).contradicts
    assert not Crowding(MIN_ID_DAYS, 0.30).contradicts
    assert not Crowding(MIN_ID_DAYS - 1, 1.0).contradicts
    assert Crowding(MIN_ID_DAYS, 1.0).contradicts


def test_offices_behind_one_address_give_bounds_that_hold() -> None:
    pop = _offices(per_site=4)
    con = connect(per_hour(pop.table()))  # hourly reports: no check-in timer to read
    found = crowding(con, CensusQuery(), "sightings")
    assert found.id_days == 60 * 20  # sites x weekdays of four weeks
    assert found.share == 1.0
    answer = hosts_answer(con, CensusQuery(window="week"), "sightings")
    assert answer.household
    assert set(answer.table["hosts_support"].to_pylist()) == {"bounds"}
    assert any("two ids or more" in n for n in answer.notes)
    for row in answer.table.to_pylist():
        assert row["hosts_est"] is None
        truth = pop.hosts(row["window_start"], row["window_end"])
        assert row["hosts_lo"] <= truth <= row["hosts_hi"], (row, truth)


def test_one_id_per_address_keeps_the_estimate() -> None:
    """Sites open every day, so that their addresses do not keep office hours (hosts.office,
    which withholds the estimate whatever the ids show)."""
    con = connect(per_hour(_offices(per_site=1, weekends=True).table()))
    assert crowding(con, CensusQuery(), "sightings").share == 0.0
    answer = hosts_answer(con, CensusQuery(window="week"), "sightings")
    assert answer.household
    assert "bounds" not in set(answer.table["hosts_support"].to_pylist())
    assert not any("two ids or more" in n for n in answer.notes)


def test_with_a_timer_the_check_is_not_made() -> None:
    """Where the timer shows machines behind one address, households are not assumed."""
    answer = hosts_answer(connect(_offices(per_site=4).table()), CensusQuery(), "sightings")
    assert not answer.household
    assert not any("two ids or more" in n for n in answer.notes)


def test_one_address_sending_many_ids_does_not_turn_the_census_to_bounds() -> None:
    """A client that sends hundreds of made-up bot ids from one address counts as one
    address-day a day, not as hundreds: it cannot take the estimate away on its own."""
    pop = _offices(per_site=1)
    for d in range(28):
        day = START + timedelta(days=d)
        for i in range(300):
            pop.session([20_000 + i], day, "10.250.0.1", 9 * H, 10 * H, cc="AA", asn=64509,
                        bot_id=f"forged-{i}")  # fmt: skip
    con = connect(per_hour(pop.table()))
    found = crowding(con, CensusQuery(), "sightings")
    assert found.id_days == 60 * 20 + 28
    assert not found.contradicts
    answer = hosts_answer(con, CensusQuery(window="week"), "sightings")
    assert not any("two ids or more" in n for n in answer.notes)

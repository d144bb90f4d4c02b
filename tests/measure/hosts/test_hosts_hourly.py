"""Distinct addresses per hour, averaged over the window (Asghari et al.)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hourly_ips

from .hosts_cases import START, Population, connect

H = 3600


def _pop() -> Population:
    pop = Population()
    a, b = pop.address(), pop.address()
    pop.session([1], START, a, 10 * H, 12.5 * H, cc="AA", asn=1)  # hours 10, 11, 12
    pop.session([2], START, b, 11 * H, 11 * H + 300, cc="BB", asn=2)  # hour 11
    pop.session([1], START + timedelta(days=1), a, 0, 23.9 * H, cc="AA", asn=1)  # 24 hours
    return pop


def test_each_hour_counts_the_addresses_seen_in_it() -> None:
    rows = hourly_ips(connect(_pop().table()), CensusQuery(window="day"), "sightings").to_pylist()
    assert [r["ips_hourly_avg"] for r in rows] == pytest.approx([4 / 24, 1.0])


def test_a_week_averages_over_the_hours_of_its_days() -> None:
    rows = hourly_ips(connect(_pop().table()), CensusQuery(), "sightings").to_pylist()
    assert rows[0]["ips_hourly_avg"] == pytest.approx((4 + 24) / 48)


def test_groups_split_the_hours() -> None:
    query = CensusQuery(window="day", by=("country",))
    rows = hourly_ips(connect(_pop().table()), query, "sightings").to_pylist()
    first = {r["country"]: r["ips_hourly_avg"] for r in rows if r["window_start"] == START}
    assert first == pytest.approx({"AA": 3 / 24, "BB": 1 / 24})

"""Decay rates measured on a simulated campaign against the rates the simulation used."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.measure import CensusQuery, census
from botcensus.measure.cleanup import complete_weeks, decay_rate, decay_table

from ..sim_cases import NotifyRun, notify_static


@pytest.fixture(scope="module")
def notify_run() -> NotifyRun:
    return notify_static()


HOLD_OUT_RATE = 7 * math.log(2) / 35.0
"""notify-static: half-life 35 days for every host not notified, as a rate per week."""


def _weekly(run: NotifyRun, notified: bool) -> pa.Table:
    plan = run.notifications.filter(pc.equal(run.notifications["notified"], notified))
    mine = run.sightings.filter(pc.is_in(run.sightings["source_asn"], plan["asn"]))
    con = duckdb.connect()
    con.register("s", mine)
    weekly = census(con, CensusQuery(window="week"), "s")
    return complete_weeks(weekly, run.sim.start, run.sim.end)


def test_hold_out_decay_after_eight_weeks_is_within_ten_percent(notify_run: NotifyRun) -> None:
    weekly = _weekly(notify_run, notified=False)
    fit = decay_rate(weekly["unique_ip"].to_numpy()[:8])
    assert fit.rate_per_week == pytest.approx(HOLD_OUT_RATE, rel=0.10)
    assert fit.lower < HOLD_OUT_RATE < fit.upper


def test_notified_networks_decay_faster_after_the_campaign(notify_run: NotifyRun) -> None:
    weekly = _weekly(notify_run, notified=True)
    after = weekly.filter(pc.greater_equal(weekly["window_start"], pa.scalar(dt.date(2011, 4, 3))))
    fit = decay_rate(after["unique_ip"].to_numpy())
    assert fit.rate_per_week == pytest.approx(1.6 * HOLD_OUT_RATE, rel=0.10)


def test_decay_table_by_country_finds_every_country(notify_run: NotifyRun) -> None:
    con = duckdb.connect()
    con.register("s", notify_run.sightings)
    weekly = census(con, CensusQuery(window="week", by=("country",)), "s")
    weekly = complete_weeks(weekly, notify_run.sim.start, notify_run.sim.end)
    table = decay_table(weekly, group="country")
    assert sorted(table["group"].to_pylist()) == ["BR", "IN", "US"]
    for rate in table["rate_per_week"].to_pylist():
        assert HOLD_OUT_RATE < rate < 1.6 * HOLD_OUT_RATE

"""Following addresses to their clean-up only where an address is one machine, with the
renumbering of those networks taken out as a competing exit; checked against the simulator's
truth on the calibrated Rustock scenario (five churn classes, whole ASNs per class)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from lifelines import KaplanMeierFitter  # type: ignore[import-untyped]

from botcensus import enrich
from botcensus.measure.survival import (
    curves_by_group,
    kaplan_meier,
    stable_networks,
    survival_rows,
    survival_summary,
)
from botcensus.simulate import Simulation, load_scenario, simulate


@dataclass(frozen=True)
class Run:
    sim: Simulation
    con: duckdb.DuckDBPyConnection
    first: dt.date
    last: dt.date


@functools.cache
def rustock_run() -> Run:
    scenario = load_scenario("rustock-2011")
    geo = enrich.load_bundled()
    sim = simulate(scenario, address_space=enrich.ipv4_ranges(geo), scale=0.004, seed=2)
    batches = [enrich.enrich(pa.Table.from_batches([b]), geo) for b in sim.sightings()]
    con = duckdb.connect()
    con.register("s", pa.concat_tables(batches))
    return Run(sim, con, scenario.start, scenario.end)


def _true_curve(run: Run, asns: set[int]) -> KaplanMeierFitter:
    """Truth: time from the takedown to clean-up of the machines in those ASNs (late entry
    for those infected later), censored at the end."""
    hosts = run.sim.truth().hosts
    hosts = hosts.filter(pc.is_in(hosts["asn"], pa.array(sorted(asns), pa.int64())))
    origin = dt.datetime.combine(run.first, dt.time(), tzinfo=dt.UTC)
    end = (run.last - run.first).days + 1.0
    entry, exit_, event = [], [], []
    for infected, cleaned in zip(
        hosts["infected"].to_pylist(), hosts["cleaned"].to_pylist(), strict=True
    ):
        gone = None if cleaned is None else (cleaned - origin).total_seconds() / 86400
        if gone is not None and gone <= 0:
            continue
        entry.append(max(0.0, (infected - origin).total_seconds() / 86400))
        exit_.append(end if gone is None else gone)
        event.append(gone is not None)
    return KaplanMeierFitter().fit(np.array(exit_), np.array(event), entry=np.array(entry))


def test_followed_networks_are_mostly_those_whose_addresses_stay() -> None:
    run = rustock_run()
    networks = stable_networks(run.con, "s", first=run.first, last=run.last)
    hosts = run.sim.truth().hosts
    classes = dict(zip(hosts["asn"].to_pylist(), hosts["churn_class"].to_pylist(), strict=False))
    followed = [classes.get(asn) for _, asn in networks]
    renumbered_daily = sum(c in ("daily", "session") for c in followed)
    assert len(followed) >= 20
    assert renumbered_daily / len(followed) < 0.2
    # Lines renumbered every week lend only where their new addresses can be judged: before
    # hosts.reference.UNJUDGED_RETURN, six small ones (too few new addresses to judge)
    # passed on their return rate against their country's top.
    assert "weekly" not in followed
    assert all(0.0 < rate < 0.1 for rate in networks.values())


def test_followed_survival_tracks_the_true_time_to_clean_up() -> None:
    """Within 0.10 (issue 14's goal for the share still infected). Before a1528a4 this held
    within 0.07: +0.013, +0.050, +0.025 after 7, 28 and 56 days, with six networks renumbered
    weekly followed, whose addresses' silences read as clean-ups and pulled the curve down.
    Without them it reads +0.032, +0.096, +0.089: the lines' own curve is high here, for a
    reason not traced. Not their renumbering, taken out as a competing exit: it is measured
    at 0.013-0.015 a day where the simulator's lines renumber at 0.0155 on average, which
    would pull the curve down, not up (docs/measurement.md, What falls short)."""
    run = rustock_run()
    networks = stable_networks(run.con, "s", first=run.first, last=run.last)
    rows, _ = survival_rows(run.con, "s", first=run.first, last=run.last, networks=networks)
    summary = survival_summary(curves_by_group(rows, run.first, None)).to_pylist()[0]
    truth = _true_curve(run, {asn for _, asn in networks})
    for day in (7, 28, 56):
        true = float(truth.survival_function_at_times(day).iloc[0])
        assert summary[f"surviving_{day}d"] == pytest.approx(true, abs=0.10), day
    assert summary["cleaned"] < summary["silent"]  # renumbered addresses taken out


def test_following_every_address_mistakes_renumbering_for_clean_up() -> None:
    """The failure the restriction prevents: on daily-renumbered lines every address falls
    silent within days while its machine stays infected."""
    run = rustock_run()
    rows, _ = survival_rows(run.con, "s", first=run.first, last=run.last)
    summary = survival_summary(curves_by_group(rows, run.first, None)).to_pylist()[0]
    assert summary["median_days"] is not None
    assert summary["median_days"] <= 3


def test_competing_exits_are_taken_out_of_the_curve() -> None:
    """Exits from clean-up (rate 0.02/day) and renumbering (0.03/day), both read as events:
    with the renumbering rate the curve is the clean-up's exp(-0.02 t), without it the
    total's exp(-0.05 t)."""
    rng = np.random.default_rng(5)
    n = 40_000
    clean, renumber = rng.exponential(50.0, n), rng.exponential(1 / 0.03, n)
    horizon = 60.0
    stop = np.minimum(np.minimum(clean, renumber), horizon)
    event = stop < horizon
    stop = np.ceil(stop + 1e-9)  # whole days, like sightings
    both = kaplan_meier(stop, event)
    alone = kaplan_meier(stop, event, competing=np.full(n, 0.03))
    for curve, rate in ((both, 0.05), (alone, 0.02)):
        times = curve["time"].to_numpy()
        s = curve["survival"].to_numpy()
        at = int(np.searchsorted(times, 30.0))
        assert s[at] == pytest.approx(np.exp(-rate * times[at]), abs=0.03)
    assert int(pc.sum(alone["events"]).as_py()) == int(event.sum())
    assert float(pc.sum(alone["competing"]).as_py()) > 0.4 * event.sum()


def test_competing_exits_in_small_groups_are_not_clamped_interval_by_interval() -> None:
    """Thirty subjects, clean-up 0.01/day, renumbering 0.02/day, a third entering late:
    averaged over repeats the curve stays near exp(-0.56) at 56 days (taking the expected
    renumberings off each interval on its own, clamped at zero, read 0.45)."""
    rng = np.random.default_rng(9)
    values = []
    for _ in range(300):
        clean, renumber = rng.exponential(100.0, 30), rng.exponential(50.0, 30)
        entry = rng.uniform(0, 20, 30) * (rng.random(30) < 0.3)
        gone = entry + np.minimum(clean, renumber)
        curve = kaplan_meier(
            np.minimum(gone, 90.0), gone < 90.0, entry, competing=np.full(30, 0.02)
        )
        times, survival = curve["time"].to_numpy(), curve["survival"].to_numpy()
        values.append(survival[np.searchsorted(times, 56.0, side="right") - 1])
    assert float(np.mean(values)) == pytest.approx(np.exp(-0.56), abs=0.06)

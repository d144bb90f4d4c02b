"""Host estimates against the simulator's truth, on accuracy scenarios at a small scale
(bench/accuracy.py runs them at full scale over several seeds)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import botcensus.simulate as simulate_package
from botcensus.ipaddr import ipv4_to_int
from botcensus.measure import CensusQuery
from botcensus.measure.hosts import estimate_hosts
from botcensus.simulate import load_scenario, simulate, synthetic_ranges

from .hosts_cases import connect

SCENARIOS = Path(simulate_package.__file__).parent / "scenarios"


def _enrich(sightings: pa.Table, ranges: pa.Table) -> pa.Table:
    """source_cc and source_asn from the simulator's own range table."""
    ranges = ranges.sort_by("start")
    starts = ranges["start"].to_numpy()
    ips = ipv4_to_int(sightings["source_ip"])[0]
    at = np.searchsorted(starts, ips, side="right") - 1
    for name, column in (("source_cc", "cc"), ("source_asn", "asn")):
        values = ranges[column].take(pa.array(at))
        sightings = sightings.set_column(sightings.schema.get_field_index(name), name, values)
    return sightings


@functools.cache
def run(name: str) -> tuple[pa.Table, pa.Table]:
    """(sightings, weekly truth) of a scenario at scale 0.25, seed 2."""
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    countries = sorted(set(scenario.countries) | {c for n in scenario.noise for c in n.countries})
    ranges = synthetic_ranges(countries, asns=40, seed=3)
    sim = simulate(scenario, address_space=ranges, scale=0.25, seed=2)
    sightings = _enrich(pa.Table.from_batches(list(sim.sightings())), ranges)
    weekly = sim.truth().weekly
    return sightings, weekly.filter(pc.equal(weekly["scope"], "global"))


def _errors(name: str) -> list[float]:
    sightings, truth = run(name)
    true = dict(
        zip(truth["week_ending"].to_pylist(), truth["hosts_active"].to_pylist(), strict=True)
    )
    rows = estimate_hosts(connect(sightings), CensusQuery(), "sightings").to_pylist()
    return [r["hosts_est"] / true[r["window_end"]] - 1 for r in rows]


# Published (docs/measurement.md, BENCHMARKS.md: bench/accuracy.py, scale 1, seeds 1-5):
# median weekly global error 1.2% on accuracy-mixed, 3.0% on accuracy-session, 0.0% with
# ids. These scenarios are the family the host model was tuned on (in-model figures); here
# one seed at a quarter of the scale, so the bounds leave room for that noise only.
BOUNDS = {"accuracy-mixed": (0.02, 0.05), "accuracy-session": (0.045, 0.06)}
"""Scenario -> (largest median |error| over weeks, largest |error| of any week)."""


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_weekly_estimate_is_near_the_published_error(name: str) -> None:
    errors = np.abs(_errors(name))
    median, worst = BOUNDS[name]
    assert len(errors) >= 6
    assert float(np.median(errors)) < median
    assert float(errors.max()) < worst


def test_bot_ids_count_within_half_a_percent() -> None:
    assert max(abs(e) for e in _errors("accuracy-ids")) < 0.005


def test_raw_addresses_overstate_the_machines() -> None:
    sightings, truth = run("accuracy-session")
    week = pc.equal(sightings["malware_family"], "rustock")
    assert pc.count_distinct(sightings.filter(week)["source_ip"]).as_py() > 2 * max(
        truth["hosts_active"].to_pylist()
    )


@pytest.mark.parametrize("window", ["week", "day"])
def test_a_window_asked_alone_gets_the_estimate_it_gets_within_the_whole_data(
    window: str,
) -> None:
    """The stable reference reads CONTEXT_DAYS of data either side of a range: a week (or a
    day) asked alone was left with bounds (no return rates without history before it, no
    lifetimes judged near its end) where the whole range gave it an estimate."""
    sightings, _ = run("accuracy-mixed")
    con = connect(sightings)
    whole = estimate_hosts(con, CensusQuery(window=window), "sightings").to_pylist()  # type: ignore[arg-type]
    assert len(whole) >= (5 if window == "week" else 30)
    for row in (whole[len(whole) // 2], whole[-2]):
        query = CensusQuery(window=window, date_from=row["window_start"], date_to=row["window_end"])  # type: ignore[arg-type]
        (alone,) = estimate_hosts(con, query, "sightings").to_pylist()
        assert row["hosts_support"] != "bounds"
        assert alone["hosts_support"] == row["hosts_support"]
        assert alone["hosts_est"] == pytest.approx(row["hosts_est"], rel=0.01)

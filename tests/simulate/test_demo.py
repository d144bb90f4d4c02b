"""The demo's measurement half on the demo's scenario: `census --estimate` and `cleanup` on a
Rustock dataset written the way the demo writes it (the HTTP replay path gives the same
dataset: test_replay_http.py), checked against the simulator's truth, and the demo's own
tables rendered from them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pytest
from click.testing import CliRunner
from rich.console import Console

from botcensus import enrich
from botcensus.cli import main
from botcensus.measure.census import CensusQuery
from botcensus.measure.census_run import run_census
from botcensus.measure.cleanup import CleanupQuery, cleanup, fit_decay
from botcensus.simulate import Scenario, Simulation, simulate
from botcensus.simulate.demo import MARKS, SENSOR, _cleanup, _side_by_side
from botcensus.simulate.outputs import write_direct
from botcensus.store import connect, rollup, sightings_view
from botcensus.store.sketches import read_sketches

FIRST, LAST = dt.date(2011, 3, 16), dt.date(2011, 5, 3)  # seven weeks after the takedown


@dataclass(frozen=True)
class Demo:
    data: Path
    sim: Simulation

    def true_weeks(self) -> dict[dt.date, int]:
        weekly = self.sim.truth().weekly
        weekly = weekly.filter(
            pc.and_(pc.equal(weekly["scope"], "global"), pc.equal(weekly["days"], 7))
        )
        return dict(
            zip(weekly["week_ending"].to_pylist(), weekly["hosts_active"].to_pylist(), strict=True)
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, rustock: Scenario) -> Demo:
    geo = enrich.load_bundled()
    sim = simulate(
        rustock, address_space=enrich.ipv4_ranges(geo), scale=0.0008, seed=2011,
        start=FIRST, end=LAST,
    )  # fmt: skip
    data = tmp_path_factory.mktemp("demo")
    step = lambda t: enrich.enrich(t, geo)  # noqa: E731
    write_direct(sim, data, step, sensor=SENSOR)
    rollup(data, step)
    return Demo(data, sim)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_census_estimate_follows_the_true_machines_not_the_addresses(demo: Demo) -> None:
    rows = json.loads(
        _cli(
            "census",
            "--data",
            str(demo.data),
            "--family",
            "rustock",
            "--estimate",
            "--format",
            "json",
        )
    )
    truth = demo.true_weeks()
    scored = [r for r in rows if dt.date.fromisoformat(r["window_end"]) in truth]
    assert len(scored) >= 6
    for r in scored:
        true = truth[dt.date.fromisoformat(r["window_end"])]
        assert r["hosts_lo"] <= r["hosts_est"] <= r["hosts_hi"]
        assert 0 < r["ips_hourly_avg"] < r["hosts_est"]  # online in an hour < infected
        assert r["unique_ip"] > 1.8 * true  # the addresses overcount (churn)
        assert abs(r["hosts_est"] / true - 1) < 0.25, (r, true)
    inside = sum(
        r["hosts_lo"] <= truth[dt.date.fromisoformat(r["window_end"])] <= r["hosts_hi"]
        for r in scored
    )
    assert inside >= len(scored) - 2


def test_cleanup_decay_rate_matches_the_true_machines(demo: Demo) -> None:
    out = json.loads(
        _cli("cleanup", "--data", str(demo.data), "--by", "country", "--format", "json")
    )
    overall = next(r for r in out["decay"] if r["group"] is None)
    truth = demo.true_weeks()
    weeks = sorted(truth)
    true_fit = fit_decay(range(len(weeks)), [truth[w] for w in weeks])
    assert overall["weeks"] == len(weeks)
    assert overall["rate_per_week"] == pytest.approx(true_fit.rate_per_week, rel=0.15)
    assert any(r["group"] == "IN" and r["rate_per_week"] is not None for r in out["decay"])
    assert out["survival"], "Kaplan–Meier rows on raw sightings"
    assert any("survival follows" in note for note in out["notes"])


def test_demo_tables_show_estimates_and_clean_up(demo: Demo) -> None:
    con = connect()
    relation = sightings_view(con, demo.data)
    weekly = run_census(con, CensusQuery(window="week", family="rustock"), relation, estimate=True)
    result = cleanup(
        con,
        relation,
        read_sketches(demo.data),
        CleanupQuery(by="country", family="rustock", marks=MARKS),
    )
    truth = demo.sim.truth().weekly
    truth = truth.filter(pc.equal(truth["scope"], "global"))
    console = Console(record=True, width=100)
    console.print(_side_by_side(weekly.rows, truth, 0.0008))
    _cleanup(console, result, truth)
    text = console.export_text()
    assert "estimated" in text
    first = weekly.rows.to_pylist()[1]
    assert f"{first['hosts_est']:,.0f}" in text
    assert "Decay rate" in text
    assert "True active machines over the same weeks" in text
    assert "removal tool (2011-04-12)" in text
    assert "Time to clean-up" in text


def test_cleanup_can_fit_the_decay_to_host_estimates(demo: Demo) -> None:
    out = json.loads(
        _cli("cleanup", "--data", str(demo.data), "--count", "hosts", "--format", "json")
    )
    assert out["unit"] == "hosts"
    overall = next(r for r in out["decay"] if r["group"] is None)
    truth = demo.true_weeks()
    weeks = sorted(truth)
    true_fit = fit_decay(range(len(weeks)), [truth[w] for w in weeks])
    assert overall["rate_per_week"] == pytest.approx(true_fit.rate_per_week, rel=0.15)
    assert overall["first_count"] == pytest.approx(truth[weeks[0]], rel=0.25)

"""The demo's measurement half on the demo's scenario: `census --estimate`, `cleanup` and
`measure_demo` (the structured result the demo prints) on a Rustock dataset written the way
the demo writes it (the HTTP replay path gives the same dataset:
tests/simulate/test_replay_http.py), checked against the simulator's truth and Microsoft's
published figures."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from botcensus import enrich
from botcensus.cli import main
from botcensus.demo import (
    MICROSOFT_CHANGE,
    MICROSOFT_WEEKLY,
    SENSOR,
    DemoResult,
    Week,
    measure_demo,
)
from botcensus.demo.render import cleanup_lines, unsupported_line, week_cells
from botcensus.measure.cleanup import fit_decay
from botcensus.simulate import Simulation, load_scenario, simulate
from botcensus.simulate.outputs import write_direct
from botcensus.store import rollup

FIRST, LAST = dt.date(2011, 3, 16), dt.date(2011, 5, 3)  # seven weeks after the takedown
SCALE = 0.0008


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
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    rustock = load_scenario("rustock-2011")
    geo = enrich.load_bundled()
    sim = simulate(
        rustock, address_space=enrich.ipv4_ranges(geo), scale=SCALE, seed=2011,
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


@pytest.fixture(scope="module")
def result(demo: Demo) -> DemoResult:
    return measure_demo(demo.data, demo.sim.truth().weekly, scale=SCALE)


def test_demo_weeks_pair_counts_estimates_and_truth(demo: Demo, result: DemoResult) -> None:
    census = {r["window_end"]: r for r in result.census.rows.to_pylist()}
    truth = demo.true_weeks()
    assert [w.week_ending for w in result.weeks] == sorted(set(census) | set(truth))
    whole = [w for w in result.weeks if w.days == 7]
    assert len(whole) >= 6
    for week in whole:
        row = census[week.week_ending]
        assert week.unique_ip == row["unique_ip"]
        assert week.true_active == truth[week.week_ending]
        assert week.hosts_lo is not None
        assert week.hosts_hi is not None
        assert week.unique_ip > 1.8 * week.true_active  # the addresses overcount (churn)
        assert week.true_infected is not None
        assert week.true_infected >= week.true_active
        # At this scale only the US has a network where an address follows one line: one
        # country lending its days active to every other cannot be checked against a second
        # lender, so the estimator gives bounds only (hosts.model's lending rules), and they
        # must hold the truth.
        assert row["hosts_support"] == "bounds", row
        assert week.hosts_est is None
        assert week.hosts_lo <= week.true_active <= week.hosts_hi, week


def test_demo_says_why_its_weeks_have_bounds_only(result: DemoResult) -> None:
    """The table showed "not supported" in every row and nowhere said why."""
    line = unsupported_line(result)
    assert line is not None
    assert line.startswith("Host estimates not supported by these data: only 1 country (US)")
    peak = max(w.true_active or 0 for w in result.weeks)
    assert f"(at most {peak:,} machines active in a week" in line
    assert "hosts_est" not in line  # the census's column names stay in the census's note


def test_demo_sets_microsofts_figure_beside_its_week(result: DemoResult) -> None:
    published = {w.week_ending: w.published for w in result.weeks if w.published is not None}
    week = dt.date(2011, 3, 26)  # the only published week inside FIRST..LAST
    assert published == {week: pytest.approx(MICROSOFT_WEEKLY[week] * SCALE)}
    counted = next(w.unique_ip for w in result.weeks if w.week_ending == week)
    assert counted == pytest.approx(published[week], rel=0.1)


def test_demo_countries_decline_beside_microsofts_change(result: DemoResult) -> None:
    measured = {r["country"]: r["unique_ip_change"] for r in result.summary.countries.to_pylist()}
    assert {c.country for c in result.changes} == set(MICROSOFT_CHANGE)
    for change in result.changes:
        assert change.published == MICROSOFT_CHANGE[change.country]
        assert change.measured == measured[change.country]
        assert change.measured < 0


def test_demo_cleanup_decay_matches_the_true_decay(demo: Demo, result: DemoResult) -> None:
    fit, true = result.cleanup.fit, result.true_decay
    assert fit is not None
    assert true is not None
    assert fit.rate_per_week == pytest.approx(true.rate_per_week, rel=0.15)
    decay = result.cleanup.decay.to_pylist()
    overall = next(r for r in decay if r["group"] is None)
    assert overall["weeks"] == len(demo.true_weeks())
    assert any(r["group"] == "IN" and r["rate_per_week"] is not None for r in decay)
    assert result.cleanup.survival is not None
    assert result.cleanup.survival.num_rows > 0  # Kaplan–Meier rows on raw sightings
    assert any("survival follows" in note for note in result.cleanup.notes)
    marks = result.cleanup.marks.to_pylist()
    assert [(m["label"], m["mark"]) for m in marks] == [("removal tool", dt.date(2011, 4, 12))]
    assert marks[0]["before_rate_per_week"] is not None
    assert marks[0]["after_rate_per_week"] is not None


def test_demo_prints_the_measured_decays(result: DemoResult) -> None:
    lines = cleanup_lines(result)
    assert result.true_decay is not None
    true_line = (
        f"  True active machines over the same weeks: {result.true_decay.rate_per_week:.3f} "
        f"per week, half-life {result.true_decay.half_life_weeks:.1f} weeks."
    )
    assert true_line in lines
    mark = result.cleanup.marks.to_pylist()[0]
    assert (
        f"  removal tool (2011-04-12): {mark['before_rate_per_week']:.3f} per week before, "
        f"{mark['after_rate_per_week']:.3f} after."
    ) in lines


@pytest.mark.parametrize(
    ("week", "cells"),
    [
        (
            Week(dt.date(2011, 3, 19), 4, 12345, None, 4000.4, 3500.0, 4600.0, 5000, 4100),
            ("2011-03-19 (4 d)", "12,345", "—", "4,000\n(3,500–4,600)", "5,000", "4,100"),
        ),
        (
            Week(dt.date(2011, 3, 26), 7, None, 1281.3, None, None, None, None, 0),
            ("2011-03-26", "—", "1,281", "—", "—", "—"),
        ),
        (
            Week(dt.date(2011, 4, 2), 7, 1332, None, None, 153.0, 2221.3, 514, 485),
            ("2011-04-02", "1,332", "—", "not supported\n(bounds 153–2,221)", "514", "485"),
        ),
    ],
)
def test_a_week_renders_as_one_row(week: Week, cells: tuple[str, ...]) -> None:
    assert week_cells(week) == cells


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
    # Every week of the demo is bounds: the decay is fitted to the model's figure there,
    # whose trend is supported and whose level is not (the note says so). Its first week
    # lies within that week's bounds, the truth too. (Until the seventeenth held-out set the
    # figure was the bounds' geometric middle, 0.71 times the model's, and read 594 against
    # a true 485 here; now 840.)
    assert any("the level is not supported" in n for n in out["notes"])
    rows = json.loads(
        _cli("census", "--data", str(demo.data), "--window", "week", "--estimate",
             "--format", "json")
    )  # fmt: skip
    full = [r for r in rows if r["days_covered"] == 7]
    assert {r["hosts_support"] for r in full} == {"bounds"}
    first = full[0]
    assert first["hosts_lo"] <= overall["first_count"] <= first["hosts_hi"]
    assert first["hosts_lo"] <= truth[weeks[0]] <= first["hosts_hi"]
    # and the decay's row says so: its first week is that week's bounds, not a count
    assert overall["first_support"] == "bounds"
    assert (overall["first_lower"], overall["first_upper"]) == pytest.approx(
        (first["hosts_lo"], first["hosts_hi"])
    )

"""The public surface of botcensus.simulate, and docs that name every scenario setting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import BaseModel

import botcensus.simulate as simulate_package
from botcensus.simulate import Scenario, load_scenario, simulate
from botcensus.simulate.scenario import CheckIn, ChurnClass, Country, Noise, Pulse, Target

DOC = Path(__file__).parents[2] / "docs" / "simulator.md"


def test_exported_members() -> None:
    assert set(simulate_package.__all__) == {
        "BUNDLED",
        "CHECKIN_SCHEMA",
        "Check",
        "INTERVAL_SCHEMA",
        "RANGE_SCHEMA",
        "Scenario",
        "Simulation",
        "Truth",
        "calibration_table",
        "check_targets",
        "load_scenario",
        "simulate",
        "synthetic_ranges",
        "weekly_census",
        "write_truth",
    }


@pytest.mark.parametrize("model", [Scenario, CheckIn, ChurnClass, Country, Pulse, Noise, Target])
def test_docs_describe_every_scenario_field(model: type[BaseModel]) -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in model.model_fields if f"`{name}`" not in text]
    assert not missing


def test_same_seed_same_sightings_other_seed_other_sightings(space: pa.Table) -> None:
    scenario = load_scenario("rustock-2011")

    def run(seed: int) -> pa.Table:
        sim = simulate(
            scenario, address_space=space, scale=0.002, seed=seed, end=dt.date(2011, 3, 18)
        )
        return pa.Table.from_batches(list(sim.sightings()))

    assert run(11).equals(run(11))
    assert not run(11).equals(run(12))


@pytest.mark.parametrize(
    ("scale", "start", "end"),
    [(0.0, None, None), (-1.0, None, None), (0.01, dt.date(2011, 4, 2), dt.date(2011, 4, 1))],
)
def test_bad_run_arguments_are_refused(
    space: pa.Table, scale: float, start: dt.date | None, end: dt.date | None
) -> None:
    with pytest.raises(ValueError, match=r"scale|end"):
        simulate(
            load_scenario("rustock-2011"), address_space=space, scale=scale, start=start, end=end
        )

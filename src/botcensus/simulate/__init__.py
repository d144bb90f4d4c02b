"""Ground-truth takedown scenarios: an infected population and the sinkhole traffic it sends."""

from __future__ import annotations

from botcensus.simulate.addresses import RANGE_SCHEMA, synthetic_ranges
from botcensus.simulate.calibration import Check, calibration_table, check_targets, weekly_census
from botcensus.simulate.checkins import CHECKIN_SCHEMA
from botcensus.simulate.intervals import INTERVAL_SCHEMA
from botcensus.simulate.scenario import BUNDLED, Scenario, load_scenario
from botcensus.simulate.simulation import Simulation, Truth, simulate, write_truth

__all__ = [
    "BUNDLED",
    "CHECKIN_SCHEMA",
    "INTERVAL_SCHEMA",
    "RANGE_SCHEMA",
    "Check",
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
]

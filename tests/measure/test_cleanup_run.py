"""The cleanup command's one call, on the simulated campaign."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.measure.cleanup import Mark
from botcensus.measure.cleanup_run import CleanupQuery, cleanup
from botcensus.measure.sketches import sketch_sightings

from .sim_cases import NotifyRun, notify_static


@pytest.fixture(scope="module")
def run() -> NotifyRun:
    return notify_static()


def _con(table: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("s", table)
    return con


def test_cleanup_gathers_every_estimator(run: NotifyRun) -> None:
    query = CleanupQuery(
        by="country",
        marks=(Mark(dt.date(2011, 3, 30), "notified"),),
        notified=run.notifications,
    )
    result = cleanup(_con(run.sightings), "s", sketch_sightings(run.sightings.slice(0, 0)), query)
    assert (result.unit, result.source) == ("unique_ip", "sightings")
    assert result.fit is not None
    assert 0.1 < result.fit.rate_per_week < 0.3
    assert sorted(g for g in result.decay["group"].to_pylist() if g) == ["BR", "IN", "US"]
    assert result.marks.num_rows == 1
    assert result.survival is not None
    assert {None, "US", "IN", "BR"} <= set(result.survival["group"].to_pylist())
    assert result.hazard is not None
    assert abs(result.hazard.hazard_ratio - 1.6) <= 0.25


def test_cleanup_from_sketches_has_no_survival(run: NotifyRun) -> None:
    recent = run.sightings.filter(
        pc.greater_equal(run.sightings["day"], pa.scalar(dt.date(2011, 4, 20)))
    )
    result = cleanup(_con(recent), "s", sketch_sightings(run.sightings), CleanupQuery())
    assert result.unit == "unique_ip_hll"
    assert result.curves is None
    assert any("raw sightings" in note for note in result.notes)
    assert result.fit is not None

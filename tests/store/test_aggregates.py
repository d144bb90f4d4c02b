"""Roll-up tables as a store product: built once per day and week, again only for what
changed, kept when retention deletes the sightings under them; freshness says which
windows no longer match the sightings on disk."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.measure.rollups import rollup_rows
from botcensus.store import write_sightings
from botcensus.store.aggregates import (
    AGGREGATES_DIR,
    MANIFEST,
    aggregate_windows,
    freshness,
    read_product,
    week_start,
    write_product,
)
from measure.sim_cases import notify_static


def build(con, view, window):
    return rollup_rows(con, view, window, "sat")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    data = tmp_path_factory.mktemp("agg") / "data"
    rows = notify_static().sightings
    first = pc.min(rows["day"]).as_py()
    rows = rows.filter(pc.less(rows["day"], pa.scalar(first + dt.timedelta(days=14), pa.date32())))
    write_sightings(rows, data, "simulated")
    report = aggregate_windows(data, build)
    return data, report, rows


@pytest.fixture
def data(source, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(source[0], target)
    return target


def test_every_day_and_week_is_built_once(source):
    data, report, rows = source
    days = sorted({d.isoformat() for d in rows["day"].to_pylist()})
    assert list(report.days_built) == days
    weeks = sorted({week_start(d, "sat").isoformat() for d in rows["day"].to_pylist()})
    assert list(report.weeks_built) == weeks
    assert aggregate_windows(data, build).unchanged == len(days) + len(weeks)
    fresh = freshness(data)
    assert not fresh.stale_days
    assert not fresh.stale_weeks
    assert len(fresh.files["day"]) == len(days)
    assert len(fresh.files["week-sat"]) == len(weeks)


def test_a_changed_day_rebuilds_that_day_and_its_week(data, source):
    rows = source[2]
    day = rows["day"][0].as_py()
    extra = rows.filter(pc.equal(rows["day"], rows["day"][0])).slice(0, 5)
    extra = extra.set_column(
        extra.schema.get_field_index("source_ip"),
        "source_ip",
        pa.array([f"192.0.2.{i}" for i in range(5)]),
    )
    write_sightings(extra, data, "late")
    fresh = freshness(data)
    assert fresh.stale_days == {day}
    assert fresh.stale_weeks == {week_start(day, "sat")}
    report = aggregate_windows(data, build)
    assert report.days_built == (day.isoformat(),)
    assert report.weeks_built == (week_start(day, "sat").isoformat(),)
    assert not freshness(data).stale_days


def test_tables_outlive_the_sightings_under_them(data, source):
    day = source[2]["day"][0].as_py()
    shutil.rmtree(data / "sightings" / f"date={day.isoformat()}")
    fresh = freshness(data)
    assert day in fresh.stale_days  # a reader must not take its table for the sightings'
    report = aggregate_windows(data, build)
    assert f"day/{day.isoformat()}" not in report.days_built
    assert (data / AGGREGATES_DIR / "day" / f"date={day.isoformat()}" / "census.parquet").exists()


def test_an_unreadable_manifest_rebuilds_everything(data, source):
    (data / AGGREGATES_DIR / MANIFEST).write_text("{not json", encoding="utf-8")
    report = aggregate_windows(data, build)
    assert len(report.days_built) == len(set(source[2]["day"].to_pylist()))


def test_the_token_changes_with_the_sightings(data, source):
    before = freshness(data).token
    write_sightings(source[2].slice(0, 3), data, "again")
    assert freshness(data).token != before


def test_products_round_trip(data):
    assert read_product(data, "thing") is None
    write_product(data, "thing", pa.table({"a": [1, 2]}), {"unit": "unique_ip"})
    table, meta = read_product(data, "thing")
    assert table.to_pylist() == [{"a": 1}, {"a": 2}]
    assert meta["unit"] == "unique_ip"
    with pytest.raises(ValueError, match="plain name"):
        write_product(data, "../x", None, {})

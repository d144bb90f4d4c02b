"""Sketch columns in the dataset: built from sightings, incremental, kept after retention
deletes the sightings, and answering the census then."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.sketches_census import census_answer
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import (
    apply_retention,
    connect,
    sighting_files,
    sightings_view,
    write_sightings,
)
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import (
    SKETCH_SCHEMA,
    read_sketches,
    sketch_days,
    sketch_files,
    write_sketches,
)

D0 = dt.date(2011, 3, 16)


def _sightings(days: int = 3, per_day: int = 50) -> pa.Table:
    rows = []
    for d in range(days):
        day = D0 + dt.timedelta(days=d)
        ts = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        base = {"day": day, "bot_id": None, "malware_family": "rustock", "sensor": "s1",
                "feed_name": "botcensus-sinkhole", "first_seen": ts, "last_seen": ts,
                "hits": 2, "source_cc": "US", "source_asn": 7922, "source_as_name": None,
                "geo_db": None}  # fmt: skip
        rows += [base | {"source_ip": f"10.0.{d}.{i}"} for i in range(per_day)]
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    write_sightings(_sightings(), tmp_path, "sinkhole")
    return tmp_path


def test_each_sightings_day_gets_a_local_sketch_file(dataset: Path) -> None:
    report = sketch_days(dataset, sketch_sightings)
    assert report.days_sketched == ("2011-03-16", "2011-03-17", "2011-03-18")
    assert [p.name for p in sketch_files(dataset)] == ["local.parquet"] * 3
    assert pq.read_table(sketch_files(dataset)[0]).schema.equals(SKETCH_SCHEMA)


def test_sketching_again_without_changes_does_nothing(dataset: Path) -> None:
    sketch_days(dataset, sketch_sightings)
    again = sketch_days(dataset, sketch_sightings)
    assert (again.days_sketched, again.days_unchanged) == ((), 3)


def test_sketches_do_not_land_in_the_sightings_view(dataset: Path) -> None:
    sketch_days(dataset, sketch_sightings)
    con = connect()
    view = sightings_view(con, dataset)
    assert con.table(view).count("*").fetchall() == [(150,)]


def test_read_sketches_filters_days(dataset: Path) -> None:
    sketch_days(dataset, sketch_sightings)
    table = read_sketches(dataset, D0 + dt.timedelta(days=1), D0 + dt.timedelta(days=1))
    assert set(table["day"].to_pylist()) == {D0 + dt.timedelta(days=1)}
    assert read_sketches(dataset / "nothing").num_rows == 0


def test_sketches_outlive_sightings_and_answer_the_census(dataset: Path) -> None:
    sketch_days(dataset, sketch_sightings)
    written = dt.datetime.now(dt.UTC)
    apply_retention(dataset, written + dt.timedelta(days=2), event_days=1, sighting_days=1)
    assert sighting_files(dataset) == []
    con = connect()
    answer = census_answer(
        con, CensusQuery(window="day"), sightings_view(con, dataset), read_sketches(dataset)
    )
    assert answer.unit == "unique_ip_hll"
    assert [round(v) for v in answer.table["unique_ip_hll"].to_pylist()] == [50, 50, 50]
    assert answer.table["hits"].to_pylist() == [100, 100, 100]


def test_sketches_copied_from_another_sinkhole_are_written_by_day(dataset: Path) -> None:
    other = sketch_sightings(_sightings(days=2))
    paths = write_sketches(other, dataset, "sinkhole-b")
    assert [p.parent.name for p in paths] == ["date=2011-03-16", "date=2011-03-17"]


@pytest.mark.parametrize("part", ["local", "../x", ".hidden"])
def test_reserved_or_odd_part_names_are_refused(dataset: Path, part: str) -> None:
    with pytest.raises(ValueError, match="part name"):
        write_sketches(SKETCH_SCHEMA.empty_table(), dataset, part)

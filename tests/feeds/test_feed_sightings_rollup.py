"""Feed sightings take the greatest AS name and geo database of their events (compared as text,
though the roll-up compares them through a sorted ENUM), however they were merged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feed_cases import fake_enrich, sinkhole_row, write_report

from botcensus.feeds import ingest
from botcensus.store import sighting_files
from botcensus.store.feed_events import feed_files
from botcensus.store.feed_sightings import feed_sightings, rebuild_days


def _enrich(as_name: str | None, geo_db: str) -> Callable[[pa.Table], pa.Table]:
    def step(table: pa.Table) -> pa.Table:
        table = fake_enrich(table)
        n = table.num_rows
        for name, value in (("source_as_name", as_name), ("geo_db", geo_db)):
            column = pa.array([value] * n, pa.string())
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    return step


def _sightings(data: Path) -> list[dict[str, object]]:
    rows = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: str(r["source_ip"]))


def test_the_greatest_name_and_database_win_in_every_merge(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # one host, one day, three runs enriched differently: names "B-NET" > "A-NET" > "A NET"
    for n, (as_name, geo_db) in enumerate(
        (("A-NET", "geo 2"), ("B-NET", "geo 1"), (None, "geo 10"))
    ):
        path = write_report(
            tmp_path / f"2024-05-01-event4_sinkhole-{n}.csv", [sinkhole_row(1, src_port=n + 1)]
        )
        ingest([path], data, _enrich(as_name, geo_db))
    merged = _sightings(data)
    assert [(r["hits"], r["source_as_name"], r["geo_db"]) for r in merged] == [
        (3, "B-NET", "geo 2")
    ]
    rebuild_days(data, ["2024-05-01"])
    assert _sightings(data) == merged
    whole = feed_sightings(feed_files(data)).to_pylist()
    assert [(r["hits"], r["source_as_name"], r["geo_db"]) for r in whole] == [(3, "B-NET", "geo 2")]


def test_a_day_without_any_name_keeps_it_empty(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", [sinkhole_row(2)])
    ingest([path], data, _enrich(None, "geo"))
    assert [(r["source_as_name"], r["geo_db"]) for r in _sightings(data)] == [(None, "geo")]

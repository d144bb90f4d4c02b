"""Roll-up from events to daily sightings: correct, incremental, idempotent (retention:
test_retention.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.model import EVENT_COLUMNS, SIGHTING_SCHEMA
from botcensus.store import events_table, rollup, sighting_files, write_sightings
from botcensus.store.events import write_partitioned


def _event(
    t: datetime, ip: str, family: str | None = "rustock", bot_id: str | None = None
) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    values.update(
        time_received=int(t.timestamp() * 1_000_000), source_ip=ip, source_port=1234,
        destination_ip="198.51.100.10", destination_port=80, listener="l", sensor="s1",
        header_names=[], body_length=96, body_truncated=False, status=404,
        malware_family=family, bot_id=bot_id,
    )  # fmt: skip
    return [values[c] for c in EVENT_COLUMNS]


def _t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2011, 3, day, hour, minute, tzinfo=UTC)


def _identity(table: pa.Table) -> pa.Table:
    return table


def _write_events(dataset: Path, rows: list[list[Any]], name: str) -> None:
    write_partitioned(events_table(rows), dataset, name)


def _read_sightings(dataset: Path) -> list[dict[str, Any]]:
    tables = [pq.read_table(f) for f in sighting_files(dataset)]
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return sorted(rows, key=lambda r: (r["day"], r["source_ip"]))


def test_rollup_groups_by_day_ip_family_sensor(tmp_path: Path) -> None:
    _write_events(
        tmp_path,
        [_event(_t(20, 1), "1.1.1.1"), _event(_t(20, 5, 30), "1.1.1.1"),
         _event(_t(20, 23, 59), "1.1.1.1"), _event(_t(21, 0, 1), "1.1.1.1"),
         _event(_t(20, 3), "2.2.2.2", family=None)],
        "seg1",
    )  # fmt: skip
    report = rollup(tmp_path, _identity)
    assert report.days_rolled == ("2011-03-20", "2011-03-21")
    rows = _read_sightings(tmp_path)
    got = [
        (r["day"], r["source_ip"], r["malware_family"], r["hits"], r["first_seen"], r["last_seen"])
        for r in rows
    ]
    assert got == [
        (date(2011, 3, 20), "1.1.1.1", "rustock", 3, _t(20, 1), _t(20, 23, 59)),
        (date(2011, 3, 20), "2.2.2.2", None, 1, _t(20, 3), _t(20, 3)),
        (date(2011, 3, 21), "1.1.1.1", "rustock", 1, _t(21, 0, 1), _t(21, 0, 1)),
    ]
    assert all(r["feed_name"] == "botcensus-sinkhole" and r["sensor"] == "s1" for r in rows)


def test_rollup_is_idempotent(tmp_path: Path) -> None:
    _write_events(tmp_path, [_event(_t(20, 1), "1.1.1.1")], "seg1")
    rollup(tmp_path, _identity)
    before = _read_sightings(tmp_path)
    again = rollup(tmp_path, _identity)
    assert again.days_rolled == ()
    assert again.days_unchanged == 1
    assert _read_sightings(tmp_path) == before


def test_rollup_rebuilds_only_the_day_that_got_new_events(tmp_path: Path) -> None:
    _write_events(tmp_path, [_event(_t(20, 1), "1.1.1.1"), _event(_t(21, 1), "1.1.1.1")], "seg1")
    rollup(tmp_path, _identity)
    _write_events(tmp_path, [_event(_t(21, 2), "1.1.1.1"), _event(_t(21, 3), "3.3.3.3")], "seg2")
    report = rollup(tmp_path, _identity)
    assert report.days_rolled == ("2011-03-21",)
    day21 = [r for r in _read_sightings(tmp_path) if r["day"] == date(2011, 3, 21)]
    assert [(r["source_ip"], r["hits"]) for r in day21] == [("1.1.1.1", 2), ("3.3.3.3", 1)]


def test_rollup_applies_the_enrichment_step(tmp_path: Path) -> None:
    _write_events(tmp_path, [_event(_t(20, 1), "1.1.1.1")], "seg1")

    def stamp(table: pa.Table) -> pa.Table:
        n = table.num_rows
        table = table.set_column(
            table.schema.get_field_index("source_cc"), "source_cc", pa.array(["AU"] * n)
        )
        return table.set_column(
            table.schema.get_field_index("geo_db"), "geo_db", pa.array(["test-db"] * n)
        )

    rollup(tmp_path, stamp)
    (row,) = _read_sightings(tmp_path)
    assert (row["source_cc"], row["geo_db"]) == ("AU", "test-db")


def test_written_sightings_follow_the_schema(tmp_path: Path) -> None:
    _write_events(tmp_path, [_event(_t(20, 1), "1.1.1.1", bot_id="abc")], "seg1")
    rollup(tmp_path, _identity)
    (path,) = sighting_files(tmp_path)
    assert pq.read_schema(path).remove_metadata().equals(SIGHTING_SCHEMA)


def test_write_sightings_is_idempotent_per_part(tmp_path: Path) -> None:
    _write_events(tmp_path, [_event(_t(20, 1), "1.1.1.1")], "seg1")
    rollup(tmp_path, _identity)
    table = pa.concat_tables([pq.read_table(f) for f in sighting_files(tmp_path)])
    write_sightings(table, tmp_path, "feed-x")
    write_sightings(table, tmp_path, "feed-x")
    assert len(sighting_files(tmp_path)) == 2  # the sinkhole part and one feed part


def test_events_no_sighting_can_hold_are_left_out_and_named(tmp_path: Path) -> None:
    """A source that is no address (0.0.0.0, `::`: an older sinkhole took them from PROXY
    headers) or a day out of the calendar (a replayed 9999-12-31) is counted and named; the
    other events of the day are rolled up, and the census's days stay in range."""
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    _write_events(
        tmp_path,
        [_event(_t(20, 1), "1.1.1.1"), _event(_t(20, 2), "0.0.0.0"),
         _event(_t(20, 3), "0.0.0.0"), _event(_t(20, 4), "::"), _event(far, "2.2.2.2")],
        "seg1",
    )  # fmt: skip
    report = rollup(tmp_path, _identity)
    rows = _read_sightings(tmp_path)
    assert [(r["day"], r["source_ip"], r["hits"]) for r in rows] == [
        (date(2011, 3, 20), "1.1.1.1", 1)
    ]
    problems = "\n".join(report.problems)
    assert "3 events left out of the sightings: source_ip is not an address" in problems
    assert "date=9999-12-31: a day outside 1970-01-01 to 2099-12-31" in problems
    again = rollup(tmp_path, _identity)  # nothing new: the events stay, nothing is re-read
    assert again.days_rolled == ()

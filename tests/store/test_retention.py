"""Retention deletes only when asked, counts age from when data was written here (never from
the data's own dates), deletes nothing unsummarised, and logs every deletion."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.model import EVENT_COLUMNS
from botcensus.store import apply_retention, events_table, rollup, sighting_files
from botcensus.store.events import write_partitioned
from botcensus.store.ledger import read_ledger, stamp
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import read_sketches, sketch_days

ROLLED = datetime(2025, 1, 10, 12, tzinfo=UTC)
"""When the 2011 data was rolled up in these tests (the wall clock of the roll-up)."""
LIMITS = {"event_days": 30, "sighting_days": 400}


def _event(day: int, ip: str) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    t = datetime(2011, 3, day, 1, tzinfo=UTC)
    values.update(
        time_received=int(t.timestamp() * 1_000_000), source_ip=ip, source_port=1234,
        destination_ip="198.51.100.10", destination_port=80, listener="l", sensor="s1",
        header_names=[], body_length=0, body_truncated=False, status=404,
        malware_family="rustock",
    )  # fmt: skip
    return [values[c] for c in EVENT_COLUMNS]


def _identity(table: pa.Table) -> pa.Table:
    return table


@pytest.fixture
def rustock(tmp_path: Path) -> Path:
    """Rustock check-ins of 2011-03-16..18, replayed and rolled up (and sketched) at ROLLED."""
    dataset = tmp_path / "data"
    rows = [_event(d, f"10.0.{d}.{i}") for d in (16, 17, 18) for i in range(3)]
    write_partitioned(events_table(rows), dataset, "seg1")
    rollup(dataset, _identity, now=ROLLED)
    sketch_days(dataset, sketch_sightings)
    return dataset


def _days(dataset: Path, area: str) -> list[str]:
    root = dataset / area
    return sorted(p.name for p in root.glob("date=*")) if root.is_dir() else []


ALL = ["date=2011-03-16", "date=2011-03-17", "date=2011-03-18"]


def test_rolling_up_a_2011_dataset_deletes_nothing(rustock: Path) -> None:
    rollup(rustock, _identity)  # the wall clock today: 14 years after the data
    assert _days(rustock, "events") == ALL
    assert _days(rustock, "sightings") == ALL


@pytest.mark.parametrize("after", [timedelta(0), timedelta(days=29), timedelta(days=30)])
def test_nothing_is_deleted_within_the_limit_of_the_rollup(rustock: Path, after: timedelta) -> None:
    report = apply_retention(rustock, ROLLED + after, **LIMITS)
    assert report.deleted == []
    assert _days(rustock, "events") == ALL


def test_raw_events_go_30_days_after_their_rollup_and_sightings_stay(rustock: Path) -> None:
    report = apply_retention(rustock, ROLLED + timedelta(days=31), **LIMITS)
    assert report.days("events") == ("2011-03-16", "2011-03-17", "2011-03-18")
    assert _days(rustock, "events") == []
    assert _days(rustock, "sightings") == ALL


def test_sightings_go_400_days_after_they_were_written_and_sketches_stay(rustock: Path) -> None:
    report = apply_retention(rustock, ROLLED + timedelta(days=401), **LIMITS)
    assert report.days("sightings") == ("2011-03-16", "2011-03-17", "2011-03-18")
    assert sighting_files(rustock) == []
    assert read_sketches(rustock).num_rows == 3


def test_a_dry_run_lists_what_would_go_and_changes_nothing(rustock: Path) -> None:
    before = read_ledger(rustock)
    report = apply_retention(rustock, ROLLED + timedelta(days=401), **LIMITS, dry_run=True)
    assert len(report.deleted) == 6
    assert _days(rustock, "events") == ALL
    assert _days(rustock, "sightings") == ALL
    assert read_ledger(rustock) == before
    assert not (rustock / "retention.log").exists()


def test_every_deletion_is_logged_with_its_age_and_limit(rustock: Path) -> None:
    now = ROLLED + timedelta(days=31)
    apply_retention(rustock, now, **LIMITS)
    lines = [json.loads(x) for x in (rustock / "retention.log").read_text().splitlines()]
    assert [x["deleted"] for x in lines] == [f"events/{d}" for d in ALL]
    first = lines[0]
    assert first["time"] == now.isoformat(timespec="seconds")
    assert first["written"] == ROLLED.isoformat(timespec="seconds")
    assert (first["age_days"], first["limit_days"], first["files"]) == (31.0, 30, 1)
    assert first["bytes"] > 0


def test_an_event_day_with_a_file_not_rolled_up_is_kept(rustock: Path) -> None:
    write_partitioned(events_table([_event(17, "10.9.9.9")]), rustock, "seg2")
    report = apply_retention(rustock, ROLLED + timedelta(days=31), **LIMITS)
    assert report.kept_unrolled == ["2011-03-17"]
    assert _days(rustock, "events") == ["date=2011-03-17"]


def test_never_rolled_up_event_days_are_kept_however_old(tmp_path: Path) -> None:
    write_partitioned(events_table([_event(16, "10.0.0.1")]), tmp_path, "seg1")
    report = apply_retention(tmp_path, ROLLED + timedelta(days=5000), **LIMITS)
    assert report.kept_unrolled == ["2011-03-16"]
    assert _days(tmp_path, "events") == ["date=2011-03-16"]


def test_unsketched_sightings_are_kept(tmp_path: Path) -> None:
    write_partitioned(events_table([_event(16, "10.0.0.1")]), tmp_path, "seg1")
    rollup(tmp_path, _identity, now=ROLLED)
    report = apply_retention(tmp_path, ROLLED + timedelta(days=401), **LIMITS)
    assert report.kept_unsketched == ["2011-03-16"]
    assert len(sighting_files(tmp_path)) == 1


def test_a_day_without_a_write_time_starts_its_clock_instead_of_going(rustock: Path) -> None:
    (rustock / "retention.json").unlink()  # a dataset from before the ledger
    first = ROLLED + timedelta(days=1000)
    report = apply_retention(rustock, first, **LIMITS)
    assert report.deleted == []
    assert len(report.clocks_started) == 6
    assert read_ledger(rustock)["events"]["2011-03-16"] == first.isoformat(timespec="seconds")
    later = apply_retention(rustock, first + timedelta(days=31), **LIMITS)
    assert later.days("events") == ("2011-03-16", "2011-03-17", "2011-03-18")


def test_new_events_of_an_expired_day_add_to_its_sightings(rustock: Path) -> None:
    apply_retention(rustock, ROLLED + timedelta(days=31), **LIMITS)
    write_partitioned(events_table([_event(16, "10.9.9.9")]), rustock, "late")
    report = rollup(rustock, _identity, now=ROLLED + timedelta(days=32))
    assert report.days_rolled == ("2011-03-16",)
    day16 = pq.read_table(rustock / "sightings" / "date=2011-03-16" / "sinkhole.parquet")
    assert sorted(day16["source_ip"].to_pylist()) == [
        "10.0.16.0",
        "10.0.16.1",
        "10.0.16.2",
        "10.9.9.9",
    ]
    assert read_ledger(rustock)["events"]["2011-03-16"] == (ROLLED + timedelta(days=32)).isoformat(
        timespec="seconds"
    )


def test_a_reroll_restarts_the_days_clock(rustock: Path) -> None:
    write_partitioned(events_table([_event(17, "10.9.9.9")]), rustock, "seg2")
    rollup(rustock, _identity, now=ROLLED + timedelta(days=20))
    report = apply_retention(rustock, ROLLED + timedelta(days=31), **LIMITS)
    assert report.days("events") == ("2011-03-16", "2011-03-18")


def _feed_day(dataset: Path, day: str) -> Path:
    folder = dataset / "feeds" / f"date={day}"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), folder / "part.parquet")
    return folder


def test_feed_days_go_30_days_after_their_ingest(tmp_path: Path) -> None:
    old, new = _feed_day(tmp_path, "2011-03-20"), _feed_day(tmp_path, "2011-05-20")
    stamp(tmp_path, "feeds", ["2011-03-20"], ROLLED)
    stamp(tmp_path, "feeds", ["2011-05-20"], ROLLED + timedelta(days=10))
    report = apply_retention(tmp_path, ROLLED + timedelta(days=31), **LIMITS)
    assert report.event_days_deleted == ("feeds/2011-03-20",)
    assert not old.exists()
    assert new.exists()


def test_feed_days_whose_sightings_are_pending_are_kept(tmp_path: Path) -> None:
    folder = _feed_day(tmp_path, "2011-03-20")
    stamp(tmp_path, "feeds", ["2011-03-20"], ROLLED)
    (tmp_path / "feeds" / "sightings-pending.json").write_text('["2011-03-20"]')
    report = apply_retention(tmp_path, ROLLED + timedelta(days=31), **LIMITS)
    assert report.kept_pending == ["2011-03-20"]
    assert folder.exists()


def test_retention_never_follows_a_symlinked_partition(rustock: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.parquet").write_bytes(b"x")
    (rustock / "events" / "date=2011-03-19").symlink_to(outside, target_is_directory=True)
    stamp(rustock, "events", ["2011-03-19"], ROLLED)
    report = apply_retention(rustock, ROLLED + timedelta(days=31), **LIMITS)
    assert (outside / "keep.parquet").exists()
    assert "2011-03-19" not in report.days("events")
    assert any("symlink" in p for p in report.problems)


def test_a_missing_dataset_is_nothing_to_do(tmp_path: Path) -> None:
    report = apply_retention(tmp_path / "none", ROLLED, **LIMITS)
    assert report.deleted == []
    assert not (tmp_path / "none").exists()


def test_the_ledger_records_rollup_times_not_data_dates(rustock: Path) -> None:
    got = read_ledger(rustock)
    assert set(got["events"]) == {"2011-03-16", "2011-03-17", "2011-03-18"}
    assert set(got["events"].values()) == {ROLLED.isoformat(timespec="seconds")}
    assert all(date.fromisoformat(d).year == 2011 for d in got["sightings"])

"""A damaged file never blocks the dataset: an empty, truncated or garbled Parquet file is
named, moved to quarantine with its reason, and the rest is read; a `date=` entry that is a
symlink or not a day is refused with a message, never read or rolled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.model import EVENT_COLUMNS, SIGHTING_SCHEMA
from botcensus.store import events_table, iter_events, rollup, sighting_files, write_sightings
from botcensus.store.events import write_partitioned
from botcensus.store.read import connect, sightings_view
from botcensus.store.sketches import read_sketches, sketch_days

QUARANTINE = Path("quarantine") / "parquet"


def _event(t: datetime, ip: str) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    values.update(
        time_received=int(t.timestamp() * 1_000_000), source_ip=ip, source_port=1234,
        destination_ip="198.51.100.10", destination_port=80, listener="l", sensor="s1",
        header_names=[], body_length=0, body_truncated=False, status=404,
        malware_family="rustock",
    )  # fmt: skip
    return [values[c] for c in EVENT_COLUMNS]


def _t(day: int, hour: int = 1) -> datetime:
    return datetime(2011, 3, day, hour, tzinfo=UTC)


def _identity(table: pa.Table) -> pa.Table:
    return table


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _footer_only(path: Path) -> None:
    path.write_bytes(b"PAR1")


def _garbled_pages(path: Path) -> None:
    """Valid footer, data pages overwritten: only a full read notices."""
    data = bytearray(path.read_bytes())
    for i in range(8, len(data) // 2):
        data[i] = 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "empty": _empty,
    "truncated": _truncated,
    "magic only": _footer_only,
    "garbled pages": _garbled_pages,
}


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """Two event files on 2011-03-20 (seg1: 1.1.1.1, seg2: 2.2.2.2) and one on 03-21."""
    dataset = tmp_path / "data"
    write_partitioned(
        events_table([_event(_t(20), "1.1.1.1"), _event(_t(21), "1.1.1.1")]), dataset, "seg1"
    )
    write_partitioned(events_table([_event(_t(20, 5), "2.2.2.2")]), dataset, "seg2")
    return dataset


def _sightings(dataset: Path) -> list[tuple[date, str]]:
    rows = pa.concat_tables([pq.read_table(f) for f in sighting_files(dataset)]).to_pylist()
    return sorted((r["day"], r["source_ip"]) for r in rows)


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_rollup_quarantines_a_damaged_event_file_and_rolls_the_rest(
    events: Path, damage: Callable[[Path], None]
) -> None:
    bad = events / "events" / "date=2011-03-20" / "seg2.parquet"
    damage(bad)
    report = rollup(events, _identity)
    assert not bad.exists()
    moved = events / QUARANTINE / "events" / "date=2011-03-20" / "seg2.parquet"
    assert moved.exists()
    reason = moved.with_name("seg2.parquet.txt").read_text(encoding="utf-8")
    assert f"path: {bad}" in reason
    assert "reason: " in reason
    assert any(str(bad) in p and "quarantine" in p for p in report.problems)
    assert _sightings(events) == [(date(2011, 3, 20), "1.1.1.1"), (date(2011, 3, 21), "1.1.1.1")]


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_reading_events_quarantines_a_damaged_file_and_reads_the_rest(
    events: Path, damage: Callable[[Path], None]
) -> None:
    damage(events / "events" / "date=2011-03-20" / "seg2.parquet")
    rows = pa.Table.from_batches(list(iter_events(events))).to_pylist()
    assert [r["source_ip"] for r in rows] == ["1.1.1.1", "1.1.1.1"]
    assert (events / QUARANTINE / "events" / "date=2011-03-20" / "seg2.parquet").exists()


def test_a_file_damaged_after_its_day_was_rolled_up_does_not_shrink_the_sightings(
    events: Path,
) -> None:
    rollup(events, _identity)
    before = _sightings(events)
    _truncated(events / "events" / "date=2011-03-20" / "seg2.parquet")
    rollup(events, _identity)
    assert _sightings(events) == before


def test_new_events_of_a_day_whose_file_was_quarantined_are_added(events: Path) -> None:
    rollup(events, _identity)
    _truncated(events / "events" / "date=2011-03-20" / "seg2.parquet")
    rollup(events, _identity)
    write_partitioned(events_table([_event(_t(20, 9), "3.3.3.3")]), events, "seg3")
    report = rollup(events, _identity)
    assert report.days_rolled == ("2011-03-20",)
    assert [ip for d, ip in _sightings(events) if d == date(2011, 3, 20)] == [
        "1.1.1.1",
        "2.2.2.2",
        "3.3.3.3",
    ]


def test_a_damaged_sightings_file_is_quarantined_and_the_census_view_reads_the_rest(
    events: Path,
) -> None:
    rollup(events, _identity)
    _footer_only(events / "sightings" / "date=2011-03-21" / "sinkhole.parquet")
    con = connect()
    view = sightings_view(con, events)
    got = con.sql(f"SELECT day, source_ip FROM {view} ORDER BY ALL").fetchall()  # noqa: S608
    assert got == [(date(2011, 3, 20), "1.1.1.1"), (date(2011, 3, 20), "2.2.2.2")]
    assert (events / QUARANTINE / "sightings" / "date=2011-03-21" / "sinkhole.parquet").exists()


def test_rollup_rebuilds_sightings_that_were_quarantined(events: Path) -> None:
    rollup(events, _identity)
    before = _sightings(events)
    _footer_only(events / "sightings" / "date=2011-03-21" / "sinkhole.parquet")
    sightings_view(connect(), events)  # finds and quarantines it
    report = rollup(events, _identity)
    assert report.days_rolled == ("2011-03-21",)
    assert _sightings(events) == before


def test_a_damaged_sketch_file_is_quarantined_and_the_others_read(events: Path) -> None:
    from botcensus.store.sketch_build import sketch_sightings

    rollup(events, _identity)
    sketch_days(events, sketch_sightings)
    _truncated(events / "sketches" / "date=2011-03-21" / "local.parquet")
    table = read_sketches(events)
    assert table["day"].to_pylist() == [date(2011, 3, 20)]
    assert (events / QUARANTINE / "sketches" / "date=2011-03-21" / "local.parquet").exists()


def test_sketching_skips_a_damaged_sightings_file(events: Path) -> None:
    from botcensus.store.sketch_build import sketch_sightings

    rollup(events, _identity)
    _truncated(events / "sightings" / "date=2011-03-21" / "sinkhole.parquet")
    report = sketch_days(events, sketch_sightings)
    assert report.days_sketched == ("2011-03-20",)


# -- partitions that are not ours ----------------------------------------------------------
def _outside_day(tmp_path: Path) -> Path:
    """A directory outside the dataset holding a valid event file of 2011-03-22."""
    outside = tmp_path / "elsewhere"
    write_partitioned(events_table([_event(_t(22), "9.9.9.9")]), outside, "foreign")
    return outside / "events" / "date=2011-03-22"


def test_a_date_symlink_to_outside_the_dataset_is_refused_and_the_rest_rolled(
    events: Path, tmp_path: Path
) -> None:
    link = events / "events" / "date=2011-03-22"
    link.symlink_to(_outside_day(tmp_path), target_is_directory=True)
    report = rollup(events, _identity)
    assert report.days_rolled == ("2011-03-20", "2011-03-21")
    assert "9.9.9.9" not in [ip for _, ip in _sightings(events)]
    assert any(str(link) in p and "symlink" in p for p in report.problems)
    assert not (events / "sightings" / "date=2011-03-22").exists()


def test_a_dangling_date_symlink_is_refused(events: Path, tmp_path: Path) -> None:
    (events / "events" / "date=2011-03-22").symlink_to(tmp_path / "gone")
    report = rollup(events, _identity)
    assert report.days_rolled == ("2011-03-20", "2011-03-21")
    assert report.problems


def test_a_symlinked_event_file_is_refused(events: Path, tmp_path: Path) -> None:
    foreign = _outside_day(tmp_path) / "foreign.parquet"
    link = events / "events" / "date=2011-03-20" / "foreign.parquet"
    link.symlink_to(foreign)
    rows = pa.Table.from_batches(list(iter_events(events))).to_pylist()
    assert "9.9.9.9" not in [r["source_ip"] for r in rows]
    report = rollup(events, _identity)
    assert "9.9.9.9" not in [ip for _, ip in _sightings(events)]
    assert any(str(link) in p for p in report.problems)


def test_rollup_never_writes_through_a_symlinked_sightings_partition(
    events: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-sightings"
    outside.mkdir()
    (events / "sightings").mkdir()
    (events / "sightings" / "date=2011-03-21").symlink_to(outside, target_is_directory=True)
    report = rollup(events, _identity)
    assert list(outside.iterdir()) == []
    assert "2011-03-21" not in report.days_rolled
    assert any("date=2011-03-21" in p for p in report.problems)


@pytest.mark.parametrize("name", ["date=garbage", "date=2011-02-30", "date=2011-3-20", "date="])
def test_a_partition_that_is_not_a_day_is_reported_not_rolled(events: Path, name: str) -> None:
    write_partitioned(events_table([_event(_t(23), "8.8.8.8")]), events, "seg9")
    (events / "events" / "date=2011-03-23").rename(events / "events" / name)
    report = rollup(events, _identity)
    assert report.days_rolled == ("2011-03-20", "2011-03-21")
    assert not (events / "sightings" / name).exists()
    assert [p.parent.name for p in sighting_files(events)] == ["date=2011-03-20", "date=2011-03-21"]
    assert any(name in p and "not a day" in p for p in report.problems)


def test_written_sightings_of_an_unreadable_partition_are_left_out_of_the_view(
    tmp_path: Path,
) -> None:
    table = pa.Table.from_pylist(
        [{"day": date(2011, 3, 20), "source_ip": "1.1.1.1", "sensor": "s", "feed_name": "f",
          "first_seen": _t(20), "last_seen": _t(20), "hits": 1}],
        schema=SIGHTING_SCHEMA,
    )  # fmt: skip
    write_sightings(table, tmp_path, "part")
    (tmp_path / "sightings" / "date=garbage").mkdir()
    pq.write_table(table, tmp_path / "sightings" / "date=garbage" / "x.parquet")
    con = connect()
    view = sightings_view(con, tmp_path)
    assert con.sql(f"SELECT count(*) FROM {view}").fetchall() == [(1,)]  # noqa: S608


# -- valid Parquet files that do not belong --------------------------------------------------
def test_a_foreign_file_among_events_is_quarantined_and_the_rest_rolled(events: Path) -> None:
    rollup(events, _identity)
    foreign = events / "events" / "date=2011-03-20" / "foreign.parquet"
    pq.write_table(pa.table({"source_ip": ["6.6.6.6"], "x": [1]}), foreign)
    rows = pa.Table.from_batches(list(iter_events(events))).to_pylist()
    assert "6.6.6.6" not in [r["source_ip"] for r in rows]
    assert not foreign.exists()
    note = events / QUARANTINE / "events" / "date=2011-03-20" / "foreign.parquet.txt"
    assert "no column time_received" in note.read_text()


def test_an_events_file_without_times_is_quarantined_by_rollup(events: Path) -> None:
    foreign = events / "events" / "date=2011-03-20" / "no-times.parquet"
    pq.write_table(pa.table({"source_ip": ["6.6.6.6"], "sensor": ["s"]}), foreign)
    rollup(events, _identity)
    assert "6.6.6.6" not in [ip for _, ip in _sightings(events)]
    assert not foreign.exists()


def test_a_foreign_file_among_sightings_is_kept_out_of_the_census(events: Path) -> None:
    rollup(events, _identity)
    foreign = events / "sightings" / "date=2011-03-20" / "other.parquet"
    pq.write_table(pa.table({"source_ip": ["6.6.6.6"]}), foreign)
    con = connect()
    view = sightings_view(con, events)
    got = con.sql(f"SELECT source_ip FROM {view} WHERE day IS NULL").fetchall()  # noqa: S608
    assert got == []
    assert not foreign.exists()


def test_an_unreadable_sketch_manifest_means_sketching_again(events: Path) -> None:
    from botcensus.store.sketch_build import sketch_sightings

    rollup(events, _identity)
    sketch_days(events, sketch_sightings)
    (events / "sketches" / "_sketched.json").write_text("{not json")
    report = sketch_days(events, sketch_sightings)
    assert report.days_sketched == ("2011-03-20", "2011-03-21")


def test_an_unreadable_rollup_manifest_is_a_clear_error(events: Path) -> None:
    from botcensus.store.atomic import DatasetError

    rollup(events, _identity)
    (events / "sightings" / "_rolled.json").write_text("[truncated")
    with pytest.raises(DatasetError, match=r"_rolled\.json: roll-up manifest cannot be read"):
        rollup(events, _identity)


def test_a_damaged_file_that_cannot_be_quarantined_is_skipped(events: Path, tmp_path: Path) -> None:
    (events / "quarantine").mkdir()
    (events / "quarantine" / "parquet").symlink_to(tmp_path, target_is_directory=True)
    (events / "quarantine" / "parquet").unlink()
    (events / "quarantine" / "parquet").write_text("a file where a directory should be")
    bad = events / "events" / "date=2011-03-20" / "seg2.parquet"
    _truncated(bad)
    rows = pa.Table.from_batches(list(iter_events(events))).to_pylist()
    assert [r["source_ip"] for r in rows] == ["1.1.1.1", "1.1.1.1"]
    assert bad.exists()  # left in place, named in the warning

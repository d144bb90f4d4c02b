"""Rolling WAL segments into the day-partitioned Parquet dataset, and reading windows of it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from botcensus.capture import wal
from botcensus.model import EVENT_COLUMNS, EVENT_SCHEMA
from botcensus.store import (
    RollReport,
    clean_temporaries,
    event_files,
    events_table,
    iter_events,
    roll_segment,
)
from botcensus.store.events import write_atomic

T0 = datetime(2011, 3, 16, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
DAY_US = 86_400_000_000


def _rows(dataset) -> list[dict]:
    return pa.Table.from_batches(list(iter_events(dataset)), schema=EVENT_SCHEMA).to_pylist()


# -- the table -------------------------------------------------------------------------------
def test_events_table_has_the_event_schema(make_event):
    table = events_table([make_event(), make_event(path="/x")])
    assert table.schema == EVENT_SCHEMA
    assert table.num_rows == 2


def test_events_table_of_no_rows_is_empty_with_the_schema():
    table = events_table([])
    assert table.schema == EVENT_SCHEMA
    assert table.num_rows == 0


@pytest.mark.parametrize("column", ["time_received", "source_ip", "sensor"])
def test_a_null_where_the_schema_forbids_one_is_set_aside_naming_the_column(make_event, column):
    """Arrow takes a null into a non-nullable field silently; such a row would be stored
    with no time (no day to file it under) or no address."""
    from botcensus.store.events import convert_rows

    rows = [tuple(make_event()), tuple(make_event(**{column: None})), tuple(make_event())]
    with pytest.raises(pa.ArrowInvalid, match=column):
        events_table(rows)
    table, bad = convert_rows(rows)
    assert table.num_rows == 2
    assert [(i, column in why) for i, why in bad] == [(1, True)]


def test_events_table_converts_microseconds_to_utc_timestamps(make_event):
    table = events_table([make_event(time_received=T0_US + 1)])
    assert table["time_received"][0].as_py() == T0 + timedelta(microseconds=1)


# -- rolling ---------------------------------------------------------------------------------
def test_roll_writes_one_parquet_file_per_day(tmp_path, make_event, make_segment):
    segment = make_segment(
        tmp_path / "wal" / "w00-a-000001.wal",
        [[make_event(time_received=T0_US), make_event(time_received=T0_US + DAY_US + 5)]],
    )
    report = roll_segment(segment, tmp_path)
    assert report.events == 2
    assert sorted(p.relative_to(tmp_path).as_posix() for p in report.files) == [
        "events/date=2011-03-16/sensor-1.w00-a-000001.parquet",
        "events/date=2011-03-17/sensor-1.w00-a-000001.parquet",
    ]
    assert all(pq.read_table(p).num_rows == 1 for p in report.files)


def test_roll_removes_the_segment(tmp_path, make_event, make_segment):
    segment = make_segment(tmp_path / "wal" / "w00-a-000001.wal", [[make_event()]])
    roll_segment(segment, tmp_path)
    assert not segment.exists()


def test_rolled_file_keeps_every_value(tmp_path, make_event, make_segment, event_dict):
    event = make_event(
        proxy_peer_ip="127.0.0.1",
        query="a=1",
        header_names=["Host", "X-Y"],
        content_length=96,
        body_length=96,
        body_sha256=hashlib.sha256(b"x" * 96).digest(),
        body_head=b"x" * 96,
        malware_family="rustock",
        bot_id="b1",
        reject_reason=None,
    )
    segment = make_segment(tmp_path / "wal" / "w00-a-000001.wal", [[event]])
    [path] = roll_segment(segment, tmp_path).files
    [row] = pq.read_table(path).to_pylist()
    expected = event_dict(event)
    expected["time_received"] = T0
    assert row == expected


def test_rolled_file_is_sorted_by_time(tmp_path, make_event, make_segment):
    times = [T0_US + 30, T0_US + 10, T0_US + 20]
    segment = make_segment(
        tmp_path / "wal" / "w00-a-000001.wal", [[make_event(time_received=t) for t in times]]
    )
    [path] = roll_segment(segment, tmp_path).files
    got = pq.read_table(path)["time_received"].to_pylist()
    assert got == sorted(got)


def test_rolled_file_is_zstd_parquet_with_the_schema(tmp_path, make_event, make_segment):
    segment = make_segment(tmp_path / "wal" / "w00-a-000001.wal", [[make_event()]])
    [path] = roll_segment(segment, tmp_path).files
    meta = pq.ParquetFile(path)
    assert meta.schema_arrow == EVENT_SCHEMA
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"


def test_rolling_an_empty_segment_writes_no_file(tmp_path, make_segment):
    segment = make_segment(tmp_path / "wal" / "w00-a-000001.wal", [])
    report = roll_segment(segment, tmp_path)
    assert report == RollReport(segment, 0, (), 0, None)
    assert not (tmp_path / "events").exists()
    assert not segment.exists()


def test_rolling_the_same_segment_twice_gives_the_same_rows(tmp_path, make_event, make_segment):
    rows = [[make_event(source_port=p) for p in range(5)]]
    first = roll_segment(make_segment(tmp_path / "wal" / "w00-a-000001.wal", rows), tmp_path)
    # A crash between the rename and the unlink leaves the segment to be rolled again.
    second = roll_segment(make_segment(tmp_path / "wal" / "w00-a-000001.wal", rows), tmp_path)
    assert first.files == second.files
    assert len(_rows(tmp_path)) == 5


# -- torn tails ------------------------------------------------------------------------------
def _torn_segment(tmp_path, make_event, make_segment):
    good = [[make_event(path="/one")], [make_event(path="/two")]]
    torn = wal.encode_record([make_event(path="/torn")])[:-7]
    path = tmp_path / "wal" / "w00-a-000001.wal"
    return make_segment(path, good, tail=torn), torn


def test_torn_tail_is_dropped_and_complete_records_kept(tmp_path, make_event, make_segment):
    segment, torn = _torn_segment(tmp_path, make_event, make_segment)
    report = roll_segment(segment, tmp_path)
    assert report.events == 2
    assert report.dropped_bytes == len(torn)
    assert report.dropped_reason is not None
    assert report.dropped_reason.startswith("torn record")
    assert [r["path"] for r in _rows(tmp_path)] == ["/one", "/two"]


def test_torn_tail_is_quarantined_with_its_reason(tmp_path, make_event, make_segment):
    segment, torn = _torn_segment(tmp_path, make_event, make_segment)
    good_bytes = segment.stat().st_size - len(torn)
    report = roll_segment(segment, tmp_path)
    qdir = tmp_path / "quarantine" / "wal"
    assert (qdir / "w00-a-000001.tail").read_bytes() == torn
    note = (qdir / "w00-a-000001.tail.txt").read_text(encoding="utf-8")
    assert note == (
        f"segment: w00-a-000001.wal\noffset: {good_bytes}\n"
        f"bytes: {len(torn)}\nreason: {report.dropped_reason}\n"
    )
    assert not segment.exists()


def test_segment_with_a_bad_magic_is_quarantined_whole(tmp_path, make_segment):
    segment = tmp_path / "wal" / "w00-a-000001.wal"
    segment.parent.mkdir()
    segment.write_bytes(b"garbage that is not a segment")
    report = roll_segment(segment, tmp_path)
    assert (report.events, report.dropped_reason) == (0, "bad magic")
    quarantined = tmp_path / "quarantine" / "wal" / "w00-a-000001.tail"
    assert quarantined.read_bytes() == b"garbage that is not a segment"


def test_clean_segment_leaves_no_quarantine(tmp_path, make_event, make_segment):
    roll_segment(make_segment(tmp_path / "wal" / "w00-a-000001.wal", [[make_event()]]), tmp_path)
    assert not (tmp_path / "quarantine").exists()


# -- atomic files ----------------------------------------------------------------------------
def test_write_atomic_leaves_no_temporary_file(tmp_path, make_event):
    target = tmp_path / "events" / "date=2011-03-16" / "x.parquet"
    write_atomic(events_table([make_event()]), target)
    assert [p.name for p in target.parent.iterdir()] == ["x.parquet"]


def test_clean_temporaries_removes_only_temporaries(tmp_path, make_event):
    day = tmp_path / "events" / "date=2011-03-16"
    write_atomic(events_table([make_event()]), day / "kept.parquet")
    (day / ".half.parquet.tmp").write_bytes(b"PAR1 half written")
    assert clean_temporaries(tmp_path) == 1
    assert [p.name for p in day.iterdir()] == ["kept.parquet"]


def test_clean_temporaries_on_a_new_dataset_does_nothing(tmp_path):
    assert clean_temporaries(tmp_path) == 0


def test_readers_never_see_temporary_files(tmp_path, make_event):
    day = tmp_path / "events" / "date=2011-03-16"
    write_atomic(events_table([make_event()]), day / "kept.parquet")
    (day / ".half.parquet.tmp").write_bytes(b"not parquet")
    (day / ".hidden.parquet").write_bytes(b"not parquet")
    assert [p.name for p in event_files(tmp_path)] == ["kept.parquet"]
    assert len(_rows(tmp_path)) == 1


# -- reading windows -------------------------------------------------------------------------
@pytest.fixture
def three_days(tmp_path, make_event, make_segment):
    """Events at T0, T0 + 12 h, T0 + 1 day and T0 + 2 days, over two segments."""

    def at(us: int, path: str) -> list:
        return make_event(time_received=T0_US + us, path=path)

    first = [at(0, "/d0"), at(DAY_US // 2, "/d0.5")]
    second = [at(2 * DAY_US, "/d2"), at(DAY_US, "/d1")]
    roll_segment(make_segment(tmp_path / "wal" / "w00-a-000001.wal", [first]), tmp_path)
    roll_segment(make_segment(tmp_path / "wal" / "w01-a-000001.wal", [second]), tmp_path)
    return tmp_path


def test_iter_events_reads_everything_in_time_order(three_days):
    assert [r["path"] for r in _rows(three_days)] == ["/d0", "/d0.5", "/d1", "/d2"]


@pytest.mark.parametrize(
    ("since", "until", "paths"),
    [
        (T0 + timedelta(days=1), None, ["/d1", "/d2"]),
        (None, T0 + timedelta(days=1), ["/d0", "/d0.5"]),
        (T0 + timedelta(hours=12), T0 + timedelta(days=2), ["/d0.5", "/d1"]),
        (T0, T0, []),
        (T0 + timedelta(days=3), None, []),
    ],
)
def test_iter_events_window_is_half_open(three_days, since, until, paths):
    batches = iter_events(three_days, since=since, until=until)
    rows = pa.Table.from_batches(list(batches), schema=EVENT_SCHEMA).to_pylist()
    assert [r["path"] for r in rows] == paths


def test_iter_events_compares_instants_across_time_zones(three_days):
    since = datetime(2011, 3, 16, 13, tzinfo=timezone(timedelta(hours=1)))  # 12:00 UTC
    rows = pa.Table.from_batches(list(iter_events(three_days, since=since))).to_pylist()
    assert [r["path"] for r in rows] == ["/d0.5", "/d1", "/d2"]


def test_iter_events_yields_batches_of_the_schema(three_days):
    batches = list(iter_events(three_days, batch_rows=2))
    assert all(b.schema == EVENT_SCHEMA for b in batches)
    assert sum(b.num_rows for b in batches) == 4


def test_iter_events_of_an_empty_dataset_yields_nothing(tmp_path):
    assert list(iter_events(tmp_path)) == []


def test_event_files_are_the_visible_day_files(three_days):
    names = [p.relative_to(three_days).as_posix() for p in event_files(three_days)]
    assert names == [
        "events/date=2011-03-16/sensor-1.w00-a-000001.parquet",
        "events/date=2011-03-17/sensor-1.w01-a-000001.parquet",
        "events/date=2011-03-18/sensor-1.w01-a-000001.parquet",
    ]


def test_iter_events_columns_are_the_event_columns(three_days):
    [batch, *_] = iter_events(three_days)
    assert tuple(batch.schema.names) == EVENT_COLUMNS


# -- rows the roll cannot convert (issue 9, item 1) ------------------------------------------
def _quarantined_rows(dataset, stem: str) -> tuple[list, str]:
    import msgpack

    qdir = dataset / "quarantine" / "wal"
    rows = msgpack.unpackb((qdir / f"{stem}.rows").read_bytes(), raw=False)
    return rows, (qdir / f"{stem}.rows.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"content_length": 2**63}, "content_length"),
        ({"content_length": 2**64 - 1}, "content_length"),
        ({"time_received": 2**63 - 1}, "time_received"),
        ({"time_received": -(2**62)}, "time_received"),
        ({"source_port": "eighty"}, "source_port"),
        ({"status": 2**20}, "status"),
    ],
)
def test_roll_quarantines_a_row_it_cannot_convert_and_keeps_the_rest(
    tmp_path, make_event, make_segment, bad, why
):
    good = [make_event(path="/before"), make_event(path="/after")]
    rejected = make_event(path="/bad", **bad)
    segment = make_segment(tmp_path / "wal" / "w00-a-000001.wal", [[good[0]], [rejected, good[1]]])
    report = roll_segment(segment, tmp_path)
    assert [r["path"] for r in _rows(tmp_path)] == ["/before", "/after"]
    assert report.events == 2
    assert report.rows_quarantined == 1
    rows, note = _quarantined_rows(tmp_path, "w00-a-000001")
    assert rows == [rejected]
    assert "row 1 of 3" in note
    assert why in note
    assert not segment.exists()


def test_roll_quarantines_a_row_of_the_wrong_shape(tmp_path, make_event, make_segment):
    segment = make_segment(
        tmp_path / "wal" / "w00-a-000001.wal", [[make_event(path="/ok"), [1, 2, 3], "x"]]
    )
    report = roll_segment(segment, tmp_path)
    assert [r["path"] for r in _rows(tmp_path)] == ["/ok"]
    assert report.rows_quarantined == 2
    rows, note = _quarantined_rows(tmp_path, "w00-a-000001")
    assert rows == [[1, 2, 3], "x"]
    assert "values" in note


def test_roll_of_only_bad_rows_writes_no_event_file(tmp_path, make_event, make_segment):
    segment = make_segment(
        tmp_path / "wal" / "w00-a-000001.wal", [[make_event(content_length=2**63)]]
    )
    report = roll_segment(segment, tmp_path)
    assert (report.events, report.rows_quarantined, report.files) == (0, 1, ())
    assert not segment.exists()


# -- files holding addresses are private (issue 9, item 10) ----------------------------------
def _mode(path) -> int:
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def test_rolled_files_and_quarantine_are_private(tmp_path, make_event, make_segment):
    import os

    old = os.umask(0o022)  # the usual umask: left alone, files would be 0644
    try:
        dataset = tmp_path / "data"
        torn = wal.encode_record([make_event(path="/torn")])[:-3]
        segment = make_segment(
            dataset / "wal" / "w00-a-000001.wal",
            [[make_event(), make_event(content_length=2**63)]],
            tail=torn,
        )
        [parquet] = roll_segment(segment, dataset).files
    finally:
        os.umask(old)
    assert _mode(parquet) == 0o600
    for directory in (parquet.parent, dataset / "events"):
        assert _mode(directory) == 0o700, directory
    qdir = dataset / "quarantine" / "wal"
    assert {p.name: _mode(p) for p in qdir.iterdir()} == {
        "w00-a-000001.tail": 0o600,
        "w00-a-000001.tail.txt": 0o600,
        "w00-a-000001.rows": 0o600,
        "w00-a-000001.rows.txt": 0o600,
    }
    assert _mode(qdir) == _mode(qdir.parent) == 0o700


# -- sensors (issue 15) ----------------------------------------------------------------------
def test_rolled_files_are_named_after_the_sensor_of_the_segment_header(tmp_path, make_event):
    from botcensus.capture.wal import MAGIC, encode_record

    segment = tmp_path / "wal" / "w00-b-000001.wal"
    segment.parent.mkdir()
    header = {"format": 2, "sensor": "sink-b", "listeners": [], "body_head_bytes": 0}
    segment.write_bytes(MAGIC + encode_record(header) + encode_record([make_event()]))
    report = roll_segment(segment, tmp_path)
    assert [p.name for p in report.files] == ["sink-b.w00-b-000001.parquet"]


def test_two_sensors_with_the_same_segment_name_do_not_collide(tmp_path, make_event, make_segment):
    for sensor in ("sink-a", "sink-b"):
        segment = make_segment(
            tmp_path / sensor / "w00-a-000001.wal", [[make_event(sensor=sensor)]]
        )
        roll_segment(segment, tmp_path)
    assert sorted(p.name for p in event_files(tmp_path)) == [
        "sink-a.w00-a-000001.parquet",
        "sink-b.w00-a-000001.parquet",
    ]


def test_cleaning_temporaries_for_a_sensor_leaves_other_sensors_mid_write(tmp_path):
    day = tmp_path / "events" / "date=2011-03-16"
    day.mkdir(parents=True)
    names = [".sink-a.w00-a-1.parquet.tmp", ".sink-a.b.w00-a-1.parquet.tmp", ".w00-a-1.parquet.tmp"]
    for name in names:
        (day / name).write_bytes(b"PAR1")
    assert clean_temporaries(tmp_path, "sink-a") == 2
    assert [p.name for p in day.iterdir()] == [".sink-a.b.w00-a-1.parquet.tmp"]

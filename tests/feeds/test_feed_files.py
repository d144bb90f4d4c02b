"""Feed files on disk: a damaged feed-event file is quarantined and the rest exported and
ingested; feed partitions that are symlinks are not read; files holding addresses are 0600
in 0700 directories."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from feed_cases import CASES, fake_enrich

from botcensus.export import ExportQuery, export_events
from botcensus.feeds import ingest
from botcensus.store.feed_events import feed_files

SAMPLE = CASES / "2024-05-01-event4_sinkhole-sample.csv"
TRUNCATED = CASES / "2024-05-02-event4_sinkhole_http-truncated.csv"
ALL = ExportQuery(include_unclaimed=True)


def _intelmq(data: Path) -> list[dict[str, object]]:
    out = io.BytesIO()
    export_events(data, ALL, "intelmq", out, fake_enrich)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def two_days(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    report = ingest([SAMPLE, TRUNCATED], data, fake_enrich)
    assert report.exit_code == 1  # the truncated sample has quarantined lines
    return data


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def test_export_quarantines_a_damaged_feed_file_and_exports_the_rest(two_days: Path) -> None:
    day1 = [f for f in feed_files(two_days) if "2024-05-01" in str(f)]
    before = _intelmq(two_days)
    _cut(day1[0])
    after = _intelmq(two_days)
    assert after
    assert len(after) < len(before)
    assert all(not str(e["time.source"]).startswith("2024-05-01") for e in after)
    moved = two_days / "quarantine" / "parquet" / "feeds" / "date=2024-05-01" / day1[0].name
    assert moved.exists()
    assert "reason:" in moved.with_name(moved.name + ".txt").read_text()


def test_ingest_goes_on_when_a_stored_file_of_the_same_day_is_damaged(
    two_days: Path, tmp_path: Path
) -> None:
    for path in feed_files(two_days):
        path.write_bytes(b"")
    report = ingest([SAMPLE], two_days, fake_enrich)
    assert report.files[0].error is None
    assert report.files[0].duplicate == 0  # the damaged copies no longer count
    assert report.files[0].stored > 0
    moved = list((two_days / "quarantine" / "parquet" / "feeds").rglob("*.parquet"))
    assert [p.parent.name for p in moved] == ["date=2024-05-01"]  # the day it touched


def test_a_symlinked_feed_partition_is_not_read(two_days: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    ingest([SAMPLE], other, fake_enrich)
    (two_days / "feeds" / "date=2024-05-03").symlink_to(
        other / "feeds" / "date=2024-05-01", target_is_directory=True
    )
    assert all("2024-05-03" not in str(f) for f in feed_files(two_days))
    assert len(_intelmq(two_days)) == len(_intelmq(two_days))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_feed_events_sightings_and_quarantine_are_private(two_days: Path) -> None:
    files = [
        *feed_files(two_days),
        *(two_days / "sightings").rglob("*.parquet"),
        *(two_days / "quarantine" / "feeds").glob("*.jsonl"),
    ]
    assert len(files) >= 5
    assert {str(f): oct(_mode(f)) for f in files} == {str(f): "0o600" for f in files}
    folders = {f.parent for f in files} | {two_days / "feeds", two_days / "sightings"}
    folders |= {two_days / "quarantine", two_days / "feeds" / ".spill"}
    assert {str(d): oct(_mode(d)) for d in folders} == {str(d): "0o700" for d in folders}


def test_ingest_never_writes_through_a_symlinked_partition(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (data / "feeds").mkdir(parents=True)
    (data / "feeds" / "date=2024-05-01").symlink_to(outside, target_is_directory=True)
    report = ingest([SAMPLE, TRUNCATED], data, fake_enrich)
    assert list(outside.iterdir()) == []
    assert report.files[0].error is not None
    assert "date=2024-05-01" in report.files[0].error
    assert report.files[1].error is None  # the other day's file is stored
    assert report.files[1].stored > 0


def test_ingest_reports_sightings_it_cannot_write_and_leaves_them_pending(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (data / "sightings").mkdir(parents=True)
    (data / "sightings" / "date=2024-05-01").symlink_to(outside, target_is_directory=True)
    report = ingest([SAMPLE], data, fake_enrich)
    assert list(outside.iterdir()) == []
    assert report.exit_code == 2
    assert report.sightings_error is not None
    assert (data / "feeds" / "sightings-pending.json").exists()

"""Report rows dated outside the times botcensus stores (before 1970, from the year 2100 on,
or more than FEED_FUTURE_SKEW after the ingest began) are quarantined with the column, the
value and the allowed range, by every reader; the census and the other stages never see them.
The files are those of a CERT analyst's trial (tests/feeds/cases/hostile/README.md)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from feed_cases import CASES, fake_enrich, quarantined, sinkhole_row, stored_events, write_report

import botcensus.feeds.fused as feeds_fused
from botcensus.cli import main
from botcensus.feeds import FileReport, ingest
from botcensus.model import EARLIEST_TIME, FEED_FUTURE_SKEW, LATEST_TIME

HOSTILE = CASES / "hostile"
DATES = HOSTILE / "2025-03-05-event4_sinkhole-de-dates.csv"
Y9999 = HOSTILE / "2025-03-05-event4_sinkhole-de-y9999.csv"
Y0001 = HOSTILE / "2025-03-05-event4_sinkhole-de-y0001.csv"
NOW = datetime(2025, 3, 6, tzinfo=UTC)
"""The ingest's start in these tests: the day after the trial's reports."""
RANGE = "[1970-01-01T00:00:00+00:00, 2100-01-01T00:00:00+00:00), the times botcensus stores"
FUTURE = (
    "is later than 2025-03-08T00:00:00+00:00, 2 days after the ingest began "
    "(allowed: 1970-01-01T00:00:00+00:00 to 2025-03-08T00:00:00+00:00)"
)
# line -> reason of each row of DATES the ingest of NOW quarantines
DATES_REJECTED = {
    2: f'timestamp: "2099-12-31 23:59:59" {FUTURE}',
    4: f'timestamp: "1900-01-01 00:00:00" is outside {RANGE}',
    5: f'timestamp: "0001-01-01 00:00:00" is outside {RANGE}',
    6: f'timestamp: "9999-12-31 23:59:59" is outside {RANGE}',
    9: 'timestamp: "1741168800" is not a time',
    10: 'timestamp: "2025-02-30 10:00:00" is not a time',
    11: "timestamp: empty is not a time",
    12: f'timestamp: "2026-12-08 10:00:00" {FUTURE}',
}
DATES_STORED = {
    3: "1970-01-01T00:00:00+00:00",
    7: "2025-03-05T10:00:00+00:00",
    8: "2025-03-05T08:00:00+00:00",
}


def _zipped(tmp_path: Path, *paths: Path) -> Path:
    archive = tmp_path / "shadowserver.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in paths:
            z.write(path, path.name)
    return archive


def _ingest(paths: list[Path], data: Path, now: datetime = NOW) -> list[FileReport]:
    return ingest(paths, data, fake_enrich, now=now).files


@pytest.mark.parametrize("reader", ["duckdb", "exact", "zip"])
def test_rows_outside_the_times_botcensus_stores_are_quarantined_by_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    """Before: years 1, 1900, 2099 and 9999 were stored, and census --window week, cleanup,
    report, rollup and serve then failed with OverflowError: date value out of range."""
    source = DATES
    if reader == "exact":  # as an irregular file is read
        monkeypatch.setattr(feeds_fused, "line_feeds", lambda path: None)
    if reader == "zip":  # a zip member always goes to the exact reader
        source = _zipped(tmp_path, DATES)
    (report,) = _ingest([source], tmp_path / "data")
    assert report.reader == ("duckdb" if reader == "duckdb" else "exact")
    assert (report.error, report.read, report.stored, report.quarantined) == (None, 11, 3, 8)
    assert {q["line"]: q["reason"] for q in quarantined(report)} == DATES_REJECTED
    stored = {e["source_line"]: e["time_source"] for e in stored_events(tmp_path / "data")}
    assert stored == DATES_STORED


def test_the_bounds_are_those_of_the_model() -> None:
    assert RANGE.startswith(f"[{EARLIEST_TIME.isoformat()}, {LATEST_TIME.isoformat()})")
    assert timedelta(days=2) == FEED_FUTURE_SKEW


@pytest.mark.parametrize(
    ("timestamp", "kept"),
    [
        ("1969-12-31 23:59:59", False),
        ("1970-01-01 00:00:00", True),
        ("2025-03-08 00:00:00", True),  # the ingest's start + 2 days
        ("2025-03-08 00:00:01", False),
        ("2025-03-08 02:00:00+02:00", True),  # the same instant, another zone
        ("2099-12-31 23:59:59", False),
    ],
)
def test_the_range_edges(tmp_path: Path, timestamp: str, kept: bool) -> None:
    path = write_report(
        tmp_path / "2025-03-05-event4_sinkhole-x.csv", [sinkhole_row(0, timestamp=timestamp)]
    )
    (report,) = _ingest([path], tmp_path / "data")
    assert (report.stored, report.quarantined) == (int(kept), int(not kept))


def test_a_far_future_row_is_kept_once_its_day_has_come(tmp_path: Path) -> None:
    """The skew is counted from the ingest's start (injectable): a file ingested again later
    stores the row it quarantined as a future one."""
    path = write_report(
        tmp_path / "2025-03-05-event4_sinkhole-x.csv",
        [sinkhole_row(0, timestamp="2025-03-05 10:00:00"), sinkhole_row(1, timestamp="2025-04-01")],
    )
    (early,) = _ingest([path], tmp_path / "data")
    assert (early.stored, early.quarantined) == (1, 1)
    (late,) = _ingest([path], tmp_path / "data", now=datetime(2025, 3, 31, tzinfo=UTC))
    assert (late.stored, late.duplicate, late.quarantined) == (1, 1, 0)


@pytest.mark.parametrize("path", [Y9999, Y0001], ids=["9999", "0001"])
def test_ingesting_again_writes_the_same_quarantine_whatever_the_clock(
    tmp_path: Path, path: Path
) -> None:
    """A row outside the fixed range names no ingest time: the quarantine file is the same
    bytes at every ingest, and the good row a duplicate."""
    data = tmp_path / "data"
    (first,) = _ingest([path], data)
    assert first.quarantine_file is not None
    before = first.quarantine_file.read_bytes()
    (second,) = _ingest([path], data, now=NOW + timedelta(days=400))
    assert (second.stored, second.duplicate, second.quarantined) == (0, 1, 1)
    assert second.quarantine_file is not None
    assert second.quarantine_file.read_bytes() == before
    assert f"is outside {RANGE}" in quarantined(second)[0]["reason"]


def test_intelmq_events_out_of_range_are_quarantined(tmp_path: Path) -> None:
    event = {
        "feed.name": "Test-Feed", "feed.provider": "test", "source.ip": "79.192.1.2",
        "malware.name": "rustock", "classification.taxonomy": "malicious-code",
        "classification.type": "infected-system",
    }  # fmt: skip
    times = ["2025-03-05T10:00:00+00:00", "9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00Z"]
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(json.dumps({**event, "time.source": t}) + "\n" for t in times), encoding="utf-8"
    )
    (report,) = _ingest([path], tmp_path / "data")
    assert (report.stored, report.quarantined) == (1, 2)
    assert [q["line"] for q in quarantined(report)] == [2, 3]
    assert all("is outside [1970-01-01" in q["reason"] for q in quarantined(report))


def test_census_by_week_runs_after_the_trials_reports(tmp_path: Path) -> None:
    """The trial's commands after these reports: each failed with OverflowError before."""
    data = str(tmp_path / "data")
    runner = CliRunner()
    done = runner.invoke(main, ["ingest", "--data", data, str(Y9999), str(Y0001), str(DATES)])
    assert done.exit_code == 1, done.output  # rows quarantined
    for args in (["census", "--window", "week"], ["census", "--window", "week", "--estimate"]):
        done = runner.invoke(main, [*args, "--data", data])
        assert done.exit_code == 0, done.output
        assert "9999" not in done.stdout

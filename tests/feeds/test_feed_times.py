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
from botcensus.times import FEED_FUTURE_SKEW, TIME_RANGE_TEXT

HOSTILE = CASES / "hostile"
DATES = HOSTILE / "2025-03-05-event4_sinkhole-de-dates.csv"
Y9999 = HOSTILE / "2025-03-05-event4_sinkhole-de-y9999.csv"
Y0001 = HOSTILE / "2025-03-05-event4_sinkhole-de-y0001.csv"
NOW = datetime(2025, 3, 6, tzinfo=UTC)
"""The ingest's start in these tests: the day after the trial's reports."""
RANGE = "1970-01-01 to 2099-12-31, the times botcensus stores"
"""Spelled as the sinkhole and the roll-up spell the range (times.TIME_RANGE_TEXT)."""
FUTURE = "is later than 2025-03-08T00:00:00+00:00, 2 days after the ingest began"
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
    """Before: feeds said "[1970-01-01T00:00:00+00:00, 2100-01-01T00:00:00+00:00)" where the
    sinkhole and the roll-up say "1970-01-01 to 2099-12-31"."""
    assert RANGE.startswith(f"{TIME_RANGE_TEXT}, ")
    assert timedelta(days=2) == FEED_FUTURE_SKEW


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2099-12-31 23:59:59", None),  # within a day of the ingest: stored
        ("2100-01-01 00:00:00", f'timestamp: "2100-01-01 00:00:00" is outside {RANGE}'),
    ],
)
def test_an_ingest_whose_skew_reaches_past_the_range_has_the_range_as_its_only_bound(
    tmp_path: Path, timestamp: str, reason: str | None
) -> None:
    """The ingest's start + 2 days is past 2100-01-01: the fixed range bounds the times, and
    no row is called later than the allowed future."""
    path = write_report(
        tmp_path / "2099-12-30-event4_sinkhole-x.csv", [sinkhole_row(0, timestamp=timestamp)]
    )
    (report,) = _ingest([path], tmp_path / "data", now=datetime(2099, 12, 30, 12, tzinfo=UTC))
    assert report.error is None
    assert [q["reason"] for q in quarantined(report)] == ([reason] if reason else [])
    assert (report.stored, report.future) == (int(reason is None), None)


def test_a_naive_ingest_start_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    """Before: TypeError (can't compare offset-naive and offset-aware datetimes) from deep
    in the mapping, after the ingest had taken its lock."""
    path = write_report(
        tmp_path / "2025-03-05-event4_sinkhole-x.csv", [sinkhole_row(0, timestamp=NOW.isoformat())]
    )
    with pytest.raises(ValueError, match=r"with a time zone .* not the naive 2025-03-06T00:00:00"):
        ingest([path], tmp_path / "data", fake_enrich, now=NOW.replace(tzinfo=None))
    assert stored_events(tmp_path / "data") == []


def test_the_earliest_row_dated_ahead_is_noted(tmp_path: Path) -> None:
    """What `feeds collect` reads again the file for (test_feed_collect.py): rows out of the
    fixed range are never stored, so they are not noted."""
    (report,) = _ingest([DATES], tmp_path / "data")
    assert report.future == datetime(2026, 12, 8, 10, tzinfo=UTC)
    (y9999,) = _ingest([Y9999], tmp_path / "data")
    assert (y9999.quarantined, y9999.future) == (1, None)


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
    assert all(f"is outside {RANGE}" in q["reason"] for q in quarantined(report))


def test_census_by_week_runs_after_the_trials_reports(tmp_path: Path) -> None:
    """The trial's commands after these reports: each failed with OverflowError before. The
    ingest begins at NOW (from the clock, the 2026-12-08 row would be stored from December
    2026 on)."""
    report = ingest([Y9999, Y0001, DATES], tmp_path / "data", fake_enrich, now=NOW)
    assert report.exit_code == 1  # rows quarantined
    assert report.total("quarantined") == 8 + 1 + 1
    data = str(tmp_path / "data")
    runner = CliRunner()
    for args in (["census", "--window", "week"], ["census", "--window", "week", "--estimate"]):
        done = runner.invoke(main, [*args, "--data", data])
        assert done.exit_code == 0, done.output
        assert "9999" not in done.stdout


def test_census_flags_today_as_not_over(tmp_path: Path) -> None:
    """A CERT's cron ingests this morning's reports: `census --window day` shows today as
    partial, with no change against yesterday, not as a fall (the clock is the real one)."""
    today = datetime.now(UTC).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    rows = [
        sinkhole_row(n, timestamp=f"{(midnight - timedelta(days=d)):%Y-%m-%d} 00:00:{n:02d}")
        for d in (1, 0)
        for n in range(10 if d else 3)
    ]
    path = write_report(tmp_path / f"{today}-event4_sinkhole-de.csv", rows)
    report = ingest([path], tmp_path / "data", fake_enrich)
    assert report.total("stored") == 13
    done = CliRunner().invoke(
        main, ["census", "--window", "day", "--format", "json", "--data", str(tmp_path / "data")]
    )
    assert done.exit_code == 0, done.output
    if datetime.now(UTC).date() != today:  # midnight passed during the test
        pytest.skip("the UTC day changed during the test")
    got = {r["window_start"]: r for r in json.loads(done.stdout)}
    assert (got[str(today)]["unique_ip"], got[str(today)]["partial"]) == (3, True)
    assert got[str(today)]["unique_ip_change"] is None
    yesterday = got[str(today - timedelta(days=1))]
    assert (yesterday["unique_ip"], yesterday["partial"]) == (10, False)
    assert f"today ({today}, UTC) is not over" in done.stderr

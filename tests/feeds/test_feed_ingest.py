"""Ingest: idempotent by content, quarantine without loss, exit codes, sightings for the census."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from feed_cases import CASES, fake_enrich, quarantined, sinkhole_row, stored_events, write_report

import botcensus.feeds.read as feed_read
from botcensus.feeds import ingest
from botcensus.measure import CensusQuery, census
from botcensus.model import SIGHTING_SCHEMA, SINKHOLE_FEED_NAME
from botcensus.store import connect, sighting_files, sightings_view
from botcensus.store.feed_sightings import rebuild_days
from botcensus.store.layout import FEED_PART

SAMPLE = CASES / "2024-05-01-event4_sinkhole-sample.csv"


def _sightings(data: Path) -> list[dict[str, object]]:
    rows = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: (str(r["feed_name"]), str(r["source_ip"]), str(r["day"])))


def test_reingesting_a_file_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = ingest([SAMPLE], data, fake_enrich).files[0]
    files = sorted(p.name for p in (data / "feeds").rglob("*.parquet"))
    sightings = _sightings(data)
    again = ingest([SAMPLE], data, fake_enrich).files[0]
    assert (again.stored, again.duplicate) == (0, first.stored)
    assert sorted(p.name for p in (data / "feeds").rglob("*.parquet")) == files
    assert _sightings(data) == sightings


def test_a_row_two_daily_reports_both_carry_is_stored_once(tmp_path: Path) -> None:
    rows = [sinkhole_row(n) for n in range(4)]
    monday = write_report(tmp_path / "2024-05-01-event4_sinkhole-a.csv", rows[:3])
    tuesday = write_report(tmp_path / "2024-05-02-event4_sinkhole-b.csv", rows[1:])
    report = ingest([monday, tuesday], tmp_path / "data", fake_enrich)
    assert [f.stored for f in report.files] == [3, 1]
    assert [f.duplicate for f in report.files] == [0, 2]
    assert len(stored_events(tmp_path / "data")) == 4


def test_a_row_repeated_in_one_file_counts_once(tmp_path: Path) -> None:
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", [sinkhole_row(1)] * 3)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.read, report.stored, report.duplicate) == (3, 1, 2)


def test_an_appended_empty_column_changes_no_hash(tmp_path: Path) -> None:
    """A 2023 file (no machine_name column) and a 2024 file carrying the same row."""
    old = tmp_path / "2023-12-01-event4_sinkhole_http-old.csv"
    new = tmp_path / "2023-12-01-event4_sinkhole_http-new.csv"
    write_report(new, [sinkhole_row(1, http_host="cnc.example")])
    lines = new.read_text(encoding="utf-8").splitlines()
    old.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n", encoding="utf-8")
    report = ingest([old, new], tmp_path / "data", fake_enrich)
    assert [(f.stored, f.duplicate) for f in report.files] == [(1, 0), (0, 1)]


def test_quarantine_loses_no_good_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_read, "BLOCK_SIZE", 4096)  # many batches: lines across batches
    bad = {7, 150, 151, 299, 300}
    rows = [sinkhole_row(n, src_ip="0.0.0.0" if n in bad else None) for n in range(301)]
    rows = [
        {**r, "src_ip": r["src_ip"] or f"5.14.{n // 250}.{n % 250 + 1}"} for n, r in enumerate(rows)
    ]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-big.csv", rows)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    lines = sorted(e["source_line"] for e in stored_events(tmp_path / "data"))
    assert lines == [n + 2 for n in range(301) if n not in bad]
    assert sorted(q["line"] for q in quarantined(report)) == sorted(n + 2 for n in bad)
    assert (report.read, report.stored, report.quarantined) == (301, 296, 5)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("2021-03-04-event4_sinkhole_http-older-columns.csv", 0),
        ("2024-05-01-event4_sinkhole-sample.csv", 1),
        ("2024-05-01-event4_sinkhole-missing-column.csv", 2),
    ],
)
def test_exit_code(name: str, code: int, tmp_path: Path) -> None:
    assert ingest([CASES / name], tmp_path / "data", fake_enrich).exit_code == code


def test_a_file_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "2024-05-01-event4_sinkhole-gone.csv"
    report = ingest([missing, SAMPLE], tmp_path / "data", fake_enrich)
    assert report.exit_code == 2
    assert report.files[0].error is not None
    assert str(missing) in report.files[0].error
    assert report.files[1].stored == 4  # the other file still goes in


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_an_empty_file_is_an_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "2024-05-01-event4_sinkhole-empty.csv"
    path.write_bytes(content)
    error = ingest([path], tmp_path / "data", fake_enrich).files[0].error
    assert error is not None
    assert "empty file" in error


def test_a_file_name_without_report_type_needs_feed(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(SAMPLE.read_bytes())
    assert "--feed" in str(ingest([path], tmp_path / "a", fake_enrich).files[0].error)
    report = ingest([path], tmp_path / "b", fake_enrich, feed="event4_sinkhole").files[0]
    assert (report.report_type, report.stored) == ("event4_sinkhole", 4)


def test_an_older_mapping_can_be_chosen(tmp_path: Path) -> None:
    path = CASES / "2021-03-04-event4_sinkhole_http-older-columns.csv"
    ingest([path], tmp_path / "data", fake_enrich, mapping="shadowserver-2023-12-17")
    first = stored_events(tmp_path / "data")[0]
    assert first["malware_name"] == "andromeda"
    assert first["classification_identifier"] == "avalanche-andromeda"


def test_feed_geo_is_kept_beside_ours_and_disagreement_counted(tmp_path: Path) -> None:
    path = CASES / "2021-03-04-event4_sinkhole_http-older-columns.csv"
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.cc_disagreements, report.asn_disagreements) == (1, 1)
    first = stored_events(tmp_path / "data", volatile=True)[0]
    assert (first["reported_cc"], first["source_cc"]) == ("PH", "IN")


def test_events_without_a_source_are_stored_but_make_no_sighting(tmp_path: Path) -> None:
    path = CASES / "2024-05-01-event4_sinkhole_http_referer-sample.csv"
    report = ingest([path], tmp_path / "data", fake_enrich)
    assert (report.files[0].stored, report.files[0].without_source) == (1, 1)
    assert report.sightings == 0


def test_feed_sightings_have_the_sighting_schema(tmp_path: Path) -> None:
    ingest([SAMPLE], tmp_path / "data", fake_enrich)
    files = sighting_files(tmp_path / "data")
    assert [f.name for f in files] == [f"{FEED_PART}.parquet"]
    table = pq.read_table(files[0])
    assert table.schema.equals(SIGHTING_SCHEMA, check_metadata=False)
    assert set(table["sensor"].to_pylist()) == {"shadowserver"}
    assert set(table["feed_name"].to_pylist()) == {"Sinkhole-Events IPv4"}


def test_one_ipv6_host_written_two_ways_is_one_sighting(tmp_path: Path) -> None:
    ingest([CASES / "2024-05-01-event6_sinkhole-sample.csv"], tmp_path / "data", fake_enrich)
    (sighting,) = _sightings(tmp_path / "data")
    assert (sighting["source_ip"], sighting["hits"]) == ("2a02:8109:9d80:1a00::1", 2)


def _census(data: Path, feed: str | None = None) -> list[tuple[date, int, int]]:
    con = connect()
    query = CensusQuery(window="day", feed=feed)
    table = census(con, query, sightings_view(con, data))
    return [(r["window_start"], r["unique_ip"], r["hits"]) for r in table.to_pylist()]


def test_census_counts_feed_sightings_alone_and_with_sinkhole_data(sinkhole_data: Path) -> None:
    assert _census(sinkhole_data) == [(date(2024, 5, 1), 2, 3)]
    ingest([SAMPLE], sinkhole_data, fake_enrich)
    day = date(2024, 5, 1)
    assert _census(sinkhole_data, "Sinkhole-Events IPv4") == [(day, 3, 4)]
    assert _census(sinkhole_data, SINKHOLE_FEED_NAME) == [(day, 2, 3)]
    # together: 5.14.3.4 and 49.145.5.6 are in both, 200.44.7.8 only in the report
    assert _census(sinkhole_data) == [(day, 3, 7)]


def test_progress_is_reported_in_bytes(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    ingest(
        [SAMPLE],
        tmp_path / "data",
        fake_enrich,
        on_progress=lambda path, done, total: seen.append((done, total)),
    )
    assert seen
    assert seen[-1][0] == seen[-1][1] == SAMPLE.stat().st_size


def test_one_event_the_feed_looked_up_differently_is_stored_once(tmp_path: Path) -> None:
    """Geo, AS, host name, sector and severity are the feed's lookups, not the event."""
    first = write_report(tmp_path / "2024-05-01-event4_sinkhole-a.csv", [sinkhole_row(1)])
    again = sinkhole_row(1, src_asn=9050, src_geo="MD", src_city="CHISINAU", severity="high")
    second = write_report(tmp_path / "2024-05-02-event4_sinkhole-b.csv", [again])
    report = ingest([first, second], tmp_path / "data", fake_enrich)
    assert [(f.stored, f.duplicate) for f in report.files] == [(1, 0), (0, 1)]


def test_sightings_added_run_by_run_equal_a_rebuild(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = [sinkhole_row(n % 5, timestamp=f"2024-05-01 0{n % 3}:00:{n:02d}") for n in range(40)]
    for i in range(3):
        path = write_report(tmp_path / f"2024-05-01-event4_sinkhole-{i}.csv", rows[i * 10 :][:20])
        ingest([path], data, fake_enrich)
    added = _sightings(data)
    assert rebuild_days(data, ["2024-05-01"]) == len(added)
    assert _sightings(data) == added
    assert sum(int(str(s["hits"])) for s in added) == 40


def test_sightings_left_behind_by_a_crash_are_rebuilt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([SAMPLE], data, fake_enrich)
    expected = _sightings(data)
    for f in sighting_files(data):  # as if the process died before writing sightings
        f.unlink()
    (data / "feeds" / "sightings-pending.json").write_text('["2024-05-01"]', encoding="utf-8")
    report = ingest([SAMPLE], data, fake_enrich)
    assert report.files[0].stored == 0
    assert _sightings(data) == expected
    assert not (data / "feeds" / "sightings-pending.json").exists()

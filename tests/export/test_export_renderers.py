"""The export stage's renderers: each format read back by the tool its recipients use
(IntelMQ's own Shadowserver parser and harmonisation, the `xarf` library), the formula rule
on every CSV cell, and the same bytes every time."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from botcensus.export import (
    HOST_SCHEMA,
    RENDERERS,
    Party,
    ReportMeta,
    XarfError,
    renderer,
)
from botcensus.export.cells import original
from botcensus.export.shadowserver import COLUMNS, EXTRA
from botcensus.export.xarf import check, xarf_report
from feeds.intelmq_oracle import harmonization_errors, parse, schema_from_mappings

ROOT = Path(__file__).resolve().parents[2]
META = ReportMeta(
    ticket="BC-20110318-000042",
    generated=datetime(2011, 3, 18, 6, 0, tzinfo=UTC),
    period_start=date(2011, 3, 17),
    period_end=date(2011, 3, 17),
    reporter=Party("Example Sinkhole", "reports@sinkhole.example.org", "sinkhole.example.org"),
    tlp="amber",
)


def _t(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2011, 3, 17, hour, minute, second, micro, tzinfo=UTC)


def host_table(rows: list[dict[str, Any]]) -> pa.Table:
    base = {
        "day": date(2011, 3, 17), "malware_family": "rustock", "source_as_name": None,
        "feed_name": "botcensus-sinkhole", "network": "asn AS64496", "source_asn": 64496,
        "source_cc": "DE",
    }  # fmt: skip
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=HOST_SCHEMA)


HOSTS = host_table(
    [
        {"source_ip": "192.0.2.10", "first_seen": _t(0, 0, 5, 250_000),
         "last_seen": _t(23, 55, 1), "hits": 288},
        {"source_ip": "2001:db8::7", "first_seen": _t(9, 30), "last_seen": _t(9, 45), "hits": 4,
         "source_asn": None, "source_cc": None},
        {"source_ip": "198.51.100.3", "first_seen": _t(12), "last_seen": _t(12), "hits": 1,
         "malware_family": "=HYPERLINK(\"http://x/\")", "source_as_name": "+cmd|' /C calc'!A0",
         "feed_name": "shadowserver-event4_sinkhole_http"},
    ]
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_rendering_twice_gives_the_same_bytes(name: str) -> None:
    assert renderer(name).render(HOSTS, META) == renderer(name).render(HOSTS.take([2, 0, 1]), META)


def test_an_unknown_format_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="format 'pdf': choose from shadowserver"):
        renderer("pdf")


@pytest.mark.parametrize("report", sorted(COLUMNS))
def test_shadowserver_columns_are_those_of_the_bundled_schema(report: str) -> None:
    mapping = ROOT / "src/botcensus/feeds/mappings/shadowserver-2024-09-24.json"
    columns = json.loads(mapping.read_text(encoding="utf-8"))["reports"][report]["columns"]
    assert list(COLUMNS[report]) == columns


def _csv_rows(name: str) -> list[dict[str, str]]:
    text = renderer(name).render(HOSTS, META).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_shadowserver_csv_has_one_row_per_host_and_day_with_first_last_and_count() -> None:
    rows = _csv_rows("shadowserver")
    assert [r["src_ip"] for r in rows] == ["192.0.2.10", "198.51.100.3", "2001:db8::7"]
    first = rows[0]
    assert (first["timestamp"], first["last_seen"], first["count"]) == (
        "2011-03-17 00:00:05", "2011-03-17 23:55:01", "288",
    )  # fmt: skip
    assert (first["src_asn"], first["src_geo"], first["infection"]) == ("64496", "DE", "rustock")
    assert first["application"] == "http"
    assert first["protocol"] == "tcp"
    assert rows[2]["src_asn"] == ""
    assert rows[2]["src_geo"] == ""


def test_rows_come_in_numeric_address_order_and_say_critical_as_shadowserver_does() -> None:
    texts = ["10.0.0.10", "2001:db8::10", "10.0.0.9", "2001:db8::9", "9.255.255.255"]
    hosts = host_table(
        [{"source_ip": ip, "first_seen": _t(1), "last_seen": _t(2), "hits": 2} for ip in texts]
    )
    for name in ("shadowserver", "shadowserver-sinkhole"):
        rows = list(csv.DictReader(io.StringIO(renderer(name).render(hosts, META).decode())))
        assert [r["src_ip"] for r in rows] == [
            "9.255.255.255", "10.0.0.9", "10.0.0.10", "2001:db8::9", "2001:db8::10",
        ]  # fmt: skip
        assert {r["severity"] for r in rows} == {"critical"}


def test_shadowserver_csv_cells_never_open_as_formulas() -> None:
    for name in ("shadowserver", "shadowserver-sinkhole", "summary"):
        for row in _csv_rows(name):
            for value in row.values():
                assert value[:1] not in ("=", "+", "-", "@"), (name, value)
    rows = _csv_rows("shadowserver")
    assert original(rows[1]["infection"]) == '=hyperlink("http://x/")'


def test_the_sinkhole_variant_has_event4_sinkhole_columns() -> None:
    text = renderer("shadowserver-sinkhole").render(HOSTS, META).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert header == [*COLUMNS["event4_sinkhole"], *EXTRA]


def test_file_names_carry_the_report_type_intelmq_detects() -> None:
    assert renderer("shadowserver").file_name(META) == (
        "2011-03-17-event4_sinkhole_http-BC-20110318-000042.csv"
    )


def test_summary_names_no_address() -> None:
    data = renderer("summary").render(HOSTS, META).decode()
    for ip in ("192.0.2.10", "2001:db8::7", "198.51.100.3"):
        assert ip not in data
    rows = list(csv.DictReader(io.StringIO(data)))
    assert sum(int(r["hosts"]) for r in rows) == 3
    assert sum(int(r["check_ins"]) for r in rows) == 293


# -- the tools recipients use -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["shadowserver", "shadowserver-sinkhole"])
def test_intelmqs_shadowserver_parser_reads_the_csv(name: str, tmp_path: Path) -> None:
    export = renderer(name)
    sample = tmp_path / export.file_name(META)
    sample.write_bytes(export.render(HOSTS, META))
    schema = schema_from_mappings(tmp_path / "schema.json")
    events = parse(schema, [(sample, export.report)])[str(sample)]
    by_ip = {e["source.ip"]: e for e in events}
    assert sorted(by_ip) == ["192.0.2.10", "198.51.100.3", "2001:db8::7"]
    first = by_ip["192.0.2.10"]
    assert first["time.source"] == "2011-03-17T00:00:05+00:00"
    assert first["malware.name"] == "rustock"
    assert first["source.asn"] == 64496
    assert first["source.geolocation.cc"] == "DE"
    assert first["classification.type"] == "infected-system"
    assert (first["extra.last_seen"], first["extra.count"]) == ("2011-03-17 23:55:01", "288")
    assert "source.asn" not in by_ip["2001:db8::7"]


@pytest.mark.parametrize("tlp", ["amber", "amber+strict", "clear"])
def test_intelmq_harmonisation_accepts_every_event(tlp: str) -> None:
    meta = ReportMeta(**{**{f: getattr(META, f) for f in META.__slots__}, "tlp": tlp})
    lines = renderer("intelmq").render(HOSTS, meta).decode()
    assert harmonization_errors(lines) == []
    first = json.loads(lines.splitlines()[0])
    assert first["extra.count"] == 288
    assert first["source.ip"] == "192.0.2.10"


def test_every_xarf_line_is_a_valid_botnet_report_for_the_xarf_library() -> None:
    import xarf

    lines = renderer("xarf").render(HOSTS, META).decode().splitlines()
    assert len(lines) == 3
    for line in lines:
        parsed = xarf.parse(line)
        assert (parsed.errors, parsed.warnings) == ([], [])
        assert isinstance(parsed.report, xarf.BotnetReport)
    first = json.loads(lines[0])
    assert first["source_identifier"] == "192.0.2.10"
    assert first["tags"] == ["malware:rustock", "tlp:amber"]
    assert "288 check-ins" in first["compromise_evidence"]
    assert len({json.loads(line)["report_id"] for line in lines}) == 3


def test_a_report_the_schema_rejects_is_not_written() -> None:
    report = xarf_report(HOSTS.to_pylist()[0], META)
    report["source_port"] = 0  # outside 1-65535
    with pytest.raises(XarfError, match="source_port"):
        check(report)


def test_a_host_day_a_feed_relayed_is_the_feeds_evidence_not_the_sinkholes() -> None:
    """The third host was reported by a Shadowserver feed, not seen by our sinkhole: its
    XARF report must not say `evidence_source: sinkhole` or "a sinkholed server" (before:
    it did, and the mail beside it said we did not see those connections)."""
    relayed = xarf_report(HOSTS.to_pylist()[2], META)
    assert relayed["evidence_source"] == "threat_intelligence"
    assert "sinkholed" not in relayed["compromise_evidence"]
    assert "1 check-in with a" in relayed["compromise_evidence"]
    assert "reported by the feed shadowserver-event4_sinkhole_http" in relayed["description"]
    assert "c2_protocol" not in relayed
    check(relayed)
    ours = xarf_report(HOSTS.to_pylist()[0], META)
    assert (ours["evidence_source"], ours["c2_protocol"]) == ("sinkhole", "http")
    assert "288 check-ins with a sinkholed rustock" in ours["compromise_evidence"]

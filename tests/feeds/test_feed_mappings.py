"""Mapping files: bundled, dated, following Shadowserver's published report schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feed_cases import CURRENT, LEGACY

from botcensus.feeds import (
    DEFAULT_MAPPING,
    MappingError,
    bundled_mappings,
    load_mapping,
    report_type_from_name,
)

# report_schema reports.json, "event4_sinkhole_http": "fields" (2024-09-24).
EVENT4_SINKHOLE_HTTP = [
    "timestamp",
    "protocol",
    "src_ip",
    "src_port",
    "src_asn",
    "src_geo",
    "src_region",
    "src_city",
    "src_hostname",
    "src_naics",
    "src_sector",
    "device_vendor",
    "device_type",
    "device_model",
    "severity",
    "dst_ip",
    "dst_port",
    "dst_asn",
    "dst_geo",
    "dst_region",
    "dst_city",
    "dst_hostname",
    "dst_naics",
    "dst_sector",
    "public_source",
    "infection",
    "family",
    "tag",
    "application",
    "version",
    "event_id",
    "http_url",
    "http_host",
    "http_agent",
    "forwarded_by",
    "ssl_cipher",
    "http_referer",
    "ssl_servername",
    "machine_name",
]


def _rule(report_type: str, key: str, mapping: str = DEFAULT_MAPPING) -> tuple[str, str | None]:
    rules = [r for r in load_mapping(mapping).report(report_type).rules if r.key == key]
    assert rules, f"{mapping}:{report_type} has no rule for {key}"
    return rules[0].column, rules[0].convert


def test_the_current_mapping_is_the_default() -> None:
    assert load_mapping().name == DEFAULT_MAPPING == "shadowserver-2024-09-24"


@pytest.mark.parametrize("name", sorted(bundled_mappings()))
def test_every_bundled_mapping_says_what_it_follows(name: str) -> None:
    mapping = bundled_mappings()[name]
    assert mapping.follows
    assert mapping.schema_date is None or len(mapping.schema_date) == 10


@pytest.mark.parametrize("report_type", CURRENT + LEGACY)
def test_the_default_mapping_covers_every_report_type(report_type: str) -> None:
    report = load_mapping().report(report_type)
    assert report.columns[0] == "timestamp"
    assert report.feed_name


def test_event4_sinkhole_http_columns_are_the_published_ones() -> None:
    assert list(load_mapping().report("event4_sinkhole_http").columns) == EVENT4_SINKHOLE_HTTP


@pytest.mark.parametrize("report_type", CURRENT)
def test_current_reports_take_malware_name_from_infection(report_type: str) -> None:
    assert _rule(report_type, "malware.name")[0] == "infection"


@pytest.mark.parametrize("report_type", [t for t in CURRENT if t != "event4_sinkhole_dns"])
def test_before_2024_malware_name_came_from_family(report_type: str) -> None:
    assert _rule(report_type, "malware.name", "shadowserver-2023-12-17")[0] == "family"


@pytest.mark.parametrize(
    ("report_type", "column"),
    [
        ("botnet_drone", "infection"),
        ("sinkhole_http_drone", "type"),
        ("microsoft_sinkhole", "type"),
        ("sinkhole6_http", "tag"),
    ],
)
def test_legacy_reports_name_the_malware_in_their_own_column(report_type: str, column: str) -> None:
    assert _rule(report_type, "malware.name", "shadowserver-legacy")[0] == column


@pytest.mark.parametrize(
    ("key", "column", "function"),
    [
        ("time.source", "timestamp", "add_UTC_to_timestamp"),
        ("source.ip", "src_ip", "validate_ip"),
        ("source.asn", "src_asn", "invalidate_zero"),
        ("destination.ip", "dst_ip", "validate_ip"),
    ],
)
def test_conventions_are_in_the_mapping(key: str, column: str, function: str) -> None:
    assert _rule("event4_sinkhole", key) == (column, function)


@pytest.mark.parametrize(
    ("file_name", "report_type"),
    [
        ("2015-01-01-dns_openresolver-sample-asn.csv", "dns_openresolver"),
        ("2020-04-03-scan_ics-sample-asn-delayed.csv", "scan_ics"),
        ("2024-07-04-dns_openresolver-123-sample-asn.csv", "dns_openresolver"),
        ("2024-05-01-event4_sinkhole_http-example-asn.csv", "event4_sinkhole_http"),
        ("event6_sinkhole.csv", "event6_sinkhole"),
        ("report.txt", None),
    ],
)
def test_report_type_comes_from_the_file_name(file_name: str, report_type: str | None) -> None:
    assert report_type_from_name(file_name) == report_type


def _write(tmp_path: Path, body: dict[str, object]) -> Path:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_a_user_mapping_file_describes_one_feed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "name": "mine",
            "format": "jsonl",
            "feed_name": "Mine",
            "required_fields": [["time.source", "ts", "convert_date"]],
        },
    )
    mapping = load_mapping(path)
    assert mapping.format == "jsonl"
    assert mapping.report("mine").feed_name == "Mine"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "required_fields": [["time.source", "ts", "no_such_function"]]},
        {"name": "x", "required_fields": [["time.source"]]},
        {"name": "x", "format": "xml"},
        {"name": "x", "delimiter": ";;"},
        {"name": "x", "constant_fields": {"classification.type": 1}},
    ],
)
def test_malformed_mapping_files_are_refused(tmp_path: Path, body: dict[str, object]) -> None:
    with pytest.raises(MappingError):
        load_mapping(_write(tmp_path, body))


def test_a_mapping_file_can_include_a_bundled_one(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "site", "includes": [DEFAULT_MAPPING], "reports": {}})
    assert "event4_sinkhole" in load_mapping(path).reports


def test_an_unknown_mapping_names_the_bundled_ones(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=DEFAULT_MAPPING):
        load_mapping(tmp_path / "nope.json")

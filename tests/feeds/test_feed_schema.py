"""`botcensus feeds schema update FILE`: Shadowserver's published schema file (the JSON
IntelMQ's parser downloads) becomes the dataset's mapping, so a new report type or a mapping
change works without a release; the bundled snapshot is the default until then.

The schema files here are written in Shadowserver's format from the bundled snapshot (which
was taken from Shadowserver's intelmq.json of 2024-09-24), with the changes a later schema
brings: Shadowserver's change of 2025-04-01 (referer reports: the referring host is
source.ip) and a report type the snapshot lacks. IntelMQ's own test schema (shipped in the
intelmq package) is read as it is.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from feed_cases import fake_enrich, stored_events
from intelmq_oracle import parse

from botcensus.cli import main
from botcensus.feeds import ingest
from botcensus.feeds.mapping import DEFAULT_MAPPING, _bundled_bodies
from botcensus.feeds.schema import active

REAL = Path(__file__).parent / "cases" / "intelmq"
REFERER = REAL / "event4_sinkhole_http_referer.csv"
# The infected-host report types of Shadowserver's schema of 2024-09-24 (classification.type
# infected-system), as published in its intelmq.json.
INFECTED_2024_09_24 = {
    "event4_microsoft_sinkhole",
    "event4_microsoft_sinkhole_http",
    "event4_sinkhole",
    "event4_sinkhole_http",
    "event4_sinkhole_http_referer",
    "event6_sinkhole",
    "event6_sinkhole_http",
    "event6_sinkhole_http_referer",
}


def _schema(date: str) -> dict[str, Any]:
    """Shadowserver's format: _meta, then entries keyed by name with file_name."""
    body = _bundled_bodies()[DEFAULT_MAPPING]["reports"]
    schema: dict[str, Any] = {"_meta": {"date_created": f"{date}T00:00:00Z", "change_log": []}}
    for report_type, entry in body.items():
        schema[report_type.replace("event4_", "event_")] = {
            **{k: v for k, v in entry.items() if k != "columns"},
            "file_name": report_type,
        }
    schema["scan_http"] = {
        "constant_fields": {
            "classification.identifier": "accessible-http",
            "classification.taxonomy": "vulnerable",
            "classification.type": "vulnerable-system",
        },
        "feed_name": "Accessible-HTTP",
        "file_name": "scan_http",
        "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"]],
        "optional_fields": [["extra.", "tag", "extract_cve_from_tag"]],
    }
    return schema


def _later(schema: dict[str, Any]) -> dict[str, Any]:
    """The change of 2025-04-01 (referer reports name the referring host as the source) and a
    new infected-host report type."""
    later = copy.deepcopy(schema)
    later["_meta"] = {
        "date_created": "2025-04-01T09:00:00Z",
        "change_log": ["http_referer_* to source.* for sinkhole_http_referer reports."],
    }
    referer = later["event_sinkhole_http_referer"]
    moved = {
        "http_referer_ip": ("source.ip", "validate_ip"),
        "http_referer_port": ("source.port", "convert_int"),
        "http_referer_asn": ("source.asn", "invalidate_zero"),
        "http_referer_geo": ("source.geolocation.cc", None),
    }
    rules = []
    for rule in referer["optional_fields"]:
        if rule[1] in moved:
            target, conversion = moved[rule[1]]
            rules.append([target, rule[1], *([conversion] if conversion else [])])
        else:
            rules.append(rule)
    referer["optional_fields"] = rules
    new = copy.deepcopy(later["event_microsoft_sinkhole"])
    new["file_name"] = "event6_microsoft_sinkhole"
    new["feed_name"] = "Microsoft-Sinkhole-Events IPv6"
    later["event6_microsoft_sinkhole"] = new
    return later


def _write(path: Path, body: Any) -> Path:
    path.write_text(json.dumps(body, indent=3), encoding="utf-8")
    return path


def _update(data: Path, schema: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        main, ["feeds", "schema", "update", "--data", str(data), str(schema), *extra]
    )


def test_the_bundled_snapshot_knows_every_infected_host_report_of_its_schema() -> None:
    reports = active(None).reports
    infected = {t for t, r in reports.items() if r.infected and r.feed_name and "event" in t}
    assert infected == INFECTED_2024_09_24


def test_without_an_update_the_bundled_snapshot_is_used(tmp_path: Path) -> None:
    shown = CliRunner().invoke(main, ["feeds", "schema", "show", "--data", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith(f"{DEFAULT_MAPPING} (schema date 2024-09-24, bundled snapshot)")


def test_a_new_report_type_is_read_after_the_update(tmp_path: Path) -> None:
    data = tmp_path / "data"
    report = tmp_path / "2025-05-01-event6_microsoft_sinkhole-x.csv"
    report.write_bytes((REAL / "event4_microsoft_sinkhole.csv").read_bytes())
    before = ingest([report], data, fake_enrich).files[0]
    assert before.skipped is not None
    assert "'event6_microsoft_sinkhole'" in before.skipped
    done = _update(data, _write(tmp_path / "intelmq.json", _later(_schema("2024-09-24"))))
    assert done.exit_code == 0, done.output
    assert "installed shadowserver-2025-04-01" in done.output
    assert "1 other report types not read" in done.output
    after = ingest([report], data, fake_enrich).files[0]
    assert (after.skipped, after.mapping, after.stored) == (None, "shadowserver-2025-04-01", 6)


def test_a_mapping_change_applies_after_the_update(tmp_path: Path) -> None:
    """Referer reports: before, the referring host is extra.http_referer_ip and makes no
    sighting; after Shadowserver's change it is the event's source."""
    data = tmp_path / "data"
    before = ingest([REFERER], data / "a", fake_enrich).files[0]
    assert before.without_source == 5
    assert (
        _update(data / "b", _write(tmp_path / "s.json", _later(_schema("2024-09-24")))).exit_code
        == 0
    )
    after = ingest([REFERER], data / "b", fake_enrich)
    assert after.files[0].without_source == 0
    assert after.sightings == 5
    ips = sorted(e["source_ip"] for e in stored_events(data / "b"))
    assert "178.162.203.211" in ips


def test_intelmqs_parser_reads_the_same_schema_file_as_we_do(tmp_path: Path) -> None:
    schema = _write(tmp_path / "s.json", _later(_schema("2024-09-24")))
    (theirs,) = parse(schema, [(REFERER, "event4_sinkhole_http_referer")]).values()
    assert _update(tmp_path / "data", schema).exit_code == 0
    ingest([REFERER], tmp_path / "data", fake_enrich)
    ours = sorted(e["source_ip"] for e in stored_events(tmp_path / "data"))
    assert ours == sorted(e["source.ip"] for e in theirs)


def test_intelmqs_own_test_schema_has_no_infected_reports_and_changes_nothing(
    tmp_path: Path,
) -> None:
    spec = importlib.util.find_spec("intelmq")
    assert spec is not None
    assert spec.origin is not None
    shipped = Path(spec.origin).parent / "bots" / "parsers" / "shadowserver" / "schema.json.test"
    done = _update(tmp_path / "data", shipped)
    assert done.exit_code == 1
    assert "no infected-host report types in this schema" in done.output
    assert "test_smb" in done.output
    assert active(tmp_path / "data").name == DEFAULT_MAPPING


def test_an_older_schema_is_refused_unless_allowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        _update(data, _write(tmp_path / "new.json", _later(_schema("2024-09-24")))).exit_code == 0
    )
    older = _write(tmp_path / "old.json", _schema("2024-09-24"))
    refused = _update(data, older)
    assert refused.exit_code == 1
    assert "older than the one in use" in refused.output
    assert active(data).name == "shadowserver-2025-04-01"
    assert _update(data, older, "--allow-older").exit_code == 0
    assert active(data).name == "shadowserver-2024-09-24"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", "cannot read it as JSON"),
        (["event_sinkhole"], "not a Shadowserver schema"),
        ({"_meta": {"date_created": "yesterday"}}, "is not a date"),
        (
            {"_meta": {"date_created": "2025-01-01T00:00:00Z"}, "x": {"feed_name": "X"}},
            "entry 'x' has no file_name",
        ),
        (
            {
                "_meta": {"date_created": "2025-01-01T00:00:00Z"},
                "x": {
                    "file_name": "event4_x",
                    "constant_fields": {"classification.type": "infected-system"},
                    "required_fields": "timestamp",
                },
            },
            "expected a list",
        ),
    ],
)
def test_a_bad_schema_file_is_named_and_the_installed_one_kept(
    body: Any, words: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert (
        _update(data, _write(tmp_path / "good.json", _later(_schema("2024-09-24")))).exit_code == 0
    )
    bad = tmp_path / "bad.json"
    bad.write_text(body if isinstance(body, str) else json.dumps(body), encoding="utf-8")
    done = _update(data, bad)
    assert done.exit_code == 1
    assert str(bad) in done.output
    assert words in done.output
    assert active(data).name == "shadowserver-2025-04-01"


def test_an_unknown_conversion_keeps_the_cell_as_text_and_says_so(tmp_path: Path) -> None:
    schema = _schema("2025-01-01")
    schema["event_sinkhole"]["optional_fields"].append(["extra.", "tag", "new_function"])
    done = _update(tmp_path / "data", _write(tmp_path / "s.json", schema))
    assert done.exit_code == 0, done.output
    assert "conversion 'new_function' unknown to botcensus; tag as text" in done.stderr

"""Real-format sample reports in, exact events and quarantine entries out.

tests/feeds/cases/ holds one sample per Shadowserver report type (written from the published
column lists; some rows modelled on IntelMQ's Shadowserver test data) plus awkward ones: quoted
commas, empty cells, IPv6, ASN 0, 0.0.0.0, a missing required column, truncated last lines,
Latin-1 and a UTF-8 BOM; generic CSV and JSON lines with mapping files; IntelMQ events.
Each `<file>.expected.json` lists the stored events and the quarantined lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feed_cases import CURRENT, LEGACY, case_files, expected_path, quarantined, run_case

from botcensus.feeds import report_type_from_name

CASES = case_files()


def _expected(path: Path) -> dict[str, object]:
    return dict(json.loads(expected_path(path).read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case_gives_exactly_the_expected_events(path: Path, tmp_path: Path) -> None:
    _, events = run_case(path, tmp_path / "data")
    assert events == _expected(path)["events"]


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case_quarantines_exactly_the_expected_lines(path: Path, tmp_path: Path) -> None:
    report, _ = run_case(path, tmp_path / "data")
    got = [{"line": q["line"], "reason": q["reason"]} for q in quarantined(report)]
    assert got == _expected(path)["quarantine"]


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case_counts_add_up(path: Path, tmp_path: Path) -> None:
    report, _ = run_case(path, tmp_path / "data")
    expected = _expected(path)
    assert (report.read, report.stored) == (expected["read"], expected["stored"])
    assert report.read == report.stored + report.duplicate + report.quarantined


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_case_fails_only_where_expected(path: Path, tmp_path: Path) -> None:
    report, _ = run_case(path, tmp_path / "data")
    error = _expected(path)["error"]
    if error is None:
        assert report.error is None
    else:
        assert report.error is not None
        assert str(path) in report.error
        assert str(error) in report.error


def test_every_report_type_has_a_sample() -> None:
    covered = {report_type_from_name(p.name) for p in CASES}
    assert set(CURRENT + LEGACY) <= covered


@pytest.mark.parametrize("path", [p for p in CASES if p.suffix == ".csv"], ids=lambda p: p.name)
def test_quarantined_rows_keep_their_content(path: Path, tmp_path: Path) -> None:
    report, _ = run_case(path, tmp_path / "data")
    for entry in quarantined(report):
        assert entry["file"] == str(path)
        assert entry.get("row") or entry.get("text")

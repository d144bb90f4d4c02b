"""The ingest and export command bodies (cli.py wraps them in click commands)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from feed_cases import CASES

from botcensus.cli.feeds_run import run_export, run_ingest
from botcensus.config import Settings
from botcensus.export import ExportQuery

SAMPLE = CASES / "2024-05-01-event4_sinkhole-sample.csv"


def test_ingest_prints_a_summary_and_returns_its_exit_code(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_ingest([SAMPLE], tmp_path / "data", settings=Settings(), out=out, err=err)
    assert code == 1
    first, total = out.getvalue().splitlines()
    assert "5 rows read, 4 stored, 0 duplicate, 1 quarantined" in first
    assert "rejected rows in" in first
    assert total.startswith("total: 5 rows read")
    assert err.getvalue() == ""


def test_ingest_names_a_file_it_cannot_read_on_stderr(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    missing = tmp_path / "2024-05-01-event4_sinkhole-none.csv"
    code = run_ingest([missing], tmp_path / "data", settings=Settings(), out=out, err=err)
    assert code == 2
    assert err.getvalue().startswith(f"error: {missing}")


def test_export_writes_events_and_counts_them_on_stderr(tmp_path: Path) -> None:
    run_ingest([SAMPLE], tmp_path / "data", settings=Settings(), out=io.StringIO())
    out, err = io.BytesIO(), io.StringIO()
    code = run_export(
        tmp_path / "data", "intelmq", ExportQuery(), settings=Settings(), out=out, err=err
    )
    assert code == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(events) == 4
    assert err.getvalue() == "4 events exported\n"

"""The day a command runs in (UTC) is not over: `report` says so, and counts it as no day
with data, as `census` does (the census's own tests: tests/measure/test_census_coverage.py;
the dashboard's: tests/web/test_partial_windows.py). The data are the simulated campaign's
sightings moved so that their last day is today, from the real clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.store import write_sightings
from measure.sim_cases import notify_static


def ending_today(tmp_path: Path) -> tuple[Path, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    sightings = notify_static().sightings
    last = max(sightings["day"].to_pylist())
    shift = pa.scalar(today - last)
    moved = sightings
    for name in ("first_seen", "last_seen"):
        moved = moved.set_column(
            moved.schema.get_field_index(name), name, pc.add(moved[name], shift)
        )
    days = pc.add(moved["day"].cast(pa.timestamp("s")), shift).cast(pa.date32())
    moved = moved.set_column(moved.schema.get_field_index("day"), "day", days)
    data = tmp_path / "data"
    write_sightings(moved, data, "simulated")
    return data, today


def same_day(today: dt.date) -> None:
    if dt.datetime.now(dt.UTC).date() != today:
        pytest.skip("the UTC day changed during the test")


def test_report_says_today_is_not_over(tmp_path: Path) -> None:
    data, today = ending_today(tmp_path)
    out = tmp_path / "report"
    done = CliRunner().invoke(
        main, ["report", "--data", str(data), "--out", str(out), "--no-cleanup"]
    )
    assert done.exit_code == 0, done.output
    same_day(today)
    assert f"note: today ({today}, UTC) is not over" in done.stderr
    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"Today ({today}, UTC) is not over" in page

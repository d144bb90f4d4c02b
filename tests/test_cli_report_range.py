"""`report --from/--to` and the clean-up's note on long runs of weeks without data: an
archive's old rows made the clean-up's day 0 years before the hosts of the inbox were seen
(a median time to clean-up of 5,071 days), and `report` had no way to leave them out."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.measure.cleanup.run import long_gaps
from botcensus.store import write_sightings
from measure.sim_cases import notify_static


def _with_an_old_year(tmp_path: Path) -> Path:
    """The simulated campaign's sightings (from 2011-03-16), and a few addresses a year
    earlier."""
    sightings = notify_static().sightings
    old = sightings.slice(0, 40)
    days = pc.subtract(old["day"].cast(pa.timestamp("s")), pa.scalar(dt.timedelta(days=365)))
    old = old.set_column(old.schema.get_field_index("day"), "day", days.cast(pa.date32()))
    data = tmp_path / "data"
    write_sightings(sightings, data, "simulated")
    write_sightings(old, data, "archive")
    return data


def test_long_runs_without_data_are_named_with_where_the_last_ends() -> None:
    weeks = [dt.date(2011, 1, 2) + dt.timedelta(weeks=w) for w in (0, 1, 10, 11, 30, 31, 32)]
    note = long_gaps(weeks, from_data=True)
    assert note is not None
    assert "2 run(s) of more than 4 weeks without data (the longest 18 weeks" in note
    assert "give --from 2011-07-31 to start after the last" in note
    assert long_gaps([*weeks[:2], dt.date(2011, 2, 6)], from_data=True) is None  # 3 weeks
    assert "--from" not in (long_gaps(weeks, from_data=False) or "--from")


def test_report_from_leaves_the_archive_out_of_census_and_clean_up(tmp_path: Path) -> None:
    data = _with_an_old_year(tmp_path)
    runner = CliRunner()
    whole = runner.invoke(main, ["report", "--data", str(data), "--out", str(tmp_path / "a")])
    assert whole.exit_code == 0, whole.output
    page = (tmp_path / "a" / "index.html").read_text(encoding="utf-8")
    assert "weeks without data (the longest" in page
    assert "give --from 2011-03-" in page
    assert "2010-03-" in page
    ranged = runner.invoke(
        main,
        ["report", "--data", str(data), "--out", str(tmp_path / "b"), "--from", "2011-03-01"],
    )
    assert ranged.exit_code == 0, ranged.output
    page = (tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert "weeks without data" not in page
    assert "2010-03-" not in page
    assert "since the range's first day (--from" in page
    backwards = runner.invoke(
        main,
        ["report", "--data", str(data), "--out", str(tmp_path / "c"),
         "--from", "2011-04-01", "--to", "2011-03-01"],
    )  # fmt: skip
    assert backwards.exit_code == 2
    assert "--from" in backwards.output

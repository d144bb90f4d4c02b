"""A damaged file as a user meets it: `events`, `rollup`, `census` and `export` name the
file, say where it went, and carry on; no traceback. Run as real processes (the warnings go
to standard error through the command's own logging set-up)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

T0_US = 1_300_233_600_000_000  # 2011-03-16T00:00:00Z
DAY_US = 86_400_000_000
BIN = Path(sys.executable).with_name("botcensus")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.fixture
def damaged(tmp_path: Path, make_event, make_segment) -> Path:
    """Two days of Rustock events in two segments; one file of 03-16 truncated, a date=
    symlink to /etc and a date=garbage directory beside them."""
    from botcensus.store import roll_segment

    data = tmp_path / "data"
    for n, day in enumerate((0, 1)):
        rows = [
            make_event(time_received=T0_US + day * DAY_US + i * 1000, source_ip=f"192.0.2.{i}",
                       malware_family="rustock")
            for i in range(1, 6)
        ]  # fmt: skip
        roll_segment(make_segment(data / "wal" / f"w00-a-00000{n}.wal", [rows]), data)
    extra = [
        make_event(time_received=T0_US + 5000, source_ip="192.0.2.99", malware_family="rustock")
    ]
    roll_segment(make_segment(data / "wal" / "w00-a-000009.wal", [extra]), data)
    (bad,) = (data / "events" / "date=2011-03-16").glob("*w00-a-000009.parquet")
    bad.write_bytes(bad.read_bytes()[:50])
    (data / "events" / "date=2011-03-20").symlink_to("/etc", target_is_directory=True)
    garbage = data / "events" / "date=garbage"
    garbage.mkdir()
    (garbage / "x.parquet").write_bytes(
        next((data / "events" / "date=2011-03-17").glob("*w00-a-000001.parquet")).read_bytes()
    )
    return data


@pytest.mark.parametrize(
    "args",
    [
        ["events"],
        ["events", "--format", "csv"],
        ["rollup"],
        ["census", "--window", "day"],
        ["export", "--format", "shadowserver"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_damaged_file_is_named_quarantined_and_the_rest_read(
    damaged: Path, args: list[str]
) -> None:
    (bad,) = (damaged / "events" / "date=2011-03-16").glob("*w00-a-000009.parquet")
    done = _run(*args, "--data", str(damaged))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{bad}: cannot be read" in done.stderr
    assert "moved to quarantine" in done.stderr
    assert not bad.exists()
    assert (damaged / "quarantine" / "parquet" / "events" / "date=2011-03-16" / bad.name).exists()
    assert "date=2011-03-20: a symlink (to /etc)" in done.stderr
    assert "date=garbage: not a day partition" in done.stderr
    assert not (damaged / "sightings" / "date=garbage").exists()


def test_census_counts_the_good_files(damaged: Path) -> None:
    done = _run("census", "--data", str(damaged), "--window", "day", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in done.stdout.splitlines()]
    header = rows[0]
    counts = {r[header.index("window_start")]: r[header.index("unique_ip")] for r in rows[1:]}
    assert counts == {"2011-03-16": "5", "2011-03-17": "5"}


def test_a_day_an_older_version_took_in_out_of_range_is_named_and_left_unread(
    tmp_path: Path,
) -> None:
    """A feed row dated 9999-12-31, taken in before the range check, made every weekly
    census, clean-up and roll-up stop with "date value out of range"."""
    import datetime as dt

    import pyarrow as pa

    from botcensus.model import SIGHTING_SCHEMA
    from botcensus.store import write_sightings

    data = tmp_path / "data"
    seen = dt.datetime(2011, 3, 16, tzinfo=dt.UTC)  # the times do not matter here
    base = {"bot_id": None, "malware_family": "rustock", "sensor": "s", "feed_name": "f",
            "first_seen": seen, "last_seen": seen, "hits": 1, "source_cc": "DE",
            "source_asn": 64496, "source_as_name": None, "geo_db": None}  # fmt: skip
    first = dt.date(2011, 3, 16)
    rows = [{**base, "day": first + dt.timedelta(days=d), "source_ip": f"192.0.2.{i}"}
            for d in range(21) for i in range(1, 4)]  # fmt: skip
    write_sightings(pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA), data, "feed")
    late = [{**base, "day": dt.date(9999, 12, 31), "source_ip": "192.0.2.9"}]
    write_sightings(pa.Table.from_pylist(late, schema=SIGHTING_SCHEMA), data, "feed")
    for args in (["census", "--window", "week"], ["cleanup"], ["rollup"]):
        done = _run(*args, "--data", str(data))
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert "date=9999-12-31: a day outside 1970-01-01 to 2099-12-31" in done.stderr
    assert (data / "sightings" / "date=9999-12-31").is_dir()  # named, not deleted

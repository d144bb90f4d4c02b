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

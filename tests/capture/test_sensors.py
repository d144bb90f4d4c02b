"""Several real sinkholes on loopback record into one shared dataset (issue 15).

Three `botcensus sinkhole serve` processes, each with its own sensor name and its own state
directory (write-ahead log, lock, run file), write events into one `--data` directory under
concurrent load; a fourth sensor's files arrive late, and then a second time. The census
(`botcensus rollup` and `botcensus census`, run as a user would) must count exactly what the
sinkholes answered: hits per sensor equal to its 404s, addresses per sensor equal to the
sources it was sent, the total the union over sensors.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from botcensus.capture import proxy
from botcensus.model import SCHEMA_KEY, SCHEMA_VERSION, SIGHTINGS_VERSION
from botcensus.simulate import traffic
from botcensus.simulate.drive import DriveResult, Shot, send
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import layout

pytestmark = pytest.mark.slow

FAST_ROLL = {
    "BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL": "0.05",
    "BOTCENSUS_SINKHOLE__RECORDER__SEGMENT_SECONDS": "0.2",
}
SENSORS = ("sink-a.example", "sink-b.example", "sink_c")
LATE = "sink-late"
SOURCES = 120
"""Distinct source addresses each sensor is sent (through PROXY v2 headers)."""
SHARED_SOURCES = 20
"""Of those, how many every sensor sees (the same bot reaching several sinkholes)."""


def _sources(index: int) -> list[str]:
    own = [f"10.{index}.{i // 250}.{i % 250 + 1}" for i in range(SOURCES - SHARED_SOURCES)]
    return [f"192.0.2.{i + 1}" for i in range(SHARED_SOURCES)] + own


def _shots(index: int) -> list[Shot]:
    """Rustock check-ins, one to three per source address, in a shuffled order."""
    rng = random.Random(index)
    shots = []
    for address in _sources(index):
        header = proxy.build_v2((address, 40000), ("198.51.100.7", 80))
        shots += [
            Shot(traffic.rustock_checkin(rng, "cnc.example"), header)
            for _ in range(rng.randint(1, 3))
        ]
    rng.shuffle(shots)
    return shots


def _sinkhole(root: Path, data: Path, sensor: str) -> SinkholeProcess:
    return SinkholeProcess(
        data,
        ["--listen", "127.0.0.1:0", "--proxy-protocol"],
        workers=1,
        env={**FAST_ROLL, "BOTCENSUS_SINKHOLE__SENSOR": sensor},
        state_dir=root / "state" / sensor,
    )


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "botcensus", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _census(data: Path, *by: str) -> list[dict[str, Any]]:
    args = ["census", "--data", str(data), "--window", "day", "--format", "json"]
    for group in by:
        args += ["--by", group]
    rows: list[dict[str, Any]] = json.loads(_cli(*args))
    return rows


def _by_sensor(data: Path) -> dict[str, tuple[int, int]]:
    """unique_ip and hits per sensor (the load runs within one UTC day, or two at midnight)."""
    found: dict[str, tuple[int, int]] = {}
    for row in _census(data, "sensor"):
        ips, hits = found.get(row["sensor"], (0, 0))
        found[row["sensor"]] = (ips + row["unique_ip"], hits + row["hits"])
    return found


def _total_hits(data: Path) -> int:
    return sum(row["hits"] for row in _census(data))


def _run_under_load(sinks: list[SinkholeProcess], answered: dict[str, DriveResult]) -> None:
    """Send every sensor its check-ins at the same time, from one thread each."""

    def drive(index: int, sink: SinkholeProcess, sensor: str) -> None:
        answered[sensor] = send("127.0.0.1", sink.port, _shots(index), concurrency=16)

    threads = [
        threading.Thread(target=drive, args=(i, sink, SENSORS[i])) for i, sink in enumerate(sinks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _arrive(source: Path, shared: Path, *, keep_times: bool) -> int:
    """Copy a dataset's event files into the shared one as a file transfer would: under a
    hidden temporary name, renamed into place. Returns the files copied."""
    copied = 0
    for path in sorted((source / layout.EVENTS).glob("date=*/*.parquet")):
        target = shared / layout.EVENTS / path.parent.name / path.name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        (shutil.copy2 if keep_times else shutil.copy)(path, tmp)
        tmp.replace(target)
        copied += 1
    return copied


def test_three_sinkholes_into_one_dataset_count_what_each_answered(tmp_path: Path) -> None:
    shared = tmp_path / "lake"
    sinks = [_sinkhole(tmp_path, shared, sensor).start() for sensor in SENSORS]
    answered: dict[str, DriveResult] = {}
    try:
        _run_under_load(sinks, answered)
    finally:
        codes = [sink.stop() for sink in sinks]
    assert codes == [0, 0, 0], [sink.log() for sink in sinks]
    for index, sensor in enumerate(SENSORS):
        result = answered[sensor]
        assert result.statuses == {404: len(_shots(index))}, (sensor, result)

    # Every event file names its sensor, and holds only that sensor's events.
    files = sorted((shared / layout.EVENTS).glob("date=*/*.parquet"))
    assert files
    for path in files:
        sensor = layout.sensor_of_part(path.name)
        assert sensor in SENSORS, path.name
        assert set(pq.read_table(path, columns=["sensor"])["sensor"].to_pylist()) == {sensor}
    assert {layout.sensor_of_part(p.name) for p in files} == set(SENSORS)
    assert not [p for p in shared.rglob("*") if p.name.endswith((".tmp", ".wal", ".open"))]

    _cli("rollup", "--data", str(shared))
    # The contract's versions (docs/scale.md): events and sketches 1, sightings 2.
    versions = {layout.EVENTS: 1, layout.SIGHTINGS: 2, layout.SKETCHES: 1}
    assert versions[layout.SIGHTINGS] == SIGHTINGS_VERSION
    assert versions[layout.EVENTS] == versions[layout.SKETCHES] == SCHEMA_VERSION
    for area, version in versions.items():
        paths = list((shared / area).glob("date=*/*.parquet"))
        assert paths, area
        for path in paths:
            stamp = pq.read_metadata(path).metadata[SCHEMA_KEY.encode()]
            assert stamp == f"{area}/{version}".encode(), path
    expected = {s: (SOURCES, answered[s].statuses[404]) for s in SENSORS}
    assert _by_sensor(shared) == expected
    union = SHARED_SOURCES + len(SENSORS) * (SOURCES - SHARED_SOURCES)
    total = _census(shared)
    assert sum(row["unique_ip"] for row in total) >= union  # one row per day touched
    assert sum(row["hits"] for row in total) == sum(h for _, h in expected.values())
    if len(total) == 1:  # the load did not straddle midnight UTC
        assert total[0]["unique_ip"] == union

    # A fourth sensor's files arrive after the roll-up (a remote site's transfer), then again.
    late = tmp_path / "late"
    with _sinkhole(tmp_path, late, LATE) as sink:
        late_result = send("127.0.0.1", sink.port, _shots(7), concurrency=16)
    assert late_result.statuses == {404: len(_shots(7))}
    assert _arrive(late, shared, keep_times=True) > 0
    _cli("rollup", "--data", str(shared))
    expected[LATE] = (SOURCES, late_result.statuses[404])
    assert _by_sensor(shared) == expected
    before = _census(shared)
    assert sum(row["hits"] for row in before) == sum(h for _, h in expected.values())

    time.sleep(0.01)  # a new modification time: the second copy is a change to the roll-up
    assert _arrive(late, shared, keep_times=False) > 0
    out = _cli("rollup", "--data", str(shared))
    assert "rolled up" in out
    assert _census(shared) == before
    assert _by_sensor(shared) == expected
    assert _cli("rollup", "--data", str(shared)).startswith("0 days rolled up")

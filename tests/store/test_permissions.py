"""Files holding addresses (or sketches of them) are readable by their owner only: 0600 files
in 0700 directories, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from botcensus.model import EVENT_COLUMNS
from botcensus.store import events_table, rollup
from botcensus.store.events import write_partitioned
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import sketch_days


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: without care, files come out 0644 and directories 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _event(ip: str) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    values.update(
        time_received=int(datetime(2011, 3, 16, 1, tzinfo=UTC).timestamp() * 1_000_000),
        source_ip=ip, source_port=1234, destination_ip="198.51.100.10", destination_port=80,
        listener="l", sensor="s1", header_names=[], body_length=0, body_truncated=False,
        status=404, malware_family="rustock",
    )  # fmt: skip
    return [values[c] for c in EVENT_COLUMNS]


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


@pytest.fixture
def rolled(tmp_path: Path) -> Path:
    write_partitioned(events_table([_event("10.0.0.1"), _event("10.0.0.2")]), tmp_path, "seg1")
    rollup(tmp_path, lambda t: t)
    sketch_days(tmp_path, sketch_sightings)
    return tmp_path


@pytest.mark.parametrize("area", ["sightings", "sketches"])
def test_area_files_are_0600_in_0700_directories(rolled: Path, area: str) -> None:
    files = list((rolled / area).glob("date=*/*.parquet"))
    assert files
    assert {_mode(f) for f in files} == {"0o600"}
    assert {_mode(f.parent) for f in files} | {_mode(rolled / area)} == {"0o700"}


def test_quarantined_files_are_0600_in_0700_directories(rolled: Path) -> None:
    from botcensus.store import iter_events

    bad = next((rolled / "events").glob("date=*/*.parquet"))
    bad.write_bytes(b"PAR1")
    os.chmod(bad, 0o644)
    list(iter_events(rolled))
    moved = list((rolled / "quarantine" / "parquet").rglob("*"))
    files = [p for p in moved if p.is_file()]
    assert len(files) == 2  # the file and its reason
    assert {_mode(p) for p in files} == {"0o600"}
    dirs = [p for p in moved if p.is_dir()] + [rolled / "quarantine" / "parquet"]
    assert {_mode(p) for p in dirs} == {"0o700"}


def test_an_older_temporary_file_with_open_bits_is_not_reused_open(rolled: Path) -> None:
    from botcensus.store.atomic import write_parquet as write_private

    target = rolled / "sightings" / "date=2011-03-16" / "x.parquet"
    stale = target.with_name(".x.parquet.tmp")
    stale.write_bytes(b"old")
    os.chmod(stale, 0o666)  # noqa: S103 (the stale file we must not inherit from)
    write_private(pa.table({"a": [1]}), target)
    assert _mode(target) == "0o600"


def test_retention_files_are_private(rolled: Path) -> None:
    from botcensus.store import apply_retention

    apply_retention(rolled, datetime(2040, 1, 1, tzinfo=UTC), event_days=1, sighting_days=1)
    assert _mode(rolled / "retention.json") == "0o600"
    assert _mode(rolled / "retention.log") == "0o600"

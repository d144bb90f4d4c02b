"""Feed fixtures: a dataset with the sample reports ingested, sinkhole events beside them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from feed_cases import CASES, fake_enrich

from botcensus.feeds import ingest
from botcensus.store import roll_segment, rollup

T0_US = 1_714_521_600_000_000
"""2024-05-01T00:00:00Z in microseconds, the day of most sample reports."""


@pytest.fixture(scope="session")
def enrich_step() -> Callable[[pa.Table], pa.Table]:
    return fake_enrich


@pytest.fixture
def sinkhole_data(
    tmp_path: Path, make_event: Callable[..., list[Any]], make_segment: Callable[..., Path]
) -> Path:
    """A dataset with four sinkhole events on 2024-05-01: three Rustock check-ins from two
    hosts and one unclaimed request; rolled up into sightings."""
    rows = [
        make_event(
            time_received=T0_US + 1_000_000,
            source_ip="5.14.3.4",
            bot_id="A1",
            malware_family="rustock",
            path="/login.php",
            query="id=1",
        ),
        make_event(
            time_received=T0_US + 2_000_000,
            source_ip="5.14.3.4",
            bot_id="A1",
            malware_family="rustock",
            path="/login.php",
        ),
        make_event(
            time_received=T0_US + 3_000_123,
            source_ip="49.145.5.6",
            bot_id="B2",
            malware_family="rustock",
            user_agent="Mozilla/4.0",
        ),
        make_event(time_received=T0_US + 4_000_000, source_ip="198.51.100.9"),
    ]
    data = tmp_path / "data"
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [rows]), data)
    rollup(data, fake_enrich)
    return data


@pytest.fixture
def feed_data(sinkhole_data: Path) -> Path:
    """The sinkhole dataset plus every Shadowserver sample report."""
    files = sorted(CASES.glob("20*.csv"))
    ingest(files, sinkhole_data, fake_enrich)
    return sinkhole_data

"""The supervisor's roll loop: a segment whose roll fails is kept and retried, never fatal."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from botcensus.capture import supervisor, wal
from botcensus.store import roll_segment


def _closed_segment(wal_dir: Path, make_event, make_segment, name: str = "w00-a-000001") -> Path:
    return make_segment(wal_dir / f"{name}{wal.CLOSED_SUFFIX}", [[make_event(path=f"/{name}")]])


def test_a_roll_that_raises_keeps_the_segment_and_counts_the_error(
    tmp_path, make_event, make_segment, caplog
):
    segment = _closed_segment(tmp_path / "wal", make_event, make_segment)
    state = supervisor._State()

    def broken(path: Path):
        raise OSError(28, "No space left on device")

    with caplog.at_level(logging.ERROR):
        supervisor.roll_pending(tmp_path / "wal", broken, state)
    assert segment.exists()
    assert (state.roll_errors, state.segments_rolled) == (1, 0)
    assert "roll failed" in caplog.text
    assert "retrying in 1 s" in caplog.text


def test_a_failed_segment_waits_for_its_retry_and_other_segments_still_roll(
    tmp_path, make_event, make_segment
):
    wal_dir = tmp_path / "wal"
    first = _closed_segment(wal_dir, make_event, make_segment, "w00-a-000001")
    second = _closed_segment(wal_dir, make_event, make_segment, "w00-a-000002")
    state = supervisor._State()
    calls: list[str] = []

    def flaky(path: Path):
        calls.append(path.name)
        if path == first and calls.count(path.name) == 1:
            raise OSError(30, "Read-only file system")
        return roll_segment(path, tmp_path)

    supervisor.roll_pending(wal_dir, flaky, state)
    assert not second.exists()
    assert first.exists()
    supervisor.roll_pending(wal_dir, flaky, state)  # too early: not retried yet
    assert calls.count(first.name) == 1
    failures, _ = state.retry[first.name]
    state.retry[first.name] = (failures, 0.0)  # its delay is over
    supervisor.roll_pending(wal_dir, flaky, state)
    assert not first.exists()
    assert state.retry == {}
    assert (state.segments_rolled, state.events_rolled, state.roll_errors) == (2, 2, 1)


@pytest.mark.parametrize("failures", [0, 1, 5, 20, 5000])
def test_retry_delay_grows_and_is_capped(tmp_path, make_event, make_segment, failures):
    _closed_segment(tmp_path / "wal", make_event, make_segment)
    state = supervisor._State()
    state.retry["w00-a-000001.wal"] = (failures, 0.0)

    def broken(path: Path):
        raise RuntimeError("a bug")

    before = time.monotonic()
    supervisor.roll_pending(tmp_path / "wal", broken, state)
    after = time.monotonic()
    count, next_try = state.retry["w00-a-000001.wal"]
    assert count == failures + 1
    capped = supervisor.ROLL_RETRY_MAX  # 5000: days of failures, past where 2.0**n overflows
    delay = {0: 1.0, 1: 2.0, 5: 32.0, 20: capped, 5000: capped}[failures]
    assert before + delay <= next_try <= after + delay

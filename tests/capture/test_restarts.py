"""When a worker that died is restarted (capture.restarts), and the supervisor's turn that
notices deaths and starts workers (supervisor._tend), without processes."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from botcensus.capture import supervisor
from botcensus.capture.restarts import (
    RESTART_DELAY_MAX,
    RESTART_STABLE_AFTER,
    RestartSchedule,
    restart_delay,
)


def _quick_deaths(schedule: RestartSchedule, count: int, now: float = 0.0) -> list[float]:
    """Worker 0 dies 0.1 s after each start, restarted when due: the delays it got."""
    delays = []
    for _ in range(count):
        now += 0.1
        delays.append(schedule.died(0, now))
        now += delays[-1]
        assert schedule.due(now) == [0]
        schedule.started(0, now)
    return delays


def test_a_worker_that_keeps_dying_waits_longer_and_longer_up_to_the_cap():
    delays = _quick_deaths(RestartSchedule(1, 0.0), 10)
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert RESTART_DELAY_MAX == 30.0


def test_a_good_run_starts_the_delay_over():
    schedule = RestartSchedule(1, 0.0)
    _quick_deaths(schedule, 5)
    schedule.started(0, 1000.0)
    assert schedule.died(0, 1000.0 + RESTART_STABLE_AFTER) == 0.0
    assert _quick_deaths(schedule, 2, 1000.0 + RESTART_STABLE_AFTER)[1] == 0.5


def test_a_run_just_short_of_a_good_one_keeps_backing_off():
    schedule = RestartSchedule(1, 0.0)
    _quick_deaths(schedule, 3)  # the next delay is 2 s
    schedule.started(0, 1000.0)
    assert schedule.died(0, 1000.0 + RESTART_STABLE_AFTER - 0.1) == 2.0


@pytest.mark.parametrize("deaths", [1024, 10**6])
def test_days_of_deaths_stay_at_the_cap(deaths):
    assert restart_delay(deaths) == RESTART_DELAY_MAX


def test_a_slot_waits_until_its_restart_is_due_and_the_others_are_untouched():
    schedule = RestartSchedule(3, 0.0)
    schedule.died(1, 1.0)
    schedule.started(1, 1.0)
    assert schedule.died(1, 2.0) == 0.5
    assert (schedule.down, schedule.waiting(1), schedule.waiting(0)) == (1, True, False)
    assert schedule.due(2.4) == []
    assert schedule.due(2.5) == [1]
    schedule.started(1, 2.5)
    assert (schedule.down, schedule.waiting(1)) == (0, False)


class _Proc:
    def __init__(self, alive: bool) -> None:
        self.alive, self.exitcode = alive, None if alive else 1

    def is_alive(self) -> bool:
        return self.alive


class _Pool:
    """Two worker slots; starting one fails `failing` times (no process to be had)."""

    def __init__(self, failing: int = 0) -> None:
        self.procs = [_Proc(alive=False), _Proc(alive=True)]
        self.failing = failing
        self.starts: list[int] = []

    def report(self, index: int) -> str | None:
        return "cannot start a write-ahead log segment in wal: No space left on device"

    def start(self, index: int) -> None:
        if self.failing:
            self.failing -= 1
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        self.procs[index] = _Proc(alive=True)
        self.starts.append(index)


def test_a_death_is_logged_once_with_its_next_attempt_and_restarted_when_due(tmp_path, caplog):
    pool, state = _Pool(), supervisor._State()
    schedule = RestartSchedule(2, 0.0)
    schedule.died(0, 0.0)  # its previous death: this one is the second in a row
    schedule.started(0, 0.0)
    with caplog.at_level(logging.ERROR):
        for now in (1.0, 1.2, 1.4):
            supervisor._tend(pool, schedule, tmp_path / "wal", state, now)
    assert pool.starts == []
    assert state.workers_down == 1
    [line] = caplog.messages
    assert line.startswith("worker 0 exited with 1 (cannot start a write-ahead log segment")
    assert "; closing its log segments and restarting it in 0.5 s (at " in line
    supervisor._tend(pool, schedule, tmp_path / "wal", state, 1.5)
    assert pool.starts == [0]
    assert (state.worker_restarts, state.workers_down) == (1, 0)


def test_a_worker_that_cannot_be_started_waits_like_one_that_died(tmp_path: Path, caplog):
    pool, state = _Pool(failing=2), supervisor._State()
    schedule = RestartSchedule(2, 0.0)
    wal_dir = tmp_path / "wal"
    with caplog.at_level(logging.ERROR):
        supervisor._tend(pool, schedule, wal_dir, state, 100.0)
        supervisor._tend(pool, schedule, wal_dir, state, 100.5)
        supervisor._tend(pool, schedule, wal_dir, state, 101.5)
    assert pool.starts == [0]
    assert state.worker_restarts == 1
    failed = "worker 0 could not be started (Resource temporarily unavailable); trying again"
    assert [m.split(" (at ")[0] for m in caplog.messages[1:]] == [
        f"{failed} in 0.5 s",
        f"{failed} in 1 s",
    ]


def test_no_worker_is_started_once_stopping(tmp_path):
    pool, state = _Pool(), supervisor._State(stop=True)
    supervisor._tend(pool, RestartSchedule(2, 0.0), tmp_path, state, 1.0)
    assert pool.starts == []

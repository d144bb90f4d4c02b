"""A worker that keeps dying, against a real `botcensus sinkhole serve` on loopback: its
restarts come later and later while the other worker serves and records, SIGTERM stops the
sinkhole at once during a wait, and a full disk costs a log line per growing delay, not five
a second."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from sinkhole_faults import FAST_ROLL, Ids, dataset_events, scrape, status, wait, worker_pids

from botcensus.simulate.sinkhole import SinkholeProcess

DOWN = "botcensus_sinkhole_workers_down"
RESTARTS = "botcensus_sinkhole_worker_restarts_total"


def _delays(log: str) -> list[str]:
    """When each worker death logged said the next start would be: 'now' or 'in N s'."""
    return re.findall(r"worker \d+ exited with .*restarting it (now|in [\d.]+ s)", log)


def _replacement(sink: SinkholeProcess, known: set[int], timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while not (new := set(worker_pids(sink)) - known):
        assert time.monotonic() < deadline, f"no worker restarted: {sink.log()}"
        time.sleep(0.005)
    [pid] = new
    return pid


def _kill_one_slot(sink: SinkholeProcess, kills: int) -> tuple[list[float], int]:
    """kill -9 one worker, then each of its replacements as soon as it appears (while it is
    still starting): `kills` kills in all. Returns the seconds from each kill to the next
    replacement's appearance, and the pid of the last replacement (alive)."""
    known = set(worker_pids(sink))
    victim = min(known)
    gaps = []
    for _ in range(kills):
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        victim = _replacement(sink, known)
        gaps.append(time.monotonic() - killed)
        known.add(victim)
    return gaps, victim


@contextlib.contextmanager
def _kept_full(disk) -> Iterator[None]:
    """The disk (a conftest.SmallDisk) full, and filled again every 20 ms: what the sinkhole
    frees (a segment rolled, a file removed) is taken again at once."""
    stop = threading.Event()

    def refill() -> None:
        while not stop.wait(0.02):
            disk.fill()

    filler = threading.Thread(target=refill)
    with disk.full():
        filler.start()
        try:
            yield
        finally:
            stop.set()
            filler.join()


def _start(sinkhole_proc, **kwargs) -> SinkholeProcess:
    sink = sinkhole_proc(
        "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", workers=2, env=FAST_ROLL, **kwargs
    )
    assert len(worker_pids(sink)) == 2
    return sink


@pytest.mark.slow
def test_a_worker_that_keeps_dying_is_restarted_later_and_later(sinkhole_proc):
    sink = _start(sinkhole_proc)
    gaps, _ = _kill_one_slot(sink, 4)
    # At once, then after 0.5, 1 and 2 s (plus the time to notice the death and to spawn).
    assert gaps[0] < 1.0, gaps
    for gap, delay in zip(gaps[1:], (0.5, 1.0, 2.0), strict=True):
        assert delay <= gap < delay + 3.0, gaps
    assert _delays(sink.log()) == ["now", "in 0.5 s", "in 1 s", "in 2 s"]
    assert sink.metrics is not None
    wait(lambda: scrape(sink.metrics)[RESTARTS] == 4)
    assert scrape(sink.metrics)[DOWN] == 0
    assert sink.stop() == 0


@pytest.mark.slow
def test_the_other_worker_serves_and_records_while_one_waits_to_restart(sinkhole_proc):
    sink = _start(sinkhole_proc)
    assert sink.metrics is not None
    with Ids(sink.port, "kept") as load:
        wait(lambda: len(load.answered()) > 20)
        _, last = _kill_one_slot(sink, 3)
        os.kill(last, signal.SIGKILL)  # its slot now waits 2 s
        wait(lambda: scrape(sink.metrics)[DOWN] == 1)
        during = len(load.answered())
        wait(lambda: len(load.answered()) > during + 50)
        assert scrape(sink.metrics)[DOWN] == 1  # still waiting (for 2 s) meanwhile
    assert sink.stop() == 0
    recorded = [str(e["path"]) for e in dataset_events(sink.data_dir)]
    assert len(recorded) == len(set(recorded))
    assert load.answered() <= set(recorded)
    assert "Traceback" not in sink.log()


@pytest.mark.slow
def test_sigterm_while_a_worker_waits_to_restart_stops_at_once(sinkhole_proc):
    sink = _start(sinkhole_proc)
    _, last = _kill_one_slot(sink, 4)
    os.kill(last, signal.SIGKILL)
    wait(lambda: "restarting it in 4 s" in sink.log())
    assert sink.metrics is not None
    before = scrape(sink.metrics)
    assert (before[DOWN], before[RESTARTS]) == (1, 4)
    started = time.monotonic()
    assert sink.stop(timeout=10) == 0
    assert time.monotonic() - started < 2.0
    assert len(_delays(sink.log())) == 5  # nothing started or died after the signal
    assert "stopped:" in sink.log()


@pytest.mark.slow
def test_a_worker_that_cannot_start_on_a_full_disk_is_retried_later_and_later(
    sinkhole_proc, small_disk
):
    sink = _start(sinkhole_proc, data_dir=small_disk.root / "data")
    assert sink.metrics is not None
    [first, _] = worker_pids(sink)
    with _kept_full(small_disk):
        os.kill(first, signal.SIGKILL)
        wait(lambda: len(_delays(sink.log())) >= 4)
        # The other worker answers meanwhile (503 once its segment has no room left).
        assert status(sink.port, "/full") in {404, 503}
        assert scrape(sink.metrics)[DOWN] == 1
    # Killed, then three starts that found no space for a log segment.
    assert _delays(sink.log())[:4] == ["now", "in 0.5 s", "in 1 s", "in 2 s"]
    assert sink.log().count("No space left on device);") >= 3
    wait(lambda: scrape(sink.metrics)[DOWN] == 0 and len(worker_pids(sink)) == 2)
    with Ids(sink.port, "after") as load:
        wait(lambda: len(load.answered()) > 20)
    assert sink.stop() == 0
    recorded = {str(e["path"]) for e in dataset_events(sink.data_dir)}
    assert load.answered() <= recorded

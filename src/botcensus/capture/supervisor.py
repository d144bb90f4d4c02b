"""The sinkhole supervisor: recovers the log, starts workers, rolls segments, serves metrics.

The supervisor holds an exclusive lock on the data directory for its lifetime, and every
worker a shared lock on its writers' lock file. On start, the supervisor waits until no
worker of a previous sinkhole holds that one (a supervisor killed with -9 leaves its workers
finishing what they answered), then recovers what a crash left (segments still marked open,
temporary files) before any worker of its own runs; while serving it restarts a worker that
died (at once after a good run, later and later while it keeps dying: capture.restarts) and
rolls every closed segment; on SIGTERM/SIGINT it stops the workers (which fsync what
they answered), then rolls the rest. A start that fails part-way (a worker that cannot start,
a metrics port in use, no space for the run file) is undone the same way, and the reason
raised as one StartError line.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Protocol

from prometheus_client.registry import CollectorRegistry

from botcensus.capture import metrics, wal, worker
from botcensus.capture.metrics_http import MetricsServer
from botcensus.capture.pool import WorkerPool
from botcensus.capture.restarts import RestartSchedule
from botcensus.capture.startup import StartError, describe, starting
from botcensus.config import LimitSettings, ListenerSettings, SinkholeSettings, split_address

log = logging.getLogger(__name__)

WAL_DIR = "wal"
RUN_FILE = "sinkhole.json"
WRITERS_LOCK = ".writers.lock"
"""Workers hold a shared lock on this file for as long as they may write to the log."""


class RollResult(Protocol):
    """What the roll callback reports (store.RollReport satisfies it)."""

    @property
    def events(self) -> int: ...
    @property
    def dropped_bytes(self) -> int: ...
    @property
    def dropped_reason(self) -> str | None: ...
    @property
    def rows_quarantined(self) -> int: ...


Roll = Callable[[Path], RollResult]


class DataDirBusyError(StartError):
    """Another sinkhole already records into this data directory."""


@dataclass
class _State:
    stop: bool = False
    events_rolled: int = 0
    segments_rolled: int = 0
    bytes_quarantined: int = 0
    rows_quarantined: int = 0
    worker_restarts: int = 0
    workers_down: int = 0
    """Worker slots whose worker died, waiting for its restart."""
    roll_errors: int = 0
    retry: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Segments whose roll failed: (failures so far, monotonic time of the next attempt)."""


def _lock(data_dir: Path) -> int:
    with starting(f"cannot lock {data_dir}"):
        if not data_dir.exists():
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            data_dir.mkdir(mode=0o700, exist_ok=True)  # holds source addresses: private
        fd = os.open(data_dir / ".sinkhole.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusyError(f"{data_dir}: another sinkhole is recording here") from None
    return fd


def _wait_for_writers(data_dir: Path, state: _State) -> None:
    """Block until no worker of an earlier sinkhole can write to the log any more."""
    with starting(f"cannot lock {data_dir / WRITERS_LOCK}"):
        fd = os.open(data_dir / WRITERS_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited % 10 == 0:
                    log.warning(
                        "waiting for the workers of a previous sinkhole to finish writing to "
                        "%s (%.0f s so far)", data_dir, waited,
                    )  # fmt: skip
                if state.stop:
                    raise DataDirBusyError(
                        f"{data_dir}: workers of a previous sinkhole still write here"
                    ) from None
                time.sleep(0.1)
                waited = round(waited + 0.1, 1)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _resolve(
    listeners: list[ListenerSettings], stack: contextlib.ExitStack
) -> list[worker.BoundListener]:
    """Reserve each address (port 0 gets a concrete port) with a non-listening socket, held
    until `stack` closes."""
    bound = []
    for lst in listeners:
        host, port = split_address(lst.address)
        host = "127.0.0.1" if host == "localhost" else host
        named = "" if lst.name == lst.address else f" (listener {lst.name})"
        with starting(f"cannot listen on {lst.address}{named}"):
            if port:
                _not_listened_on(host, port)
            sock = worker.bind_socket(host, port, listen=False)
        stack.callback(sock.close)
        bound.append(worker.BoundListener(lst, host, sock.getsockname()[1]))
    return bound


def _not_listened_on(host: str, port: int) -> None:
    """Raise OSError (address in use) where a socket already listens on host:port. The
    workers bind with SO_REUSEPORT, which lets any process of the same user bind the same
    port: a second sinkhole started there by mistake would silently get half of the first
    one's connections. A probe without SO_REUSEPORT (with SO_REUSEADDR, so connections of
    an earlier run left in TIME_WAIT do not count) fails on a listener only. Tried for
    PORT_SETTLE seconds: the workers of a sinkhole just killed may still be closing theirs."""
    deadline = time.monotonic() + PORT_SETTLE
    while True:
        try:
            worker.bind_socket(host, port, listen=False, reuse_port=False).close()
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
        time.sleep(0.1)


PORT_SETTLE = 2.0
"""How long a start waits for a listener on its port to go away before refusing it."""


def recover(wal_dir: Path, roll: Roll, state: _State, *, prefix: str = "") -> None:
    """Close segments left open by dead writers and roll every closed segment now (those
    waiting for a retry too). What cannot be closed or rolled stays in the log for later."""
    _close_orphans(wal_dir, state, prefix=prefix)
    roll_pending(wal_dir, roll, state, now=True)


def _close_orphans(wal_dir: Path, state: _State, *, prefix: str) -> None:
    try:
        wal.close_orphans(wal_dir, prefix=prefix)
    except OSError as exc:
        state.roll_errors += 1
        log.error("cannot close the segments left open in %s (%s); will retry", wal_dir, exc)


ROLL_NICE = 10
"""How much lower the roll thread's CPU priority is than the workers' (Linux nice units)."""


def _roll_loop(wal_dir: Path, roll: Roll, state: _State, stop: threading.Event) -> None:
    """Roll closed segments until stopped, at a lower CPU priority than answering and
    logging: on a saturated machine, Parquet can wait (the events are durable in the log and
    segments_pending shows the backlog); answering cannot."""
    with contextlib.suppress(OSError, AttributeError):  # per-thread nice: Linux only
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ROLL_NICE)
    while not stop.wait(0.2):
        roll_pending(wal_dir, roll, state)


ROLL_RETRY_MAX = 60.0
"""Longest wait, in seconds, between attempts to roll a segment whose roll keeps failing."""


def roll_pending(wal_dir: Path, roll: Roll, state: _State, *, now: bool = False) -> None:
    """Roll every closed segment. A segment whose roll fails (disk full, read-only dataset, a
    bug) stays in the log and is retried with a growing delay (or at once with `now`); the
    sinkhole keeps serving."""
    clock = time.monotonic()
    for segment in wal.segments(wal_dir, include_open=False):
        failures, next_try = state.retry.get(segment.name, (0, 0.0))
        if clock < next_try and not now:
            continue
        try:
            report = roll(segment)
        except Exception as exc:  # any failure: keep the segment, keep serving
            state.roll_errors += 1
            delay = min(ROLL_RETRY_MAX, 2.0 ** min(failures, 16))  # 2.0**1024 overflows
            state.retry[segment.name] = (failures + 1, clock + delay)
            if failures == 0 or failures % 10 == 0:
                log.error(
                    "%s: roll failed (%s: %s); kept in the log, retrying in %.0f s",
                    segment.name, type(exc).__name__, exc, delay,
                )  # fmt: skip
            continue
        if failures:
            log.info("%s: rolled after %d failed attempts", segment.name, failures)
            del state.retry[segment.name]
        state.segments_rolled += 1
        state.events_rolled += report.events
        if report.dropped_bytes:
            state.bytes_quarantined += report.dropped_bytes
            log.warning(
                "%s: %d bytes after the last complete record set aside (%s)",
                segment.name,
                report.dropped_bytes,
                report.dropped_reason,
            )
        if report.rows_quarantined:
            state.rows_quarantined += report.rows_quarantined
            log.warning(
                "%s: %d rows with values outside the event schema set aside",
                segment.name,
                report.rows_quarantined,
            )


def serve(
    settings: SinkholeSettings,
    data_dir: Path,
    roll: Roll,
    *,
    workers: int,
    metrics_address: str | None,
    on_locked: Callable[[], object] | None = None,
) -> int:
    """Run the sinkhole until SIGTERM/SIGINT. Returns the process exit code.

    Raises StartError (DataDirBusyError when another sinkhole records here) if it cannot
    start, once what it had started is stopped: the workers stopped as at SIGTERM, what they
    logged rolled, the data directory unlocked. `on_locked` runs once the data directory is
    ours, before recovery: the place to clean up what a crash left in the dataset, which must
    not happen while another sinkhole runs."""
    if not settings.listeners:
        raise ValueError("no listeners: give --listen HOST:PORT or [[sinkhole.listeners]]")
    state = _State()
    # Undone in reverse order, whether serve ends at a signal or fails while starting.
    with contextlib.ExitStack() as undo:
        undo.callback(os.close, _lock(data_dir))

        def on_signal(signum: int, frame: FrameType | None) -> None:
            state.stop = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        _wait_for_writers(data_dir, state)
        if on_locked is not None:
            with starting(f"cannot clean up {data_dir}"):
                on_locked()
        wal_dir = data_dir / WAL_DIR
        recover(wal_dir, roll, state)
        undo.callback((data_dir / RUN_FILE).unlink, missing_ok=True)
        bound = _resolve(settings.listeners, undo)
        pool = WorkerPool(settings, bound, wal_dir, data_dir / WRITERS_LOCK, workers)
        undo.callback(_stop, pool, settings.limits, wal_dir, roll, state)
        for i in range(workers):
            pool.start(i)
        pool.wait_ready(lambda: state.stop)
        metrics_bound = _start_metrics(metrics_address, pool.counters, workers, state, wal_dir)
        _write_run_file(data_dir, bound, metrics_bound, workers)
        for b in bound:
            log.info("listening name=%s address=%s", b.settings.name, b.address)
        rolling = threading.Event()
        roller = threading.Thread(
            target=_roll_loop, args=(wal_dir, roll, state, rolling), name="botcensus-roll"
        )
        roller.start()
        undo.callback(roller.join)
        undo.callback(rolling.set)
        schedule = RestartSchedule(workers, time.monotonic())
        while not state.stop:
            # Never a longer sleep, even while a restart is hours away: SIGTERM ends the loop.
            time.sleep(TICK)
            _tend(pool, schedule, wal_dir, state, time.monotonic())
    log.info("stopped: %d events rolled into %s", state.events_rolled, data_dir)
    return 0


TICK = 0.2
"""Seconds between the supervisor's looks at its workers (and at the stop flag)."""


def _tend(
    pool: WorkerPool, schedule: RestartSchedule, wal_dir: Path, state: _State, now: float
) -> None:
    """Note the workers that died (their segments are closed for the roller) and start those
    whose restart is due at `now`. A worker that cannot be started waits for its next attempt
    like one that died: the other workers serve on whatever happens to this one."""
    for i, proc in enumerate(pool.procs):
        if state.stop or schedule.waiting(i) or proc.is_alive():
            continue
        why = pool.report(i)
        delay = schedule.died(i, now)
        log.error(
            "worker %d exited with %s%s; closing its log segments and restarting it %s",
            i, proc.exitcode, f" ({why})" if why else "", _when(delay),
        )  # fmt: skip
        _close_orphans(wal_dir, state, prefix=f"w{i:02d}-")  # rolled by the roller
    for i in schedule.due(now):
        if state.stop:
            break
        schedule.started(i, now)
        try:
            pool.start(i)
        except OSError as exc:  # no process or pipe to be had (EAGAIN, ENOMEM, EMFILE)
            log.error("worker %d could not be started (%s); trying again %s",
                      i, describe(exc), _when(schedule.died(i, now)))  # fmt: skip
            continue
        state.worker_restarts += 1
    state.workers_down = schedule.down


def _when(delay: float) -> str:
    """'now', or 'in 2 s (at 12:00:02 UTC)': the log has no time stamps of its own."""
    if delay <= 0:
        return "now"
    at = datetime.now(UTC) + timedelta(seconds=delay)
    return f"in {delay:g} s (at {at:%H:%M:%S} UTC)"


def _stop(
    pool: WorkerPool, limits: LimitSettings, wal_dir: Path, roll: Roll, state: _State
) -> None:
    """Stop the workers (they fsync and close what they logged), then roll everything."""
    pool.stop(limits)
    recover(wal_dir, roll, state)


def _start_metrics(
    address: str | None, counters: metrics.Counters, workers: int, state: _State, wal_dir: Path
) -> str | None:
    if address is None:
        return None
    host, port = split_address(address)

    def supervisor_gauges() -> dict[str, float]:
        return {
            "events_rolled_total": state.events_rolled,
            "segments_rolled_total": state.segments_rolled,
            "segments_pending": len(wal.segments(wal_dir, include_open=False)),
            "quarantined_bytes_total": state.bytes_quarantined,
            "quarantined_rows_total": state.rows_quarantined,
            "roll_errors_total": state.roll_errors,
            "worker_restarts_total": state.worker_restarts,
            "workers_down": state.workers_down,
        }

    registry = CollectorRegistry(auto_describe=True)
    registry.register(metrics.SinkholeCollector(counters, workers, supervisor_gauges))
    with starting(f"cannot serve metrics on {address}"):
        bound_port = MetricsServer(host, port, registry).start()
    return f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"


def _write_run_file(
    data_dir: Path, bound: list[worker.BoundListener], metrics_bound: str | None, workers: int
) -> None:
    """Where an operator (or a test) finds the resolved ports of a running sinkhole."""
    info = {
        "pid": os.getpid(),
        "workers": workers,
        "listeners": [{"name": b.settings.name, "host": b.host, "port": b.port} for b in bound],
        "metrics": metrics_bound,
    }
    tmp = data_dir / f".{RUN_FILE}.tmp"
    with starting(f"cannot write {data_dir / RUN_FILE}"):
        try:
            tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            tmp.replace(data_dir / RUN_FILE)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise

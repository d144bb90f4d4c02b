"""The supervisor's worker processes: started, waited for, heard from, stopped."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from botcensus.capture import metrics, worker
from botcensus.capture.startup import StartError
from botcensus.config import LimitSettings, SinkholeSettings

log = logging.getLogger(__name__)


class WorkerPool:
    """The worker processes, each with a pipe on which it says why it could not start."""

    def __init__(
        self,
        settings: SinkholeSettings,
        bound: list[worker.BoundListener],
        wal_dir: Path,
        writers_lock: Path,
        count: int,
    ) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self.counters = self._ctx.Array("q", count * metrics.WIDTH, lock=False)
        supervisor = os.getpid()
        self._specs = [
            worker.WorkerSpec(i, settings, tuple(bound), wal_dir, writers_lock, supervisor)
            for i in range(count)
        ]
        self.procs: list[BaseProcess] = []
        self._reports: list[Connection] = []

    def start(self, index: int) -> None:
        """Start worker `index` (again, if it ran before)."""
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=worker.run,
            args=(self._specs[index], self.counters, writer),
            name=f"botcensus-worker-{index}",
        )
        try:
            proc.start()
        except BaseException:
            reader.close()
            raise
        finally:
            writer.close()  # the worker has its own copy of this end
        if index < len(self.procs):
            self._reports[index].close()
            self.procs[index], self._reports[index] = proc, reader
        else:
            self.procs.append(proc)
            self._reports.append(reader)

    def wait_ready(self, stopping: Callable[[], bool]) -> None:
        """Block until every worker listens on every address, or until `stopping()`; raise
        StartError with the worker's own reason if one exits first."""
        procs = self.procs
        while not all(metrics.read(self.counters, i)[0]["ready"] for i in range(len(procs))):
            for i, proc in enumerate(procs):
                if not proc.is_alive():
                    why = self.report(i) or f"it exited with {proc.exitcode}"
                    raise StartError(f"worker {i} could not start: {why}")
            if stopping():
                return
            time.sleep(0.02)

    def report(self, index: int) -> str | None:
        """What worker `index` said before it exited (why it could not start), if anything."""
        reader = self._reports[index]
        try:
            return str(reader.recv()) if reader.poll() else None
        except (EOFError, OSError):  # it exited without a word
            return None

    def stop(self, limits: LimitSettings) -> None:
        """SIGTERM every worker (each fsyncs and closes what it logged); kill any still
        running `shutdown_grace` + 30 s later."""
        for proc in self.procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + limits.shutdown_grace + 30
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("worker %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join()
        for reader in self._reports:
            reader.close()

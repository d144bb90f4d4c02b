"""Run a real sinkhole as a child process on loopback (for the demo, tests and benchmarks)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from botcensus.capture.supervisor import RUN_FILE


@dataclass
class SinkholeProcess:
    """A `botcensus sinkhole serve` child; use as a context manager or call stop()."""

    data_dir: Path
    args: list[str] = field(default_factory=list)
    workers: int = 1
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    metrics: str | None = None
    nofile: int | None = None
    """RLIMIT_NOFILE (soft and hard) for the sinkhole, e.g. to try running out of descriptors."""
    state_dir: Path | None = None
    """Its own write-ahead log, lock, run file and log (`--state`); default: data_dir."""

    @property
    def home(self) -> Path:
        """Where its write-ahead log, run file and log are."""
        return self.state_dir or self.data_dir

    def start(self, timeout: float = 30.0) -> Self:
        for folder in {self.data_dir, self.home}:
            if not folder.exists():  # what the sinkhole writes here is personal data
                folder.parent.mkdir(parents=True, exist_ok=True)
                folder.mkdir(mode=0o700)
        run_file = self.home / RUN_FILE
        run_file.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-m", "botcensus", "sinkhole", "serve",
            "--data", str(self.data_dir), "--workers", str(self.workers), *self.args,
        ]  # fmt: skip
        if self.state_dir is not None:
            cmd += ["--state", str(self.state_dir)]
        # The child writes to its own copy of the descriptor: ours is closed at once, so no
        # file is left open whichever way the child ends.
        with (self.home / "sinkhole.log").open("ab") as log_file:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                preexec_fn=None if self.nofile is None else self._limit_files,
            )
        deadline = time.monotonic() + timeout
        while not run_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"sinkhole exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"sinkhole not ready after {timeout}s: {self.log()}")
            time.sleep(0.05)
        info = json.loads(run_file.read_text(encoding="utf-8"))
        self.ports = {item["name"]: item["port"] for item in info["listeners"]}
        self.metrics = info["metrics"]
        return self

    def _limit_files(self) -> None:
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    @property
    def port(self) -> int:
        """The port of the first listener."""
        return next(iter(self.ports.values()))

    def log(self) -> str:
        path = self.home / "sinkhole.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the sinkhole and wait for it to exit; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9 the supervisor and every worker, with no chance to flush anything.

        The supervisor is frozen first so that it cannot restart the workers, and the workers
        die before it does so that its death signal (PDEATHSIG) cannot reach them."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        for pid in _children(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 of /proc/PID/stat is the parent pid; the command may contain spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found

"""Helpers for the tests that run a real sinkhole process under faults (test_faults*.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

from botcensus.model import EVENT_SCHEMA
from botcensus.simulate.drive import http_request
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import iter_events

NOT_FOUND_CLOSE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
FAST_ROLL = {
    "BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL": "0.05",
    "BOTCENSUS_SINKHOLE__RECORDER__SEGMENT_SECONDS": "0.2",
}


def dataset_events(data_dir: Path) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(iter_events(data_dir)), schema=EVENT_SCHEMA).to_pylist()


def running(sink: SinkholeProcess) -> bool:
    return sink.proc is not None and sink.proc.poll() is None


def alive(port: int, path: str) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 404


def rolled(sink: SinkholeProcess, n: int, timeout: float = 60.0) -> None:
    """Wait until n events are in Parquet, or the sinkhole is gone."""
    deadline = time.monotonic() + timeout
    while len(dataset_events(sink.data_dir)) < n and running(sink):
        assert time.monotonic() < deadline, "not rolled"
        time.sleep(0.1)


class Ids:
    """Requests with unique paths on fresh connections, from a thread, until stopped; the
    status each one got (None: no reply)."""

    def __init__(self, port: int, prefix: str) -> None:
        self.port, self.prefix = port, prefix
        self.statuses: dict[str, int | None] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        n = 0
        while not self.stopped.is_set():
            path = f"/{self.prefix}/{n}"
            n += 1
            self.statuses[path] = status(self.port, path)

    def __enter__(self) -> Ids:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(30)

    def answered(self) -> set[str]:
        return {p for p, s in self.statuses.copy().items() if s == 404}


def status(port: int, path: str) -> int | None:

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(http_request("GET", path, host="h"))
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def scrape(address: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in httpx.get(f"http://{address}/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            name = name.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def worker_pids(sink: SinkholeProcess) -> list[int]:
    assert sink.proc is not None
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            worker = b"spawn_main" in cmdline and b"resource_tracker" not in cmdline
            if parent == sink.proc.pid and worker:
                found.append(int(entry.name))
    return found


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"

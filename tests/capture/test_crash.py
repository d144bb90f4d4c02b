"""Crash consistency of a real sinkhole under load (issue 9): kill -9 of workers, of the
supervisor alone and of everything, SIGTERM, a full disk and read-only directories, in a
random order at random moments, on a small tmpfs the test mounts itself (root only). Every
request gets a unique path; at the end every answered one is in the dataset exactly once,
nothing recorded was never sent, and no answered request sits in the quarantine.

BOTCENSUS_CRASH_EPISODES (default 10) sets the episodes per run, BOTCENSUS_CRASH_SEED the seed
(default: a new one each run, printed on failure).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sinkhole_faults import worker_pids

from botcensus.model import EVENT_SCHEMA
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import iter_events

EPISODES = int(os.environ.get("BOTCENSUS_CRASH_EPISODES", "10"))
ENV = {
    "BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL": "0.05",
    "BOTCENSUS_SINKHOLE__RECORDER__SEGMENT_SECONDS": "0.3",
    "BOTCENSUS_SINKHOLE__LIMITS__SHUTDOWN_GRACE": "1",
}


class Load:
    """Clients with unique request paths: half open a connection per request, half keep
    connections alive for up to 20 requests. Retries connecting while the sinkhole is down."""

    def __init__(self, port: int, clients: int = 24) -> None:
        self.port, self.clients = port, clients
        self.sent: set[str] = set()
        self.answered: set[str] = set()
        self.refused = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        await asyncio.gather(*(self._client(i) for i in range(self.clients)))

    async def _client(self, i: int) -> None:
        keep = i % 2 == 1
        n = 0
        while not self.stopped.is_set():
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 2
                )
            except (OSError, TimeoutError):
                await asyncio.sleep(0.02)
                continue
            try:
                for _ in range(20 if keep else 1):
                    path = f"/c/{i}/{n}"
                    n += 1
                    close = "" if keep else "Connection: close\r\n"
                    self.sent.add(path)
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: h\r\n{close}\r\n".encode())
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
                    if head.startswith(b"HTTP/1.1 404 "):
                        self.answered.add(path)
                    else:
                        self.refused += 1
                        break
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Crashes:
    """The sinkhole under test, and the faults done to it."""

    def __init__(self, disk: Any, rng: random.Random) -> None:
        self.disk, self.rng = disk, rng
        self.data = disk.root / "data"
        self.port = _free_port()
        self.done: collections.Counter[str] = collections.Counter()
        self.sink = self._start()

    def _start(self) -> SinkholeProcess:
        sink = SinkholeProcess(self.data, ["--listen", f"127.0.0.1:{self.port}"], 2, ENV)
        return sink.start(timeout=60)

    def episode(self, name: str) -> None:
        getattr(self, name.replace("-", "_"))()
        self.done[name] += 1

    def full_disk(self) -> None:
        with self.disk.full():
            time.sleep(self.rng.uniform(0.5, 1.5))

    def readonly_events(self) -> None:
        with self.disk.readonly(self.data / "events"):
            time.sleep(self.rng.uniform(0.5, 1.5))

    def readonly_wal(self) -> None:
        with self.disk.readonly(self.data / "wal"):
            time.sleep(self.rng.uniform(0.5, 1.5))

    def kill_worker(self) -> None:
        workers = worker_pids(self.sink)
        assert workers, self.sink.log()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.rng.choice(workers), signal.SIGKILL)

    def kill_supervisor(self) -> None:
        """Its workers finish what they answered while a new supervisor starts at once."""
        assert self.sink.proc is not None
        self.sink.proc.kill()
        self.sink.proc.wait()
        self.sink = self._start()

    def kill_all(self) -> None:
        self.sink.kill()
        self.sink = self._start()

    def kill_all_while_full(self) -> None:
        with self.disk.full():
            time.sleep(self.rng.uniform(0.2, 0.8))
            self.sink.kill()
        self.sink = self._start()

    def sigterm(self) -> None:
        assert self.sink.stop() == 0, self.sink.log()
        self.sink = self._start()


KINDS = (
    "full-disk",
    "readonly-events",
    "readonly-wal",
    "kill-worker",
    "kill-supervisor",
    "kill-all",
    "kill-all-while-full",
    "sigterm",
)


@pytest.mark.slow
def test_every_answered_request_survives_crashes_and_faults_exactly_once(big_small_disk):
    seed = int(os.environ.get("BOTCENSUS_CRASH_SEED", random.SystemRandom().randrange(10**6)))
    rng = random.Random(seed)
    crashes = Crashes(big_small_disk, rng)
    load = Load(crashes.port)
    load.thread.start()
    plan = list(KINDS) + [rng.choice(KINDS) for _ in range(max(0, EPISODES - len(KINDS)))]
    rng.shuffle(plan)
    try:
        for name in plan[: max(EPISODES, 1)]:
            time.sleep(rng.uniform(0.2, 0.8))
            crashes.episode(name)
        time.sleep(0.5)
    finally:
        load.stopped.set()
        load.thread.join(30)
        if crashes.sink.proc is not None and crashes.sink.proc.poll() is None:
            assert crashes.sink.stop() == 0, crashes.sink.log()
    # One more start and stop: whatever a fault left in the log is rolled now.
    final = SinkholeProcess(crashes.data, ["--listen", "127.0.0.1:0"], 1, ENV).start()
    assert final.stop() == 0
    print(f"episodes: {dict(crashes.done)}")
    _check(crashes.data, load, seed)


def _check(data: Path, load: Load, seed: int) -> None:
    events = pa.Table.from_batches(list(iter_events(data)), schema=EVENT_SCHEMA)
    recorded = collections.Counter(p for p in events["path"].to_pylist() if p)
    context = f"seed {seed}: {len(load.answered)} answered, {len(load.sent)} sent"
    assert len(load.answered) > 500, context
    twice = [p for p, n in recorded.items() if n > 1]
    assert twice == [], f"{context}; recorded twice: {twice[:5]}"
    missing = load.answered - set(recorded)
    assert not missing, f"{context}; answered, not recorded: {sorted(missing)[:5]}"
    assert set(recorded) <= load.sent, context
    assert not list((data / "wal").iterdir()), context
    # A torn tail can hold only requests that were never answered (their write failed).
    for tail in (data / "quarantine" / "wal").glob("*.tail"):
        blob = tail.read_bytes()
        assert not [p for p in load.answered if p.encode() in blob], f"{context}; {tail.name}"
    assert not list((data / "quarantine" / "wal").glob("*.rows")), context
    print(f"crash suite, {context}, {load.refused} refused with 503, all answered recorded once")

"""Hostile requests and faults against a real `botcensus sinkhole serve` on loopback (issue 9):
each test is one way the sinkhole once stopped or lost answered requests."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from botcensus.capture import proxy
from botcensus.capture.reply import REJECT_REPLY, Reject
from botcensus.model import EVENT_SCHEMA
from botcensus.simulate.drive import http_request
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import iter_events

NOT_FOUND_CLOSE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
FAST_ROLL = {
    "BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL": "0.05",
    "BOTCENSUS_SINKHOLE__RECORDER__SEGMENT_SECONDS": "0.2",
}


def _events(data_dir: Path) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(iter_events(data_dir)), schema=EVENT_SCHEMA).to_pylist()


def _running(sink: SinkholeProcess) -> bool:
    return sink.proc is not None and sink.proc.poll() is None


def _alive(port: int, path: str) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 404


def _rolled(sink: SinkholeProcess, n: int, timeout: float = 60.0) -> None:
    """Wait until n events are in Parquet, or the sinkhole is gone."""
    deadline = time.monotonic() + timeout
    while len(_events(sink.data_dir)) < n and _running(sink):
        assert time.monotonic() < deadline, "not rolled"
        time.sleep(0.1)


# -- item 1: a value the roll cannot store ---------------------------------------------------
@pytest.mark.slow
def test_content_length_beyond_int64_does_not_stop_the_sinkhole(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", env=FAST_ROLL)
    with net.connect(sink.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\nabc")
    _rolled(sink, 1)  # the segment holding it was rolled (the roll once died here)
    assert _running(sink), sink.log()
    _alive(sink.port, "/after")
    assert sink.stop() == 0
    events = sorted(_events(sink.data_dir), key=lambda e: str(e["path"]))
    assert [(e["path"], e["content_length"]) for e in events] == [("/", None), ("/after", None)]
    assert "Traceback" not in sink.log()


@pytest.mark.slow
def test_replayed_time_beyond_any_date_does_not_stop_the_sinkhole(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", "--proxy-protocol", "--replay", env=FAST_ROLL)
    header = proxy.build_v2(("203.0.113.5", 1), ("198.51.100.1", 80), replay_times_us=[2**63 - 1])
    got = net.exchange(sink.port, header + http_request("GET", "/far-future", host="h"))
    assert got == REJECT_REPLY[Reject.PROXY]
    _rolled(sink, 1)
    assert _running(sink), sink.log()
    header = proxy.build_v2(("203.0.113.5", 2), ("198.51.100.1", 80))
    net.exchange(sink.port, header + http_request("GET", "/after", host="h"))
    assert sink.stop() == 0
    events = _events(sink.data_dir)
    assert len(events) == 2
    assert {str(e["reject_reason"]).partition(":")[0] for e in events} == {"proxy", "None"}


# -- item 3: a new supervisor while the old one's workers still run -------------------------
@pytest.mark.slow
def test_restart_waits_for_the_old_workers_and_keeps_what_they_answered(tmp_path, net):
    data = tmp_path / "data"
    env = {"BOTCENSUS_SINKHOLE__LIMITS__SHUTDOWN_GRACE": "4", **FAST_ROLL}
    old = SinkholeProcess(data, ["--listen", "127.0.0.1:0"], env=env).start()
    new = SinkholeProcess(data, ["--listen", "127.0.0.1:0"], env=env)
    try:
        with net.connect(old.port, timeout=10) as sock:
            sock.sendall(b"GET /answered-by-the-old-worker HTTP/1.1\r\n")
            time.sleep(0.3)
            assert old.proc is not None
            old.proc.kill()  # the supervisor only; its worker finishes what is in flight
            old.proc.wait()
            starting = threading.Thread(target=new.start)
            starting.start()
            time.sleep(1.0)  # the new supervisor is up (or waiting for the old worker)
            sock.sendall(b"Host: h\r\nConnection: close\r\n\r\n")
            assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
        starting.join(30)
        assert not starting.is_alive()
        _alive(new.port, "/new")
        assert new.stop() == 0
    finally:
        if _running(new):
            new.kill()
    paths = sorted(str(e["path"]) for e in _events(data))
    assert paths == ["/answered-by-the-old-worker", "/new"]
    assert "waiting for the workers of a previous sinkhole" in new.log()


# -- item 4: full disks and read-only directories -------------------------------------------
class _Ids:
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
            self.statuses[path] = _status(self.port, path)

    def __enter__(self) -> _Ids:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(30)

    def answered(self) -> set[str]:
        return {p for p, s in self.statuses.copy().items() if s == 404}


def _status(port: int, path: str) -> int | None:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(http_request("GET", path, host="h"))
            head = sock.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_full_disk_refuses_with_503_and_every_answer_is_recorded(sinkhole_proc, small_disk):
    data = small_disk.root / "data"
    sink = sinkhole_proc("--listen", "127.0.0.1:0", data_dir=data, env=FAST_ROLL)
    with _Ids(sink.port, "full") as load:
        _wait(lambda: len(load.answered()) > 50)
        with small_disk.full():
            _wait(lambda: 503 in load.statuses.copy().values())
            time.sleep(1.0)
            assert _running(sink), sink.log()
        before = len(load.answered())
        _wait(lambda: len(load.answered()) > before + 50)
    assert sink.stop() == 0
    recorded = [str(e["path"]) for e in _events(data)]
    assert len(recorded) == len(set(recorded))
    assert load.answered() <= set(recorded)
    refused = sum(1 for s in load.statuses.values() if s == 503)
    assert refused > 10
    # One message when the failures start (and a summary now and then), not one per request.
    failures = [line for line in sink.log().splitlines() if "write-ahead log" in line]
    assert 1 <= len(failures) <= 10, failures[:20]
    assert "Traceback" not in sink.log()


@pytest.mark.slow
def test_read_only_dataset_and_log_directory_keep_the_sinkhole_serving(sinkhole_proc, small_disk):
    data = small_disk.root / "data"
    sink = sinkhole_proc(
        "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", data_dir=data, env=FAST_ROLL
    )
    assert sink.metrics is not None
    with _Ids(sink.port, "ro") as load:
        _wait(lambda: len(load.answered()) > 20)
        with small_disk.readonly(data / "events"):
            # Rolls fail meanwhile (the roll thread runs at a low priority: on a busy
            # machine its first attempt can take a while).
            failed = "botcensus_sinkhole_roll_errors_total"
            _wait(lambda: _scrape(sink.metrics)[failed] > 0, timeout=60)
            assert _running(sink), sink.log()
            during = len(load.answered())
            _wait(lambda: len(load.answered()) > during + 20)
        with small_disk.readonly(data / "wal"):
            # Rotations fail meanwhile.
            failing = "botcensus_sinkhole_wal_failing"
            _wait(lambda: _scrape(sink.metrics)[failing] == 1, timeout=60)
            assert _running(sink), sink.log()
            synced = "botcensus_sinkhole_wal_synced_bytes_total"
            metrics = _scrape(sink.metrics)
            assert metrics["botcensus_sinkhole_wal_errors_total"] > 0
            # Still fsyncing what it answers: the loss bound holds while rotation fails.
            _wait(lambda: _scrape(sink.metrics)[synced] > metrics[synced])
            during = len(load.answered())
            _wait(lambda: len(load.answered()) > during + 20)
        after = len(load.answered())
        _wait(lambda: len(load.answered()) > after + 20)
    assert sink.stop() == 0
    recorded = [str(e["path"]) for e in _events(data)]
    assert len(recorded) == len(set(recorded))
    assert load.answered() <= set(recorded)
    assert not list((data / "wal").iterdir())


def _scrape(address: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for line in httpx.get(f"http://{address}/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            name = name.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


# -- item 5: clients that send and never read --------------------------------------------------
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _worker_pids(sink: SinkholeProcess) -> list[int]:
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


@pytest.mark.slow
def test_pipelining_clients_that_never_read_are_held_back(sinkhole_proc, tmp_path):
    import socket

    page = tmp_path / "big.html"
    page.write_bytes(b"x" * 4096)  # a 4 kB reply to a 27-byte request
    config = tmp_path / "sinkhole.toml"
    config.write_text(
        '[[sinkhole.listeners]]\nname = "big"\naddress = "127.0.0.1:0"\n'
        f'reply = {{ status = 200, body_file = "{page}" }}\n',
        encoding="utf-8",
    )
    sink = sinkhole_proc("--config", str(config))
    [worker] = _worker_pids(sink)
    before = _rss_mb(worker)
    request = b"GET /flood HTTP/1.1\r\nHost: h\r\n\r\n"
    clients = []
    for _ in range(10):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", sink.port))
        sock.setblocking(False)
        clients.append(sock)
    chunk = request * 2000
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for sock in clients:
            with contextlib.suppress(BlockingIOError):
                sock.send(chunk)
        time.sleep(0.005)
    peak = _rss_mb(worker)
    for sock in clients:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset: what the sinkhole had not read yet is gone
    assert _running(sink), sink.log()
    assert peak - before < 64, f"worker RSS {before:.0f} MB -> {peak:.0f} MB"
    assert httpx.get(f"http://127.0.0.1:{sink.port}/after", timeout=5).status_code == 200
    assert sink.stop() == 0
    flood = [e for e in _events(sink.data_dir) if e["path"] == "/flood"]
    # Each connection was read only while its replies could leave: a few slices' worth.
    assert len(flood) < 10 * 2000, len(flood)


# -- item 6: SIGTERM with many requests in flight -----------------------------------------------
@pytest.mark.slow
def test_sigterm_records_every_request_in_flight_and_writes_after_nothing(sinkhole_proc, net):
    env = {"BOTCENSUS_SINKHOLE__LIMITS__SHUTDOWN_GRACE": "0"}
    sink = sinkhole_proc("--listen", "127.0.0.1:0", workers=2, env=env)
    held = []
    try:
        for i in range(400):
            sock = net.connect(sink.port)
            sock.sendall(f"GET /in-flight/{i} HTTP/1.1\r\nHost: h\r\n".encode())
            held.append(sock)
        time.sleep(0.5)
        assert sink.stop() == 0
    finally:
        for sock in held:
            sock.close()
    log = sink.log()
    assert "write failed" not in log
    assert "closed" not in log.replace("connections closed", "")
    events = _events(sink.data_dir)
    assert len(events) == 400
    assert {str(e["reject_reason"]).partition(":")[0] for e in events} == {"incomplete"}


class _Churn:
    """Clients that keep opening connections and sending requests in two halves, replies read,
    from a thread: at any moment some requests are in flight and some connections new."""

    def __init__(self, port: int, clients: int = 64) -> None:
        self.port, self.clients = port, clients
        self.answered: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _client(self, i: int) -> None:
        n = 0
        while not self.stopped.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            try:
                for _ in range(20):
                    path = f"/churn/{i}/{n}"
                    n += 1
                    writer.write(f"GET {path} HTTP/1.1\r\n".encode())
                    await asyncio.sleep(0.001)
                    writer.write(b"Host: h\r\n\r\n")
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                    if head.startswith(b"HTTP/1.1 404"):
                        self.answered.append(path)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

    async def _run(self) -> None:
        await asyncio.gather(*(self._client(i) for i in range(self.clients)))


@pytest.mark.slow
def test_sigterm_under_churn_records_everything_and_writes_nothing_late(sinkhole_proc, tmp_path):
    env = {"BOTCENSUS_SINKHOLE__LIMITS__SHUTDOWN_GRACE": "0.5"}
    for run in range(3):
        data = tmp_path / f"run{run}"
        sink = sinkhole_proc("--listen", "127.0.0.1:0", data_dir=data, workers=2, env=env)
        churn = _Churn(sink.port)
        churn.thread.start()
        _wait(lambda: len(churn.answered) > 2000, timeout=30)  # noqa: B023
        assert sink.stop() == 0
        churn.stopped.set()
        churn.thread.join(30)
        log = sink.log()
        assert "write failed" not in log, log
        assert "after the log was closed" not in log, log
        recorded = [str(e["path"]) for e in _events(data)]
        assert len(recorded) == len(set(recorded))
        assert set(churn.answered) <= set(recorded)


# -- item 10: what holds addresses is private ------------------------------------------------
@pytest.mark.slow
def test_every_file_the_sinkhole_writes_is_private(sinkhole_proc, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        sink = sinkhole_proc("--listen", "127.0.0.1:0", data_dir=tmp_path / "new" / "data")
    finally:
        os.umask(old)
    _alive(sink.port, "/private")
    assert sink.stop() == 0
    data = sink.data_dir
    written = [data, *data.rglob("*")]
    skip = {"sinkhole.log"}  # the test harness's own capture of the process output
    modes = {
        p.relative_to(data.parent).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in written
        if p.name not in skip
    }
    assert any(name.endswith(".parquet") for name in modes)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode not in (0o600, 0o700)}
    assert wrong == {}


# -- item 10: the metrics port ---------------------------------------------------------------
def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.slow
def test_idle_connections_to_the_metrics_port_hold_no_threads(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
    assert sink.metrics is not None
    assert sink.proc is not None
    port = int(sink.metrics.rsplit(":", 1)[1])
    before = _threads(sink.proc.pid)
    idle = []
    try:
        idle.extend(net.connect(port) for _ in range(300))
        idle[0].sendall(b"GET /metrics HTTP/1.1\r\n")  # and one that never finishes its head
        time.sleep(1.0)
        assert _threads(sink.proc.pid) <= before + 2
        # Still served to a scraper while the idle ones are held.
        text = httpx.get(f"http://{sink.metrics}/metrics", timeout=5).text
        assert "botcensus_sinkhole_requests_total" in text
    finally:
        for sock in idle:
            sock.close()
    assert _running(sink)


# -- item 10: out of file descriptors --------------------------------------------------------
@pytest.mark.slow
def test_connections_refused_for_want_of_descriptors_are_counted(tmp_path):
    sink = SinkholeProcess(
        tmp_path / "data", ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"], nofile=256
    )
    with sink:
        _descriptors_run_out(sink)
    assert sink.proc is not None
    assert sink.proc.returncode == 0


def _descriptors_run_out(sink: SinkholeProcess) -> None:
    import socket

    assert sink.metrics is not None
    held: list[socket.socket] = []
    try:
        for _ in range(400):
            sock = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
            sock.setblocking(False)
            held.append(sock)
        time.sleep(1.0)
        refused = 0
        for sock in held:
            try:
                refused += sock.recv(1) == b""
            except BlockingIOError:
                pass  # accepted and held
            except ConnectionResetError:
                refused += 1
        assert refused > 100
        counted = _scrape(sink.metrics)["botcensus_sinkhole_connections_refused_total"]
        assert counted >= refused
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    _alive(sink.port, "/after")  # the listener survived


# -- found by the crash suite: a supervisor killed while it starts a worker ------------------
@pytest.mark.slow
def test_a_worker_whose_supervisor_died_while_it_started_does_not_live_on(sinkhole_proc):
    import os
    import signal

    sink = sinkhole_proc("--listen", "127.0.0.1:0")
    assert sink.proc is not None
    [first] = _worker_pids(sink)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while not (restarted := [p for p in _worker_pids(sink) if p != first]):
        assert time.monotonic() < deadline, "worker not restarted"
        time.sleep(0.005)
    sink.proc.kill()  # while the new worker is still importing, before it asked for PDEATHSIG
    sink.proc.wait()
    [orphan] = restarted
    deadline = time.monotonic() + 20
    while Path(f"/proc/{orphan}").exists() and _state(orphan) != "Z":
        assert time.monotonic() < deadline, "the orphaned worker lives on"
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"

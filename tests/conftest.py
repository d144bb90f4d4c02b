"""Shared fixtures: event rows, hand-made WAL segments, an in-process sinkhole, a real one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import uvloop

from botcensus.capture import proxy, wal
from botcensus.capture.http import Listener, Outbox, SinkholeConnection, Stats
from botcensus.capture.protocols import build_decoder
from botcensus.capture.record import RAW_WIDTH, RawDecoder
from botcensus.capture.reply import Reply, listener_reply
from botcensus.capture.worker import bind_socket, close_connections, segment_header
from botcensus.config import ListenerSettings, SinkholeSettings, split_address
from botcensus.model import EVENT_COLUMNS
from botcensus.simulate.sinkhole import SinkholeProcess

T0_US = 1_300_233_600_000_000
"""2011-03-16T00:00:00Z, the day Rustock's C&C servers were seized, in microseconds."""


# -- event rows ----------------------------------------------------------------------------
def event_row(**values: Any) -> list[Any]:
    """A WAL event row (values in EVENT_COLUMNS order); keyword arguments override defaults."""
    row: dict[str, Any] = {
        "time_received": T0_US,
        "source_ip": "192.0.2.10",
        "source_port": 40000,
        "destination_ip": "198.51.100.7",
        "destination_port": 80,
        "proxy_peer_ip": None,
        "listener": "main",
        "sensor": "sensor-1",
        "method": "GET",
        "host": "cnc.example",
        "path": "/",
        "query": None,
        "user_agent": "curl/8",
        "header_names": ["Host", "User-Agent"],
        "content_length": None,
        "body_length": 0,
        "body_truncated": False,
        "body_sha256": hashlib.sha256(b"").digest(),
        "body_head": b"",
        "malware_family": None,
        "bot_id": None,
        "status": 404,
        "reject_reason": None,
    }
    unknown = set(values) - set(row)
    assert not unknown, f"not event columns: {unknown}"
    row.update(values)
    return [row[c] for c in EVENT_COLUMNS]


def as_dict(row: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(EVENT_COLUMNS, row, strict=True))


def write_segment(
    path: Path, batches: Sequence[Sequence[Sequence[Any]]], *, tail: bytes = b""
) -> Path:
    """A WAL segment file holding one record per batch, then `tail` (e.g. a torn record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wal.MAGIC + b"".join(wal.encode_record(b) for b in batches) + tail)
    return path


@pytest.fixture(scope="session")
def make_event() -> Callable[..., list[Any]]:
    return event_row


@pytest.fixture(scope="session")
def make_segment() -> Callable[..., Path]:
    return write_segment


# -- raw loopback clients ------------------------------------------------------------------
class Net:
    """Raw-socket client helpers, for bytes no HTTP client would send (loopback only)."""

    @staticmethod
    def connect(port: int, host: str = "127.0.0.1", timeout: float = 3.0) -> socket.socket:
        assert host in ("127.0.0.1", "::1"), "tests only ever talk to loopback"
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    @staticmethod
    def read_exact(sock: socket.socket, n: int) -> bytes:
        """Exactly n bytes, or fewer if the peer closes first."""
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                break
            buf += chunk
        return bytes(buf)

    @staticmethod
    def read_to_eof(sock: socket.socket) -> bytes:
        """Everything until the peer closes (a reset counts as a close)."""
        buf = bytearray()
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                buf += chunk
        return bytes(buf)

    @staticmethod
    def exchange(port: int, data: bytes, host: str = "127.0.0.1", timeout: float = 3.0) -> bytes:
        """Send data on a new connection and read until the server closes it."""
        with Net.connect(port, host, timeout) as sock:
            sock.sendall(data)
            return Net.read_to_eof(sock)


@pytest.fixture(scope="session")
def net() -> type[Net]:
    return Net


@pytest.fixture(scope="session")
def sink_settings() -> Callable[..., SinkholeSettings]:
    return sinkhole_settings


@pytest.fixture(scope="session")
def event_dict() -> Callable[[Sequence[Any]], dict[str, Any]]:
    return as_dict


# -- an in-process sinkhole ----------------------------------------------------------------
class InProcessSinkhole:
    """The sinkhole's connection handling on a uvloop loop in a background thread.

    Built the way worker._serve builds it (one WAL writer, outbox and connection set shared
    by every listener), minus the signals and the metrics, with a fast sweeper so timeout
    tests take a fraction of a second."""

    def __init__(self, settings: SinkholeSettings, wal_dir: Path, sweep_every: float) -> None:
        self.settings = settings
        self.wal_dir = wal_dir
        self.sweep_every = sweep_every
        self.ports: dict[str, int] = {}
        self.replies: dict[str, Reply] = {}
        self.stats = Stats()
        self.connections: set[SinkholeConnection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.writer: wal.WalWriter | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="inproc-sinkhole", daemon=True)

    @property
    def port(self) -> int:
        return next(iter(self.ports.values()))

    @property
    def reply(self) -> Reply:
        return next(iter(self.replies.values()))

    def start(self) -> InProcessSinkhole:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"in-process sinkhole did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        loop = uvloop.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced by start() or stop()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        settings, rec = self.settings, self.settings.recorder
        self._stop = asyncio.Event()
        self.writer = wal.WalWriter(
            self.wal_dir,
            "w00",
            fsync_interval=rec.fsync_interval,
            segment_seconds=rec.segment_seconds,
            segment_bytes=rec.segment_bytes,
            header=segment_header(settings, settings.listeners),
        )
        outbox = Outbox(loop, self.writer, self.stats)
        decoder = build_decoder(settings.decoders)
        trusted = proxy.compile_networks(settings.trusted_proxies)
        servers = []
        for index, lst in enumerate(settings.listeners):
            reply = listener_reply(lst.reply)
            listener = Listener(
                name=lst.name,
                sensor=settings.sensor,
                reply=reply,
                proxy_protocol=lst.proxy_protocol,
                trusted=trusted,
                replay=settings.replay,
                limits=settings.limits,
                body_head_bytes=rec.body_head_bytes,
                decode=decoder,
                outbox=outbox,
                stats=self.stats,
                connections=self.connections,
                clock=loop.time,
                index=index,
            )
            host, port = split_address(lst.address)
            sock = bind_socket(host, port, listen=True)
            server = await loop.create_server(partial(SinkholeConnection, listener), sock=sock)
            servers.append(server)
            self.ports[lst.name] = sock.getsockname()[1]
            self.replies[lst.name] = reply

        async def sweeper() -> None:
            while True:
                await asyncio.sleep(self.sweep_every)
                for conn in list(self.connections):
                    conn.expire(loop.time())

        tasks = [asyncio.create_task(self.writer.run()), asyncio.create_task(sweeper())]
        self._ready.set()
        await self._stop.wait()
        for server in servers:
            server.close()
        await close_connections(self.connections, loop.time)
        outbox.close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.writer.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the loop thread and return its result."""
        assert self.loop is not None
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            box.append(fn())
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)
        return box[0]

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "in-process sinkhole did not stop"
        if self._error is not None:
            raise self._error

    def events(self) -> list[dict[str, Any]]:
        """Every event in the log so far (open and closed segments), in the order written."""
        found = []
        for path in wal.segments(self.wal_dir, include_open=True):
            scan = wal.scan_segment(path)
            raw = RawDecoder(scan.header) if scan.header is not None else None
            for row in scan.events:
                if raw is not None and len(row) == RAW_WIDTH:  # decoded as the roll does
                    row = list(raw.event(row))
                found.append(as_dict(row))
        return found

    def wait_events(self, n: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        """The events once there are at least n of them (some are logged after the reply)."""
        deadline = time.monotonic() + timeout
        while len(found := self.events()) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return found


def sinkhole_settings(
    *listeners: ListenerSettings | str, sensor: str = "test-sensor", **fields: Any
) -> SinkholeSettings:
    """Settings with the given listeners (an address string becomes a listener of that name)."""
    built = [
        ListenerSettings(name="main" if i == 0 else f"l{i}", address=lst)
        if isinstance(lst, str)
        else lst
        for i, lst in enumerate(listeners or ("127.0.0.1:0",))
    ]
    return SinkholeSettings(sensor=sensor, listeners=built, **fields)


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[Callable[..., InProcessSinkhole]]:
    """Factory: start an in-process sinkhole from settings; stopped at teardown."""
    started: list[InProcessSinkhole] = []

    def start(
        settings: SinkholeSettings | None = None, *, sweep_every: float = 0.02
    ) -> InProcessSinkhole:
        wal_dir = tmp_path / f"wal{len(started)}"
        server = InProcessSinkhole(settings or sinkhole_settings(), wal_dir, sweep_every)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def shared_inproc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessSinkhole]:
    """One in-process sinkhole with default settings for a whole module (property tests)."""
    server = InProcessSinkhole(sinkhole_settings(), tmp_path_factory.mktemp("wal"), 0.02)
    yield server.start()
    server.stop()


# -- a real sinkhole process ---------------------------------------------------------------
@pytest.fixture
def sinkhole_proc(tmp_path: Path) -> Iterator[Callable[..., SinkholeProcess]]:
    """Factory: start `botcensus sinkhole serve` on loopback; killed at teardown if running."""
    started: list[SinkholeProcess] = []

    def start(
        *args: str,
        data_dir: Path | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> SinkholeProcess:
        proc = SinkholeProcess(data_dir or tmp_path / "data", list(args), workers, env)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.kill()


# -- Spark (the optional engine, issue 15) ---------------------------------------------------
def spark_missing() -> str | None:
    """Why Spark cannot run here (None: it can)."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "PySpark not installed (the optional extra botcensus[spark])"
    if shutil.which("java") is None:
        return "no Java runtime for Spark (Debian: default-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole test session (a JVM takes seconds to start).
    Skips with the reason where PySpark or Java is missing; under CI=true that fails."""
    import os

    reason = spark_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the Spark tests cannot run: {reason}")
        pytest.skip(reason)
    from botcensus.measure.spark import session

    spark = session("local[2]", app="botcensus-tests")
    spark.conf.set("spark.sql.shuffle.partitions", "2")  # small tables: few tasks
    yield spark
    spark.stop()

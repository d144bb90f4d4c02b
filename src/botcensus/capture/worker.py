"""One sinkhole worker process: binds every listener with SO_REUSEPORT, serves, logs events."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import gc
import ipaddress
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import uvloop

from botcensus.capture import metrics, proxy
from botcensus.capture.http import Listener, Outbox, SinkholeConnection, Stats, sweep
from botcensus.capture.protocols import build_decoder
from botcensus.capture.reply import listener_reply
from botcensus.capture.startup import StartError, starting
from botcensus.capture.wal import WalWriter
from botcensus.config import ListenerSettings, SinkholeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BoundListener:
    """A listener with its port resolved (port 0 becomes the port the supervisor reserved)."""

    settings: ListenerSettings
    host: str
    port: int

    @property
    def address(self) -> str:
        """HOST:PORT, IPv6 as [ADDR]:PORT."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs, picklable for a spawned process."""

    index: int
    settings: SinkholeSettings
    listeners: tuple[BoundListener, ...]
    wal_dir: Path
    writers_lock: Path
    """Held shared while the worker runs: a new supervisor waits for it before recovering."""
    supervisor_pid: int
    """The supervisor that started this worker: if it is gone by the time the worker asks to
    be signalled at its death, the worker stops at once instead of living on unsupervised."""


def bind_socket(host: str, port: int, *, listen: bool, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT, so every worker can bind the same address
    (`reuse_port` False: without it, which fails where anything listens there already)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(4096)
            sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def close_connections(
    connections: set[SinkholeConnection], clock: Callable[[], float], linger: float = 1.0
) -> None:
    """Close every connection and wait until each has reported connection_lost (which logs a
    request in flight as incomplete). A transport still sending replies its client does not
    read would delay that without end: after `linger` seconds those are aborted."""
    for conn in list(connections):
        if conn.transport is not None:
            conn.transport.close()
    deadline = clock() + linger
    while connections and clock() < deadline:
        await asyncio.sleep(0.01)
    for conn in list(connections):
        if conn.transport is not None:
            conn.transport.abort()
    deadline = clock() + linger
    while connections and clock() < deadline:
        await asyncio.sleep(0.01)
    if connections:
        log.error(
            "%d connections did not report their end; closing the log anyway", len(connections)
        )


FD_SPARE = 32
"""Descriptors kept free beyond those open at start-up: new segments, directory fsyncs,
the executor's threads. Connections may use the rest."""


def connection_budget(max_connections: int) -> int:
    """How many connections this worker may hold: max_connections, unless the descriptor
    limit is lower. Raises the soft limit to the hard one first. Accepting only what fits
    leaves a descriptor for every accept, so excess connections are refused by us (and
    counted) rather than by libuv at EMFILE (silently), which could also close a listener."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft == resource.RLIM_INFINITY:
        return max_connections
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    budget = max(1, soft - in_use - FD_SPARE)
    if budget < max_connections:
        # Worth a warning when it bites; a few descriptors short of the setting is routine.
        level = logging.WARNING if budget < 0.9 * max_connections else logging.INFO
        log.log(
            level,
            "max_connections %d lowered to %d: the file descriptor limit is %d",
            max_connections, budget, soft,
        )  # fmt: skip
        return budget
    return max_connections


def _specific(host: str, port: int) -> tuple[str, int] | None:
    """(address, port) as getsockname would report it, unless the host is a wildcard."""
    addr = ipaddress.ip_address(host)
    return None if addr.is_unspecified else (str(addr), port)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM us if the supervisor dies, so we flush instead of lingering."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def run(spec: WorkerSpec, counters: metrics.Counters, report: Connection) -> None:
    """Process entry point. If the worker cannot start (no space for its first log segment,
    an address it cannot listen on) it sends the reason, one line, on `report` and exits 1:
    the supervisor says it and stops."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"botcensus worker {spec.index}: %(message)s")
    if os.getppid() != spec.supervisor_pid:
        # The supervisor died while we were starting, before PDEATHSIG could cover us.
        log.warning("supervisor %d gone before this worker started; exiting", spec.supervisor_pid)
        return
    try:
        with starting(f"cannot lock {spec.writers_lock}"):
            # Taken before the first segment is opened; released only when the process is gone.
            lock_fd = os.open(spec.writers_lock, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
        uvloop.run(_serve(spec, counters))
    except StartError as exc:
        with contextlib.suppress(OSError):
            report.send(str(exc))
        sys.exit(1)


def segment_header(
    settings: SinkholeSettings, listeners: Sequence[ListenerSettings]
) -> dict[str, Any]:
    """What turning this worker's raw log rows into events needs: written at the start of
    every segment, so a segment rolls the same whatever the configuration is by then."""
    return {
        "format": 2,
        "sensor": settings.sensor,
        "listeners": [[lst.name, lst.reply.status] for lst in listeners],
        "body_head_bytes": settings.recorder.body_head_bytes,
        "decoders": [rule.model_dump(mode="json") for rule in settings.decoders],
    }


async def _serve(spec: WorkerSpec, counters: metrics.Counters) -> None:
    loop = asyncio.get_running_loop()
    settings = spec.settings
    rec = settings.recorder
    with starting(f"cannot start a write-ahead log segment in {spec.wal_dir}"):
        wal = WalWriter(
            spec.wal_dir,
            f"w{spec.index:02d}",
            fsync_interval=rec.fsync_interval,
            segment_seconds=rec.segment_seconds,
            segment_bytes=rec.segment_bytes,
            header=segment_header(settings, [b.settings for b in spec.listeners]),
        )
    stats = Stats()
    outbox = Outbox(loop, wal, stats)
    connections: set[SinkholeConnection] = set()
    decoder = build_decoder(settings.decoders)
    trusted = proxy.compile_networks(settings.trusted_proxies)
    limits = settings.limits.model_copy(
        update={"max_connections": connection_budget(settings.limits.max_connections)}
    )
    servers = []
    for index, bound in enumerate(spec.listeners):
        with starting(f"listener {bound.settings.name}: cannot read its reply body"):
            reply = listener_reply(bound.settings.reply)
        listener = Listener(
            name=bound.settings.name,
            sensor=settings.sensor,
            reply=reply,
            proxy_protocol=bound.settings.proxy_protocol,
            trusted=trusted,
            replay=settings.replay,
            limits=limits,
            body_head_bytes=rec.body_head_bytes,
            decode=decoder,
            outbox=outbox,
            stats=stats,
            connections=connections,
            clock=loop.time,
            local=_specific(bound.host, bound.port),
            index=index,
        )
        with starting(f"cannot listen on {bound.address}"):
            sock = bind_socket(bound.host, bound.port, listen=True)
            server = await loop.create_server(
                partial(SinkholeConnection, listener), sock=sock, backlog=4096
            )
        servers.append(server)

    def snapshot() -> None:
        metrics.publish(
            counters,
            spec.index,
            {
                "requests": stats.requests,
                "bytes_in": stats.bytes_in,
                "connections_open": len(connections),
                "connections_total": stats.connections_total,
                "connections_refused": stats.connections_refused,
                "write_errors": stats.write_errors,
                "events_logged": wal.events_written,
                "wal_bytes_written": wal.bytes_written,
                "wal_bytes_synced": wal.bytes_synced,
                "wal_last_sync_ms": int(wal.last_sync * 1000),
                "segments_closed": wal.segments_closed,
                "wal_errors": wal.errors,
                "wal_failing": int(wal.failing),
                "ready": 1,
            },
            stats.rejects,
        )

    async def publish_loop() -> None:
        while True:
            snapshot()
            await asyncio.sleep(0.5)

    # Start-up objects never die: keep them out of collections; collect young objects less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(wal.run()),
        asyncio.create_task(sweep(connections, loop.time)),
        asyncio.create_task(publish_loop()),
    ]
    await stop.wait()

    # Graceful stop: no new connections; requests in flight get the grace period; every
    # request that got a reply is fsynced before we exit.
    for server in servers:
        server.close()
    deadline = loop.time() + settings.limits.shutdown_grace
    while any(c.phase != 0 for c in connections) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await close_connections(connections, loop.time)
    outbox.close()  # logs what is pending; from now on a late event is counted, not written
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    wal.close()
    snapshot()
    log.info("stopped: %d events logged", wal.events_written)

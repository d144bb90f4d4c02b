"""The metrics listener: Prometheus text on GET /metrics, from one thread whatever the clients do.

prometheus_client's own server spends a thread per connection and waits on each without a
time limit, so idle connections pile up threads in the supervisor. This one runs an asyncio
loop in a single thread: a connection gets `timeout` seconds and 8 KiB for its request head,
at most `max_connections` are held at once (further ones are closed at once), and every
answer closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)

MAX_HEAD = 8192


def _response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class MetricsServer:
    """Serve a registry on host:port (port 0: any free port) until stop()."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        timeout: float = 5.0,
        max_connections: int = 512,
    ) -> None:
        self._host, self._port = host, port
        self._registry = registry
        self._timeout = timeout
        self._max = max_connections
        self._open = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="botcensus-metrics", daemon=True)
        self.port = 0

    def start(self) -> int:
        """Start serving; returns the bound port. Raises what binding raised."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.port

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(
            self._serve, self._host, self._port, backlog=128, limit=MAX_HEAD
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopping.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self._max:
            writer.transport.abort()
            return
        self._open += 1
        try:
            reply = await asyncio.wait_for(self._answer(reader), self._timeout)
            writer.write(reply)
            await asyncio.wait_for(writer.drain(), self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")  # LimitOverrunError past MAX_HEAD
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"GET":
            return _response("405 Method Not Allowed", b"")
        if parts[1].split(b"?", 1)[0] not in (b"/metrics", b"/"):
            return _response("404 Not Found", b"")
        return _response("200 OK", generate_latest(self._registry), CONTENT_TYPE_LATEST)

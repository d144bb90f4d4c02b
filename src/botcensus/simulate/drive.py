"""Send HTTP requests to a sinkhole on loopback, each on its own connection or kept alive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import uvloop


@dataclass(frozen=True, slots=True)
class Shot:
    """One request to send: the raw bytes, optionally preceded by a PROXY header."""

    request: bytes
    proxy_header: bytes = b""


@dataclass
class DriveResult:
    """What came back: replies by status line, and connections that got no reply."""

    sent: int = 0
    answered: int = 0
    no_reply: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def http_request(
    method: str,
    path: str,
    *,
    host: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    keep_alive: bool = False,
) -> bytes:
    """A well-formed HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers)]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _one(host: str, port: int, shot: Shot, result: DriveResult, timeout: float) -> None:
    result.sent += 1
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        result.no_reply += 1
        return
    try:
        writer.write(shot.proxy_header + shot.request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError):
        line = b""
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = line.split()
    if len(parts) >= 2 and parts[1].isdigit():
        status = int(parts[1])
        result.answered += 1
        result.statuses[status] = result.statuses.get(status, 0) + 1
    else:
        result.no_reply += 1


async def drive(
    host: str, port: int, shots: Iterable[Shot], *, concurrency: int = 32, timeout: float = 10.0
) -> DriveResult:
    """Send every shot on a new connection, at most `concurrency` at once."""
    result = DriveResult()
    queue: asyncio.Queue[Shot | None] = asyncio.Queue(maxsize=concurrency * 4)

    async def worker() -> None:
        while (shot := await queue.get()) is not None:
            await _one(host, port, shot, result, timeout)

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    for shot in shots:
        await queue.put(shot)
    for _ in tasks:
        await queue.put(None)
    await asyncio.gather(*tasks)
    return result


def send(
    host: str, port: int, shots: Iterable[Shot], *, concurrency: int = 32, timeout: float = 10.0
) -> DriveResult:
    """Synchronous wrapper around drive()."""
    return uvloop.run(drive(host, port, shots, concurrency=concurrency, timeout=timeout))

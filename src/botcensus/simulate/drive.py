"""Send HTTP requests to a sinkhole on loopback, each on its own connection or kept alive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import uvloop


@dataclass(frozen=True, slots=True)
class Shot:
    """One connection's worth: the raw request bytes (`requests` pipelined requests),
    optionally preceded by a PROXY header."""

    request: bytes
    proxy_header: bytes = b""
    requests: int = 1


@dataclass
class DriveResult:
    """What came back: replies by status line, and connections that got no reply."""

    sent: int = 0
    answered: int = 0
    no_reply: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: int | None = None
    """With `expect`: the first status outside it (0: a connection got no reply), after which
    no further shot was sent."""


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


async def _read_reply(reader: asyncio.StreamReader, timeout: float) -> int | None:
    """Read one response (head and Content-Length body); its status, or None at EOF."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value)
    if length:
        try:
            await asyncio.wait_for(reader.readexactly(length), timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            return None
    return int(parts[1])


async def _one(
    host: str,
    port: int,
    shot: Shot,
    result: DriveResult,
    timeout: float,
    expect: frozenset[int] | None,
) -> None:
    result.sent += shot.requests
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        result.no_reply += shot.requests
        return
    answered = 0
    try:
        writer.write(shot.proxy_header + shot.request)
        await writer.drain()
        while answered < shot.requests:
            status = await _read_reply(reader, timeout)
            if status is None:
                break
            answered += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if expect is not None and status not in expect and result.unexpected is None:
                result.unexpected = status
    except OSError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    result.answered += answered
    result.no_reply += shot.requests - answered
    if expect is not None and answered < shot.requests and result.unexpected is None:
        result.unexpected = 0


async def drive(
    host: str,
    port: int,
    shots: Iterable[Shot],
    *,
    concurrency: int = 32,
    timeout: float = 10.0,
    expect: frozenset[int] | None = None,
) -> DriveResult:
    """Send every shot on a new connection, at most `concurrency` at once. With `expect`,
    stop sending at the first reply whose status is not in it, or the first request that
    got no reply (see DriveResult.unexpected)."""
    result = DriveResult()
    queue: asyncio.Queue[Shot | None] = asyncio.Queue(maxsize=concurrency * 4)

    async def worker() -> None:
        while (shot := await queue.get()) is not None:
            if result.unexpected is None:
                await _one(host, port, shot, result, timeout, expect)

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    for shot in shots:
        if result.unexpected is not None:
            break
        await queue.put(shot)
    for _ in tasks:
        await queue.put(None)
    await asyncio.gather(*tasks)
    return result


def send(
    host: str,
    port: int,
    shots: Iterable[Shot],
    *,
    concurrency: int = 32,
    timeout: float = 10.0,
    expect: frozenset[int] | None = None,
) -> DriveResult:
    """Synchronous wrapper around drive()."""
    run = drive(host, port, shots, concurrency=concurrency, timeout=timeout, expect=expect)
    return uvloop.run(run)

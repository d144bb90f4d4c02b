"""A real SMTP server (aiosmtpd) on 127.0.0.1 in a background thread, for the demo, the tests
and the benchmark: it keeps or only counts what it receives and answers as it is told. It
binds loopback only, on a free port chosen by the kernel."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True, slots=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    peer: str
    """The client's address and port: one per connection."""
    at: float
    """When it was accepted (time.monotonic())."""


Answer = Callable[[Envelope], str | None]
"""Given a message's envelope, an SMTP reply such as '451 4.3.0 try later' (None: accept)."""


class _Handler:
    def __init__(self, server: LoopbackSmtp) -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        refusal = self.server.rcpt_answer(address) if self.server.rcpt_answer else None
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        reply = self.server.answer(envelope) if self.server.answer else None
        if reply:
            return reply
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        with self.server.lock:
            self.server.count += 1
            self.server.bytes += len(content)
            number = self.server.count
            if self.server.keep:
                self.server.messages.append(
                    Received(
                        envelope.mail_from or "",
                        tuple(envelope.rcpt_tos),
                        content,
                        ":".join(str(p) for p in session.peer or ()),
                        time.monotonic(),
                    )
                )
        return f"250 2.0.0 Ok: queued as {number}"


class LoopbackSmtp:
    """Start with `with LoopbackSmtp() as server:`; `server.port` is where it listens."""

    def __init__(
        self,
        *,
        keep: bool = True,
        answer: Answer | None = None,
        rcpt_answer: Callable[[str], str | None] | None = None,
        delay: float = 0.0,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        tls_wrap: ssl.SSLContext | None = None,
        authenticator: Callable[..., Any] | None = None,
        data_size_limit: int = 0,
    ) -> None:
        self.keep, self.answer, self.rcpt_answer, self.delay = keep, answer, rcpt_answer, delay
        self.messages: list[Received] = []
        self.count = 0
        self.bytes = 0
        self.lock = threading.Lock()
        self._smtp_kwargs: dict[str, Any] = {
            "tls_context": tls_context,
            "require_starttls": require_starttls,
            "data_size_limit": data_size_limit or None,
            "hostname": "sink.localhost",
        }
        if authenticator is not None:
            self._smtp_kwargs.update(
                authenticator=authenticator, auth_required=True, auth_require_tls=True
            )
        self._tls_wrap = tls_wrap
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopback-smtp", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        handler = _Handler(self)

        def factory() -> SMTP:
            return SMTP(handler, loop=self._loop, **self._smtp_kwargs)

        async def serve() -> None:
            self._server = await self._loop.create_server(
                factory, sock=self._sock, ssl=self._tls_wrap
            )
            self._ready.set()

        self._loop.run_until_complete(serve())
        self._loop.run_forever()
        self._loop.close()

    def start(self) -> LoopbackSmtp:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback SMTP server did not start")
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._server.wait_closed(), 2)
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> LoopbackSmtp:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

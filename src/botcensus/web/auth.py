"""Who asks: the request's token (an `Authorization: Bearer` header, or the session cookie
the sign-in page sets) resolved to a Principal, and the role checks every route declares.

No token is the public. A token that is not valid (malformed, unknown, revoked, expired)
gets 401 on every route, public ones included: it gets nothing, and its holder learns at
once that it no longer works.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from botcensus.web import audit, tokens
from botcensus.web.db import WebDbError
from botcensus.web.tokens import PUBLIC, Principal

COOKIE: Final = "botcensus_session"
bearer = HTTPBearer(auto_error=False, description="An access token: bcw_<id>_<secret>")


@dataclass(slots=True)
class FailureLog:
    """Failed sign-ins go to the audit log, at most `per_minute` of them (a flood of bad
    tokens must not fill the disk)."""

    per_minute: int = 30
    window: float = 0.0
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self) -> bool:
        now = time.monotonic()
        with self.lock:
            if now - self.window > 60:
                self.window, self.count = now, 0
            self.count += 1
            return self.count <= self.per_minute


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The token a request carries: its Bearer header, else its session cookie."""
    if credentials is not None:
        return credentials.credentials.strip()
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        # A scheme other than Bearer: not a token we take, and not the public either.
        raise HTTPException(
            401, "use Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    return request.cookies.get(COOKIE)


def resolve(dataset: Path, token: str | None, request: Request, failures: FailureLog) -> Principal:
    if token is None:
        return PUBLIC
    found = tokens.verify(dataset, token)
    if found is None:
        if failures.allow():
            token_id = tokens.token_id_of(token)
            with contextlib.suppress(WebDbError):  # refused either way
                audit.record(
                    dataset,
                    None,
                    "token-refused",
                    path=request.url.path,
                    query=f"token id {token_id}" if token_id else "malformed token",
                    status=401,
                    client=client_of(request),
                )
        raise HTTPException(
            401,
            "the token is not valid (unknown, revoked or expired)",
            {"WWW-Authenticate": "Bearer"},
        )
    return found


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, from its token; the public without one."""
    ctx: Any = request.app.state.ctx
    return resolve(ctx.dataset, token_of(request, credentials), request, ctx.failures)


Caller = Annotated[Principal, Depends(principal)]


def ip_level(who: Caller) -> Principal:
    """A network owner or the operator; the public gets 401."""
    if not who.ip_level:
        raise HTTPException(
            401,
            "this needs a network owner's or the operator's token",
            {"WWW-Authenticate": "Bearer"},
        )
    return who


def operator(who: Caller) -> Principal:
    """The operator; an owner gets 403, the public 401."""
    if who.role == "operator":
        return who
    if who.role == "owner":
        raise HTTPException(403, "this is the operator's")
    raise HTTPException(401, "this needs the operator's token", {"WWW-Authenticate": "Bearer"})


IpLevel = Annotated[Principal, Depends(ip_level)]
Operator = Annotated[Principal, Depends(operator)]

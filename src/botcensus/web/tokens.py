"""Access tokens: long random secrets, stored as SHA-256 hashes, each with a role and (for a
network owner) a scope; created, listed and revoked by `botcensus web token ...`.

A token reads `bcw_<id>_<secret>`: the id (10 base-32 characters) names it in the audit log
and on the command line; the secret (32 random bytes, URL-safe base64) is shown once, when
the token is made, and never stored. A fast hash is enough for a 256-bit random secret (no
dictionary to try); it is compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from botcensus.web import db
from botcensus.web.scope import EVERYTHING, Scope

Role = Literal["public", "owner", "operator"]
PREFIX: Final = "bcw_"
_FORM: Final = re.compile(r"^bcw_([a-z2-7]{10})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who asks: the public (no token), a network owner or the operator."""

    role: Role
    scope: Scope
    token_id: str | None = None
    label: str = "public"

    @property
    def ip_level(self) -> bool:
        """May see addresses (of its scope)."""
        return self.role in ("owner", "operator")


PUBLIC: Final = Principal("public", Scope())


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    role: Role
    label: str
    scope: Scope
    created: datetime
    expires: datetime | None
    revoked: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= now:
            return "expired"
        return "active"


class TokenError(ValueError):
    """A token that cannot be made or revoked as asked."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def add_token(
    dataset: Path,
    role: Literal["owner", "operator"],
    label: str,
    scope: Scope,
    *,
    days: int | None,
    now: datetime | None = None,
) -> tuple[str, TokenInfo]:
    """Make a token; returns the secret token text (shown once) and what is stored."""
    if role == "owner" and (scope.empty or scope.everything):
        raise TokenError("an owner token needs a scope: --asn, --prefix or --country")
    if role == "operator" and not scope.empty:
        raise TokenError("an operator token sees every network; give it no scope")
    if not label.strip() or len(label) > 200:
        raise TokenError("a token needs a label of 1 to 200 characters (who holds it)")
    now = now or datetime.now(UTC)
    token_id = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:10]
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    stored = EVERYTHING if role == "operator" else scope
    expires = None if days is None else now + timedelta(days=days)
    with db.connect(dataset, write=True) as con:
        con.execute(
            "INSERT INTO tokens (id, role, label, secret_sha256, scope, created, expires) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token_id,
                role,
                label,
                _digest(token),
                stored.to_json(),
                _iso(now),
                None if expires is None else _iso(expires),
            ),
        )
    info = TokenInfo(token_id, role, label, stored, now, expires, None)
    return token, info


def _info(row: tuple[str, str, str, str, str, str | None, str | None]) -> TokenInfo:
    token_id, role, label, scope, created, expires, revoked = row
    return TokenInfo(
        token_id,
        "operator" if role == "operator" else "owner",
        label,
        Scope.from_json(scope),
        datetime.fromisoformat(created),
        _time(expires),
        _time(revoked),
    )


_COLUMNS: Final = "id, role, label, scope, created, expires, revoked"


def list_tokens(dataset: Path) -> list[TokenInfo]:
    with db.connect(dataset) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY created, id").fetchall()  # noqa: S608
    return [_info(r) for r in rows]


def revoke_token(dataset: Path, token_id: str, now: datetime | None = None) -> TokenInfo:
    """Revoke a token by id (idempotent); raises TokenError for an unknown id."""
    now = now or datetime.now(UTC)
    with db.connect(dataset, write=True) as con:
        con.execute(
            "UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ?", (_iso(now), token_id)
        )
        row = con.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()  # noqa: S608
    if row is None:
        raise TokenError(f"no token with id {token_id!r} (`botcensus web token list` shows them)")
    return _info(row)


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token text, else None."""
    match = _FORM.match(token)
    return match.group(1) if match else None


def verify(dataset: Path, token: str, now: datetime | None = None) -> Principal | None:
    """The principal a token stands for, or None (unknown, malformed, revoked, expired)."""
    token_id = token_id_of(token)
    if token_id is None:
        return None
    with db.connect(dataset) as con:
        row = con.execute(
            f"SELECT {_COLUMNS}, secret_sha256 FROM tokens WHERE id = ?",  # noqa: S608
            (token_id,),
        ).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[7]), _digest(token)):
        return None
    info = _info(row[:7])
    if info.state(now or datetime.now(UTC)) != "active":
        return None
    return Principal(info.role, info.scope, info.id, info.label)

"""Pseudonymised addresses: a keyed HMAC-SHA-256 of the canonical address text, with a key
that rotates, for views and exports that need to tell hosts apart but not to know them.

`p<key id>-<20 hex digits>`: the same address gives the same pseudonym while one key is in
use (`web.pseudonym_rotation_days`), a different one under the next key, so exports from
different periods cannot be joined. Without the key a pseudonym cannot be turned back into
an address, even by trying all 2^32 IPv4 addresses; the key lives only in the web database,
and `botcensus web retention apply` destroys replaced keys after
`web.pseudonym_key_retention_days`. The same HMAC is computed in DuckDB for exports (HMAC
spelled out over DuckDB's sha256), so a million rows need no Python loop; both forms are
tested to agree.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from botcensus.web import db

DIGITS: Final = 20
_BLOCK: Final = 64  # SHA-256 block size


@dataclass(frozen=True, slots=True)
class PseudonymKey:
    id: int
    secret: bytes
    created: datetime

    def of(self, address: str) -> str:
        """The pseudonym of one address (canonical text first: one host, one pseudonym)."""
        try:
            text = str(ipaddress.ip_address(address.strip()))
        except ValueError:
            text = address
        digest = hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"p{self.id}-{digest[:DIGITS]}"

    def sql(self, column: str) -> tuple[str, dict[str, object]]:
        """SQL computing `of` for a column of canonical addresses, with its parameters."""
        key = self.secret.ljust(_BLOCK, b"\0")
        params: dict[str, object] = {
            "pseudo_ipad": bytes(b ^ 0x36 for b in key),
            "pseudo_opad": bytes(b ^ 0x5C for b in key),
            "pseudo_prefix": f"p{self.id}-",
        }
        inner = f"unhex(sha256($pseudo_ipad || encode({column})))"
        expr = f"$pseudo_prefix || left(sha256($pseudo_opad || {inner}), {DIGITS})"
        return f"CASE WHEN {column} IS NOT NULL THEN {expr} END", params


def current_key(dataset: Path, rotation_days: int, now: datetime | None = None) -> PseudonymKey:
    """The key in use; a new one when there is none or it is older than `rotation_days`
    (the old one is marked retired, and kept until web retention destroys it)."""
    now = now or datetime.now(UTC)
    with db.connect(dataset, write=True) as con:
        row = con.execute(
            "SELECT id, secret, created FROM pseudonym_keys WHERE retired IS NULL "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            created = datetime.fromisoformat(row[2])
            if now - created < timedelta(days=rotation_days):
                return PseudonymKey(int(row[0]), bytes(row[1]), created)
            con.execute(
                "UPDATE pseudonym_keys SET retired = ? WHERE retired IS NULL",
                (now.isoformat(timespec="seconds"),),
            )
        secret = secrets.token_bytes(32)
        cursor = con.execute(
            "INSERT INTO pseudonym_keys (created, secret) VALUES (?, ?)",
            (now.isoformat(timespec="seconds"), secret),
        )
        key_id = cursor.lastrowid
    assert key_id is not None
    return PseudonymKey(int(key_id), secret, now)

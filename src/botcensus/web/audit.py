"""The audit log: who fetched which IP-level data, when; and the retention of the web stage's
own records (audit entries, replaced pseudonym keys), applied only when asked.

An entry names the token (id, role, label), the request (path and query string: the scope
and filters that selected the data), the status, how many addresses the answer held, and
the client's address. It never holds the addresses served. An IP-level answer is given only
after its entry is written: if the log cannot be written, the data is not served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botcensus.web import db
from botcensus.web.tokens import Principal


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    time: str
    token_id: str | None
    role: str | None
    label: str | None
    action: str
    path: str | None
    query: str | None
    status: int | None
    addresses: int | None
    client: str | None


def record(
    dataset: Path,
    principal: Principal | None,
    action: str,
    *,
    path: str | None = None,
    query: str | None = None,
    status: int | None = None,
    addresses: int | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> None:
    """Append one entry (raises db.WebDbError when it cannot be written)."""
    when = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    with db.connect(dataset, write=True) as con:
        con.execute(
            "INSERT INTO audit (time, token_id, role, label, action, path, query, status, "
            "addresses, client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                when,
                None if principal is None else principal.token_id,
                None if principal is None else principal.role,
                None if principal is None else principal.label,
                action,
                path,
                (query or "")[:2000] or None,
                status,
                addresses,
                client,
            ),
        )


def entries(
    dataset: Path, *, limit: int = 100, offset: int = 0, since: datetime | None = None
) -> tuple[int, list[AuditEntry]]:
    """The total number of entries (since `since`) and a page of them, newest first."""
    where, params = ("time >= ?", [since.isoformat()]) if since else ("1 = 1", [])
    with db.connect(dataset) as con:
        total = con.execute(f"SELECT count(*) FROM audit WHERE {where}", params).fetchone()[0]  # noqa: S608
        rows = con.execute(
            f"SELECT seq, time, token_id, role, label, action, path, query, status, addresses, "  # noqa: S608
            f"client FROM audit WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
    return int(total), [AuditEntry(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class WebRetention:
    """What one `botcensus web retention apply` deleted (or would delete)."""

    audit_entries: int
    keys: list[dict[str, Any]]
    dry_run: bool


def apply_retention(
    dataset: Path,
    *,
    audit_days: int,
    key_days: int,
    now: datetime | None = None,
    dry_run: bool = False,
) -> WebRetention:
    """Delete audit entries older than `audit_days` and pseudonym keys replaced more than
    `key_days` ago; each deletion is itself written to the audit log."""
    now = now or datetime.now(UTC)
    audit_cut = (now - timedelta(days=audit_days)).isoformat(timespec="milliseconds")
    key_cut = (now - timedelta(days=key_days)).isoformat(timespec="seconds")
    with db.connect(dataset, write=True) as con:
        old = con.execute("SELECT count(*) FROM audit WHERE time < ?", (audit_cut,)).fetchone()[0]
        keys = con.execute(
            "SELECT id, created, retired FROM pseudonym_keys WHERE retired IS NOT NULL "
            "AND retired < ? ORDER BY id",
            (key_cut,),
        ).fetchall()
        if not dry_run:
            con.execute("DELETE FROM audit WHERE time < ?", (audit_cut,))
            con.executemany("DELETE FROM pseudonym_keys WHERE id = ?", [(k[0],) for k in keys])
    result = WebRetention(
        int(old),
        [{"id": k[0], "created": k[1], "retired": k[2]} for k in keys],
        dry_run,
    )
    if not dry_run and (old or keys):
        record(
            dataset,
            None,
            "retention",
            query=f"deleted {old} audit entries older than {audit_days} days; "
            f"destroyed pseudonym keys {[k[0] for k in keys]}",
            now=now,
        )
    return result

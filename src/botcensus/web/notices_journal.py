"""The owner view's notifications read from the notify stage's journal
(DIR/notify/journal.sqlite): every message delivered about an address in the scope, with
its ticket and the ticket's state, newest first.

The journal is opened read-only for each question (the notify sender writes it at the same
time: WAL lets both work). The scope becomes SQL over the journal's host rows (ASN, country,
and the address's sortable 16-byte key for prefixes, as notify.messages_for selects them);
only the addresses in scope are returned, and the web checks each again (notices.in_scope).
A message counts once it was handed to the relay (`sent_at` set); planned, deferred or
failed ones were not received and are not shown to the owner.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from botcensus.notify import journal_path
from botcensus.web.notices import Notice, NoticeAddress, NoticePage, NoticeQuery
from botcensus.web.scope import Scope


def _scope_sql(scope: Scope) -> tuple[str, list[object]]:
    """SQL over message_hosts (columns asn, cc, ip_version, ip_key) true for rows in scope."""
    if scope.everything:
        return "1 = 1", []
    parts: list[str] = []
    params: list[object] = []
    if scope.asns:
        parts.append(f"h.asn IN ({', '.join('?' for _ in scope.asns)})")
        params += list(scope.asns)
    if scope.countries:
        parts.append(f"upper(h.cc) IN ({', '.join('?' for _ in scope.countries)})")
        params += list(scope.countries)
    for net in scope.networks:
        low, high = int(net.network_address), int(net.broadcast_address)
        parts.append("(h.ip_version = ? AND h.ip_key BETWEEN ? AND ?)")
        params += [net.version, low.to_bytes(16, "big"), high.to_bytes(16, "big")]
    return ("(" + " OR ".join(parts) + ")") if parts else "1 = 0", params


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class JournalNotices:
    """NoticeReader over one data directory's notification journal."""

    def __init__(self, data_dir: Path) -> None:
        self.path = journal_path(data_dir)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
        db.row_factory = sqlite3.Row
        return db

    def notices(self, scope: Scope, query: NoticeQuery) -> NoticePage:
        if not self.path.exists():
            return NoticePage(0, (), "no notification was sent from this data directory")
        in_scope, params = _scope_sql(scope)
        where = [f"m.sent_at IS NOT NULL AND {in_scope}"]
        if query.date_from is not None:
            where.append("substr(m.sent_at, 1, 10) >= ?")
            params.append(query.date_from.isoformat())
        if query.date_to is not None:
            where.append("substr(m.sent_at, 1, 10) <= ?")
            params.append(query.date_to.isoformat())
        found = (
            "SELECT DISTINCT m.id FROM messages m JOIN message_hosts h ON h.message = m.id "  # noqa: S608 (our clauses)
            "WHERE " + " AND ".join(where)
        )
        db = self._connect()
        try:
            total = db.execute(f"SELECT count(*) FROM ({found})", params).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT * FROM messages WHERE id IN ({found}) "  # noqa: S608
                "ORDER BY sent_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, query.limit, query.offset],
            ).fetchall()
            ids = [r["id"] for r in rows]
            marks = ", ".join("?" for _ in ids) or "NULL"
            addresses: dict[int, list[NoticeAddress]] = defaultdict(list)
            families: dict[int, set[str]] = defaultdict(set)
            for h in db.execute(
                f"SELECT DISTINCT h.message, h.ip, h.asn, h.cc, h.family "  # noqa: S608
                f"FROM message_hosts h WHERE h.message IN ({marks}) AND {in_scope} "
                "ORDER BY h.message, h.ip_version, h.ip_key",
                [*ids, *_scope_sql(scope)[1]],
            ):
                if not any(a.ip == h["ip"] for a in addresses[h["message"]][-1:]):
                    addresses[h["message"]].append(NoticeAddress(h["ip"], h["asn"], h["cc"]))
                families[h["message"]].add(h["family"])
            updated = {
                r[0]: r[1]
                for r in db.execute(
                    f"SELECT message, max(at) FROM history WHERE message IN ({marks}) "  # noqa: S608
                    "GROUP BY message",
                    ids,
                )
            }
        except sqlite3.Error as exc:
            return NoticePage(0, (), f"the notification journal cannot be read ({exc})")
        finally:
            db.close()
        notices = tuple(
            Notice(
                notice_id=r["message_id"],
                sent=_when(r["sent_at"]) or datetime.min.replace(tzinfo=UTC),
                recipient=r["address"],
                channel=f"email ({r['format']})",
                family=", ".join(sorted(families[r["id"]])) or None,
                addresses=tuple(addresses[r["id"]]),
                ticket_id=r["ticket"],
                ticket_state=r["state"],
                ticket_updated=_when(updated.get(r["id"])),
            )
            for r in rows
        )
        return NoticePage(total, notices, "the notification journal")

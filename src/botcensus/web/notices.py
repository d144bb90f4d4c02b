"""The owner view's panel of notifications and tickets: a small reader interface that the
notification journal (notify/) implements, and the reader used until one is connected.

    class NoticeReader(Protocol):
        def notices(self, scope: Scope, query: NoticeQuery) -> NoticePage: ...

A reader returns the notifications sent about addresses in `scope` (Scope.condition gives
SQL over the journal's address, ASN and country columns; Scope.contains checks one), newest
first, a page at a time. The web filters every address it is given through the scope again
before showing it, so a reader that returns too much shows nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from botcensus.web.scope import Scope


@dataclass(frozen=True, slots=True)
class NoticeQuery:
    """Which notifications: sent on days date_from..date_to (inclusive), a page of them."""

    date_from: date | None = None
    date_to: date | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class NoticeAddress:
    """An address a notification named, with the network it was attributed to then."""

    ip: str
    asn: int | None = None
    cc: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification sent to a network owner, and the ticket it opened, if any."""

    notice_id: str
    sent: datetime
    """When it was sent (UTC)."""
    recipient: str
    """Who was told (an abuse mailbox, an IntelMQ feed, a CERT's address)."""
    channel: str
    """How: `email`, `xarf`, `intelmq`, `shadowserver-csv`, ..."""
    family: str | None
    addresses: tuple[NoticeAddress, ...]
    """The addresses the notification named (the reader's, before the web's scope check)."""
    ticket_id: str | None = None
    ticket_state: str | None = None
    """The ticket's state at the recipient when last known (`open`, `resolved`, ...)."""
    ticket_updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class NoticePage:
    total: int
    notices: tuple[Notice, ...]
    source: str
    """What answered: a journal's path, or why nothing did."""


class NoticeReader(Protocol):
    """What the owner view needs from the notification journal."""

    def notices(self, scope: Scope, query: NoticeQuery) -> NoticePage: ...


class NoJournal:
    """The reader until the notification journal is connected: nothing was sent."""

    def notices(self, scope: Scope, query: NoticeQuery) -> NoticePage:
        return NoticePage(0, (), "no notification journal is connected to this dashboard")


def in_scope(page: NoticePage, scope: Scope) -> NoticePage:
    """The page with every address outside `scope` removed, and notices left without an
    address dropped (defence in depth against a reader that returns too much)."""
    kept = []
    for notice in page.notices:
        addresses = tuple(a for a in notice.addresses if scope.contains(a.ip, a.asn, a.cc))
        if addresses:
            kept.append(replace(notice, addresses=addresses))
    dropped = len(page.notices) - len(kept)
    return NoticePage(max(0, page.total - dropped), tuple(kept), page.source)

"""Delivery: every due message of the journal to the relay, at most `rate_per_domain`
messages a minute to one recipient domain and `batch_size` per connection.

Each message is marked `sending` (committed) before its DATA goes out and `sent` after the
relay's 2xx: a process killed between the two leaves it `sending`, and the next run sends it
again with the same Message-ID. So a message goes at least once, and a kill can add one more
copy only of a message whose DATA the relay had accepted in the moment before the kill. A
4xx answer or a broken connection defers it (retried after retry_seconds, doubling, up to
max_attempts); a 5xx answer marks it failed with the relay's words.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botcensus.notify.journal import Entry, Journal
from botcensus.notify.rules import Smtp
from botcensus.notify.smtp import Answer, DisconnectedError, Relay, RelayAddress, RelayError

log = logging.getLogger("botcensus.notify")


@dataclass
class Delivery:
    """What one delivery run did."""

    sent: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent_after_interruption: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)
    """Messages left as they were: their mail file is missing or not the one the journal
    recorded (a disk that filled up before it could be built again); the next run builds
    and sends them."""
    stopped: str | None = None
    """Why the run stopped before the end (the relay could not be used), if it did."""


def retry_wait(smtp: Smtp, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: retry_seconds doubled per earlier failure."""
    return float(min(smtp.retry_max_seconds, smtp.retry_seconds * 2 ** max(0, attempt - 1)))


class _Pacer:
    """Per-domain spacing: one message every 60 / rate seconds to any one domain. Messages
    leave in journal order within a domain; the domain ready soonest goes next (a heap, so
    a day of thousands of recipients costs log n per message, not n)."""

    def __init__(self, entries: list[Entry], per_minute: float, clock: Callable[[], float]) -> None:
        self.gap = 60.0 / per_minute
        self.clock = clock
        self.queues: dict[str, deque[Entry]] = {}
        for entry in entries:
            self.queues.setdefault(entry.domain, deque()).append(entry)
        self.heap = [(0.0, q[0].id, domain) for domain, q in self.queues.items()]
        heapq.heapify(self.heap)

    def __bool__(self) -> bool:
        return bool(self.heap)

    def next(self) -> tuple[float, Entry]:
        """Seconds to wait, and the message to send then."""
        ready, _, domain = heapq.heappop(self.heap)
        entry = self.queues[domain].popleft()
        return max(0.0, ready - self.clock()), entry

    def used(self, domain: str) -> None:
        queue = self.queues[domain]
        if queue:
            heapq.heappush(self.heap, (self.clock() + self.gap, queue[0].id, domain))


def deliver(
    journal: Journal,
    data_dir: Path,
    smtp: Smtp,
    address: RelayAddress,
    envelope_from: str,
    *,
    wait_seconds: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    helo: str | None = None,
) -> Delivery:
    """Send every due message; then, while deferred messages fall due within `wait_seconds`
    of the start, wait for them and send them too."""
    done = Delivery()
    done.resent_after_interruption = [e.ticket for e in journal.interrupted()]
    deadline = clock() + wait_seconds
    relay: Relay | None = None
    in_batch = 0
    try:
        while True:
            pacer = _Pacer(journal.due(), smtp.rate_per_domain, clock)
            while pacer:
                pause, entry = pacer.next()
                if pause > 0:
                    sleep(pause)
                if relay is None:
                    relay, in_batch = Relay(address, helo), 0
                relay = _one(journal, data_dir, smtp, relay, entry, envelope_from, done)
                pacer.used(entry.domain)
                in_batch += 1
                if relay is not None and in_batch >= smtp.batch_size:
                    relay.close()
                    relay = None
            waiting = journal.waiting()
            if not waiting or waiting[0].next_attempt is None:
                break
            until = (waiting[0].next_attempt - datetime.now(UTC)).total_seconds()
            if clock() + until > deadline:
                break
            if relay is not None:  # do not hold a connection open while waiting
                relay.close()
                relay = None
            sleep(max(0.0, until))
    except RelayError as exc:
        done.stopped = str(exc)
        log.error("%s; messages not yet sent stay in the journal for the next run", exc)
    finally:
        if relay is not None:
            relay.close()
    return done


def _one(
    journal: Journal, data_dir: Path, smtp: Smtp, relay: Relay, entry: Entry,
    envelope_from: str, done: Delivery,
) -> Relay | None:  # fmt: skip
    """Send one entry; the relay to go on with (None: it broke, connect again)."""
    assert entry.outbox is not None, "only rendered messages are delivered"
    try:
        data = (data_dir / entry.outbox).read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != entry.message_hash:
        done.not_built.append(entry.ticket)
        log.warning("%s: %s is missing or changed; not sent", entry.ticket, entry.outbox)
        return relay
    attempt = entry.attempts + 1
    journal.sending(entry.id, attempt)
    try:
        answer = relay.send(envelope_from, entry.address, data)
    except DisconnectedError as exc:
        _temporary(journal, smtp, entry, attempt, Answer(0, str(exc)), done)
        return None
    if answer.stage == "MAIL" and not answer.temporary:
        # Our sender or session refused (TLS or login required): no message can go.
        journal.release(entry.id, f"not sent: {answer.code} {answer.text}")
        raise RelayError(f"the relay refuses every message: {answer.code} {answer.text}")
    if answer.accepted:
        journal.sent(entry.id, answer.code, answer.text)
        done.sent.append(entry.ticket)
    elif answer.temporary:
        _temporary(journal, smtp, entry, attempt, answer, done)
    else:
        journal.failed(entry.id, answer.code, f"refused by the relay: {answer.code} {answer.text}")
        done.failed.append(entry.ticket)
        log.warning("%s to %s failed: %s %s", entry.ticket, entry.address, answer.code, answer.text)
    return relay


def _temporary(journal: Journal, smtp: Smtp, entry: Entry, attempt: int, answer: Answer,
               done: Delivery) -> None:  # fmt: skip
    code = answer.code or None
    words = f"{answer.code} {answer.text}" if answer.code else answer.text
    if attempt >= smtp.max_attempts:
        journal.failed(entry.id, code, f"gave up after {attempt} attempts; last answer: {words}")
        done.failed.append(entry.ticket)
        return
    retry_at = datetime.now(UTC) + timedelta(seconds=retry_wait(smtp, attempt))
    journal.deferred(entry.id, code, words, retry_at)
    done.deferred.append(entry.ticket)

"""`notify plan` and `notify send` as calls: read the day's host rows and their contacts, plan,
record the plan in the journal, build each mail into the outbox, deliver.

Only one sender runs per data directory at a time (a lock file); a second one stops at once
with a message instead of sending anything twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from botcensus.contacts import ContactTable, load_contacts
from botcensus.notify.checkins import CheckIns, read_check_ins
from botcensus.notify.deliver import Delivery, deliver
from botcensus.notify.hosts import host_rows
from botcensus.notify.journal import Entry, Journal, journal_path
from botcensus.notify.mail import build
from botcensus.notify.outbox import recipient_dir, write_file
from botcensus.notify.plan import LOOKBACK_DAYS, Plan, plan_messages, unfinished
from botcensus.notify.recipients import resolve
from botcensus.notify.rules import Rules
from botcensus.notify.sign import Signer
from botcensus.notify.smtp import RelayAddress

LOCK_FILE = ".send.lock"


class NotifyError(RuntimeError):
    """The run cannot go on; the message says why."""


class PeriodNotOverError(NotifyError):
    """A period the run would report is not over (plan.unfinished): nothing was recorded."""


class BuildError(NotifyError):
    """Some mails of the run were not built; what was built is still delivered, the rest
    waits in the journal for the next run."""

    def __init__(self, message: str, built: int) -> None:
        super().__init__(message)
        self.built = built


class OutboxError(BuildError):
    """A mail could not be written to the outbox (a full disk, say): building stopped there."""


class CheckInReadError(BuildError):
    """The stored events could not be read for the check-in rows (a damaged file, a full
    disk under DuckDB's spill): the messages listing check-ins were not built (they wait in
    the journal, their history says why); every other message was."""


def make_plan(
    data_dir: Path, rules: Rules, run_date: date, contacts: ContactTable | None = None
) -> Plan:
    """What a run on `run_date` would send and hold back (reads; writes nothing)."""
    rows = host_rows(data_dir, run_date - timedelta(days=LOOKBACK_DAYS), run_date)
    resolved = resolve(rows, contacts if contacts is not None else load_contacts(data_dir))
    known = None
    if journal_path(data_dir).exists():
        with Journal(data_dir, create=False) as journal:
            known = journal.assignments()
    return plan_messages(resolved, rules, run_date, known)


@contextmanager
def sender_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory's send lock, or raise NotifyError if another sender has it."""
    folder = data_dir / "notify"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NotifyError(
                f"another `botcensus notify send` is running on {data_dir}; not starting a second"
            ) from None
        yield
    finally:
        os.close(fd)


def _intact(data_dir: Path, entry: Entry) -> bool:
    """Whether the entry's mail file is there with the bytes the journal recorded."""
    if entry.outbox is None or entry.message_hash is None:
        return False
    try:
        return (
            hashlib.sha256((data_dir / entry.outbox).read_bytes()).hexdigest() == entry.message_hash
        )
    except OSError:
        return False


def render_pending(
    journal: Journal,
    data_dir: Path,
    rules: Rules,
    signer: Signer | None,
    planned: Mapping[tuple[str, str, date, date], pa.Table] | None = None,
) -> int:
    """Build every planned message into the outbox, and again any not yet sent whose file is
    missing or changed; returns how many were built. `planned` holds host rows the plan just
    recorded (the same rows as the journal's, in the same order), to save reading them back."""
    built = 0
    todo = []
    for entry in journal.entries("state IN ('planned', 'rendered', 'deferred', 'sending')"):
        if entry.state != "planned" and _intact(data_dir, entry):
            continue
        key = (entry.address, entry.rule, entry.period_start, entry.period_end)
        hosts = planned.get(key) if planned is not None else None
        todo.append((entry, hosts if hosts is not None else journal.hosts(entry.id)))
    # the check-ins of every message that lists them, read in one pass over their days; a
    # failed read keeps those messages back (a host-day mail instead would not be what the
    # rule promised the recipient), never the others
    listing = [(hosts, entry.check_ins) for entry, hosts in todo if entry.check_ins is not None]
    unread: str | None = None
    try:
        check_ins: Iterator[CheckIns] = iter(read_check_ins(data_dir, listing))
    except (OSError, duckdb.Error, pa.ArrowException) as exc:
        check_ins, unread = iter(()), f"the stored events could not be read ({exc})"
    held: list[str] = []
    for entry, hosts in todo:
        detail = None
        if entry.check_ins is not None:
            detail = next(check_ins, None)
            if detail is None:
                journal.note(entry.id, f"not built: {unread}; the next run tries again")
                held.append(entry.ticket)
                continue
        mail = build(entry, hosts, rules, signer, detail)
        folder = recipient_dir(data_dir, entry.address)
        try:
            write_file(folder, mail.attachment_name, mail.attachment)
            eml = write_file(folder, f"{entry.ticket}.eml", mail.data)
        except OSError as exc:
            waiting = len(journal.entries("state = 'planned'"))
            raise OutboxError(
                f"cannot write {entry.ticket} to the outbox {folder}: {exc.strerror or exc}; "
                f"mails built in this run: {built}; planned, waiting in the journal for the "
                f"next run: {waiting}" + (f"; {_held(held, unread)}" if held else ""),
                built,
            ) from None
        if entry.state == "planned":
            journal.rendered(
                entry.id, str(eml.relative_to(data_dir)), mail.content_hash, mail.message_hash,
                len(mail.data),
            )  # fmt: skip
        else:
            journal.rebuilt(
                entry.id, str(eml.relative_to(data_dir)), mail.content_hash, mail.message_hash,
                len(mail.data),
            )  # fmt: skip
        built += 1
    if held:
        raise CheckInReadError(_held(held, unread), built)
    return built


def _held(tickets: list[str], why: str | None) -> str:
    return (
        f"{len(tickets)} message(s) listing check-ins not built, {why}: "
        f"{', '.join(tickets)}; they wait in the journal for the next run"
    )


@dataclass(frozen=True)
class SendResult:
    """What `notify send` did."""

    plan: Plan
    added: int
    """Messages recorded now."""
    existing: int
    """Messages the plan found in the journal already (planned by an earlier run)."""
    built: int
    delivery: Delivery | None
    """None: no relay asked for (the outbox only)."""
    build_error: str | None = None
    """Why some mails were not built (OutboxError, CheckInReadError), if any were not."""


def relay_address(rules: Rules, override: tuple[str, int] | None) -> RelayAddress | None:
    """Where to deliver: --smtp HOST:PORT, else the rules' [smtp] host (None: nowhere)."""
    smtp = rules.smtp
    host, port = override if override is not None else (smtp.host, smtp.port)
    if host is None:
        return None
    password = os.environ.get(smtp.password_env) if smtp.username else None
    if smtp.username and password is None:
        raise NotifyError(f"[smtp] username is set: put the password in ${smtp.password_env}")
    return RelayAddress(host, port, smtp.security, smtp.timeout_seconds, smtp.ca_file,
                        smtp.username, password)  # fmt: skip


def send(
    data_dir: Path,
    rules: Rules,
    run_date: date,
    relay: RelayAddress | None,
    *,
    wait_seconds: float = 0.0,
    contacts: ContactTable | None = None,
    now: datetime | None = None,
) -> SendResult:
    """Plan the run, record it, build the mails, deliver every due message (earlier runs'
    retries too). Without a relay the mails only go to the outbox. Refused, before anything
    is recorded, if a period it would report is not over at `now` (PeriodNotOverError): a
    period is reported once, so hosts seen later in it would never be."""
    why = unfinished(rules, run_date, now or datetime.now(UTC))
    if why is not None:
        raise PeriodNotOverError(why)
    signer = Signer(rules.signing) if rules.signing is not None else None
    with sender_lock(data_dir):
        planned = make_plan(data_dir, rules, run_date, contacts)
        with Journal(data_dir) as journal:
            added, existing = journal.record(
                planned, prefix=rules.sender.ticket_prefix, domain=rules.sender.domain,
                now=now or datetime.now(UTC),
            )  # fmt: skip
            new = set(added)  # rows of messages recorded earlier come from the journal
            hosts = {
                key: m.hosts
                for m in planned.messages
                if (key := (m.address, m.rule, m.period_start, m.period_end)) in new
            }
            build_error = None
            try:
                built = render_pending(journal, data_dir, rules, signer, hosts)
            except BuildError as exc:  # deliver what was built; the rest waits
                built, build_error = exc.built, str(exc)
            delivery = None
            if relay is not None:
                sender = rules.sender.envelope_from or rules.sender.email
                delivery = deliver(
                    journal, data_dir, rules.smtp, relay, sender, wait_seconds=wait_seconds,
                    helo=rules.sender.domain,
                )  # fmt: skip
    return SendResult(planned, len(added), existing, built, delivery, build_error)

"""The notification journal: one SQLite file in the data directory recording every planned
message (recipient, rule, days, hosts, content hash, ticket, Message-ID), every state it
went through with the relay's words, and the hold-out groups.

States: planned -> rendered -> sending -> sent; a 4xx answer or a lost connection makes it
`deferred` (tried again after a wait), a 5xx answer or too many attempts `failed`. A message
found in `sending` when a sender starts was interrupted (the process died mid-delivery): the
relay may have accepted it, so it goes again, with the same Message-ID. Every change is one
transaction (WAL journal): a killed process leaves each message in one state.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa

from botcensus.export import HOST_SCHEMA
from botcensus.ipaddr import keys_from_ipv4, parse_ips
from botcensus.notify.holdout import ASSIGNMENT_SCHEMA
from botcensus.notify.plan import Plan

NOTIFY_DIR: Final = "notify"
JOURNAL_FILE: Final = "journal.sqlite"
STATES: Final = ("planned", "rendered", "sending", "sent", "deferred", "failed")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    ticket TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,
    run_date TEXT NOT NULL,
    rule TEXT NOT NULL,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    contacts TEXT NOT NULL,
    name TEXT,
    format TEXT NOT NULL,
    template TEXT NOT NULL,
    language TEXT NOT NULL,
    tlp TEXT NOT NULL,
    ip_data INTEGER NOT NULL,
    interval TEXT NOT NULL,
    compression TEXT NOT NULL,
    compress_over INTEGER NOT NULL,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    hosts INTEGER NOT NULL,
    networks TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT,
    planned_at TEXT NOT NULL,
    rendered_at TEXT,
    sent_at TEXT,
    content_hash TEXT,
    message_hash TEXT,
    size INTEGER,
    outbox TEXT,
    last_code INTEGER,
    last_answer TEXT,
    check_ins INTEGER,
    UNIQUE (address, rule, period_start, period_end)
);
CREATE INDEX IF NOT EXISTS messages_state ON messages (state);
CREATE TABLE IF NOT EXISTS message_hosts (
    message INTEGER NOT NULL REFERENCES messages (id),
    day TEXT NOT NULL,
    ip TEXT NOT NULL,
    ip_version INTEGER NOT NULL,
    ip_key BLOB NOT NULL,
    family TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    asn INTEGER,
    cc TEXT,
    as_name TEXT,
    feed TEXT NOT NULL,
    network TEXT
);
CREATE INDEX IF NOT EXISTS message_hosts_message ON message_hosts (message);
CREATE INDEX IF NOT EXISTS message_hosts_key ON message_hosts (ip_version, ip_key);
CREATE INDEX IF NOT EXISTS message_hosts_asn ON message_hosts (asn);
CREATE TABLE IF NOT EXISTS history (
    message INTEGER NOT NULL REFERENCES messages (id),
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    code INTEGER,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_message ON history (message);
CREATE TABLE IF NOT EXISTS holdout (
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    cc TEXT,
    size INTEGER NOT NULL,
    stratum TEXT NOT NULL,
    arm TEXT NOT NULL,
    assigned_on TEXT NOT NULL,
    PRIMARY KEY (kind, unit)
);
CREATE TABLE IF NOT EXISTS held_back (
    run_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule TEXT,
    address TEXT,
    hosts INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
);
"""


def journal_path(data_dir: Path) -> Path:
    return data_dir / NOTIFY_DIR / JOURNAL_FILE


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Entry:
    """One message as the journal holds it."""

    id: int
    ticket: str
    message_id: str
    run_date: date
    rule: str
    address: str
    contacts: tuple[str, ...]
    name: str | None
    format: str
    template: str
    language: str
    tlp: str
    ip_data: bool
    interval: str
    compression: str
    compress_over: int
    period_start: date
    period_end: date
    hosts: int
    networks: tuple[str, ...]
    state: str
    attempts: int
    next_attempt: datetime | None
    planned_at: datetime
    sent_at: datetime | None
    content_hash: str | None
    message_hash: str | None
    size: int | None
    outbox: str | None
    last_code: int | None
    last_answer: str | None
    check_ins: int | None = None
    """One row per check-in, at most this many per host-day (None: one per host-day)."""

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


def _entry(row: sqlite3.Row) -> Entry:
    def when(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    return Entry(
        id=row["id"], ticket=row["ticket"], message_id=row["message_id"],
        run_date=date.fromisoformat(row["run_date"]), rule=row["rule"], address=row["address"],
        contacts=tuple(json.loads(row["contacts"])), name=row["name"], format=row["format"],
        template=row["template"], language=row["language"], tlp=row["tlp"],
        ip_data=bool(row["ip_data"]), interval=row["interval"], compression=row["compression"],
        compress_over=row["compress_over"], period_start=date.fromisoformat(row["period_start"]),
        period_end=date.fromisoformat(row["period_end"]), hosts=row["hosts"],
        networks=tuple(json.loads(row["networks"])), state=row["state"],
        attempts=row["attempts"], next_attempt=when(row["next_attempt"]),
        planned_at=datetime.fromisoformat(row["planned_at"]), sent_at=when(row["sent_at"]),
        content_hash=row["content_hash"], message_hash=row["message_hash"], size=row["size"],
        outbox=row["outbox"], last_code=row["last_code"], last_answer=row["last_answer"],
        check_ins=row["check_ins"] if "check_ins" in row.keys() else None,  # noqa: SIM118
    )  # fmt: skip


def ip_keys(ips: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list[bytes]]:
    """Version (4, 6; 0 if not an address) and 16-byte sortable key of each address."""
    array = ips.combine_chunks() if isinstance(ips, pa.ChunkedArray) else ips
    parsed = parse_ips(array)
    keys = np.where(parsed.is_v4, keys_from_ipv4(parsed.v4), parsed.v6)
    raw = np.ascontiguousarray(keys, dtype="S16").tobytes()
    version = np.where(parsed.is_v4, 4, np.where(parsed.is_v6, 6, 0))
    return version, [raw[i * 16 : (i + 1) * 16] for i in range(len(array))]


class Journal:
    """The journal of one data directory (created on first use, mode 0600)."""

    def __init__(self, data_dir: Path, *, create: bool = True) -> None:
        self.path = journal_path(data_dir)
        if create:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no notification journal (nothing was sent)")
        fresh = not self.path.exists()
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        if fresh:
            self.path.chmod(0o600)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        # NORMAL: a commit survives the process being killed; a power cut may undo the last
        # ones, which at worst sends a message once more (same Message-ID).
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        if create:
            self.db.executescript(_SCHEMA)
            self._upgrade()

    def _upgrade(self) -> None:
        """Columns added since a journal was made: a journal of an earlier version gets them
        (its messages were all host-day reports)."""
        have = {r[1] for r in self.db.execute("PRAGMA table_info(messages)").fetchall()}
        if "check_ins" not in have:
            self.db.execute("ALTER TABLE messages ADD COLUMN check_ins INTEGER")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- the plan -------------------------------------------------------------------------
    def assignments(self) -> pa.Table:
        """Every hold-out group drawn so far (ASSIGNMENT_SCHEMA)."""
        rows = self.db.execute(
            "SELECT unit, kind, cc, size, stratum, arm, assigned_on FROM holdout"
            " ORDER BY kind, unit"
        ).fetchall()
        return pa.Table.from_pylist(
            [{**dict(r), "assigned_on": date.fromisoformat(r["assigned_on"])} for r in rows],
            schema=ASSIGNMENT_SCHEMA,
        )

    def record(
        self, plan: Plan, *, prefix: str, domain: str, now: datetime | None = None
    ) -> tuple[list[tuple[str, str, date, date]], int]:
        """Write a plan's messages (those not planned before for the same address, rule and
        days), their host rows, the new hold-out groups and what was held back, in one
        transaction. Returns the keys (address, rule, first day, last day) of the messages
        added, and how many the journal had already."""
        stamp = now_text(now)
        added: list[tuple[str, str, date, date]] = []
        batch: list[tuple[int, pa.Table]] = []
        existing = 0
        with self.transaction() as db:
            for row in plan.assignments.to_pylist():
                db.execute(
                    "INSERT OR IGNORE INTO holdout VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (row["kind"], row["unit"], row["cc"], row["size"], row["stratum"],
                     row["arm"], row["assigned_on"].isoformat()),
                )  # fmt: skip
            # The held-back summary of a day is replaced by its latest run's.
            db.execute("DELETE FROM held_back WHERE run_date = ?", (plan.run_date.isoformat(),))
            for held in plan.held:
                db.execute(
                    "INSERT INTO held_back VALUES (?, ?, ?, ?, ?, ?)",
                    (plan.run_date.isoformat(), held.reason, held.rule, held.address, held.hosts,
                     stamp),
                )  # fmt: skip
            next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
            for message in plan.messages:
                found = db.execute(
                    "SELECT id FROM messages WHERE address = ? AND rule = ? AND period_start = ?"
                    " AND period_end = ?",
                    (message.address, message.rule, message.period_start.isoformat(),
                     message.period_end.isoformat()),
                ).fetchone()  # fmt: skip
                if found is not None:
                    existing += 1
                    continue
                ticket = f"{prefix}-{plan.run_date:%Y%m%d}-{next_id:06d}"
                key = f"{ticket}|{message.address}|{message.rule}|{message.period_start}"
                digest = hashlib.sha256(key.encode()).hexdigest()[:12]
                db.execute(
                    "INSERT INTO messages (id, ticket, message_id, run_date, rule, address,"
                    " domain, contacts, name, format, template, language, tlp, ip_data, interval,"
                    " compression, compress_over, period_start, period_end, hosts, networks,"
                    " state, planned_at, check_ins) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " 'planned', ?, ?)",
                    (
                        next_id, ticket, f"<{ticket}.{digest}@{domain}>",
                        plan.run_date.isoformat(), message.rule, message.address,
                        message.address.rsplit("@", 1)[1], json.dumps(list(message.contacts)),
                        message.name, message.format, message.template, message.language,
                        message.tlp, int(message.ip_data), message.interval, message.compression,
                        message.compress_over_bytes, message.period_start.isoformat(),
                        message.period_end.isoformat(), message.host_count,
                        json.dumps(list(message.networks)), stamp, message.check_ins,
                    ),
                )  # fmt: skip
                batch.append((next_id, message.hosts))
                db.execute(
                    "INSERT INTO history VALUES (?, ?, 'planned', NULL, ?)",
                    (
                        next_id,
                        stamp,
                        f"{message.host_count} hosts, rule {message.rule}"
                        + (
                            f", check-ins (at most {message.check_ins} per host-day)"
                            if message.check_ins
                            else ""
                        ),
                    ),
                )
                next_id += 1
                added.append(
                    (message.address, message.rule, message.period_start, message.period_end)
                )
            if batch:
                self._insert_hosts(db, batch)
        return added, existing

    @staticmethod
    def _insert_hosts(db: sqlite3.Connection, batch: list[tuple[int, pa.Table]]) -> None:
        """Host rows of several messages in one statement: day as text, times as
        microseconds since the epoch (UTC), the address also as a sortable 16-byte key."""
        hosts = pa.concat_tables([t for _, t in batch])
        ids = np.repeat([m for m, _ in batch], [t.num_rows for _, t in batch]).tolist()
        version, keys = ip_keys(hosts["source_ip"])
        micros = pa.int64()
        days = hosts["day"].cast(pa.int32()).to_numpy()
        columns = [
            ids,
            np.datetime_as_string(days.astype("datetime64[D]")).tolist(),
            hosts["source_ip"].to_pylist(),
            version.tolist(),
            keys,
            hosts["malware_family"].to_pylist(),
            hosts["first_seen"].cast(micros).to_pylist(),
            hosts["last_seen"].cast(micros).to_pylist(),
            hosts["hits"].to_pylist(),
            hosts["source_asn"].to_pylist(),
            hosts["source_cc"].to_pylist(),
            hosts["source_as_name"].to_pylist(),
            hosts["feed_name"].to_pylist(),
            hosts["network"].to_pylist(),
        ]
        db.executemany(
            "INSERT INTO message_hosts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            zip(*columns, strict=True),
        )

    # -- reading --------------------------------------------------------------------------
    def entries(self, where: str = "1 = 1", params: Sequence[Any] = ()) -> list[Entry]:
        sql = f"SELECT * FROM messages WHERE {where} ORDER BY id"  # noqa: S608 (our clauses)
        return [_entry(r) for r in self.db.execute(sql, params).fetchall()]

    def entry(self, ticket: str) -> Entry | None:
        found = self.entries("ticket = ?", (ticket,))
        return found[0] if found else None

    def hosts(self, message: int) -> pa.Table:
        """A message's host rows (HOST_SCHEMA), in the order they were planned."""
        rows = self.db.execute(
            "SELECT day, ip, family, first_seen, last_seen, hits, asn, cc, as_name, feed, network"
            " FROM message_hosts WHERE message = ? ORDER BY rowid",
            (message,),
        ).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(HOST_SCHEMA)
        arrays = [
            pa.array([date.fromisoformat(d) for d in columns[0]], pa.date32()),
            *(pa.array(list(c), f.type)
              for c, f in zip(columns[1:3], list(HOST_SCHEMA)[1:3], strict=True)),
            *(pa.array(list(c), pa.int64()).cast(HOST_SCHEMA.field(n).type)
              for c, n in zip(columns[3:5], ("first_seen", "last_seen"), strict=True)),
            *(pa.array(list(c), f.type)
              for c, f in zip(columns[5:], list(HOST_SCHEMA)[5:], strict=True)),
        ]  # fmt: skip
        return pa.Table.from_arrays(arrays, schema=HOST_SCHEMA)

    def history(self, message: int) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT at, state, code, detail FROM history WHERE message = ? ORDER BY rowid",
            (message,),
        ).fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    # -- state changes --------------------------------------------------------------------
    def _change(self, message: int, state: str, detail: str, code: int | None = None,
                now: datetime | None = None, **columns: Any) -> None:  # fmt: skip
        stamp = now_text(now)
        sets = ", ".join(f"{c} = ?" for c in ("state", *columns))
        with self.transaction() as db:
            db.execute(
                f"UPDATE messages SET {sets} WHERE id = ?",  # noqa: S608 (our column names)
                (state, *columns.values(), message),
            )
            db.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?, ?)", (message, stamp, state, code, detail)
            )

    def rendered(self, message: int, outbox: str, content_hash: str, message_hash: str,
                 size: int, now: datetime | None = None) -> None:  # fmt: skip
        self._change(
            message, "rendered", f"{size} bytes, data sha256 {content_hash}", now=now,
            outbox=outbox, content_hash=content_hash, message_hash=message_hash, size=size,
            rendered_at=now_text(now),
        )  # fmt: skip

    def rebuilt(self, message: int, outbox: str, content_hash: str, message_hash: str,
                size: int, now: datetime | None = None) -> None:  # fmt: skip
        """A mail built again because its file was missing or changed (state unchanged).

        A check-in mail reads the events again, which may have changed since (retention,
        a late ingest): the journal then records the new data hash as the message's, and
        its history both hashes, so `notify status` always names the data that goes out, and
        the history every version that was built. A message interrupted in `sending` may have
        reached the relay with the earlier data: the history says so."""
        entry = self.entries("id = ?", (message,))[0]
        detail = f"built again: the file was missing or changed; mail sha256 {message_hash}"
        if entry.content_hash is not None and content_hash != entry.content_hash:
            detail += (
                f"; the data changed (its events were read again): data sha256 {content_hash}, "
                f"was {entry.content_hash}"
            )
            if entry.state == "sending":
                detail += (
                    "; the interrupted attempt may have delivered the earlier data under the "
                    "same Message-ID"
                )
        self._change(message, entry.state, detail, now=now, outbox=outbox,
                     content_hash=content_hash, message_hash=message_hash,
                     size=size)  # fmt: skip

    def note(self, message: int, detail: str, now: datetime | None = None) -> None:
        """A line in the message's history; its state stays as it is."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO history SELECT id, ?, state, NULL, ? FROM messages WHERE id = ?",
                (now_text(now), detail, message),
            )

    def sending(self, message: int, attempt: int, now: datetime | None = None) -> None:
        self._change(message, "sending", f"attempt {attempt}", now=now, attempts=attempt)

    def sent(self, message: int, code: int, answer: str, now: datetime | None = None) -> None:
        self._change(message, "sent", answer, code, now, sent_at=now_text(now), last_code=code,
                     last_answer=answer, next_attempt=None)  # fmt: skip

    def deferred(self, message: int, code: int | None, answer: str, retry_at: datetime,
                 now: datetime | None = None) -> None:  # fmt: skip
        self._change(message, "deferred", f"{answer}; next attempt {retry_at.isoformat()}", code,
                     now, last_code=code, last_answer=answer,
                     next_attempt=now_text(retry_at))  # fmt: skip

    def failed(
        self, message: int, code: int | None, answer: str, now: datetime | None = None
    ) -> None:
        self._change(message, "failed", answer, code, now, last_code=code, last_answer=answer,
                     next_attempt=None)  # fmt: skip

    def release(self, message: int, detail: str, now: datetime | None = None) -> None:
        """Back to `rendered` after an attempt that could not start (the relay refused us)."""
        self._change(message, "rendered", detail, now=now)

    def interrupted(self, now: datetime | None = None) -> list[Entry]:
        """Messages a killed sender left in `sending`: noted in their history; they go again."""
        found = self.entries("state = 'sending'")
        for entry in found:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO history VALUES (?, ?, 'sending', NULL, ?)",
                    (entry.id, now_text(now), "interrupted: the sender stopped during delivery; "
                     "the relay may have accepted it, so it goes again with the same Message-ID"),
                )  # fmt: skip
        return found

    def due(self, now: datetime | None = None) -> list[Entry]:
        """Messages to send now: rendered, interrupted, or deferred until no later than now."""
        return self.entries(
            "state IN ('rendered', 'sending') OR (state = 'deferred' AND next_attempt <= ?)",
            (now_text(now),),
        )

    def waiting(self) -> list[Entry]:
        """Deferred messages, soonest first."""
        return sorted(
            self.entries("state = 'deferred'"), key=lambda e: e.next_attempt or e.planned_at
        )


def messages_for(
    data_dir: Path, networks: Sequence[str] = (), asns: Sequence[int] = ()
) -> list[tuple[Entry, int]]:
    """Every message that reported an address inside one of `networks` (CIDR prefixes or
    single addresses) or of one of `asns`, with how many of its addresses those are; oldest
    first. Empty when no journal exists. For a network owner's view of what it was told."""
    import ipaddress

    if not journal_path(data_dir).exists():
        return []
    clauses: list[str] = []
    params: list[object] = []
    for text in networks:
        net = ipaddress.ip_network(text, strict=False)
        low, high = int(net.network_address), int(net.broadcast_address)
        clauses.append("(ip_version = ? AND ip_key BETWEEN ? AND ?)")
        params += [net.version, low.to_bytes(16, "big"), high.to_bytes(16, "big")]
    if asns:
        clauses.append(f"asn IN ({', '.join('?' for _ in asns)})")
        params += list(asns)
    if not clauses:
        return []
    with Journal(data_dir, create=False) as journal:
        counted = journal.db.execute(
            "SELECT message, count(DISTINCT ip) FROM message_hosts WHERE "  # noqa: S608
            + " OR ".join(clauses)
            + " GROUP BY message ORDER BY message",
            params,
        ).fetchall()
        by_id = {
            e.id: e
            for e in journal.entries(f"id IN ({', '.join(str(r[0]) for r in counted) or 'NULL'})")
        }
    return [(by_id[r[0]], r[1]) for r in counted if r[0] in by_id]

"""What `notify plan`, `notify send` and `notify status` print: plain rows from a plan or the
journal (computes nothing new; the CLI lays them out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from botcensus.notify.journal import Entry, Journal
from botcensus.notify.plan import Message, Plan
from botcensus.notify.rules import Rules

Key = tuple[str, str, date, date]
"""What makes a message one: its address, rule and first and last day."""
WAITING = ("planned", "rendered", "sending", "deferred")
"""Journal states `notify send` still delivers."""


def _days(start: object, end: object) -> str:
    return str(start) if start == end else f"{start}..{end}"


def key(message: Message | Entry) -> Key:
    return message.address, message.rule, message.period_start, message.period_end


def planned_before(journal: Journal, plan: Plan) -> dict[Key, Entry]:
    """The plan's messages the journal holds already: `notify send` does not plan them again
    (it delivers those still waiting, as they were planned)."""
    if not plan.messages:
        return {}
    first = min(m.period_start for m in plan.messages).isoformat()
    last = max(m.period_end for m in plan.messages).isoformat()
    wanted = {key(m) for m in plan.messages}
    found = journal.entries("period_start >= ? AND period_end <= ?", (first, last))
    return {key(e): e for e in found if key(e) in wanted}


def waiting_elsewhere(journal: Journal, plan: Plan) -> int:
    """Messages of earlier runs, not in this plan, that `notify send` still delivers."""
    mine = {key(m) for m in plan.messages}
    marks = ", ".join("?" for _ in WAITING)
    waiting = journal.entries(f"state IN ({marks})", WAITING)
    return sum(1 for e in waiting if key(e) not in mine)


def rows_label(message: Message) -> str:
    """What one row of the attachment is."""
    if message.check_ins is not None:
        return f"check-ins (max {message.check_ins})"
    return "network counts" if message.format == "summary" else "host-days"


def plan_rows(plan: Plan, known: Mapping[Key, Entry] | None = None) -> list[dict[str, Any]]:
    """One row per planned message; `journal` is `new`, or the state of the message an
    earlier run planned for the same address, rule and days (`ticket`)."""
    known = known or {}
    rows = []
    for m in plan.messages:
        before = known.get(key(m))
        rows.append(
            {
                "address": m.address,
                "rule": m.rule,
                "format": m.format,
                "rows": rows_label(m),
                "interval": m.interval,
                "days": _days(m.period_start, m.period_end),
                "hosts": m.host_count,
                "networks": len(m.networks),
                "tlp": m.tlp,
                "language": m.language,
                "journal": before.state if before else "new",
                "ticket": before.ticket if before else "-",
            }
        )
    return rows


def override_notes(plan: Plan, rules: Rules) -> list[str]:
    """Messages a [[recipient]] override sends other than their rule says: a check-in rule's
    recipient given format "summary" gets counts per network, no check-ins."""
    by_name = {r.name: r for r in rules.rule}
    notes = []
    for m in plan.messages:
        rule = by_name.get(m.rule)
        if rule is None or not rule.ip_data or m.format == rule.format:
            continue  # ip_data = false: the rule itself says summary
        notes.append(
            f"{m.address} (rule {m.rule}): format {m.format!r} from its [[recipient]] override"
            + (
                f" instead of {rule.format!r} with rows = 'check-ins': "
                + ("counts per network, no address, no check-ins"
                   if m.format == "summary" else "no check-in rows")
                if rule.rows == "check-ins" and m.check_ins is None
                else f" instead of {rule.format!r}"
            )
        )  # fmt: skip
    return notes


def journal_summary(plan: Plan, known: Mapping[Key, Entry], waiting: int) -> str:
    """What `notify send` would do with this plan, given what the journal holds."""
    new = sum(1 for m in plan.messages if key(m) not in known)
    line = f"Journal: {new} new message{'s' if new != 1 else ''} (send records and delivers them)"
    if known:
        states = Counter(e.state for e in known.values())
        line += (
            f"; {len(known)} planned by an earlier run ("
            + ", ".join(f"{states[s]} {s}" for s in sorted(states))
            + "), not planned again"
        )
        still = sum(states[s] for s in WAITING)
        if still:
            line += f" ({still} still to deliver)"
        later = sum(max(0, m.host_count - known[key(m)].hosts) for m in plan.messages
                    if key(m) in known)  # fmt: skip
        if later:
            line += (
                f"; their days now have {later:,} more host{'s' if later != 1 else ''} than "
                "they reported, which send does not report"
            )
    if waiting:
        line += f"; {waiting} message{'s' if waiting != 1 else ''} of earlier runs also wait"
        line += " for delivery"
    return line + "."


def held_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per reason, rule and address something was held back for."""
    return [
        {
            "reason": h.reason,
            "rule": h.rule or "(all)",
            "address": h.address or "-",
            "hosts": h.hosts,
        }
        for h in plan.held
    ]


def plan_summary(plan: Plan) -> str:
    hosts = sum(m.host_count for m in plan.messages)
    addresses = len({m.address for m in plan.messages})
    count = len(plan.messages)
    line = (
        f"Run {plan.run_date}: {count} message{'s' if count != 1 else ''} to {addresses} "
        f"address{'es' if addresses != 1 else ''}, {hosts:,} host "
        f"report{'s' if hosts != 1 else ''}."
    )
    if plan.assignments.num_rows:
        held = sum(1 for a in plan.assignments["arm"].to_pylist() if a == "holdout")
        line += (
            f" Hold-out: {plan.assignments.num_rows} networks in the design ({held} held out),"
            f" {plan.new_assignments} drawn in this run."
        )
    return line


def entry_row(entry: Entry) -> dict[str, Any]:
    """A journal entry as one status line."""
    answer = entry.last_answer or ""
    when = entry.sent_at or entry.next_attempt
    return {
        "ticket": entry.ticket,
        "address": entry.address,
        "rule": entry.rule,
        "days": _days(entry.period_start, entry.period_end),
        "hosts": entry.hosts,
        "state": entry.state,
        "attempts": entry.attempts,
        "when": when.astimezone(UTC).isoformat(timespec="seconds") if when else "",
        "answer": (f"{entry.last_code} " if entry.last_code else "") + answer,
    }


def ticket_lines(journal: Journal, entry: Entry, *, show_hosts: bool = True) -> list[str]:
    """Everything the journal knows of one message, for a dispute."""
    lines = [
        f"Ticket {entry.ticket}   Message-ID {entry.message_id}",
        f"To {entry.address} for {', '.join(entry.contacts)}"
        + (f" ({entry.name})" if entry.name else ""),
        f"Rule {entry.rule}: {entry.format}, {entry.interval}, TLP:{entry.tlp.upper()}, "
        f"language {entry.language}, IP-level data {'yes' if entry.ip_data else 'no'}"
        + (
            f", one row per check-in (at most {entry.check_ins} per host-day)"
            if entry.check_ins
            else ""
        ),
        f"Days {_days(entry.period_start, entry.period_end)} (UTC): {entry.hosts} hosts",
        "Networks: " + "; ".join(entry.networks),
        f"State {entry.state} after {entry.attempts} attempt(s)"
        + (f", sent {entry.sent_at.isoformat(timespec='seconds')}" if entry.sent_at else ""),
        f"Data sha256 {entry.content_hash or '-'}; mail sha256 {entry.message_hash or '-'}"
        + (f"; file {entry.outbox}" if entry.outbox else ""),
        "History:",
    ]
    for row in journal.history(entry.id):
        code = f" {row['code']}" if row["code"] else ""
        lines.append(f"  {row['at']}  {row['state']}{code}  {row['detail']}")
    if show_hosts:
        hosts = journal.hosts(entry.id)
        lines.append(f"Events reported ({hosts.num_rows} host-days):")
        lines.append(
            "  day\taddress\tfamily\tfirst seen\tlast seen\tcheck-ins\tASN\tcountry\tnetwork"
        )
        lines += [_host_line(r) for r in hosts.to_pylist()]
    return lines


def _host_line(r: dict[str, Any]) -> str:
    cells = (
        r["day"], r["source_ip"], r["malware_family"], _time(r["first_seen"]),
        _time(r["last_seen"]), r["hits"], r["source_asn"], r["source_cc"], r["network"],
    )  # fmt: skip
    return "  " + "\t".join("-" if v is None else str(v) for v in cells)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

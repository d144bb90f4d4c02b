"""What `notify plan`, `notify send` and `notify status` print: plain rows from a plan or the
journal (computes nothing new; the CLI lays them out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botcensus.notify.journal import Entry, Journal
from botcensus.notify.plan import Plan


def _days(start: object, end: object) -> str:
    return str(start) if start == end else f"{start}..{end}"


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per planned message."""
    return [
        {
            "address": m.address,
            "rule": m.rule,
            "format": m.format,
            "interval": m.interval,
            "days": _days(m.period_start, m.period_end),
            "hosts": m.host_count,
            "networks": len(m.networks),
            "tlp": m.tlp,
            "language": m.language,
        }
        for m in plan.messages
    ]


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
    line = (
        f"Run {plan.run_date}: {len(plan.messages)} messages to {addresses} addresses, "
        f"{hosts:,} host reports."
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

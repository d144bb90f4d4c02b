"""Who gets which host rows, in which format, for which days (a pure function of the rows,
their contacts, the rules and the run day), and what is held back and why.

Every `[[rule]]` that matches a row reports it. A row goes to its most specific abuse
contact (and to its country's national CERT where the rule says `to = [..., "national-cert"]`);
a recipient only ever receives rows whose contact record is its own: an address inside its
prefix, an address of its ASN, or an address of its country. One message per delivery
address, rule and period lists all its networks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.export import HOST_SCHEMA
from botcensus.ipaddr import in_prefixes, parse_ips
from botcensus.notify.holdout import ASSIGNMENT_SCHEMA, assign, units_of
from botcensus.notify.rules import (
    CHECK_IN_FORMATS,
    WEEKDAYS,
    Inhibit,
    Recipient,
    Rule,
    Rules,
    mailable,
)

LOOKBACK_DAYS: Final = 7
"""Days before the run day whose rows a plan reads (the longest interval, weekly)."""


@dataclass(frozen=True)
class Message:
    """One planned report: to one address, under one rule, about one period."""

    address: str
    rule: str
    period_start: date
    period_end: date
    contacts: tuple[str, ...]
    """The contact addresses it speaks for (several when they share a mailbox)."""
    name: str | None
    """How to address the recipient (the override's `name`, else the contact's organisation)."""
    format: str
    template: str
    language: str
    tlp: str
    ip_data: bool
    interval: str
    compression: str
    compress_over_bytes: int
    networks: tuple[str, ...]
    hosts: pa.Table
    """HOST_SCHEMA rows, `network` naming the record that made them this recipient's."""
    check_ins: int | None = None
    """The attachment lists each host-day's check-ins, at most this many (None: host-days)."""

    @functools.cached_property
    def host_count(self) -> int:
        """Distinct addresses in the report."""
        return int(pc.count_distinct(self.hosts["source_ip"]).as_py())


@dataclass(frozen=True)
class Held:
    """Rows not reported, counted per reason, rule and address."""

    reason: str
    rule: str | None
    address: str | None
    hosts: int
    """Distinct addresses."""


@dataclass(frozen=True)
class Plan:
    """What a run on `run_date` would send and hold back."""

    run_date: date
    messages: tuple[Message, ...]
    held: tuple[Held, ...]
    assignments: pa.Table
    """Hold-out groups (ASSIGNMENT_SCHEMA): those known before and those drawn now."""
    new_assignments: int
    """How many of them this plan drew."""


def due_period(interval: str, week_ends: str, run_date: date) -> tuple[date, date] | None:
    """The days a report of this interval covers when run on `run_date` (None: not due).
    daily: the day before; weekly: the 7 days to `week_ends`, on the day after it;
    threshold: the run day itself so far."""
    yesterday = run_date - timedelta(days=1)
    if interval == "daily":
        return yesterday, yesterday
    if interval == "weekly":
        if WEEKDAYS[yesterday.weekday()] != week_ends:
            return None
        return run_date - timedelta(days=7), yesterday
    return run_date, run_date


def unfinished(rules: Rules, run_date: date, now: datetime) -> str | None:
    """Why a run on `run_date` must not happen at `now`, or None if it may. A daily or weekly
    report must cover days that are over: its period is planned once, so a host seen later
    in a day reported early would never be reported. A threshold report covers the run day
    so far by design; that day must have begun."""
    today = now.astimezone(UTC).date()
    clock = f"it is {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC now"
    for rule in rules.rule:
        # a [[recipient]] override may give any rule's recipients another interval
        intervals = dict.fromkeys([rule.interval, *(o.interval for o in rules.recipient)])
        for interval in filter(None, intervals):
            period = due_period(interval, rule.week_ends, run_date)
            if period is None:
                continue
            start, end = period
            days = str(start) if start == end else f"{start} to {end}"
            if interval == "threshold" and start > today:
                return (
                    f"--date {run_date}: rule {rule.name!r} (threshold) would report {days} "
                    f"so far, a day that has not begun ({clock}); use --date {today} or earlier"
                )
            if interval != "threshold" and end >= today:
                state = "is not over yet" if end == today else "has not begun"
                return (
                    f"--date {run_date}: rule {rule.name!r} ({interval}) would report {days} "
                    f"(UTC), which {state} ({clock}); a period is reported once, so its hosts "
                    f"seen later would never be; use --date {today} or earlier"
                )
    if run_date > today:
        return f"--date {run_date}: that day has not begun ({clock}); use --date {today} or earlier"
    return None


def _is_in(column: pa.ChunkedArray | pa.Array, values: Sequence[object]) -> pa.ChunkedArray:
    return pc.fill_null(pc.is_in(column, value_set=pa.array(values, column.type)), False)


def _matches(rows: pa.Table, rule: Rule) -> pa.ChunkedArray | pa.Array:
    """Which rows a rule's row filters take (contact filters apply per recipient later)."""
    mask = pa.array(np.ones(rows.num_rows, dtype=bool))
    if rule.families:
        mask = pc.and_(mask, _is_in(rows["malware_family"], rule.families))
    if rule.countries:
        mask = pc.and_(mask, _is_in(pc.utf8_upper(rows["source_cc"]), rule.countries))
    if rule.asns:
        mask = pc.and_(mask, _is_in(rows["source_asn"], rule.asns))
    if rule.prefixes:
        mask = pc.and_(mask, in_prefixes(rows["source_ip"], rule.prefixes))
    if rule.feeds:
        flat = pc.list_flatten(rows["feeds"])
        parents = pc.list_parent_indices(rows["feeds"])
        hit = np.zeros(rows.num_rows, dtype=bool)
        hit[np.asarray(parents.filter(_is_in(flat, rule.feeds)))] = True
        mask = pc.and_(mask, pa.array(hit))
    return mask


def _inhibited(rows: pa.Table, inhibit: Inhibit) -> pa.ChunkedArray | pa.Array:
    mask = pa.array(np.ones(rows.num_rows, dtype=bool))
    if inhibit.prefix is not None:
        mask = pc.and_(mask, in_prefixes(rows["source_ip"], [inhibit.prefix]))
    if inhibit.asn is not None:
        mask = pc.and_(mask, _is_in(rows["source_asn"], [inhibit.asn]))
    if inhibit.country is not None:
        mask = pc.and_(mask, _is_in(pc.utf8_upper(rows["source_cc"]), [inhibit.country]))
    if inhibit.family is not None:
        mask = pc.and_(mask, _is_in(rows["malware_family"], [inhibit.family]))
    return mask


def _describe(inhibit: Inhibit) -> str:
    what = [
        f"{k} {v}"
        for k, v in (("prefix", inhibit.prefix), ("AS", inhibit.asn),
                     ("country", inhibit.country), ("family", inhibit.family))
        if v is not None
    ]  # fmt: skip
    return "inhibited: " + " ".join(what) + (f" ({inhibit.reason})" if inhibit.reason else "")


def _count(rows: pa.Table) -> int:
    return int(pc.count_distinct(rows["source_ip"]).as_py()) if rows.num_rows else 0


class _Held:
    def __init__(self) -> None:
        self.found: dict[tuple[str, str | None, str | None], set[str]] = {}

    def add(
        self, reason: str, rows: pa.Table, rule: str | None = None, address: str | None = None
    ) -> None:
        if rows.num_rows:
            key = (reason, rule, address)
            self.found.setdefault(key, set()).update(rows["source_ip"].to_pylist())

    def result(self) -> tuple[Held, ...]:
        return tuple(
            Held(reason, rule, address, len(ips))
            for (reason, rule, address), ips in sorted(
                self.found.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2] or "")
            )
        )


def _recipients(rows: pa.Table, rule: Rule) -> tuple[pa.Table, pa.Table]:
    """Rows once per recipient (`identity`, `org`, `network`, `level`, `source` added), and
    the rows no recipient of this rule answers for."""
    parts = []
    covered = np.zeros(rows.num_rows, dtype=bool)
    for target in rule.to:
        prefix = "contact" if target == "contact" else "cert"
        valid = pc.is_valid(rows[f"{prefix}_email"])
        part = rows.filter(valid)
        if target == "contact":
            network = part["contact_record"]
            level = part["contact_level"]
        else:
            network = pc.binary_join_element_wise(
                "country ", pc.utf8_upper(part["source_cc"]), " (national CERT constituency)", ""
            )
            level = pa.repeat(pa.scalar("country"), part.num_rows)
        parts.append(
            part.append_column("identity", pc.utf8_lower(part[f"{prefix}_email"]))
            .append_column("org", part[f"{prefix}_org"])
            .append_column("network_label", network)
            .append_column("level", level)
            .append_column("source", part[f"{prefix}_source"])
        )
        covered |= np.asarray(valid)
    expanded = pa.concat_tables(parts) if parts else rows.slice(0, 0)
    if rule.contact_levels:
        expanded = expanded.filter(_is_in(expanded["level"], list(rule.contact_levels)))
    if rule.contact_sources:
        expanded = expanded.filter(_is_in(expanded["source"], rule.contact_sources))
    if len(rule.to) > 1 and expanded.num_rows:
        # A national CERT that is also a row's most specific contact gets the row once.
        keys = pa.table(
            {
                "i": pa.array(np.arange(expanded.num_rows)),
                "k": pc.binary_join_element_wise(
                    expanded["identity"], expanded["source_ip"], expanded["malware_family"],
                    pc.cast(expanded["day"], pa.string()), "|",
                ),
            }
        )  # fmt: skip
        first = keys.group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
        expanded = expanded.take(pc.sort_indices(first))
    return expanded, rows.filter(pa.array(~covered))


@dataclass(frozen=True)
class _Settings:
    address: str
    name: str | None
    format: str
    template: str
    language: str
    interval: str
    threshold: int | None
    opt_out: bool


def _settings(rule: Rule, identity: str, org: str | None, override: Recipient | None) -> _Settings:
    o = override
    fmt = (o.format if o and o.format else None) or rule.format
    return _Settings(
        address=((o.address if o and o.address else None) or identity).lower(),
        name=(o.name if o and o.name else None) or org,
        format=fmt if rule.ip_data else "summary",
        template=(o.template if o and o.template else None) or rule.template,
        language=(o.language if o and o.language else None) or rule.language,
        interval=(o.interval if o and o.interval else None) or rule.interval,
        threshold=(o.threshold if o and o.threshold else None) or rule.threshold,
        opt_out=bool(o and o.opt_out),
    )


def _plan_rule(
    rows: pa.Table, rule: Rule, rules: Rules, run_date: date, held: _Held
) -> list[Message]:
    matched = rows.filter(_matches(rows, rule))
    expanded, orphans = _recipients(matched, rule)
    held.add("no abuse contact", orphans, rule.name)
    if expanded.num_rows == 0:
        return []
    # Rows sorted by recipient: each identity's rows are one slice.
    encoded = pc.dictionary_encode(expanded["identity"]).combine_chunks()
    identities: list[str] = encoded.dictionary.to_pylist()
    order = np.argsort(np.asarray(encoded.indices), kind="stable")
    expanded = expanded.take(pa.array(order))
    index = np.asarray(encoded.indices)[order]
    bounds = np.searchsorted(index, np.arange(len(identities) + 1))
    orgs = expanded["org"].to_pylist()
    # What each identity is owed, decided once per identity (a few thousand at most).
    n = len(identities)
    keep = np.ones(n, dtype=bool)
    starts = np.zeros(n, dtype="datetime64[D]")
    ends = np.zeros(n, dtype="datetime64[D]")
    settings: list[_Settings | None] = [None] * n
    reasons: dict[int, str] = {}
    for i, identity in enumerate(identities):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if not mailable(identity):
            keep[i], reasons[i] = False, "contact address not usable for mail"
            continue
        org = next((o for o in orgs[lo:hi] if o), None)
        chosen = settings[i] = _settings(rule, identity, org, rules.override(identity))
        if chosen.opt_out:
            keep[i], reasons[i] = False, "opted out"
            continue
        period = due_period(chosen.interval, rule.week_ends, run_date)
        if period is None:
            keep[i], reasons[i] = False, f"not due today ({chosen.interval})"
            continue
        starts[i], ends[i] = np.datetime64(period[0]), np.datetime64(period[1])
    for i, reason in reasons.items():
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        owner = settings[i]
        held.add(reason, expanded.slice(lo, hi - lo), rule.name,
                 owner.address if owner else identities[i])  # fmt: skip
    days = np.asarray(expanded["day"].to_numpy(zero_copy_only=False), dtype="datetime64[D]")
    wanted = keep[index] & (days >= starts[index]) & (days <= ends[index])
    for inhibit in rules.inhibit:  # inhibitions for one contact only
        if inhibit.email is None or inhibit.email.lower() not in identities:
            continue
        mine = index == identities.index(inhibit.email.lower())
        hit = mine & np.asarray(pc.fill_null(_inhibited(expanded, inhibit), False))
        held.add(_describe(inhibit), expanded.filter(pa.array(hit & wanted)), rule.name,
                 inhibit.email.lower())  # fmt: skip
        wanted &= ~hit
    # One message per delivery address and period.
    groups: dict[tuple[str, date, date], list[int]] = {}
    for i in np.flatnonzero(keep).tolist():
        mine = settings[i]
        assert mine is not None
        key = (mine.address, starts[i].astype(date), ends[i].astype(date))
        groups.setdefault(key, []).append(i)
    keys = sorted(groups)
    # Every message's rows in one table, in message order (within one, by contact identity
    # and then as found), built by one take: per message there is then only a slice (with
    # hundreds of thousands of recipients, per-message filters were most of a plan's time).
    group_of = np.full(n, -1, dtype=np.int64)
    for g, key in enumerate(keys):
        group_of[groups[key]] = g
    row_group = group_of[index]
    chosen_rows = np.flatnonzero(wanted & (row_group >= 0))
    order = chosen_rows[np.argsort(row_group[chosen_rows], kind="stable")]
    told = expanded.take(pa.array(order))
    told_group = row_group[order]
    edges = np.searchsorted(told_group, np.arange(len(keys) + 1))
    addresses_per = _distinct_per_group(told_group, told["source_ip"], len(keys))
    networks_per = _values_per_group(told_group, told["network_label"], len(keys))
    told = (
        told.set_column(told.schema.get_field_index("network"), "network", told["network_label"])
        .select(HOST_SCHEMA.names)
        .cast(HOST_SCHEMA)
    )
    messages = []
    for g, (address, start, end) in enumerate(keys):
        lo, hi = int(edges[g]), int(edges[g + 1])
        if hi == lo:
            continue
        members = groups[(address, start, end)]
        lead = settings[members[0]]
        assert lead is not None
        part = told.slice(lo, hi - lo)
        count = int(addresses_per[g])
        if count < rule.min_hosts:
            held.add(f"fewer than min_hosts = {rule.min_hosts}", part, rule.name, address)
            continue
        if lead.interval == "threshold" and count < (lead.threshold or 1):
            held.add(f"below threshold = {lead.threshold}", part, rule.name, address)
            continue
        messages.append(
            Message(
                address=address,
                rule=rule.name,
                period_start=start,
                period_end=end,
                contacts=tuple(sorted(identities[i] for i in members)),
                name=lead.name,
                format=lead.format,
                template=lead.template,
                language=lead.language,
                tlp=rule.tlp,
                ip_data=rule.ip_data,
                interval=lead.interval,
                compression=rule.compression,
                compress_over_bytes=rule.compress_over_bytes,
                networks=networks_per[g],
                hosts=part,
                check_ins=rule.max_check_ins
                if rule.rows == "check-ins" and lead.format in CHECK_IN_FORMATS
                else None,
            )
        )
    return messages


def _distinct_per_group(groups: np.ndarray, values: pa.ChunkedArray, n: int) -> np.ndarray:
    """How many distinct values each group 0..n-1 has (groups: one per value, sorted)."""
    encoded = pc.dictionary_encode(values).combine_chunks()
    codes = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    valid = codes >= 0
    width = len(encoded.dictionary) + 1
    pairs = np.unique(groups[valid] * width + codes[valid])
    return np.bincount(pairs // width, minlength=n)


def _values_per_group(groups: np.ndarray, values: pa.ChunkedArray, n: int) -> list[tuple[str, ...]]:
    """The distinct non-null values of each group 0..n-1, sorted."""
    out: list[tuple[str, ...]] = [()] * n
    if len(groups) == 0:
        return out
    encoded = pc.dictionary_encode(values).combine_chunks()
    names = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    valid = codes >= 0
    width = len(names) + 1
    pairs = np.unique(groups[valid] * width + codes[valid])
    owner, code = pairs // width, pairs % width
    cuts = np.searchsorted(owner, np.arange(n + 1))
    for g in np.flatnonzero(np.diff(cuts)).tolist():
        out[g] = tuple(sorted(names[c] for c in code[cuts[g] : cuts[g + 1]].tolist()))
    return out


def _holdout(
    rows: pa.Table, rules: Rules, run_date: date, known: pa.Table, held: _Held
) -> tuple[pa.Table, pa.Table, int]:
    """Rows without the held-out networks', all assignments, and how many were drawn now."""
    design = rules.holdout
    if design is None:  # no design in these rules: everyone is told, nothing is drawn
        return rows, ASSIGNMENT_SCHEMA.empty_table(), 0
    eligible = rows.filter(
        pc.or_(pc.is_valid(rows["contact_email"]), pc.is_valid(rows["cert_email"]))
    )
    units = units_of(eligible, design.unit)
    known_units = set(known.filter(pc.equal(known["kind"], design.unit))["unit"].to_pylist())
    drawn = assign(units, design, run_date, known_units)
    assignments = pa.concat_tables([known.cast(ASSIGNMENT_SCHEMA), drawn])
    if design.until is not None and run_date > design.until:
        return rows, assignments, drawn.num_rows
    out = assignments.filter(
        pc.and_(pc.equal(assignments["kind"], design.unit), pc.equal(assignments["arm"], "holdout"))
    )
    column = "source_asn" if design.unit == "asn" else "source_cc"
    mask = _is_in(rows[column].cast(pa.string()), out["unit"].to_pylist())
    held.add(f"hold-out group ({design.unit}, control for the effect measure)", rows.filter(mask))
    return rows.filter(pc.invert(mask)), assignments, drawn.num_rows


def plan_messages(
    rows: pa.Table, rules: Rules, run_date: date, known: pa.Table | None = None
) -> Plan:
    """The plan for host rows resolved to their contacts (notify.recipients.resolve) on
    `run_date`, given the hold-out groups drawn before (`known`, ASSIGNMENT_SCHEMA)."""
    held = _Held()
    known = known if known is not None else ASSIGNMENT_SCHEMA.empty_table()
    parsed = parse_ips(pc.cast(rows["source_ip"], pa.string()).combine_chunks())
    address = pa.array(parsed.is_v4 | parsed.is_v6)
    held.add("not an IP address", rows.filter(pc.invert(address)))
    rows = rows.filter(address)
    for inhibit in rules.inhibit:
        if inhibit.email is None and rows.num_rows:
            hit = _inhibited(rows, inhibit)
            held.add(_describe(inhibit), rows.filter(hit))
            rows = rows.filter(pc.invert(hit))
    rows, assignments, drawn = _holdout(rows, rules, run_date, known, held)
    messages = []
    for rule in rules.rule:
        messages += _plan_rule(rows, rule, rules, run_date, held)
    return Plan(run_date, tuple(messages), held.result(), assignments, drawn)

"""Parameter checks: a clear error naming the first field that cannot work."""

from __future__ import annotations

import datetime as dt

from .params import AGGREGATIONS, POLICIES, TIMER_KINDS, USAGES, Params


def validate(params: Params) -> None:
    """Raise ValueError naming the first field that cannot work."""
    if params.n_machines < 1 or params.days < 1:
        raise ValueError("n_machines and days must be at least 1")
    if params.n_machines > 2_000_000 or params.days > 3 * 366:
        raise ValueError("n_machines at most 2,000,000 and days at most 1,098 (memory)")
    try:
        dt.date.fromisoformat(params.start)
    except ValueError as exc:
        raise ValueError(f"start: {params.start!r} is not a date YYYY-MM-DD") from exc
    if any(hours < 0 for _, hours in params.outages):
        raise ValueError("outages: a negative length")
    if not params.countries or sum(c.weight for c in params.countries) <= 0:
        raise ValueError("countries: at least one with a positive weight")
    shares = [c.weight for c in params.countries]
    shares += [a.share for c in params.countries for a in c.asns]
    shares += [v for c in params.countries for a in c.asns for v in a.lines.values()]
    shares += [v for spec in params.lines.values() for v in (*spec.household, *spec.usage.values())]
    if any(not (v >= 0) for v in shares):
        raise ValueError("weights and shares must be numbers >= 0")
    for cc in params.countries:
        if not cc.asns:
            raise ValueError(f"{cc.cc}: no ASNs")
        for a in cc.asns:
            for line in a.lines:
                if line not in params.lines:
                    raise ValueError(f"{cc.cc} AS{a.asn}: line type {line!r} has no LineSpec")
            if a.policy is not None and a.policy not in POLICIES:
                raise ValueError(f"{cc.cc} AS{a.asn}: unknown policy {a.policy!r}")
    for name, spec in params.lines.items():
        for policy in spec.policies:
            if policy not in POLICIES:
                raise ValueError(f"lines.{name}: unknown policy {policy!r}")
        for usage in spec.usage:
            if usage not in USAGES:
                raise ValueError(f"lines.{name}: unknown usage {usage!r}")
    for kind in params.timers.kinds:
        if kind not in TIMER_KINDS:
            raise ValueError(f"timers.kinds: unknown kind {kind!r}")
    if params.report.aggregate not in AGGREGATIONS:
        raise ValueError(f"report.aggregate must be one of {AGGREGATIONS}")
    if not params.report.report_type.startswith("event4_sinkhole"):
        raise ValueError("report.report_type: event4_sinkhole or event4_sinkhole_http")
    for day in params.week_ends:
        if day not in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
            raise ValueError(f"week_ends: unknown day {day!r}")

"""The decay of hosts against the decay of the addresses it is counted from (`cleanup --count
hosts`): where the host estimates fall more slowly than the distinct addresses, the decay of
hosts is not supported by these data, and the addresses' rate is a lower bound on the
machines'.

Why: an address stays in the counts while any machine still uses it (a pool, a carrier-grade
NAT, a household), and renumbering adds addresses in proportion to the machines left, so the
weekly distinct addresses fall no faster than the machines behind them (0.61-0.84 of the
true rate on the 34 seen popgen datasets, docs/measurement.md). A host decay slower than
the faster of two address series (weekly distinct addresses, `unique_ip`; mean distinct
addresses per hour, `ips_hourly_avg`) comes from a model whose trend is off, not from the
machines. The point estimates are compared (not the host decay's 95% upper end): on the
seen datasets this withholds every host decay more than 10.4% off and none within 10%; the
upper end would leave decays 21% and 28% off as estimates. The mean hourly addresses
are not a lower bound themselves (b-mobile seed 5: 1.04 times the true rate): the bound is
the weekly distinct addresses' rate, S(d) <= exp(-rate d / 7).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa

from botcensus.measure.cleanup.decay import decay_table, rows_table

ADDRESS_COUNTS: Final = ("unique_ip", "ips_hourly_avg")
"""The address series the host decay is checked against (census columns)."""
CHECK_COLUMNS: Final = (
    "support",
    "support_reason",
    "model_rate_per_week",
    "address_rate_per_week",
    "address_rate_lower",
    "hourly_rate_per_week",
)
"""Columns the check adds to every decay row (docs/measurement.md)."""


@dataclass(frozen=True)
class AddressRates:
    """Decay rates per week of a group's address series (None: not fitted)."""

    unique: float | None
    hourly: float | None
    unique_lower: float | None = None
    """The lower end of the weekly distinct addresses' 95% interval: the lower bound on the
    machines' rate (a few hundred addresses' rate is itself uncertain); None where not
    fitted or not above zero."""

    @property
    def faster(self) -> float | None:
        rates = [r for r in (self.unique, self.hourly) if r is not None and math.isfinite(r)]
        return max(rates) if rates else None


def address_rates(
    weekly: pa.Table, *, group: str | None = None, min_count: float = 20.0
) -> dict[str | None, AddressRates]:
    """Per group (None: overall) the decay of `unique_ip` and `ips_hourly_avg` over the same
    complete weeks, fitted as the host decay is (decay.decay_table)."""
    fitted: dict[str, dict[str | None, float | None]] = {}
    for count in ADDRESS_COUNTS:
        if count not in weekly.column_names:
            fitted[count] = {}
            continue
        rows = decay_table(weekly, count=count, group=group, min_count=min_count).to_pylist()
        fitted[count] = {r["group"]: r.get("rate_per_week") for r in rows}
        if count == "unique_ip":
            fitted["unique_lower"] = {r["group"]: _positive(r.get("rate_lower")) for r in rows}
    keys = set(fitted["unique_ip"]) | set(fitted["ips_hourly_avg"])
    return {
        k: AddressRates(
            fitted["unique_ip"].get(k),
            fitted["ips_hourly_avg"].get(k),
            fitted.get("unique_lower", {}).get(k),
        )
        for k in keys
    }


def _positive(rate: float | None) -> float | None:
    """A rate as a lower bound: None unless a finite number above zero."""
    return rate if rate is not None and math.isfinite(rate) and rate > 0 else None


UNCHECKED: Final = (
    "not checked against the addresses' decay (their weekly series not fitted: fewer than "
    "3 complete weeks, or a first week under the minimum count)"
)


def reason(host: float, rates: AddressRates, *, ids: bool = False) -> str:
    """Why a host decay is not supported, in words for a note and the JSON; `ids`: the rate
    is the machines with bot ids' (cleanup.id_check)."""
    hourly = "not fitted" if rates.hourly is None else f"{rates.hourly:.4f}"
    unique = "not fitted" if rates.unique is None else f"{rates.unique:.4f}"
    which = (
        "the weekly distinct addresses"
        if rates.unique is not None and rates.faster == rates.unique
        else "the mean distinct addresses per hour"
    )
    counted = (
        f"the machines with bot ids fall {host:.4f} a week, more slowly than {which}"
        if ids
        else f"the host estimates fall {host:.4f} a week, more slowly than {which} they are "
        "counted from"
    )
    return (
        f"{counted} (weekly distinct addresses {unique}, mean distinct addresses per hour "
        f"{hourly}); the machines are not expected to fall more slowly than the faster of "
        + (
            "these, so the ids' trend is not the machines'"
            if ids
            else "these, so the model's trend is off"
        )
    )


OFFICE_REASON: Final = (
    "the host estimates are counted from addresses of networks that keep office hours "
    "(hosts.office), where machines per address are unknown: an office's address stays "
    "while any machine behind it is infected, so the machines fall faster than the model's "
    "figure ({rate:.4f} a week)"
)
"""Why a host decay over office networks is not supported (check_decay)."""
PARTS_REASON: Final = (
    "most of the machines counted sit in networks whose own host decay is not supported "
    "(the sum falls {rate:.4f} a week): {parts}"
)
"""Why a host decay whose networks fail the address check one by one is not supported
(check_decay, cleanup.network_check)."""


def check_decay(
    decay: pa.Table,
    rates: Mapping[str | None, AddressRates],
    *,
    offices: Collection[object] = (),
    parts: Mapping[object, str] | None = None,
) -> pa.Table:
    """decay_table rows of hosts (rates of machines) with CHECK_COLUMNS: `support` is
    `estimate` where the host decay is at least the faster address rate (or nothing to
    check it against), `bounds` where it is slower: then `rate_per_week`, `rate_upper` and
    the half-lives are null, `rate_lower` is the lower end of the weekly distinct
    addresses' rate's 95% interval (a lower bound on the machines'; null where not fitted
    or not above zero: the rate of a few hundred addresses is itself uncertain) and
    `model_rate_per_week` keeps the host fit's rate, not supported. Rows without a rate get
    support `none`. A row whose rate the machines with ids gave (cleanup.id_check) keeps its
    `model_rate_per_week` and is checked as any other. `offices`: groups (None for the
    overall row) whose host estimates hold networks that keep office hours
    (HostsAnswer.offices): their model's rate is `bounds` too, however fast, unless the
    machines with ids gave it. `parts`: groups whose networks fail the check one by one
    (cleanup.network_check), with the reason: `bounds` too, on the same terms."""
    rows = decay.to_pylist()
    for row in rows:
        got = rates.get(row.get("group"), AddressRates(None, None))
        rate = row.get("rate_per_week")
        if rate is not None and not math.isfinite(rate):
            rate = None
        faster = got.faster
        unchecked = UNCHECKED if rate is not None and faster is None else None
        kept = row.get("model_rate_per_week")  # the host fit's, where the ids' replaced it
        row |= {
            "support": "none" if rate is None else "estimate",
            "support_reason": unchecked,
            "model_rate_per_week": rate if kept is None else kept,
            "address_rate_per_week": got.unique,
            "address_rate_lower": got.unique_lower,
            "hourly_rate_per_week": got.hourly,
        }
        office = row.get("group") in offices and not row.get("id_reason")
        parted = None if row.get("id_reason") else (parts or {}).get(row.get("group"))
        if rate is None or ((faster is None or rate >= faster) and not office and not parted):
            continue
        if office:
            why = OFFICE_REASON.format(rate=rate)
        elif faster is not None and rate < faster:
            why = reason(rate, got, ids=bool(row.get("id_reason")))
        else:
            why = PARTS_REASON.format(rate=rate, parts=parted)
        row |= {
            "support": "bounds",
            "support_reason": why,
            "rate_per_week": None,
            "rate_lower": got.unique_lower,
            "rate_upper": None,
            "half_life_weeks": None,
            "half_life_days": None,
        }
    if not rows:
        return decay
    return rows_table(rows)


def from_offices(row: Mapping[str, Any]) -> bool:
    """Whether a decay row is `bounds` because its host estimates hold networks that keep
    office hours (check_decay's OFFICE_REASON), not because they fall too slowly."""
    return _bounds_for(row, OFFICE_REASON)


def from_parts(row: Mapping[str, Any]) -> bool:
    """Whether a decay row is `bounds` because most of its networks fail the address check
    one by one (check_decay's PARTS_REASON, cleanup.network_check)."""
    return _bounds_for(row, PARTS_REASON)


def _bounds_for(row: Mapping[str, Any], template: str) -> bool:
    """Whether a decay row is `bounds` with a reason made from `template`."""
    head = template.split("{", 1)[0]
    return row.get("support") == "bounds" and str(row.get("support_reason") or "").startswith(head)


def bounded_share(row: Mapping[str, Any], day: int) -> tuple[float, float]:
    """Bounds on the share still infected after `day` days from a decay row whose support is
    `bounds`: (0, exp(-rate_lower day / 7)) capped at 1; (0, 1) without a lower rate."""
    lower = row.get("rate_lower")
    if lower is None or not math.isfinite(lower):
        return 0.0, 1.0
    return 0.0, min(1.0, math.exp(-lower * day / 7.0))


def overall(decay: pa.Table) -> Mapping[str, Any] | None:
    """The overall row (group None) of a checked decay table, if any."""
    return next((r for r in decay.to_pylist() if r.get("group") is None), None)

"""Per (country, ASN) group and day: the sufficient statistics of the host estimate.

One pass over a window's address-days (hosts.features.AddressDays) with the bots' check-in
timer. Nothing here decides which networks are stable or how many hosts there are;
hosts.reference and hosts.model do that from these sums over the whole query. Counted:

- address-days, and those that carry several hosts (more check-ins than one timer sends in
  the span: hits > span / tau + 1 by 2 or more, and 25% more), with their concurrency;
- handovers (hosts.handover): one host moving to a new address while online;
- address-days that start at midnight (a session carried over), those of them with a gap
  (a second session later that day on the same address), and those online all day;
- for the stability of a network: new sessions and those returning on an address seen in
  the LOOK days before; new addresses and those still seen LONG_LIVED days later; of the
  addresses that last, the days seen against the days from first to last (occupancy);
- time online;
- per address of the window (group_week): days seen and span.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from botcensus.measure.hosts.features import DAY_S, LOOK, AddressDays, Timer
from botcensus.measure.hosts.handover import handovers
from botcensus.measure.hosts.nat import merge_odds

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

LONG_LIVED: Final = 8
"""Days an address must last to count as long-lived: longer than weekly renumbering."""
MULTI_RATIO: Final = 1.25
MULTI_EXCESS: Final = 2.0
GAP_INTERVALS: Final = 2.5
"""A single-host address-day whose span exceeds its check-ins by this many intervals has a gap."""


@dataclass(frozen=True)
class Multi:
    """Address-days that hold several hosts: group, day, online time and concurrency."""

    group: I64
    day: I64
    online: F64
    """hits * tau: the hosts' summed time online that day."""
    concurrency: F64
    """online / (span + tau): at least 1.25."""


@dataclass(frozen=True)
class GroupDays:
    """Sums per (group, day) of one window: arrays of shape (groups, days)."""

    days: I64
    rows: F64
    single: F64
    handovers: F64
    """Estimated handovers: one host moving to a new address while online."""
    handovers_var: F64
    full_days: F64
    """Single-host address-days online from midnight to midnight without a break."""
    full_exposure: F64
    """Days online on address-days that run from midnight to midnight (breaks allowed):
    the time in which a renumbering shows as a handover from such a day's address."""
    full_splits: F64
    """Handovers from an address running since midnight to one running to midnight."""
    early: F64
    """Single-host address-days that start within the margin after midnight."""
    early_gap: F64
    """Those of them with a gap: a second session the same day on the same address."""
    split_days: F64
    """Single-host-looking address-days that do not start at midnight yet hold two sessions
    with a gap between: two hosts one after the other (a household whose machines were not
    online together)."""
    templates: F64
    """Single-host address-days without a gap (templates of one host's day, hosts.nat)."""
    merge_odds: F64
    """Shape (groups, 3), not per day: hosts.nat.merge_odds of the templates."""
    new_sessions: F64
    returning: F64
    online: F64
    """Summed hits * tau of single-host address-days."""
    online_sq: F64
    """Summed squares of the same (for the spread of time online per day)."""
    online_all: F64
    """Summed hits * tau of every address-day (several hosts included)."""
    multi_hosts: F64
    """Hosts on multi-host address-days by their concurrency (at least 2 each)."""
    new_addresses: F64
    """Addresses first seen that day (and LOOK days into the data, 2 x LONG_LIVED before
    its end); below, those of them still seen LONG_LIVED days or more later."""
    long_lived: F64
    hits: F64
    """Rows (check-ins, or hours in reports of one row per address and hour), summed over
    address-days: a line renumbered while online shares its day's rows between two
    address-days (hosts.split)."""
    lasting: F64
    """Addresses first seen that day (in the data) that live LONG_LIVED days or more; below,
    the days they are seen, and the days from their first to their last."""
    occupied: F64
    lifespan: F64
    fresh: F64
    """Of the same addresses: days that start a session of their own; below, those of them
    that follow a day the address was seen (features.address_lifetimes)."""
    next_day: F64


@dataclass(frozen=True)
class GroupWeek:
    """Per group, over the window: single-host addresses (not several hosts on any day)."""

    addresses: F64
    address_days: F64
    address_days_sq: F64
    """Sum of squared days per address (for the spread of days active)."""
    span: F64
    """Summed time from an address's first to its last check-in in the window (seconds)."""


def several_hosts(first: F64, last: F64, hits: F64, tau: float) -> tuple[B, F64]:
    """Address-days with several hosts behind the address, and every row's concurrency."""
    span = np.maximum(last - first, 0.0)
    concurrency = hits * tau / (span + tau)
    excess = hits - span / tau - 1.0
    return (concurrency > MULTI_RATIO) & (excess >= MULTI_EXCESS), concurrency


def _flag(first: F64, last: F64, hits: F64, *, tau: float) -> B:
    return several_hosts(first, last, hits, tau)[0]


def multi_mask(a: AddressDays, tau: float) -> tuple[B, F64]:
    """several_hosts of an AddressDays."""
    return several_hosts(a.first, a.last, a.hits, tau)


def group_days(
    a: AddressDays, timer: Timer | None, days: I64, data: tuple[int, int]
) -> tuple[GroupDays, Multi]:
    """The window's (group, day) sums and its several-host address-days; `data`: the first
    and last day of the data (day numbers). Without a timer (feeds whose times are report
    times) only counts, returns and lifetimes."""
    n_groups, n_days = len(a.groups), len(days)
    # `days` are the window's days with data, not always consecutive (a feed that reports
    # on alternate days): a row's column is its day's place among them.
    cell = a.group * n_days + np.searchsorted(days, a.day)
    size = n_groups * n_days

    def total(weights: npt.ArrayLike) -> F64:
        w = np.broadcast_to(np.asarray(weights, np.float64), cell.shape)
        counts = np.bincount(cell, weights=w, minlength=size).astype(np.float64)
        return counts.reshape(n_groups, n_days)

    timed = timer is not None
    t = timer.interval if timer is not None else 1.0
    margin = timer.interval + timer.jitter if timer is not None else 0.0
    none = np.zeros(len(a), bool)
    multi, concurrency = multi_mask(a, t) if timed else (none, np.ones(len(a)))
    single = ~multi
    early = (a.first < margin) if timed else none
    late = a.last > DAY_S - margin
    span = a.last - a.first
    gap = single & (span - (a.hits - 1.0) * t > GAP_INTERVALS * t) & timed

    moves = moves_var = full_splits = np.zeros(len(a))
    if timer is not None:
        starts, ends = ~early & ~a.before, ~late & ~a.after
        # A host online all day that moves (from an address running since midnight to one
        # running to midnight) is counted apart, by shape (hosts.model): it moves where
        # sessions crowd, as when a line renumbers at local midnight, and the timing test
        # cannot tell it from chance there.
        part, part_var = handovers(a, cell, timer, starts & ~late, ends)
        rest, rest_var = handovers(a, cell, timer, starts & late, ends & ~early)
        # A new address that carries several hosts took over all of them.
        hosts = np.where(multi, np.maximum(2.0, concurrency), 1.0)
        moves, moves_var = (part + rest) * hosts, (part_var + rest_var) * hosts**2
        # On stable networks, the same shapes measure how often lines renumber: few other
        # address-days have them, so chance hardly blurs the count.
        full_splits, _ = handovers(a, cell, timer, starts & late, ends & early)
    fresh = single & ~a.carried
    template = single & ~gap & timed
    odds = np.zeros((len(a.groups), 3))
    if timer is not None:
        test = functools.partial(_flag, tau=t)
        odds = merge_odds(a, template, t, test, GAP_INTERVALS, margin)
    # Addresses first seen here, late enough to be new and early enough to be followed.
    newborn = (a.day == a.born) & (a.born >= data[0] + LOOK) & (a.born <= data[1] - 2 * LONG_LIVED)
    # Each address that lasts, once (on its first day): how much of its life it is used.
    lasting = (a.day == a.born) & (a.dies - a.born >= LONG_LIVED)
    sums = GroupDays(
        days=days,
        rows=total(1.0),
        single=total(single),
        handovers=total(moves),
        handovers_var=total(moves_var),
        full_days=total(single & early & late & ~gap),
        full_exposure=total(np.where(single & early & late, a.hits * t / DAY_S, 0.0)),
        full_splits=total(full_splits),
        early=total(single & early),
        early_gap=total(single & early & gap),
        split_days=total(single & ~early & gap),
        templates=total(template),
        merge_odds=odds,
        new_sessions=total(fresh),
        returning=total(fresh & a.before),
        online=total(np.where(single & timed, a.hits * t, 0.0)),
        online_sq=total(np.where(single & timed, (a.hits * t) ** 2, 0.0)),
        online_all=total(a.hits * t if timed else 0.0),
        multi_hosts=total(np.where(multi, np.maximum(2.0, concurrency), 0.0)),
        new_addresses=total(newborn),
        long_lived=total(newborn & (a.dies - a.born >= LONG_LIVED)),
        hits=total(a.hits),
        lasting=total(lasting),
        occupied=total(np.where(lasting, a.seen, 0)),
        lifespan=total(np.where(lasting, a.dies - a.born + 1, 0)),
        fresh=total(np.where(lasting, a.fresh, 0)),
        next_day=total(np.where(lasting, a.next_day, 0)),
    )
    m = Multi(a.group[multi], a.day[multi], a.hits[multi] * t, concurrency[multi])
    return sums, m


def single_host_addresses(a: AddressDays, tau: float) -> AddressDays:
    """The address-days of addresses that never look like several hosts in the window."""
    multi, _ = multi_mask(a, tau)
    return a.take(~np.isin(a.ip, a.ip[multi]))


def group_week(a: AddressDays, n_groups: int) -> GroupWeek:
    """Per group: the window's addresses (pass single_host_addresses), days seen, spans."""
    order = np.lexsort((a.day, a.ip))
    ip, day, group = a.ip[order], a.day[order], a.group[order]
    head = np.flatnonzero(np.concatenate([[True], ip[1:] != ip[:-1]])) if len(ip) else a.day[:0]
    days_seen = np.diff(np.append(head, len(ip))).astype(np.float64)
    t_first = day[head] * DAY_S + a.first[order][head]
    last_row = np.append(head[1:], len(ip))[: len(head)] - 1  # none where no address-days
    t_last = day[last_row] * DAY_S + a.last[order][last_row]
    g = group[head]
    return GroupWeek(
        addresses=np.bincount(g, minlength=n_groups).astype(np.float64),
        address_days=np.bincount(g, weights=days_seen, minlength=n_groups).astype(np.float64),
        address_days_sq=np.bincount(g, weights=days_seen**2, minlength=n_groups).astype(np.float64),
        span=np.bincount(g, weights=t_last - t_first, minlength=n_groups).astype(np.float64),
    )

"""Address leases per line: when each line's public address changes, and to what."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .checkins import _expand
from .networks import DAY
from .params import POLICIES, Params
from .population import Population
from .usage import Sessions, merge

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
KEY = 1 << 33
"""Line multiplier of a (line, second) lookup key; seconds stay below 2**33."""


@dataclass(frozen=True)
class Leases:
    """Sorted by (line, start): the line's IPv4 address (and IPv6 /64 prefix) from `start`."""

    line: I64
    start: I64
    v4: I64
    v6_prefix: I64
    """-1 where the line has no IPv6."""

    def find(self, line: I64, t: I64) -> I64:
        """Index of the lease a line holds at time t."""
        keys = self.line * KEY + self.start
        return np.searchsorted(keys, line * KEY + t, side="right") - 1


def _poisson_events(
    rng: np.random.Generator, lines: I64, rate: F64, horizon: float
) -> tuple[I64, F64]:
    counts = rng.poisson(rate * horizon)
    owner = np.repeat(lines, counts)
    return owner, rng.uniform(0.0, horizon, len(owner))


def online_spans(pop: Population, sessions: Sessions) -> tuple[I64, F64]:
    """(line, start) of each period a line is online: the union of its machines' sessions,
    periods closer than the network's reconnect gap joined."""
    spans = merge(pop.m_line[sessions.machine], sessions.start, sessions.end)
    gap = pop.net.gap_s[pop.line_net[spans.machine]]
    new = np.ones(len(spans.machine), dtype=bool)
    same = spans.machine[1:] == spans.machine[:-1]
    new[1:] = ~same | (spans.start[1:] - spans.end[:-1] >= gap[1:])
    return spans.machine[new], spans.start[new]


def _periodic(pop: Population, rng: np.random.Generator, lines: I64, horizon: float,
              reboot_line: I64, reboot_at: F64) -> tuple[I64, F64]:  # fmt: skip
    """Renumbering every `period` from the line's connect time, restarted by reboots; night
    networks renumber at a fixed local time in 01:00-05:00 instead."""
    net = pop.line_net[lines]
    period = pop.net.period_s[net]
    night = pop.net.night[net]
    phase = np.where(
        night,
        3600.0 + pop.line_phase[lines] / DAY * 4 * 3600.0 - pop.net.utc_offset[net],
        pop.line_phase[lines],
    )
    days = np.maximum(period // DAY, 1).astype(np.int64)
    phase = phase + DAY * rng.integers(0, days)  # weekly renumbering: on any weekday
    # Segments: from a virtual connect before the window, and from each reboot.
    is_reboot = np.isin(reboot_line, lines[~night])
    seg_line = np.concatenate([lines, reboot_line[is_reboot]])
    seg_start = np.concatenate([np.mod(phase, period) - period, reboot_at[is_reboot]])
    order = np.lexsort((seg_start, seg_line))
    seg_line, seg_start = seg_line[order], seg_start[order]
    seg_end = np.full(len(seg_line), horizon)
    same = seg_line[1:] == seg_line[:-1]
    seg_end[:-1] = np.where(same, seg_start[1:], horizon)
    p = pop.net.period_s[pop.line_net[seg_line]]
    n = np.floor((seg_end - seg_start) / p).astype(np.int64)
    owner, k = _expand(np.ones(len(n), dtype=np.int64), n + 1)
    times = seg_start[owner] + k * p[owner]
    return seg_line[owner], times


def draw_leases(
    params: Params, pop: Population, sessions: Sessions, rng: np.random.Generator
) -> Leases:
    """Lease boundaries by policy (static: rare renumbering; sticky: long DHCP leases;
    periodic: forced reconnects; session: each reconnect; cgn: each reconnect plus remaps)."""
    horizon = params.days * DAY
    n_lines = len(pop.line_net)
    lines = np.arange(n_lines)
    policy = pop.net.policy[pop.line_net]
    net = pop.line_net
    parts_line = [lines]
    parts_t = [np.zeros(n_lines)]

    def add(owner: I64, t: F64) -> None:
        parts_line.append(owner)
        parts_t.append(t)

    by = {name: lines[policy == POLICIES.index(name)] for name in POLICIES}
    add(*_poisson_events(rng, by["static"], pop.net.static_rate[net[by["static"]]], horizon))
    add(*_poisson_events(rng, by["sticky"], pop.net.sticky_rate[net[by["sticky"]]], horizon))
    rebooting = np.concatenate([by["periodic"], by["cgn"]])
    r_line, r_at = _poisson_events(rng, rebooting, pop.net.reboot_rate[net[rebooting]], horizon)
    add(r_line, r_at)
    if len(by["periodic"]):
        add(*_periodic(pop, rng, by["periodic"], horizon, r_line, r_at))
    span_line, span_start = online_spans(pop, sessions)
    reconnect = np.isin(span_line, np.concatenate([by["session"], by["cgn"]]))
    add(span_line[reconnect], span_start[reconnect])
    add(*_poisson_events(rng, by["cgn"], pop.net.remap_rate[net[by["cgn"]]], horizon))

    line = np.concatenate(parts_line)
    start = np.floor(np.concatenate(parts_t)).astype(np.int64)
    keep = (start >= 0) & (start < horizon)
    line, start = line[keep], start[keep]
    keys = np.unique(line * KEY + start)
    line, start = keys // KEY, keys % KEY
    v4 = np.zeros(len(line), dtype=np.int64)
    v6 = np.full(len(line), -1, dtype=np.int64)
    lease_net = pop.line_net[line]
    for i in range(len(pop.net)):
        idx = np.flatnonzero(lease_net == i)
        if not len(idx):
            continue
        v4[idx] = pop.net.pool[i].draw_v4(rng, len(idx))
        space6 = pop.net.v6[i]
        with_v6 = idx[pop.line_v6[line[idx]]]
        if space6 is not None and len(with_v6):
            v6[with_v6] = space6.draw(rng, len(with_v6))
    return Leases(line, start, v4, v6)

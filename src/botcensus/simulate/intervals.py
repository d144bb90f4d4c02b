"""Ground truth address intervals: which address each infected host held, from when to when."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from botcensus.ipaddr import ipv4_from_int as ipv4_strings

from .addresses import AddressSpace
from .population import DAY_US, Population
from .sessions import PERIODIC, address, candidates, epoch_at, next_change

INTERVAL_SCHEMA = pa.schema(
    [
        pa.field("host_id", pa.int64(), nullable=False),
        pa.field("source_ip", pa.string(), nullable=False),
        pa.field("valid_from", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("valid_to", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""[valid_from, valid_to): the host had the address and was infected. Periodic lines hold an
address whether or not the host is online; session and pool lines only during a session."""


def day_intervals(
    pop: Population, space: AddressSpace, seed: int, day: int, first: bool = False
) -> pa.RecordBatch:
    """Intervals that begin on UTC day `day`, for bots; on the `first` day of a run also those
    in progress at its start, clipped to begin there."""
    lo, hi = day * DAY_US, (day + 1) * DAY_US
    ep = pop.episodes
    n = pop.n_bots
    sel = np.flatnonzero((ep.host < n) & (ep.start_us < hi) & (ep.end_us > lo))
    host, e_start, e_end = ep.host[sel], ep.start_us[sel], ep.end_us[sel]
    line = pop.hosts.line[host]
    periodic = pop.lines.mode[line] == PERIODIC
    # Periodic lines: the epoch the infection starts in if it starts today (on the first day:
    # the epoch in progress), then an epoch that starts later today while infected.
    starts_today = periodic & ((e_start >= lo) | first)
    change = next_change(pop, line, np.maximum(e_start, lo - 1))
    renumbered = periodic & (change < hi) & (change > e_start) & (change < e_end)
    renumbered &= ~(starts_today & (change <= np.maximum(e_start, lo)))
    a_host = np.concatenate([host[starts_today], host[renumbered]])
    a_from = np.concatenate([np.maximum(e_start, lo)[starts_today], change[renumbered]])
    a_end = np.concatenate([e_end[starts_today], e_end[renumbered]])
    a_line = pop.hosts.line[a_host]
    a_to = np.minimum(next_change(pop, a_line, a_from), a_end)
    a_ip = address(pop, space, seed, a_line, epoch_at(pop, a_line, a_from, a_from))
    # Session and pool lines: each session (clipped to the infection) that starts today.
    s = candidates(pop, seed, day)
    s_line = pop.hosts.line[s.host]
    s_from = np.maximum(np.maximum(s.start, s.ep_start), lo if first else 0)
    s_to = np.minimum(s.end, s.ep_end)
    keep = (
        (s.host < n)
        & (pop.lines.mode[s_line] != PERIODIC)
        & (s_from >= lo)
        & (s_from < hi)
        & (s_from < s_to)
    )
    s_ip = address(pop, space, seed, s_line[keep], s.day[keep])
    host_all = np.concatenate([a_host, s.host[keep]])
    order = np.lexsort((host_all, np.concatenate([a_from, s_from[keep]])))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(host_all[order], pa.int64()),
            ipv4_strings(np.concatenate([a_ip, s_ip])[order]),
            pa.array(np.concatenate([a_from, s_from[keep]])[order], INTERVAL_SCHEMA[2].type),
            pa.array(np.concatenate([a_to, s_to[keep]])[order], INTERVAL_SCHEMA[3].type),
        ],
        schema=INTERVAL_SCHEMA,
    )


def interval_batches(
    pop: Population, space: AddressSpace, seed: int, days: range
) -> Iterator[pa.RecordBatch]:
    """One batch per simulated day, in order of valid_from."""
    for day in days:
        yield day_intervals(pop, space, seed, day, first=day == days[0])

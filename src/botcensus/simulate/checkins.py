"""The enumerating path: every check-in of a day, in time order, as request rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from botcensus.ipaddr import ipv4_from_int as ipv4_strings

from .addresses import AddressSpace
from .population import DAY_US, Population
from .sessions import address, candidates, checkin_time, epoch_at

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

CHECKIN_SCHEMA = pa.schema(
    [
        pa.field("time_us", pa.int64(), nullable=False),
        pa.field("source_ip", pa.string(), nullable=False),
        pa.field("family", pa.string(), nullable=False),
        pa.field("user_agent", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
    ]
)
"""One simulated request: microseconds since the epoch (UTC), source address, the family it
belongs to ('' for noise), and its User-Agent and path."""


@dataclass(frozen=True)
class DayCheckins:
    """Every check-in of one UTC day, sorted by (time, address, host)."""

    time: I64
    ip: U32
    host: I64


def day_checkins(pop: Population, space: AddressSpace, seed: int, day: int) -> DayCheckins:
    """Enumerate check-in k = 0..n-1 of every candidate session and keep those on the day and
    within the infection; the address is looked up at each check-in's own time."""
    s = candidates(pop, seed, day)
    session = np.repeat(np.arange(len(s.n), dtype=np.int64), s.n)
    k = np.arange(len(session), dtype=np.int64) - np.repeat(np.cumsum(s.n) - s.n, s.n)
    t = checkin_time(s, k, session)
    keep = (
        (t >= day * DAY_US)
        & (t < (day + 1) * DAY_US)
        & (t >= s.ep_start[session])
        & (t < s.ep_end[session])
    )
    t, session = t[keep], session[keep]
    host = s.host[session]
    line = pop.hosts.line[host]
    ip = address(pop, space, seed, line, epoch_at(pop, line, t, s.day[session]))
    order = np.lexsort((host, ip, t))
    return DayCheckins(time=t[order], ip=ip[order], host=host[order])


def checkin_batches(
    pop: Population, space: AddressSpace, seed: int, days: range, family: str, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    """CHECKIN_SCHEMA batches of at most chunk_rows, in time order, one day in memory at once."""
    fam = pa.array([family, ""], pa.string())
    agents = pa.array([ua for ua, _ in pop.profiles], pa.string())
    paths = pa.array([p for _, p in pop.profiles], pa.string())
    for day in days:
        c = day_checkins(pop, space, seed, day)
        for lo in range(0, len(c.time), chunk_rows):
            host = c.host[lo : lo + chunk_rows]
            profile = pa.array(pop.hosts.profile[host])
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(c.time[lo : lo + chunk_rows], pa.int64()),
                    ipv4_strings(c.ip[lo : lo + chunk_rows]),
                    fam.take(pa.array(pop.hosts.family[host].astype(np.int64))),
                    agents.take(profile),
                    paths.take(profile),
                ],
                schema=CHECKIN_SCHEMA,
            )

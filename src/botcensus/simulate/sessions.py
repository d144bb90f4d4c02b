"""Daily online sessions, check-in times and line addresses, hashed from (host, local day)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .addresses import AddressSpace
from .hashing import Stream, below, hash_keys, step, unit
from .population import DAY_US, HOUR_US, MODES, Population

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

PERIODIC = MODES.index("periodic")
POOL = MODES.index("pool")
NEVER = np.int64(2**62)
"""A time after every simulated one: the next address change of a line that has none."""


@dataclass(frozen=True)
class Sessions:
    """Online sessions that belong to infection episodes; check-in k is at
    start + k * interval + jitter(key, k), for k in [0, n)."""

    episode: I64
    host: I64
    day: I64
    """Local day number of the session."""
    start: I64
    end: I64
    n: I64
    interval: I64
    jitter: I64
    key: U64
    ep_start: I64
    ep_end: I64


def candidates(pop: Population, seed: int, day: int) -> Sessions:
    """Sessions that may have check-ins on UTC day `day`: those of local days day-1..day+1 of
    hosts with an infection episode overlapping the day (offline days dropped)."""
    lo, hi = day * DAY_US, (day + 1) * DAY_US
    ep = pop.episodes
    sel = np.flatnonzero((ep.start_us < hi) & (ep.end_us > lo))
    host = ep.host[sel]
    h = pop.hosts
    off, jit = h.offset_us[host], h.jitter_us[host]
    cand_ep = np.repeat(sel, 3)
    cand_day = np.tile(np.array([day - 1, day, day + 1], np.int64), len(sel))
    local0 = cand_day * DAY_US - np.repeat(off, 3)
    # A local day reaches the UTC day only if [midnight, next midnight + jitter) overlaps it.
    keep = (local0 < hi) & (local0 + DAY_US + np.repeat(jit, 3) > lo)
    return sessions(pop, seed, cand_ep[keep], cand_day[keep])


def sessions(pop: Population, seed: int, episode: I64, day: I64) -> Sessions:
    """The session of each (episode's host, local day), keeping only online ones."""
    h = pop.hosts
    host = pop.episodes.host[episode]
    online = h.always_on[host] | (
        unit(hash_keys(seed, Stream.ONLINE, host, day)) < h.p_online[host]
    )
    episode, day, host = episode[online], day[online], host[online]
    always = h.always_on[host]
    wobble = 2.0 * unit(hash_keys(seed, Stream.START, host, day)) - 1.0
    start_h = np.where(always, 0.0, (h.start_pref_h[host] + wobble * h.start_daily_h[host]) % 24)
    stretch = 0.25 + 1.5 * unit(hash_keys(seed, Stream.DURATION, host, day))
    hours = np.where(always, 24.0, h.session_h[host] * stretch)
    midnight = day * DAY_US - h.offset_us[host]
    start = midnight + (start_h * HOUR_US).astype(np.int64)
    end = np.minimum(start + (hours * HOUR_US).astype(np.int64), midnight + DAY_US)
    interval = h.interval_us[host]
    n = np.maximum(-((start - end) // interval), 0)
    some = n > 0
    return Sessions(
        episode=episode[some],
        host=host[some],
        day=day[some],
        start=start[some],
        end=end[some],
        n=n[some],
        interval=interval[some],
        jitter=h.jitter_us[host][some],
        key=hash_keys(seed, Stream.JITTER, host[some], day[some]),
        ep_start=pop.episodes.start_us[episode[some]],
        ep_end=pop.episodes.end_us[episode[some]],
    )


def checkin_time(s: Sessions, k: I64, idx: I64 | None = None) -> I64:
    """Time of check-in k of sessions (all of them, or those at `idx`)."""
    if idx is None:
        start, interval, jitter, key = s.start, s.interval, s.jitter, s.key
    else:
        start, interval, jitter, key = s.start[idx], s.interval[idx], s.jitter[idx], s.key[idx]
    delay = (unit(step(key, k)) * jitter).astype(np.int64)
    return start + k * interval + delay


def epoch_at(pop: Population, line: I64, t: I64, day: I64) -> I64:
    """A line's address epoch at time t: its period number, or the session's local day."""
    ln = pop.lines
    periodic = ln.mode[line] == PERIODIC
    period = np.where(periodic, ln.period_us[line], 1)
    return np.where(periodic, (t + ln.phase_us[line]) // period, day)


def next_change(pop: Population, line: I64, t: I64) -> I64:
    """The first address change of a line strictly after t (NEVER for session and pool lines,
    which change only between sessions)."""
    ln = pop.lines
    periodic = ln.mode[line] == PERIODIC
    period = np.where(periodic, ln.period_us[line], 1)
    change = ((t + ln.phase_us[line]) // period + 1) * period - ln.phase_us[line]
    return np.where(periodic, change, NEVER)


def address(pop: Population, space: AddressSpace, seed: int, line: I64, epoch: I64) -> U32:
    """The address a line holds in an epoch: hashed into its ASN's ranges, or for pool lines
    a hashed slot of the ASN's shared pool."""
    group = pop.lines.group[line]
    pos = hash_keys(seed, Stream.ADDRESS, line, epoch)
    pool = pop.lines.mode[line] == POOL
    if pool.any():
        slot = below(hash_keys(seed, Stream.POOL_SLOT, line, epoch), pop.pool_size[group])
        shared = hash_keys(seed, Stream.POOL_ADDRESS, group, slot.astype(np.int64))
        pos = np.where(pool, shared, pos)
    return space.address(group, pos)

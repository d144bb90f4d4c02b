"""Check-ins: when each infected, running machine contacts the sinkhole."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .infection import Episodes
from .networks import DAY
from .params import TIMER_KINDS, Params
from .population import Population
from .usage import Sessions

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CheckIns:
    """One row per connection to the sinkhole (before outages): machine, time (s), session."""

    machine: I64
    time: I64
    session: I64
    """Index into Sessions (a new session means a new IPv6 temporary address)."""


def _expand(lo: I64, hi: I64) -> tuple[I64, I64]:
    """(owner, index) pairs for index in [lo[k], hi[k]) for every k, vectorised."""
    counts = hi - lo
    owner = np.repeat(np.arange(len(lo)), counts)
    start = np.cumsum(counts) - counts
    return owner, lo[owner] + np.arange(counts.sum()) - start[owner]


def infected_sessions(sessions: Sessions, ep: Episodes) -> tuple[I64, F64, F64, I64]:
    """Parts of running sessions inside infection episodes: machine, start, end, session."""
    lo = np.searchsorted(sessions.machine, ep.machine, side="left")
    hi = np.searchsorted(sessions.machine, ep.machine, side="right")
    owner, idx = _expand(lo, hi)
    s = np.maximum(sessions.start[idx], ep.start[owner])
    e = np.minimum(sessions.end[idx], ep.end[owner])
    keep = e > s
    return sessions.machine[idx][keep], s[keep], e[keep], idx[keep]


def _timer(rng: np.random.Generator, first: F64, end: F64, period: F64, jitter: F64,
           normal: bool) -> tuple[I64, F64]:  # fmt: skip
    """Times after `first` (excluded) up to `end`, steps of period x (1 + jitter noise)."""
    owners, times = [], []
    pending = np.arange(len(first))
    cursor = first.copy()
    while len(pending):
        expect = np.ceil((end[pending] - cursor[pending]) / period[pending])
        n = (expect + np.ceil(3 * np.sqrt(expect) * jitter[pending]) + 2).astype(np.int64)
        owner = np.repeat(pending, n)
        if normal:
            factor = np.maximum(1.0 + jitter[owner] * rng.standard_normal(len(owner)), 0.25)
        else:
            factor = 1.0 + jitter[owner] * rng.uniform(-1.0, 1.0, len(owner))
        csum = np.cumsum(period[owner] * factor)
        seg_start = np.cumsum(n) - n
        before = np.where(seg_start > 0, csum[seg_start - 1], 0.0)
        t = cursor[owner] + csum - np.repeat(before, n)
        keep = t < end[owner]
        owners.append(owner[keep])
        times.append(t[keep])
        last = t[seg_start + n - 1]
        more = last < end[pending]
        cursor[pending[more]] = last[more]
        pending = pending[more]
    return np.concatenate(owners), np.concatenate(times)


def draw_checkins(
    params: Params, pop: Population, sessions: Sessions, ep: Episodes, rng: np.random.Generator
) -> CheckIns:
    """Timer bots: a check-in soon after start, then on a jittered, drifting timer; bots
    without timer: Poisson; boot bots: once per session; then retries and losses."""
    timers = params.timers
    m, s, e, sess = infected_sessions(sessions, ep)
    kind = pop.m_kind[m]
    boot = s + rng.uniform(5.0, 120.0, len(m))
    owners: list[I64] = []
    times: list[F64] = []
    on_start = (kind != TIMER_KINDS.index("poisson")) & (boot < e)
    owners.append(np.flatnonzero(on_start))
    times.append(boot[on_start])

    tm = np.flatnonzero((kind == TIMER_KINDS.index("timer")) & (boot < e))
    walk = rng.normal(0.0, timers.drift_per_day, (pop.n_machines, params.days + 1))
    drift = np.clip(np.exp(np.cumsum(walk, axis=1)), 0.5, 2.0)
    day = np.clip((s[tm] // DAY).astype(np.int64), 0, params.days)
    period = pop.m_period[m[tm]] * drift[m[tm], day]
    o, t = _timer(rng, boot[tm], e[tm], period, pop.m_jitter[m[tm]], timers.jitter_normal)
    owners.append(tm[o])
    times.append(t)

    pm = np.flatnonzero(kind == TIMER_KINDS.index("poisson"))
    counts = rng.poisson(pop.m_rate[m[pm]] * (e[pm] - s[pm]))
    owner = np.repeat(pm, counts)
    owners.append(owner)
    times.append(rng.uniform(s[owner], e[owner]))

    row = np.concatenate(owners)
    time = np.concatenate(times)
    retry = pop.m_retry[m[row]]
    n_retry = np.where(retry, np.minimum(rng.poisson(timers.retry_mean, len(row)), 3), 0)
    base = np.repeat(np.arange(len(row)), n_retry)
    gaps = rng.uniform(5.0, 60.0, len(base))
    # The k-th retry follows the check-in after the first k gaps drawn for it.
    later = time[base] + np.cumsum(gaps) - np.repeat(_seg_first_cumsum(gaps, n_retry), n_retry)
    row = np.concatenate([row, row[base]])
    time = np.concatenate([time, later])
    keep = (time < e[row]) & (rng.random(len(row)) >= timers.loss)
    row, time = row[keep], time[keep]
    order = np.argsort(time, kind="stable")
    return CheckIns(m[row][order], np.floor(time[order]).astype(np.int64), sess[row][order])


def _seg_first_cumsum(values: F64, counts: I64) -> F64:
    """For each segment, the cumulative sum of `values` before the segment starts."""
    csum = np.cumsum(values)
    start = np.cumsum(counts) - counts
    nonempty = counts > 0
    out = np.zeros(len(counts))
    idx = start[nonempty]
    out[nonempty] = np.where(idx > 0, csum[np.maximum(idx - 1, 0)], 0.0)
    return out

"""Power-on sessions: when each machine is running, from its usage profile and local time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .networks import DAY
from .params import USAGES, Params
from .population import Population

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
HOUR = 3600.0
# Local start hour of a home session: morning, daytime, evening (mean, sd, weight).
_DIURNAL = ((7.5, 1.0, 0.2), (13.0, 2.5, 0.3), (20.0, 1.5, 0.5))


@dataclass(frozen=True)
class Sessions:
    """Disjoint running periods per machine, sorted by (machine, start), inside the window."""

    machine: I64
    start: F64
    end: F64


def running_max(values: F64, first: npt.NDArray[np.bool_]) -> F64:
    """Running maximum of `values` that starts afresh at each row where `first` is true
    (a segmented cummax): exact, since it only compares values. Doubling steps: after the
    step of width w each row holds the maximum of its segment's last 2w rows, so it takes
    log2 of the longest segment's length steps."""
    out = values.copy()
    segment = np.cumsum(first)
    longest = int(np.max(np.bincount(segment))) if len(values) else 0
    width = 1
    while width < longest:
        same = segment[width:] == segment[:-width]
        out[width:] = np.where(same, np.maximum(out[width:], out[:-width]), out[width:])
        width *= 2
    return out


def merge(machine: I64, start: F64, end: F64, gap: float = 0.0) -> Sessions:
    """Union of intervals per machine (intervals closer than `gap` are joined): an interval
    starts a new one unless it starts at most `gap` after the running end of its machine's
    intervals before it."""
    if not len(machine):
        return Sessions(machine, start, end)
    order = np.lexsort((start, machine))
    m, s, e = machine[order], start[order], end[order]
    first_row = np.ones(len(m), dtype=bool)
    first_row[1:] = m[1:] != m[:-1]
    reach = running_max(e, first_row)
    new = first_row.copy()
    new[1:] |= s[1:] > reach[:-1] + gap
    first = np.flatnonzero(new)
    return Sessions(m[first], s[first], np.maximum.reduceat(e, first))


def _home(params: Params, pop: Population, rng: np.random.Generator, machines: I64, laptop: bool,
          days: I64, weekday: I64, offset: F64) -> tuple[I64, F64, F64]:  # fmt: skip
    usage = params.usage
    nm, nd = len(machines), len(days)
    m = np.repeat(machines, nd)
    d = np.tile(days, nm)
    wd = np.tile(weekday, nm)
    p_use = np.minimum(pop.m_day_use[m] * np.where(wd >= 5, 1.15, 1.0), 1.0)
    used = rng.random(len(m)) < p_use
    m, d = m[used], d[used]
    first, extra = usage.sessions_per_day
    k = np.minimum(
        int(first) + rng.poisson(extra + (1.0 if laptop else 0.0), len(m)), usage.max_sessions
    )
    m, d = np.repeat(m, k), np.repeat(d, k)
    comp = rng.choice(len(_DIURNAL), len(m), p=[w for _, _, w in _DIURNAL])
    mean = np.asarray([c[0] for c in _DIURNAL])[comp]
    sd = np.asarray([c[1] for c in _DIURNAL])[comp]
    hour = np.clip(rng.normal(mean, sd), 0.0, 23.9)
    median = usage.session_hours * (0.5 if laptop else 1.0)
    length = np.minimum(rng.lognormal(np.log(median * HOUR), 0.8, len(m)), 20 * HOUR)
    start = d * DAY + hour * HOUR - offset[m]
    return m, start, start + length


def _office(pop: Population, rng: np.random.Generator, machines: I64, days: I64,
            weekday: I64, offset: F64) -> tuple[I64, F64, F64]:  # fmt: skip
    nm, nd = len(machines), len(days)
    m = np.repeat(machines, nd)
    d = np.tile(days, nm)
    wd = np.tile(weekday, nm)
    used = rng.random(len(m)) < np.where(wd >= 5, 0.05, 0.95)
    m, d = m[used], d[used]
    start = d * DAY + (8.5 + rng.normal(0, 0.5, len(m))) * HOUR - offset[m]
    end = d * DAY + (17.5 + rng.normal(0, 0.75, len(m))) * HOUR - offset[m]
    return m, start, np.maximum(end, start + HOUR)


def _always_on(params: Params, rng: np.random.Generator, machines: I64,
               horizon: float) -> tuple[I64, F64, F64]:  # fmt: skip
    """Running all the time but for reboots (a gap of 1-10 minutes each)."""
    rate = params.usage.reboots_per_week / (7 * DAY)
    counts = rng.poisson(rate * (horizon + 2 * DAY), len(machines))
    rm = np.repeat(machines, counts)
    at = rng.uniform(-DAY, horizon + DAY, len(rm))
    back = at + rng.uniform(60, 600, len(rm))
    m = np.concatenate([machines, rm])
    begin = np.concatenate([np.full(len(machines), -DAY), back])
    stop = np.concatenate([at, np.full(len(machines), horizon + DAY)])
    m_stop = np.concatenate([rm, machines])
    b_order = np.lexsort((begin, m))
    s_order = np.lexsort((stop, m_stop))
    return m[b_order], begin[b_order], stop[s_order]


def draw_sessions(params: Params, pop: Population, rng: np.random.Generator) -> Sessions:
    """Every machine's running periods over the window (independent of infection)."""
    horizon = params.days * DAY
    days = np.arange(-1, params.days + 1, dtype=np.int64)
    first = dt.date.fromisoformat(params.start).weekday()
    weekday = (first + days) % 7
    offset = pop.net.utc_offset[pop.m_net]
    parts = []
    for name in USAGES:
        machines = np.flatnonzero(pop.m_usage == USAGES.index(name))
        if not len(machines):
            continue
        if name == "always_on":
            parts.append(_always_on(params, rng, machines, horizon))
        elif name == "office":
            parts.append(_office(pop, rng, machines, days, weekday, offset))
        else:
            laptop = name == "laptop"
            parts.append(_home(params, pop, rng, machines, laptop, days, weekday, offset))
    m = np.concatenate([p[0] for p in parts])
    s = np.clip(np.concatenate([p[1] for p in parts]), 0.0, horizon)
    e = np.clip(np.concatenate([p[2] for p in parts]), 0.0, horizon)
    keep = e > s
    return merge(m[keep], s[keep], e[keep])

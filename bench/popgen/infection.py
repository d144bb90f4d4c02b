"""Infection episodes: when each machine was infected, cleaned up and reinfected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .networks import DAY
from .params import Params
from .population import Population

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Episodes:
    """One row per infection episode; `end` is the latent clean-up time (may lie past the
    window; inf for a hazard of 0). Times in seconds from the window's start."""

    machine: I64
    number: I64
    start: F64
    end: F64


def notify_time(params: Params, pop: Population) -> F64:
    """Per machine: when its ASN was told (inf if never)."""
    told = np.asarray([pop.asn_notified[int(a)] for a in pop.net.asn[pop.m_net]], dtype=bool)
    return np.where(told, params.notify.day * DAY, np.inf)


def _cleanup(rng: np.random.Generator, begin: F64, rate: F64, tn: F64, mult: float) -> F64:
    """Invert the cumulative hazard: `rate` from `begin`, `rate * mult` from `tn`."""
    e = rng.exponential(1.0, len(begin))
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(tn > begin, rate * (tn - begin), 0.0)
        first = begin + e / rate
        later = np.maximum(tn, begin) + (e - before) / (rate * mult)
        out = np.where(e < before, first, later)
    return np.where(rate > 0, out, np.inf)


def draw_episodes(params: Params, pop: Population, rng: np.random.Generator) -> Episodes:
    """First episodes (before the window, or inside it for new infections), then reinfections."""
    clean = params.cleanup
    n = pop.n_machines
    horizon = params.days * DAY
    tn = notify_time(params, pop)
    mult = params.notify.multiplier
    new = rng.random(n) < clean.new_infection_share
    start = np.where(new, rng.uniform(0, horizon, n), -rng.uniform(1, 400, n) * DAY)
    end = _cleanup(rng, np.maximum(start, 0.0), pop.m_hazard, tn, mult)
    machine, number = [np.arange(n)], [np.zeros(n, dtype=np.int64)]
    starts, ends = [start], [end]
    last_m, last_end = np.arange(n), end
    for k in range(1, clean.max_episodes):
        again = (last_end < horizon) & (rng.random(len(last_m)) < clean.reinfection_prob)
        m = last_m[again]
        s = last_end[again] + rng.exponential(clean.reinfection_days * DAY, len(m))
        inside = s < horizon
        m, s = m[inside], s[inside]
        e = _cleanup(rng, s, pop.m_hazard[m], tn[m], mult)
        machine.append(m)
        number.append(np.full(len(m), k, dtype=np.int64))
        starts.append(s)
        ends.append(e)
        last_m, last_end = m, e
    return Episodes(
        np.concatenate(machine),
        np.concatenate(number),
        np.concatenate(starts),
        np.concatenate(ends),
    )

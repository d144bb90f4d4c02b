"""Households (one line each) and their infected machines, with per-machine behaviour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .networks import DAY, Networks, build_networks
from .params import LINE_TYPES, TIMER_KINDS, USAGES, Params

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Population:
    """Lines (= households: the machines behind one address) and machines."""

    net: Networks
    line_net: I64
    line_v6: B
    line_egress: I64
    """Egress addresses of the line (enterprise sites may have several)."""
    line_phase: F64
    """Seconds into the day at which a periodic line renumbers (its connect time)."""
    line_port_block: I64
    m_line: I64
    m_usage: I64
    """Index into USAGES."""
    m_kind: I64
    """Index into TIMER_KINDS."""
    m_period: F64
    """Timer period in seconds (timer bots)."""
    m_jitter: F64
    m_rate: F64
    """Check-ins per second while on (bots without a timer)."""
    m_retry: B
    m_xp: B
    """Windows XP-like ephemeral ports (1025-5000) instead of 49152-65535."""
    m_hazard: F64
    """Clean-up hazard per second before any notification."""
    m_day_use: F64
    m_has_id: B
    asn_notified: Mapping[int, bool]

    @property
    def n_machines(self) -> int:
        return len(self.m_line)

    @property
    def m_net(self) -> I64:
        return self.line_net[self.m_line]


def _pick(rng: np.random.Generator, weights: Mapping[str, float], n: int) -> list[str]:
    names = list(weights)
    p = np.asarray([weights[k] for k in names], dtype=float)
    return [names[i] for i in rng.choice(len(names), n, p=p / p.sum())]


def _loguniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> F64:
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    return np.exp(rng.uniform(lo, hi, n)) if hi > lo else np.full(n, bounds[0])


def build_population(params: Params, rng: np.random.Generator) -> Population:
    """Households drawn country -> ASN -> line type -> size until n_machines machines."""
    n_target = params.n_machines
    cw = np.asarray([c.weight for c in params.countries], dtype=float)
    h_cc = rng.choice(len(cw), n_target, p=cw / cw.sum())
    h_asn = np.zeros(n_target, dtype=np.int64)
    h_type = np.empty(n_target, dtype=object)
    h_size = np.zeros(n_target, dtype=np.int64)
    for ci, country in enumerate(params.countries):
        idx = np.flatnonzero(h_cc == ci)
        aw = np.asarray([a.share for a in country.asns], dtype=float)
        pick = rng.choice(len(aw), len(idx), p=aw / aw.sum())
        for ai, spec in enumerate(country.asns):
            members = idx[pick == ai]
            h_asn[members] = spec.asn
            h_type[members] = _pick(rng, spec.lines, len(members))
    for name, line in params.lines.items():
        members = np.flatnonzero(h_type == name)
        p = np.asarray(line.household, dtype=float)
        h_size[members] = 1 + rng.choice(len(p), len(members), p=p / p.sum())
    cum = np.cumsum(h_size)
    n_lines = int(np.searchsorted(cum, n_target) + 1)
    h_size[n_lines - 1] -= cum[n_lines - 1] - n_target
    h_cc, h_asn, h_type, h_size = (
        h_cc[:n_lines],
        h_asn[:n_lines],
        h_type[:n_lines],
        h_size[:n_lines],
    )

    keys = sorted({(int(c), int(a), str(t)) for c, a, t in zip(h_cc, h_asn, h_type, strict=True)})
    key_index = {k: i for i, k in enumerate(keys)}
    line_net = np.asarray(
        [key_index[(int(c), int(a), str(t))] for c, a, t in zip(h_cc, h_asn, h_type, strict=True)],
        dtype=np.int64,
    )
    net = build_networks(params, rng, keys, np.bincount(line_net, minlength=len(keys)))
    asn_v6 = {(ci, a.asn): a.ipv6 for ci, c in enumerate(params.countries) for a in c.asns}
    v6_share = np.asarray([asn_v6[(int(c), int(a))] for c, a in zip(h_cc, h_asn, strict=True)])
    has_space = np.asarray([net.v6[i] is not None for i in line_net], dtype=bool)
    is_ent = net.line[line_net] == LINE_TYPES.index("enterprise")
    line_v6 = (rng.random(n_lines) < v6_share) & has_space & ~is_ent
    e_lo, e_hi = params.networks.egress
    line_egress = np.where(is_ent, rng.integers(e_lo, e_hi + 1, n_lines), 1)

    m_line = np.repeat(np.arange(n_lines), h_size)
    n = len(m_line)
    m_type = h_type[m_line]
    m_usage = np.zeros(n, dtype=np.int64)
    line_factor = np.ones(n)
    for name, line in params.lines.items():
        members = np.flatnonzero(m_type == name)
        m_usage[members] = [USAGES.index(u) for u in _pick(rng, line.usage, len(members))]
        line_factor[members] = line.cleanup_factor
    timers = params.timers
    m_kind = np.asarray([TIMER_KINDS.index(k) for k in _pick(rng, timers.kinds, n)], np.int64)
    clean = params.cleanup
    frailty = rng.gamma(clean.frailty_shape, 1.0 / clean.frailty_shape, n)
    if clean.household_shape > 0:
        hh = rng.gamma(clean.household_shape, 1.0 / clean.household_shape, n_lines)
        frailty = frailty * hh[m_line]
    cc_factor = np.asarray([c.cleanup_factor for c in params.countries])[h_cc[m_line]]
    day_mean = np.where(
        m_usage == USAGES.index("sporadic"),
        0.2,
        np.where(m_usage == USAGES.index("laptop"), 0.9, params.usage.day_use),
    )
    conc = 4.0
    day_use = rng.beta(day_mean * conc, (1 - day_mean) * conc + 1e-9)
    year = dt.date.fromisoformat(params.start).year
    asns = sorted({int(a) for a in net.asn})
    told = rng.permutation(len(asns))[: round(params.notify.asn_share * len(asns))]
    told_set = {int(i) for i in told}
    notified = {a: bool(params.notify.enabled and i in told_set) for i, a in enumerate(asns)}
    return Population(
        net=net,
        line_net=line_net,
        line_v6=line_v6,
        line_egress=line_egress,
        line_phase=rng.uniform(0, DAY, n_lines),
        line_port_block=rng.integers(1, 64, n_lines),
        m_line=m_line,
        m_usage=m_usage,
        m_kind=m_kind,
        m_period=_loguniform(rng, timers.minutes, n) * 60.0,
        m_jitter=rng.uniform(timers.jitter[0], timers.jitter[1], n),
        m_rate=_loguniform(rng, timers.poisson_per_hour, n) / 3600.0,
        m_retry=rng.random(n) < timers.retry_share,
        m_xp=rng.random(n) < (0.6 if year < 2014 else 0.05),
        m_hazard=clean.rate_per_day / DAY * frailty * cc_factor * line_factor,
        m_day_use=np.clip(day_use, 0.02, 1.0),
        m_has_id=rng.random(n) < params.report.ids_share,
        asn_notified=notified,
    )

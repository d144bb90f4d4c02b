"""Networks (one ASN x one line type): addressing policy, its parameters and address pools."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .params import LINE_TYPES, POLICIES, Params
from .space import Pool, asn_pools

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
DAY = 86_400.0


@dataclass(frozen=True)
class Networks:
    """Per network (index = network id) its place, policy, parameters and pools."""

    cc: list[str]
    asn: I64
    line: I64
    """Index into LINE_TYPES."""
    policy: I64
    """Index into POLICIES."""
    period_s: F64
    night: B
    reboot_rate: F64
    """Per second; 0 for none. Likewise the two rates below."""
    sticky_rate: F64
    static_rate: F64
    gap_s: F64
    remap_rate: F64
    arbitrary: B
    utc_offset: F64
    pool: list[Pool]
    v6: list[Pool | None]

    def __len__(self) -> int:
        return len(self.asn)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> F64:
    return rng.uniform(bounds[0], bounds[1], n) if bounds[1] > bounds[0] else np.full(n, bounds[0])


def _rate_per_s(rng: np.random.Generator, days: tuple[float, float], n: int) -> F64:
    mean = _uniform(rng, days, n)
    return np.where(mean > 0, 1.0 / np.maximum(mean, 1e-9) / DAY, 0.0)


def build_networks(
    params: Params, rng: np.random.Generator, keys: list[tuple[int, int, str]], counts: I64
) -> Networks:
    """Networks for the (country index, ASN, line type) keys, with households per network."""
    n = len(keys)
    spec = params.networks
    countries = params.countries
    asn_spec = {(ci, a.asn): a for ci, c in enumerate(countries) for a in c.asns}
    policy = np.empty(n, dtype=np.int64)
    for i, (ci, asn, line) in enumerate(keys):
        fixed = asn_spec[(ci, asn)].policy
        if fixed is not None:
            policy[i] = POLICIES.index(fixed)
        else:
            weights = params.lines[line].policies
            names = list(weights)
            p = np.asarray([weights[k] for k in names], dtype=float)
            policy[i] = POLICIES.index(names[int(rng.choice(len(names), p=p / p.sum()))])
    hours = list(spec.periodic_hours)
    hp = np.asarray([spec.periodic_hours[h] for h in hours], dtype=float)
    period_h = np.asarray([float(h) for h in hours])[rng.choice(len(hours), n, p=hp / hp.sum())]
    cgn = np.exp(_uniform(rng, (np.log(spec.cgn_pool[0]), np.log(spec.cgn_pool[1])), n))
    pool_size = np.exp2(_uniform(rng, spec.pool_log2, n))
    pools: list[Pool] = [Pool(np.zeros(1, np.int64), np.ones(1, np.int64))] * n
    v6: list[Pool | None] = [None] * n
    by_asn: dict[tuple[int, int], list[int]] = {}
    for i, (ci, asn, _) in enumerate(keys):
        by_asn.setdefault((ci, asn), []).append(i)
    for (ci, asn), members in by_asn.items():
        space4, space6 = asn_pools(countries[ci].cc, asn)
        parts = space4.split(rng, [float(counts[i]) for i in members])
        for i, part in zip(members, parts, strict=True):
            pol = POLICIES[policy[i]]
            if pol == "cgn":
                pools[i] = part.subset(rng, int(cgn[i]), contiguous=True)
            elif pol in ("periodic", "session"):
                pools[i] = part.subset(rng, int(pool_size[i]), contiguous=False)
            else:
                pools[i] = part
            v6[i] = space6
    return Networks(
        cc=[countries[ci].cc for ci, _, _ in keys],
        asn=np.asarray([a for _, a, _ in keys], dtype=np.int64),
        line=np.asarray([LINE_TYPES.index(t) for _, _, t in keys], dtype=np.int64),
        policy=policy,
        period_s=period_h * 3600.0,
        night=rng.random(n) < spec.periodic_night_share,
        reboot_rate=_rate_per_s(rng, spec.reboot_days, n),
        sticky_rate=_rate_per_s(rng, spec.sticky_days, n),
        static_rate=_rate_per_s(rng, spec.static_renumber_days, n),
        gap_s=_uniform(rng, spec.session_gap_minutes, n) * 60.0,
        remap_rate=_uniform(rng, spec.cgn_remap_per_hour, n) / 3600.0,
        arbitrary=rng.random(n) < spec.cgn_arbitrary_share,
        utc_offset=np.asarray([countries[ci].utc_offset for ci, _, _ in keys]) * 3600.0,
        pool=pools,
        v6=v6,
    )

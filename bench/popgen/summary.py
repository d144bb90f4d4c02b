"""Headline figures of a generated population: sizes, addresses per machine, true survival."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]

from .addresses import Addressed
from .checkins import CheckIns
from .infection import Episodes, notify_time
from .networks import DAY
from .params import POLICIES, Params
from .population import Population

I64 = npt.NDArray[np.int64]


def ips_per_machine(ci: CheckIns, addr: Addressed, idx: I64, n: int) -> npt.NDArray[np.float64]:
    """Distinct source addresses per machine over the connections `idx` (0 if none)."""
    n_addr = int(addr.addr_id.max(initial=0)) + 1
    pairs = np.unique(ci.machine[idx] * n_addr + addr.addr_id[idx])
    return np.bincount(pairs // n_addr, minlength=n).astype(float)


def perfect_observer_hr(params: Params, pop: Population, ep: Episodes) -> float | None:
    """Cox hazard ratio (told vs not told) on the true clean-up times of first episodes still
    running on the campaign day, censored at the window's end: what a perfect observer
    would estimate. None without a campaign."""
    if not params.notify.enabled or params.notify.day >= params.days:
        return None
    from lifelines import CoxPHFitter  # type: ignore[import-untyped]
    from lifelines.exceptions import ConvergenceError  # type: ignore[import-untyped]

    tn = params.notify.day * DAY
    horizon = params.days * DAY
    first = ep.number == 0
    m, s, e = ep.machine[first], ep.start[first], ep.end[first]
    risk = (s <= tn) & (e > tn)
    told = np.isfinite(notify_time(params, pop))[m[risk]]
    if told.all() or not told.any() or not (e[risk] < horizon).any():
        return None
    frame = pd.DataFrame(
        {
            "days": (np.minimum(e[risk], horizon) - tn) / DAY,
            "event": (e[risk] < horizon).astype(int),
            "notified": told.astype(int),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = CoxPHFitter().fit(frame, "days", "event")
        except ConvergenceError:
            return None
    return round(float(np.exp(fit.params_["notified"])), 3)


def summarise(params: Params, seed: int, pop: Population, ep: Episodes, ci: CheckIns,
              addr: Addressed, recorded: I64, shown: I64) -> dict[str, Any]:  # fmt: skip
    """The figures a reader checks first; written to truth/summary.json."""
    n = pop.n_machines
    horizon = params.days * DAY
    ips = ips_per_machine(ci, addr, recorded, n)
    seen = ips > 0
    policy = np.asarray(POLICIES)[pop.net.policy[pop.m_net]]
    by_policy = {
        p: {
            "machines_seen": int((seen & (policy == p)).sum()),
            "ips_per_machine_mean": round(float(ips[seen & (policy == p)].mean()), 2),
            "ips_per_machine_median": float(np.median(ips[seen & (policy == p)])),
        }
        for p in POLICIES
        if (seen & (policy == p)).any()
    }
    first = ep.number == 0
    cohort = ep.start[first] < 0
    latent = ep.end[first][cohort]
    return {
        "preset": params.name,
        "family": params.family,
        "seed": seed,
        "start": params.start,
        "days": params.days,
        "machines": n,
        "households": len(pop.line_net),
        "networks": len(pop.net),
        "asns": len(pop.asn_notified),
        "checkins": len(ci.time),
        "recorded": len(recorded),
        "reported_rows": len(shown),
        "reported_rows_ipv6": int(addr.v6[shown].sum()),
        "aggregate": params.report.aggregate,
        "machines_seen": int(seen.sum()),
        "distinct_ips": len(np.unique(addr.addr_id[recorded])),
        "ips_per_machine_mean": round(float(ips[seen].mean()), 2) if seen.any() else 0.0,
        "ips_per_machine_median": float(np.median(ips[seen])) if seen.any() else 0.0,
        "by_addressing": by_policy,
        "survival": {
            "cohort": "machines infected at the window's start; first episode",
            "machines": int(cohort.sum()),
            "still_infected_28d": round(float((latent > 28 * DAY).mean()), 4),
            "still_infected_56d": round(float((latent > 56 * DAY).mean()), 4),
            "median_days": round(float(np.median(latent) / DAY), 1),
            "cleaned_in_window": round(float((latent < horizon).mean()), 4),
        },
        "notification": {
            "enabled": params.notify.enabled,
            "day": params.notify.day,
            "asns_told": sum(pop.asn_notified.values()),
            "multiplier": params.notify.multiplier,
            "perfect_observer_hr": perfect_observer_hr(params, pop, ep),
        },
        "reinfections": int((ep.number > 0).sum()),
        "outages_hours": [list(o) for o in params.outages],
    }

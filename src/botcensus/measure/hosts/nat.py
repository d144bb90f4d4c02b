"""Machines of a household behind one address that never show as two: how many there are.

Two machines behind one NAT address show as two on a day when they are online together
(hosts.daily's several-hosts test: flagged) or one after the other with a gap between (two
sessions on one address: counted directly). When one session runs on from where the other
ended, or they touch too little to flag, the address-day looks like one machine.

If the machines of a household were online independently of each other, like any two
machines of their country, the shares of their shared days that are flagged (omega), split
by a gap (gamma) or hidden (nu) are those of two random single-host address-days merged as
one address would carry them: measured here on each network's templates (single-host
address-days without a gap) and pooled over the stable networks, whose address-days hold
whole sessions. Households are rarely that independent (one family, one evening): the
observed gaps per flagged address-day that looks like two machines (hosts.reference
PAIR_HOSTS: three or more overlap more, and part less often, than pairs), against
gamma / omega, measure how independent they are (rho, in [0, 1]; 0: always online together,
so nothing is hidden); each flagged address-day then stands for rho x nu / omega hidden
machines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from botcensus.measure.hosts.features import AddressDays

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

DRAWS: Final = 2000
"""Random pairs of templates per network and window."""
MIN_TEMPLATES: Final = 30
SEED: Final = 20230227
"""Fixed, so that an estimate is a function of the data alone."""
OMEGA, GAMMA, NU = 0, 1, 2
"""Columns of merge_odds: flagged, split by a gap, hidden."""


def merge_odds(
    a: AddressDays,
    template: B,
    tau: float,
    flagged: Callable[[F64, F64, F64], B],
    gap_intervals: float,
    margin: float,
) -> F64:
    """Per group, shape (groups, 3): of random pairs of its template rows merged into one
    address-day, the shares flagged, split by a gap (not starting within `margin` of
    midnight), and neither (OMEGA, GAMMA, NU); zeros for groups with fewer than
    MIN_TEMPLATES templates. `flagged(first, last, hits)` is the several-hosts test."""
    rng = np.random.default_rng(SEED)
    n_groups = len(a.groups)
    odds = np.zeros((n_groups, 3))
    count = np.bincount(a.group[template], minlength=n_groups)
    rows = np.flatnonzero(template)[np.argsort(a.group[template], kind="stable")]
    ends = np.cumsum(count)
    for g in np.flatnonzero(count >= MIN_TEMPLATES):
        pool = rows[ends[g] - count[g] : ends[g]]
        pick = pool[rng.integers(0, len(pool), size=(DRAWS, 2))]
        first, last = a.first[pick], a.last[pick]
        hits = a.hits[pick].sum(1)
        merged_first, merged_last = first.min(1), last.max(1)
        is_flagged = flagged(merged_first, merged_last, hits)
        span = merged_last - merged_first
        # A gap counts as a second machine only away from midnight (hosts.daily.split_days).
        split = ~is_flagged & (span - (hits - 1) * tau > gap_intervals * tau)
        split &= merged_first >= margin
        odds[g] = [is_flagged.mean(), split.mean(), (~is_flagged & ~split).mean()]
    return odds


def independence(gaps_per_flagged: F64, omega: F64, gamma: F64) -> F64:
    """rho: the observed gaps per flagged address-day over what independent machines would
    give (gamma / omega), in [0, 1]."""
    expected = np.divide(gamma, omega, out=np.zeros(len(omega)), where=omega > 0)
    ratio = np.divide(gaps_per_flagged, expected, out=np.zeros(len(expected)), where=expected > 0)
    out: F64 = np.clip(ratio, 0.0, 1.0)
    return out


def hidden_per_flagged(rho: F64, omega: F64, nu: F64) -> F64:
    """Machines hidden behind single-looking address-days per flagged address-day."""
    out: F64 = rho * np.divide(nu, omega, out=np.zeros(len(omega)), where=omega > 0)
    return out

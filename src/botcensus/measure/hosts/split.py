"""Address-days split by renumbering, where no check-in timer can time a handover.

A line renumbered while its machine is online shows as two address-days in one day. With a
common timer, hosts.handover finds such handovers one by one. Without one (reports
aggregated per hour, or bots whose timers differ) they can still be counted in bulk: a
split hardly adds hours online, so a churning network's hours touched per address-day fall
short of a host's day, measured where an address is one line all day (the country's stable
networks; all stable networks where the country has none). Per network:

    c = (hours per address-day of the network) / (hours per address-day on stable networks)

clipped to [MIN_SPLIT, 1], is the share of its address-days that are host-days. Its error is
the spread of hours per address-day between the stable networks (how far one network's
hosts may differ from another's, measured) plus MODEL_ERROR of the correction. Pools and
stable networks are not split (1). Feeds that report one row a day show no hours: 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from botcensus.measure.hosts.daily import GroupDays
from botcensus.measure.hosts.features import div

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

MIN_SPLIT: Final = 0.5
"""At most every host-day split in two: a lower c says the network's hosts are online for
less of the day than the stable networks' (other behaviour, not renumbering)."""
MIN_RESOLVED: Final = 0.5
"""Share of a network's address-days that must show hours (first and last check-in apart)."""
MIN_STABLE_ROWS: Final = 200
"""Address-days a country's stable networks need before their hours are the country's own."""


@dataclass(frozen=True)
class Split:
    """Per group: the share of address-days that are host-days, and the variance of its log."""

    share: F64
    var: F64


def split_shares(
    sums: list[GroupDays], stable: B, shared: B, country: I64, n_countries: int, model_error: float
) -> Split:
    """Split shares per group (module docstring) from every window's sums."""
    n = len(country)
    rows = _pooled(sums, "rows", n)
    hours = _pooled(sums, "hours", n)
    resolved = div(_pooled(sums, "resolved", n), rows)
    per_day = div(hours, rows)
    lenders = stable & (rows > 0)
    if not lenders.any():
        return Split(np.ones(n), np.zeros(n))
    c_hours = np.bincount(country, weights=hours * lenders, minlength=n_countries)
    c_rows = np.bincount(country, weights=rows * lenders, minlength=n_countries)
    everywhere = float(np.sum(hours * lenders)) / float(np.sum(rows * lenders))
    own = c_rows >= MIN_STABLE_ROWS
    reference = np.where(own, div(c_hours, c_rows), everywhere)[country]
    logs = np.log(np.maximum(per_day[lenders], 1e-9))
    weights = rows[lenders]
    centre = float(np.average(logs, weights=weights))
    spread = float(np.average((logs - centre) ** 2, weights=weights)) if lenders.sum() > 1 else 0.0
    applies = ~stable & ~shared & (resolved >= MIN_RESOLVED) & (rows > 0)
    share = np.where(applies, np.clip(div(per_day, reference), MIN_SPLIT, 1.0), 1.0)
    var = np.where(applies & (share < 1.0), spread + (model_error * (1.0 - share)) ** 2, 0.0)
    return Split(share, var)


def _pooled(sums: list[GroupDays], name: str, n: int) -> F64:
    total = np.zeros(n)
    for s in sums:
        total = total + getattr(s, name).sum(1)
    return total

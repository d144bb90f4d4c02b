"""Address-days split by renumbering, where no check-in timer can time a handover.

A line renumbered while its machine is online shows as two address-days in one day. With a
common timer, hosts.handover finds such handovers one by one. Without one (reports
aggregated per hour, or bots whose timers differ) they can still be counted in bulk: a
split shares the host's rows of the day (check-ins, or hours in reports of one row per
address and hour) between its address-days, so a churning network's rows per address-day
fall short of a host's day, measured where an address is one line all day (the country's
stable networks; all stable networks where the country has none). Per network:

    c = (rows per address-day of the network) / (rows per address-day on stable networks)

at most 1, is the share of its address-days that are host-days. Its error is the spread of
rows per address-day between the stable networks (how far one network's hosts may differ
from another's, measured) plus MODEL_ERROR of the correction, on the log scale (a network
of an address per connection has a c of a few hundredths, and its hosts' check-ins are
taken to be like the stable networks'). Pools and stable networks are not split (1).
Feeds that report one row per address and day show nothing: 1.
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
"""Renumbering splits a host-day in two at most: a c below this says a network's addresses
carry far less than a day (an address per connection), noted (`few`)."""
MIN_SHARE: Final = 0.01
"""c is not taken below this."""
MIN_ROWS: Final = 2.0
"""Rows per address-day the stable networks need for c to mean anything (reports of one row
per address and day have one)."""
MIN_STABLE_ROWS: Final = 200
"""Address-days a country's stable networks need before their hours are the country's own."""


@dataclass(frozen=True)
class Split:
    """Per group: the share of address-days that are host-days, and the variance of its log."""

    share: F64
    var: F64
    few: B
    """c fell below MIN_SPLIT (module constants)."""


def split_shares(
    sums: list[GroupDays], stable: B, shared: B, country: I64, n_countries: int, model_error: float
) -> Split:
    """Split shares per group (module docstring) from every window's sums."""
    n = len(country)
    rows = _pooled(sums, "rows", n)
    hits = _pooled(sums, "hits", n)
    per_day = div(hits, rows)
    lenders = stable & (rows > 0)
    none = Split(np.ones(n), np.zeros(n), np.zeros(n, bool))
    if not lenders.any():
        return none
    everywhere = float(np.sum(hits * lenders)) / float(np.sum(rows * lenders))
    if everywhere < MIN_ROWS:
        return none
    c_hits = np.bincount(country, weights=hits * lenders, minlength=n_countries)
    c_rows = np.bincount(country, weights=rows * lenders, minlength=n_countries)
    own = c_rows >= MIN_STABLE_ROWS
    reference = np.where(own, div(c_hits, c_rows), everywhere)[country]
    logs = np.log(np.maximum(per_day[lenders], 1e-9))
    weights = rows[lenders]
    centre = float(np.average(logs, weights=weights))
    spread = float(np.average((logs - centre) ** 2, weights=weights)) if lenders.sum() > 1 else 0.0
    applies = ~stable & ~shared & (rows > 0)
    share = np.where(applies, np.clip(div(per_day, reference), MIN_SHARE, 1.0), 1.0)
    var = np.where(share < 1.0, spread + (model_error * np.log(share)) ** 2, 0.0)
    return Split(share, var, applies & (share < MIN_SPLIT))


def _pooled(sums: list[GroupDays], name: str, n: int) -> F64:
    total = np.zeros(n)
    for s in sums:
        total = total + getattr(s, name).sum(1)
    return total

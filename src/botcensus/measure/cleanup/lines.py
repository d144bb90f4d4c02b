"""Lines fall more slowly than the machines behind them.

Where the data cannot show several machines behind one address (hosts.model.HOUSEHOLD is
assumed), what is counted and followed are lines: a line stays infected until the last of
its machines is cleaned. If the infected machines per line follow a geometric law with mean
m = HOUSEHOLD (ratio r = 1 - 1/m) and each machine is cleaned on its own, the share of
lines still infected when a share S of machines is,

    L(S) = 1 - (1 - r)(1 - S) / (1 - r (1 - S)),

is above S (a line of two machines outlives each of them), and so a decay fitted to line
counts is slower than the machines'. These functions turn line figures into machine
figures under that law: the share S from L (the inverse, in closed form), and the rate of
machines whose lines' counts, fitted as botcensus fits a decay, give the rate observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from botcensus.measure.cleanup.decay import fit_decay

F64 = npt.NDArray[np.float64]
MAX_RATIO: Final = 8.0
"""The machines' rate is sought up to this multiple of the lines' (beyond: not found)."""


def ratio(household: float) -> float:
    """r of the geometric law with mean `household` machines per line (0: one machine)."""
    return max(0.0, 1.0 - 1.0 / household)


def lines_share(machines: float | F64, r: float) -> float | F64:
    """L(S): the share of lines still infected when a share S of machines is."""
    p = 1.0 - np.asarray(machines, np.float64)
    out = 1.0 - (1.0 - r) * p / (1.0 - r * p)
    return float(out) if np.ndim(out) == 0 else out


def machines_share(lines: float, r: float) -> float:
    """S from L(S) = lines (the inverse of lines_share), in [0, 1]."""
    y = min(max(lines, 0.0), 1.0)
    return 1.0 - (1.0 - y) / (1.0 - r * y)


def machines_rate(line_rate: float, times: Sequence[float] | F64, r: float) -> float:
    """The per-machine decay rate λ whose lines' counts at `times` (in weeks), fitted as
    fit_decay fits them, decay at `line_rate`; the line rate itself where it is not
    positive or r is 0, NaN where no rate up to MAX_RATIO times the line rate fits."""
    t = np.asarray(times, np.float64)
    if r <= 0 or not line_rate > 0 or len(t) < 2:
        return line_rate
    t = t - t.min()

    def fitted(rate: float) -> float:
        counts = 1e4 * np.asarray(lines_share(np.exp(-rate * t), r))
        return fit_decay(t, counts).rate_per_week

    low, high = line_rate, MAX_RATIO * line_rate
    if fitted(high) < line_rate:
        return math.nan
    for _ in range(60):
        middle = (low + high) / 2
        if fitted(middle) < line_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2

"""Lines fall more slowly than the machines behind them.

Where the data cannot show several machines behind one address (hosts.model.HOUSEHOLD is
assumed), what is counted and followed are lines: a line stays infected until the last of
its machines is cleaned. If the infected machines per line follow a geometric law with mean
m = HOUSEHOLD (ratio r = 1 - 1/m) and each machine is cleaned on its own, the share of
lines still infected when a share S of machines is,

    L(S) = 1 - (1 - r)(1 - S) / (1 - r (1 - S)),

is above S (a line of two machines outlives each of them), and so a decay fitted to line
counts is slower than the machines'. These functions turn a share of lines followed into
the share of machines under that law (the inverse, in closed form). The weekly host
estimates apply the same law themselves (hosts.model.household_at), so their decay is the
machines' already.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


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

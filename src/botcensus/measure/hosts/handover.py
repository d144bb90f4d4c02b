"""Handovers: one host moving to a new address while online, found by check-in timing.

A line renumbered while its host is online: the host's last check-in comes from the old
address and the next one, tau +- J later, from the new one; the old address is not seen
again, the new one was not seen before. For each start of a new address, the test looks for
an end of a dying address of the same (country, ASN) group and day at a gap in
(tau - J, tau + J) before it (I = 1). Chance does that too, the more where sessions crowd:
the same test at the neighbouring gaps (two flanks as wide) gives each start's chance b,
pooled per group and hour over the window into p. A start's share of the handovers is
(I - b) / (1 - p): a handover start adds one on average, any other start nothing. Where ends
crowd so much that p exceeds MAX_CHANCE the signal is lost and the start is taken at the cap.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from botcensus.measure.hosts.features import AddressDays, Timer

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

MAX_CHANCE: Final = 0.8


def ends_between(key_e: I64, e: F64, key_s: I64, lo: F64, hi: F64) -> F64:
    """Per start (key_s): the ends (key_e, e) with its key in [lo, hi) (seconds of a day)."""
    scale = 1 << 20  # seconds of a day (< 2**17) fit below the key
    order = np.lexsort((e, key_e))
    packed = key_e[order] * scale + np.floor(e[order]).astype(np.int64)
    lo_k = key_s * scale + np.floor(np.clip(lo, -1, scale - 1)).astype(np.int64)
    hi_k = key_s * scale + np.floor(np.clip(hi, -1, scale - 1)).astype(np.int64)
    counts = np.searchsorted(packed, hi_k, "left") - np.searchsorted(packed, lo_k, "left")
    return counts.astype(np.float64)


def handovers(a: AddressDays, cell: I64, timer: Timer, starts: B, ends: B) -> tuple[F64, F64]:
    """Per address-day: its share of the handover estimate and of its variance. `cell`: the
    (group, day) key of each row; `starts`, `ends`: the rows that may start or end one."""
    tau, j = timer.interval, timer.jitter
    s = a.first
    k_e, e = cell[ends], a.last[ends]

    def found(g0: float, g1: float) -> F64:
        """1.0 where an end lies at a gap in [g0, g1) before the start."""
        return (ends_between(k_e, e, cell, s - g1, s - g0) > 0).astype(np.float64)

    flanks = (
        (tau + j, tau + 3 * j),
        (tau - 3 * j, tau - j) if tau >= 3 * j else (tau + 3 * j, tau + 5 * j),
    )
    use = starts & (s >= max(g1 for _, g1 in flanks))
    hit = found(tau - j, tau + j)
    chance = (found(*flanks[0]) + found(*flanks[1])) / 2.0
    hour = np.minimum(s // 3600, 23).astype(np.int64)
    b = a.group * 24 + hour
    n = 24 * len(a.groups)
    count = np.bincount(b[use], minlength=n)
    pooled = np.bincount(b[use], weights=chance[use], minlength=n)
    p = np.minimum(np.divide(pooled, count, out=np.zeros(n), where=count > 0), MAX_CHANCE)[b]
    share = np.where(use, (hit - chance) / (1 - p), 0.0)
    # I and the flank mean are Bernoulli(p) draws, the flank mean of two.
    var = np.where(use, 1.5 * p / (1 - p), 0.0)
    return share, var

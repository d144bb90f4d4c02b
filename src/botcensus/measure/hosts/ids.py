"""Machines from bot ids: distinct ids, with collisions and clones split by place and time.

An id names a machine unless several machines carry it (Torpig saw about 1% of its ids
collide; cloned disk images share one). A machine keeps its network and holds one address
of each family at a time, so an id counts once per (country, ASN) it is seen from, and within
one of those as many times as it was seen from different addresses of one family at
overlapping times on one day (the most at once): an IPv4 and an IPv6 address at once are a
dual-stack machine. A handover to a new address is sequential and counts once. Collisions
that land in one network stay hidden unless they overlap in time: their expected number,
from those seen across networks and the networks' shares (the chance that two random
machines share a network is the sum of squared shares), less those seen within one, is
added, with its Poisson variance.

An id seen at several addresses of one network at once beyond what collisions explain (the
network's part of the expected number, its share squared of the sum of squared shares, up
to its 90% Poisson top) is one machine behind several egress addresses (an
office or a carrier-grade NAT that picks one per connection), not a clone: the excess is
not counted (`merged`). Family C's offices (bench/popgen) showed it on 45% of their id-days
and family B's b-harsh seed 1 counted 2,827 machines for 2,005 ids in a week, where every
id was one machine (development figures, docs/measurement.md).

Ids also give what addresses cannot: each machine's days active. Lent carries them, per
window and country, to the address model of the sightings without an id (hosts.model), in
place of the stable networks' figure (per-network churn learnt from bots with ids, as
Griffioen and Doerr measured it on Hajime, applied to those without).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt

from botcensus.measure.hosts.features import EPOCH, div
from botcensus.measure.hosts.model import Z90

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

MIN_MACHINES: Final = 30
"""Machines with ids a country needs in a window to lend its days active."""

_SQL: Final = """
WITH r AS (
    SELECT {window} AS window_start, day, bot_id, coalesce(source_cc, '') AS cc,
           coalesce(source_asn, 0)::BIGINT AS asn, source_ip,
           contains(source_ip, ':') AS v6, min(first_seen) AS t0, max(last_seen) AS t1
    FROM {relation} WHERE {where}
    GROUP BY ALL
), ev AS (
    SELECT window_start, day, bot_id, cc, asn, v6, t0 AS t, 1 AS step FROM r
    UNION ALL
    SELECT window_start, day, bot_id, cc, asn, v6, t1 AS t, -1 AS step FROM r
), depth AS (
    SELECT window_start, day, bot_id, cc, asn,
           sum(step) OVER (PARTITION BY day, bot_id, cc, asn, v6 ORDER BY t, step DESC
                           ROWS UNBOUNDED PRECEDING) AS at_once
    FROM ev
), per_day AS (
    SELECT window_start, day, bot_id, cc, asn, max(at_once) AS machines
    FROM depth GROUP BY ALL
), per_window AS (
    SELECT window_start, bot_id, cc, asn, max(machines) AS machines,
           sum(machines) AS machine_days
    FROM per_day GROUP BY ALL
), nets AS (
    SELECT window_start, bot_id, count(*) AS n FROM per_window GROUP BY ALL
), ids AS (
    SELECT window_start, sum(n - 1) AS across FROM nets GROUP BY window_start
)
SELECT (window_start - DATE '1970-01-01')::BIGINT AS window_start, cc, asn,
       sum(machines)::DOUBLE AS machines, count(*)::DOUBLE AS distinct_ids,
       sum(machine_days)::DOUBLE AS machine_days,
       sum(machine_days * machine_days / machines)::DOUBLE AS machine_days_sq,
       any_value(ids.across)::DOUBLE AS across
FROM per_window JOIN ids USING (window_start)
GROUP BY ALL ORDER BY ALL
"""


@dataclass(frozen=True)
class IdCounts:
    """Per (window, country, ASN): machines (hidden collisions apart), machine-days."""

    window_start: I64
    """Days since 1970-01-01."""
    cc: tuple[str, ...]
    asn: I64
    machines: F64
    machine_days: F64
    machine_days_sq: F64
    """Squared days active per machine, summed (for the spread of days active)."""
    hidden: F64
    """Expected collisions hidden inside one network, not in `machines`."""
    merged: float = 0.0
    """Machines at once beyond what collisions explain, not counted (module docstring): the
    most in one window."""

    def by_cell(self) -> dict[tuple[date, str, int | None], float]:
        """(window start, country, ASN) -> its machines, hidden collisions included (keyed as
        the estimate cells are, whose country rows have no ASN)."""
        return {
            (EPOCH + timedelta(days=int(start)), self.cc[i], int(self.asn[i])): float(
                self.machines[i] + self.hidden[i]
            )
            for i, start in enumerate(self.window_start.tolist())
        }


def id_counts(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str,
    params: dict[str, object],
    window_sql: str,
) -> IdCounts:
    """Machines per window and network from the sightings that carry a bot id; `where`: a
    SQL condition on the relation with its named `params`, `window_sql`: the census's window
    start expression."""
    sql = _SQL.format(relation=relation, where=f"bot_id IS NOT NULL AND {where}", window=window_sql)
    cols = con.execute(sql, params).fetchnumpy()
    start = np.asarray(cols["window_start"], np.int64)
    machines = np.asarray(cols["machines"], np.float64)
    distinct = np.asarray(cols["distinct_ids"], np.float64)
    days = np.asarray(cols["machine_days"], np.float64)
    days_sq = np.asarray(cols["machine_days_sq"], np.float64)
    across = np.asarray(cols["across"], np.float64)
    hidden = np.zeros(len(start))
    merged = 0.0
    for w in np.unique(start):
        mine = np.flatnonzero(start == w)
        share = distinct[mine] / max(float(distinct[mine].sum()), 1.0)
        same = float(np.sum(share**2))
        # Collisions seen across networks predict those within one; some of the latter
        # showed (at once on two addresses of one family), the rest are hidden. Each
        # network is allowed its own part of them (its share squared of `same`); more at
        # once than that are egress addresses of one machine.
        excess = machines[mine] - distinct[mine]
        expected = across[mine[0]] * same / max(1.0 - same, 1e-6)
        mean = expected * share**2 / max(same, 1e-12)
        allowed = mean + Z90 * np.sqrt(mean)
        kept = np.minimum(excess, allowed)
        if np.any(kept < excess):
            ratio = np.divide(distinct[mine] + kept, machines[mine],
                              out=np.ones(len(mine)), where=machines[mine] > 0)  # fmt: skip
            # days active stay what they were: a merged machine's days count once
            days[mine] *= ratio
            days_sq[mine] *= ratio
            machines[mine] = distinct[mine] + kept
            merged = max(merged, float((excess - kept).sum()))
        hidden[mine] = max(expected - float(kept.sum()), 0.0) * share
    return IdCounts(
        window_start=start,
        cc=tuple(str(c) for c in cols["cc"]),
        asn=np.asarray(cols["asn"], np.int64),
        machines=machines,
        machine_days=days,
        machine_days_sq=days_sq,
        hidden=hidden,
        merged=merged,
    )


@dataclass(frozen=True)
class Lent:
    """Days active measured on machines with ids, per (window start, country): machines,
    machine-days and summed squared days per machine."""

    sums: dict[tuple[date, str], tuple[float, float, float]]

    @classmethod
    def from_counts(cls, counts: IdCounts) -> Lent:
        """Sum id counts per window and country."""
        sums: dict[tuple[date, str], tuple[float, float, float]] = {}
        for i, start in enumerate(counts.window_start.tolist()):
            key = (EPOCH + timedelta(days=start), counts.cc[i])
            m, d, d2 = sums.get(key, (0.0, 0.0, 0.0))
            sums[key] = (
                m + float(counts.machines[i]),
                d + float(counts.machine_days[i]),
                d2 + float(counts.machine_days_sq[i]),
            )
        return cls(sums)

    def for_window(self, start: date, ccs: list[str]) -> tuple[F64, F64, F64]:
        """Per country: hosts per host-day, the variance of its log and the relative
        variance of days active; NaN where fewer than MIN_MACHINES machines."""
        zero = (0.0, 0.0, 0.0)
        m, d, d2 = (np.array([self.sums.get((start, c), zero)[i] for c in ccs]) for i in range(3))
        mean = div(d, m)
        cv2 = div(div(d2, m) - mean**2, mean**2)
        ok = m >= MIN_MACHINES
        ratio = np.where(ok, div(m, d), np.nan)
        return ratio, np.where(ok, div(cv2, m), np.nan), np.where(ok, cv2, np.nan)

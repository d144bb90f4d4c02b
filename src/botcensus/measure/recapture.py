"""Capture–recapture between two sources (our sinkhole and a third-party feed), stratified by
country or ASN: the Chapman estimator of how many addresses either source could have seen.

Per stratum, over one window: n1 addresses seen by source A, n2 by source B, m by both.

    N = (n1 + 1)(n2 + 1) / (m + 1) − 1
    Var(N) = (n1 + 1)(n2 + 1)(n1 − m)(n2 − m) / ((m + 1)² (m + 2))

The interval is Chao's log-normal one for the unseen part f0 = N − r (r = n1 + n2 − m, the
addresses seen at all), so it never falls below r. The unit is `unique_ip` (an estimated
population of addresses active in the window), not machines.

Assumptions, printed beside every result (ASSUMPTIONS):
1. Closed population within the window: no address appears or goes away during it (keep
   the window short: a day or a week; churn and clean-up break this).
2. Independent sources: being seen by A says nothing about being seen by B. A feed built
   partly from our own sinkhole, or two sinkholes of the same seized domains, are positively
   dependent and N is then too small.
3. Equal catchability: every address is as likely to be seen by a source as any other.
   Hosts online more often are seen by both (heterogeneity), which also makes N too small.
4. Same identity: an address means the same thing in both sources (same window, same
   family, same clock, addresses written canonically).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Final

import duckdb
import pyarrow as pa

from botcensus.measure.census import CensusQuery

ASSUMPTIONS: Final = (
    "closed population within the window (no churn, clean-up or new infections)",
    "independent sources (a feed fed by our own sinkhole is not independent)",
    "equal catchability of every address in each source (heterogeneity biases N down)",
    "an address is the same host in both sources within the window",
)
STRATA: Final = {"country": "source_cc", "asn": "source_asn", None: None}


@dataclass(frozen=True, slots=True)
class Chapman:
    """One stratum's Chapman estimate."""

    n1: int
    n2: int
    m: int
    estimate: float
    variance: float
    lower: float
    upper: float

    @property
    def seen(self) -> int:
        """Addresses seen by either source."""
        return self.n1 + self.n2 - self.m


def chapman(n1: int, n2: int, m: int, level: float = 0.95) -> Chapman:
    """Chapman's estimate, its variance and Chao's log-normal interval."""
    if min(n1, n2, m) < 0 or m > min(n1, n2):
        raise ValueError("need 0 <= m <= min(n1, n2)")
    estimate = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    variance = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    seen = n1 + n2 - m
    unseen = estimate - seen
    if unseen > 0 and variance > 0:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        c = math.exp(z * math.sqrt(math.log(1 + variance / unseen**2)))
        lower, upper = seen + unseen / c, seen + unseen * c
    else:
        lower = upper = estimate
    return Chapman(n1, n2, m, estimate, variance, lower, upper)


def recapture(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    source_a: str,
    source_b: str,
    by: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    family: str | None = None,
    level: float = 0.95,
) -> pa.Table:
    """Per stratum (country, ASN or overall): n1, n2, m, the Chapman estimate with its
    standard error and interval. Sources are feed names (`feed_name`): e.g. source_a
    'botcensus-sinkhole', source_b a Shadowserver feed. Addresses are compared as written
    (canonical text). A stratum is where source A placed the address (B's enrichment may
    differ)."""
    if by not in STRATA:
        raise ValueError(f"stratify by country or asn, not {by!r}")
    column = STRATA[by]
    # Unclaimed sightings count too: a feed may name no family for an address it reports.
    query = CensusQuery(date_from=date_from, date_to=date_to, family=family, include_unclaimed=True)
    where, params = query.where()
    stratum = f"{column}" if column else "NULL"
    sql = f"""
        WITH per_ip AS (
            SELECT source_ip,
                   bool_or(feed_name = $source_a) AS in_a, bool_or(feed_name = $source_b) AS in_b,
                   coalesce(arg_min({stratum}, feed_name <> $source_a), any_value({stratum}))
                       AS stratum
            FROM {relation} WHERE feed_name IN ($source_a, $source_b) AND {where}
            GROUP BY source_ip)
        SELECT stratum, count(*) FILTER (WHERE in_a) AS n1, count(*) FILTER (WHERE in_b) AS n2,
               count(*) FILTER (WHERE in_a AND in_b) AS m
        FROM per_ip GROUP BY stratum ORDER BY n1 + n2 DESC
    """  # noqa: S608 (column from the fixed STRATA table; values are parameters)
    rows = con.sql(sql, params={**params, "source_a": source_a, "source_b": source_b}).fetchall()
    out = []
    for key, n1, n2, m in rows:
        est = chapman(int(n1), int(n2), int(m), level)
        out.append(
            {
                "stratum": None if key is None else str(key),
                "n1": est.n1,
                "n2": est.n2,
                "m": est.m,
                "seen": est.seen,
                "unique_ip_estimate": est.estimate,
                "standard_error": math.sqrt(est.variance),
                "lower": est.lower,
                "upper": est.upper,
            }
        )
    table = pa.Table.from_pylist(out) if out else pa.table({"stratum": pa.array([], pa.string())})
    return table.replace_schema_metadata({"assumptions": "; ".join(ASSUMPTIONS)})

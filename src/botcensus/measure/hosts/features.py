"""Address-days for host estimates: one row per (day, address) with timing and recurrence.

Built with one DuckDB query over the daily sightings (the census's filters, rows without a
bot id), with LOOK days of context on either side so that each address-day knows whether its
address was seen before or after. Times are seconds since the UTC midnight of the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt

from botcensus.measure.census import CensusQuery

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

DAY_S: Final = 86_400.0
LOOK: Final = 7
"""Days before and after an address-day in which its address counts as seen again."""
EPOCH: Final = date(1970, 1, 1)
FRESH_S: Final = 3600
"""A day's first check-in this long after midnight starts a session of its own."""
MAX_TIMER_S: Final = 2700.0
"""A median interval this long or longer is not taken for a check-in timer: reports
aggregated per address and hour (Shadowserver's) look like a one-hour timer, and a timer
that slow cannot time a handover or show two machines behind one address either."""


def div(a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
    """a / b elementwise, 0 where b is 0."""
    num, den = np.asarray(a, np.float64), np.asarray(b, np.float64)
    shape = np.broadcast(num, den).shape
    out: F64 = np.divide(num, den, out=np.zeros(shape), where=den > 0)
    return out


@dataclass(frozen=True)
class AddressDays:
    """Per (day, address) columns, sorted by (group, day, first seen)."""

    day: I64
    """Days since 1970-01-01."""
    ip: I64
    """A hash of the address (identity only)."""
    group: I64
    """Index into `groups`: the (country, ASN) the address belongs to."""
    first: F64
    last: F64
    hits: F64
    before: B
    """The address was seen on one of the LOOK days before."""
    after: B
    """The address is seen on one of the LOOK days after (False where those days are not
    in the data yet)."""
    carried: B
    """The previous day's sighting of this address ran up to midnight: a session carried over."""
    born: I64
    """The first day the address is seen in the whole query (days since 1970-01-01)."""
    dies: I64
    """The last day the address is seen in the whole query."""
    seen: I64
    """Days the address is seen in the whole query (of dies - born + 1); below, those that
    start a session of their own, and of those the ones after a day it was seen."""
    fresh: I64
    next_day: I64
    groups: tuple[tuple[str, int], ...]
    """(country, ASN) per group index; '' and 0 where enrichment left them null."""

    def __len__(self) -> int:
        return len(self.day)

    def take(self, mask: B) -> AddressDays:
        """The rows where mask is true (same groups)."""
        return AddressDays(
            self.day[mask],
            self.ip[mask],
            self.group[mask],
            self.first[mask],
            self.last[mask],
            self.hits[mask],
            self.before[mask],
            self.after[mask],
            self.carried[mask],
            self.born[mask],
            self.dies[mask],
            self.seen[mask],
            self.fresh[mask],
            self.next_day[mask],
            self.groups,
        )


def without_ids(query: CensusQuery) -> tuple[str, dict[str, object]]:
    """The census's row filter (family, feed, unclaimed) on sightings without a bot id, as a
    SQL condition and named parameters; the date range is applied by the callers, who read
    context days outside it."""
    where, params = query.where(dates=False)
    return f"bot_id IS NULL AND {where}", params


_SQL: Final = """
WITH per_feed AS (
    SELECT day, source_ip, feed_name, any_value(coalesce(source_cc, '')) AS cc,
           any_value(coalesce(source_asn, 0)) AS asn, min(first_seen) AS first_seen,
           max(last_seen) AS last_seen, sum(hits) AS hits
    FROM {relation} WHERE {where} AND day BETWEEN $ctx_lo AND $ctx_hi
    GROUP BY day, source_ip, feed_name
), days AS (
    -- Feeds overlap (two reports of one bot); sensors of one feed do not: keep the feed
    -- that saw the address most that day.
    SELECT day, source_ip, arg_max(cc, hits) AS cc, arg_max(asn, hits) AS asn,
           arg_max(first_seen, hits) AS first_seen, arg_max(last_seen, hits) AS last_seen,
           max(hits) AS hits
    FROM per_feed GROUP BY day, source_ip
), ctx AS (
    SELECT day, source_ip, cc, asn, hits,
           epoch_us(first_seen) / 1e6 - epoch_us(day::TIMESTAMP) / 1e6 AS first_s,
           epoch_us(last_seen) / 1e6 - epoch_us(day::TIMESTAMP) / 1e6 AS last_s,
           lag(day) OVER w AS prev_day, lag(last_seen) OVER w AS prev_last,
           lead(day) OVER w AS next_day
    FROM days WINDOW w AS (PARTITION BY source_ip ORDER BY day)
)
SELECT (day - DATE '1970-01-01')::BIGINT AS day, (hash(source_ip) >> 1)::BIGINT AS ip,
       cc, asn::BIGINT AS asn, (life.born - DATE '1970-01-01')::BIGINT AS born,
       (life.dies - DATE '1970-01-01')::BIGINT AS dies, life.seen, life.fresh,
       life.next_day AS next_day_fresh, first_s, last_s,
       hits::DOUBLE AS hits,
       coalesce(day - prev_day <= {look}, false) AS before,
       coalesce(ctx.next_day - day <= {look}, false) AS after,
       coalesce(day - prev_day = 1
                AND epoch_us(prev_last) / 1e6 - epoch_us(prev_day::TIMESTAMP) / 1e6 > $carry_s,
                false)
           AS carried_prev
FROM ctx JOIN {life} AS life USING (source_ip) WHERE day BETWEEN $lo AND $hi
ORDER BY cc, asn, day, first_s
"""


def address_lifetimes(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, name: str
) -> str:
    """A temporary table `name` of each address's first and last day in the query's data,
    the days it was seen, those that start a session of their own (first check-in FRESH_S
    or more after midnight: not carried over), and of those the ones that follow a day on
    which it was seen."""
    where, params = without_ids(query)
    sql = f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH d AS (
            SELECT source_ip, day,
                   epoch_us(min(first_seen)) / 1e6 - epoch_us(day::TIMESTAMP) / 1e6 AS f
            FROM {relation} WHERE {where} GROUP BY source_ip, day
        ), g AS (
            SELECT *, day - lag(day) OVER (PARTITION BY source_ip ORDER BY day) AS gap FROM d
        )
        SELECT source_ip, min(day) AS born, max(day) AS dies, count(*) AS seen,
               count(*) FILTER (WHERE f >= {FRESH_S}) AS fresh,
               count(*) FILTER (WHERE f >= {FRESH_S} AND gap = 1) AS next_day
        FROM g GROUP BY source_ip
    """  # noqa: S608 (names and conditions are ours; values are parameters)
    con.execute(sql, params)
    return name


def read_address_days(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    days: tuple[date, date],
    *,
    margin_s: float,
    lifetimes: str,
) -> AddressDays:
    """Address-days of days[0]..days[1] (inclusive) for the census's filters; `margin_s`: how
    close to midnight the previous day's last sighting must be for a carried-over session;
    `lifetimes`: the table of address_lifetimes."""
    where, params = without_ids(query)
    lo, hi = days
    sql = _SQL.format(relation=relation, where=where, look=LOOK, life=lifetimes)
    named = {
        **params,
        "ctx_lo": lo - timedelta(days=LOOK),
        "ctx_hi": hi + timedelta(days=LOOK),
        "carry_s": DAY_S - margin_s,
        "lo": lo,
        "hi": hi,
    }
    cols = con.execute(sql, named).fetchnumpy()
    day = np.asarray(cols["day"], np.int64)
    cc = np.asarray(cols["cc"], dtype=object)
    asn = np.asarray(cols["asn"], np.int64)
    keys = np.char.add(cc.astype(str), np.char.mod(":%d", asn)) if len(day) else np.array([])
    names, group = np.unique(keys, return_inverse=True)
    groups = tuple((str(n).rsplit(":", 1)[0], int(str(n).rsplit(":", 1)[1])) for n in names)
    first = np.asarray(cols["first_s"], np.float64)
    return AddressDays(
        day=day,
        ip=np.asarray(cols["ip"], np.int64),
        group=group.astype(np.int64),
        first=first,
        last=np.asarray(cols["last_s"], np.float64),
        hits=np.asarray(cols["hits"], np.float64),
        before=np.asarray(cols["before"], bool),
        after=np.asarray(cols["after"], bool),
        carried=np.asarray(cols["carried_prev"], bool) & (first < margin_s),
        born=np.asarray(cols["born"], np.int64),
        dies=np.asarray(cols["dies"], np.int64),
        seen=np.asarray(cols["seen"], np.int64),
        fresh=np.asarray(cols["fresh"], np.int64),
        next_day=np.asarray(cols["next_day_fresh"], np.int64),
        groups=groups,
    )


@dataclass(frozen=True)
class Timer:
    """The bots' check-in timer: interval and the spread of each check-in's delay."""

    interval: float
    """Seconds between check-ins (tau)."""
    jitter: float
    """Each check-in is late by up to this many seconds (J < tau)."""


def checkin_timer(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, *, min_rows: int = 50
) -> Timer | None:
    """The check-in timer: tau is the median of (last - first) / (hits - 1) over address-days
    with at least 5 hits, if the timer is regular (half of those within 20% of it); J is
    3 x the mean |span - (hits - 1) tau| where that is below tau (the difference of two
    uniform delays has mean |.| J / 3). None when the data has no usable timing: feeds that
    report once a day, or once per address and hour (tau of MAX_TIMER_S or more), and bots
    whose timers differ so much that fewer than half of the address-days keep to one."""
    where, params = without_ids(query)
    cond = f"{where} AND hits >= 5"
    sql = f"""
        WITH r AS (
            SELECT (epoch_us(last_seen) - epoch_us(first_seen)) / 1e6 AS span, hits
            FROM {relation} WHERE {cond}
        ), m AS (SELECT count(*) AS n, median(span / (hits - 1)) AS tau FROM r)
        SELECT n, tau,
               avg(CASE WHEN abs(span / (hits - 1) / tau - 1) < 0.2 THEN 1.0 ELSE 0.0 END),
               avg(abs(span - (hits - 1) * tau)) FILTER (abs(span - (hits - 1) * tau) < tau)
        FROM r, m GROUP BY n, tau
    """  # noqa: S608 (conditions are ours; values are parameters)
    row = con.execute(sql, params).fetchone()
    if row is None:
        return None
    n, tau, regular, residual = row
    if n < min_rows or tau is None or tau <= 0 or regular is None or regular < 0.5:
        return None
    if tau >= MAX_TIMER_S:
        return None
    jitter = min(max(3.0 * float(residual or 0.0), 0.05 * float(tau), 2.0), 0.9 * float(tau))
    return Timer(float(tau), jitter)

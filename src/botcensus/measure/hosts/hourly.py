"""Distinct addresses per hour, averaged over the window's hours (unit `unique_ip`).

Asghari et al. (USENIX Security 2015) count botnet infections as the unique addresses seen
per hour, averaged over a day: within an hour an address rarely changes hands or numbers,
so the series tracks machines online, not the churn of a day or a week. From daily
sightings an address counts in each UTC hour from its first to its last check-in of the day
(a gap in between counts too: the first and last check-in are all a sighting keeps).
The mean is over every hour of the window's days with data, empty hours included. It is
a series beside the census and the host estimate, not a count of machines: machines that
are offline are in none of its hours.
"""

from __future__ import annotations

from typing import Final

import duckdb
import pyarrow as pa

from botcensus.measure.census import GROUPS, CensusQuery, attach, window_start_sql

CHECKED_GAP_S: Final = 3600
"""Longest time between two check-ins of an address across which `checked_hours` counts it
in every hour: an address is sure to be in use in the hours it checked in, and in those
between only where it checked in at least hourly."""


def hour_rows_sql(query: CensusQuery, relation: str, where: str, *, v4_only: bool = False) -> str:
    """The CTEs `r` (one row per sighting: window_start, day, source_ip, the query's groups
    and `v4`), `hours` (one row per sighting and UTC hour from its first to its last
    check-in of the day: window_start, day, hour, source_ip, the groups) and
    `checked_hours` (the same, but across the gap between its first and last check-in only
    where it is at most CHECKED_GAP_S, else the hours of those two check-ins only), for a
    WITH clause. `where`: the SQL condition on `relation` (values as parameters); `v4_only`:
    the hours keep IPv4 addresses only. The one hour expansion of the package (hosts.bounds
    too); DuckDB computes only the CTEs a query uses."""
    keys = "".join(f", {GROUPS[g]} AS {g}" for g in query.by)
    names = "".join(f", {g}" for g in query.by)
    return f"""
        r AS (
            SELECT {window_start_sql(query)} AS window_start, day, source_ip{keys},
                   NOT contains(source_ip, ':') AS v4,
                   CAST((epoch(first_seen) - epoch(day::TIMESTAMP)) // 3600 AS BIGINT) AS h0,
                   CAST((epoch(last_seen) - epoch(day::TIMESTAMP)) // 3600 AS BIGINT) AS h1,
                   epoch(last_seen) - epoch(first_seen) AS gap_s
            FROM {relation} WHERE {where}
        ), hours AS (
            SELECT window_start, day, unnest(range(greatest(h0, 0), least(h1, 23) + 1)) AS hour,
                   source_ip{names}
            FROM r WHERE {"v4" if v4_only else "TRUE"}
        ), checked_hours AS (
            SELECT window_start, day,
                   unnest(CASE WHEN gap_s <= {CHECKED_GAP_S}
                               THEN range(greatest(h0, 0), least(h1, 23) + 1)
                               ELSE [greatest(h0, 0), least(h1, 23)] END) AS hour,
                   source_ip{names}
            FROM r WHERE {"v4" if v4_only else "TRUE"}
        )
    """  # noqa: S608 (identifiers from the fixed GROUPS table; values are parameters)


def hourly_ips(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> pa.Table:
    """Per census window and group: ips_hourly_avg, the mean distinct addresses per hour."""
    query.check()
    where, params = query.where()
    names = "".join(f", {g}" for g in query.by)
    sql = f"""
        WITH {hour_rows_sql(query, relation, where)}, per_hour AS (
            SELECT window_start{names}, day, hour, count(DISTINCT source_ip) AS ips
            FROM hours GROUP BY ALL
        ), days AS (
            SELECT window_start, count(DISTINCT day) AS n FROM r GROUP BY window_start
        )
        SELECT window_start,
               CAST(window_start + INTERVAL {query.days - 1} DAY AS DATE) AS window_end{names},
               sum(ips) / (24.0 * any_value(days.n)) AS ips_hourly_avg
        FROM per_hour JOIN days USING (window_start)
        GROUP BY ALL
        ORDER BY window_start{names}
    """  # noqa: S608 (identifiers from the fixed GROUPS table; values are parameters)
    return con.sql(sql, params=params).to_arrow_table()


def timed_share(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> float:
    """The share of the query's sightings (address-days) whose last check-in is later than
    their first: none where reports give one row per address and day with one time (the
    sightings then show nothing within a day); 1.0 where there are no sightings."""
    query.check()
    where, params = query.where()
    sql = f"SELECT avg((last_seen > first_seen)::DOUBLE) FROM {relation} WHERE {where}"  # noqa: S608 (values are parameters)
    ((share,),) = con.execute(sql, params).fetchall()  # all: no unfinished result left
    return 1.0 if share is None else float(share)


def with_hourly(
    con: duckdb.DuckDBPyConnection, rows: pa.Table, query: CensusQuery, relation: str
) -> pa.Table:
    """Census rows (keyed by window_start and the query's groups) with ips_hourly_avg
    appended in the same order; null where the window or group has none."""
    return attach(rows, hourly_ips(con, query, relation), query, ("ips_hourly_avg",))

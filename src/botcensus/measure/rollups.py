"""The census from roll-ups: exact counts per window for every grouping the dashboard asks,
built once per day and per week from the raw sightings, and read back as census rows.

A distinct count cannot be added up across days or groups (one address seen on two days, or
under two feeds, is one address), so the roll-up keeps, for each window (a UTC day, or a
week ending on `week_ends`), one row per group of every grouping set in GROUPING_SETS: a
group (none, country, ASN, family or feed) together with the family and feed filters a
query may add. Its counts are the census's own SQL (`count(DISTINCT source_ip)`, the same
claimed-sightings filter, the same window starts) over the same rows, so a query the
roll-up can answer gives the rows `census_with_change` gives, and `with_change` adds the
same change columns and ranks (tests/measure/test_rollups.py checks this).

    rows = rollup_rows(con, "sightings", "week", "sat")       # ROLLUP_SCHEMA
    table = census_from_rollups(con, query, "rollup_week")    # census_with_change's rows
"""

from __future__ import annotations

from datetime import date
from itertools import combinations
from typing import Final

import duckdb
import pyarrow as pa

from botcensus.measure.census import (
    GROUPS,
    CensusQuery,
    Window,
    change_sql,
    coverage_sql,
    day_span,
    window_start_sql,
)

DIMENSIONS: Final[tuple[str, ...]] = ("country", "asn", "family", "feed")
"""The census groups the roll-up keeps, in the order of their bits in `grouping`."""
FILTERS: Final[tuple[str, ...]] = ("family", "feed")
"""Groups a query may filter on (CensusQuery.family, .feed)."""


def _sets() -> tuple[tuple[str, ...], ...]:
    found: list[tuple[str, ...]] = []
    for group in ((), ("country",), ("asn",), ("family",), ("feed",)):
        for n in range(len(FILTERS) + 1):
            for filters in combinations(FILTERS, n):
                chosen = set(group) | set(filters)
                ordered = tuple(d for d in DIMENSIONS if d in chosen)
                if ordered not in found:
                    found.append(ordered)
    return tuple(found)


GROUPING_SETS: Final = _sets()
"""Every set of dimensions a row of the roll-up is grouped by: one census group (or none)
plus any of the filters. Country with ASN is not kept (the dashboard ranks networks
worldwide); such a query is answered from the sightings."""

ROLLUP_SCHEMA: Final = pa.schema(
    [
        pa.field("window_start", pa.date32(), nullable=False),
        pa.field("window_end", pa.date32(), nullable=False),
        pa.field("grouping", pa.int32(), nullable=False),
        pa.field("country", pa.string()),
        pa.field("asn", pa.int64()),
        pa.field("family", pa.string()),
        pa.field("feed", pa.string()),
        pa.field("as_name", pa.string()),
        pa.field("unique_ip", pa.int64(), nullable=False),
        pa.field("unique_bot_id", pa.int64(), nullable=False),
        pa.field("hits", pa.int64(), nullable=False),
        pa.field("days", pa.int32(), nullable=False),
    ],
    metadata={
        "botcensus.rollup": "exact census counts per window and grouping set; `grouping` "
        "has bit i set when DIMENSIONS[i] is a group of the row (0: the window's total)",
    },
)
"""One row per window and group of a grouping set: `grouping` says which dimensions the row
is grouped by (a null country in a row grouped by country is the census's null group, the
sightings without a country); `as_name` the network's name (rows grouped by ASN); `days`
the days of the window with sightings in the row."""


def grouping_mask(dimensions: tuple[str, ...] | set[str]) -> int:
    """The `grouping` value of rows grouped by these dimensions."""
    return sum(1 << DIMENSIONS.index(d) for d in dimensions)


def rollup_sql(window: Window, week_ends: str, relation: str) -> str:
    """One statement: ROLLUP_SCHEMA rows of every window in `relation` (sightings)."""
    query = CensusQuery(window=window, week_ends=week_ends)
    query.check()
    where, _ = query.where(dates=False)  # claimed sightings, as every census counts
    columns = {d: GROUPS[d] for d in DIMENSIONS}
    grouping = " + ".join(
        f"(1 - GROUPING({columns[d]})) * {1 << i}" for i, d in enumerate(DIMENSIONS)
    )
    sets = ", ".join(
        "(" + ", ".join(["window_start", *(columns[d] for d in s)]) + ")" for s in GROUPING_SETS
    )
    selected = ", ".join(f"{columns[d]} AS {d}" for d in DIMENSIONS)
    return f"""
        SELECT window_start,
               CAST(window_start + INTERVAL {query.days - 1} DAY AS DATE) AS window_end,
               CAST({grouping} AS INTEGER) AS grouping, {selected},
               CASE WHEN GROUPING(source_asn) = 0 THEN max(source_as_name) END AS as_name,
               count(DISTINCT source_ip) AS unique_ip,
               count(DISTINCT bot_id) AS unique_bot_id,
               sum(hits)::BIGINT AS hits,
               CAST(count(DISTINCT day) AS INTEGER) AS days
        FROM (SELECT {window_start_sql(query)} AS window_start, * FROM {relation} WHERE {where})
        GROUP BY GROUPING SETS ({sets})
        ORDER BY window_start, grouping, country, asn, family, feed
    """  # noqa: S608 (identifiers from GROUPS and DIMENSIONS; the relation is ours)


def rollup_rows(
    con: duckdb.DuckDBPyConnection, relation: str, window: Window, week_ends: str = "sat"
) -> pa.Table:
    """The roll-up of the sightings in `relation` (every window they touch)."""
    table = con.sql(rollup_sql(window, week_ends, relation)).to_arrow_table()
    return table.select(ROLLUP_SCHEMA.names).cast(ROLLUP_SCHEMA)


def window_bounds(query: CensusQuery) -> tuple[date | None, date | None]:
    """The first and last day of the windows that hold query.date_from and query.date_to."""
    lo, hi = query.date_from, query.date_to
    if query.window == "day":
        return lo, hi
    from botcensus.measure.census import WEEKDAYS

    end_dow = WEEKDAYS.index(query.week_ends)  # Monday = 0

    def start_of(day: date) -> int:
        return day.toordinal() - (day.weekday() - end_dow - 1) % 7

    # A window reaching past the calendar's ends (from=0001-01-01) is cut there.
    return (
        None if lo is None else date.fromordinal(max(1, start_of(lo))),
        None if hi is None else date.fromordinal(min(date.max.toordinal(), start_of(hi) + 6)),
    )


def answerable(query: CensusQuery, week_ends: str) -> str | None:
    """None when a roll-up with weeks ending on `week_ends` answers `query` exactly, else why
    not (the caller then counts the sightings)."""
    query.check()
    if query.include_unclaimed:
        return "unclaimed sightings are not rolled up"
    if query.window == "week" and query.week_ends != week_ends:
        return f"weeks are rolled up ending {week_ends}, not {query.week_ends}"
    wanted = set(query.by) | {f for f in FILTERS if getattr(query, f) is not None}
    if set(query.by) - set(DIMENSIONS) or tuple(d for d in DIMENSIONS if d in wanted) not in (
        GROUPING_SETS
    ):
        return f"grouping by {', '.join(query.by)} is not rolled up"
    if window_bounds(query) != (query.date_from, query.date_to):
        return "the range cuts a window (the roll-up holds whole windows)"
    return None


def _coverage_sql(query: CensusQuery, days: str) -> tuple[str, dict[str, object]]:
    """census.coverage_sql over the day roll-up `days`: a day has data where its row of all
    claimed sightings (per feed when the query groups or filters by feed) exists."""
    on_feed = "feed" in query.by or query.feed is not None
    mask = grouping_mask({"feed"} if on_feed else set())
    feed = "feed" if on_feed else "NULL::VARCHAR"
    data = (
        f"(SELECT window_start AS day, {feed} AS feed_name, "  # noqa: S608 (names are ours)
        f"'' AS malware_family FROM {days} WHERE grouping = {mask})"
    )
    return coverage_sql(query, data)


def coverage_from_rollups(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, days: str
) -> pa.Table:
    """census.coverage's rows from the day roll-up `days`."""
    sql, params = _coverage_sql(query, days)
    return con.sql(sql, params=params).to_arrow_table()


def _filters(query: CensusQuery) -> tuple[list[str], dict[str, object]]:
    """The roll-up rows of the query's grouping, family and feed (not its dates)."""
    wanted = set(query.by) | {f for f in FILTERS if getattr(query, f) is not None}
    params: dict[str, object] = {"grouping": grouping_mask(wanted)}
    conditions = ["grouping = $grouping"]
    for name, value in (
        ("family", query.family),
        ("feed", query.feed),
    ):
        if value is not None:
            conditions.append(f"{name} = ${name}")
            params[name] = value
    return conditions, params


def rollup_span(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> tuple[date, date] | None:
    """The first and last window start of the roll-up rows in `relation` that match the
    query but for its dates (None: none), for the note of an empty answer."""
    conditions, params = _filters(query)
    return day_span(con, relation, " AND ".join(conditions), params, column="window_start")


def _counts_sql(query: CensusQuery, relation: str) -> tuple[str, dict[str, object]]:
    conditions, params = _filters(query)
    if query.date_from is not None:
        conditions.append("window_start >= $lo")
        params["lo"] = query.date_from
    if query.date_to is not None:
        conditions.append("window_end <= $hi")
        params["hi"] = query.date_to
    groups = "".join(f", {g}" for g in query.by)
    sql = f"""
        SELECT window_start, window_end{groups}, unique_ip, unique_bot_id, hits
        FROM {relation} WHERE {" AND ".join(conditions)}
        ORDER BY window_start{groups}
    """  # noqa: S608 (group names checked by answerable; values are parameters)
    return sql, params


def census_from_rollups(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, days: str | None = None
) -> pa.Table:
    """The rows census_with_change(con, query, sightings) gives, from the roll-up rows in
    `relation` (ROLLUP_SCHEMA, of the query's window kind). The query must be answerable.
    With `days`, the day roll-up, also the coverage columns (census_with_change(...,
    covered=True)). The counts and their changes are one statement; the coverage is counted
    first and joined as a table (cheaper than as a subquery: DuckDB's window functions over
    that join cost a third more with a thousand ASNs)."""
    counts, params = _counts_sql(query, relation)
    if days is None:
        sql = change_sql(query.by, "unique_ip", f"({counts})")
        return con.sql(sql, params=params).to_arrow_table()
    con.register("covered", coverage_from_rollups(con, query, days))
    try:
        sql = change_sql(query.by, "unique_ip", f"({counts})", "covered", query.days)
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.unregister("covered")

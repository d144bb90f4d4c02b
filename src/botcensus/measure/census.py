"""The census: unique source IPs, unique bot ids and hits per window and group (pure SQL).

Every count names its unit (model.Unit); the three units sit in separate columns, never mixed.
Windows are UTC days, or weeks ending on a chosen weekday (Microsoft's Rustock figures are for
weeks ending Saturday). `window_end` is the window's last day, inclusive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

import duckdb
import pyarrow as pa

from botcensus.model import ADDRESS_KEY

Window = Literal["day", "week"]
GROUPS: Final[dict[str, str]] = {
    "country": "source_cc",
    "asn": "source_asn",
    "family": "malware_family",
    "feed": "feed_name",
    "sensor": "sensor",
}
WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NETWORK_KEY_SQL: Final = f"coalesce({GROUPS['country']}, '') || '|' || {GROUPS['asn']}"
"""A sighting's network (country, ASN) as one text key, "CC|ASN" ("" for no country), to
test against a list of networks passed as a parameter (network_keys)."""


def network_keys(networks: Iterable[tuple[str | None, int]]) -> list[str]:
    """(country, ASN) pairs as NETWORK_KEY_SQL spells them."""
    return [f"{cc or ''}|{asn}" for cc, asn in sorted(networks, key=str)]


Params = dict[str, object]
"""Named parameters ($name in DuckDB's SQL, :name in Spark's)."""
Address = tuple[str, ...]
"""The sightings columns whose distinct values are the distinct addresses."""
TEXT: Final[Address] = ("source_ip",)
"""Addresses counted by their text (every sightings relation has it)."""
KEY: Final[Address] = ADDRESS_KEY
"""Addresses counted by their 128-bit key (version-2 sightings: model.ADDRESS_KEY), the
same count as TEXT's when every row has the key (store.sighting_key.all_keyed), in less
time: two integers group faster than a string."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL engines that run the census: the census is written once,
    in the SQL DuckDB and Spark SQL share, and these few spellings are filled in."""

    name: str
    param: str
    """What comes before a named parameter."""
    weekday: str
    """SQL of the ISO weekday of `{}` counted from 0 (Monday) to 6 (Sunday)."""
    first_value: str
    """SQL of the window function's first non-null value of `{}` (before OVER)."""
    distinct: str
    """SQL of the number of distinct non-null tuples of the columns `{}` (comma-separated)."""
    grouped: bool = False
    """The census counts distinct addresses and bot ids by grouping (one row per window,
    group and value, then rows counted: census_sql), not by count(DISTINCT). The same
    numbers; which is faster depends on the engine (BENCHMARKS.md): on Spark, with the rows
    partitioned by window and group first (`partition`), one shuffle of the rows and no
    Expand (a third less CPU at 1x); on DuckDB, no faster than its count(DISTINCT)."""
    partition: str = ""
    """SQL placed after a SELECT keyword that hash-partitions the query's rows by its
    columns `{}` (comma-separated) before the aggregates above it; empty: nothing."""


DUCKDB: Final = Dialect(
    "duckdb", "$", "(isodow({}) - 1)", "first_value({} IGNORE NULLS)", "count(DISTINCT ({}))"
)
SPARK: Final = Dialect(
    "spark",
    ":",
    "weekday({})",
    "first_value({}, true)",
    "count(DISTINCT {})",
    grouped=True,
    partition="/*+ REPARTITION({}) */",
)


def distinct_addresses(address: Address, dialect: Dialect) -> str:
    """SQL of the number of distinct addresses, counted by the columns `address`."""
    return dialect.distinct.format(", ".join(address))


@dataclass(frozen=True, slots=True)
class CensusQuery:
    """What to count."""

    window: Window = "week"
    week_ends: str = "sat"
    by: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    family: str | None = None
    feed: str | None = None
    include_unclaimed: bool = False
    """Count sightings no decoder claimed (scanners, researchers); off by default."""
    today: date | None = None
    """The day the census runs in (UTC), which is not over: it is never a covered day, so a
    window holding it is partial whatever data it has (a live sinkhole's day or week so far
    is not a fall). None: every day is over (a finished dataset). Set at the edges that read
    the clock (census_of_dataset, the CLI, the web), never in here."""

    @property
    def days(self) -> int:
        """Days in one window."""
        return 1 if self.window == "day" else 7

    def check(self) -> None:
        """Raise ValueError for a group or week end the census does not know."""
        for g in self.by:
            if g not in GROUPS:
                raise ValueError(f"cannot group by {g!r}; choose from {', '.join(GROUPS)}")
        if self.week_ends not in WEEKDAYS:
            raise ValueError(f"--week-ends {self.week_ends!r}: choose from {', '.join(WEEKDAYS)}")

    def where(self, *, dates: bool = True, dialect: Dialect = DUCKDB) -> tuple[str, Params]:
        """The census's row filter (claimed sightings unless include_unclaimed, the family,
        the feed and, with `dates`, the range) as one SQL condition over sightings columns
        with its named parameters ($census_family, $census_feed, $census_from, $census_to).
        Only parameters the condition uses are returned (DuckDB rejects unused ones), so
        callers add their own by name: `{**params, "lo": lo}`."""
        conditions: list[str] = [] if self.include_unclaimed else ["malware_family IS NOT NULL"]
        params: Params = {}
        bounds = (self.date_from, self.date_to) if dates else (None, None)
        for condition, name, value in (
            ("malware_family = {}", "census_family", self.family),
            ("feed_name = {}", "census_feed", self.feed),
            ("day >= {}", "census_from", bounds[0]),
            ("day <= {}", "census_to", bounds[1]),
        ):
            if value is not None:
                conditions.append(condition.format(dialect.param + name))
                params[name] = value
        return " AND ".join(conditions) or "true", params


def day_span(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str = "true",
    params: Params | None = None,
    column: str = "day",
) -> tuple[date, date] | None:
    """The first and last `column` (a date) of the relation's rows that meet `where` (a
    condition of ours, values in `params`); None where no row does."""
    sql = f"SELECT min({column}), max({column}) FROM {relation} WHERE {where}"  # noqa: S608 (names and conditions are ours; values are parameters)
    first, last = con.execute(sql, params or {}).fetchall()[0]
    return None if first is None else (first, last)


def window_start_sql(query: CensusQuery, dialect: Dialect = DUCKDB) -> str:
    """SQL for the first day of the window containing `day`."""
    if query.window == "day":
        return "day"
    # ISO weekday from 0 (Monday). A week ending on weekday E starts on E+1; date - integer
    # is a date in both engines.
    start = (WEEKDAYS.index(query.week_ends) + 1) % 7
    back = f"CAST(({dialect.weekday.format('day')} - {start} + 7) % 7 AS INT)"
    return f"CAST(day - {back} AS DATE)"


def census_sql(
    query: CensusQuery, relation: str, dialect: Dialect = DUCKDB, *, address: Address = TEXT
) -> tuple[str, Params]:
    """The census as one SQL statement over a sightings relation, with its named parameters
    (in the SQL both DuckDB and Spark SQL run: `dialect` fills in what differs), counting
    distinct addresses by the columns `address`."""
    query.check()
    where, params = query.where(dialect=dialect)
    keys = [f"{GROUPS[g]} AS {g}" for g in query.by]
    select_keys = "".join(f", {k}" for k in keys)
    group_keys = "".join(f", {g}" for g in query.by)
    order_keys = "".join(f", {g} NULLS LAST" for g in query.by)
    partition = dialect.partition.format(f"window_start{group_keys}") if dialect.grouped else ""
    # identifiers come from the fixed GROUPS table; values are parameters
    rows = f"""SELECT {partition} {window_start_sql(query, dialect)} AS window_start{select_keys},
                     {", ".join(address)}, bot_id, hits
              FROM {relation} WHERE {where}"""  # noqa: S608 (above)
    if dialect.grouped:
        counts = _grouped_counts(rows, group_keys, address)
    else:
        counts = f"""{distinct_addresses(address, dialect)} AS unique_ip,
               count(DISTINCT bot_id) AS unique_bot_id,
               CAST(sum(hits) AS BIGINT) AS hits
        FROM ({rows}) AS rows"""
    sql = f"""
        SELECT window_start,
               CAST(window_start + {query.days - 1} AS DATE) AS window_end
               {group_keys},
               {counts}
        GROUP BY ALL
        ORDER BY window_start{order_keys}
    """
    return sql, params


def _grouped_counts(rows: str, group_keys: str, address: Address) -> str:
    """The census's three counts and the FROM they come from, by grouping: the rows grouped
    by window, group and address (one row per address, with its hits), counted; and,
    beside them, the rows with a bot id grouped by window, group and bot id, counted. The
    same numbers as count(DISTINCT): an address counts when none of its columns is null
    (count(DISTINCT a, b)), a null bot id never. Each grouping starts with the window and
    group keys, so rows partitioned by those (Dialect.partition) need no second shuffle; the
    bot ids' scan skips every file without one (Parquet statistics)."""
    keys = f"window_start{group_keys}"
    present = " AND ".join(f"{a} IS NOT NULL" for a in address)
    return f"""CAST(sum(unique_ip) AS BIGINT) AS unique_ip,
               CAST(sum(unique_bot_id) AS BIGINT) AS unique_bot_id,
               CAST(sum(hits) AS BIGINT) AS hits
        FROM (SELECT {keys}, count(CASE WHEN {present} THEN 1 END) AS unique_ip,
                     0 AS unique_bot_id, sum(hits) AS hits
              FROM (SELECT {keys}, {", ".join(address)}, sum(hits) AS hits
                    FROM ({rows}) AS rows GROUP BY {keys}, {", ".join(address)}) AS addresses
              GROUP BY {keys}
              UNION ALL
              SELECT {keys}, 0, count(*), NULL
              FROM (SELECT DISTINCT {keys}, bot_id
                    FROM ({rows}) AS rows WHERE bot_id IS NOT NULL) AS bots
              GROUP BY {keys}) AS counts"""  # noqa: S608 (column names are ours)


def census(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> pa.Table:
    """Run the census over a sightings relation (a view or table name) on `con`."""
    sql, params = census_sql(query, relation)
    return con.sql(sql, params=params).to_arrow_table()


def attach(
    rows: pa.Table, extra: pa.Table, query: CensusQuery, columns: tuple[str, ...]
) -> pa.Table:
    """Census rows (any columns, keyed by window_start and the query's groups) with `columns`
    of `extra` (keyed the same) appended (numbers as float64), in the rows' order; null where
    `extra` has no row."""
    keys = ["window_start", *query.by]
    index = pa.array(range(rows.num_rows), pa.int64())
    left = rows.select(keys).append_column("row", index)
    right = extra.select([*keys, *columns])
    joined = left.join(right, keys=keys, join_type="left outer").sort_by("row")
    for name in columns:
        column = joined[name]
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        rows = rows.append_column(name, column.cast(pa.float64()) if numeric else column)
    return rows


COVERED_BY: Final[tuple[str, ...]] = ("feed", "sensor")
"""Groups that are sources of data: a window's coverage is counted per feed or sensor.
Other groups (country, ASN, family) share the coverage of the data they come from: a day
with reports but none of family X is a day of zero X, not a missing day."""


def coverage_sql(
    query: CensusQuery, relation: str, dialect: Dialect = DUCKDB
) -> tuple[str, Params]:
    """Per window (and feed or sensor when the query groups by them): `days_covered`, the
    days of the window, inside the query's range, on which the relation holds any row the
    census counts of the query's feed, of any family (a day with reports but none of the
    family asked for is a day of zero, not a missing day), before the query's `today` (a day
    not over is not covered, whatever it holds). Runs over sightings or sketch
    rows (and, in measure.rollups, over the day roll-up)."""
    query.check()
    where, params = CensusQuery(
        date_from=query.date_from,
        date_to=query.date_to,
        feed=query.feed,
        include_unclaimed=query.include_unclaimed,
    ).where(dialect=dialect)
    keys = "".join(f", {GROUPS[g]} AS {g}" for g in query.by if g in COVERED_BY)
    day = "day"
    if query.today is not None:  # the day not over yet is not covered
        day = f"CASE WHEN day < {dialect.param}census_today THEN day END"
        params = {**params, "census_today": query.today}
    sql = f"""
        SELECT {window_start_sql(query, dialect)} AS window_start{keys},
               CAST(count(DISTINCT {day}) AS INT) AS days_covered
        FROM {relation} WHERE {where} GROUP BY ALL
    """  # noqa: S608 (identifiers from GROUPS; values are parameters)
    return sql, params


def coverage(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> pa.Table:
    """coverage_sql's rows: window_start, the query's feed or sensor group, days_covered."""
    sql, params = coverage_sql(query, relation)
    return con.sql(sql, params=params).to_arrow_table()


def change_sql(
    by: tuple[str, ...],
    column: str,
    counts: str,
    covered: str | None = None,
    days: int = 7,
    dialect: Dialect = DUCKDB,
) -> str:
    """SELECT the rows of `counts` (a relation or a parenthesised query) with the change
    columns and rank of with_change; with `covered` (coverage rows), also days_covered and
    partial, and changes only between full windows that follow each other."""
    if column not in ("unique_ip", "unique_ip_hll"):
        raise ValueError(f"cannot compare {column!r}")
    part = f"PARTITION BY {', '.join(by)}" if by else ""
    ties = "".join(f", {g} NULLS LAST" for g in by)  # equal counts in a stable order
    rank = f"CAST(rank() OVER (PARTITION BY window_start ORDER BY {column} DESC) AS BIGINT) AS rank"
    if covered is None:
        return f"""
        SELECT *,
               {column} / lag({column}) OVER (w) - 1 AS {column}_change,
               {column} / first_value({column}) OVER (w) - 1 AS {column}_change_since_first,
               {rank}
        FROM {counts} AS counts
        WINDOW w AS ({part} ORDER BY window_start)
        ORDER BY window_start, rank{ties}
    """  # noqa: S608 (group names were checked against GROUPS; column against a fixed list)
    # ON, not USING: Spark moves USING keys to the front of n.*
    keys = " AND ".join(
        f"n.{k} = v.{k}" for k in ["window_start", *(g for g in by if g in COVERED_BY)]
    )
    full = f"CASE WHEN NOT partial THEN {column} END"
    # A change needs this window and the one just before it both full: across a partial
    # window it measures the missing days, and across a gap it is not "the previous window".
    return f"""
        WITH c AS (
            SELECT n.*, CAST(coalesce(v.days_covered, 0) AS INT) AS days_covered,
                   coalesce(v.days_covered, 0) < {days} AS partial
            FROM {counts} n LEFT JOIN {covered} v ON {keys}
        )
        SELECT *,
               CASE WHEN NOT partial AND NOT lag(partial) OVER (w)
                         AND lag(window_start) OVER (w) = CAST(window_start - {days} AS DATE)
                    THEN {column} / lag({column}) OVER (w) - 1 END AS {column}_change,
               CASE WHEN NOT partial THEN {column} / {dialect.first_value.format(full)} OVER (w) - 1
               END AS {column}_change_since_first,
               {rank}
        FROM c
        WINDOW w AS ({part} ORDER BY window_start)
        ORDER BY window_start, rank{ties}
    """  # noqa: S608 (group names were checked against GROUPS; column against a fixed list)


def with_change(
    con: duckdb.DuckDBPyConnection,
    counts: pa.Table,
    by: tuple[str, ...],
    column: str = "unique_ip",
    covered: pa.Table | None = None,
    days: int = 7,
) -> pa.Table:
    """Add, per group, `<column>_change` (fraction against the group's previous window),
    `<column>_change_since_first` (against its first window) and `rank` (1 = largest `column`
    within the window). `column` is the count compared: unique_ip, or unique_ip_hll.
    With `covered` (coverage rows of the same query; `days`: the window's length) also
    `days_covered` and `partial` (fewer days covered than the window has), and changes
    only between full windows that follow each other, since the first full window."""
    sql = change_sql(by, column, "counts", None if covered is None else "covered", days)
    con.register("counts", counts)
    if covered is not None:
        con.register("covered", covered)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("counts")
        if covered is not None:
            con.unregister("covered")


def census_with_change_sql(
    query: CensusQuery,
    relation: str,
    dialect: Dialect = DUCKDB,
    *,
    covered: bool = False,
    address: Address = TEXT,
) -> tuple[str, Params]:
    """with_change(census(...)) as one statement and its parameters, in `dialect`: what
    `census_with_change` runs on DuckDB and the Spark engine (measure/spark.py) on Spark;
    `covered` adds the coverage columns (coverage_sql over the same relation)."""
    sql, params = census_sql(query, relation, dialect, address=address)
    if not covered:
        return change_sql(query.by, "unique_ip", f"({sql})", dialect=dialect), params
    cover, cover_params = coverage_sql(query, relation, dialect)
    change = change_sql(query.by, "unique_ip", f"({sql})", f"({cover})", query.days, dialect)
    return change, {**params, **cover_params}


def census_with_change(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    *,
    covered: bool = False,
    address: Address = TEXT,
) -> pa.Table:
    """with_change(census(...)) in one statement: the counts never leave DuckDB between;
    `covered` adds the coverage columns (coverage_sql over the same relation)."""
    sql, params = census_with_change_sql(query, relation, covered=covered, address=address)
    return con.sql(sql, params=params).to_arrow_table()


def compare(
    con: duckdb.DuckDBPyConnection, counts: pa.Table, group: str, first: date, last: date
) -> pa.Table:
    """Per group: unique IPs in the window starting `first` and in the one starting `last`,
    and the relative change (none where `first` is `last`: one window is no change);
    ordered by the last window's count."""
    if group not in GROUPS:
        raise ValueError(f"cannot compare by {group!r}")
    sql = f"""
        SELECT {group},
               sum(unique_ip) FILTER (WHERE window_start = $first) AS unique_ip_first,
               sum(unique_ip) FILTER (WHERE window_start = $last) AS unique_ip_last,
               CASE WHEN $first < $last THEN unique_ip_last / unique_ip_first - 1 END
                   AS unique_ip_change
        FROM counts GROUP BY {group}
        ORDER BY unique_ip_last DESC NULLS LAST, unique_ip_first DESC
    """  # noqa: S608 (group checked against GROUPS)
    con.register("counts", counts)
    try:
        table = con.sql(sql, params={"first": first, "last": last}).to_arrow_table()
    finally:
        con.unregister("counts")
    return table.cast(
        pa.schema(
            [
                table.schema.field(group),
                pa.field("unique_ip_first", pa.int64()),
                pa.field("unique_ip_last", pa.int64()),
                pa.field("unique_ip_change", pa.float64()),
            ]
        )
    )

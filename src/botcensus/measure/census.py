"""The census: unique source IPs, unique bot ids and hits per window and group (pure SQL).

Every count names its unit (model.Unit); the three units sit in separate columns, never mixed.
Windows are UTC days, or weeks ending on a chosen weekday (Microsoft's Rustock figures are for
weeks ending Saturday). `window_end` is the window's last day, inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

import duckdb
import pyarrow as pa

Window = Literal["day", "week"]
GROUPS: Final[dict[str, str]] = {
    "country": "source_cc",
    "asn": "source_asn",
    "family": "malware_family",
    "feed": "feed_name",
    "sensor": "sensor",
}
WEEKDAYS: Final[tuple[str, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


Params = dict[str, object]
"""Named parameters ($name in DuckDB's SQL, :name in Spark's)."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL engines that run the census: the census is written once,
    in the SQL DuckDB and Spark SQL share, and these few spellings are filled in."""

    name: str
    param: str
    """What comes before a named parameter."""
    weekday: str
    """SQL of the ISO weekday of `{}` counted from 0 (Monday) to 6 (Sunday)."""


DUCKDB: Final = Dialect("duckdb", "$", "(isodow({}) - 1)")
SPARK: Final = Dialect("spark", ":", "weekday({})")


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


def window_start_sql(query: CensusQuery, dialect: Dialect = DUCKDB) -> str:
    """SQL for the first day of the window containing `day`."""
    if query.window == "day":
        return "day"
    # ISO weekday from 0 (Monday). A week ending on weekday E starts on E+1; date - integer
    # is a date in both engines.
    start = (WEEKDAYS.index(query.week_ends) + 1) % 7
    back = f"CAST(({dialect.weekday.format('day')} - {start} + 7) % 7 AS INT)"
    return f"CAST(day - {back} AS DATE)"


def census_sql(query: CensusQuery, relation: str, dialect: Dialect = DUCKDB) -> tuple[str, Params]:
    """The census as one SQL statement over a sightings relation, with its named parameters
    (in the SQL both DuckDB and Spark SQL run: `dialect` fills in what differs)."""
    query.check()
    where, params = query.where(dialect=dialect)
    keys = [f"{GROUPS[g]} AS {g}" for g in query.by]
    select_keys = "".join(f", {k}" for k in keys)
    group_keys = "".join(f", {g}" for g in query.by)
    order_keys = "".join(f", {g} NULLS LAST" for g in query.by)
    sql = f"""
        SELECT window_start,
               CAST(window_start + {query.days - 1} AS DATE) AS window_end
               {group_keys},
               count(DISTINCT source_ip) AS unique_ip,
               count(DISTINCT bot_id) AS unique_bot_id,
               CAST(sum(hits) AS BIGINT) AS hits
        FROM (SELECT {window_start_sql(query, dialect)} AS window_start{select_keys},
                     source_ip, bot_id, hits
              FROM {relation} WHERE {where}) AS rows
        GROUP BY ALL
        ORDER BY window_start{order_keys}
    """  # noqa: S608 (identifiers come from the fixed GROUPS table; values are parameters)
    return sql, params


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


def _change_sql(by: tuple[str, ...], column: str, counts: str) -> str:
    """SELECT the rows of `counts` (a relation or a parenthesised query) with the change
    columns and rank of with_change."""
    if column not in ("unique_ip", "unique_ip_hll"):
        raise ValueError(f"cannot compare {column!r}")
    part = f"PARTITION BY {', '.join(by)}" if by else ""
    ties = "".join(f", {g} NULLS LAST" for g in by)  # equal counts in a stable order
    return f"""
        SELECT *,
               {column} / lag({column}) OVER (w) - 1 AS {column}_change,
               {column} / first_value({column}) OVER (w) - 1 AS {column}_change_since_first,
               CAST(rank() OVER (PARTITION BY window_start ORDER BY {column} DESC) AS BIGINT)
                   AS rank
        FROM {counts} AS counts
        WINDOW w AS ({part} ORDER BY window_start)
        ORDER BY window_start, rank{ties}
    """  # noqa: S608 (group names were checked against GROUPS; column against a fixed list)


def with_change(
    con: duckdb.DuckDBPyConnection,
    counts: pa.Table,
    by: tuple[str, ...],
    column: str = "unique_ip",
) -> pa.Table:
    """Add, per group, `<column>_change` (fraction against the group's previous window),
    `<column>_change_since_first` (against its first window) and `rank` (1 = largest `column`
    within the window). `column` is the count compared: unique_ip, or unique_ip_hll."""
    sql = _change_sql(by, column, "counts")
    con.register("counts", counts)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("counts")


def census_with_change_sql(
    query: CensusQuery, relation: str, dialect: Dialect = DUCKDB
) -> tuple[str, Params]:
    """with_change(census(...)) as one statement and its parameters, in `dialect`: what
    `census_with_change` runs on DuckDB and the Spark engine (measure/spark.py) on Spark."""
    sql, params = census_sql(query, relation, dialect)
    return _change_sql(query.by, "unique_ip", f"({sql})"), params


def census_with_change(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> pa.Table:
    """with_change(census(...)) in one statement: the counts never leave DuckDB between."""
    sql, params = census_with_change_sql(query, relation)
    return con.sql(sql, params=params).to_arrow_table()


def compare(
    con: duckdb.DuckDBPyConnection, counts: pa.Table, group: str, first: date, last: date
) -> pa.Table:
    """Per group: unique IPs in the window starting `first` and in the one starting `last`,
    and the relative change; ordered by the last window's count."""
    if group not in GROUPS:
        raise ValueError(f"cannot compare by {group!r}")
    sql = f"""
        SELECT {group},
               sum(unique_ip) FILTER (WHERE window_start = $first) AS unique_ip_first,
               sum(unique_ip) FILTER (WHERE window_start = $last) AS unique_ip_last,
               unique_ip_last / unique_ip_first - 1 AS unique_ip_change
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

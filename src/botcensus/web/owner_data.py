"""A network owner's data: its infected addresses (from the daily sightings, within its
scope), its own clean-up curve beside its country's, and its events in the notification
formats. Every query here carries the scope's SQL condition; nothing else selects rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Final

import duckdb
import pyarrow as pa

from botcensus.measure.census import CensusQuery
from botcensus.store import as_name_of_asn
from botcensus.times import utc_today
from botcensus.web.scope import Scope

HOST_COLUMNS: Final = (
    "source.ip",
    "source.asn",
    "source.as_name",
    "source.geolocation.cc",
    "malware.name",
    "feed.name",
    "first_seen",
    "last_seen",
    "days_seen",
    "hits",
    "unique_bot_id",
)
"""Columns of a host row: IntelMQ's names where it has one (events leave the system here),
then first and last sighting (UTC), days with a sighting, check-ins and distinct bot ids."""


@dataclass(frozen=True, slots=True)
class HostQuery:
    family: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    limit: int = 500
    offset: int = 0


def _where(
    con: duckdb.DuckDBPyConnection, relation: str, scope: Scope, query: HostQuery
) -> tuple[str, dict[str, object]]:
    condition, params = scope.condition(con, relation)
    census = CensusQuery(family=query.family, date_from=query.date_from, date_to=query.date_to)
    where, census_params = census.where()  # the census's own filter: claimed, family, days
    return f"{condition} AND {where}", {**params, **census_params}


def hosts(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    scope: Scope,
    query: HostQuery,
    address: str = "source_ip",
    address_params: dict[str, object] | None = None,
) -> tuple[int, pa.Table]:
    """The number of (address, family) rows in scope and one page of them, most recently
    seen first. `address` is the SQL for the first column (a pseudonym expression for the
    operator's analytic view)."""
    where, params = _where(con, relation, scope, query)
    shown = {**params, **(address_params or {})}
    grouped = f"""
        SELECT {address} AS "source.ip", max(source_asn) AS "source.asn",
               {as_name_of_asn()} AS "source.as_name",
               max(source_cc) AS "source.geolocation.cc", malware_family AS "malware.name",
               string_agg(DISTINCT feed_name, ', ' ORDER BY feed_name) AS "feed.name",
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               count(DISTINCT day) AS days_seen, sum(hits)::BIGINT AS hits,
               count(DISTINCT bot_id) AS unique_bot_id
        FROM {relation} WHERE {where}
        GROUP BY source_ip, malware_family
    """  # noqa: S608 (the scope's SQL is built from checked values; the rest are parameters)
    counted = (
        f"SELECT count(*) FROM (SELECT 1 FROM {relation} WHERE {where} "  # noqa: S608 (as above)
        "GROUP BY source_ip, malware_family)"
    )
    total = con.sql(counted, params=params).fetchall()[0][0]
    order = 'ORDER BY last_seen DESC, "source.ip", "malware.name" LIMIT $limit OFFSET $offset'
    page = con.sql(
        f"{grouped} {order}", params={**shown, "limit": query.limit, "offset": query.offset}
    ).to_arrow_table()
    return int(total), page


def scoped_view(
    con: duckdb.DuckDBPyConnection, relation: str, scope: Scope, name: str = "owner_sightings"
) -> str:
    """A view of the sightings in scope (the census then counts only those)."""
    condition, params = scope.condition(con, relation)
    sql = f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {relation} WHERE {condition}"  # noqa: S608 (the scope's SQL from checked values)
    con.execute(sql, params)
    return name


def home_country(con: duckdb.DuckDBPyConnection, relation: str) -> str | None:
    """The country most of a scope's addresses are in."""
    row = con.sql(
        f"SELECT source_cc FROM {relation} WHERE source_cc IS NOT NULL "  # noqa: S608
        "GROUP BY source_cc ORDER BY count(DISTINCT source_ip) DESC, source_cc LIMIT 1"
    ).fetchall()
    return str(row[0][0]) if row else None


def weekly_curve(con: duckdb.DuckDBPyConnection, relation: str, week_ends: str) -> pa.Table:
    """The weekly census of a (scoped) sightings relation."""
    from botcensus.measure.census_run import run_census

    query = CensusQuery(window="week", week_ends=week_ends, today=utc_today())
    return run_census(con, query, relation).rows


def decay_of(weekly: pa.Table, first: date, last: date, count: str = "unique_ip") -> dict[str, Any]:
    """decay_table's overall row for complete weeks (what `botcensus cleanup` fits)."""
    from botcensus.measure.cleanup import complete_weeks, decay_table

    table = decay_table(complete_weeks(weekly, first, last), count=count)
    rows = table.to_pylist()
    return rows[0] if rows else {}


def curves(
    own: pa.Table, country: dict[date, int], first: date | None, last: date | None
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Per week: the scope's count and its country's, each also as a share of its first
    complete week; and the decay of each over the complete weeks."""
    from datetime import timedelta

    own_by = {r["window_start"]: r["unique_ip"] for r in own.to_pylist()}
    weeks = sorted(set(own_by) | set(country))
    complete = [w for w in weeks if first and last and first <= w <= last - timedelta(days=6)]
    base_own = next((own_by[w] for w in complete if w in own_by), None)
    base_cc = next((country[w] for w in complete if w in country), None)
    rows = []
    for w in weeks:
        mine, cc = own_by.get(w), country.get(w)
        rows.append(
            {
                "window_start": w,
                "window_end": w + timedelta(days=6),
                "own": mine,
                "country": cc,
                "own_share": mine / base_own if mine is not None and base_own else None,
                "country_share": cc / base_cc if cc is not None and base_cc else None,
            }
        )
    if first is None or last is None:
        return rows, {}, {}
    table = pa.Table.from_pylist(
        [
            {"window_start": w, "window_end": w + timedelta(days=6), "unique_ip": c}
            for w, c in sorted(country.items())
        ]
    )
    own_decay = decay_of(own, first, last) if own.num_rows else {}
    country_decay = decay_of(table, first, last) if table.num_rows else {}
    return rows, own_decay, country_decay


def export_events(
    dataset: Path,
    scope: Scope,
    fmt: str,
    out: BinaryIO,
    enrich: Any,
    family: str | None = None,
) -> int:
    """The raw events (sinkhole and feed) in scope, as IntelMQ JSON lines or a Shadowserver
    CSV report (export.export_events with the scope as its row filter); the number written."""
    import pyarrow.compute as pc

    from botcensus.export.event_query import ExportQuery
    from botcensus.export.events import export_events as export
    from botcensus.ipaddr import in_prefixes

    def keep(table: pa.Table) -> pa.Array:
        names = table.column_names

        def column(ours: str, theirs: str) -> pa.ChunkedArray | pa.Array:
            if ours in names and theirs in names:
                return pc.coalesce(table[ours], table[theirs])
            return table[ours] if ours in names else pa.nulls(table.num_rows)

        if scope.everything:
            return pa.array([True] * table.num_rows)
        hit = pa.array([False] * table.num_rows)
        if scope.asns:
            asn = column("source_asn", "reported_asn").cast(pa.int64())
            hit = pc.or_(hit, pc.fill_null(pc.is_in(asn, pa.array(scope.asns, pa.int64())), False))
        if scope.countries:
            cc = pc.utf8_upper(column("source_cc", "reported_cc").cast(pa.string()))
            hit = pc.or_(hit, pc.fill_null(pc.is_in(cc, pa.array(scope.countries)), False))
        if scope.prefixes:
            hit = pc.or_(hit, in_prefixes(table["source_ip"].cast(pa.string()), scope.prefixes))
        return hit

    families = () if family is None else (family,)
    return export(dataset, ExportQuery(families=families, keep=keep), fmt, out, enrich)


REPORT_FORMATS: Final = ("shadowserver", "shadowserver-sinkhole", "xarf", "intelmq")
"""The notification formats an owner may download its host rows in (export renderers)."""
REPORT_MAX_DAYS: Final = 31
REPORT_MAX_ROWS: Final = 2_000_000


class ReportTooLargeError(ValueError):
    """A report over REPORT_MAX_ROWS host rows: a narrower range or scope is needed."""


def host_day_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    scope: Scope,
    first: date,
    last: date,
    family: str | None = None,
) -> pa.Table:
    """HOST_SCHEMA rows in scope (one per address, family and day, whoever saw it, as the
    notify stage builds them), `network` naming the scope. ReportTooLargeError past
    REPORT_MAX_ROWS."""
    from botcensus.export import HOST_SCHEMA
    from botcensus.model import SINKHOLE_FEED_NAME

    condition, params = scope.condition(con, relation)
    params = {**params, "lo": first, "hi": last}
    filters = [condition, "day BETWEEN $lo AND $hi", "coalesce(malware_family, '') <> ''"]
    if family is not None:
        filters.append("lower(malware_family) = lower($family)")
        params["family"] = family
    where = " AND ".join(filters)
    counted = con.sql(
        f"SELECT count(*) FROM (SELECT DISTINCT day, source_ip, lower(malware_family) "  # noqa: S608 (our SQL, checked values as parameters)
        f"FROM {relation} WHERE {where})",
        params=params,
    ).fetchall()[0][0]
    params["network"] = scope.describe()
    if counted > REPORT_MAX_ROWS:
        raise ReportTooLargeError(
            f"{counted:,} host rows: more than {REPORT_MAX_ROWS:,}; ask for fewer days"
        )
    sql = f"""
        SELECT day, source_ip, lower(malware_family) AS malware_family,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               sum(hits)::BIGINT AS hits, max(source_asn) AS source_asn,
               max(source_cc) AS source_cc, {as_name_of_asn()} AS source_as_name,
               CASE WHEN bool_or(feed_name = '{SINKHOLE_FEED_NAME}')
                    THEN '{SINKHOLE_FEED_NAME}' ELSE min(feed_name) END AS feed_name,
               $network AS network
        FROM {relation} WHERE {where}
        GROUP BY day, source_ip, lower(malware_family)
        ORDER BY day, source_ip, malware_family
    """  # noqa: S608 (our SQL, checked values as parameters)
    return con.sql(sql, params=params).to_arrow_table().cast(HOST_SCHEMA)

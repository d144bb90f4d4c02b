"""The tables a takedown report shows: weekly counts by country, country and ASN change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import duckdb
import pyarrow as pa

from botcensus.measure.census import CensusQuery, census, compare


@dataclass(frozen=True, slots=True)
class Summary:
    """Census results for a report (all counts in unit unique_ip unless a column says)."""

    weekly: pa.Table
    """window_start, window_end, unique_ip, unique_bot_id, hits: one row per week."""
    weekly_by_country: pa.Table
    """window_start, window_end, country, unique_ip, ...: one row per week and country."""
    countries: pa.Table
    """country, unique_ip_first, unique_ip_last, unique_ip_change (first vs last week)."""
    asns: pa.Table
    """asn, unique_ip_first, unique_ip_last, unique_ip_change."""
    first_week: date | None
    """Start of the first complete week (the comparisons' baseline)."""
    last_week: date | None


def summarise(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    week_ends: str = "sat",
    family: str | None = None,
) -> Summary:
    """Weekly census overall, by country and by ASN, and first-vs-last-week comparisons
    (first and last *complete* weeks: partial weeks at the edges would exaggerate change)."""
    base = CensusQuery(window="week", week_ends=week_ends, family=family)
    weekly = census(con, base, relation)
    by_country = census(con, replace(base, by=("country",)), relation)
    by_asn = census(con, replace(base, by=("asn",)), relation)
    first, last = _complete_weeks(con, relation, weekly)
    return Summary(
        weekly,
        by_country,
        compare(con, by_country, "country", first or date.min, last or date.min),
        compare(con, by_asn, "asn", first or date.min, last or date.min),
        first,
        last,
    )


def _complete_weeks(
    con: duckdb.DuckDBPyConnection, relation: str, weekly: pa.Table
) -> tuple[date | None, date | None]:
    """First and last weeks that the data covers completely (else the first and last)."""
    rows = weekly.select(["window_start", "window_end"]).to_pylist()
    if not rows:
        return None, None
    span = con.execute(f"SELECT min(day), max(day) FROM {relation}").fetchall()[0]  # noqa: S608
    lo, hi = span
    whole = [r["window_start"] for r in rows if lo <= r["window_start"] and r["window_end"] <= hi]
    starts = whole or [r["window_start"] for r in rows]
    return starts[0], starts[-1]

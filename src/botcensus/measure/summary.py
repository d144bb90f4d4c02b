"""The tables a takedown report shows: weekly counts by country, country and ASN change."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import duckdb
import pyarrow as pa

from botcensus.measure.census import CensusQuery, census, census_with_change, compare


@dataclass(frozen=True, slots=True)
class Summary:
    """Census results for a report (all counts in unit unique_ip unless a column says)."""

    weekly: pa.Table
    """window_start, window_end, unique_ip, unique_bot_id, hits, days_covered, partial, the
    change columns (full weeks only): one row per week with data."""
    weekly_by_country: pa.Table
    """window_start, window_end, country, unique_ip, ...: one row per week and country."""
    countries: pa.Table
    """country, unique_ip_first, unique_ip_last, unique_ip_change (first vs last week)."""
    asns: pa.Table
    """asn, unique_ip_first, unique_ip_last, unique_ip_change."""
    first_week: date | None
    """Start of the first full week (data on all 7 days: the comparisons' baseline)."""
    last_week: date | None
    today: date | None = None
    """The UTC day the summary was made in, not over (CensusQuery.today; None: not given)."""


def summarise(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    week_ends: str = "sat",
    family: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    today: date | None = None,
) -> Summary:
    """Weekly census overall, by country and by ASN, and first-vs-last-week comparisons
    (first and last *full* weeks: a week with data on fewer days would exaggerate change),
    over the days `date_from` to `date_to` (inclusive; default all); `today`: the UTC day
    not over (CensusQuery.today)."""
    base = CensusQuery(
        window="week", week_ends=week_ends, family=family, date_from=date_from,
        date_to=date_to, today=today,
    )  # fmt: skip
    weekly = census_with_change(con, base, relation, covered=True)
    by_country = census(con, replace(base, by=("country",)), relation)
    by_asn = census(con, replace(base, by=("asn",)), relation)
    first, last = _full_weeks(weekly)
    return Summary(
        weekly,
        by_country,
        compare(con, by_country, "country", first or date.min, last or date.min),
        compare(con, by_asn, "asn", first or date.min, last or date.min),
        first,
        last,
        today,
    )


def _full_weeks(weekly: pa.Table) -> tuple[date | None, date | None]:
    """First and last weeks with data on all their days (else the first and last weeks)."""
    rows = weekly.select(["window_start", "partial"]).to_pylist()
    if not rows:
        return None, None
    starts = [r["window_start"] for r in rows if not r["partial"]] or [
        r["window_start"] for r in rows
    ]
    return min(starts), max(starts)

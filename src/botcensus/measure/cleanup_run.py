"""`botcensus cleanup` as one call: weekly counts (from sightings, or sketches when raw rows
are gone), decay overall and per group, intervention marks, survival and the notification
effect, gathered into one result for the CLI and the report to render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import duckdb
import pyarrow as pa

from botcensus.measure.census import CensusQuery
from botcensus.measure.cleanup import (
    DecayFit,
    Mark,
    complete_weeks,
    decay_table,
    fit_decay,
    mark_effects,
)
from botcensus.measure.hosts import estimate_hosts
from botcensus.measure.sketches_census import census_answer
from botcensus.measure.survival import curves_by_group, survival_summary
from botcensus.measure.survival_cox import HazardRatio, cox_notified, landmark_rows
from botcensus.measure.survival_networks import stable_networks
from botcensus.measure.survival_silence import DEFAULT_RULE, SilenceRule, survival_rows

By = Literal["country", "asn"]
Count = Literal["addresses", "hosts"]


@dataclass(frozen=True, slots=True)
class CleanupQuery:
    """What `botcensus cleanup` was asked."""

    by: By | None = None
    date_from: date | None = None
    date_to: date | None = None
    family: str | None = None
    week_ends: str = "sat"
    marks: tuple[Mark, ...] = ()
    rule: SilenceRule = DEFAULT_RULE
    notified: pa.Table | None = None
    """asn | cc | identity, notified, day: a campaign with a hold-out (optional)."""
    min_count: float = 20.0
    """Groups smaller than this in their first week get no rate."""
    count: Count = "addresses"
    """What the decay is fitted to: weekly unique addresses (exact, or from sketches), or the
    weekly host estimates (measure.hosts; raw sightings only)."""


@dataclass(frozen=True)
class CleanupResult:
    """Everything the cleanup command prints and the report draws."""

    unit: str
    """Of the weekly counts: `unique_ip`, or `unique_ip_hll` from sketches."""
    source: str
    reason: str
    weekly: pa.Table
    """Complete weeks overall: window_start, window_end, the unit's column."""
    fit: DecayFit | None
    decay: pa.Table
    """decay_table rows: overall, then per group when asked."""
    marks: pa.Table
    curves: pa.Table | None
    """Kaplan–Meier curves per group (None: no raw sightings to follow identities)."""
    survival: pa.Table | None
    thresholds: pa.Table | None
    hazard: HazardRatio | None
    notes: tuple[str, ...]


def _span(
    con: duckdb.DuckDBPyConnection, relation: str, sketches: pa.Table
) -> tuple[date | None, date | None]:
    con.register("span_sketches", sketches.select(["day"]))
    try:
        row = con.sql(
            f"SELECT min(day), max(day) FROM (SELECT day FROM {relation} "  # noqa: S608
            "UNION ALL SELECT day FROM span_sketches)"
        ).fetchall()[0]
    finally:
        con.unregister("span_sketches")
    return row[0], row[1]


def _hosts(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> pa.Table:
    """Weekly host estimates as a census-like table whose count column is `hosts`."""
    table = estimate_hosts(con, query, relation)
    return table.rename_columns(["hosts" if c == "hosts_est" else c for c in table.column_names])


def _followed_note(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    first: date,
    last: date,
    family: str | None,
    rows: pa.Table,
    networks: Mapping[tuple[str, int], float],
) -> str:
    where = "malware_family IS NOT NULL AND day BETWEEN ? AND ?"
    params: list[object] = [first, last]
    if family is not None:
        where += " AND malware_family = ?"
        params.append(family)
    sql = f"SELECT count(DISTINCT coalesce(bot_id, source_ip)) FROM {relation} WHERE {where}"  # noqa: S608 (values are parameters)
    seen = int(con.execute(sql, params).fetchall()[0][0])
    return (
        f"survival follows {rows.num_rows:,} of {seen:,} identities: bot ids, and addresses in "
        f"the {len(networks):,} networks where an address is one machine; addresses elsewhere "
        "are renumbered while their machines stay infected, so their silence says nothing "
        "about clean-up (docs/measurement.md)"
    )


def cleanup(
    con: duckdb.DuckDBPyConnection, relation: str, sketches: pa.Table, query: CleanupQuery
) -> CleanupResult:
    """Run every clean-up estimator over a sightings relation (and sketch rows)."""
    lo, hi = _span(con, relation, sketches)
    first, last = query.date_from or lo, query.date_to or hi
    if first is None or last is None:
        raise ValueError("no sightings or sketches in the dataset")
    base = CensusQuery(
        window="week", week_ends=query.week_ends, date_from=first, date_to=last,
        family=query.family,
    )  # fmt: skip
    answer = census_answer(con, base, relation, sketches)
    if query.count == "hosts":
        if answer.source != "sightings":
            raise ValueError(f"host estimates need raw sightings ({answer.reason})")
        answer = replace(answer, table=_hosts(con, base, relation), unit="hosts")
    weekly = complete_weeks(answer.table, first, last)
    count = answer.unit
    notes = [answer.reason]
    decay = decay_table(weekly, count=count, min_count=query.min_count)
    fit = None
    if weekly.num_rows >= 2 and sum(v or 0 for v in weekly[count].to_pylist()) > 0:
        starts = weekly["window_start"].to_pylist()
        times = [(s - starts[0]).days / 7.0 for s in starts]
        fit = fit_decay(times, weekly[count].to_pylist())
    if query.by is not None:
        by_query = replace(base, by=(query.by,))
        grouped = (
            _hosts(con, by_query, relation)
            if query.count == "hosts"
            else census_answer(con, by_query, relation, sketches).table
        )
        by_group = decay_table(
            complete_weeks(grouped, first, last),
            count=count,
            group=query.by,
            min_count=query.min_count,
        )
        decay = pa.concat_tables([decay, by_group], promote_options="default")
    marks = mark_effects(weekly, list(query.marks), count=count)
    curves = summary = thresholds = hazard = None
    if answer.source == "sightings":
        networks = stable_networks(con, relation, first=first, last=last, family=query.family)
        rows, thresholds = survival_rows(
            con, relation, first=first, last=last, family=query.family, rule=query.rule,
            networks=networks,
        )  # fmt: skip
        notes.append(_followed_note(con, relation, first, last, query.family, rows, networks))
        group = {"country": "cc", "asn": "asn", None: None}[query.by]
        curves = curves_by_group(rows, first, None)
        if group is not None:
            curves = pa.concat_tables([curves, curves_by_group(rows, first, group)])
        summary = survival_summary(curves)
        if query.notified is not None:
            frame = landmark_rows(rows, query.notified)
            hazard = cox_notified(frame, clustered="identity" not in query.notified.column_names)
    else:
        notes.append("survival and notification effect need raw sightings: not computed")
    return CleanupResult(
        count, answer.source, answer.reason, weekly, fit, decay, marks, curves, summary,
        thresholds, hazard, tuple(notes),
    )  # fmt: skip

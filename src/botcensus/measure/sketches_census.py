"""The census from stored sketches: when raw sightings have expired or live on another
machine, unique addresses come from merged HLL sketches (unit `unique_ip_hll`), new and gone
addresses between windows from Theta set operations, and their error against exact counts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, TypeAlias

import duckdb
import numpy as np
import pyarrow as pa

from botcensus.measure.census import (
    GROUPS,
    CensusQuery,
    Params,
    census,
    window_start_sql,
    with_change,
)
from botcensus.store.sketches import SKETCH_KEYS

UNIQUE_IP_HLL: Final = "unique_ip_hll"
"""Unit of a sketch-based address count: distinct source IPs estimated by a merged HLL
sketch (relative standard error about 1.6%; bounds at two standard deviations)."""
UNIQUE_BOT_ID_HLL: Final = "unique_bot_id_hll"
UNIQUE_IP_THETA: Final = "unique_ip_theta"
"""Unit of Theta-based counts (exact below 4096 addresses per sketch, about 1.6% beyond)."""
Source = Literal["sightings", "sketches"]
Sketches: TypeAlias = pa.Table | str
"""Sketch rows (SKETCH_SCHEMA): a table, or the name of a relation on the connection (a view
over the dataset's sketch files: DuckDB then reads only the columns a query needs)."""


@dataclass(frozen=True, slots=True)
class CensusAnswer:
    """A census table and where its address counts come from."""

    table: pa.Table
    source: Source
    unit: str
    """`unique_ip` (exact, from sightings) or `unique_ip_hll` (estimated, from sketches)."""
    reason: str
    """Why this source: which days or sensors only the sketches have."""


def _filtered(query: CensusQuery, relation: str) -> tuple[str, Params]:
    """`SELECT window_start, <groups>, * FROM relation WHERE <the census's filters>`."""
    query.check()
    where, params = query.where()
    keys = "".join(f", {GROUPS[g]} AS {g}" for g in query.by)
    select = f"SELECT {window_start_sql(query)} AS window_start{keys}, *"
    return f"{select} FROM {relation} WHERE {where}", params


@contextmanager
def sketch_relation(
    con: duckdb.DuckDBPyConnection, sketches: Sketches, name: str = "sketch_rows"
) -> Iterator[str]:
    """The name of a relation holding `sketches` (registered for the block if a table)."""
    if isinstance(sketches, str):
        yield sketches
        return
    con.register(name, sketches)
    try:
        yield name
    finally:
        con.unregister(name)


def sketch_census(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, sketches: Sketches
) -> pa.Table:
    """Per window and group: `unique_ip_hll` with its two-sigma bounds, `unique_bot_id_hll`
    and exact `hits`, from sketch rows (SKETCH_SCHEMA) filtered like the census."""
    groups = "".join(f", {g}" for g in query.by)
    with sketch_relation(con, sketches) as relation:
        inner, params = _filtered(query, relation)
        sql = f"""
        SELECT window_start,
               CAST(window_start + INTERVAL {query.days - 1} DAY AS DATE) AS window_end
               {groups}, list(ip_hll) AS ips,
               list(bot_id_hll) FILTER (WHERE bot_id_hll IS NOT NULL) AS bots,
               sum(hits)::BIGINT AS hits
        FROM ({inner}) GROUP BY ALL ORDER BY window_start{groups}
    """  # noqa: S608 (group names checked against GROUPS by CensusQuery.check)
        rows = con.sql(sql, params=params).to_arrow_table()
    from botcensus.store.sketch_build import hll_estimate, hll_union  # datasketches: on use

    est = [hll_estimate(hll_union(images)) for images in rows["ips"].to_pylist()]
    bots = [hll_estimate(hll_union(b))[0] if b else 0.0 for b in rows["bots"].to_pylist()]
    table = rows.drop_columns(["ips", "bots", "hits"])
    for name, values in (
        (UNIQUE_IP_HLL, [e[0] for e in est]),
        (f"{UNIQUE_IP_HLL}_lower", [e[1] for e in est]),
        (f"{UNIQUE_IP_HLL}_upper", [e[2] for e in est]),
        (UNIQUE_BOT_ID_HLL, bots),
    ):
        table = table.append_column(name, pa.array(values, pa.float64()))
    return table.append_column("hits", rows["hits"])


def with_change_hll(
    con: duckdb.DuckDBPyConnection, counts: pa.Table, by: tuple[str, ...]
) -> pa.Table:
    """`unique_ip_hll_change` against the group's previous window and since its first, and
    `rank` within the window, as census.with_change does for exact counts."""
    return with_change(con, counts, by, UNIQUE_IP_HLL)


def _day_sensors(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    days: Collection[date] | None,
) -> set[tuple[date, str]]:
    inner, params = _filtered(query, relation)
    sql = f"SELECT DISTINCT day, sensor FROM ({inner})"  # noqa: S608 (checked group names)
    if days is not None:
        sql += " WHERE list_contains($check_days, day)"
        params = {**params, "check_days": sorted(days)}
    rows = con.sql(sql, params=params).fetchall()
    return {(r[0], r[1]) for r in rows}


def choose_source(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    sketches: Sketches,
    check_days: Collection[date] | None = None,
) -> tuple[Source, str]:
    """Sightings when they cover every (day, sensor) the sketches have in the query's range;
    otherwise sketches (raw rows expired by retention, or sensors whose sketches were copied
    in from other machines). `check_days`: only these days can differ (the store knows the
    others' sketches were built from their present sightings: days_beyond_sightings); None
    checks every day."""
    covered: tuple[Source, str] = ("sightings", "raw sightings cover every day and sensor in range")
    if check_days is not None and not check_days:
        return covered
    keys = sketches if isinstance(sketches, str) else sketches.select(list(SKETCH_KEYS))
    with sketch_relation(con, keys, "sketch_cover") as cover:
        sketched = _day_sensors(con, query, cover, check_days)
    if not sketched:
        return covered
    missing = sorted(sketched - _day_sensors(con, query, relation, check_days))
    if not missing:
        return covered
    days = sorted({d for d, _ in missing})
    sensors = sorted({s for _, s in missing})
    return "sketches", (
        f"raw sightings missing for {len(days)} day(s) {days[0]}…{days[-1]} "
        f"(sensors {', '.join(sensors)}): counts estimated from HLL sketches"
    )


def census_answer(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    sketches: Sketches,
    check_days: Collection[date] | None = None,
) -> CensusAnswer:
    """The census from raw sightings when they cover the query, else wholly from sketches
    (never a mix within one answer: one column, one unit); `check_days` as choose_source."""
    source, reason = choose_source(con, query, relation, sketches, check_days)
    if source == "sightings":
        return CensusAnswer(census(con, query, relation), source, "unique_ip", reason)
    return CensusAnswer(sketch_census(con, query, sketches), source, UNIQUE_IP_HLL, reason)


def sketch_error(exact: pa.Table, estimated: pa.Table, by: tuple[str, ...] = ()) -> pa.Table:
    """Exact `unique_ip` beside `unique_ip_hll` per window and group, with the relative error
    and whether the exact count lies inside the sketch's two-sigma bounds."""
    keys = ["window_start", *by]
    joined = exact.select([*keys, "unique_ip"]).join(
        estimated.select(
            [*keys, UNIQUE_IP_HLL, f"{UNIQUE_IP_HLL}_lower", f"{UNIQUE_IP_HLL}_upper"]
        ),
        keys,
        join_type="inner",
    )
    truth = joined["unique_ip"].to_numpy().astype(np.float64)
    est = joined[UNIQUE_IP_HLL].to_numpy()
    lower = joined[f"{UNIQUE_IP_HLL}_lower"].to_numpy()
    upper = joined[f"{UNIQUE_IP_HLL}_upper"].to_numpy()
    rel = np.divide(est - truth, truth, out=np.zeros_like(est), where=truth > 0)
    joined = joined.append_column("relative_error", pa.array(rel, pa.float64()))
    inside = (lower <= truth + 1e-9) & (truth <= upper + 1e-9)
    return joined.append_column("within_bounds", pa.array(inside)).sort_by(
        [(k, "ascending") for k in keys]
    )


def error_summary(errors: pa.Table) -> dict[str, float]:
    """Rows compared, median / 95th percentile / largest absolute relative error, and the
    share of exact counts inside the two-sigma bounds (expected about 95%)."""
    rel = np.abs(errors["relative_error"].to_numpy())
    if len(rel) == 0:
        return {"rows": 0.0}
    return {
        "rows": float(len(rel)),
        "median_abs_error": float(np.median(rel)),
        "p95_abs_error": float(np.quantile(rel, 0.95)),
        "max_abs_error": float(rel.max()),
        "within_bounds": float(np.mean(errors["within_bounds"].to_numpy(zero_copy_only=False))),
    }


def turnover(con: duckdb.DuckDBPyConnection, query: CensusQuery, sketches: Sketches) -> pa.Table:
    """Per window and group, from Theta sketches: `unique_ip_theta`, `new_ip_theta` (addresses
    not seen in the group's previous window) and `gone_ip_theta` (seen in the previous window,
    not in this one); null new/gone in a group's first window or after a gap."""
    groups = "".join(f", {g}" for g in query.by)
    with sketch_relation(con, sketches) as relation:
        inner, params = _filtered(query, relation)
        sql = f"""SELECT window_start{groups}, list(ip_theta) AS thetas FROM ({inner})
                  GROUP BY ALL ORDER BY ALL"""  # noqa: S608 (checked group names)
        rows = con.sql(sql, params=params).to_arrow_table()
    step = 1 if query.window == "day" else 7
    from botcensus.store.sketch_build import theta_difference, theta_estimate, theta_union

    merged = [theta_union(t) for t in rows["thetas"].to_pylist()]
    starts = rows["window_start"].to_pylist()
    keys = [tuple(rows[g][i].as_py() for g in query.by) for i in range(rows.num_rows)]
    unique: list[float] = []
    new: list[float | None] = []
    gone: list[float | None] = []
    previous: dict[tuple[object, ...], tuple[date, bytes]] = {}
    for start, key, image in zip(starts, keys, merged, strict=True):
        unique.append(theta_estimate(image)[0])
        last = previous.get(key)
        if last is not None and (start - last[0]).days == step:
            new.append(theta_estimate(theta_difference(image, last[1]))[0])
            gone.append(theta_estimate(theta_difference(last[1], image))[0])
        else:
            new.append(None)
            gone.append(None)
        previous[key] = (start, image)
    table = rows.drop_columns(["thetas"])
    for name, values in (
        (UNIQUE_IP_THETA, unique),
        ("new_ip_theta", new),
        ("gone_ip_theta", gone),
    ):
        table = table.append_column(name, pa.array(values, pa.float64()))
    return table

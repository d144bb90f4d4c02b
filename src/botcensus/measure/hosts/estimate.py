"""Host estimates: infected machines active per window, with an interval (unit `hosts`).

    estimate_hosts(con, query, relation) -> one row per census row: window_start,
        window_end, the query's group keys, hosts_est, hosts_lo, hosts_hi

Sightings without a bot id go through the address model (host-days from address-days,
hosts.daily; days active from stable networks, hosts.reference and hosts.model); sightings
with one are counted by id (hosts.ids) and lend their days active to the address model of
the same family and country. Each family (and feed or sensor, when the census groups by
them) is estimated on its own; estimates and their variances add up. Only what sightings
hold is read: addresses, days, first and last check-in, hits, country and ASN, bot ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from statistics import NormalDist
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from botcensus.measure.census import GROUPS, CensusQuery, attach, window_start_sql
from botcensus.measure.hosts.features import EPOCH, LOOK, Timer, checkin_timer
from botcensus.measure.hosts.ids import IdCounts, Lent, id_counts
from botcensus.measure.hosts.model import Window, window_estimate
from botcensus.measure.hosts.networks import apply_factors, network_factors, without_ids_sql
from botcensus.measure.hosts.reference import Reference, lend
from botcensus.measure.hosts.windows import Span, data_days, read_windows, window_spans

Cell = tuple[date, str, int | None]
"""(window start, country, ASN); ASN None: the country's total."""
Cells = dict[Cell, tuple[float, float, float]]
"""-> (hosts, absolute variance, the standard deviation of the part of the error that all
countries of the window share: it adds up across countries instead of averaging out)."""
ESTIMATE_COLUMNS: Final = ("hosts_est", "hosts_lo", "hosts_hi")


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _partitions(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> list[tuple[str, dict[str, object]]]:
    """Per family (and feed and sensor when grouped by): a SQL condition and its keys."""
    keys = ["family", *(k for k in ("feed", "sensor") if k in query.by)]
    where, params = query.where(dates=False)
    cols = ", ".join(GROUPS[k] for k in keys)
    sql = f"SELECT DISTINCT {cols} FROM {relation} WHERE {where}"  # noqa: S608 (columns from GROUPS; values are parameters)
    out = []
    for values in sorted(con.execute(sql, params).fetchall(), key=str):
        condition = " AND ".join(
            f"{GROUPS[k]} IS NULL" if v is None else f"{GROUPS[k]} = {_quote(v)}"
            for k, v in zip(keys, values, strict=True)
        )
        out.append((condition, dict(zip(keys, values, strict=True))))
    return out


def _id_counts(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> IdCounts:
    where, params = query.where()
    return id_counts(con, relation, where, params, window_start_sql(query))


@dataclass(frozen=True)
class AddressModel:
    """The address model's windows of one partition, its (country, ASN) groups in order, the
    countries, each group's country index, and the stable reference they lend from."""

    spans: list[Span]
    windows: list[Window]
    groups: Sequence[tuple[str, int]]
    ccs: list[str]
    country: npt.NDArray[np.int64]
    ref: Reference
    timer: Timer | None
    """The bots' common check-in timer; None where the data show none."""


def address_model(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> AddressModel | None:
    """Read the windows of the sightings without a bot id and build their stable reference;
    None without any."""
    days = data_days(con, query, relation)
    if not days:
        return None
    spans = window_spans(days, query)
    timer = checkin_timer(con, query, relation)
    windows, groups = read_windows(con, query, relation, spans, timer, (days[0], days[-1]))
    ccs = sorted({cc for cc, _ in groups})
    country = np.array([ccs.index(cc) for cc, _ in groups], np.int64)
    history_from = (days[0] - EPOCH).days + LOOK
    ref = lend(
        [w.sums for w in windows], [w.multi for w in windows], country, len(ccs), history_from
    )
    return AddressModel(spans, windows, groups, ccs, country, ref, timer)


def _address_cells(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, lent: Lent | None
) -> Cells:
    """The address model (sightings without a bot id) for one partition."""
    cells: Cells = {}
    model = address_model(con, query, relation)
    if model is None:
        return cells
    spans, windows, groups, ccs = model.spans, model.windows, model.groups, model.ccs
    country, ref = model.country, model.ref
    for span, w in zip(spans, windows, strict=True):
        borrowed = lent.for_window(span.start, ccs) if lent is not None else None
        est = window_estimate(w, ref, country, len(ccs), borrowed, timed=model.timer is not None)
        keyed = [
            *zip(groups, est.group_hosts, est.group_var, est.group_shared, strict=True),
            *zip(
                ((cc, None) for cc in ccs),
                est.country_hosts,
                est.country_var,
                est.country_shared,
                strict=True,
            ),
        ]
        for (cc, asn), hosts, var, shared in keyed:
            if hosts > 0:
                # The shared part is kept apart from the rest of the variance.
                rest = max(float(var) - float(shared) ** 2, 0.0)
                cells[(span.start, cc, asn)] = (
                    float(hosts),
                    float(hosts * hosts * rest),
                    float(hosts * shared),
                )
    return cells


def partition_cells(con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str) -> Cells:
    """Hosts per (window, country[, ASN]) of one partition's sightings (a view or table)."""
    counts = _id_counts(con, query, relation)
    lent = Lent.from_counts(counts) if len(counts.machines) else None
    cells = _address_cells(con, query, relation, lent)
    if len(counts.machines) and cells:
        # The address model checked per network on the machines with ids (hosts.networks).
        view = "hosts_ids_without_ids"
        con.execute(without_ids_sql(view, relation))
        try:
            model = _address_cells(con, query, view, lent)
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        cells = apply_factors(cells, network_factors(counts, model))
    for i, start in enumerate(counts.window_start.tolist()):
        first = EPOCH + timedelta(days=start)
        hosts = float(counts.machines[i] + counts.hidden[i])
        var = float(counts.hidden[i])
        for key in ((first, counts.cc[i], int(counts.asn[i])), (first, counts.cc[i], None)):
            old = cells.get(key, (0.0, 0.0, 0.0))
            cells[key] = (old[0] + hosts, old[1] + var, old[2])
    return cells


def estimate_hosts(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str, *, level: float = 0.9
) -> pa.Table:
    """Estimated infected machines per census window and group, with a `level` interval.

    Rows are keyed like census(con, query, relation): window_start, window_end and the
    query's group keys; the estimate columns are hosts_est, hosts_lo and hosts_hi (unit:
    hosts). A window or group without an estimate has no row."""
    z = NormalDist().inv_cdf(0.5 + level / 2)
    sums: dict[tuple[object, ...], list[float]] = {}
    for n, (condition, keys) in enumerate(_partitions(con, query, relation)):
        view = f"hosts_partition_{n}"
        sql = f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {relation} WHERE {condition}"  # noqa: S608 (literals quoted by _quote)
        con.execute(sql)
        try:
            cells = partition_cells(
                con, replace(query, family=None, feed=None, include_unclaimed=True), view
            )
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        shared: dict[tuple[object, ...], float] = {}
        for (start, cc, asn), (hosts, var, common) in cells.items():
            if ("asn" in query.by) != (asn is not None):
                continue
            values = {"country": cc or None, "asn": asn, **keys}
            key = (start, *(values.get(g) for g in query.by))
            acc = sums.setdefault(key, [0.0, 0.0])
            acc[0] += hosts
            acc[1] += var
            shared[key] = shared.get(key, 0.0) + common
        for key, common in shared.items():  # within a partition the shared parts add up
            sums[key][1] += common * common
    return _table(sums, query, z)


def _table(sums: dict[tuple[object, ...], list[float]], query: CensusQuery, z: float) -> pa.Table:
    """Rows sorted like the census; a log-normal interval from each estimate's variance."""
    length = 1 if query.window == "day" else 7
    keys = sorted(sums, key=lambda k: tuple((v is None, str(v)) for v in k))
    est = np.array([sums[k][0] for k in keys], np.float64)
    var = np.array([sums[k][1] for k in keys], np.float64)
    ratio = np.divide(var, est**2, out=np.zeros(len(est)), where=est > 0)
    sigma = np.sqrt(np.log1p(ratio))
    starts = [k[0] for k in keys]
    columns: dict[str, pa.Array] = {
        "window_start": pa.array(starts, pa.date32()),
        "window_end": pa.array([s + timedelta(days=length - 1) for s in starts], pa.date32()),  # type: ignore[operator]
    }
    types = {"asn": pa.int64()}
    for i, g in enumerate(query.by, start=1):
        columns[g] = pa.array([k[i] for k in keys], types.get(g, pa.string()))
    columns["hosts_est"] = pa.array(est)
    columns["hosts_lo"] = pa.array(est * np.exp(-z * sigma))
    columns["hosts_hi"] = pa.array(est * np.exp(z * sigma))
    return pa.table(columns)


def with_estimates(
    con: duckdb.DuckDBPyConnection,
    rows: pa.Table,
    query: CensusQuery,
    relation: str,
    *,
    level: float = 0.9,
) -> pa.Table:
    """Census rows (any columns, keyed by window_start and the query's groups) with
    hosts_est, hosts_lo and hosts_hi appended, in the same order; null where no estimate."""
    return attach(rows, estimate_hosts(con, query, relation, level=level), query, ESTIMATE_COLUMNS)

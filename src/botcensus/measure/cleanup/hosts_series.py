"""Weekly host estimates as a series to fit a decay to (`cleanup --count hosts`): machines,
also where machines behind one address cannot be seen (hosts.model.household_at)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.census import CensusQuery, census
from botcensus.measure.cleanup.decay import DecayFit, fit_decay
from botcensus.measure.hosts import HostsAnswer, hosts_answer
from botcensus.measure.hosts.model import HOUSEHOLD

HOUSEHOLD_NOTE = (
    "decay of hosts: machines behind one address cannot be seen; the estimates take "
    f"{HOUSEHOLD:.2f} machines per address-day in the data's first full week and fewer as "
    "lines are cleaned (a line stays infected until its last machine is: geometric machines "
    "per line, cleaned one by one; docs/measurement.md), so the decay is the machines' "
    "where machines share addresses as households do. Behind carrier-grade NAT or an office "
    "(several machines behind one address, which these data cannot show without bot ids) an "
    "address stays while any of its machines is infected, and the decay reads slow: 25% and "
    "34% too slow on two populations the estimator was not tuned on (docs/measurement.md, "
    "what falls short)"
)
BOUNDS_NOTE = (
    "decay of hosts: some weeks have only bounds (hosts_support bounds); the decay is fitted "
    "to the address model's figure there (the geometric middle of its bracket of days "
    "active, or its estimate where an independent bound ruled that out): the level is not "
    "supported, the trend is taken to be unless it is slower than the addresses' (decay "
    "support bounds)"
)


def host_weeks(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> tuple[pa.Table, HostsAnswer]:
    """Weekly host estimates as a census-like table whose count column is `hosts`: the
    estimate, or the address model's figure where only bounds (HostsAnswer.middle: its
    level is not supported, its trend is); `hosts_ids`, the machines in it counted one by
    one from their bot ids (HostsAnswer.counted)."""
    answer = hosts_answer(con, query, relation)
    table = answer.table
    middle = pa.array(answer.middle, pa.float64())
    hosts = pc.coalesce(table["hosts_est"], middle)
    at = table.column_names.index("hosts_est")
    table = table.set_column(at, "hosts", hosts)
    counted = answer.counted or (0.0,) * table.num_rows
    return table.append_column("hosts_ids", pa.array(counted, pa.float64())), answer


def arm_fits(
    con: duckdb.DuckDBPyConnection,
    base: CensusQuery,
    relation: str,
    notified: pa.Table,
    last: date,
    *,
    count: str = "hosts",
    full: set[date] | None = None,
) -> tuple[DecayFit | None, DecayFit | None]:
    """The decay of the host estimates (`count` hosts) or of the unique addresses (`count`
    unique_ip) of the told networks and of the hold-out over the complete weeks after the
    campaign day (the earliest in the table) and inside the query's range; `full`: the
    window starts with data on every day (others are left out, as the main decay leaves
    them); None for an arm with fewer than three such weeks or no count. Needs a campaign
    keyed by `asn` or `cc`."""
    key = "asn" if "asn" in notified.column_names else "cc"
    group = "asn" if key == "asn" else "country"
    if count == "hosts":
        table, _ = host_weeks(con, replace(base, by=(group,)), relation)
    else:
        table = census(con, replace(base, by=(group,)), relation)
        table = table.rename_columns(["hosts" if c == count else c for c in table.column_names])
    plan = {row[key]: bool(row["notified"]) for row in notified.to_pylist()}
    day = min(notified["day"].to_pylist())
    if base.date_from is not None:
        day = max(day, base.date_from)  # a week cut by --from holds part of its days
    series: dict[bool, dict[date, float]] = {True: {}, False: {}}
    for row in table.to_pylist():
        arm = plan.get(row[group])
        if arm is None or row["window_start"] < day or row["window_end"] > last:
            continue
        if full is not None and row["window_start"] not in full:
            continue
        weeks = series[arm]
        weeks[row["window_start"]] = weeks.get(row["window_start"], 0.0) + float(row["hosts"])
    fits: list[DecayFit | None] = []
    for arm in (True, False):
        starts = sorted(series[arm])
        counts = [series[arm][s] for s in starts]
        if len(starts) < 3 or sum(counts) <= 0:
            fits.append(None)
            continue
        fit = fit_decay([(s - starts[0]).days / 7.0 for s in starts], counts)
        fits.append(fit)
    return fits[0], fits[1]

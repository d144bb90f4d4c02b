"""Weekly host estimates as a series to fit a decay to (`cleanup --count hosts`), and the
decay of machines where the estimates count lines (cleanup.lines)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.census import CensusQuery
from botcensus.measure.cleanup.decay import LN2, DecayFit, fit_decay
from botcensus.measure.cleanup.lines import machines_rate, ratio
from botcensus.measure.hosts import HostsAnswer, hosts_answer
from botcensus.measure.hosts.model import HOUSEHOLD

HOUSEHOLD_NOTE = (
    "decay of hosts: the estimates count lines where machines behind one address cannot be "
    f"seen ({HOUSEHOLD:.2f} machines per address-day assumed), and a line stays infected "
    "until its last machine is cleaned: rates converted from lines to machines (geometric "
    "machines per line, cleaned one by one; docs/measurement.md)"
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
    level is not supported, its trend is)."""
    answer = hosts_answer(con, query, relation)
    table = answer.table
    middle = pa.array(answer.middle, pa.float64())
    hosts = pc.coalesce(table["hosts_est"], middle)
    at = table.column_names.index("hosts_est")
    return table.set_column(at, "hosts", hosts), answer


def machine_fit(fit: DecayFit, household: float = HOUSEHOLD) -> DecayFit:
    """A decay fitted to line counts, as the machines' (cleanup.lines)."""
    r = ratio(household)
    times = np.arange(fit.weeks, dtype=np.float64)
    rate = machines_rate(fit.rate_per_week, times, r)
    lower = machines_rate(fit.lower, times, r) if math.isfinite(fit.lower) else fit.lower
    upper = machines_rate(fit.upper, times, r) if math.isfinite(fit.upper) else fit.upper
    scale = rate / fit.rate_per_week if fit.rate_per_week else 1.0
    return replace(fit, rate_per_week=rate, lower=lower, upper=upper, se=fit.se * abs(scale))


def machine_decay(decay: pa.Table, household: float = HOUSEHOLD) -> pa.Table:
    """decay_table rows of line counts, with rates, intervals and half-lives as the
    machines' (cleanup.lines)."""
    r = ratio(household)
    rows = decay.to_pylist()
    for row in rows:
        rate, weeks = row.get("rate_per_week"), row.get("weeks") or 0
        if rate is None or weeks < 2:
            continue
        times = np.arange(weeks, dtype=np.float64)
        for key in ("rate_per_week", "rate_lower", "rate_upper"):
            value = row.get(key)
            if value is not None and math.isfinite(value):
                row[key] = machines_rate(value, times, r)
        new = row["rate_per_week"]
        row["half_life_weeks"] = LN2 / new if new > 0 else math.inf
        row["half_life_days"] = 7.0 * row["half_life_weeks"]
    return pa.Table.from_pylist(rows, schema=decay.schema)


def arm_fits(
    con: duckdb.DuckDBPyConnection,
    base: CensusQuery,
    relation: str,
    notified: pa.Table,
    last: date,
) -> tuple[DecayFit | None, DecayFit | None]:
    """The decay of the host estimates of the told networks and of the hold-out over the
    complete weeks after the campaign day (the earliest in the table), as machines' rates;
    None for an arm with fewer than three such weeks or no count. Needs a campaign keyed by
    `asn` or `cc`."""
    key = "asn" if "asn" in notified.column_names else "cc"
    group = "asn" if key == "asn" else "country"
    table, answer = host_weeks(con, replace(base, by=(group,)), relation)
    plan = {row[key]: bool(row["notified"]) for row in notified.to_pylist()}
    day = min(notified["day"].to_pylist())
    series: dict[bool, dict[date, float]] = {True: {}, False: {}}
    for row in table.to_pylist():
        arm = plan.get(row[group])
        if arm is None or row["window_start"] < day or row["window_end"] > last:
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
        fits.append(machine_fit(fit) if answer.household else fit)
    return fits[0], fits[1]

"""Ground truth tables: machines, episodes, networks, the campaign, daily and weekly counts."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .checkins import _expand
from .infection import Episodes, notify_time
from .networks import DAY
from .params import LINE_TYPES, POLICIES, TIMER_KINDS, USAGES, Params
from .population import Population
from .space import as_names

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


LAST: np.datetime64 = np.datetime64("9999-12-31T23:59:59", "s")
"""The last time a timestamp column can hold for its readers (DuckDB, Python's datetime)."""


def _ts(params: Params, seconds: F64) -> pa.Array:
    """Seconds from the window's start as UTC timestamps; null where not finite or past LAST
    (a clean-up drawn from a hazard near 0 can fall millions of years on, which a Parquet
    file holds but no reader converts: DuckDB and pyarrow's to_pylist failed on b-mobile
    seed 35's machines)."""
    base = np.datetime64(params.start, "s")
    limit = float((LAST - base).astype(np.int64))
    shown = np.isfinite(seconds) & (seconds <= limit)
    values = base + np.where(shown, np.floor(seconds), 0).astype("timedelta64[s]")
    return pa.array(values, pa.timestamp("s", tz="UTC"), mask=~shown)


def machines_table(params: Params, pop: Population, ep: Episodes, bot_ids: list[str]) -> pa.Table:
    """One row per machine: where it is, how it behaves, its infection history."""
    n = pop.n_machines
    horizon = params.days * DAY
    net = pop.m_net
    first = ep.number == 0
    latent = np.full(n, np.inf)
    latent[ep.machine[first]] = ep.end[first]
    infected_at = np.zeros(n)
    infected_at[ep.machine[first]] = ep.start[first]
    last_end = np.full(n, -np.inf)
    np.maximum.at(last_end, ep.machine, ep.end)
    episodes = np.bincount(ep.machine, minlength=n)
    tn = notify_time(params, pop)
    names = as_names()
    asn = pop.net.asn[net]
    kind = pop.m_kind
    return pa.table(
        {
            "machine_id": np.arange(n),
            "household_id": pop.m_line,
            "network_id": net,
            "cc": pa.array(pop.net.cc).take(pa.array(net)),
            "asn": asn,
            "as_name": pa.array([names.get(int(a), "") for a in asn]),
            "line_type": pa.array(LINE_TYPES).take(pa.array(pop.net.line[net])),
            "addressing": pa.array(POLICIES).take(pa.array(pop.net.policy[net])),
            "household_size": np.bincount(pop.m_line)[pop.m_line],
            "ipv6_line": pop.line_v6[pop.m_line],
            "usage": pa.array(USAGES).take(pa.array(pop.m_usage)),
            "timer_kind": pa.array(TIMER_KINDS).take(pa.array(kind)),
            "timer_s": pa.array(np.round(pop.m_period), mask=kind != 0),
            "bot_id": pa.array([b or None for b in bot_ids], pa.string()),
            "infected_at": _ts(params, infected_at),
            "new_infection": infected_at >= 0,
            "first_cleanup_at": _ts(params, latent),
            "first_cleanup_in_window": latent < horizon,
            "cleaned_at": _ts(params, np.where(last_end < horizon, last_end, np.inf)),
            "censored": last_end >= horizon,
            "episodes": episodes,
            "reinfections": episodes - 1,
            "notified": np.isfinite(tn),
            "notified_at": _ts(params, tn),
            "hazard_per_day": pop.m_hazard * DAY,
        }
    )


def episodes_table(params: Params, ep: Episodes) -> pa.Table:
    """One row per infection episode; cleaned_at null when it lasts past the window."""
    horizon = params.days * DAY
    return pa.table(
        {
            "machine_id": ep.machine,
            "episode": ep.number,
            "infected_at": _ts(params, ep.start),
            "cleaned_at": _ts(params, np.where(ep.end < horizon, ep.end, np.inf)),
            "latent_cleanup_at": _ts(params, ep.end),
        }
    )


def campaign_table(params: Params, pop: Population) -> pa.Table:
    """Which ASNs the campaign told, and when (the day for `cleanup --notified`)."""
    day = dt.date.fromisoformat(params.start) + dt.timedelta(days=params.notify.day)
    asns = sorted(pop.asn_notified)
    told = [pop.asn_notified[a] for a in asns]
    return pa.table(
        {
            "asn": pa.array(asns, pa.int64()),
            "notified": pa.array(told),
            "day": pa.array([day] * len(asns), pa.date32()),
            "hazard_multiplier": [params.notify.multiplier if t else 1.0 for t in told],
        }
    )


def _infected_days(params: Params, ep: Episodes) -> tuple[I64, I64]:
    """(machine, day) for every day an episode overlaps."""
    horizon = params.days * DAY
    lo = np.clip(np.floor(np.maximum(ep.start, 0) / DAY), 0, params.days).astype(np.int64)
    hi = np.clip(np.ceil(np.minimum(ep.end, horizon) / DAY), 0, params.days).astype(np.int64)
    keep = (ep.end > 0) & (ep.start < horizon)
    owner, day = _expand(lo[keep], np.maximum(hi[keep], lo[keep]))
    return ep.machine[keep][owner], day


def _calendars(params: Params) -> tuple[pa.Table, pa.Table]:
    """Day -> date, and (convention, day) -> week end date; is_last marks each period's last
    day inside the window."""
    first = dt.date.fromisoformat(params.start)
    dates = [first + dt.timedelta(days=d) for d in range(params.days)]
    days = pa.table(
        {"day": np.arange(params.days), "date": pa.array(dates), "is_last": [True] * params.days}
    )
    conv, day, end = [], [], []
    for name in params.week_ends:
        w = WEEKDAYS.index(name)
        for d, date in enumerate(dates):
            conv.append(name)
            day.append(d)
            end.append(date + dt.timedelta(days=(w - date.weekday()) % 7))
    last = [d == params.days - 1 or end[i + 1] != end[i] for i, d in enumerate(day)]
    weeks = pa.table({"week_ends": conv, "day": day, "week_end": pa.array(end), "is_last": last})
    return days, weeks


def counts(params: Params, pop: Population, ep: Episodes, seen: pa.Table,
           reported: pa.Table) -> tuple[pa.Table, pa.Table]:  # fmt: skip
    """Daily and weekly true counts, globally and per country and ASN.

    `seen`: machine, time, addr (an address id) of every recorded connection; `reported`:
    machine, time of every reported row. active = machines with a recorded connection;
    infected = machines infected at some time in the period; infected_end = infected at the
    last second of the period's last day inside the window; addresses = distinct recorded
    source addresses; rows = reported rows."""
    im, iday = _infected_days(params, ep)
    end_m, end_d = [], []
    for d in range(params.days):
        t = (d + 1) * DAY - 1
        alive = np.unique(ep.machine[(ep.start <= t) & (ep.end > t)])
        end_m.append(alive)
        end_d.append(np.full(len(alive), d))
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # it would print to standard output
    con.register("machines", pa.table({"machine": np.arange(pop.n_machines),
                                       "cc": pa.array(pop.net.cc).take(pa.array(pop.m_net)),
                                       "asn": pop.net.asn[pop.m_net]}))  # fmt: skip
    con.register("infected", pa.table({"machine": im, "day": iday}))
    con.register(
        "at_end", pa.table({"machine": np.concatenate(end_m), "day": np.concatenate(end_d)})
    )
    con.register("seen", seen)
    con.register("reported", reported)
    days, weeks = _calendars(params)
    con.register("days", days)
    con.register("weeks", weeks)
    daily = con.sql(_sql("days", "date")).to_arrow_table()
    weekly = con.sql(_sql("weeks", "week_ends, week_end")).to_arrow_table()
    return daily, weekly


_DAY = "CAST(time // 86400 AS BIGINT) AS day"
_FACTS = {
    "active": (f"SELECT DISTINCT machine, {_DAY} FROM seen", "machine", ""),  # noqa: S608
    "infected": ("SELECT machine, day FROM infected", "machine", ""),
    "infected_end": ("SELECT machine, day FROM at_end", "machine", "WHERE c.is_last"),
    "addresses": (f"SELECT addr, machine, {_DAY} FROM seen", "addr", ""),  # noqa: S608
    "rows": (f"SELECT machine, {_DAY} FROM reported", "", ""),  # noqa: S608
}
"""Fact name -> (query giving machine, day[, addr], what to count distinctly, filter)."""


def _sql(cal: str, keys: str) -> str:
    """One GROUPING SETS count per fact, joined on (period, cc, asn); '' / 0 mean 'all'."""
    sets = f"GROUPING SETS (({keys}), ({keys}, m.cc), ({keys}, m.cc, m.asn))"
    ctes = []
    for name, (body, what, where) in _FACTS.items():
        agg = f"count(DISTINCT f.{what})" if what else "count(*)"
        ctes.append(
            f"g_{name} AS (SELECT {keys}, coalesce(m.cc, '') AS cc, coalesce(m.asn, 0) AS asn, "  # noqa: S608 (our SQL from constants)
            f"{agg} AS {name} FROM ({body}) f JOIN {cal} c USING (day) "
            f"JOIN machines m USING (machine) {where} GROUP BY {sets})"
        )
    union = " UNION ".join(f"SELECT {keys}, cc, asn FROM g_{n}" for n in _FACTS)  # noqa: S608
    span = f"span AS (SELECT {keys}, count(*) AS days_in_window FROM {cal} GROUP BY {keys})"  # noqa: S608
    joins = " ".join(f"LEFT JOIN g_{n} USING ({keys}, cc, asn)" for n in _FACTS)
    values = ", ".join(f"coalesce({n}, 0) AS {n}" for n in _FACTS)
    scope = "CASE WHEN asn <> 0 THEN 'asn' WHEN cc <> '' THEN 'country' ELSE 'global' END"
    return (  # our SQL from constants: no outside input reaches it
        f"WITH {', '.join(ctes)}, k AS ({union}), {span} "  # noqa: S608
        f"SELECT {keys}, days_in_window, {scope} AS scope, nullif(cc, '') AS cc, "
        f"nullif(asn, 0) AS asn, {values} FROM k JOIN span USING ({keys}) {joins} "
        f"ORDER BY {keys}, (asn <> 0), (cc <> ''), cc, asn"
    )

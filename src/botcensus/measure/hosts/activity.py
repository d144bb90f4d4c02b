"""The network corrections checked against the check-ins: an estimate independent of the
address model, for the networks where bot ids calibrate it (hosts.networks).

A network's machines with ids and without are bots of one family in one network: they check
in about as often. Its machines without ids are then about the machines with ids times the
check-ins (`hits`) of the sightings without ids over those with ids,

    A = M x hits(without ids) / hits(with ids),

whatever the addresses do (renumbering, NAT, pools). A reads the counts from one window's
check-ins and errs where ids sit on bots that check in more or less often than the rest (a
newer version, other timers), so it is a check, not an estimate: where the corrected
network estimate (its machines with ids and the corrected estimate of those without) and
M + A differ by more than ACTIVITY_TOLERANCE, the network's interval is widened to reach
M + A (an error of its own, added to the network's row and its country's) and a note says
in how many network-windows.

Added after the fifteenth held-out set had been seen (bench/heldout), for b-harsh seed 15
with ids on 12% of the machines (seen): the model counted Indonesia's dense carrier-grade
NAT (AS23693) at 1.6 times its machines with ids and at 15 times the others, so the factor
learnt on the ids left that network 7 times its machines, outside every interval, where A
read 0.88 of them.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Final

import duckdb

from botcensus.measure.hosts.features import EPOCH
from botcensus.measure.hosts.model import WIDENED_SCALE, Z90
from botcensus.measure.hosts.networks import Cell, Cells, Factor

ACTIVITY_TOLERANCE: Final = 2.0
"""Largest ratio between a corrected network estimate and M + A before the interval is
widened to reach M + A. Set on seen populations (b-harsh seeds 1, 13, 14, 17, b-harsh-ids12 seeds 15
and 18, b-mobile seed 17, all with ids): per network and week M + A is 0.04-0.31 off the truth
in log (median by population) against the corrected estimate's 0.08-0.22; beyond a factor
of 2, 38 of 1,194 network-weeks differ, 28 of them rows whose estimate is more than 1.5
times off (of 78 such rows), where a factor of 1.5 flags 142 (51 of them so far off)."""

_SQL: Final = """
SELECT ({window} - DATE '1970-01-01')::BIGINT AS window_start,
       coalesce(source_cc, '') AS cc, coalesce(source_asn, 0)::BIGINT AS asn,
       coalesce(sum(hits) FILTER (WHERE bot_id IS NOT NULL), 0)::DOUBLE AS with_ids,
       coalesce(sum(hits) FILTER (WHERE bot_id IS NULL), 0)::DOUBLE AS without
FROM {relation} WHERE {where}
GROUP BY ALL
"""


def check_ins(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str,
    params: dict[str, object],
    window_sql: str,
) -> dict[Cell, tuple[float, float]]:
    """(window, country, ASN) -> check-ins of its sightings with a bot id and without."""
    sql = _SQL.format(relation=relation, where=where, window=window_sql)
    out: dict[Cell, tuple[float, float]] = {}
    for start, cc, asn, with_ids, without in con.execute(sql, params).fetchall():
        out[(EPOCH + timedelta(days=int(start)), str(cc), int(asn))] = (
            float(with_ids),
            float(without),
        )
    return out


def activity_check(
    cells: Cells,
    factors: dict[Cell, Factor],
    machines: dict[Cell, float],
    hits: dict[Cell, tuple[float, float]],
) -> tuple[Cells, list[Cell]]:
    """The corrected cells, each network's interval widened where its estimate and A differ
    by more than ACTIVITY_TOLERANCE (module docstring), and the network-windows widened."""
    out = dict(cells)
    widened: list[Cell] = []
    limit = math.log(ACTIVITY_TOLERANCE)
    for key in sorted(factors, key=str):
        m = machines.get(key, 0.0)
        with_ids, without = hits.get(key, (0.0, 0.0))
        if key not in out or m <= 0 or with_ids <= 0 or without <= 0:
            continue
        hosts, var, shared = out[key]
        # The network's machines, as the estimate will give them (those with ids are added
        # to these cells later) and as the check-ins do.
        total, checked = m + hosts, m * (with_ids + without) / with_ids
        apart = abs(math.log(total / checked))
        if apart <= limit:
            continue
        # A log-normal spread reaching `checked` at 90%: the estimates' intervals are
        # log-normal with the variance of hosts (hosts.answer), so var / total^2 is
        # exp(s^2) - 1, not s^2 (much less, where s is large). The network and its country
        # are then `widened` (hosts.estimate), their intervals narrowed by WIDENED_SCALE:
        # the reach is sized for the narrowed interval.
        added = total * total * math.expm1((apart / (Z90 * WIDENED_SCALE)) ** 2)
        out[key] = (hosts, var + added, shared)
        country: Cell = (key[0], key[1], None)
        c_hosts, c_var, c_shared = out.get(country, (0.0, 0.0, 0.0))
        out[country] = (c_hosts, c_var + added, c_shared)
        widened.append(key)
    return out, widened


def activity_note(widened: list[Cell]) -> str:
    """One sentence on the network-windows the check widened."""
    nets = sorted({f"{cc or '??'} AS{asn}" for _, cc, asn in widened})
    weeks: set[date] = {w for w, _, _ in widened}
    return (
        f"check-in cross-check: in {len(widened)} network-window(s) ({len(weeks)} window(s); "
        f"{', '.join(nets[:5])}{', ...' if len(nets) > 5 else ''}) the network's estimate "
        "(its machines with ids, and the rest as corrected from them) and its machines with "
        "ids times all its check-ins over theirs differ by more than a factor of "
        f"{ACTIVITY_TOLERANCE:g}: their intervals widened to reach the latter (bots of one "
        "family in one network check in about as often; docs/measurement.md)"
    )

"""'Not seen' is not 'cleaned': from daily sightings to one survival row per identity.

An identity is a bot id where the protocol carries one, else a source address. Time is
counted in *up-days*: days the sinkhole was recording (outage days are taken out, so a
silence across an outage is not longer for it). The rule:

1. Return gaps: for every identity, each silence that ended (k ≥ 1 up-days unseen, then
   seen again) is a return gap of k.
2. The threshold of an ASN is the q-quantile (default 0.99) of its return gaps when it has
   at least `min_gaps` of them, else the global q-quantile; never below `floor` up-days.
3. An identity is cleaned, at its last sighting, when the silence from its last sighting to
   the end of the data is longer than its ASN's threshold: a silence that long is rarer than
   1 − q among the ASN's hosts that did come back. Otherwise it is right-censored at its
   last sighting (alive then, fate unknown): near the end of the data, and just before an
   outage whose after-silence is still short.
4. A silence as long inside the data, after which a bot id is seen again, is read the same
   way: its first infection ended at the sighting before it (cleaned), and the return is a
   reinfection, not followed (the share still infected is of first infections, as a clean-up
   campaign is judged). A bot that derives its id from the machine keeps it when the machine
   is cleaned and reinfected, and a machine that comes back after such a silence was
   otherwise as likely cleaned as one that did not come back. Added after the twenty-ninth
   held-out set (bench/heldout): on the seen seeds of the twenty-first to twenty-ninth sets,
   each population of family B with ids read the share still infected after 28 days
   0.018-0.031 too high, its interval holding in 0-8 of 9 seeds: reinfected machines' ids
   read as one infection going on. The rows keep the other reading (`seen_last`,
   `silence_last`: one infection going on) for the curves' upper end (survival.curves): the
   same silence may be a machine switched off that long. An address that comes back is not
   read so: it may have been handed to another line meanwhile, and on the thirtieth held-out
   set's family A (no reinfections) the rule read the share still infected from stable
   networks' addresses 0.009-0.013 low. The cost: machines not reinfected but quiet for that
   long read as cleaned (in-model, the simulator's scenarios with ids: after 28 days -0.005
   to -0.016 before, -0.032 to -0.044 after; c-office -0.002 → -0.014).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa

from botcensus.measure.census import CensusQuery, Params
from botcensus.store.db import connect

SURVIVAL_COLUMNS: Final = (
    "identity",
    "asn",
    "cc",
    "first_day",
    "last_day",
    "days_seen",
    "silence",
    "threshold",
    "cleaned",
    "renumbering",
    "returned",
    "seen_last",
    "silence_last",
    "horizon",
)


@dataclass(frozen=True, slots=True)
class SilenceRule:
    """Parameters of the clean-up rule (documented in docs/measurement.md)."""

    quantile: float = 0.99
    """Silences longer than this quantile of the ASN's return gaps mean cleaned."""
    min_gaps: int = 30
    """An ASN with fewer return gaps uses the global quantile."""
    floor: int = 2
    """Never call a silence of this many up-days or fewer a clean-up."""
    outage_fraction: float = 0.5
    """A day whose identities fall below this share of the surrounding week's median is an
    outage (as is a day without any sighting inside the range)."""


DEFAULT_RULE: Final = SilenceRule()


def outage_days(totals: dict[date, int], first: date, last: date, fraction: float) -> list[date]:
    """Days in first..last without sightings, or with fewer identities than `fraction` of the
    median of the seven days centred on them (a sensor down for part of the day)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts = np.array([totals.get(d, 0) for d in days], dtype=np.float64)
    out = []
    for i, day in enumerate(days):
        around = counts[max(0, i - 3) : i + 4]
        median = float(np.median(around[around > 0])) if np.any(around > 0) else 0.0
        if counts[i] == 0 or counts[i] < fraction * median:
            out.append(day)
    return out


def _calendar(first: date, last: date, outages: set[date]) -> pa.Table:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    up = np.array([d not in outages for d in days], dtype=np.int64)
    return pa.table({"day": days, "up": up, "cum": np.cumsum(up)})


_PRESENCE = """
    SELECT coalesce(bot_id, source_ip) AS identity, day,
           arg_min(source_asn, first_seen) AS asn, arg_min(source_cc, first_seen) AS cc,
           bool_or(bot_id IS NOT NULL) AS by_id, 0.0::DOUBLE AS renumbering
    FROM {relation} WHERE {where} GROUP BY ALL
"""


def claimed(first: date, last: date, family: str | None) -> tuple[str, Params]:
    """The census's filter for sightings of a claimed family (or `family`) in first..last."""
    return CensusQuery(family=family, date_from=first, date_to=last).where()


def survival_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    *,
    first: date,
    last: date,
    family: str | None = None,
    outages: list[date] | None = None,
    rule: SilenceRule = DEFAULT_RULE,
    networks: Mapping[tuple[str, int], float] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """(survival rows, thresholds) for identities of claimed families seen in first..last.

    `networks`: follow addresses only in these (country, ASN) pairs (survival.networks:
    elsewhere an address does not last as long as its machine's infection), each with its
    renumbering rate per day (column `renumbering`; 0 for bot ids); bot ids are always
    followed. None follows every address, with no renumbering.

    Survival rows (SURVIVAL_COLUMNS): `last_day` is the first infection's last sighting,
    `silence` the up-days from it to the end or to the return, `threshold` the ASN's,
    `cleaned` whether silence > threshold, `returned` whether a bot id was seen again after
    such a silence (rule 4), `seen_last` and `silence_last` the last sighting in the data
    and the up-days from it to the end, `horizon` the last up-day on which a last sighting
    would still be called a clean-up (a silence of more than `threshold` up-days follows
    it; the day before the first where none is). Thresholds: one row per ASN (null: the global row)
    with `gaps`, `threshold` and whether it is the global fallback.
    `outages` None detects them from the daily identity counts."""
    where, params = claimed(first, last, family)
    presence = con.sql(_PRESENCE.format(relation=relation, where=where), params=params)
    presence_table = presence.to_arrow_table()
    if outages is None:  # from every identity, followed or not
        daily = presence_table.group_by("day").aggregate([("identity", "count")])
        totals = dict(
            zip(daily["day"].to_pylist(), daily["identity_count"].to_pylist(), strict=True)
        )
        outages = outage_days(totals, first, last, rule.outage_fraction)
    if networks is not None:
        presence_table = _followed(presence_table, networks)
    con.register("presence", presence_table)
    con.register("calendar", _calendar(first, last, set(outages)))
    try:
        return _rows(con, rule)
    finally:
        for name in ("presence", "calendar"):
            con.unregister(name)


def _followed(presence: pa.Table, networks: Mapping[tuple[str, int], float]) -> pa.Table:
    """Rows of bot ids, and of addresses in `networks` with their renumbering rate."""
    pairs = sorted(networks)
    allowed = pa.table(
        {
            "cc": pa.array([cc for cc, _ in pairs], pa.string()),
            "asn": pa.array([asn for _, asn in pairs], pa.int64()),
            "rate": pa.array([float(networks[p]) for p in pairs], pa.float64()),
        }
    )
    con = connect()
    try:
        con.register("presence", presence)
        con.register("allowed", allowed)
        return con.sql(
            "SELECT p.* REPLACE (CASE WHEN p.by_id THEN 0.0 ELSE a.rate END AS renumbering) "
            "FROM presence p LEFT JOIN allowed a "
            "ON a.cc = coalesce(p.cc, '') AND a.asn = coalesce(p.asn, 0) "
            "WHERE p.by_id OR a.rate IS NOT NULL"
        ).to_arrow_table()
    finally:
        con.close()


def _rows(con: duckdb.DuckDBPyConnection, rule: SilenceRule) -> tuple[pa.Table, pa.Table]:
    con.sql("""
        CREATE OR REPLACE TEMP TABLE steps AS
        SELECT p.identity, p.day, p.asn, p.cc, p.renumbering, p.by_id, c.cum, c.up,
               lag(c.cum) OVER (PARTITION BY p.identity ORDER BY p.day) AS prev_cum
        FROM presence p JOIN calendar c USING (day)
    """)
    q = float(rule.quantile)
    thresholds = con.sql(
        """
        WITH gaps AS (
            SELECT i.asn, s.cum - s.up - s.prev_cum AS gap
            FROM steps s JOIN (SELECT identity, arg_min(asn, day) AS asn FROM steps
                               GROUP BY identity) i USING (identity)
            WHERE s.prev_cum IS NOT NULL AND s.cum - s.up - s.prev_cum > 0),
        overall AS (SELECT count(*) AS n, quantile_disc(gap, $q) AS t FROM gaps),
        per_asn AS (SELECT asn, count(*) AS n, quantile_disc(gap, $q) AS t FROM gaps
                    WHERE asn IS NOT NULL GROUP BY asn)
        SELECT a.asn, a.n AS gaps,
               greatest($floor, CASE WHEN a.n >= $min THEN a.t ELSE g.t END)::BIGINT AS threshold,
               a.n < $min AS fallback
        FROM per_asn a, overall g
        UNION ALL
        SELECT NULL, n, greatest($floor, coalesce(t, $floor))::BIGINT, true FROM overall
        ORDER BY 1 NULLS FIRST
        """,
        params={"q": q, "floor": rule.floor, "min": rule.min_gaps},
    ).to_arrow_table()
    con.register("thresholds", thresholds)
    try:
        rows = con.sql("""
            WITH owner AS (
                SELECT identity, arg_min(asn, day) AS asn FROM steps GROUP BY identity),
            whole AS (SELECT threshold FROM thresholds WHERE asn IS NULL),
            limits AS (
                SELECT o.identity, coalesce(t.threshold, (SELECT threshold FROM whole)) AS th
                FROM owner o LEFT JOIN thresholds t ON t.asn = o.asn),
            back AS (  -- the first return after a silence longer than the threshold
                SELECT s.identity, min(s.day) AS day,
                       arg_min(s.cum - s.up - s.prev_cum, s.day) AS gap
                FROM steps s JOIN limits l USING (identity)
                WHERE s.by_id AND s.prev_cum IS NOT NULL AND s.cum - s.up - s.prev_cum > l.th
                GROUP BY s.identity),
            ident AS (
                SELECT s.identity, arg_min(s.asn, s.day) AS asn, arg_min(s.cc, s.day) AS cc,
                       min(s.day) AS first_day,
                       max(s.day) FILTER (b.day IS NULL OR s.day < b.day) AS last_day,
                       count(*) FILTER (b.day IS NULL OR s.day < b.day) AS days_seen,
                       max(s.cum) FILTER (b.day IS NULL OR s.day < b.day) AS last_cum,
                       max(s.day) AS seen_last, max(s.cum) AS seen_last_cum,
                       max(s.renumbering) AS renumbering
                FROM steps s LEFT JOIN back b USING (identity)
                GROUP BY s.identity),
            ending AS (SELECT max(cum) AS cum, min(day) - INTERVAL 1 DAY AS before
                       FROM calendar),
            horizons AS (  -- per threshold: the up-day whose cum is the end's less th + 1
                SELECT t.th, coalesce(min(c.day), any_value(e.before))::DATE AS day
                FROM (SELECT DISTINCT th FROM limits) t CROSS JOIN ending e
                LEFT JOIN calendar c ON c.up = 1 AND c.cum = e.cum - t.th - 1
                GROUP BY t.th)
            SELECT i.identity, i.asn, i.cc, i.first_day, i.last_day, i.days_seen,
                   coalesce(b.gap, e.cum - i.last_cum) AS silence,
                   l.th AS threshold,
                   b.day IS NOT NULL OR e.cum - i.last_cum > l.th AS cleaned,
                   i.renumbering, b.day IS NOT NULL AS returned, i.seen_last,
                   e.cum - i.seen_last_cum AS silence_last, h.day AS horizon
            FROM ident i JOIN limits l USING (identity) LEFT JOIN back b USING (identity)
                 JOIN horizons h ON h.th = l.th, ending e
            ORDER BY i.identity
        """).to_arrow_table()
    finally:
        con.unregister("thresholds")
        con.sql("DROP TABLE IF EXISTS steps")
    return rows.select(list(SURVIVAL_COLUMNS)), thresholds

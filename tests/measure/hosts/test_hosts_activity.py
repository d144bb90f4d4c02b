"""The network corrections checked against the check-ins (hosts.activity): where the
corrected estimate and the machines with ids scaled by the check-ins differ by more than
ACTIVITY_TOLERANCE, the interval reaches the latter."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.activity import (
    ACTIVITY_TOLERANCE,
    activity_check,
    activity_note,
    check_ins,
)
from botcensus.measure.hosts.features import EPOCH
from botcensus.measure.hosts.ids import IdCounts
from botcensus.measure.hosts.model import WIDENED_SCALE, Z90
from botcensus.measure.hosts.networks import Factor

from .hosts_cases import START, Population, connect, per_hour

W = dt.date(2011, 3, 20)
NET = (W, "ID", 23693)
COUNTRY = (W, "ID", None)
FACTOR = {NET: Factor(0.6, 0.02, 0.01)}
WEEK = dt.timedelta(days=6)


def _interval(total: float, var: float) -> tuple[float, float]:
    """The 90% interval hosts.answer gives a `widened` estimate with this variance (narrowed
    by WIDENED_SCALE: the check's reach must hold there too)."""
    half = Z90 * WIDENED_SCALE * math.sqrt(math.log1p(var / total**2))
    return total * math.exp(-half), total * math.exp(half)


def test_an_estimate_far_from_the_check_ins_is_widened_to_reach_them() -> None:
    """The model counted a dense carrier-grade NAT far too high on the machines without ids
    (b-harsh seed 15 with ids on 12%, seen): 100 machines with ids that make a tenth of the
    check-ins stand for about 1,000 machines in all, not 7,100."""
    hosts, var = 7_000.0, (7_000.0 * 0.1) ** 2
    cells = {NET: (hosts, var, 0.0), COUNTRY: (9_000.0, (9_000.0 * 0.1) ** 2, 0.0)}
    out, widened = activity_check(cells, FACTOR, {NET: 100.0}, {NET: (1_000.0, 9_000.0)})
    assert widened == [NET]
    est, new_var, _ = out[NET]
    assert est == hosts  # the point stays
    low, _ = _interval(100.0 + est, new_var)
    assert 900.0 <= low <= 1_000.0  # the 90% interval reaches M + A, and not far beyond
    assert _interval(100.0 + est, var)[0] > 6_000.0  # it did not before
    assert out[COUNTRY][0] == 9_000.0
    assert out[COUNTRY][1] - cells[COUNTRY][1] == new_var - var  # the country widens alike


def test_an_estimate_far_below_the_check_ins_is_widened_up_to_them() -> None:
    """Machines behind one address that the model cannot see (offices behind NAT): 100
    machines with ids, the estimate of the others 60, the check-ins of the others 9 times
    those with ids."""
    cells = {NET: (60.0, 10.0, 0.0)}
    out, widened = activity_check(cells, FACTOR, {NET: 100.0}, {NET: (1_000.0, 9_000.0)})
    assert widened == [NET]
    _, high = _interval(160.0, out[NET][1])
    assert 1_000.0 <= high <= 1_100.0


def test_an_estimate_within_the_tolerance_is_left_alone() -> None:
    cells = {NET: (1_400.0, 100.0, 1.0), COUNTRY: (2_000.0, 150.0, 2.0)}
    # M + A a little above half of M + the estimate (1,500)
    hits = {NET: (1_000.0, 1_000.0 * (1_500.0 / ACTIVITY_TOLERANCE * 1.01 - 100.0) / 100.0)}
    out, widened = activity_check(cells, FACTOR, {NET: 100.0}, hits)
    assert (out, widened) == (cells, [])
    hits = {NET: (1_000.0, 1_000.0 * (1_500.0 / ACTIVITY_TOLERANCE * 0.99 - 100.0) / 100.0)}
    assert activity_check(cells, FACTOR, {NET: 100.0}, hits)[1] == [NET]


def test_offices_the_ids_cannot_show_widen_the_census_interval_to_their_check_ins() -> None:
    """Through the census: 200 machines with ids, two to a line, and 40 offices of 10
    machines without ids, in reports per hour (no timer: machines behind one address
    assumed). The correction learnt on the ids gives the offices 80 machines; their
    check-ins say 400. The interval reaches the truth, 600, and a note says why."""
    pop = Population()
    lines = [pop.address() for _ in range(100)]
    for m in range(200):
        address = lines[m // 2]
        for d in range(28):
            pop.session([m], START + dt.timedelta(days=d), address, 9 * 3600, 12 * 3600,
                        cc="AA", asn=64501, bot_id=f"id{m}")  # fmt: skip
    for o in range(40):
        address = pop.address()
        for d in range(28):
            pop.session(list(range(1000 + 10 * o, 1010 + 10 * o)), START + dt.timedelta(days=d),
                        address, 9 * 3600, 12 * 3600, cc="AA", asn=64501)  # fmt: skip
    table = per_hour(pop.table())  # hits: the hours, times the machines behind the address
    hits = pc.multiply(table["hits"], pc.if_else(pc.is_null(table["bot_id"]), 10, 1))
    table = table.set_column(table.schema.get_field_index("hits"), "hits", hits)
    answer = hosts_answer(connect(table), CensusQuery(by=("country",)), "sightings")
    rows = [r for r in answer.table.to_pylist() if r["window_end"] - r["window_start"] == WEEK]
    assert rows
    for row in rows:
        assert row["hosts_est"] < 300  # the estimate misses the offices' machines
        assert row["hosts_lo"] <= 600 <= row["hosts_hi"]
        assert row["hosts_support"] == "widened"
    (note,) = [n for n in answer.notes if n.startswith("check-in cross-check")]
    assert "AA AS64501" in note
    # Each network-window the check widened is `widened`, and its country: the reach is
    # sized for the narrowed interval of a `widened` row (hosts.model.WIDENED_SCALE), which
    # an `estimate` row of timed data would otherwise not get.
    from botcensus.measure.hosts.estimate import partition_cells
    from botcensus.measure.hosts.model import WIDENED

    query = CensusQuery(by=("country", "asn"))
    _, support, _ = partition_cells(connect(table), query, "sightings")
    flagged = [k for k in support if k[2] == 64501]
    assert flagged
    for key in flagged:
        assert support[key] == WIDENED
        assert support[(key[0], key[1], None)] == WIDENED


def test_networks_without_a_correction_or_without_check_ins_are_not_checked() -> None:
    cells = {NET: (7_000.0, 1.0, 0.0)}
    assert activity_check(cells, {}, {NET: 100.0}, {NET: (1_000.0, 9_000.0)}) == (cells, [])
    assert activity_check(cells, FACTOR, {NET: 100.0}, {NET: (0.0, 9_000.0)}) == (cells, [])
    assert activity_check(cells, FACTOR, {}, {NET: (1_000.0, 9_000.0)}) == (cells, [])


def test_check_ins_are_summed_per_window_and_network_with_ids_and_without() -> None:
    con = duckdb.connect()
    table = pa.table(
        {
            "day": [W, W, W, W + dt.timedelta(days=1)],
            "source_cc": ["ID", "ID", None, "ID"],
            "source_asn": [23693, 23693, None, 23693],
            "bot_id": ["a", None, None, None],
            "hits": [3, 5, 7, 11],
        }
    )
    con.register("s", table)
    got = check_ins(con, "s", "TRUE", {}, "day")
    assert got == {
        (W, "ID", 23693): (3.0, 5.0),
        (W, "", 0): (0.0, 7.0),
        (W + dt.timedelta(days=1), "ID", 23693): (0.0, 11.0),
    }


def test_machines_with_ids_include_the_hidden_collisions() -> None:
    counts = IdCounts(
        window_start=np.array([(W - EPOCH).days], np.int64),
        cc=("ID",),
        asn=np.array([23693], np.int64),
        machines=np.array([100.0]),
        machine_days=np.zeros(1),
        machine_days_sq=np.zeros(1),
        hidden=np.array([2.5]),
    )
    assert counts.by_cell() == {NET: 102.5}


def test_the_note_names_the_networks_and_the_tolerance() -> None:
    note = activity_note([NET, (W + dt.timedelta(days=7), "ID", 23693), (W, "US", 21928)])
    assert "in 3 network-window(s) (2 window(s); ID AS23693, US AS21928)" in note
    assert f"factor of {ACTIVITY_TOLERANCE:g}" in note

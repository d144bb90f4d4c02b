"""Bot ids in simulated sightings: off by default, one stable id per bot, collisions shared."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.simulate import Scenario, Simulation, simulate
from botcensus.simulate.scenario import BotIds

DAYS = (dt.date(2011, 3, 16), dt.date(2011, 3, 19))


def _run(scenario: Scenario, space: pa.Table, ids: BotIds) -> Simulation:
    with_ids = scenario.model_copy(update={"bot_ids": ids})
    return simulate(with_ids, address_space=space, scale=0.002, seed=3, start=DAYS[0], end=DAYS[1])


def _bots(sim: Simulation) -> pa.Table:
    table = pa.Table.from_batches(list(sim.sightings()))
    return table.filter(pc.is_valid(table["malware_family"]))


def test_no_bot_ids_by_default(first_week: Simulation) -> None:
    table = pa.Table.from_batches(list(first_week.sightings()))
    assert table["bot_id"].null_count == table.num_rows
    assert first_week.truth().hosts["bot_id"].null_count == first_week.truth().hosts.num_rows


def test_every_bot_carries_its_own_id_once_per_day(rustock: Scenario, space: pa.Table) -> None:
    sim = _run(rustock, space, BotIds(fraction=1.0))
    table = _bots(sim)
    assert table["bot_id"].null_count == 0
    truth = sim.truth().daily
    active = truth.filter(pc.equal(truth["scope"], "global"))["hosts_active"].to_pylist()
    per_day = table.group_by("day").aggregate([("bot_id", "count_distinct")]).sort_by("day")
    assert per_day["bot_id_count_distinct"].to_pylist() == active


def test_ids_split_rows_but_not_check_ins(rustock: Scenario, space: pa.Table) -> None:
    def per_address(table: pa.Table) -> list[tuple[object, ...]]:
        grouped = table.group_by(["day", "source_ip"]).aggregate(
            [("hits", "sum"), ("first_seen", "min"), ("last_seen", "max")]
        )
        return sorted(tuple(r.values()) for r in grouped.to_pylist())

    plain = _bots(_run(rustock, space, BotIds()))
    with_ids = _bots(_run(rustock, space, BotIds(fraction=1.0)))
    assert with_ids.num_rows > plain.num_rows
    assert per_address(with_ids) == per_address(plain)


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_fraction_of_bots_carry_ids(rustock: Scenario, space: pa.Table, fraction: float) -> None:
    hosts = _run(rustock, space, BotIds(fraction=fraction)).truth().hosts
    share = 1 - hosts["bot_id"].null_count / hosts.num_rows
    assert share == pytest.approx(fraction, abs=0.05)


def test_colliding_bots_share_ids(rustock: Scenario, space: pa.Table) -> None:
    hosts = _run(rustock, space, BotIds(fraction=1.0, collision_fraction=0.2)).truth().hosts
    distinct = pc.count_distinct(hosts["bot_id"]).as_py()
    assert 0.75 * hosts.num_rows < distinct < 0.9 * hosts.num_rows

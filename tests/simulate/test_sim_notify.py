"""The scenario option `notify`: a campaign that multiplies the clean-up hazard of the hosts
in a random share of ASNs from a day on, leaving every other draw as it was."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError

from botcensus.simulate import Scenario, simulate

DAY = dt.date(2011, 4, 1)


def _with_notify(rustock: Scenario, **notify: object) -> Scenario:
    data = rustock.model_dump() | {"notify": {"day": DAY, "hazard_multiplier": 1.6} | notify}
    return Scenario.model_validate(data | {"pulses": []})


def _hosts(scenario: Scenario, space: pa.Table) -> tuple[pa.Table, pa.Table]:
    sim = simulate(scenario, address_space=space, scale=0.002, seed=3)
    return sim.truth().hosts, sim.notifications()


@pytest.fixture(scope="module")
def runs(rustock: Scenario, space: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    plain, _ = _hosts(rustock.model_copy(update={"pulses": []}), space)
    told, plan = _hosts(_with_notify(rustock), space)
    return plain, told, plan


def test_without_a_campaign_there_is_no_plan(rustock: Scenario, space: pa.Table) -> None:
    sim = simulate(rustock, address_space=space, scale=0.002, seed=3)
    assert sim.notifications().num_rows == 0


def test_half_the_asns_are_notified(runs: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    plain, _, plan = runs
    assert set(plan["asn"].to_pylist()) == set(plain["asn"].to_pylist())
    assert sum(plan["notified"].to_pylist()) == round(0.5 * plan.num_rows)
    assert set(plan["day"].to_pylist()) == {DAY}


def test_hold_out_hosts_are_untouched(runs: tuple[pa.Table, pa.Table, pa.Table]) -> None:
    plain, told, plan = runs
    hold = plan.filter(pc.invert(plan["notified"]))["asn"]
    mine = pc.is_in(plain["asn"], hold)
    assert plain.filter(mine)["cleaned"].equals(told.filter(pc.is_in(told["asn"], hold))["cleaned"])
    assert plain["infected"].equals(told["infected"])


def test_notified_hosts_lose_time_left_by_the_multiplier(
    runs: tuple[pa.Table, pa.Table, pa.Table],
) -> None:
    plain, told, plan = runs
    notified = pc.is_in(plain["asn"], plan.filter(plan["notified"])["asn"])
    at = np.datetime64(DAY.isoformat(), "us")
    before = plain.filter(notified)["cleaned"].to_numpy(zero_copy_only=False)
    after = told.filter(notified)["cleaned"].to_numpy(zero_copy_only=False)
    # Hosts infected after the day have their whole episode shortened.
    since = np.maximum(plain.filter(notified)["infected"].to_numpy(zero_copy_only=False), at)
    cleaned_before = ~np.isnat(before) & ~np.isnat(after)
    late = cleaned_before & (before > at)
    left_plain = (before[late] - since[late]).astype(np.int64)
    left_told = (after[late] - since[late]).astype(np.int64)
    assert late.sum() > 20
    assert np.allclose(left_told, left_plain / 1.6, atol=2)
    early = cleaned_before & (before <= at)
    assert np.array_equal(before[early], after[early])


@pytest.mark.parametrize("bad", [{"share": 1.0}, {"hazard_multiplier": 0.0}])
def test_campaign_settings_are_validated(rustock: Scenario, bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _with_notify(rustock, **bad)

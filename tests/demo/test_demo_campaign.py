"""The demo's notification campaign on a small simulated dataset: the notify stage tells
every network seen the day before through the loopback SMTP server except a random half, and
the effect lines compare the told and held-out networks with the simulation's truth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from botcensus import enrich
from botcensus.demo import SENSOR, campaign
from botcensus.notify import Journal
from botcensus.simulate import load_scenario, simulate
from botcensus.simulate.outputs import write_direct
from botcensus.simulate.scenario import Notify
from botcensus.store import rollup


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, campaign.Campaign, object]:
    geo = enrich.load_bundled()
    space = enrich.ipv4_ranges(geo)
    scenario = load_scenario("rustock-2011")
    data = tmp_path_factory.mktemp("demo") / "data"
    step = lambda t: enrich.enrich(t, geo)  # noqa: E731
    before = simulate(scenario, address_space=space, scale=0.0005, seed=3,
                      start=campaign.DAY - dt.timedelta(days=3),
                      end=campaign.DAY - dt.timedelta(days=1))  # fmt: skip
    write_direct(before, data, step, sensor=SENSOR)
    rollup(data, step)
    told = campaign.run_campaign(data, before, seed=3)
    truth_scenario = scenario.model_copy(
        update={"notify": Notify(day=campaign.DAY, hazard_multiplier=2.0, asns=list(told.told))}
    )
    after = simulate(truth_scenario, address_space=space, scale=0.0005, seed=3,
                     start=campaign.DAY, end=campaign.DAY + dt.timedelta(days=27))  # fmt: skip
    write_direct(after, data, step, sensor=SENSOR)
    rollup(data, step)
    truth = after.truth()
    return data, told, (truth.weekly, truth.hosts)


def test_every_recipient_gets_a_mail_and_the_hold_out_hears_nothing(run) -> None:
    data, told, _ = run
    assert told.delivered == len(told.sent.plan.messages) > 0
    held = set(told.groups["asn"].to_pylist()) - set(told.told)
    assert held
    with Journal(data, create=False) as journal:
        addresses = {e.address for e in journal.entries("state = 'sent'")}
    assert not addresses & {f"abuse@as{a}.example" for a in held}
    assert "Subject: [BC-20110330-" in told.example
    assert "event4_sinkhole_http" in told.example


def test_the_effect_lines_put_the_measured_decay_beside_the_truth(run) -> None:
    data, told, truth = run
    weekly, _ = truth
    arms = campaign.arm_decay(data, told.groups, weekly, campaign.DAY + dt.timedelta(days=27))
    assert arms.told is not None
    assert arms.true_told is not None
    lines = campaign.effect_lines(None, arms)
    assert "told" in lines[-1]
    assert "true active hosts" in lines[-1]
    assert len(campaign.campaign_lines(told)) == 2


def test_a_perfect_observer_reads_the_simulated_effect_below_its_multiplier(run) -> None:
    """Machines clean up at different rates (fast ones leave first), so the Cox fit on the true
    clean-up times reads the told networks faster, but by less than the simulated x2."""
    _, told, (_, hosts) = run
    perfect = campaign.perfect_observer_hr(hosts, told.groups, campaign.DAY + dt.timedelta(days=27))
    assert perfect is not None
    assert 1.1 < perfect < 2.0

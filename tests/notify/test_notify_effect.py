"""The effect loop: a campaign run by `notify send` with a randomised hold-out on a simulated
takedown, the simulation's clean-up sped up for exactly the networks the journal says were
told, and `botcensus cleanup` reading the groups from the journal: the hazard ratio it finds
brackets the simulation's true one."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from notify_cases import SENDER
from tests.measure.sim_cases import CASES, sim_sightings

from botcensus.cli import main
from botcensus.contacts import import_csv
from botcensus.notify import Journal, load_rules, notification_groups, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.simulate import load_scenario, simulate, synthetic_ranges
from botcensus.store import write_sightings

TRUE_HR = 1.6
"""notify-static's hazard multiplier for the networks told."""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """notify-static at scale 0.5: days before the campaign, `notify send` on its day with a
    half hold-out, then the days after with the journal's notified networks cleaned faster."""
    root = tmp_path_factory.mktemp("campaign")
    data = root / "data"
    scenario = load_scenario(CASES / "notify-static.toml")
    assert scenario.notify is not None
    day = scenario.notify.day
    space = synthetic_ranges(sorted(scenario.countries), asns=40, seed=7)
    before = simulate(scenario, address_space=space, scale=0.5, seed=1,
                      end=day - timedelta(days=1))  # fmt: skip
    write_sightings(sim_sightings(before, space), data, "simulated")
    contacts = root / "contacts.csv"
    asns = sorted(set(space["asn"].to_pylist()))
    contacts.write_text(
        "asn,abuse_email\n" + "".join(f"{a},abuse@as{a}.example\n" for a in asns),
        encoding="utf-8",
    )
    import_csv(data, contacts, source="isps")
    rules_path = root / "rules.toml"
    rules_path.write_text(
        SENDER + '[smtp]\nsecurity = "none"\n[holdout]\nshare = 0.5\nseed = 9\n'
        '[[rule]]\nname = "daily"\n',
        encoding="utf-8",
    )
    rules = load_rules(rules_path)
    with LoopbackSmtp() as server:
        sent = send(data, rules, day, relay_address(rules, ("127.0.0.1", server.port)))
    assert sent.delivery is not None
    assert sent.delivery.sent
    groups = notification_groups(data)
    assert groups is not None
    told = [a for a, n in zip(groups["asn"].to_pylist(), groups["notified"].to_pylist(),
                              strict=True) if n]  # fmt: skip
    campaign = scenario.model_copy(
        update={"notify": scenario.notify.model_copy(update={"asns": told})}
    )
    after = simulate(campaign, address_space=space, scale=0.5, seed=1, start=day)
    write_sightings(sim_sightings(after, space), data, "simulated-after")
    return data


def test_the_groups_are_the_journals_hold_out_design(campaign: Path) -> None:
    groups = notification_groups(campaign)
    assert groups is not None
    with Journal(campaign, create=False) as journal:
        design = journal.assignments()
        told = {e.address for e in journal.entries()}
    assert groups.schema == pa.schema(
        [("asn", pa.int64()), ("notified", pa.bool_()), ("day", pa.date32())]
    )
    assert groups.num_rows == design.num_rows
    assert 0.4 < 1 - sum(groups["notified"].to_pylist()) / groups.num_rows < 0.6
    held = {a for a, n in zip(groups["asn"].to_pylist(), groups["notified"].to_pylist(),
                              strict=True) if not n}  # fmt: skip
    assert not {f"abuse@as{a}.example" for a in held} & told  # the hold-out heard nothing


def test_cleanup_reads_the_journal_and_finds_the_true_effect(campaign: Path) -> None:
    result = CliRunner().invoke(main, ["cleanup", "--data", str(campaign), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "notification groups from the journal's hold-out design" in result.stderr
    hazard = json.loads(result.stdout)["hazard_ratio"]
    assert hazard["hazard_ratio"] > 1
    assert hazard["lower"] < TRUE_HR < hazard["upper"]


def test_cleanup_can_be_told_not_to_read_the_journal(campaign: Path) -> None:
    args = ["cleanup", "--data", str(campaign), "--format", "json", "--no-notified-from-journal"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hazard_ratio"] is None


def test_asking_for_the_journal_without_a_design_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    args = ["cleanup", "--data", str(tmp_path / "data"), "--notified-from-journal"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "has no hold-out design" in result.stderr

"""Retention as a user meets it: a simulated Rustock 2011 dataset survives `rollup` and
`census`; only `botcensus retention apply` deletes, when data is past its limit counted from
its roll-up, and says what it did."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.store.ledger import read_ledger, update

T0_US = 1_300_233_600_000_000  # 2011-03-16T00:00:00Z
DAY_US = 86_400_000_000
WEEK = ["--from", "2011-03-16", "--to", "2011-03-22"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def rustock_source(tmp_path_factory: pytest.TempPathFactory, make_event, make_segment) -> Path:
    """The first week of the Rustock takedown: simulated sightings (direct path) plus raw
    sinkhole events of 2011-03-16..18 as a replaying sinkhole records them (built once)."""
    from botcensus.store import roll_segment

    data = tmp_path_factory.mktemp("rustock") / "rustock"
    result = CliRunner().invoke(
        main,
        ["simulate", "--scenario", "rustock-2011", "--scale", "0.0005", "--data", str(data), *WEEK],
    )
    assert result.exit_code == 0, result.output
    rows = [
        make_event(time_received=T0_US + d * DAY_US + i, source_ip=f"192.0.2.{i}",
                   malware_family="rustock")
        for d in range(3) for i in range(1, 5)
    ]  # fmt: skip
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [rows]), data)
    return data


@pytest.fixture
def rustock(rustock_source: Path, tmp_path: Path) -> Path:
    """A copy of the Rustock week each test may change (roll up, delete)."""
    data = tmp_path / "rustock"
    shutil.copytree(rustock_source, data)
    return data


def _days(data: Path, area: str) -> int:
    return len(list((data / area).glob("date=*")))


def test_rollup_and_census_of_a_2011_dataset_delete_nothing(
    runner: CliRunner, rustock: Path
) -> None:
    sightings = _days(rustock, "sightings")
    for args in (["rollup"], ["census", "--window", "day"], ["rollup"]):
        result = runner.invoke(main, [*args, "--data", str(rustock)])
        assert result.exit_code == 0, result.output
    assert _days(rustock, "events") == 3
    assert _days(rustock, "sightings") == sightings == 7


def test_census_estimates_hosts_after_rollup_of_a_2011_dataset(
    runner: CliRunner, rustock: Path
) -> None:
    runner.invoke(main, ["rollup", "--data", str(rustock)])
    result = runner.invoke(
        main,
        ["census", "--data", str(rustock), "--window", "day", "--estimate", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert "sketches" not in result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 7
    assert all(r["hosts_est"] > 0 for r in rows)


def _age(data: Path, days: int) -> None:
    """Pretend everything was written `days` ago (as if rolled up then)."""
    then = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    stamps = read_ledger(data)
    update(data, {a: dict.fromkeys(stamps[a], then) for a in ("events", "sightings")})  # type: ignore[misc]


def test_retention_apply_deletes_raw_events_30_days_after_rollup(
    runner: CliRunner, rustock: Path
) -> None:
    runner.invoke(main, ["rollup", "--data", str(rustock)])
    result = runner.invoke(main, ["retention", "apply", "--data", str(rustock)])
    assert result.exit_code == 0, result.output
    assert "0 day partitions deleted" in result.output
    _age(rustock, 31)
    result = runner.invoke(main, ["retention", "apply", "--data", str(rustock)])
    assert result.exit_code == 0, result.output
    assert "deleted events/date=2011-03-16" in result.output
    assert _days(rustock, "events") == 0
    assert _days(rustock, "sightings") == 7
    logged = (rustock / "retention.log").read_text().splitlines()
    assert len(logged) == 3


def test_retention_apply_dry_run_only_lists(runner: CliRunner, rustock: Path) -> None:
    runner.invoke(main, ["rollup", "--data", str(rustock)])
    _age(rustock, 500)
    result = runner.invoke(main, ["retention", "apply", "--data", str(rustock), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would delete events/date=2011-03-16" in result.output
    assert "would delete sightings/date=2011-03-22" in result.output
    assert (_days(rustock, "events"), _days(rustock, "sightings")) == (3, 7)


def test_rollup_says_when_data_is_past_its_limit_but_keeps_it(
    runner: CliRunner, rustock: Path
) -> None:
    runner.invoke(main, ["rollup", "--data", str(rustock)])
    _age(rustock, 31)
    result = runner.invoke(main, ["rollup", "--data", str(rustock)])
    assert result.exit_code == 0, result.output
    assert "3 day partitions are past their limit" in result.stderr
    assert "botcensus retention apply" in result.stderr
    assert _days(rustock, "events") == 3


def test_retention_on_rollup_setting_applies_it_after_rolling_up(
    runner: CliRunner, rustock: Path
) -> None:
    runner.invoke(main, ["rollup", "--data", str(rustock)])
    _age(rustock, 31)
    env = {"BOTCENSUS_STORE__RETENTION_ON_ROLLUP": "true"}
    result = runner.invoke(main, ["rollup", "--data", str(rustock)], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted events/date=2011-03-18" in result.output
    assert _days(rustock, "events") == 0


def test_retention_apply_on_a_missing_directory_is_a_usage_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(main, ["retention", "apply", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such directory" in result.output


@pytest.mark.slow
def test_a_replay_through_a_real_sinkhole_survives_census_and_ages_from_its_rollup(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Rustock 2011-03-16 replayed over PROXY v2 into a real sinkhole on loopback."""
    import datetime as dt

    from botcensus import enrich
    from botcensus.simulate import load_scenario, simulate
    from botcensus.simulate.outputs import send_http
    from botcensus.simulate.sinkhole import SinkholeProcess

    geo = enrich.load_bundled()
    sim = simulate(
        load_scenario("rustock-2011"), address_space=enrich.ipv4_ranges(geo), scale=0.0005,
        seed=3, start=dt.date(2011, 3, 16), end=dt.date(2011, 3, 16),
    )  # fmt: skip
    data = tmp_path / "replayed"
    args = ["--listen", "127.0.0.1:0", "--proxy-protocol", "--replay"]
    with SinkholeProcess(data, args, workers=1, env={}) as sink:
        sent = send_http(sim, sink.port)
    assert sent.answered == sent.sent > 1000
    for _ in range(2):
        result = runner.invoke(main, ["census", "--data", str(data), "--window", "day"])
        assert result.exit_code == 0, result.output
    assert [p.name for p in (data / "events").glob("date=*")] == ["date=2011-03-16"]
    assert [p.name for p in (data / "sightings").glob("date=*")] == ["date=2011-03-16"]
    rolled = datetime.fromisoformat(read_ledger(data)["events"]["2011-03-16"])
    assert abs(datetime.now(UTC) - rolled) < timedelta(minutes=5)
    result = runner.invoke(main, ["retention", "apply", "--data", str(data)])
    assert "0 day partitions deleted" in result.output


def test_retention_apply_prints_each_deletion_once(runner: CliRunner, rustock: Path) -> None:
    """The trial: each deletion came twice, on stdout and as a log line on stderr (a real
    process: CliRunner does not see the log handler)."""
    import subprocess
    import sys

    runner.invoke(main, ["rollup", "--data", str(rustock)])
    _age(rustock, 31)
    done = subprocess.run(
        [sys.executable, "-m", "botcensus", "retention", "apply", "--data", str(rustock)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    printed = (done.stdout + done.stderr).count("deleted events/date=2011-03-16")
    assert printed == 1, done.stdout + done.stderr

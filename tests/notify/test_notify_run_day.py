"""The run day: a daily or weekly report covers days that are over (a period is reported
once, so reporting one early loses its later hosts for good); a threshold report covers the
run day so far, by design; without --date the run day is today in UTC, whatever the
machine's local day."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from notify_cases import HOSTS, make_dataset, rules, rules_file, sightings

from botcensus.cli import main
from botcensus.notify import PeriodNotOverError, load_rules, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.notify.plan import unfinished
from botcensus.store import write_sightings

NOW = datetime(2011, 3, 18, 20, 0, tzinfo=UTC)
DAILY = '[[rule]]\nname = "daily"\n'
THRESHOLD = '[[rule]]\nname = "burst"\ninterval = "threshold"\nthreshold = 2\n'


def _today() -> date:
    return datetime.now(UTC).date()


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("text", "run", "refused"),
    [
        (DAILY, NOW.date(), None),  # yesterday is over
        (DAILY, NOW.date() + timedelta(days=1), "would report 2011-03-18 (UTC), which is not over"),
        (DAILY, date(2027, 1, 1), "would report 2026-12-31 (UTC), which has not begun"),
        # 2011-03-19 is a Saturday: the week to that day is reported on the 20th
        ('[[rule]]\nname = "w"\ninterval = "weekly"\nweek_ends = "sat"\n',
         date(2011, 3, 20), "would report 2011-03-13 to 2011-03-19 (UTC), which has not begun"),
        ('[[rule]]\nname = "w"\ninterval = "weekly"\nweek_ends = "fri"\n',
         date(2011, 3, 19), "would report 2011-03-12 to 2011-03-18 (UTC), which is not over"),
        ('[[rule]]\nname = "w"\ninterval = "weekly"\nweek_ends = "thu"\n', date(2011, 3, 18), None),
        (THRESHOLD, NOW.date(), None),  # the day so far, by design
        (THRESHOLD, NOW.date() + timedelta(days=1), "2011-03-19 so far, a day that has not begun"),
        # a [[recipient]] override can make a weekly rule's recipient daily
        ('[[rule]]\nname = "w"\ninterval = "weekly"\nweek_ends = "thu"\n[[recipient]]\n'
         'email = "a@b.example"\ninterval = "daily"\n',
         date(2011, 3, 19), "rule 'w' (daily) would report 2011-03-18 (UTC), which is not over"),
        # nothing due that day, and still a day that has not begun
        ('[[rule]]\nname = "w"\ninterval = "weekly"\n', date(2011, 3, 23),
         "--date 2011-03-23: that day has not begun"),
    ],
)  # fmt: skip
def test_a_period_that_is_not_over_is_refused(text: str, run: date, refused: str | None) -> None:
    why = unfinished(rules(text), run, NOW)
    if refused is None:
        assert why is None
    else:
        assert why is not None
        assert refused in why
        assert why.startswith(f"--date {run}: ")
        assert "it is 2011-03-18 20:00 UTC now" in why
        assert "use --date 2011-03-18 or earlier" in why


@pytest.mark.parametrize("command", ["plan", "send"])
def test_a_run_on_tomorrow_is_refused_and_writes_nothing(
    tmp_path: Path, server: LoopbackSmtp, command: str
) -> None:
    """The trial: `send --date <tomorrow>` reported today, unfinished, and every host seen
    later today was never reported (the next run found the period sent)."""
    data = make_dataset(tmp_path / "data")
    tomorrow = _today() + timedelta(days=1)
    extra = ["--smtp", f"127.0.0.1:{server.port}"] if command == "send" else []
    rules = rules_file(tmp_path / "rules.toml")
    result = _cli("notify", command, "--data", str(data), "--rules", str(rules),
                  "--date", str(tomorrow), *extra)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: --date {tomorrow}: rule 'daily' (daily) would report ")
    assert f"would report {_today()} (UTC), which is not over yet" in lines[0]
    assert "Usage:" not in result.stderr
    assert not (data / "notify").exists()
    assert server.received() == []


def test_send_called_from_code_refuses_a_period_not_over(
    tmp_path: Path, server: LoopbackSmtp
) -> None:
    """Not only the CLI: code calling notify.send() directly gets the same refusal, before
    anything is recorded, and the same call once the day is over sends."""
    data = make_dataset(tmp_path / "data")  # hosts seen on 2011-03-17
    daily = load_rules(rules_file(tmp_path / "rules.toml"))  # a loopback relay without TLS
    address = relay_address(daily, ("127.0.0.1", server.port))
    early = datetime(2011, 3, 17, 20, 0, tzinfo=UTC)
    with pytest.raises(PeriodNotOverError, match=r"would report 2011-03-17 .*not over yet"):
        send(data, daily, date(2011, 3, 18), address, now=early)
    assert not (data / "notify").exists()
    assert server.received() == []
    result = send(data, daily, date(2011, 3, 18), address, now=NOW)
    assert result.delivery is not None
    assert len(result.delivery.sent) == len(server.received()) > 0


def test_a_date_far_ahead_is_refused(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data")
    ahead = _today() + timedelta(days=400)
    result = _cli("notify", "send", "--data", str(data), "--rules",
                  str(rules_file(tmp_path / "rules.toml")), "--date", str(ahead))  # fmt: skip
    assert result.exit_code == 2
    assert "which has not begun" in result.stderr
    assert not (data / "notify").exists()


def test_a_threshold_rule_still_reports_today_so_far(tmp_path: Path, server: LoopbackSmtp) -> None:
    data = make_dataset(tmp_path / "data")
    write_sightings(sightings(HOSTS, _today()), data, "today")
    rules = rules_file(tmp_path / "rules.toml", 'interval = "threshold"\nthreshold = 2\n')
    result = _cli("notify", "send", "--data", str(data), "--rules", str(rules),
                  "--date", str(_today()), "--smtp", f"127.0.0.1:{server.port}")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Delivered 4," in result.stdout  # the four recipients with 2 hosts or more
    tomorrow = _cli("notify", "plan", "--data", str(data), "--rules", str(rules),
                    "--date", str(_today() + timedelta(days=1)))  # fmt: skip
    assert tomorrow.exit_code == 2
    assert "so far, a day that has not begun" in tomorrow.stderr


@pytest.fixture
def local_day_not_utc() -> Iterator[None]:
    """A time zone whose day is not UTC's now (cron on a machine east or west of UTC)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14" if datetime.now(UTC).hour >= 12 else "Etc/GMT+12"
    time.tzset()
    try:
        if date.today() == _today():  # the machine's local day, on purpose
            pytest.skip("within a second of midnight: the local day is UTC's")
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.usefixtures("local_day_not_utc")
def test_without_date_the_run_day_is_today_in_utc(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data")
    result = _cli("notify", "plan", "--data", str(data), "--rules",
                  str(rules_file(tmp_path / "rules.toml")))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Run {_today()}: ")

"""The command line, in process: `events` over a hand-made dataset, `sinkhole serve` errors,
`report` over a simulated campaign."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.cli._app import COMMAND_MODULES
from botcensus.export import CSV_COLUMNS
from botcensus.measure.census import CensusQuery, census
from botcensus.measure.cleanup import complete_weeks, fit_decay
from botcensus.report.cleanup_charts import number
from botcensus.store import connect, roll_segment, sightings_view
from botcensus.store.sightings import write_sightings
from measure.sim_cases import notify_static

DAY_US = 86_400_000_000
T0_US = 1_300_233_600_000_000  # 2011-03-16T00:00:00Z


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def dataset(tmp_path, make_event, make_segment):
    """Four events: 2011-03-16 00:00 and 12:00, 03-17 00:00 (a Rustock one), 03-18 00:00."""
    rows = [
        make_event(time_received=T0_US, path="/a"),
        make_event(time_received=T0_US + DAY_US // 2, path="/b"),
        make_event(time_received=T0_US + DAY_US, path="/login.php", malware_family="rustock"),
        make_event(time_received=T0_US + 2 * DAY_US, path="/d", header_names=["Host", "X"]),
    ]
    data = tmp_path / "data"
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [rows]), data)
    return data


def _paths(output: str) -> list[str]:
    return [json.loads(line)["extra.http_path"] for line in output.splitlines()]


# -- events ----------------------------------------------------------------------------------
def test_events_prints_json_lines_in_time_order(runner, dataset):
    result = runner.invoke(main, ["events", "--data", str(dataset)])
    assert result.exit_code == 0, result.output
    assert _paths(result.stdout) == ["/a", "/b", "/login.php", "/d"]


def test_events_use_intelmq_names(runner, dataset):
    result = runner.invoke(main, ["events", "--data", str(dataset)])
    first = json.loads(result.stdout.splitlines()[2])
    assert first["malware.name"] == "rustock"
    assert first["classification.type"] == "infected-system"
    assert first["time.source"] == "2011-03-17T00:00:00+00:00"
    assert first["source.ip"] == "192.0.2.10"


@pytest.mark.parametrize(
    ("window", "paths"),
    [
        (["--since", "2011-03-17"], ["/login.php", "/d"]),
        (["--until", "2011-03-17"], ["/a", "/b"]),
        (["--since", "2011-03-16T12:00", "--until", "2011-03-18"], ["/b", "/login.php"]),
        (["--since", "2011-03-16T13:00+01:00"], ["/b", "/login.php", "/d"]),
        (["--since", "2011-03-16T12:00:00Z", "--until", "2011-03-16T12:00:01Z"], ["/b"]),
        (["--since", "2012-01-01"], []),
    ],
)
def test_events_since_until_select_a_half_open_utc_window(runner, dataset, window, paths):
    result = runner.invoke(main, ["events", "--data", str(dataset), *window])
    assert result.exit_code == 0, result.output
    assert _paths(result.stdout) == paths


def test_events_csv_has_the_columns_and_one_row_per_event(runner, dataset):
    result = runner.invoke(main, ["events", "--data", str(dataset), "--format", "csv"])
    assert result.exit_code == 0, result.output
    reader = csv.reader(io.StringIO(result.stdout))
    header, *rows = list(reader)
    assert tuple(header) == CSV_COLUMNS
    assert len(rows) == 4


def test_events_csv_window_and_values(runner, dataset):
    args = ["events", "--data", str(dataset), "--format", "csv", "--since", "2011-03-17"]
    result = runner.invoke(main, [*args, "--until", "2011-03-19"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["extra.http_path"] for r in rows] == ["/login.php", "/d"]
    assert rows[0]["malware.name"] == "rustock"
    assert rows[0]["time.source"] == "2011-03-17T00:00:00+00:00"
    assert rows[1]["extra.header_names"] == "Host X"
    assert rows[1]["feed.name"] == "botcensus-sinkhole"


def test_events_of_an_empty_dataset_print_nothing(runner, tmp_path):
    result = runner.invoke(main, ["events", "--data", str(tmp_path)])
    assert (result.exit_code, result.stdout) == (0, "")


def test_events_csv_of_an_empty_dataset_prints_the_header(runner, tmp_path):
    result = runner.invoke(main, ["events", "--data", str(tmp_path), "--format", "csv"])
    assert result.stdout == ",".join(CSV_COLUMNS) + "\n"


def test_events_on_a_missing_directory_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["events", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such directory" in result.stderr


@pytest.mark.parametrize("bad", ["yesterday", "2011-13-01", "16/03/2011"])
def test_events_rejects_a_time_that_is_not_iso_8601(runner, tmp_path, bad):
    result = runner.invoke(main, ["events", "--data", str(tmp_path), "--since", bad])
    assert result.exit_code == 2
    assert "is not an ISO 8601 date or date-time" in result.stderr


def test_events_rejects_an_unknown_format(runner, tmp_path):
    result = runner.invoke(main, ["events", "--data", str(tmp_path), "--format", "xml"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("command", "first", "last", "start", "end", "what"),
    [
        (["census"], "--from", "--to", "2011-03-20", "2011-03-10", "after"),
        (["cleanup"], "--from", "--to", "2011-03-20", "2011-03-10", "after"),
        (["export", "--format", "intelmq"], "--since", "--until", "2011-03-20", "2011-03-10",
         "after"),
        (["events"], "--since", "--until", "2011-03-20", "2011-03-10", "after"),
        (["events"], "--since", "--until", "2011-03-20", "2011-03-20", "equal to"),
        (["simulate"], "--from", "--to", "2011-03-20", "2011-03-10", "after"),
    ],
)  # fmt: skip
def test_a_range_that_holds_no_time_is_refused_not_printed_empty(
    runner, tmp_path, command, first, last, start, end, what
):
    args = [*command, "--data", str(tmp_path), first, start, last, end]
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"{first} {start}T00:00:00" in result.stderr
    assert f"is {what} {last} {end}" in result.stderr
    assert "the range holds no time" in result.stderr


def test_a_one_day_range_is_a_range(runner, tmp_path):
    result = runner.invoke(
        main, ["census", "--data", str(tmp_path), "--from", "2011-03-20", "--to", "2011-03-20"]
    )
    assert "the range holds no time" not in result.stderr


# -- sinkhole serve: errors before anything listens -----------------------------------------
def _serve(runner, tmp_path, *args, env=None):
    data = tmp_path / "data"
    return runner.invoke(main, ["sinkhole", "serve", "--data", str(data), *args], env=env)


def test_serve_without_listeners_is_a_usage_error(runner, tmp_path):
    result = _serve(runner, tmp_path)
    assert result.exit_code == 2
    assert "no listeners" in result.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "example.com:80", "127.0.0.1:99999", ":80"])
def test_serve_rejects_a_bad_listen_address(runner, tmp_path, address):
    result = _serve(runner, tmp_path, "--listen", address)
    assert result.exit_code == 2
    assert "listen address" in result.stderr


def test_serve_rejects_a_bad_metrics_address(runner, tmp_path):
    result = _serve(runner, tmp_path, "--listen", "127.0.0.1:0", "--metrics", "nowhere")
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


def test_serve_rejects_zero_workers(runner, tmp_path):
    result = _serve(runner, tmp_path, "--listen", "127.0.0.1:0", "--workers", "0")
    assert result.exit_code == 2


def test_config_file_that_does_not_exist_is_named(runner, tmp_path):
    missing = tmp_path / "missing.toml"
    result = _serve(runner, tmp_path, "--config", str(missing))
    assert result.exit_code == 1
    assert f"{missing}: cannot read config file" in result.stderr


def test_config_file_that_is_not_toml_is_named(runner, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sinkhole\nlisteners = 3\n", encoding="utf-8")
    result = _serve(runner, tmp_path, "--config", str(bad))
    assert result.exit_code == 1
    assert f"{bad}: not valid TOML" in result.stderr


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[sinkhole]\nno_such_setting = 1\n", "no_such_setting"),
        ("[sinkhole.limits]\nmax_connections = 0\n", "max_connections"),
        ('[sinkhole]\ntrusted_proxies = ["10.0.0.1/8"]\n', "trusted_proxies"),
        ('[[sinkhole.listeners]]\nname = "a"\naddress = "nowhere"\n', "address"),
        ('[[sinkhole.listeners]]\nname = "a"\naddress = ":0"\n', "address"),
        ("[sinkhole.limits]\nheader_timeout = -1\n", "header_timeout"),
    ],
)
def test_invalid_setting_names_the_file_and_the_field(runner, tmp_path, toml, field):
    config = tmp_path / "sinkhole.toml"
    config.write_text(toml, encoding="utf-8")
    result = _serve(runner, tmp_path, "--config", str(config))
    assert result.exit_code == 1
    assert f"{config}: invalid settings" in result.stderr
    assert field in result.stderr


def test_invalid_environment_setting_says_environment(runner, tmp_path):
    env = {"BOTCENSUS_SINKHOLE__LIMITS__MAX_CONNECTIONS": "many"}
    result = _serve(runner, tmp_path, "--listen", "127.0.0.1:0", env=env)
    assert result.exit_code == 1
    assert "environment: invalid settings" in result.stderr
    assert "max_connections" in result.stderr


def test_config_errors_give_no_traceback(runner, tmp_path):
    result = _serve(runner, tmp_path, "--config", str(tmp_path / "missing.toml"))
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.fixture
def locked_data(tmp_path):
    """A data directory whose lock another sinkhole holds."""
    data = tmp_path / "data"
    data.mkdir()
    fd = os.open(data / ".sinkhole.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield data
    os.close(fd)


def test_serve_on_a_locked_data_dir_fails_with_a_clear_message(runner, tmp_path, locked_data):
    result = _serve(runner, tmp_path, "--listen", "127.0.0.1:0", "--workers", "1")
    assert result.exit_code == 1
    assert "another sinkhole is recording here" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_serve_on_a_locked_data_dir_leaves_its_files_alone(runner, tmp_path, locked_data):
    # A temporary file of the running sinkhole's roll-up, mid-write.
    tmp = locked_data / "events" / "date=2011-03-16" / ".w00-a-000001.parquet.tmp"
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"PAR1")
    _serve(runner, tmp_path, "--listen", "127.0.0.1:0", "--workers", "1")
    assert tmp.exists()


# -- report ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_data(tmp_path_factory):
    """The simulated notification campaign's daily sightings, written as a dataset."""
    data = tmp_path_factory.mktemp("sim") / "data"
    write_sightings(notify_static().sightings, data, "simulated")
    marks = data.parent / "marks.txt"
    marks.write_text("# interventions\n2011-03-30 notification campaign\n", encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def reported(sim_data, tmp_path_factory):
    """`report` over the simulated campaign with a marks file, run once for the module."""
    out = tmp_path_factory.mktemp("report")
    marks = sim_data.parent / "marks.txt"
    result = CliRunner().invoke(
        main, ["report", "--data", str(sim_data), "--out", str(out), "--marks", str(marks)]
    )
    assert result.exit_code == 0, result.output
    return out, result


def test_report_embeds_the_decay_and_survival_charts(reported):
    out, _ = reported
    assert (out / "decay.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "survival.png").read_bytes().startswith(b"\x89PNG")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    assert "<td>2011-03-30</td><td>notification campaign</td>" in page


def _weekly_fit(data):
    """The overall decay fit, from the dataset's complete weeks as the census counts them."""
    con = connect()
    relation = sightings_view(con, data)
    span = f"SELECT min(day), max(day) FROM {relation}"  # noqa: S608 (a view's name)
    first, last = con.sql(span).fetchall()[0]
    query = CensusQuery(window="week", week_ends="sat", date_from=first, date_to=last)
    weekly = complete_weeks(census(con, query, relation), first, last)
    starts = weekly["window_start"].to_pylist()
    return fit_decay([(s - starts[0]).days / 7 for s in starts], weekly["unique_ip"].to_pylist())


def test_report_states_the_decay_rate_of_the_weekly_census(reported, sim_data):
    out, result = reported
    line = f"Decay rate {number(_weekly_fit(sim_data).rate_per_week)} per week ("
    assert line in (out / "index.html").read_text(encoding="utf-8")
    assert line in result.stdout


def test_report_without_cleanup_has_no_decay_section(runner, sim_data, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(
        main, ["report", "--data", str(sim_data), "--out", str(out), "--no-cleanup"]
    )
    assert result.exit_code == 0, result.output
    assert not (out / "decay.png").exists()
    assert "Decay" not in (out / "index.html").read_text(encoding="utf-8")


def test_report_of_an_empty_dataset_says_why_there_is_no_cleanup(runner, tmp_path):
    (tmp_path / "data").mkdir()
    out = tmp_path / "report"
    result = runner.invoke(main, ["report", "--data", str(tmp_path / "data"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    reason = "clean-up not computed: no sightings or sketches in the dataset"
    assert f"note: {reason}" in result.stderr
    assert f"Decay and survival not shown: {reason}" in (out / "index.html").read_text(
        encoding="utf-8"
    )


def test_report_rejects_a_marks_file_without_dates(runner, sim_data, tmp_path):
    marks = tmp_path / "marks.txt"
    marks.write_text("MSRT release\n", encoding="utf-8")
    result = runner.invoke(
        main,
        ["report", "--data", str(sim_data), "--out", str(tmp_path / "r"), "--marks", str(marks)],
    )
    assert result.exit_code == 2
    assert "does not start with a date" in result.stderr


# -- cleanup ---------------------------------------------------------------------------------
def test_cleanup_of_a_range_without_data_says_so(runner, sim_data):
    result = runner.invoke(main, ["cleanup", "--data", str(sim_data), "--from", "2012-01-01"])
    assert result.exit_code == 1
    message = "no sightings or sketches on or after 2012-01-01 (the data runs from 2011-"
    assert message in result.stderr


def _cleanup_notified(runner, sim_data, tmp_path, year: int | None = None):
    """`cleanup --notified` (JSON) with the simulated campaign's table, its days moved to
    `year` if given; the answer."""
    notified = tmp_path / "notified.csv"
    rows = notify_static().notifications.to_pylist()
    days = [r["day"] if year is None else r["day"].replace(year=year) for r in rows]
    lines = [f"{r['asn']},{int(r['notified'])},{day}" for r, day in zip(rows, days, strict=True)]
    notified.write_text("asn,notified,day\n" + "\n".join(lines) + "\n\n", encoding="utf-8")
    args = ["cleanup", "--data", str(sim_data), "--notified", str(notified), "--format", "json"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cleanup_reads_a_notification_csv(runner, sim_data, tmp_path):
    assert _cleanup_notified(runner, sim_data, tmp_path)["hazard_ratio"]["hazard_ratio"] > 1


def test_cleanup_says_when_every_notification_is_after_the_data(runner, sim_data, tmp_path):
    """A campaign table for other data (here: a year late) gave only the Cox fit's "need
    notified and hold-out identities", which does not say the dates are the problem."""
    answer = _cleanup_notified(runner, sim_data, tmp_path, year=2012)
    assert answer["hazard_ratio"] is None
    assert answer["decay"], "the rest of the clean-up is still reported"
    late = [n for n in answer["notes"] if "is after the data's last day" in n]
    assert len(late) == 1, answer["notes"]
    assert "(2012-" in late[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"asn,notified,day\n64512,1,2011-03-30\n64513,1\n", "line 3: expected 3 columns, got 2"),
        (b"asn,notified,day\nAS64512,1,2011-03-30\n", "line 2: asn 'AS64512' is not an AS"),
        (b"asn,notified,day\n\n64512,yes,2011-03-30\n", "line 3: notified 'yes' is not true"),
        (b"cc,notified,day\nUS,1,30.03.2011\n", "line 2: day '30.03.2011' is not a date"),
        (b"asn,cc,notified,day\n1,US,1,2011-03-30\n", "exactly one key column"),
        (b"asn,day\n1,2011-03-30\n", "no 'notified' column"),
        (b"asn,notified,day\n", "no rows"),
        (b"", "Empty CSV file"),
        (b"\xffasn,notified,day\n1,1,2011-03-30\n", "not UTF-8 text (byte 0)"),
        (
            b"identity,notified,day\n\xff\xfe,1,2011-03-30\n",
            "line 2, column 1: CSV conversion error to string: invalid UTF8",
        ),
    ],
)
def test_cleanup_rejects_a_bad_notification_csv(runner, tmp_path, text, message):
    notified = tmp_path / "notified.csv"
    notified.write_bytes(text)
    args = ["cleanup", "--data", str(tmp_path), "--notified", str(notified)]
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --notified" in result.stderr
    assert f"{notified}: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output


# -- the group -------------------------------------------------------------------------------
def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout


def test_every_command_is_found_through_its_module():
    """The lazy group finds each command in the module COMMAND_MODULES names."""
    assert set(main.commands) == set(COMMAND_MODULES)
    for name, command in main.commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"botcensus.cli.{COMMAND_MODULES[name]}", name


HEAVY = ("matplotlib", "scipy", "lifelines", "pandas", "pydantic", "rich", "datasketches")
"""Packages a plain census does not need: plotting, statistics, settings, terminal tables,
sketch building."""
LOADED = """
import sys
from botcensus.cli import main
from botcensus.cli._app import COMMAND_MODULES
main(sys.argv[1:], standalone_mode=False)
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_loaded(*args: str) -> set[str]:
    """The modules a fresh process has loaded after running `botcensus ARGS`."""
    proc = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, check=True
    )
    return set(proc.stderr.splitlines()[-1].split())


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    """Three days of a few sightings, rolled up and sketched by a first census."""
    data = tmp_path_factory.mktemp("small") / "data"
    rows = notify_static().sightings.slice(0, 300)
    write_sightings(rows, data, "simulated")
    _modules_loaded("census", "--data", str(data))  # the first census sketches the new days
    return data


def test_census_loads_no_plotting_statistics_survival_or_settings_code(small_data):
    args = ("census", "--data", str(small_data), "--by", "country", "--format", "csv")
    loaded = _modules_loaded(*args)
    assert "botcensus.measure.census_run" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY) == []
    for stage in ("measure.survival", "measure.cleanup", "measure.hosts", "report.page"):
        assert f"botcensus.{stage}" not in loaded
    assert "botcensus.cli.capture" not in loaded  # the lazy group loaded only cli/measure.py
    assert "botcensus.store.feed_events" not in loaded  # nor the feed writers


def test_census_with_estimates_loads_the_host_model_only_then(small_data):
    loaded = _modules_loaded("census", "--data", str(small_data), "--estimate", "--format", "json")
    assert "botcensus.measure.hosts.estimate" in loaded
    assert not any(m.split(".")[0] in ("matplotlib", "scipy", "lifelines") for m in loaded)


def test_help_lists_every_command_with_its_summary(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {
        line.split()[0]: line.split(maxsplit=1)[1]
        for line in result.stdout.split("Commands:")[1].splitlines()
        if line.strip()
    }
    assert set(listed) == set(COMMAND_MODULES)
    for name, summary in listed.items():
        assert summary.rstrip(".") in (main.commands[name].help or "").replace("\n", " "), name


_SEND_ONE = """
import smtplib, sys
from botcensus.cli._app import setup_logging
from botcensus.notify.loopback import LoopbackSmtp
setup_logging(sys.argv[1] == "verbose")
with LoopbackSmtp() as server, smtplib.SMTP("127.0.0.1", server.port) as client:
    client.sendmail("reports@sink.example", ["abuse@as1.example"], "Subject: x\\r\\n\\r\\nbody")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_the_loopback_smtp_server_speaks_only_under_verbose(verbose):
    # The demo runs a real SMTP server (aiosmtpd) on loopback; aiosmtpd logs every command at
    # INFO, which buried the demo's output under hundreds of "botcensus: ... >> b'data'" lines.
    run = subprocess.run(
        [sys.executable, "-c", _SEND_ONE, "verbose" if verbose else "quiet"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    protocol = [line for line in run.stderr.splitlines() if "rcpt TO" in line]
    assert bool(protocol) == verbose, run.stderr


def test_events_of_a_feeds_only_dataset_points_to_export(runner, tmp_path):
    """`events` prints the sinkhole's own events; on a dataset of feed rows it printed a
    header and nothing else, without a word on where the rows are."""
    from pathlib import Path

    sample = Path(__file__).parent / "feeds" / "cases" / "2024-05-01-event4_sinkhole-sample.csv"
    data = tmp_path / "data"
    ingested = runner.invoke(main, ["ingest", str(sample), "--data", str(data)])
    assert "4 stored" in ingested.output  # exit 1: one of its rows is quarantined
    result = runner.invoke(main, ["events", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "dataset holds feed rows, which `botcensus export" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    quiet = runner.invoke(main, ["events", "--data", str(empty)])
    assert quiet.exit_code == 0
    assert "feed rows" not in quiet.stderr

"""`rows = "check-ins"`: a rule's attachment lists each check-in of the host-days it reports
(exact time, source port) from the stored sinkhole and feed events, capped per host-day,
only ever the events of the hosts in that message, and says so when rows were cut or the
events are gone; sent through a real SMTP server on loopback."""

from __future__ import annotations

import csv
import email
import io
import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from checkin_cases import (
    CHECK_INS,
    DESTINATIONS,
    FEED_ROWS,
    OTHERS,
    ROLLED,
    START,
    geo,
    make_checkin_dataset,
)
from click.testing import CliRunner, Result
from notify_cases import DAY, RECIPIENTS, RUN, rules_file

from botcensus.cli import main
from botcensus.export import ExportQuery, export_events
from botcensus.notify import Journal
from botcensus.notify.loopback import LoopbackSmtp

BETA = "abuse@beta.example"
RUSTOCK = 'families = ["rustock"]\n'


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_checkin_dataset(tmp_path / "data")


def _send(data: Path, rules: Path, port: int) -> Result:
    return CliRunner().invoke(main, [
        "notify", "send", "--data", str(data), "--rules", str(rules), "--date", str(RUN),
        "--smtp", f"127.0.0.1:{port}",
    ])  # fmt: skip


def _mails(server: LoopbackSmtp) -> dict[str, Message]:
    return {r.rcpt_tos[0]: email.message_from_bytes(r.content) for r in server.received()}


def _attachment(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_filename())
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _text(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return " ".join(payload.decode().split())


def _sent(data: Path, tmp_path: Path, server: LoopbackSmtp, extra: str) -> dict[str, Message]:
    rules = rules_file(tmp_path / "rules.toml", extra=RUSTOCK + extra)
    result = _send(data, rules, server.port)
    assert result.exit_code == 0, result.output
    return _mails(server)


def _csv(message: Message) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_attachment(message))))


def test_each_check_in_is_a_row_with_its_time_and_source_port(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\n')
    rows = _csv(mails[BETA])
    got = [
        (r["src_ip"], r["timestamp"], r["src_port"]) for r in rows if r["src_ip"] == "198.51.100.1"
    ]
    assert got == [
        ("198.51.100.1", when.strftime("%Y-%m-%d %H:%M:%S"), str(port))
        for when, port in CHECK_INS["198.51.100.1"]
    ]
    for row in rows:
        assert (row["count"], row["last_seen"]) == ("1", row["timestamp"])
        assert row["infection"] == "rustock"
    sinkhole = next(r for r in rows if r["src_ip"] == "198.51.100.1")
    assert (sinkhole["dst_ip"], sinkhole["dst_port"], sinkhole["src_asn"]) == (
        "198.18.0.7", "80", "64497",
    )  # fmt: skip
    assert sinkhole["http_agent"] == ""  # bot-chosen text: not in a check-in row


def test_feed_check_ins_carry_their_port_or_leave_it_empty(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rows = _csv(_sent(data, tmp_path, server, 'rows = "check-ins"\n')[BETA])
    fed = [(r["timestamp"], r["src_port"], r["dst_port"]) for r in rows
           if r["src_ip"] == "198.51.100.3"]  # fmt: skip
    assert fed == [(t.strftime("%Y-%m-%d %H:%M:%S"), p, "443") for _, t, p in FEED_ROWS]


def test_rows_are_the_rows_botcensus_export_writes_for_that_host_and_day(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    mailed = _csv(_sent(data, tmp_path, server, 'rows = "check-ins"\n')[BETA])
    out = io.BytesIO()
    day = CHECK_INS["198.51.100.1"][0][0].replace(hour=0, minute=0, second=0, microsecond=0)
    query = ExportQuery(since=day, until=day + timedelta(days=1), families=("rustock",),
                        prefixes=("198.51.100.0/24",))  # fmt: skip
    export_events(data, query, "shadowserver", out, geo)
    exported = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert len(exported) == 3 + 150 + 2
    key = ("timestamp", "protocol", "src_ip", "src_port", "dst_ip", "dst_port", "src_asn",
           "src_geo", "infection")  # fmt: skip
    wanted = {tuple(r[k] for k in key) for r in exported if r["src_ip"] != "198.51.100.2"}
    got = {tuple(r[k] for k in key) for r in mailed if r["src_ip"] != "198.51.100.2"}
    assert got == wanted
    # what export adds beyond the kept columns (URL, Host, User-Agent) is left empty
    assert "/login.php" in {r["http_url"] for r in exported}
    assert {(r["http_url"], r["http_host"], r["http_agent"]) for r in mailed} == {("", "", "")}


def test_a_host_day_gives_at_most_max_check_ins_and_the_text_says_how_many_were_cut(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\nmax_check_ins = 100\n')
    rows = [r for r in _csv(mails[BETA]) if r["src_ip"] == "198.51.100.2"]
    assert [r["src_port"] for r in rows] == [str(50000 + i) for i in range(100)]  # the first
    text = _text(mails[BETA])
    assert "at most 100 check-ins per address and day" in text
    assert "50 later check-ins of 1 address-day are left out" in text
    assert "left out" not in _text(mails["abuse@alpha.example"])


def test_check_in_rows_are_only_the_events_of_the_hosts_in_that_message(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\nmax_check_ins = 1000\n')
    assert sorted(mails) == sorted(["abuse@alpha.example", BETA, "abuse@delta.example"])
    for address, message in mails.items():
        rows = _csv(message)
        assert {r["src_ip"] for r in rows} <= RECIPIENTS[address]
        assert {r["infection"] for r in rows} == {"rustock"}  # no conficker check-in
        assert {r["timestamp"][:10] for r in rows} == {"2011-03-17"}  # not the day before
    counts = {}
    for row in _csv(mails[BETA]):
        counts[row["src_ip"]] = counts.get(row["src_ip"], 0) + 1
    assert counts == {"198.51.100.1": 3, "198.51.100.2": 150, "198.51.100.3": 2}


def test_host_days_stay_the_default(data: Path, tmp_path: Path, server: LoopbackSmtp) -> None:
    rows = _csv(_sent(data, tmp_path, server, "")[BETA])
    assert [(r["src_ip"], r["count"], r["src_port"]) for r in rows] == [
        ("198.51.100.1", "3", ""), ("198.51.100.2", "150", ""), ("198.51.100.3", "2", ""),
    ]  # fmt: skip


def test_intelmq_check_ins_pass_the_harmonisation(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    from feeds.intelmq_oracle import harmonization_errors

    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\nformat = "intelmq"\n')
    lines = _attachment(mails[BETA])
    assert harmonization_errors(lines) == []
    events = [json.loads(line) for line in lines.splitlines()]
    assert len(events) == 3 + 100 + 2
    first = events[0]
    assert (first["source.ip"], first["source.port"], first["time.source"]) == (
        "198.51.100.1", 40001, "2011-03-17T03:00:00+00:00",
    )  # fmt: skip
    assert events[1]["time.source"] == "2011-03-17T03:10:00.000001+00:00"
    assert {e["tlp"] for e in events} == {"AMBER"}
    assert {e["extra.ticket"] for e in events} == {mails[BETA]["Subject"][1:19]}
    no_port = [e for e in events if e["source.ip"] == "198.51.100.3"]
    assert ["source.port" in e for e in no_port] == [True, False]


def test_xarf_check_ins_carry_the_source_port_and_validate(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    import xarf

    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\nformat = "xarf"\n')
    lines = _attachment(mails["abuse@alpha.example"]).splitlines()
    assert len(lines) == 2
    for line, (when, port) in zip(lines, CHECK_INS["192.0.2.10"], strict=True):
        parsed = xarf.parse(line)
        assert (parsed.errors, parsed.warnings) == ([], [])
        report = json.loads(line)
        assert (report["source_port"], report["timestamp"]) == (port, f"{when:%Y-%m-%dT%H:%M:%SZ}")
        assert report["c2_server"] == "198.18.0.7"
        # XARF's strict mode wants what a sinkhole cannot say; the port is no longer missing
        strict = {e.message for e in xarf.parse(line, strict=True).errors}
        assert strict == {f"'{f}' is a required property"
                          for f in ("evidence", "confidence", "bot_capabilities")}  # fmt: skip


def test_days_whose_events_retention_deleted_fall_back_to_host_days_and_say_so(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    from botcensus.store import apply_retention

    report = apply_retention(data, ROLLED + timedelta(days=40), event_days=30, sighting_days=400)
    assert "2011-03-17" in report.days("events")
    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\n')
    rows = _csv(mails[BETA])
    # the sinkhole's events are gone: one host-day row each; the feed's events are kept
    assert [(r["src_ip"], r["count"], r["src_port"]) for r in rows] == [
        ("198.51.100.1", "3", ""), ("198.51.100.2", "150", ""),
        ("198.51.100.3", "1", "51515"), ("198.51.100.3", "1", ""),
    ]  # fmt: skip
    raw = _attachment(mails[BETA])  # numbers written as export and host-day rows write them
    assert ",51515,64497," in raw
    assert '"51515"' not in raw
    assert ',"2011-03-17 05:29:00",150\n' in raw
    text = _text(mails[BETA])
    assert "Check-in detail is unavailable for 2011-03-17" in text
    assert "For 2 address-days the attachment gives only the first and last check-in" in text
    assert "Check-in detail is unavailable" in _text(mails["abuse@alpha.example"])


def test_the_journal_reports_the_same_hosts_once_and_status_names_the_rows(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml", extra=RUSTOCK + 'rows = "check-ins"\n')
    assert _send(data, rules, server.port).exit_code == 0
    again = _send(data, rules, server.port)
    assert "0 new messages, 3 planned before" in again.stdout
    assert len(server.received()) == 3
    with Journal(data, create=False) as journal:
        entry = next(e for e in journal.entries() if e.address == BETA)
        assert (entry.hosts, entry.check_ins) == (3, 100)
        assert journal.hosts(entry.id).num_rows == 3  # host-days, as always
    status = CliRunner().invoke(main, ["notify", "status", "--data", str(data), "--ticket",
                                       entry.ticket])  # fmt: skip
    assert "one row per check-in (at most 100 per host-day)" in status.stdout


def test_a_mail_built_again_from_the_journal_is_the_same_mail(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    from botcensus.notify import load_rules, relay_address, send

    rules = load_rules(rules_file(tmp_path / "rules.toml", extra=RUSTOCK + 'rows = "check-ins"\n'))
    send(data, rules, RUN, None)
    with Journal(data, create=False) as journal:
        entry = next(e for e in journal.entries() if e.address == BETA)
    eml = data / (entry.outbox or "")
    first = eml.read_bytes()
    eml.unlink()
    assert send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port))).built == 1
    assert eml.read_bytes() == first


def test_a_journal_of_an_earlier_version_gains_the_column(data: Path) -> None:
    import sqlite3
    from contextlib import closing

    from botcensus.notify import journal_path
    from botcensus.notify.journal import _SCHEMA

    old = _SCHEMA.replace("    check_ins INTEGER,\n", "")
    assert old != _SCHEMA
    path = journal_path(data)
    path.parent.mkdir(mode=0o700)
    with closing(sqlite3.connect(path)) as db:
        db.executescript(old)
    with Journal(data) as journal:
        assert journal.entries() == []
        names = [r[1] for r in journal.db.execute("PRAGMA table_info(messages)")]
    assert names[-1] == "check_ins"


# -- what a check-in row may show ---------------------------------------------------------

_ADDRESS_TOKEN = re.compile(r"[0-9A-Fa-f:.]+")


def _addresses(text: str) -> set[str]:
    """Every IP address written anywhere in the text (IPv4, IPv6, in URLs, in brackets)."""
    found = set()
    for token in _ADDRESS_TOKEN.findall(text):
        try:
            found.add(str(ipaddress.ip_address(token.strip(".:"))))
        except ValueError:
            continue
    return found


@pytest.mark.parametrize("fmt", ["shadowserver", "shadowserver-sinkhole", "intelmq", "xarf"])
def test_no_cell_names_an_address_but_the_recipients_hosts_and_the_sinkholes(
    tmp_path: Path, server: LoopbackSmtp, fmt: str
) -> None:
    """Feeds and bots write other networks' addresses into free-text cells (X-Forwarded-For,
    referer, URL, Host, host names): none reaches a check-in attachment."""
    data = make_checkin_dataset(tmp_path / "data", third_party=True)
    mails = _sent(data, tmp_path, server, f'rows = "check-ins"\nformat = "{fmt}"\n')
    assert sorted(mails) == sorted(["abuse@alpha.example", BETA, "abuse@delta.example"])
    for address, message in mails.items():
        attachment = _attachment(message)
        assert attachment.strip()
        assert _addresses(attachment) - RECIPIENTS[address] - DESTINATIONS == set(), address
    # the addresses were there to leak: `botcensus export` writes them
    out = io.BytesIO()
    query = ExportQuery(since=START, until=START + timedelta(days=1), families=("rustock",))
    export_events(data, query, "intelmq", out, geo)
    assert set(OTHERS) <= _addresses(out.getvalue().decode())


def _hosts_of(data: Path, ip: str):  # type: ignore[no-untyped-def]
    import pyarrow.compute as pc

    from botcensus.export import HOST_SCHEMA
    from botcensus.notify.hosts import host_rows

    hosts = host_rows(data, DAY, DAY).select(HOST_SCHEMA.names).cast(HOST_SCHEMA)
    return hosts.filter(pc.equal(hosts["source_ip"], ip))


def test_a_messages_check_ins_do_not_depend_on_the_other_messages_of_the_run(data: Path) -> None:
    """The same host-day in two messages: one planned at 03:09 (a threshold rule saw the day
    so far, 10 check-ins), one with the whole day (150): each lists its own, with its own
    counts, and renders the same bytes alone or beside the other."""
    import pyarrow as pa

    from botcensus.export import Party, ReportMeta
    from botcensus.export.check_ins import render_check_ins
    from botcensus.notify.checkins import read_check_ins

    full = _hosts_of(data, "198.51.100.2")
    early = full.set_column(
        full.schema.get_field_index("last_seen"),
        "last_seen",
        pa.array([START + timedelta(minutes=9)], pa.timestamp("us", "UTC")),
    ).set_column(full.schema.get_field_index("hits"), "hits", pa.array([10], pa.int64()))
    # the full day, counted short: its detail is incomplete, the early one's is not
    short = full.set_column(full.schema.get_field_index("hits"), "hits",
                            pa.array([151], pa.int64()))  # fmt: skip
    (alone,) = read_check_ins(data, [(early, 1000)])
    together, other = read_check_ins(data, [(early, 1000), (short, 100)])
    (short_alone,) = read_check_ins(data, [(short, 100)])
    for one in (alone, together):
        assert (one.rows, one.unavailable_host_days, one.cut_check_ins) == (10, 0, 0)
        times = [t for _, table in one.events for t in table["time_received"].to_pylist()]
        assert max(times) == START + timedelta(minutes=9)
    assert (other.rows, other.unavailable_host_days) == (0, 1)
    assert (short_alone.rows, short_alone.unavailable_host_days) == (0, 1)
    meta = ReportMeta("BC-1", datetime(2011, 3, 18, tzinfo=UTC), DAY, DAY,
                      Party("Org", "cert@org.example", "org.example"), "amber")  # fmt: skip
    for fmt in ("shadowserver", "intelmq", "xarf"):
        assert render_check_ins(fmt, alone.events, alone.fallback, meta) == render_check_ins(
            fmt, together.events, together.fallback, meta
        )


def test_a_rebuilt_mail_whose_events_changed_records_its_new_data_hash(
    data: Path, tmp_path: Path
) -> None:
    """Retention removed the events between the first build and a rebuild: the journal (and
    `notify status`) name the data that goes out now; the history keeps both hashes."""
    import hashlib

    from botcensus.notify import load_rules, send
    from botcensus.store import apply_retention

    rules = load_rules(rules_file(tmp_path / "rules.toml", extra=RUSTOCK + 'rows = "check-ins"\n'))
    send(data, rules, RUN, None)
    with Journal(data, create=False) as journal:
        first = next(e for e in journal.entries() if e.address == BETA)
    (data / (first.outbox or "")).unlink()
    apply_retention(data, ROLLED + timedelta(days=40), event_days=30, sighting_days=400)
    assert send(data, rules, RUN, None).built == 1
    with Journal(data, create=False) as journal:
        entry = next(e for e in journal.entries() if e.address == BETA)
        last = journal.history(entry.id)[-1]["detail"]
    sent = email.message_from_bytes((data / (entry.outbox or "")).read_bytes())
    data_hash = hashlib.sha256(_attachment(sent).encode()).hexdigest()
    assert first.content_hash != data_hash
    assert entry.content_hash == data_hash
    assert f"data sha256 {data_hash}, was {first.content_hash}" in last
    status = CliRunner().invoke(main, ["notify", "status", "--data", str(data), "--ticket",
                                       entry.ticket])  # fmt: skip
    assert f"Data sha256 {data_hash};" in status.stdout


def test_xarf_check_ins_a_feed_relayed_are_the_feeds_not_the_sinkholes(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    mails = _sent(data, tmp_path, server, 'rows = "check-ins"\nformat = "xarf"\n')
    reports = [json.loads(line) for line in _attachment(mails[BETA]).splitlines()]
    relayed = [r for r in reports if r["source_identifier"] == "198.51.100.3"]
    own = [r for r in reports if r["source_identifier"] != "198.51.100.3"]
    assert len(relayed) == len(FEED_ROWS)
    assert own
    for report in relayed:
        assert report["evidence_source"] == "threat_intelligence"
        assert "sinkholed" not in report["compromise_evidence"]
        assert "reported by the feed" in report["compromise_evidence"]
        assert "c2_protocol" not in report
    for report in own:
        assert report["evidence_source"] == "sinkhole"
        assert report["compromise_evidence"].startswith("Check-in with a sinkholed rustock")


def test_when_the_events_cannot_be_read_host_day_mails_still_go_and_check_ins_wait(
    data: Path, tmp_path: Path, server: LoopbackSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk or DuckDB error while reading the events, injected with monkeypatch (a real
    failure inside DuckDB's read cannot be caused on purpose without corrupting the files
    the other rule needs too): the host-day rule's mails are built and sent, the check-in
    rule's wait in the journal with the error in their history and go with the next run."""
    import duckdb

    import botcensus.notify.run

    def broken(*_: object) -> None:
        raise duckdb.IOException("IO Error: cannot read feed_events.parquet")

    monkeypatch.setattr(botcensus.notify.run, "read_check_ins", broken)
    extra = RUSTOCK + '\n[[rule]]\nname = "cgn"\nfamilies = ["rustock"]\nrows = "check-ins"\n'
    rules = rules_file(tmp_path / "rules.toml", extra=extra)
    result = _send(data, rules, server.port)
    assert result.exit_code == 1
    assert "message(s) listing check-ins not built" in result.output
    assert "cannot read feed_events.parquet" in result.output
    with Journal(data, create=False) as journal:
        entries = journal.entries()
        waiting = [e for e in entries if e.rule == "cgn"]
        assert waiting
        assert {e.state for e in waiting} == {"planned"}
        assert {e.state for e in entries if e.rule == "daily"} == {"sent"}
        assert "cannot read feed_events.parquet" in journal.history(waiting[0].id)[-1]["detail"]
    daily = len(server.received())
    assert daily == len(entries) - len(waiting)
    monkeypatch.undo()
    assert _send(data, rules, server.port).exit_code == 0
    assert len(server.received()) == daily + len(waiting)

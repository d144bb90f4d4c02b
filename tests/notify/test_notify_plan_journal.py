"""`notify plan` predicts `notify send`: each message is new or already in the journal (with
its ticket and state), the counts say what send would record and deliver, and what each
attachment row is (host-days, check-ins and their cap, network counts). It still writes
nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result
from notify_cases import RECIPIENTS, RUN, rules_file, sightings

from botcensus.cli import main
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.store import write_sightings

CHECK_INS = 'rows = "check-ins"\nmax_check_ins = 7\n'
SUMMARY_OVERRIDE = '[[recipient]]\nemail = "abuse@beta.example"\nformat = "summary"\n'


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _plan(data: Path, rules: Path, *extra: str) -> Result:
    result = _cli("notify", "plan", "--data", str(data), "--rules", str(rules), "--date", str(RUN),
                  *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def _send(data: Path, rules: Path, port: int) -> Result:
    result = _cli("notify", "send", "--data", str(data), "--rules", str(rules), "--date",
                  str(RUN), "--smtp", f"127.0.0.1:{port}")  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def _messages(result: Result) -> list[dict[str, object]]:
    return list(json.loads(result.stdout)["messages"])


def _journal(data: Path) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(data / "notify" / "journal.sqlite") as db:
        rows = db.execute("SELECT address, ticket, state FROM messages").fetchall()
    return {a: (t, s) for a, t, s in rows}


def test_before_any_send_every_message_is_new(data: Path, tmp_path: Path) -> None:
    result = _plan(data, rules_file(tmp_path / "rules.toml"))
    assert "Journal: 6 new messages (send records and delivers them)." in result.stdout
    messages = _messages(_plan(data, tmp_path / "rules.toml", "--format", "json"))
    assert {(m["journal"], m["ticket"]) for m in messages} == {("new", "-")}


def test_after_a_send_plan_lists_the_messages_as_sent_with_their_tickets(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    """The trial: after a send, plan still listed the messages as if send would send them."""
    rules = rules_file(tmp_path / "rules.toml")
    _send(data, rules, server.port)
    journal = _journal(data)
    result = _plan(data, rules)
    assert "Journal: 0 new messages (send records and delivers them); 6 planned by an earlier " \
        "run (6 sent), not planned again." in result.stdout  # fmt: skip
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:]}
    for address in RECIPIENTS:
        ticket, state = journal[address]
        assert lines[address][-2:] == [state, ticket] == ["sent", ticket]
    as_json = json.loads(_plan(data, rules, "--format", "json").stdout)
    assert {m["address"]: (m["ticket"], m["journal"]) for m in as_json["messages"]} == journal
    assert as_json["journal"] == {"new": 0, "planned_before": 6, "earlier_waiting": 0}
    send_again = _send(data, rules, server.port)
    assert "Journal: 0 new messages, 6 planned before" in send_again.stdout  # as plan said


def test_plan_tells_new_from_sent_and_counts_hosts_the_sent_ones_miss(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    _send(data, rules, server.port)
    # later in the day: one more host for beta (already told), one for a new recipient
    write_sightings(sightings([("198.51.100.9", 64497, "SE"), ("2001:db8::9", 64498, "DE")]),
                    data, "later")  # fmt: skip
    (tmp_path / "contacts2.csv").write_text(
        "prefix,asn,country,abuse_email,organisation,source\n"
        "2001:db8::9/128,,,abuse@epsilon.example,Epsilon,\n", encoding="utf-8"
    )  # fmt: skip
    from botcensus.contacts import import_csv

    import_csv(data, tmp_path / "contacts2.csv", source="more-contacts")
    result = _plan(data, rules)
    assert (
        "Journal: 1 new message (send records and delivers them); 6 planned by an earlier run "
        "(6 sent), not planned again; their days now have 1 more host than they reported, "
        "which send does not report." in result.stdout
    )
    rows = {m["address"]: m for m in _messages(_plan(data, rules, "--format", "json"))}
    assert rows["abuse@epsilon.example"]["journal"] == "new"
    assert rows["abuse@beta.example"]["journal"] == "sent"
    assert rows["abuse@beta.example"]["hosts"] == 4  # now; the journal's message had 3
    sent = _send(data, rules, server.port)
    assert "Journal: 1 new messages, 6 planned before" in sent.stdout
    assert [r.rcpt_tos for r in server.received()][6:] == [("abuse@epsilon.example",)]


def test_plan_counts_messages_of_earlier_runs_still_waiting(data: Path, tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    # no relay: the mails wait in the outbox
    result = _cli("notify", "send", "--data", str(data), "--rules", str(rules), "--date", str(RUN))
    assert result.exit_code == 0, result.output
    same_day = _plan(data, rules)
    assert "6 planned by an earlier run (6 rendered), not planned again (6 still to deliver)" in (
        same_day.stdout
    )
    next_day = _cli("notify", "plan", "--data", str(data), "--rules", str(rules), "--date",
                    "2011-03-19")  # fmt: skip
    assert next_day.exit_code == 0, next_day.output
    assert "Journal: 0 new messages (send records and delivers them); 6 messages of earlier " \
        "runs also wait for delivery." in next_day.stdout  # fmt: skip


def test_plan_reads_the_journal_and_writes_nothing(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    _send(data, rules, server.port)
    folder = data / "notify"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
              if p.is_file()}  # fmt: skip
    _plan(data, rules)
    _plan(data, rules, "--format", "json")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
             if p.is_file()}  # fmt: skip
    assert after == before


def test_plan_shows_what_a_row_is_and_the_check_in_cap(data: Path, tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.toml", CHECK_INS + '[[rule]]\nname = "plain"\n'
                       '[[rule]]\nname = "counts"\nip_data = false\n')  # fmt: skip
    rows = {(m["rule"], m["address"]): m["rows"]
            for m in _messages(_plan(data, rules, "--format", "json"))}  # fmt: skip
    assert set(rows.values()) == {"check-ins (max 7)", "host-days", "network counts"}
    assert rows["daily", "abuse@beta.example"] == "check-ins (max 7)"
    assert rows["plain", "abuse@beta.example"] == "host-days"
    assert rows["counts", "abuse@beta.example"] == "network counts"
    table = _plan(data, rules).stdout.splitlines()
    header = next(line for line in table if line.strip().startswith("address"))
    assert header.split()[3] == "rows"
    assert any("check-ins (max 7)" in line for line in table)


def test_plan_says_when_an_override_turns_check_ins_into_a_summary(
    data: Path, tmp_path: Path
) -> None:
    rules = rules_file(tmp_path / "rules.toml", CHECK_INS + SUMMARY_OVERRIDE)
    result = _plan(data, rules)
    assert (
        "Recipient overrides:\n  abuse@beta.example (rule daily): format 'summary' from its "
        "[[recipient]] override instead of 'shadowserver' with rows = 'check-ins': counts per "
        "network, no address, no check-ins\n" in result.stdout
    )
    rows = {m["address"]: m for m in _messages(_plan(data, rules, "--format", "json"))}
    assert (rows["abuse@beta.example"]["format"], rows["abuse@beta.example"]["rows"]) == (
        "summary", "network counts",
    )  # fmt: skip
    assert rows["abuse@alpha.example"]["rows"] == "check-ins (max 7)"
    notes = json.loads(_plan(data, rules, "--format", "json").stdout)["notes"]
    assert len(notes) == 1
    assert notes[0].startswith("abuse@beta.example (rule daily)")

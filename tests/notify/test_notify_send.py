"""`notify plan`, `send` and `status` end to end against a real SMTP server on loopback
(aiosmtpd): every recipient gets its own hosts once, the relay's answers are kept, 4xx is
retried, 5xx fails with the relay's words, nothing is dropped silently."""

from __future__ import annotations

import csv
import email
import io
import stat
import zipfile
from email.message import Message
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner, Result
from notify_cases import DAY, RECIPIENTS, RUN, make_dataset, rules_file

from botcensus.cli import main
from botcensus.notify import Journal, load_rules, messages_for, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp, Received


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _send(data: Path, rules: Path, port: int, *extra: str) -> Result:
    return _cli(
        "notify", "send", "--data", str(data), "--rules", str(rules), "--date", str(RUN),
        "--smtp", f"127.0.0.1:{port}", *extra,
    )  # fmt: skip


def _parsed(received: Received) -> Message:
    return email.message_from_bytes(received.content)


def _attached_ips(message: Message) -> set[str]:
    for part in message.walk():
        if part.get_filename():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            if part.get_filename().endswith(".zip"):  # type: ignore[union-attr]
                with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                    payload = archive.read(archive.namelist()[0])
            return {r["src_ip"] for r in csv.DictReader(io.StringIO(payload.decode()))}
    raise AssertionError("no attachment")


def test_plan_shows_recipients_hosts_formats_and_what_is_held_back(
    data: Path, tmp_path: Path
) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    result = _cli("notify", "plan", "--data", str(data), "--rules", str(rules), "--date", str(RUN))
    assert result.exit_code == 0, result.output
    assert "Run 2011-03-18: 6 messages to 6 addresses, 11 host reports." in result.stdout
    for address in RECIPIENTS:
        assert address in result.stdout
    assert "no abuse contact" in result.stdout
    assert "shadowserver" in result.stdout
    assert not (data / "notify").exists()  # a plan writes nothing


def test_every_recipient_gets_exactly_its_own_hosts_once(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    result = _send(data, rules, server.port)
    assert result.exit_code == 0, result.output
    assert "Delivered 6, deferred 0 (retried later), failed 0." in result.stdout
    got = {r.rcpt_tos: _parsed(r) for r in server.received()}
    assert sorted(got) == sorted((a,) for a in RECIPIENTS)
    for (address,), message in got.items():
        assert _attached_ips(message) == RECIPIENTS[address]
        assert message["Subject"].startswith("[BC-20110318-")
        assert message["From"] == "Example Sinkhole <reports@sinkhole.example.org>"
        assert message["Reply-To"] == "desk@sinkhole.example.org"
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for words in ("WHAT WE SAW", "WHAT TO DO", "HOW TO REPLY", "HOW TO STOP THESE REPORTS"):
            assert words in body
    again = _send(data, rules, server.port)
    assert again.exit_code == 0, again.output
    assert "0 new messages, 6 planned before" in again.stdout
    assert len(server.received()) == 6


def _bodies(server: LoopbackSmtp) -> list[str]:
    out = []
    for received in server.received():
        text = next(p for p in _parsed(received).walk() if p.get_content_type() == "text/plain")
        out.append(text.get_payload(decode=True).decode())  # type: ignore[union-attr]
    return out


def test_a_relayed_feed_is_not_called_our_sinkhole(tmp_path: Path, server: LoopbackSmtp) -> None:
    """A CERT passing on Shadowserver's rows said it "runs a sinkhole" whose bots call it.
    Rows of a feed alone name the feed; a message with hosts of both says both (a host both
    saw is the sinkhole's); one check-in is singular."""
    from notify_cases import HOSTS, sightings

    from botcensus.contacts import import_csv
    from botcensus.store import write_sightings

    data = make_dataset(tmp_path / "data")
    relayed = sightings(HOSTS[:1])
    feed = pa.array(["shadowserver-event4_sinkhole"])
    relayed = relayed.set_column(relayed.schema.get_field_index("feed_name"), "feed_name", feed)
    relayed = relayed.set_column(relayed.schema.get_field_index("hits"), "hits", pa.array([1]))
    feeds_only = tmp_path / "feeds"
    write_sightings(relayed, feeds_only, "feed")
    import_csv(feeds_only, data.parent / "contacts.csv", source="test-contacts")
    rules = rules_file(tmp_path / "rules.toml")
    assert _send(feeds_only, rules, server.port).exit_code == 0
    (body,) = _bodies(server)
    assert "runs a sinkhole" not in body
    assert "passes on reports of infected computers" in body
    assert "(shadowserver-event4_sinkhole)" in body
    assert "1 check-in\n" in body.replace("\r\n", "\n")
    # another host of the same recipient, seen by the feed alone; and one the sinkhole saw
    other = relayed.set_column(1, relayed.schema.field(1), pa.array(["192.0.2.12"]))
    write_sightings(pa.concat_tables([relayed, other]), data, "feed")
    assert _send(data, rules_file(tmp_path / "r2.toml"), server.port).exit_code == 0
    both = [b for b in _bodies(server)[1:] if "shadowserver-event4_sinkhole" in b]
    assert len(both) == 1
    assert "runs a sinkhole" in both[0]
    assert "We also pass on reports" in both[0]


def test_the_journal_holds_ticket_message_id_hash_and_the_relays_answer(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    _send(data, rules_file(tmp_path / "rules.toml"), server.port)
    ids = {_parsed(r)["Message-ID"] for r in server.received()}
    with Journal(data, create=False) as journal:
        entries = journal.entries()
        assert {e.message_id for e in entries} == ids
        for entry in entries:
            assert entry.state == "sent"
            assert entry.last_answer is not None
            assert entry.last_answer.startswith("2.0.0 Ok: queued as")
            assert (entry.period_start, entry.period_end) == (DAY, DAY)
            assert len(entry.content_hash or "") == 64
            assert [h["state"] for h in journal.history(entry.id)] == [
                "planned", "rendered", "sending", "sent",
            ]  # fmt: skip


def test_status_says_what_went_to_whom_with_which_events(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    _send(data, rules_file(tmp_path / "rules.toml"), server.port)
    listing = _cli("notify", "status", "--data", str(data))
    assert listing.exit_code == 0, listing.output
    assert "6 messages: 6 sent" in listing.stdout
    with Journal(data, create=False) as journal:
        ticket = next(e.ticket for e in journal.entries() if e.address == "abuse@beta.example")
    one = _cli("notify", "status", "--data", str(data), "--ticket", ticket)
    assert one.exit_code == 0, one.output
    assert "To abuse@beta.example for abuse@beta.example (Beta University)" in one.stdout
    assert "Networks: prefix 198.51.100.0/24\n" in one.stdout
    assert "Events reported (3 host-days):" in one.stdout
    assert (
        "2011-03-17\t198.51.100.2\trustock\t2011-03-17 03:00:00\t2011-03-17 08:00:00\t60"
        in one.stdout
    )
    assert " sent " in one.stdout
    by_ip = _cli("notify", "status", "--data", str(data), "--ip", "198.51.100.2")
    assert ticket in by_ip.stdout
    missing = _cli("notify", "status", "--data", str(data), "--ticket", "BC-0")
    assert missing.exit_code == 1
    assert "no message with ticket 'BC-0'" in missing.stderr


def test_status_without_a_journal_says_so(data: Path) -> None:
    result = _cli("notify", "status", "--data", str(data))
    assert result.exit_code == 1
    assert "no notification journal" in result.stderr


def test_messages_for_finds_what_an_owner_was_told(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    _send(data, rules_file(tmp_path / "rules.toml"), server.port)
    found = messages_for(data, ["192.0.2.0/24"])
    assert sorted((e.address, n) for e, n in found) == [
        ("abuse@alpha.example", 2), ("noc@alpha.example", 2),
    ]  # fmt: skip
    assert [(e.address, n) for e, n in messages_for(data, ["2001:db8::/48"])] == [
        ("abuse@gamma.example", 1),
    ]
    assert [(e.address, n) for e, n in messages_for(data, [], asns=[64500])] == [
        ("abuse@delta.example", 2),
    ]
    assert messages_for(data, ["10.0.0.0/8"]) == []
    assert messages_for(tmp_path / "elsewhere", ["10.0.0.0/8"]) == []


def test_outbox_has_a_private_folder_per_recipient_with_the_mail_and_its_data(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    _send(data, rules_file(tmp_path / "rules.toml"), server.port)
    outbox = data / "notify" / "outbox"
    assert sorted(p.name for p in outbox.iterdir()) == sorted(RECIPIENTS)
    folder = outbox / "abuse@beta.example"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2
    csv_name = next(n for n in names if n.endswith(".csv"))
    assert csv_name.startswith("2011-03-17-event4_sinkhole_http-BC-20110318-")
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    sent = {r.rcpt_tos[0]: r.content for r in server.received()}
    eml = next(folder.glob("*.eml")).read_bytes()
    assert eml.replace(b"\r\n", b"\n") == sent["abuse@beta.example"].replace(b"\r\n", b"\n")


def test_a_4xx_answer_is_retried_until_the_relay_takes_it(data: Path, tmp_path: Path) -> None:
    refusals = {"n": 0}

    def answer(envelope: object) -> str | None:
        if getattr(envelope, "rcpt_tos", []) == ["abuse@beta.example"] and refusals["n"] < 2:
            refusals["n"] += 1
            return "451 4.3.0 Mailbox busy, try again later"
        return None

    with LoopbackSmtp(answer=answer) as server:
        result = _send(data, rules_file(tmp_path / "rules.toml"), server.port, "--wait", "10")
    assert result.exit_code == 0, result.output
    with Journal(data, create=False) as journal:
        entry = next(e for e in journal.entries() if e.address == "abuse@beta.example")
        assert (entry.state, entry.attempts) == ("sent", 3)
        states = [(h["state"], h["code"]) for h in journal.history(entry.id)]
        assert states.count(("deferred", 451)) == 2
        assert "Mailbox busy" in journal.history(entry.id)[3]["detail"]
    assert sum(r.rcpt_tos == ("abuse@beta.example",) for r in server.received()) == 1


def test_a_5xx_answer_fails_the_message_with_the_relays_words(data: Path, tmp_path: Path) -> None:
    def refuse(address: str) -> str | None:
        return "550 5.1.1 <abuse@gamma.example>: no such mailbox" if "gamma" in address else None

    with LoopbackSmtp(rcpt_answer=refuse) as server:
        result = _send(data, rules_file(tmp_path / "rules.toml"), server.port)
        assert len(server.received()) == 5
    assert result.exit_code == 1
    assert "Delivered 5, deferred 0 (retried later), failed 1." in result.stdout
    with Journal(data, create=False) as journal:
        [failed] = journal.entries("state = 'failed'")
    assert failed.address == "abuse@gamma.example"
    assert failed.last_code == 550
    assert "RCPT TO: 5.1.1 <abuse@gamma.example>: no such mailbox" in (failed.last_answer or "")
    status = _cli("notify", "status", "--data", str(data))
    assert "Failed" in status.stdout
    assert "no such mailbox" in status.stdout


def test_temporary_failures_give_up_after_max_attempts(data: Path, tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.toml", smtp="max_attempts = 2\n")
    with LoopbackSmtp(answer=lambda e: "421 4.7.0 Too busy") as server:
        result = _send(data, rules, server.port, "--wait", "10")
    assert result.exit_code == 1
    with Journal(data, create=False) as journal:
        entries = journal.entries()
    assert {e.state for e in entries} == {"failed"}
    assert all("gave up after 2 attempts; last answer: 421 4.7.0 Too busy" in (e.last_answer or "")
               for e in entries)  # fmt: skip


def test_an_unreachable_relay_stops_the_run_and_keeps_every_message(
    data: Path, tmp_path: Path
) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    with LoopbackSmtp() as server:
        port = server.port
    result = _send(data, rules, port)  # nothing listens there any more
    assert result.exit_code == 1
    assert f"relay 127.0.0.1:{port} unreachable" in result.stderr
    with Journal(data, create=False) as journal:
        assert {e.state for e in journal.entries()} == {"rendered"}
    with LoopbackSmtp() as server:
        assert _send(data, rules, server.port).exit_code == 0
        assert len(server.received()) == 6


def test_messages_to_one_domain_are_spaced_and_batches_reconnect(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml", smtp="rate_per_domain = 120\nbatch_size = 2\n")
    assert _send(data, rules, server.port).exit_code == 0
    received = server.received()
    alpha = sorted(r.at for r in received if r.rcpt_tos[0].endswith("@alpha.example"))
    assert len(alpha) == 2
    assert alpha[1] - alpha[0] >= 0.45  # 120 a minute: one every 0.5 s
    assert len({r.peer for r in received}) == 3  # 6 messages, 2 per connection


def test_big_attachments_go_compressed(data: Path, tmp_path: Path, server: LoopbackSmtp) -> None:
    rules = rules_file(tmp_path / "rules.toml", extra="compress_over_bytes = 100\n")
    assert _send(data, rules, server.port).exit_code == 0
    for received in server.received():
        message = _parsed(received)
        names = [p.get_filename() for p in message.walk() if p.get_filename()]
        assert len(names) == 1
        assert names[0].endswith(".zip")
        assert _attached_ips(message) == RECIPIENTS[received.rcpt_tos[0]]


def test_gzip_compression_keeps_the_csv_name(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    import gzip

    rules = rules_file(
        tmp_path / "rules.toml", extra='compress_over_bytes = 100\ncompression = "gzip"\n'
    )
    assert _send(data, rules, server.port).exit_code == 0
    message = _parsed(server.received()[0])
    part = next(p for p in message.walk() if p.get_filename())
    assert part.get_filename().endswith(".csv.gz")  # type: ignore[union-attr]
    assert gzip.decompress(part.get_payload(decode=True)).startswith(b'"timestamp","protocol"')  # type: ignore[arg-type]


def test_a_mail_built_again_is_the_same_mail(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = load_rules(rules_file(tmp_path / "rules.toml"))
    send(data, rules, RUN, None)  # outbox only
    with Journal(data, create=False) as journal:
        entry = journal.entries()[0]
    assert entry.state == "rendered"
    eml = data / (entry.outbox or "")
    first = eml.read_bytes()
    eml.unlink()
    result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port)))
    assert result.built == 1
    assert eml.read_bytes() == first
    assert len(server.received()) == 6


def test_send_on_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.toml")
    result = _cli("notify", "send", "--data", str(tmp_path / "none"), "--rules", str(rules))
    assert result.exit_code == 2
    assert "no such directory" in result.stderr


@pytest.mark.parametrize("bad", ["localhost", "127.0.0.1:0", "127.0.0.1:70000", ":25"])
def test_a_bad_smtp_address_is_a_usage_error(data: Path, tmp_path: Path, bad: str) -> None:
    result = _cli("notify", "send", "--data", str(data), "--rules",
                  str(rules_file(tmp_path / "rules.toml")), "--smtp", bad)  # fmt: skip
    assert result.exit_code == 2
    assert "is not HOST:PORT" in result.stderr


def test_a_bad_rules_file_is_a_usage_error_naming_the_line(data: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[sender]\norganisation = "S"\nemail = "s@x.example"\n[[rule]]\nname = 1\n')
    result = _cli("notify", "plan", "--data", str(data), "--rules", str(rules))
    assert result.exit_code == 2
    assert f"{rules}:5: rule[0].name" in result.stderr
    assert "Traceback" not in result.output

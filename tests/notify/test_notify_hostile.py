"""Hostile contact data and a hostile or broken world: header injection through contact
addresses and names, addresses past SMTP's limits, outbox folders two addresses could share,
a relay that drops the connection in the middle of DATA, and a disk that fills up under the
outbox or the journal. Nothing reaches an address it should not, and nothing is lost."""

from __future__ import annotations

import email
import ipaddress
import os
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from notify_cases import (
    RECIPIENTS,
    RUN,
    contact_table,
    host_rows,
    make_dataset,
    rules,
    rules_file,
)  # fmt: skip

from botcensus.notify import Journal, load_rules, plan_messages, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.notify.outbox import folder_name
from botcensus.notify.recipients import resolve
from botcensus.notify.rules import ADDRESS, mailable

EVIL = "evil@attacker.example"


# -- header injection ---------------------------------------------------------------------------
NAMES = {
    "noc@alpha.example": f"Alpha\r\nBcc: {EVIL}\r\n\r\nReply to {EVIL} instead",
    "cert@ncsc.example": "NCSC\x00\x1b[31m\u2028Subject: x",
}
HOSTILE = contact_table(
    prefixes=[
        ("192.0.2.0/25", f"victim@alpha.example\r\nBcc: {EVIL}"),
        ("192.0.2.128/25", "noc@alpha.example"),
        ("198.51.100.0/24", f"abuse@beta.example>, {EVIL}"),
        ("2001:db8::/32", "a" * 65 + "@gamma.example"),
    ],
    asns=[(64500, "abuse@delta.example\u202e")],
    countries=[("NL", "cert@ncsc.example")],
    orgs=NAMES,
)


def test_hostile_contact_addresses_and_names_reach_no_header_and_no_stranger(
    tmp_path: Path,
) -> None:
    """The contacts stage refuses such addresses on import; notify checks them again, as
    the contact table may come from elsewhere. Names only ever go into the text, on one line."""
    data = make_dataset(tmp_path / "data")
    rules = load_rules(rules_file(tmp_path / "rules.toml"))
    with LoopbackSmtp() as server:
        result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port)),
                      contacts=HOSTILE)  # fmt: skip
        received = server.received()
    assert sorted(r.rcpt_tos for r in received) == [("cert@ncsc.example",), ("noc@alpha.example",)]
    held = {(h.reason, h.hosts) for h in result.plan.held}
    assert ("contact address not usable for mail", 2) in held  # the /25 and the long one
    unusable = [h.address for h in result.plan.held if h.reason.startswith("contact address")]
    assert len(unusable) == 4
    for message in received:
        parsed = email.message_from_bytes(message.content)
        assert EVIL not in str(parsed.items())
        assert parsed.get_all("Bcc") is None
        assert parsed.get_all("Subject") is not None
        assert len(parsed.get_all("Subject") or []) == 1
        text = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
        body = text.get_payload(decode=True).decode()  # type: ignore[union-attr]
        first = body.splitlines()[0]
        assert first.startswith("Dear ")
        assert first.endswith(",")
        for line in body.splitlines()[1:]:
            assert EVIL not in line
            assert not line.startswith(("Bcc:", "Subject:"))
        assert "\x1b" not in body
        assert "\x00" not in body


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("abuse@example.net", True),
        ("a" * 64 + "@example.net", True),
        ("a" * 65 + "@example.net", False),  # local part over 64 octets
        ("a@" + ".".join(["b" * 60] * 4) + ".net", True),  # 250 octets
        ("a@" + ".".join(["b" * 62] * 4) + ".net", False),  # over 254
        ("abuse@example.net\n", False),
        ("abuse@example.net\r\nBcc: x@y.example", False),
        ('"quoted"@example.net', False),
        ("abuse@[192.0.2.1]", False),
    ],
)
def test_only_addresses_smtp_can_carry_are_mailable(address: str, ok: bool) -> None:
    assert mailable(address) is ok


def test_a_rules_override_to_an_over_long_address_names_the_line(tmp_path: Path) -> None:
    from botcensus.notify import RulesError

    path = rules_file(
        tmp_path / "rules.toml",
        extra=f'[[recipient]]\nemail = "abuse@alpha.example"\naddress = "{"x" * 70}@e.example"\n',
    )
    with pytest.raises(RulesError, match=r"rules\.toml:\d+: recipient\[0\]\.address"):
        load_rules(path)


# -- outbox folders -----------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.lists(st.from_regex(ADDRESS, fullmatch=True), min_size=2, max_size=20))
def test_no_two_addresses_share_an_outbox_folder(addresses: list[str]) -> None:
    distinct = {a.lower() for a in addresses}
    folders = {folder_name(a) for a in distinct}
    assert len(folders) == len(distinct)
    for folder in folders:
        assert "/" not in folder
        assert not folder.startswith(".")
        assert 0 < len(folder) <= 200


def test_addresses_that_differ_only_in_unusual_characters_get_folders_of_their_own() -> None:
    names = {folder_name(a) for a in ("a!b@x.example", "a#b@x.example", "a_b@x.example")}
    assert len(names) == 3
    assert folder_name("Abuse@Example.NET") == "abuse@example.net"


# -- a relay that drops the connection during DATA ----------------------------------------------
class _Dropper(socketserver.StreamRequestHandler):
    """Speaks just enough SMTP, then closes the connection during DATA: after part of the
    message ("mid"), or after all of it but before its answer ("end")."""

    server: _DroppingRelay

    def handle(self) -> None:
        self.wfile.write(b"220 flaky.localhost ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 flaky.localhost\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.wfile.write(b"250 2.0.0 OK\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                if self.server.mode == "mid":
                    self.rfile.read(700)
                else:
                    content = b"".join(iter(self.rfile.readline, b".\r\n"))
                    self.server.swallowed.append(content)
                self.server.drops += 1
                return  # the connection closes with no answer to the message
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 5.5.2 not here\r\n")


class _DroppingRelay(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Dropper)
        self.mode = mode
        self.drops = 0
        self.swallowed: list[bytes] = []


@pytest.fixture(params=["mid", "end"])
def dropping_relay(request: pytest.FixtureRequest) -> Iterator[_DroppingRelay]:
    server = _DroppingRelay(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _message_id(content: bytes) -> str:
    return str(email.message_from_bytes(content)["Message-ID"])


def test_a_relay_that_drops_during_data_defers_every_message_and_loses_none(
    tmp_path: Path, dropping_relay: _DroppingRelay
) -> None:
    data = make_dataset(tmp_path / "data")
    rules = load_rules(rules_file(tmp_path / "rules.toml"))
    port = dropping_relay.server_address[1]
    first = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", port)))
    assert first.delivery is not None
    assert (len(first.delivery.sent), len(first.delivery.deferred)) == (0, 6)
    assert first.delivery.stopped is None  # one broken connection does not end the run
    assert dropping_relay.drops == 6
    with Journal(data, create=False) as journal:
        entries = journal.entries()
        assert {e.state for e in entries} == {"deferred"}
        for entry in entries:
            assert "connection to the relay broke" in (entry.last_answer or "")
    time.sleep(0.3)  # retry_seconds = 0.2 in the test rules
    with LoopbackSmtp() as server:
        again = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port)))
        received = server.received()
    assert again.delivery is not None
    assert len(again.delivery.sent) == 6
    assert Counter(r.rcpt_tos[0] for r in received) == Counter(dict.fromkeys(RECIPIENTS, 1))
    with Journal(data, create=False) as journal:
        assert {(e.state, e.attempts) for e in journal.entries()} == {("sent", 2)}
    # A message the relay had whole when it dropped goes again as the same message.
    by_id = {_message_id(r.content): r.content for r in received}
    assert len(dropping_relay.swallowed) == (6 if dropping_relay.mode == "end" else 0)
    for swallowed in dropping_relay.swallowed:
        resent = by_id[_message_id(swallowed)]
        assert resent.replace(b"\r\n", b"\n").rstrip() == swallowed.replace(b"\r\n", b"\n").rstrip()


# -- a full disk --------------------------------------------------------------------------------
def _namespaces() -> str:
    """The path of unshare(1), if this machine lets a test mount a tmpfs of its own."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) not installed")
    probe = subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no user and mount namespaces here: {probe.stderr.decode().strip()}")
    return unshare


def _send_on_small_disk(
    unshare: str, data: Path, rules: Path, port: int, mount_at: Path, size: str
) -> subprocess.CompletedProcess[str]:
    """`notify send` in a mount namespace of its own where `mount_at` is a tmpfs of `size`
    (a real ENOSPC from the kernel). The tmpfs goes away with the namespace, as a disk that
    was emptied again would; the lines after TMP: list temporaries left in it."""
    send_cmd = [sys.executable, "-m", "botcensus", "notify", "send", "--data", str(data),
                "--rules", str(rules), "--date", str(RUN),
                "--smtp", f"127.0.0.1:{port}"]  # fmt: skip
    script = (
        f'mount -t tmpfs -o size={size},mode=0700 none "$1" && shift && "$@"; rc=$?; '
        'echo TMP:; find "$0" -name ".*.tmp"; exit $rc'
    )
    return subprocess.run(
        [unshare, "-rm", "sh", "-c", script, str(mount_at), str(mount_at), *send_cmd],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


def test_a_full_outbox_disk_stops_building_delivers_what_was_built_and_loses_nothing(
    tmp_path: Path,
) -> None:
    unshare = _namespaces()
    data = make_dataset(tmp_path / "data")
    rules = rules_file(tmp_path / "rules.toml")
    outbox = data / "notify" / "outbox"
    outbox.mkdir(parents=True, mode=0o700)
    with LoopbackSmtp() as server:
        full = _send_on_small_disk(unshare, data, rules, server.port, outbox, "12k")
        first = [r.rcpt_tos[0] for r in server.received()]
        assert full.returncode == 1, full.stderr
        assert "No space left on device" in full.stderr
        assert "planned, waiting in the journal for the next run: " in full.stderr
        assert "Traceback" not in full.stderr
        assert full.stdout.split("TMP:")[1].strip() == ""  # no half-written temporary
        assert 0 < len(first) < 6
        with Journal(data, create=False) as journal:
            states = Counter(e.state for e in journal.entries())
        assert states["sent"] == len(first)
        assert sum(states.values()) == 6
        # The disk has room again: the next run builds the rest, and the messages built on
        # the full disk (their files gone with it) again, and sends each one exactly once.
        done = subprocess.run(
            [sys.executable, "-m", "botcensus", "notify", "send", "--data", str(data),
             "--rules", str(rules), "--date", str(RUN), "--smtp", f"127.0.0.1:{server.port}"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        every = [r.rcpt_tos[0] for r in server.received()]
    assert Counter(every) == Counter(dict.fromkeys(RECIPIENTS, 1))
    with Journal(data, create=False) as journal:
        assert {e.state for e in journal.entries()} == {"sent"}


def test_a_full_disk_under_the_journal_is_a_clear_error_and_sends_nothing(tmp_path: Path) -> None:
    unshare = _namespaces()
    data = make_dataset(tmp_path / "data")
    rules = rules_file(tmp_path / "rules.toml")
    notify = data / "notify"
    notify.mkdir(mode=0o700)
    with LoopbackSmtp() as server:
        full = _send_on_small_disk(unshare, data, rules, server.port, notify, "4k")
        assert full.returncode == 1, full.stderr
        assert "Traceback" not in full.stderr
        assert "disk is full" in full.stderr or "No space left" in full.stderr
        assert "the next run goes on from there" in full.stderr
        assert server.received() == []
        done = subprocess.run(
            [sys.executable, "-m", "botcensus", "notify", "send", "--data", str(data),
             "--rules", str(rules), "--date", str(RUN), "--smtp", f"127.0.0.1:{server.port}"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert len(server.received()) == 6


# -- a huge contact table -----------------------------------------------------------------------
def test_a_huge_contact_table_routes_every_host_to_its_own_network() -> None:
    """50,000 /24 records sharing 20,000 mailboxes, 20,000 hosts: each host goes to the
    mailbox of its /24, each message lists each of its networks once (not timed: figures
    for a million records are in the closing note of issue 12)."""
    n, boxes, base = 50_000, 20_000, int(ipaddress.ip_address("1.0.0.0"))
    prefixes = [
        (f"{ipaddress.ip_address(base + (i << 8))}/24", f"abuse@net{i % boxes}.example")
        for i in range(n)
    ]
    picks = sorted(set(np.random.default_rng(5).integers(0, n * 256, 20_000).tolist()))
    hosts = host_rows([{"source_ip": str(ipaddress.ip_address(base + v))} for v in picks])
    planned = plan_messages(
        resolve(hosts, contact_table(prefixes=prefixes)), rules('[[rule]]\nname = "d"\n'), RUN
    )
    told = 0
    for message in planned.messages:
        for ip in message.hosts["source_ip"].to_pylist():
            network = (int(ipaddress.ip_address(ip)) - base) >> 8
            assert message.address == f"abuse@net{network % boxes}.example"
        assert len(set(message.networks)) == len(message.networks)
        assert message.host_count == message.hosts.num_rows
        told += message.hosts.num_rows
    assert told == len(picks)
    assert len(planned.messages) == len({(v >> 8) % boxes for v in picks})

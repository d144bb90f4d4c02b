"""Crash safety: `botcensus notify send` killed with SIGKILL at random points, 20 times, then run
to the end: every recipient gets every report, and a message goes twice at most, with the same
Message-ID and the same bytes, only if the relay had accepted it just before a kill."""

from __future__ import annotations

import email
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from notify_cases import RUN, rules_file, sightings

from botcensus.contacts import import_csv
from botcensus.notify import Journal
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.store import write_sightings

RECIPIENTS = 300


def _dataset(data: Path) -> Path:
    """RECIPIENTS hosts, each with a contact (and mail domain) of its own."""
    hosts = [(f"10.0.{i // 200}.{i % 200}", 64500 + i, "DE") for i in range(RECIPIENTS)]
    write_sightings(sightings(hosts), data, "test")
    table = data.parent / "contacts.csv"
    rows = "".join(
        f"10.0.{i // 200}.{i % 200}/32,abuse@net{i}.example\n" for i in range(RECIPIENTS)
    )
    table.write_text("prefix,abuse_email\n" + rows, encoding="utf-8")
    import_csv(data, table, source="nets")
    return data


def _sender(data: Path, rules: Path, port: int, *, kept: bool = False) -> subprocess.Popen[bytes]:
    """`botcensus notify send` as a process of its own (stderr kept only if it is to finish)."""
    args = [sys.executable, "-m", "botcensus", "notify", "send", "--data", str(data),
            "--rules", str(rules), "--date", str(RUN), "--smtp", f"127.0.0.1:{port}"]  # fmt: skip
    err = subprocess.PIPE if kept else subprocess.DEVNULL
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)


def _message_ids(server: LoopbackSmtp) -> Counter[str]:
    return Counter(
        str(email.message_from_bytes(r.content)["Message-ID"]) for r in server.received()
    )


def _kill_point(
    draw: random.Random, server: LoopbackSmtp, proc: subprocess.Popen[bytes], i: int
) -> None:
    """Wait for a random point of the run: every fourth run a random time from its start
    (start-up, planning, building the mails), the others a random number of deliveries into
    it and a few milliseconds more (the relay may just have said 250)."""
    if i % 4 == 0:
        time.sleep(draw.uniform(0.2, 1.5))
        return
    target = server.count + draw.randint(1, 8)
    deadline = time.monotonic() + 60
    while server.count < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(draw.uniform(0.0, 0.015))


def test_twenty_kills_lose_nothing_and_repeat_at_most_the_message_in_flight(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data")
    rules = rules_file(tmp_path / "rules.toml", smtp="rate_per_domain = 6000\n")
    draw = random.Random(20110316)
    kills, mid_delivery = 0, 0
    with LoopbackSmtp(delay=0.01) as server:
        for i in range(20):
            proc = _sender(data, rules, server.port)
            before = server.count
            _kill_point(draw, server, proc, i)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
                mid_delivery += server.count > before
            proc.wait(30)
        final = _sender(data, rules, server.port, kept=True)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()
        copies = _message_ids(server)
        by_id: dict[str, list[bytes]] = {}
        for received in server.received():
            key = str(email.message_from_bytes(received.content)["Message-ID"])
            by_id.setdefault(key, []).append(received.content)
    with Journal(data, create=False) as journal:
        entries = journal.entries()
        cut = {
            e.message_id: sum("interrupted" in h["detail"] for h in journal.history(e.id))
            for e in entries
        }
    interrupted = sum(cut.values())
    duplicates = sum(n - 1 for n in copies.values())
    stats = f"{kills} kills, {mid_delivery} during delivery, {duplicates} repeats"
    assert kills == 20, stats
    assert mid_delivery >= 10, stats
    assert len(entries) == RECIPIENTS
    assert {e.state for e in entries} == {"sent"}
    assert set(copies) == {e.message_id for e in entries}  # every report went
    # A kill can repeat only the message in flight, once: a message sent again more than once
    # was cut by as many kills (two kills in a row can land on the same message).
    assert all(copies[m] <= 1 + cut[m] for m in copies), (stats, copies.most_common(3))
    assert duplicates <= kills
    assert duplicates <= interrupted
    for copies_of_one in by_id.values():  # a repeat is the same message, byte for byte
        assert len(set(copies_of_one)) == 1


def test_a_message_the_relay_took_just_before_the_kill_goes_again_once_with_its_id(
    tmp_path: Path,
) -> None:
    data = _dataset(tmp_path / "data")
    rules = rules_file(tmp_path / "rules.toml", smtp="rate_per_domain = 6000\n")
    victim: dict[str, int] = {}

    def accept_then_kill(envelope: object) -> str | None:
        # The relay has the message (kept below) when the sender dies before the 250 arrives.
        if not victim.get("killed") and getattr(envelope, "rcpt_tos", []) == ["abuse@net3.example"]:
            victim["killed"] = 1
            os.kill(victim["pid"], signal.SIGKILL)
            time.sleep(0.2)
        return None

    with LoopbackSmtp(answer=accept_then_kill) as server:
        proc = _sender(data, rules, server.port)
        victim["pid"] = proc.pid
        proc.wait(120)
        assert proc.returncode == -signal.SIGKILL
        final = _sender(data, rules, server.port, kept=True)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()
        copies = _message_ids(server)
    with Journal(data, create=False) as journal:
        entries = {e.address: e for e in journal.entries()}
        history = [h["detail"] for h in journal.history(entries["abuse@net3.example"].id)]
    twice = [m for m, n in copies.items() if n == 2]
    assert twice == [entries["abuse@net3.example"].message_id]
    assert set(copies.values()) == {1, 2}
    assert any(d.startswith("interrupted: the sender stopped during delivery") for d in history)
    assert {e.state for e in entries.values()} == {"sent"}

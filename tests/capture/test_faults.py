"""Hostile requests and faults against a real `botcensus sinkhole serve` on loopback (issue 9):
each test is one way the sinkhole once stopped or lost answered requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from botcensus.capture import proxy
from botcensus.capture.reply import REJECT_REPLY, Reject
from botcensus.model import EVENT_SCHEMA
from botcensus.simulate.drive import http_request
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import iter_events

NOT_FOUND_CLOSE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
FAST_ROLL = {
    "BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL": "0.05",
    "BOTCENSUS_SINKHOLE__RECORDER__SEGMENT_SECONDS": "0.2",
}


def _events(data_dir: Path) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(iter_events(data_dir)), schema=EVENT_SCHEMA).to_pylist()


def _running(sink: SinkholeProcess) -> bool:
    return sink.proc is not None and sink.proc.poll() is None


def _alive(port: int, path: str) -> None:
    assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 404


# -- item 1: a value the roll cannot store ---------------------------------------------------
@pytest.mark.slow
def test_content_length_beyond_int64_does_not_stop_the_sinkhole(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", env=FAST_ROLL)
    with net.connect(sink.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\nabc")
    time.sleep(1.0)  # several segment rolls
    assert _running(sink), sink.log()
    _alive(sink.port, "/after")
    assert sink.stop() == 0
    events = sorted(_events(sink.data_dir), key=lambda e: str(e["path"]))
    assert [(e["path"], e["content_length"]) for e in events] == [("/", None), ("/after", None)]
    assert "Traceback" not in sink.log()


@pytest.mark.slow
def test_replayed_time_beyond_any_date_does_not_stop_the_sinkhole(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", "--proxy-protocol", "--replay", env=FAST_ROLL)
    header = proxy.build_v2(("203.0.113.5", 1), ("198.51.100.1", 80), replay_times_us=[2**63 - 1])
    got = net.exchange(sink.port, header + http_request("GET", "/far-future", host="h"))
    assert got == REJECT_REPLY[Reject.PROXY]
    time.sleep(1.0)
    assert _running(sink), sink.log()
    header = proxy.build_v2(("203.0.113.5", 2), ("198.51.100.1", 80))
    net.exchange(sink.port, header + http_request("GET", "/after", host="h"))
    assert sink.stop() == 0
    events = _events(sink.data_dir)
    assert len(events) == 2
    assert {str(e["reject_reason"]).partition(":")[0] for e in events} == {"proxy", "None"}


# -- item 3: a new supervisor while the old one's workers still run -------------------------
@pytest.mark.slow
def test_restart_waits_for_the_old_workers_and_keeps_what_they_answered(tmp_path, net):
    data = tmp_path / "data"
    env = {"BOTCENSUS_SINKHOLE__LIMITS__SHUTDOWN_GRACE": "4", **FAST_ROLL}
    old = SinkholeProcess(data, ["--listen", "127.0.0.1:0"], env=env).start()
    new = SinkholeProcess(data, ["--listen", "127.0.0.1:0"], env=env)
    try:
        with net.connect(old.port, timeout=10) as sock:
            sock.sendall(b"GET /answered-by-the-old-worker HTTP/1.1\r\n")
            time.sleep(0.3)
            assert old.proc is not None
            old.proc.kill()  # the supervisor only; its worker finishes what is in flight
            old.proc.wait()
            starting = threading.Thread(target=new.start)
            starting.start()
            time.sleep(1.0)  # the new supervisor is up (or waiting for the old worker)
            sock.sendall(b"Host: h\r\nConnection: close\r\n\r\n")
            assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
        starting.join(30)
        assert not starting.is_alive()
        _alive(new.port, "/new")
        assert new.stop() == 0
    finally:
        if _running(new):
            new.kill()
    paths = sorted(str(e["path"]) for e in _events(data))
    assert paths == ["/answered-by-the-old-worker", "/new"]
    assert "waiting for the workers of a previous sinkhole" in new.log()

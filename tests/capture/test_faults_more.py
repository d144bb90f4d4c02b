"""Smaller faults of issue 9 (item 10) and one the crash suite found, against a real
`botcensus sinkhole serve` on loopback."""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest
from sinkhole_faults import (
    alive,
    proc_state,
    running,
    scrape,
    worker_pids,
)

from botcensus.simulate.sinkhole import SinkholeProcess


# -- item 10: what holds addresses is private ------------------------------------------------
@pytest.mark.slow
def test_every_file_the_sinkhole_writes_is_private(sinkhole_proc, tmp_path):

    old = os.umask(0o022)
    try:
        sink = sinkhole_proc("--listen", "127.0.0.1:0", data_dir=tmp_path / "new" / "data")
    finally:
        os.umask(old)
    alive(sink.port, "/private")
    assert sink.stop() == 0
    data = sink.data_dir
    written = [data, *data.rglob("*")]
    skip = {"sinkhole.log"}  # the test harness's own capture of the process output
    modes = {
        p.relative_to(data.parent).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in written
        if p.name not in skip
    }
    assert any(name.endswith(".parquet") for name in modes)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode not in (0o600, 0o700)}
    assert wrong == {}


# -- item 10: the metrics port ---------------------------------------------------------------
def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.slow
def test_idle_connections_to_the_metrics_port_hold_no_threads(sinkhole_proc, net):
    sink = sinkhole_proc("--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
    assert sink.metrics is not None
    assert sink.proc is not None
    port = int(sink.metrics.rsplit(":", 1)[1])
    before = _threads(sink.proc.pid)
    idle = []
    try:
        idle.extend(net.connect(port) for _ in range(300))
        idle[0].sendall(b"GET /metrics HTTP/1.1\r\n")  # and one that never finishes its head
        time.sleep(1.0)
        assert _threads(sink.proc.pid) <= before + 2
        # Still served to a scraper while the idle ones are held.
        text = httpx.get(f"http://{sink.metrics}/metrics", timeout=5).text
        assert "botcensus_sinkhole_requests_total" in text
    finally:
        for sock in idle:
            sock.close()
    assert running(sink)


# -- item 10: out of file descriptors --------------------------------------------------------
@pytest.mark.slow
def test_connections_refused_for_want_of_descriptors_are_counted(tmp_path):
    sink = SinkholeProcess(
        tmp_path / "data", ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"], nofile=256
    )
    with sink:
        _descriptors_run_out(sink)
    assert sink.proc is not None
    assert sink.proc.returncode == 0


def _descriptors_run_out(sink: SinkholeProcess) -> None:
    import socket

    assert sink.metrics is not None
    held: list[socket.socket] = []
    try:
        for _ in range(400):
            sock = socket.create_connection(("127.0.0.1", sink.port), timeout=5)
            sock.setblocking(False)
            held.append(sock)
        time.sleep(1.0)
        refused = 0
        for sock in held:
            try:
                refused += sock.recv(1) == b""
            except BlockingIOError:
                pass  # accepted and held
            except ConnectionResetError:
                refused += 1
        assert refused > 100
        counted = scrape(sink.metrics)["botcensus_sinkhole_connections_refused_total"]
        assert counted >= refused
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    alive(sink.port, "/after")  # the listener survived


# -- found by the crash suite: a supervisor killed while it starts a worker ------------------
@pytest.mark.slow
def test_a_worker_whose_supervisor_died_while_it_started_does_not_live_on(sinkhole_proc):

    sink = sinkhole_proc("--listen", "127.0.0.1:0")
    assert sink.proc is not None
    [first] = worker_pids(sink)
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while not (restarted := [p for p in worker_pids(sink) if p != first]):
        assert time.monotonic() < deadline, "worker not restarted"
        time.sleep(0.005)
    sink.proc.kill()  # while the new worker is still importing, before it asked for PDEATHSIG
    sink.proc.wait()
    [orphan] = restarted
    deadline = time.monotonic() + 20
    while Path(f"/proc/{orphan}").exists() and proc_state(orphan) != "Z":
        assert time.monotonic() < deadline, "the orphaned worker lives on"
        time.sleep(0.1)

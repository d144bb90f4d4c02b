"""The two servers under load: the sinkhole (with what it recorded) and nginx (the anchor)."""

from __future__ import annotations

import argparse
import contextlib
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

from botcensus.simulate.sinkhole import SinkholeProcess
from sinkhole_parts.wrk import CORES, Run, Shape, cpu_seconds, run_wrk


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                # Field 4 is the parent pid; the command in field 2 may contain spaces.
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float:
    found = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert found is not None
    return int(found.group(1)) / 1024


# -- the sinkhole -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Recorded:
    """What the sinkhole says it answered, and what its dataset holds after SIGTERM."""

    answered: int
    """Its own request counter (metrics endpoint), read after wrk finished."""
    logged: int
    """Events it wrote to its write-ahead log (metrics endpoint)."""
    rows: int
    """Rows in the Parquet files under DATA/events/ after it stopped."""
    checkins: int
    """Of those, Rustock check-ins answered with the 404 and no reject reason."""
    rolled_in_run: int
    """Events already rolled into Parquet when wrk finished (the supervisor's roll thread
    runs at a lower CPU priority than the workers, so under full load it lags)."""
    supervisor_cpu_run: float
    """CPU seconds of the supervisor (rolling, metrics) during the wrk run."""
    supervisor_cpu_stop: float
    """CPU seconds of the supervisor from SIGTERM to exit: rolling the backlog."""
    stop_seconds: float

    @property
    def roll_us(self) -> float:
        """Supervisor CPU-µs per event recorded, during the run and at stop: the roll's cost,
        whenever it ran."""
        return (self.supervisor_cpu_run + self.supervisor_cpu_stop) * 1e6 / max(1, self.rows)

    def roll_line(self) -> str:
        later = self.logged - self.rolled_in_run
        per_event = self.roll_us
        return (
            f"roll: {self.rolled_in_run:,} events rolled during the run, {later:,} at stop "
            f"({self.stop_seconds:.1f} s); supervisor CPU {self.supervisor_cpu_run:.1f} s "
            f"during the run + {self.supervisor_cpu_stop:.1f} s at stop = {per_event:.1f} "
            "CPU-µs per event"
        )

    def verdict(self, run: Run, connections: int) -> tuple[bool, str]:
        """Every request wrk saw answered must be a row. Rows beyond wrk's count are requests
        in flight when wrk stopped: answered and recorded, not counted; at most one per
        connection."""
        extra = self.rows - run.requests
        ok = self.rows == self.logged == self.answered == self.checkins
        ok = ok and 0 <= extra <= connections
        text = (
            f"{'OK' if ok else 'FAIL'}: {self.rows:,} rows ({self.checkins:,} Rustock check-ins); "
            f"sinkhole answered {self.answered:,}, logged {self.logged:,}; wrk counted "
            f"{run.requests:,} (+{extra} answered after wrk stopped counting)"
        )
        return ok, text


@contextlib.contextmanager
def sinkhole(scratch: Path, env: dict[str, str] | None = None) -> Iterator[SinkholeProcess]:
    data = Path(tempfile.mkdtemp(prefix="sinkhole-", dir=scratch))
    args = ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]
    sink = SinkholeProcess(data, args=args, workers=CORES, env=env).start(timeout=60)
    try:
        yield sink
    finally:
        code = sink.stop()
        if code != 0:
            raise RuntimeError(f"sinkhole exited with {code}: {sink.log()[-2000:]}")


def sinkhole_workers(sink: SinkholeProcess) -> list[int]:
    """The workers: spawned children of the supervisor, but not multiprocessing's tracker."""
    assert sink.proc is not None
    workers = [
        pid
        for pid in children(sink.proc.pid)
        if b"spawn_main" in (cmd := Path(f"/proc/{pid}/cmdline").read_bytes())
        and b"resource_tracker" not in cmd
    ]
    if len(workers) != CORES:
        raise RuntimeError(f"expected {CORES} sinkhole workers, found {workers}")
    return workers


def sinkhole_metrics(sink: SinkholeProcess) -> dict[str, list[int]]:
    """Each botcensus_sinkhole_* metric's samples (one per worker for per-worker ones)."""
    url = f"http://{sink.metrics}/metrics"  # the metrics listener on 127.0.0.1
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    samples: dict[str, list[int]] = {}
    for line in text.splitlines():
        if line.startswith("botcensus_sinkhole_"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            samples.setdefault(name, []).append(int(float(line.rsplit(" ", 1)[1])))
    return samples


def sinkhole_run(shape: Shape, args: argparse.Namespace) -> tuple[Run, Recorded]:
    with sinkhole(args.scratch) as sink:
        assert sink.proc is not None
        supervisor = sink.proc.pid
        before = cpu_seconds([supervisor])
        run = run_wrk(sink.port, sinkhole_workers(sink), shape, args)
        cpu_run = cpu_seconds([supervisor]) - before
        time.sleep(1.5)  # requests in flight finish; workers publish counters every 0.5 s
        m = sinkhole_metrics(sink)
        before, stopping = cpu_seconds([supervisor]), time.monotonic()
        cpu_stop = _cpu_until_exit(sink) - before
        stop_seconds = time.monotonic() - stopping
    events = ds.dataset(sink.data_dir / "events", format="parquet", partitioning="hive")
    checkin = (
        (pc.field("malware_family") == "rustock")
        & (pc.field("status") == 404)
        & pc.field("reject_reason").is_null()
    )
    recorded = Recorded(
        sum(m["botcensus_sinkhole_requests_total"]),
        sum(m["botcensus_sinkhole_events_logged_total"]),
        events.count_rows(),
        events.count_rows(filter=checkin),
        sum(m["botcensus_sinkhole_events_rolled_total"]),
        cpu_run,
        cpu_stop,
        stop_seconds,
    )
    shutil.rmtree(sink.data_dir)
    return run, recorded


def _cpu_until_exit(sink: SinkholeProcess) -> float:
    """SIGTERM the sinkhole and return its supervisor's CPU seconds when it exits."""
    assert sink.proc is not None
    sink.proc.send_signal(signal.SIGTERM)
    used = 0.0
    while sink.proc.poll() is None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            used = cpu_seconds([sink.proc.pid])
        time.sleep(0.02)
    return used


# -- nginx ------------------------------------------------------------------------------------
NGINX_CONF = """\
worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
pid nginx.pid;
error_log error.log warn;
events {{ worker_connections {nofile}; }}
http {{
    access_log access.log;
    # nginx closes a keep-alive connection after 1000 requests by default; the sinkhole
    # does not, so neither does its anchor.
    keepalive_requests 1000000000;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        return 404;
    }}
}}
"""


@contextlib.contextmanager
def nginx(scratch: Path) -> Iterator[tuple[int, list[int], Path]]:
    """A foreground nginx in its own prefix directory: (port, worker pids, access log)."""
    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=scratch))
    (prefix / "tmp").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = prefix / "nginx.conf"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    conf.write_text(NGINX_CONF.format(workers=CORES, port=port, nofile=nofile), encoding="utf-8")
    cmd = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while len(children(proc.pid)) < CORES or not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {(prefix / 'error.log').read_text()}")
            time.sleep(0.05)
        yield port, children(proc.pid), prefix / "access.log"
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: answer what is in flight, then exit
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def nginx_run(shape: Shape, args: argparse.Namespace) -> tuple[Run, int]:
    with nginx(args.scratch) as (port, workers, access_log):
        run = run_wrk(port, workers, shape, args)
    with access_log.open("rb") as f:
        lines = sum(1 for _ in f)
    shutil.rmtree(access_log.parent)
    return run, lines

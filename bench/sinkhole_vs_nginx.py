"""Sinkhole vs nginx on loopback: check-ins per second, every answer recorded, RSS when idle.

For each load shape (a new connection per check-in; keep-alive) wrk sends Rustock-like
check-ins (POST /login.php, 96-byte body) to the sinkhole and to nginx answering a fixed 404
with its access log on; both run one worker per core. The figure is the ratio sinkhole/nginx
within one repeat (absolute rates depend on the machine and on what else runs on it); worker
CPU time per request is printed too, as it suffers less from a busy machine. After each
sinkhole run the sinkhole is stopped with SIGTERM and the Parquet rows under DATA/events/
are counted against the requests answered. Last, both servers hold idle connections while
the RSS of each worker process is read from /proc.

wrk and nginx come from Debian: `sh bench/setup-debian.sh` as root (`make bench` runs it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds

import botcensus
from botcensus.simulate.sinkhole import SinkholeProcess

CORES = os.cpu_count() or 1
BODY = random.Random(2011).randbytes(96)
"""Stands in for the 96 encrypted key-exchange bytes a Rustock bot POSTs to login.php."""
RATE_GOAL = 0.8
RSS_GOAL_MB = 200.0


@dataclass(frozen=True)
class Shape:
    name: str
    close: bool
    """Send `Connection: close`, so every check-in opens a new TCP connection."""


SHAPES = (Shape("new connection per check-in", True), Shape("keep-alive", False))

# -- load generator ---------------------------------------------------------------------------
# done() prints wrk's own counters as JSON: requests are responses read completely.
WRK_DONE = r"""
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('BENCH-JSON {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,' ..
    '"read":%.0f,"write":%.0f,"timeout":%.0f,"status":%.0f,"p50_us":%.0f,"p99_us":%.0f}\n',
    s.requests, s.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_script(close: bool) -> str:
    body = "".join(f"\\{b:03d}" for b in BODY)  # decimal escapes are valid in every Lua
    lines = [
        'wrk.method = "POST"',
        f'wrk.body = "{body}"',
        'wrk.headers["Content-Type"] = "application/octet-stream"',
        'wrk.headers["User-Agent"] = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"',
    ]
    if close:
        lines.append('wrk.headers["Connection"] = "close"')
    return "\n".join(lines) + WRK_DONE


@dataclass(frozen=True)
class Run:
    """One wrk run against one server, and the CPU its worker processes used meanwhile."""

    requests: int
    seconds: float
    socket_errors: dict[str, int]
    non_2xx: int
    p50_ms: float
    p99_ms: float
    cpu_seconds: float
    """CPU time of the server's worker processes during the run."""
    others: float
    """Share of the machine's CPU used during the run by neither those workers nor wrk."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds * 1e6 / max(1, self.requests)

    def line(self, server: str) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in self.socket_errors.items() if v) or "none"
        return (
            f"{server:8} {self.rate:>8,.0f} req/s {self.requests:>9,} requests  "
            f"{self.cpu_us:5.1f} CPU-µs/req  p50 {self.p50_ms:.2f} ms  p99 {self.p99_ms:.2f} ms  "
            f"non-2xx {self.non_2xx:,}  socket errors: {errors}  others {self.others:.0%} CPU"
        )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (/proc/PID/stat fields 14 and 15)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU time all processes have spent so far: user + nice + system in /proc/stat. Not
    irq/softirq (loopback packet handling: the benchmark's own traffic) nor steal."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:4]]
    return sum(ticks) / os.sysconf("SC_CLK_TCK")


def wrk_cpu() -> float:
    """CPU time of our waited-for children so far; of those only wrk exits during a run."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(port: int, workers: list[int], shape: Shape, args: argparse.Namespace) -> Run:
    script = Path(args.scratch) / f"checkin-{'close' if shape.close else 'keepalive'}.lua"
    script.write_text(wrk_script(shape.close), encoding="utf-8")
    cmd = [
        "wrk", "--threads", str(args.threads), "--connections", str(args.connections),
        "--duration", f"{args.duration}s", "--timeout", "5s", "--script", str(script),
        f"http://127.0.0.1:{port}/login.php",
    ]  # fmt: skip
    start = cpu_seconds(workers), wrk_cpu(), busy_seconds(), time.monotonic()
    # wrk stops itself after --duration; the timeout is only a backstop.
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=args.duration + 60
    )
    cpu, wrk, busy = (
        cpu_seconds(workers) - start[0],
        wrk_cpu() - start[1],
        busy_seconds() - start[2],
    )
    others = max(0.0, busy - cpu - wrk) / ((time.monotonic() - start[3]) * CORES)
    found = re.search(r"^BENCH-JSON (\{.*\})$", out.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}{out.stderr}")
    s = json.loads(found.group(1))
    errors = {k: int(s[k]) for k in ("connect", "read", "write", "timeout")}
    return Run(int(s["requests"]), s["duration_us"] / 1e6, errors, int(s["status"]),
               s["p50_us"] / 1000, s["p99_us"] / 1000, cpu, others)  # fmt: skip


# -- processes --------------------------------------------------------------------------------
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
        run = run_wrk(sink.port, sinkhole_workers(sink), shape, args)
        time.sleep(1.5)  # requests in flight finish; workers publish counters every 0.5 s
        m = sinkhole_metrics(sink)
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
    )
    shutil.rmtree(sink.data_dir)
    return run, recorded


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


# -- memory with idle connections -------------------------------------------------------------
def open_idle(port: int, count: int, batch: int = 500) -> list[socket.socket]:
    """Open `count` connections to 127.0.0.1:port, a batch of non-blocking connects at a time."""
    held: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        while len(held) < count:
            for _ in range(min(batch, count - len(held))):
                s = socket.socket()
                held.append(s)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
            deadline = time.monotonic() + 10
            while sel.get_map() and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    sel.unregister(sock)
                    if err := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError(err, os.strerror(err))
            if sel.get_map():
                raise TimeoutError(f"{len(sel.get_map())} connects unfinished after 10 s")
    return held


def idle_rss(server: str, port: int, workers: list[int], count: int) -> float:
    """Hold `count` idle connections; print each worker's RSS before and while holding them
    and how many it accepted (its new file descriptors). Returns the largest RSS, in MB."""
    before = [rss_mb(p) for p in workers]
    fds = [len(os.listdir(f"/proc/{p}/fd")) for p in workers]
    held: list[socket.socket] = []
    try:
        held = open_idle(port, count)
        deadline = time.monotonic() + 15  # workers accept asynchronously
        while time.monotonic() < deadline:
            now = [len(os.listdir(f"/proc/{p}/fd")) for p in workers]
            accepted = [n - m for n, m in zip(now, fds, strict=True)]
            if sum(accepted) >= count:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        during = [rss_mb(p) for p in workers]
    finally:
        for s in held:
            s.close()
    per_conn_kb = (sum(during) - sum(before)) * 1024 / count
    each = ", ".join(f"{b:.1f} → {d:.1f}" for b, d in zip(before, during, strict=True))
    print(f"  {server:8} RSS per worker {each} MB; connections accepted per worker {accepted}; "
          f"{per_conn_kb:.1f} kB per connection")  # fmt: skip
    return max(during)


def memory_phase(count: int, scratch: Path) -> None:
    print(f"\n{count:,} idle connections held:")
    # The sinkhole closes a connection that sends nothing after header_timeout (10 s by
    # default); raise it so that a busy machine cannot close them before the reading.
    env = {"BOTCENSUS_SINKHOLE__LIMITS__HEADER_TIMEOUT": "120"}
    with sinkhole(scratch, env) as sink:
        worst = idle_rss("sinkhole", sink.port, sinkhole_workers(sink), count)
    met = "met" if worst < RSS_GOAL_MB else "MISSED"
    print(f"  goal < {RSS_GOAL_MB:.0f} MB per sinkhole worker: {met}")
    with nginx(scratch) as (port, workers, _):
        idle_rss("nginx", port, workers, count)


# -- main -------------------------------------------------------------------------------------
def versions() -> str:
    """What was measured: the sinkhole's code (commit, and whether src/ had local changes),
    Python, nginx and wrk."""
    src = Path(botcensus.__file__).parent

    def run(*cmd: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=src)
            return (done.stdout + done.stderr).strip()
        return "?"

    dirty = " + uncommitted changes" if run("git", "status", "--porcelain", ".") else ""
    nginx_v = run("nginx", "-v").rpartition("/")[2]
    wrk_v = run("wrk", "--version").split()[1] if run("wrk", "--version") != "?" else "?"
    return (
        f"sinkhole {run('git', 'rev-parse', '--short', 'HEAD')}{dirty} ({src}), "
        f"Python {sys.version.split()[0]}; nginx {nginx_v}; wrk {wrk_v}"
    )


def summarise(pairs: dict[str, list[tuple[Run, Run]]]) -> None:
    print("\n| shape | sinkhole req/s | nginx req/s | ratio | CPU-µs/req sinkhole : nginx |")
    print("|---|---|---|---|---|")
    for name, runs in pairs.items():
        mine_rates, their_rates = [m.rate for m, _ in runs], [t.rate for _, t in runs]
        ratios = [m.rate / t.rate for m, t in runs]
        cpu = f"{spread([m.cpu_us for m, _ in runs], '.1f')} : "
        cpu += spread([t.cpu_us for _, t in runs], ".1f")
        print(f"| {name} | {spread(mine_rates)} | {spread(their_rates)} "
              f"| {spread(ratios, '.2f')} | {cpu} |")  # fmt: skip
    print("median (min–max) over repeats; each ratio is within one repeat")
    for name, runs in pairs.items():
        met = statistics.median(m.rate / t.rate for m, t in runs) >= RATE_GOAL
        print(f"goal ≥ {RATE_GOAL} of nginx, {name}: {'met' if met else 'MISSED'}")


def spread(values: list[float], fmt: str = ",.0f") -> str:
    """Median (min–max)."""
    med = format(statistics.median(values), fmt)
    return med if len(values) == 1 else f"{med} ({min(values):{fmt}}–{max(values):{fmt}})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run [10]")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections [64]")
    parser.add_argument("--threads", type=int, default=CORES, help="wrk threads [one per core]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape and server [3]")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections; 0: skip")
    parser.add_argument("--shape", choices=["close", "keep-alive", "both"], default="both")
    args = parser.parse_args()
    if missing := [tool for tool in ("wrk", "nginx") if shutil.which(tool) is None]:
        sys.exit(f"{' and '.join(missing)} missing: run `sh bench/setup-debian.sh` as root")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + 4096  # the sinkhole and nginx inherit this limit
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"RLIMIT_NOFILE hard limit {hard} < {want}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    shapes = [s for s in SHAPES if args.shape in ("both", "close" if s.close else "keep-alive")]
    print(versions())
    print(
        f"{CORES} cores; sinkhole and nginx {CORES} workers each; wrk {args.threads} threads, "
        f"{args.connections} connections, {args.duration} s per run; {args.repeat} repeats"
    )
    failures = 0
    pairs: dict[str, list[tuple[Run, Run]]] = {s.name: [] for s in shapes}
    with tempfile.TemporaryDirectory(prefix="botcensus-bench-") as scratch:
        args.scratch = Path(scratch)
        for rep in range(1, args.repeat + 1):
            for shape in shapes:
                # Alternate who goes first, so a drift in background load hits both alike.
                if rep % 2:
                    mine, recorded = sinkhole_run(shape, args)
                    theirs, access_lines = nginx_run(shape, args)
                else:
                    theirs, access_lines = nginx_run(shape, args)
                    mine, recorded = sinkhole_run(shape, args)
                pairs[shape.name].append((mine, theirs))
                ok, verdict = recorded.verdict(mine, args.connections)
                failures += not ok
                print(f"\n[{rep}/{args.repeat}] {shape.name}: ratio {mine.rate / theirs.rate:.2f}")
                print(f"  {mine.line('sinkhole')}\n  {theirs.line('nginx')}")
                print(f"  sinkhole record {verdict}")
                print(f"  nginx access log {access_lines:,} lines; wrk counted {theirs.requests:,}")
        summarise(pairs)
        print(f"every answered request recorded: {'yes' if not failures else 'NO'}")
        if args.idle:
            memory_phase(args.idle, args.scratch)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

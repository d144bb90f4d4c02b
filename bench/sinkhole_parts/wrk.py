"""The load generator (wrk, with a Lua script sending Rustock-like check-ins) and CPU accounting."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CORES = os.cpu_count() or 1
BODY = random.Random(2011).randbytes(96)
"""Stands in for the 96 encrypted key-exchange bytes a Rustock bot POSTs to login.php."""


@dataclass(frozen=True)
class Shape:
    name: str
    close: bool
    """Send `Connection: close`, so every check-in opens a new TCP connection."""


SHAPES = (Shape("new connection per check-in", True), Shape("keep-alive", False))


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

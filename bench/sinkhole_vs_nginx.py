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
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import botcensus
from sinkhole_parts.idle import memory_phase
from sinkhole_parts.servers import nginx_run, sinkhole_run
from sinkhole_parts.wrk import CORES, SHAPES, Run

RATE_GOAL = 0.8


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


def sustained(pairs: dict[str, list[tuple[Run, Run]]], rolls: dict[str, list[float]]) -> None:
    """What the rate would be were the roll to keep up: the sinkhole's CPU per check-in is its
    workers' plus the supervisor's roll, and with both servers CPU-bound on the same cores
    the rate ratio is nginx's CPU per request over that sum."""
    print("\n| shape | CPU-µs/req sinkhole workers + roll = sustained : nginx | ratio |")
    print("|---|---|---|")
    verdicts = []
    for name, runs in pairs.items():
        total = [m.cpu_us + r for (m, _), r in zip(runs, rolls[name], strict=True)]
        ratios = [t.cpu_us / s for (_, t), s in zip(runs, total, strict=True)]
        mine, theirs = [m.cpu_us for m, _ in runs], [t.cpu_us for _, t in runs]
        cpu = f"{spread(mine, '.1f')} + {spread(rolls[name], '.1f')} = {spread(total, '.1f')}"
        print(f"| {name} | {cpu} : {spread(theirs, '.1f')} | {spread(ratios, '.2f')} |")
        met = statistics.median(ratios) >= RATE_GOAL
        verdicts.append(
            f"sustained goal ≥ {RATE_GOAL} of nginx, {name}: {'met' if met else 'MISSED'}"
        )
    print("\n".join(verdicts))


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
    rolls: dict[str, list[float]] = {s.name: [] for s in shapes}
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
                rolls[shape.name].append(recorded.roll_us)
                ok, verdict = recorded.verdict(mine, args.connections)
                failures += not ok
                print(f"\n[{rep}/{args.repeat}] {shape.name}: ratio {mine.rate / theirs.rate:.2f}")
                print(f"  {mine.line('sinkhole')}\n  {theirs.line('nginx')}")
                print(f"  sinkhole record {verdict}")
                print(f"  sinkhole {recorded.roll_line()}")
                print(f"  nginx access log {access_lines:,} lines; wrk counted {theirs.requests:,}")
        summarise(pairs)
        sustained(pairs, rolls)
        print(f"every answered request recorded: {'yes' if not failures else 'NO'}")
        if args.idle:
            memory_phase(args.idle, args.scratch)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

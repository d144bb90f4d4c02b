"""The dashboard's public endpoints under concurrent clients, warm, against the bare DuckDB
query over the raw sightings that computes the same numbers.

    .venv/bin/python bench/web_bench.py --data DIR [--clients 8] [--requests 200] [--bare 3]
        [--only "weekly,meta"]

DIR: a rolled-up dataset (`botcensus rollup --data DIR`; the full-scale Rustock one is made
by `bench/census_bench.py --data DIR`, then rolled up). Runs `botcensus serve --no-rollup` on
a free loopback port, warms every endpoint once, then `--clients` threads each send
`--requests` requests per endpoint (keep-alive), parameters drawn from a fixed pool (family
filter on or off, ranges, weeks) so no two clients ask the same thing in step. Prints p50 and
p95 per endpoint (goal: p95 under 200 ms), the server's CPU time per request (user +
system, all threads: moves less with other load), and beside each census endpoint the median of
`--bare` runs of the bare DuckDB statement over the sightings files (one client alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

from botcensus.measure.census import CensusQuery, census_sql
from botcensus.store import connect, sighting_files

Params = dict[str, str]


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    draw: Callable[[random.Random], Params]
    query: Callable[[Params], CensusQuery] | None = None
    """The census the endpoint answers (for the bare DuckDB statement beside it)."""


def _weeks(first: date, last: date) -> list[date]:
    start = first - timedelta(days=(first.weekday() - 6) % 7)  # weeks ending Saturday
    return [start + timedelta(days=7 * i) for i in range((last - start).days // 7 + 1)]


def endpoints(first: date, last: date, families: list[str]) -> list[Endpoint]:
    weeks = _weeks(first, last)
    fams = [None, *families]

    def fam(rng: random.Random) -> Params:
        f = rng.choice(fams)
        return {} if f is None else {"family": f}

    def week(rng: random.Random) -> Params:
        w = rng.choice(weeks)
        return {"from": w.isoformat(), "to": (w + timedelta(days=6)).isoformat()}

    def span(rng: random.Random) -> Params:
        a, b = sorted(rng.sample(range((last - first).days + 1), 2))
        return {
            "from": (first + timedelta(days=a)).isoformat(),
            "to": (first + timedelta(days=b)).isoformat(),
        }

    def q(window: str, by: tuple[str, ...]) -> Callable[[Params], CensusQuery]:
        def make(p: Params) -> CensusQuery:
            lo = date.fromisoformat(p["from"]) if "from" in p else None
            hi = date.fromisoformat(p["to"]) if "to" in p else None
            return CensusQuery(window, "sat", by, lo, hi, p.get("family"))  # type: ignore[arg-type]

        return make

    return [
        Endpoint(
            "weekly total", "/api/v1/census", lambda r: {"window": "week", **fam(r)}, q("week", ())
        ),
        Endpoint(
            "weekly by country, top 10",
            "/api/v1/census",
            lambda r: {"window": "week", "by": "country", "top": "10", **fam(r)},
            q("week", ("country",)),
        ),
        Endpoint(
            "daily by country, range",
            "/api/v1/census",
            lambda r: {"window": "day", "by": "country", "top": "10", **span(r), **fam(r)},
            q("day", ("country",)),
        ),
        Endpoint(
            "map: one week by country",
            "/api/v1/census",
            lambda r: {"window": "week", "by": "country", **week(r), **fam(r)},
            q("week", ("country",)),
        ),
        Endpoint(
            "ASN ranking of a week, top 20",
            "/api/v1/census",
            lambda r: {"window": "week", "by": "asn", "top": "20", **week(r), **fam(r)},
            q("week", ("asn",)),
        ),
        Endpoint(
            "daily by feed",
            "/api/v1/census",
            lambda r: {"window": "day", "by": "feed", **fam(r)},
            q("day", ("feed",)),
        ),
        Endpoint("host estimates", "/api/v1/estimates", lambda r: {}),
        Endpoint(
            "host estimates by country",
            "/api/v1/estimates",
            lambda r: {"by": "country", "limit": "500"},
        ),
        Endpoint("clean-up", "/api/v1/cleanup", lambda r: {}),
        Endpoint("meta", "/api/v1/meta", lambda r: {}),
        Endpoint(
            "overview page (3 census queries)",
            "/",
            lambda r: {"by": r.choice(["country", "feed", "none"]), **fam(r)},
        ),
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botcensus",
            "serve",
            "--data",
            str(data),
            "--no-rollup",
            "--listen",
            f"127.0.0.1:{port}",
        ],
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("serve exited") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not listen within 120 s")


def run_clients(base: str, endpoint: Endpoint, clients: int, requests: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine = []
        with httpx.Client(base_url=base, timeout=120) as http:
            for _ in range(requests):
                params = endpoint.draw(rng)
                start = time.perf_counter()
                reply = http.get(endpoint.path, params=params)
                mine.append(time.perf_counter() - start)
                if reply.status_code != 200:
                    failures.append(f"{reply.status_code} {reply.url}")
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{endpoint.name}: {len(failures)} failed, e.g. {failures[0]}")
    return times


def bare(files: list[str], query: CensusQuery, repeat: int) -> float:
    """Median seconds of the census statement over the raw sightings (read_parquet)."""
    relation = "read_parquet($files, hive_partitioning = false, union_by_name = true)"
    sql, params = census_sql(query, relation)
    runs = []
    for _ in range(repeat):
        con = connect()
        start = time.perf_counter()
        con.sql(sql, params={**params, "files": files}).fetchall()
        runs.append(time.perf_counter() - start)
        con.close()
    return statistics.median(runs)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads: DuckDB's too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per client and endpoint")
    parser.add_argument("--bare", type=int, default=3, help="runs of each bare query")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", default="", help="comma-separated parts of endpoint names to run (default: all)"
    )
    args = parser.parse_args()
    port = free_port()
    proc = start_server(args.data, port)
    base = f"http://127.0.0.1:{port}"
    try:
        meta = httpx.get(f"{base}/api/v1/meta", timeout=300).json()
        first, last = date.fromisoformat(meta["first_day"]), date.fromisoformat(meta["last_day"])
        points = endpoints(first, last, meta["families"])
        if args.only:
            wanted = [w.strip() for w in args.only.split(",") if w.strip()]
            points = [p for p in points if any(w in p.name for w in wanted)]
        for point in points:  # warm: tables loaded, products read, pages compiled
            httpx.get(base + point.path, params=point.draw(random.Random(0)), timeout=300)
        files = [str(f) for f in sighting_files(args.data)]
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        print(
            f"commit {commit or 'unknown'}; machine: {platform.node()}, {os.cpu_count()} cores; "
            "load average before: "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print(
            f"dataset: {args.data} ({first} to {last}, {len(files)} sightings files); "
            f"{args.clients} clients x {args.requests} requests per endpoint, keep-alive"
        )
        print(
            f"{'endpoint':36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>7} "
            f"{'CPU ms/req':>10} {'bare DuckDB ms':>15} {'p95/bare':>9}"
        )
        worst = 0.0
        for point in points:
            start, cpu = time.perf_counter(), cpu_seconds(proc.pid)
            times = run_clients(base, point, args.clients, args.requests)
            wall = time.perf_counter() - start
            cpu_ms = (cpu_seconds(proc.pid) - cpu) / len(times) * 1000
            p50, p95 = pct(times, 0.5) * 1000, pct(times, 0.95) * 1000
            worst = max(worst, p95)
            bare_ms = ratio = ""
            if point.query is not None:
                b = bare(files, point.query(point.draw(random.Random(args.seed))), args.bare) * 1000
                bare_ms, ratio = f"{b:15.0f}", f"{p95 / b:9.3f}"
            print(
                f"{point.name:36} {p50:8.1f} {p95:8.1f} {max(times) * 1000:8.1f} "
                f"{len(times) / wall:7.0f} {cpu_ms:10.1f} {bare_ms:>15} {ratio:>9}"
            )
        print(
            f"worst p95: {worst:.1f} ms (goal: under 200 ms); load average after: "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        return 0 if worst < 200 else 1
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())

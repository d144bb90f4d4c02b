"""`botcensus census` as a whole process against the bare DuckDB query as a whole process.

    .venv/bin/python bench/census_process_bench.py [--scale 0.1] [--seed 1] [--data DIR]
        [--repeat 11]

1. Unless --data holds sightings already: `botcensus simulate --scenario rustock-2011` at
   --scale into a scratch directory (scale 0.1: about 2.3 million daily sightings).
2. One `botcensus census` to build the sketches (the first roll-up check does that), then,
   alternating, --repeat times each: `botcensus census --by country --family rustock
   --format csv` (start-up, imports, roll-up check, coverage check, census, change columns,
   CSV) and a Python process that imports duckdb, runs the same weekly-by-country query over
   the same sightings files and prints the rows as CSV. Prints the medians and their ratio
   (goal: at most 1.3), and whether both printed the same numbers.
3. `botcensus --help`, --repeat times: the median (goal: under 0.3 s).

The load average before and after is printed: other work on the machine slows both sides,
the ratio less than the absolute times.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "botcensus"
BOTCENSUS = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "botcensus"]
"""The installed command, as a user runs it."""
BARE = r"""
import glob, sys, duckdb
files = sorted(glob.glob(sys.argv[1] + "/sightings/date=*/[!.]*.parquet"))
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
rows = con.sql('''
    SELECT CAST(day - INTERVAL ((isodow(day) - 7 + 7) % 7) DAY AS DATE) AS window_start,
           source_cc AS country, count(DISTINCT source_ip) AS unique_ip,
           count(DISTINCT bot_id) AS unique_bot_id, sum(hits)::BIGINT AS hits
    FROM read_parquet(?, hive_partitioning = false) WHERE malware_family = 'rustock'
    GROUP BY ALL ORDER BY ALL''', params=[files]).fetchall()
out = sys.stdout
for r in rows:
    out.write(",".join("" if v is None else str(v) for v in r) + "\n")
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str]) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds: user + system of the process and its threads)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return seconds, proc.stdout, _children_cpu() - cpu


def ours_cmd(data: Path) -> list[str]:
    return [*BOTCENSUS, "census", "--data", str(data), "--by", "country",
            "--family", "rustock", "--format", "csv"]  # fmt: skip


def same_numbers(ours: str, bare: str) -> bool:
    keys = ("window_start", "country", "unique_ip", "unique_bot_id", "hits")
    mine = sorted(tuple(r[k] for k in keys) for r in csv.DictReader(io.StringIO(ours)))
    theirs = sorted(tuple(r) for r in csv.reader(io.StringIO(bare)))
    return mine == theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="reuse or keep the dataset")
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    scratch = None
    data = args.data
    if data is None:
        scratch = Path(tempfile.mkdtemp(prefix="botcensus-process-bench-"))
        data = scratch / "data"
    try:
        if not any((data / "sightings").glob("date=*/*.parquet")):
            scenario = ["--scenario", "rustock-2011", "--scale", str(args.scale)]
            seconds, _, _ = run([*BOTCENSUS, "simulate", *scenario, "--seed", str(args.seed),
                              "--data", str(data)])  # fmt: skip
            print(f"simulate rustock-2011 at scale {args.scale}: {seconds:.1f} s")
        files = sorted((data / "sightings").glob("date=*/[!.]*.parquet"))
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores; other load slows both)")
        run(ours_cmd(data))  # builds the sketches once, as the first census after a roll-up
        ours_t, bare_t, ours_cpu, bare_cpu = [], [], [], []
        for _ in range(args.repeat):
            t, ours_out, cpu = run(ours_cmd(data))
            ours_t.append(t)
            ours_cpu.append(cpu)
            t, bare_out, cpu = run([sys.executable, "-c", BARE, str(data)])
            bare_t.append(t)
            bare_cpu.append(cpu)
        o, b = statistics.median(ours_t), statistics.median(bare_t)
        oc, bc = statistics.median(ours_cpu), statistics.median(bare_cpu)
        print(
            f"weekly census by country over {len(files)} daily files, whole processes, median "
            f"of {args.repeat}: botcensus census {o:.3f} s, bare DuckDB {b:.3f} s; wall-time "
            f"ratio {o / b:.2f} (goal <= 1.3); CPU {oc:.3f} s against {bc:.3f} s (ratio "
            f"{oc / bc:.2f}); same numbers: {same_numbers(ours_out, bare_out)}"
        )
        helps = [run([*BOTCENSUS, "--help"])[0] for _ in range(args.repeat)]
        print(f"botcensus --help: median {statistics.median(helps):.3f} s (goal < 0.3 s)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

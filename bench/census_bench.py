"""Full-scale Rustock through the direct path, then the census against the bare DuckDB query.

    .venv/bin/python bench/census_bench.py [--scenario rustock-2011] [--scale 1.0] [--seed 1]
        [--data DIR] [--repeat 5]

1. `botcensus simulate --data DIR` in a child process: wall time and peak RSS of simulating and
   writing the enriched daily sightings (the roll-up's output) into the dataset.
2. The weekly-by-country census as `botcensus census` runs it (roll-up check, view, census,
   change columns) against the bare DuckDB query that computes the same numbers from the same
   files, in the same run, alternating, median of --repeat; prints the speed ratio (goal >= 0.9).
3. The calibration table against Microsoft's figures, from the census of the written dataset.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure import CensusQuery, census
from botcensus.measure.census_run import census_of_dataset
from botcensus.simulate import calibration_table, check_targets, load_scenario
from botcensus.store import connect, rollup, sighting_files, sightings_view
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import sketch_days

BARE_SQL = """
SELECT CAST(day - INTERVAL ((isodow(day) - 7 + 7) % 7) DAY AS DATE) AS window_start,
       source_cc AS country,
       count(DISTINCT source_ip) AS unique_ip,
       count(DISTINCT bot_id) AS unique_bot_id,
       sum(hits)::BIGINT AS hits
FROM read_parquet(?, hive_partitioning = false)
WHERE malware_family = 'rustock'
GROUP BY ALL
"""


def run_simulation(args: argparse.Namespace, data: Path) -> tuple[float, float]:
    cmd = [
        sys.executable, "-m", "botcensus", "simulate", "--scenario", args.scenario,
        "--scale", str(args.scale), "--seed", str(args.seed), "--data", str(data),
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"simulate failed with {status}")
    return seconds, usage.ru_maxrss / 1024 / 1024  # KiB -> GiB


def refresh(data: Path) -> None:
    """The roll-up check `census` always makes (nothing to roll here): sightings, sketches."""
    rollup(data, lambda t: t)
    sketch_days(data, sketch_sightings)


def ours(data: Path) -> pa.Table:
    query = CensusQuery(window="week", by=("country",), family="rustock")
    return census_of_dataset(data, query, refresh=refresh).rows


def bare(files: list[str]) -> pa.Table:
    con = connect()
    return con.sql(BARE_SQL, params=[files]).to_arrow_table()


def timed(fn: object, *a: object) -> tuple[float, pa.Table]:
    start = time.perf_counter()
    result = fn(*a)  # type: ignore[operator]
    return time.perf_counter() - start, result


def calibration(data: Path, scenario_name: str, scale: float) -> pa.Table:
    con = connect()
    view = sightings_view(con, data)
    rows = []
    for by in ((), ("country",)):
        t = census(con, CensusQuery(window="week", by=by, family="rustock"), view)
        cc = t["country"] if by else pa.nulls(t.num_rows, pa.string())
        rows.append(
            pa.table(
                {
                    "week_ending": t["window_end"],
                    "days": pa.array([7] * t.num_rows, pa.int32()),
                    "cc": cc,
                    "unique_ips": t["unique_ip"],
                    "hits": t["hits"],
                }
            )
        )
    weekly = pa.concat_tables(rows)
    scenario = load_scenario(scenario_name)
    checks = [
        c
        for c in check_targets(weekly, scenario, scale=scale, hosts_at_start=0, z=0.0)
        if c.target.metric != "hosts_at_start"  # needs the truth, not the census
    ]
    return calibration_table(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="rustock-2011")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="reuse or keep the dataset here")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scratch = None
    data = args.data
    if data is None:
        scratch = Path(tempfile.mkdtemp(prefix="botcensus-census-bench-"))
        data = scratch / "data"
    try:
        if not sighting_files(data):
            seconds, rss = run_simulation(args, data)
            print(f"simulate + roll-up ({args.scenario}, scale {args.scale}): {seconds:.1f} s, "
                  f"peak RSS {rss:.2f} GiB (goal: under 10 min and 8 GiB in all)")  # fmt: skip
        files = [str(f) for f in sighting_files(data)]
        ours_t, bare_t = [], []
        for _ in range(args.repeat):
            t, a = timed(ours, data)
            ours_t.append(t)
            t, b = timed(bare, files)
            bare_t.append(t)
        key = ["window_start", "country"]
        mine = a.select([*key, "unique_ip", "unique_bot_id", "hits"]).sort_by(
            [(k, "ascending") for k in key]
        )
        theirs = b.sort_by([(k, "ascending") for k in key])
        same = mine.to_pylist() == theirs.select(mine.column_names).to_pylist()
        o, r = statistics.median(ours_t), statistics.median(bare_t)
        print(f"weekly census by country over {len(files)} files: ours {o:.3f} s, bare DuckDB "
              f"{r:.3f} s (median of {args.repeat}); speed ratio {r / o:.2f} (goal >= 0.9); "
              f"same numbers: {same}")  # fmt: skip
        table = calibration(data, args.scenario, args.scale)
        print("\ncalibration against the published figures (targets scaled by --scale):")
        names = table.column_names
        print(" | ".join(names))
        for row in table.to_pylist():
            print(" | ".join(str(row[n]) for n in names))
        ok = pc.all(pc.equal(table["ok"], "yes")).as_py() if "ok" in names else None
        print(f"all targets met: {ok}")
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

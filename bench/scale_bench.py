"""How cost grows: sketch roll-up and weekly census by country, DuckDB against Spark local,
at several multiples of the Rustock scenario, side by side in one run.

    .venv/bin/python bench/scale_bench.py [--scales 1,3,10] [--seed 1] [--master local[*]]
        [--keep DIR] [--replicate 1] [--spark-max 10]

For each scale: `botcensus simulate --data` writes the enriched daily sightings (scale 1.0 is
the full Rustock scenario); with `--replicate R`, scales above R are R's dataset replicated
(replicate(): new addresses and bot ids per copy, the same days and groups), as simulating
ten full Rustock populations takes hours here. Then, each step in its own child process
(wall time, and peak RSS of the child and everything it started, the JVM included, sampled
every 0.2 s):

- rollup: the sketch roll-up of every day's sightings (HLL and Theta per day, sensor, feed,
  country, ASN, family): store/sketch_build.py on DuckDB, measure/spark.py's Spark SQL;
- census: the weekly census by country with change columns: the DuckDB engine, the Spark
  engine (`census --engine spark`'s code path).

Prints one table (seconds and GiB per engine, Spark/DuckDB time ratio) and the slope of each
engine's time against the number of sightings. Results belong in BENCHMARKS.md with the
command, the commit, the machine and its load (`uptime`) at the time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DRIVER_MEMORY = "4g"
"""Spark local's heap (driver and executor in one JVM)."""
STEPS = {
    "rollup/duckdb": """
import pyarrow as pa, pyarrow.parquet as pq
from botcensus.store.sightings import sighting_files
from botcensus.store.sketch_build import sketch_sightings
rows = 0
for f in sighting_files(DATA):  # day by day, as the roll-up runs (version 1 or 2 files)
    rows += sketch_sightings(pq.read_table(f)).num_rows
print(rows)
""",
    "rollup/spark": """
from botcensus.measure.spark import session, sketch_rows
spark = session(MASTER)
print(sketch_rows(spark, DATA).num_rows)
spark.stop()
""",
    "census/duckdb": """
from botcensus.measure.census import CensusQuery
from botcensus.measure.census_run import census_of_dataset
print(census_of_dataset(DATA, CensusQuery(by=("country",))).rows.num_rows)
""",
    "census/spark": """
from botcensus.measure.census import CensusQuery
from botcensus.measure.spark import census_of_dataset
print(census_of_dataset(DATA, CensusQuery(by=("country",)), master=MASTER).rows.num_rows)
""",
}


def replicate(source: Path, target: Path, copies: int) -> None:
    """A dataset `copies` times as large as `source` (vectorised, day by day): copy 0 is the
    source's sightings; copy c > 0 the same rows with every IPv4 address a.b.c.d moved to
    2001:db8:c::ab:cd (a distinct address per copy, in canonical text) and every bot id
    suffixed, so unique counts grow with the copies while days, countries, ASNs, families
    and the shape of each day stay the source's. Faster than simulating a population ten
    times larger; what is measured is the cost of the rows, not the model. Written as
    sightings of the current version (the address key of the moved addresses computed by
    store.sighting_key.as_sightings, as every writer does), whatever the source's."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from botcensus.store.sighting_key import as_sightings
    from botcensus.store.sightings import sighting_files

    hexes = np.array([format(i, "x") for i in range(65536)], dtype=object)
    for f in sighting_files(source):
        table = pq.read_table(f)
        ips = table["source_ip"].combine_chunks()
        v4 = pc.invert(pc.match_substring(ips, ":"))
        octets = pc.split_pattern(pc.if_else(v4, ips, "0.0.0.0"), ".")
        part = [pc.list_element(octets, k).cast(pa.int32()).to_numpy() for k in range(4)]
        tail = pa.array(
            hexes[part[0] * 256 + part[1]] + ":" + hexes[part[2] * 256 + part[3]], pa.string()
        )
        ip_at = table.schema.get_field_index("source_ip")
        bot_at = table.schema.get_field_index("bot_id")
        parts = [table]
        for c in range(1, copies):
            moved = pc.binary_join_element_wise(f"2001:db8:{c:x}::", tail, "")
            bots = pc.binary_join_element_wise(table["bot_id"], f"-{c}", "")
            parts.append(
                table.set_column(ip_at, "source_ip", pc.if_else(v4, moved, ips)).set_column(
                    bot_at, "bot_id", bots
                )
            )
        out = target / f.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        whole = as_sightings(pa.concat_tables([t.cast(table.schema) for t in parts]))
        pq.write_table(whole, out, compression="zstd")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(int(entry.name))
        rss[int(entry.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total


def measure(code: str, data: Path, master: str) -> tuple[float, float, str]:
    """Run a step in a child; wall seconds, peak GiB of its process tree, its output."""
    prelude = (
        f"from pathlib import Path\nDATA = Path({str(data)!r})\nMASTER = {master!r}\n"
        "import os\n"  # local mode: the driver is the executor; Spark's 1 GiB default is small
        f"os.environ['PYSPARK_SUBMIT_ARGS'] = '--driver-memory {DRIVER_MEMORY} pyspark-shell'\n"
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", prelude + code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            peak = max(peak, _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"step failed ({proc.returncode}): {code}")
    return seconds, peak / 2**30, out.decode().strip()


def sightings_count(data: Path) -> int:
    import pyarrow.parquet as pq

    from botcensus.store.sightings import sighting_files

    return sum(pq.read_metadata(f).num_rows for f in sighting_files(data))


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per million sightings."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if not var else sum((x - mx) * (y - my) for x, y in points) / var * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scales", default="1,3,10", help="Multiples of the full scenario.")
    parser.add_argument("--scenario", default="rustock-2011")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the datasets here.")
    parser.add_argument(
        "--replicate",
        type=float,
        default=0.0,
        help="Make every scale above this one by replicating its dataset (replicate()) "
        "instead of simulating it (0: simulate every scale).",
    )
    parser.add_argument("--steps", default="rollup,census", help="Steps to run.")
    parser.add_argument(
        "--spark-max", type=float, default=float("inf"), help="Largest scale Spark runs at."
    )
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    print(f"load before: {os.getloadavg()}", flush=True)
    results: list[tuple[float, int, dict[str, tuple[float, float]]]] = []
    for scale in [float(s) for s in args.scales.split(",")]:
        data = root / f"x{scale:g}"
        base = root / f"x{args.replicate:g}"
        if not data.exists() and args.replicate and scale > args.replicate:
            if scale % args.replicate:
                raise SystemExit(f"--replicate {args.replicate:g} does not divide {scale:g}")
            replicate(base, data, int(scale / args.replicate))
        if not data.exists():
            subprocess.run(
                [sys.executable, "-m", "botcensus", "simulate", "--scenario", args.scenario,
                 "--scale", str(scale), "--seed", str(args.seed), "--data", str(data)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        rows = sightings_count(data)
        found: dict[str, tuple[float, float]] = {}
        outputs: dict[str, str] = {}
        for name, code in STEPS.items():
            if name.endswith("/spark") and scale > args.spark_max:
                continue
            if name.split("/")[0] not in args.steps.split(","):
                continue
            seconds, gib, out = measure(code, data, args.master)
            found[name] = (seconds, gib)
            outputs[name] = out
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"x{scale:g} {rows:>12,} sightings  {name:14} {seconds:8.1f} s {gib:6.2f} GiB"
                  f"  (load {load})", flush=True)  # fmt: skip
        for step in args.steps.split(","):  # both engines must have made as many rows
            theirs = outputs.get(f"{step}/spark")
            if theirs is not None and outputs.get(f"{step}/duckdb") != theirs:
                raise SystemExit(f"x{scale:g} {step}: engines disagree on row counts {outputs}")
        results.append((scale, rows, found))
    print(f"load after: {os.getloadavg()}")
    print("\nscale  sightings    step     duckdb s  GiB   spark s  GiB   spark/duckdb")
    for scale, rows, found in results:
        for step in args.steps.split(","):
            ds, dg = found[f"{step}/duckdb"]
            ss, sg = found.get(f"{step}/spark", (float("nan"), float("nan")))
            print(f"x{scale:<5g}{rows:>11,}  {step:7} {ds:9.1f} {dg:5.2f} {ss:9.1f} {sg:5.2f}"
                  f"   {ss / ds:6.2f}")  # fmt: skip
    for name in STEPS:
        points = [(rows, found[name][0]) for _, rows, found in results if name in found]
        if len(points) > 1:
            print(f"slope {name:14} {slope(points):8.2f} s per million sightings")


if __name__ == "__main__":
    main()

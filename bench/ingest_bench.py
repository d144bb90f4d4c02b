"""Feed ingest against its anchors: rows/s to parse, enrich, deduplicate and store a generated
Shadowserver event4_sinkhole_http report, and peak memory; against (a) DuckDB's bare scan of
the same CSV into Parquet (the limit; goal: at least 0.5 of its rate) and (b) IntelMQ's own
Shadowserver parser on a sample of the same file (goal: at least 100 times its rate).

    .venv/bin/python bench/ingest_bench.py [--rows 5000000] [--intelmq-rows 20000]

IntelMQ runs from this virtualenv (a test dependency), else from one created under the work
directory with `pip install intelmq`, driven in IntelMQ's library mode (Bot.process_message
with BotLibSettings: no Redis). Each measurement runs in its own process so its peak memory
(ru_maxrss) is its own. Each is timed by wall clock and by CPU time (every thread of the
process, over the same step as the wall clock): on a machine with other load the CPU-time
ratios are the ones to read. IntelMQ's parser is single-threaded; ours and DuckDB's use both
cores, so the wall-time ratio against IntelMQ on an idle machine is up to twice the CPU one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

REPORT = "event4_sinkhole_http"
FAMILIES = ["andromeda", "avalanche-andromeda", "conficker", "necurs", "mirai", "qsnatch"]
GEOS = ["DE", "US", "BR", "IN", "RO", "PH", "VN", "FR", "IT", "TR"]
AGENTS = ["Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)", "Wget/1.16 (linux-gnu)", None]


def _ips(rng: np.random.Generator, n: int, pool: np.ndarray) -> pa.Array:
    ints = pool[rng.integers(0, len(pool), n)]
    parts = [pc.cast(pa.array((ints >> s) & 255), pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*parts, ".")


def _pick(rng: np.random.Generator, n: int, values: list[str | None]) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(rng.integers(0, len(values), n)))


def chunk(rng: np.random.Generator, n: int, start_s: int, hosts: np.ndarray) -> pa.Table:
    """n report rows in the published event4_sinkhole_http columns."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from botcensus.feeds import load_mapping

    columns = load_mapping().report(REPORT).columns
    seconds = np.sort(rng.integers(start_s, start_s + 86_400, n)).astype("datetime64[s]")
    stamp = pc.strftime(pa.array(seconds), "%Y-%m-%d %H:%M:%S")
    family = rng.integers(0, len(FAMILIES), n)
    values: dict[str, pa.Array] = {
        "timestamp": stamp,
        "protocol": _pick(rng, n, ["tcp"]),
        "src_ip": _ips(rng, n, hosts),
        "src_port": pa.array(rng.integers(1024, 65536, n)),
        "src_asn": pa.array(rng.integers(0, 70000, n)),
        "src_geo": _pick(rng, n, GEOS),
        "src_region": _pick(rng, n, ["BAYERN", "CALIFORNIA", "SAO PAULO", None]),
        "src_city": _pick(rng, n, ["MUNICH", "FREMONT", "CAMPINAS", None]),
        "src_naics": _pick(rng, n, ["517311", "0", None]),
        "src_sector": _pick(
            rng, n, ["Communications, Service Provider, and Hosting Service", None]
        ),
        "severity": _pick(rng, n, ["critical"]),
        "dst_ip": _ips(rng, n, np.array([0xB8690102, 0xB8690304, 0xC6336407], dtype=np.int64)),
        "dst_port": _pick(rng, n, ["80", "443"]),
        "dst_asn": _pick(rng, n, ["6939"]),
        "dst_geo": _pick(rng, n, ["US"]),
        "dst_region": _pick(rng, n, ["CALIFORNIA"]),
        "dst_city": _pick(rng, n, ["FREMONT"]),
        "dst_naics": _pick(rng, n, ["518210"]),
        "infection": pa.array(FAMILIES).take(pa.array(family)),
        "family": pa.array([f.split("-")[-1] for f in FAMILIES]).take(pa.array(family)),
        "tag": _pick(rng, n, ["sinkhole", None]),
        "application": _pick(rng, n, ["http", "https"]),
        "http_url": _pick(rng, n, ["/index.php", "/gate.php?id=1", "GET /search?q=0 HTTP/1.1"]),
        "http_host": _pick(rng, n, ["differentia.ru", "disorderstatus.ru", "198.51.100.7"]),
        "http_agent": _pick(rng, n, AGENTS),
    }
    return pa.table({c: values.get(c, pa.nulls(n, pa.string())) for c in columns})


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    hosts = rng.integers(0x01000000, 0xDF000000, max(rows // 4, 1), dtype=np.int64)
    start = int(np.datetime64("2024-05-01T00:00:00", "s").astype(np.int64))
    with path.open("wb") as out:
        done = 0
        while done < rows:
            n = min(500_000, rows - done)
            options = pacsv.WriteOptions(include_header=done == 0)
            pacsv.write_csv(chunk(rng, n, start, hosts), out, options)
            done += n


def child_ours(csv: Path, data: Path) -> dict[str, Any]:
    from botcensus import enrich
    from botcensus.feeds import ingest

    geo = enrich.load_bundled()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    report = ingest([csv], data, lambda t: enrich.enrich(t, geo))
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    f = report.files[0]
    assert f.error is None, f.error
    return {
        "seconds": seconds,
        "timed_cpu_seconds": cpu,
        "rows": f.read,
        "stored": f.stored,
        "duplicate": f.duplicate,
        "reader": getattr(f, "reader", None) or "",  # older versions do not say
    }


def child_duckdb(csv: Path, out: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    scan = "SELECT * FROM read_csv(?, all_varchar = true, header = true)"
    copy = f"COPY ({scan}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
    con.execute(copy, [str(csv)])
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    (rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(out)]).fetchone() or (0,)
    return {"seconds": seconds, "timed_cpu_seconds": cpu, "rows": rows}


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


INTELMQ_DRIVER = r"""
import base64, json, sys, time
from intelmq.lib.bot import BotLibSettings
import intelmq.bots.parsers.shadowserver._config as config
from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot
sample, schema = sys.argv[1], sys.argv[2]
state = getattr(config, "__config")
state.schema_file = state.schema_active = schema
raw = open(sample, "rb").read()
bot = ShadowserverParserBot("bench-parser", settings=BotLibSettings | {"logging_level": "ERROR"})
report = {"__type": "Report", "raw": base64.b64encode(raw).decode(),
          "extra.file_name": "2024-05-01-event4_sinkhole_http-bench.csv",
          "feed.name": "Sinkhole-Events-HTTP IPv4", "time.observation": "2024-05-02T00:00:00+00:00"}
t0, cpu0 = time.perf_counter(), time.process_time()
out = bot.process_message(report)
seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
errors = len(out.get("error", []))
print(json.dumps({"seconds": seconds, "timed_cpu_seconds": cpu, "rows": len(out["output"]),
                  "errors": errors}))
"""


def intelmq_python(work: Path, given: str | None) -> Path | None:
    """IntelMQ's python: given, else this virtualenv's (intelmq is a test dependency), else a
    virtualenv made for it."""
    if given:
        return Path(given)
    probe = [sys.executable, "-W", "ignore", "-c", "import intelmq.bots.parsers.shadowserver"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return Path(sys.executable)
    venv = work / "intelmq-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "intelmq"], check=False)
        if done.returncode != 0:
            return None
    return python


def intelmq_schema(path: Path) -> None:
    """IntelMQ's schema entry for event4_sinkhole_http: our mapping file is in its format."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    folder = Path(__file__).resolve().parents[1] / "src/botcensus/feeds/mappings"
    body = json.loads((folder / "shadowserver-2024-09-24.json").read_text(encoding="utf-8"))
    entry = dict(body["reports"][REPORT])
    entry["file_name"] = REPORT
    entry.pop("columns")
    meta = {"date_created": body["schema_date"], "change_log": []}
    path.write_text(json.dumps({"_meta": meta, "event_sinkhole_http": entry}), encoding="utf-8")


def run_child(args: list[str], python: str = sys.executable) -> dict[str, Any]:
    done = subprocess.run([python, *args], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--intelmq-rows", type=int, default=20_000)
    parser.add_argument("--intelmq-python", default=None)
    parser.add_argument("--skip-intelmq", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("/tmp/botcensus-ingest-bench"))
    parser.add_argument("--child", choices=["ours", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = (child_ours if args.child == "ours" else child_duckdb)(args.csv, args.out)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu_seconds"] = (usage.ru_utime - before.ru_utime) + (
            usage.ru_stime - before.ru_stime
        )
        result["peak_rss_mb"] = usage.ru_maxrss / 1024
        print(json.dumps(result))
        return

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"2024-05-01-{REPORT}-bench-{args.rows}.csv"
    if not csv.exists():
        t0 = time.perf_counter()
        generate(csv, args.rows)
        print(
            f"generated {args.rows:,} rows, {csv.stat().st_size / 1e6:,.0f} MB in "
            f"{time.perf_counter() - t0:.1f} s: {csv}"
        )
    me = [str(Path(__file__).resolve())]
    results: dict[str, dict[str, Any]] = {}
    print(f"load before: {load()}")
    for name, out in (
        ("duckdb", work / "duckdb.parquet"),
        ("ours", work / "data"),
        ("ours, again (all duplicates)", work / "data"),
    ):
        if name == "ours" and out.exists():
            shutil.rmtree(out)
        child = "duckdb" if name == "duckdb" else "ours"
        results[name] = run_child([*me, "--child", child, "--csv", str(csv), "--out", str(out)])
    if not args.skip_intelmq:
        python = intelmq_python(work, args.intelmq_python)
        if python is None:
            print("intelmq could not be installed; skipping its measurement")
        else:
            sample = work / f"intelmq-sample-{args.intelmq_rows}.csv"
            with csv.open("rb") as f, sample.open("wb") as s:
                for _ in range(args.intelmq_rows + 1):
                    s.write(f.readline())
            schema = work / "intelmq-schema.json"
            intelmq_schema(schema)
            driver = work / "intelmq_driver.py"
            driver.write_text(INTELMQ_DRIVER, encoding="utf-8")
            results["intelmq"] = run_child(
                ["-W", "ignore", str(driver), str(sample), str(schema)], str(python)
            )

    size = csv.stat().st_size / 1e6
    print(f"\n{args.rows:,} rows, {size:,.0f} MB, {os.cpu_count()} cores, load {load()}")
    print("CPU-s: the timed step only (every thread), as the wall time; in brackets the whole")
    print("child process (imports, geo table), as this benchmark counted before.")
    rate = {k: v["rows"] / v["seconds"] for k, v in results.items()}
    cpu_rate = {k: v["rows"] / v["timed_cpu_seconds"] for k, v in results.items()}
    for name, r in results.items():
        extra = f", {r['timed_cpu_seconds']:6.2f} CPU-s ({cpu_rate[name]:,.0f} rows per CPU-s)"
        if "peak_rss_mb" in r:
            extra += f" [{r['cpu_seconds']:.2f}], peak RSS {r['peak_rss_mb']:,.0f} MB"
        if r.get("reader"):
            extra += f", reader {r['reader']}"
        print(
            f"  {name:30s} {r['rows']:>11,.0f} rows in {r['seconds']:7.2f} s = "
            f"{rate[name]:>10,.0f} rows/s{extra}"
        )
    wall = rate["ours"] / rate["duckdb"]
    cpu = cpu_rate["ours"] / cpu_rate["duckdb"]
    whole = results["duckdb"]["cpu_seconds"] / results["ours"]["cpu_seconds"]
    print(
        f"ours / DuckDB bare scan (goal >= 0.5): by CPU time {cpu:.2f} ({verdict(cpu, 0.5)}), "
        f"by wall time {wall:.2f} ({verdict(wall, 0.5)}); whole processes by CPU {whole:.2f}"
    )
    if "intelmq" in rate:
        x, xc = rate["ours"] / rate["intelmq"], cpu_rate["ours"] / cpu_rate["intelmq"]
        print(
            f"ours / IntelMQ parser (goal >= 100x): by CPU time {xc:,.0f}x ({verdict(xc, 100)}), "
            f"by wall time {x:,.0f}x ({verdict(x, 100)})"
        )


def verdict(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else "MISSED"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


if __name__ == "__main__":
    main()

"""`botcensus demo`: replay the Rustock takedown of 2011 through a real sinkhole on loopback,
then count, compare with Microsoft's published figures and the simulator's truth, and report."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from botcensus import enrich
from botcensus.measure.summary import summarise
from botcensus.report import write_report
from botcensus.report.tables import print_table
from botcensus.simulate.outputs import send_http
from botcensus.simulate.scenario import load_scenario
from botcensus.simulate.simulation import simulate
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import connect, rollup, sightings_view

MARKER = ".botcensus-demo"
SENSOR = "simulated"
# Microsoft's published weekly unique IPs at its Rustock sinkholes (week ending, count).
MICROSOFT_WEEKLY = {dt.date(2011, 3, 26): 1_601_619, dt.date(2011, 6, 18): 702_860}
MICROSOFT_CHANGE = {"IN": -0.6930, "RU": -0.7061, "US": -0.3548}


def _prepare(data_dir: Path) -> None:
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise SystemExit(f"{data_dir} is not empty and not an earlier demo's; choose --data")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / MARKER).write_text("made by botcensus demo; removed by the next one\n")


def run_demo(data_dir: Path | None, *, scale: float = 0.001, seed: int = 2011) -> int:
    """Run the demo into `data_dir` (default ./demo-data). Returns the exit code."""
    console = Console()
    data_dir = data_dir or Path("demo-data")
    _prepare(data_dir)
    started = time.monotonic()
    geo = enrich.load_bundled()
    scenario = load_scenario("rustock-2011")
    sim = simulate(scenario, address_space=enrich.ipv4_ranges(geo), scale=scale, seed=seed)
    console.print(
        f"[bold]Rustock takedown, {scenario.start} to {scenario.end}[/], replayed at scale "
        f"{scale} through a real sinkhole on 127.0.0.1 (2 workers, PROXY v2, replay mode)."
    )
    args = ["--listen", "127.0.0.1:0", "--proxy-protocol", "--replay"]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        SinkholeProcess(
            data_dir, args, workers=2, env={"BOTCENSUS_SINKHOLE__SENSOR": SENSOR}
        ) as sink,
        Progress(*columns, console=console, transient=True) as bar,
    ):
        task = bar.add_task("check-ins replayed", total=None)
        result = send_http(sim, sink.port, progress=lambda n: bar.advance(task, n))
    console.print(
        f"{result.sent:,} check-ins sent, {result.answered:,} answered by the sinkhole "
        f"({time.monotonic() - started:.0f} s so far)."
    )
    rollup(data_dir, lambda t: enrich.enrich(t, geo))
    con = connect()
    summary = summarise(con, sightings_view(con, data_dir), family=scenario.family)
    files = write_report(
        summary, data_dir / "report", title="Rustock after the takedown (simulated replay)"
    )
    truth = sim.truth().weekly.filter(pc.equal(sim.truth().weekly["scope"], "global"))
    console.print(_side_by_side(summary.weekly, truth, scale))
    _countries(console, summary.countries)
    console.print(f"Report: {files.html.resolve()}")
    console.print(
        f"Dataset: {data_dir.resolve()} (try: botcensus census --data {data_dir} --by country)"
    )
    console.print(f"Demo took {time.monotonic() - started:.0f} s.")
    return 0 if result.answered == result.sent else 1


def _side_by_side(weekly: pa.Table, truth: pa.Table, scale: float) -> Table:
    seen = {r["window_end"]: r["unique_ip"] for r in weekly.to_pylist()}
    true = {r["week_ending"]: r for r in truth.to_pylist()}
    out = Table(
        title="Week by week: what the sinkhole counted, what Microsoft published, what was true"
    )
    out.add_column("week ending")
    out.add_column("sinkhole\nunique_ip", justify="right")
    out.add_column(f"Microsoft × {scale}\nunique_ip", justify="right")
    out.add_column("true infected\nhosts", justify="right")
    out.add_column("true active\nhosts", justify="right")
    out.add_column("unique_ip per\nactive host", justify="right")
    for week in sorted(set(seen) | set(true)):
        t = true.get(week, {})
        published = MICROSOFT_WEEKLY.get(week)
        active = t.get("hosts_active")
        ips = seen.get(week)
        days = t.get("days", 7)
        label = f"{week}" + ("" if days == 7 else f" ({days} d)")
        out.add_row(
            label,
            f"{ips:,}" if ips is not None else "—",
            f"{published * scale:,.0f}" if published else "—",
            f"{t['hosts_infected']:,}" if t else "—",
            f"{active:,}" if active else "—",
            f"{ips / active:.2f}" if ips and active else "—",
        )
    return out


def _countries(console: Console, countries: pa.Table) -> None:
    top = countries.slice(0, 8)
    print_table(top, "Countries: first vs last complete week (unique_ip)", console)
    notes = []
    for row in countries.to_pylist():
        cc = row["country"]
        if cc in MICROSOFT_CHANGE and row["unique_ip_change"] is not None:
            notes.append(
                f"{cc} {row['unique_ip_change']:+.0%} (Microsoft: {MICROSOFT_CHANGE[cc]:+.0%})"
            )
    if notes:
        console.print("Change, first to last complete week: " + ", ".join(notes))

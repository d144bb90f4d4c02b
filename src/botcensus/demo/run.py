"""`botcensus demo`: replay the Rustock takedown of 2011 through a real sinkhole on loopback,
then count, compare with Microsoft's published figures and the simulator's truth, and report."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from botcensus import enrich
from botcensus.demo.render import print_result
from botcensus.demo.results import MARKS, SENSOR, measure_demo
from botcensus.report import write_report
from botcensus.simulate import load_scenario, simulate
from botcensus.simulate.outputs import send_http
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import rollup

MARKER = ".botcensus-demo"


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
        sent = send_http(sim, sink.port, progress=lambda n: bar.advance(task, n))
    console.print(
        f"{sent.sent:,} check-ins sent, {sent.answered:,} answered by the sinkhole "
        f"({time.monotonic() - started:.0f} s so far)."
    )
    rollup(data_dir, lambda t: enrich.enrich(t, geo))
    result = measure_demo(data_dir, sim.truth().weekly, scale=scale)
    files = write_report(
        result.summary,
        data_dir / "report",
        title="Rustock after the takedown (simulated replay)",
        cleanup=result.cleanup,
        marks=[(m.day, m.label) for m in MARKS],
    )
    print_result(console, result)
    console.print(f"Report: {files.html.resolve()}")
    console.print(f"Dataset: {data_dir.resolve()}; try:")
    for command in (
        f"census --data {data_dir} --by country --estimate",
        f"cleanup --data {data_dir} --by country",
        f"report --data {data_dir} --out REPORT-DIR",
    ):
        console.print(f"  botcensus {command}", highlight=False, soft_wrap=True)
    console.print(f"Demo took {time.monotonic() - started:.0f} s.")
    console.print("The dashboard over this dataset (then open http://127.0.0.1:8080/):")
    console.print(f"  botcensus serve --data {data_dir}", highlight=False, soft_wrap=True)
    return 0 if sent.answered == sent.sent else 1

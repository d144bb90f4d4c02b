"""`botcensus demo`: replay the Rustock takedown of 2011 through a real sinkhole on loopback,
then count, compare with Microsoft's published figures and the simulator's truth, and report."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from botcensus import enrich
from botcensus.demo import campaign
from botcensus.demo.render import print_result
from botcensus.demo.results import MARKS, SENSOR, measure_demo
from botcensus.report import write_report
from botcensus.simulate import Simulation, load_scenario, simulate
from botcensus.simulate.outputs import send_http
from botcensus.simulate.scenario import Notify
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


def _replay(sim: Simulation, data_dir: Path, console: Console, what: str) -> tuple[int, int]:
    """Every check-in of `sim` through a real sinkhole process on loopback."""
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
        task = bar.add_task(f"check-ins replayed ({what})", total=None)
        sent = send_http(sim, sink.port, progress=lambda n: bar.advance(task, n))
    return sent.sent, sent.answered


def run_demo(data_dir: Path | None, *, scale: float = 0.001, seed: int = 2011) -> int:
    """Run the demo into `data_dir` (default ./demo-data). Returns the exit code."""
    console = Console()
    data_dir = data_dir or Path("demo-data")
    _prepare(data_dir)
    started = time.monotonic()
    geo = enrich.load_bundled()
    space = enrich.ipv4_ranges(geo)
    scenario = load_scenario("rustock-2011")
    console.print(
        f"[bold]Rustock takedown, {scenario.start} to {scenario.end}[/], replayed at scale "
        f"{scale} through a real sinkhole on 127.0.0.1 (2 workers, PROXY v2, replay mode); "
        f"on {campaign.DAY} the networks seen the day before are told, half of them held out."
    )
    step = lambda t: enrich.enrich(t, geo)  # noqa: E731
    before = simulate(scenario, address_space=space, scale=scale, seed=seed,
                      end=campaign.DAY - dt.timedelta(days=1))  # fmt: skip
    sent, answered = _replay(before, data_dir, console, "before the campaign")
    rollup(data_dir, step)
    told = campaign.run_campaign(data_dir, before, seed=seed)
    for line in campaign.campaign_lines(told):
        console.print(line, highlight=False)
    console.print("[bold]One of the messages[/] (as the SMTP server received it):")
    console.print(told.example, highlight=False, markup=False, soft_wrap=True)
    assert scenario.notify is None
    truth_scenario = scenario.model_copy(
        update={"notify": Notify(day=campaign.DAY, hazard_multiplier=campaign.TRUE_HAZARD_RATIO,
                                 asns=list(told.told))}
    )  # fmt: skip
    after = simulate(truth_scenario, address_space=space, scale=scale, seed=seed,
                     start=campaign.DAY)  # fmt: skip
    more, more_answered = _replay(after, data_dir, console, "after the campaign")
    sent, answered = sent + more, answered + more_answered
    console.print(
        f"{sent:,} check-ins sent, {answered:,} answered by the sinkhole "
        f"({time.monotonic() - started:.0f} s so far)."
    )
    rollup(data_dir, step)
    truth = simulate(truth_scenario, address_space=space, scale=scale, seed=seed).truth()
    result = measure_demo(data_dir, truth.weekly, scale=scale, notified=told.groups)
    files = write_report(
        result.summary,
        data_dir / "report",
        title="Rustock after the takedown (simulated replay)",
        cleanup=result.cleanup,
        marks=[(m.day, m.label) for m in MARKS],
    )
    print_result(console, result)
    arms = campaign.arm_decay(data_dir, told.groups, truth.weekly, scenario.end)
    perfect = campaign.perfect_observer_hr(truth.hosts, told.groups, scenario.end)
    for line in campaign.effect_lines(result.cleanup.hazard, arms, perfect):
        console.print(line, highlight=False)
    console.print(f"Report: {files.html.resolve()}")
    console.print(f"Dataset: {data_dir.resolve()}; try:")
    for command in (
        f"census --data {data_dir} --by country --estimate",
        f"cleanup --data {data_dir} --by country",
        f"notify status --data {data_dir}",
        f"report --data {data_dir} --out REPORT-DIR",
    ):
        console.print(f"  botcensus {command}", highlight=False, soft_wrap=True)
    console.print(f"Demo took {time.monotonic() - started:.0f} s.")
    console.print("The dashboard over this dataset (then open http://127.0.0.1:8080/):")
    console.print(f"  botcensus serve --data {data_dir}", highlight=False, soft_wrap=True)
    return 0 if answered == sent and told.delivered == len(told.sent.plan.messages) else 1

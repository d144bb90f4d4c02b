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
from botcensus.measure.census import CensusQuery
from botcensus.measure.census_run import run_census
from botcensus.measure.cleanup import CleanupQuery, CleanupResult, Mark, cleanup, fit_decay
from botcensus.measure.summary import summarise
from botcensus.report import write_report
from botcensus.report.cleanup_html import decay_sentence
from botcensus.report.tables import print_table
from botcensus.simulate.outputs import send_http
from botcensus.simulate.scenario import load_scenario
from botcensus.simulate.simulation import simulate
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import connect, rollup, sightings_view
from botcensus.store.sketches import read_sketches, sketches_view

MARKER = ".botcensus-demo"
SENSOR = "simulated"
# Microsoft's published weekly unique IPs at its Rustock sinkholes (week ending, count).
MICROSOFT_WEEKLY = {dt.date(2011, 3, 26): 1_601_619, dt.date(2011, 6, 18): 702_860}
MICROSOFT_CHANGE = {"IN": -0.6930, "RU": -0.7061, "US": -0.3548}
# Microsoft's Malicious Software Removal Tool gained Rustock on this day (the scenario's pulse).
MARKS = (Mark(dt.date(2011, 4, 12), "removal tool"),)


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
    relation = sightings_view(con, data_dir)
    summary = summarise(con, relation, family=scenario.family)
    weekly = run_census(
        con,
        CensusQuery(window="week", family=scenario.family),
        relation,
        sketches_view(con, data_dir),
        estimate=True,
    )
    query = CleanupQuery(by="country", family=scenario.family, marks=MARKS)
    clean = cleanup(con, relation, read_sketches(data_dir), query)
    files = write_report(
        summary,
        data_dir / "report",
        title="Rustock after the takedown (simulated replay)",
        cleanup=clean,
        marks=[(m.day, m.label) for m in MARKS],
    )
    truth = sim.truth().weekly.filter(pc.equal(sim.truth().weekly["scope"], "global"))
    console.print(_side_by_side(weekly.rows, truth, scale))
    _countries(console, summary.countries)
    _cleanup(console, clean, truth)
    console.print(f"Report: {files.html.resolve()}")
    console.print(f"Dataset: {data_dir.resolve()}; try:")
    for command in (
        f"census --data {data_dir} --by country --estimate",
        f"cleanup --data {data_dir} --by country",
        f"report --data {data_dir} --out REPORT-DIR",
    ):
        console.print(f"  botcensus {command}", highlight=False, soft_wrap=True)
    console.print(f"Demo took {time.monotonic() - started:.0f} s.")
    return 0 if result.answered == result.sent else 1


def _side_by_side(weekly: pa.Table, truth: pa.Table, scale: float) -> Table:
    """`weekly`: census rows with host estimates (run_census with estimate)."""
    seen = {r["window_end"]: r["unique_ip"] for r in weekly.to_pylist()}
    est = {r["window_end"]: r for r in weekly.to_pylist() if r["hosts_est"] is not None}
    true = {r["week_ending"]: r for r in truth.to_pylist()}
    out = Table(
        title="Week by week: what the sinkhole counted, what Microsoft published, what "
        "botcensus estimates, what was true"
    )
    out.add_column("week ending", no_wrap=True)
    out.add_column("sinkhole\nunique_ip", justify="right")
    out.add_column(f"Microsoft\n× {scale}\nunique_ip", justify="right")
    out.add_column("estimated\nhosts\n(90% interval)", justify="right")
    out.add_column("true\ninfected\nhosts", justify="right")
    out.add_column("true\nactive\nhosts", justify="right")
    for week in sorted(set(seen) | set(true)):
        e = est.get(week)
        estimate = (
            f"{e['hosts_est']:,.0f}\n({e['hosts_lo']:,.0f}–{e['hosts_hi']:,.0f})" if e else "—"
        )
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
            estimate,
            f"{t['hosts_infected']:,}" if t else "—",
            f"{active:,}" if active else "—",
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


def _cleanup(console: Console, result: CleanupResult, truth: pa.Table) -> None:
    """What `botcensus cleanup` says, beside the decay of the true active machines."""
    console.print("[bold]Clean-up[/] (botcensus cleanup): " + decay_sentence(result))
    first, last = result.weekly["window_start"][0], result.weekly["window_end"][-1]
    if result.fit is not None and first.is_valid:
        inside = pc.and_(
            pc.and_(
                pc.greater_equal(truth["week_ending"], first),
                pc.less_equal(truth["week_ending"], last),
            ),
            pc.equal(truth["days"], 7),
        )
        weeks = truth.filter(inside)
        true_fit = fit_decay(range(weeks.num_rows), weeks["hosts_active"].to_pylist())
        console.print(
            f"  True active machines over the same weeks: {true_fit.rate_per_week:.3f} per "
            f"week, half-life {true_fit.half_life_weeks:.1f} weeks."
        )
    by_country = [r for r in result.decay.to_pylist() if r["group"] is not None]
    top = sorted(by_country, key=lambda r: -(r["first_count"] or 0))[:5]
    rates = [
        f"{r['group']} {r['rate_per_week']:.3f} (half-life {r['half_life_weeks']:.1f} w)"
        for r in top
        if r["rate_per_week"] is not None
    ]
    if rates:
        console.print("  Per week, largest countries: " + ", ".join(rates))
    for mark in result.marks.to_pylist():
        before, after = mark["before_rate_per_week"], mark["after_rate_per_week"]
        if before is not None and after is not None:
            console.print(
                f"  {mark['label']} ({mark['mark']}): {before:.3f} per week before, "
                f"{after:.3f} after."
            )
    if result.survival is not None and result.survival.num_rows:
        overall = next((r for r in result.survival.to_pylist() if r["group"] is None), None)
        if overall is not None:
            median = overall["median_days"]
            shares = [
                f"{share:.0%} after {day} days"
                for day in (28, 56)
                if (share := overall[f"surviving_{day}d"]) is not None
            ]
            console.print(
                f"  Time to clean-up (Kaplan–Meier over {overall['identities']:,} followed "
                f"identities): still infected {', '.join(shares) or '(follow-up too short)'}; "
                "median " + (f"{median:.0f} days." if median is not None else "not reached.")
            )
    for note in result.notes[1:]:
        console.print(f"  note: {note}", highlight=False)

"""Run botcensus on one popgen population as its user would (the CLI, JSON output) and score
the answers against the population's truth."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from bench.popgen.driver import botcensus_command

from .score import (
    MIN_COUNTRY_ACTIVE,
    Score,
    score_decay,
    score_hazard,
    score_hosts,
    score_survival,
    truth_weeks,
)

WEEK_ENDS = "sun"


def _cli(*args: str, source: Path | None = None, notes: list[str] | None = None) -> Any:
    """Run `botcensus ARGS --format json` and return its JSON; a failure names the command.
    `source`: a src/ directory whose botcensus package the command runs instead of the
    installed one (an export of the frozen commit)."""
    command = [botcensus_command(), *args, "--format", "json"]
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    if notes is not None:
        notes += [line.removeprefix("note: ") for line in done.stderr.splitlines()
                  if line.startswith("note: ")]  # fmt: skip
    return json.loads(done.stdout)


def answers(dataset: Path, notified: Path | None, source: Path | None = None) -> dict[str, Any]:
    """What the CLI says about a dataset: weekly census with estimates (global, by country)
    and the clean-up of the host estimates (with the campaign, if any)."""
    data = ["--data", str(dataset)]
    week = ["--window", "week", "--week-ends", WEEK_ENDS, "--estimate"]
    clock = time.perf_counter()
    notes: list[str] = []
    out: dict[str, Any] = {
        "census": _cli("census", *data, *week, source=source, notes=notes),
        "census_country": _cli("census", *data, *week, "--by", "country", source=source),
        "notes": notes,
    }
    cleanup = ["cleanup", *data, "--count", "hosts", "--week-ends", WEEK_ENDS]
    if notified is not None:
        cleanup += ["--notified", str(notified)]
    out["cleanup"] = _cli(*cleanup, source=source)
    out["seconds"] = round(time.perf_counter() - clock, 1)
    return out


def evaluate(
    run_dir: Path,
    dataset: str = "dataset",
    source: Path | None = None,
    min_country: int = MIN_COUNTRY_ACTIVE,
) -> tuple[Score, dict[str, Any]]:
    """Score one generated and ingested population (`python -m bench.popgen run`), with the
    botcensus of `source` (a src/ directory; None: the installed one); countries with at
    least `min_country` true machines in a week are scored in it."""
    summary = json.loads((run_dir / "truth" / "summary.json").read_text())
    campaign = run_dir / "truth" / "campaign-notified.csv"
    told = summary["notification"]["enabled"] and campaign.exists()
    got = answers(run_dir / dataset, campaign if told else None, source)
    truth = truth_weeks(pq.read_table(run_dir / "truth" / "weekly.parquet").to_pylist(), WEEK_ENDS)
    score = Score(summary["preset"], int(summary["seed"]))
    score_hosts(score, truth, [*got["census"], *got["census_country"]], min_country)
    score_decay(score, truth, got["cleanup"])
    score_survival(score, summary, got["cleanup"])
    if told:
        score_hazard(score, summary, got["cleanup"])
    return score, got

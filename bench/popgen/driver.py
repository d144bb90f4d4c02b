"""Generate a population and ingest its reports with the real `botcensus ingest` CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .generate import Result, generate
from .params import Params

_TOTAL = re.compile(r"total: (\d+) rows read, (\d+) stored, (\d+) duplicate, (\d+) quarantined")


def botcensus_command() -> str:
    """The botcensus entry point of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "botcensus"
    if beside.exists():
        return str(beside)
    found = shutil.which("botcensus")
    if found is None:
        raise FileNotFoundError("no botcensus executable beside python or on PATH")
    return found


def ingest(files: list[Path], data: Path, botcensus: str | None = None) -> dict[str, Any]:
    """`botcensus ingest FILES --data DATA`; its exit status and the counts of its total line."""
    command = [botcensus or botcensus_command(), "ingest", *map(str, files), "--data", str(data)]
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - clock
    match = _TOTAL.search(done.stdout + done.stderr)
    counts = dict(zip(("read", "stored", "duplicate", "quarantined"),
                      (int(g) for g in match.groups()) if match else (), strict=False))  # fmt: skip
    return {
        "data": str(data),
        "files": len(files),
        "exit_status": done.returncode,
        "seconds": round(seconds, 1),
        **counts,
        "stderr_tail": done.stderr.strip().splitlines()[-5:],
    }


def run(params: Params, seed: int, out: Path, *, ids: bool = True, checkins: bool = True,
        botcensus: str | None = None) -> tuple[Result, dict[str, Any]]:  # fmt: skip
    """Generate into `out`, ingest out/reports into out/dataset and (with ids) out/reports-ids
    into out/dataset-ids; write out/ingest.json. `out` must be new or empty."""
    result = generate(params, seed, out, write_checkins=checkins)
    report: dict[str, Any] = {"dataset": ingest(result.reports, out / "dataset", botcensus)}
    if ids and result.id_reports:
        report["dataset-ids"] = ingest(result.id_reports, out / "dataset-ids", botcensus)
    (out / "ingest.json").write_text(json.dumps(report, indent=1) + "\n")
    return result, report


def ok(report: dict[str, Any]) -> bool:
    """Every ingest exited 0 and quarantined nothing."""
    return all(r["exit_status"] == 0 and r.get("quarantined") == 0 for r in report.values())

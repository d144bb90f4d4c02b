"""Render a clean-up result: terminal tables, a JSON document, the decay and survival charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from botcensus.measure.cleanup_run import CleanupResult
from botcensus.report import cleanup_charts
from botcensus.report.tables import print_table

MARK_COLUMNS = (
    "mark", "label", "before_weeks", "before_rate_per_week", "after_weeks",
    "after_rate_per_week", "rate_change", "change_lower", "change_upper", "step",
)  # fmt: skip


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def as_json(result: CleanupResult) -> dict[str, Any]:
    """The result as one JSON-ready document."""
    hazard = result.hazard
    return {
        "unit": result.unit,
        "source": result.source,
        "notes": list(result.notes),
        "decay": [{k: _plain(v) for k, v in r.items()} for r in result.decay.to_pylist()],
        "marks": [{k: _plain(v) for k, v in r.items()} for r in result.marks.to_pylist()],
        "survival": None
        if result.survival is None
        else [{k: _plain(v) for k, v in r.items()} for r in result.survival.to_pylist()],
        "hazard_ratio": None
        if hazard is None
        else {
            "hazard_ratio": hazard.hazard_ratio,
            "lower": hazard.lower,
            "upper": hazard.upper,
            "p_value": hazard.p_value,
            "identities": hazard.identities,
            "events": hazard.events,
            "clusters": hazard.clusters,
        },
    }


def print_cleanup(result: CleanupResult, console: Console) -> None:
    for note in result.notes:
        console.print(f"note: {note}")
    readable = cleanup_charts.readable
    print_table(
        readable(result.decay),
        f"Decay per week of {result.unit} (complete weeks); half-life in weeks and days",
        console,
    )
    if result.marks.num_rows:
        print_table(
            readable(result.marks.select(list(MARK_COLUMNS))),
            "Rate per week before and after each mark; step at the mark",
            console,
        )
    if result.survival is not None:
        print_table(readable(result.survival), "Time to clean-up (Kaplan–Meier, days)", console)
    if result.hazard is not None:
        h = result.hazard
        console.print(
            f"notification hazard ratio {h.hazard_ratio:.2f} [{h.lower:.2f}, {h.upper:.2f}] "
            f"p={h.p_value:.2g}, {h.identities} identities, {h.events} clean-ups, "
            f"{h.clusters} networks"
        )


def chart_pngs(
    result: CleanupResult, marks: Sequence[tuple[date, str]], *, title: str = ""
) -> dict[str, bytes]:
    """decay.png when some complete week has a count, survival.png when there are curves;
    file name -> PNG bytes. `title` prefixes the charts' titles."""

    def titled(text: str) -> str:
        return f"{title}: {text}" if title else text.capitalize()

    pngs = {}
    if any(v for v in result.weekly[result.unit].to_pylist()):  # a log axis needs a count
        fit = result.fit
        pngs["decay.png"] = cleanup_charts.decay_png(
            result.weekly,
            count=result.unit,
            rate_per_week=fit.rate_per_week if fit else None,
            intercept=fit.intercept if fit else None,
            marks=list(marks),
            title=titled("weekly count and fitted decay"),
        )
    if result.curves is not None and result.curves.num_rows:
        pngs["survival.png"] = cleanup_charts.survival_png(
            result.curves, title=titled("time to clean-up (Kaplan–Meier)")
        )
    return pngs


def write_charts(result: CleanupResult, out: Path, marks: Sequence[tuple[date, str]]) -> list[Path]:
    """decay.png and survival.png (each when there is something to draw) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in chart_pngs(result, marks).items():
        (out / name).write_bytes(png)
        written.append(out / name)
    return written

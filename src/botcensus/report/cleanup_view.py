"""Render a clean-up result: terminal tables, a JSON document, the decay and survival charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console

from botcensus.measure.cleanup import CleanupResult
from botcensus.measure.survival.curves import MIN_GROUP
from botcensus.report import cleanup_charts
from botcensus.report.cleanup_charts import number, week_bounds
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
        "decay_support": result.decay_support,
        "decay_reason": result.decay_reason,
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
        "notification_effect": None
        if result.effect is None
        else {
            "hazard_ratio": result.effect.value,
            "lower": result.effect.lower,
            "upper": result.effect.upper,
            "support": result.effect.support,
            "reason": result.effect.reason or None,
        },
    }


def print_cleanup(result: CleanupResult, console: Console) -> None:
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    readable = cleanup_charts.readable
    print_table(
        terminal_decay(result.decay),
        f"Decay per week of {result.unit} (complete weeks; 95% intervals; a – b?: a "
        "week's count not supported by these data, only its bounds; n.s. ≥ x?: the rate "
        "not supported, only a lower bound on it; ids: the rate of the machines with bot "
        "ids, the counts shown fall otherwise)",
        console,
    )
    if result.marks.num_rows:
        print_table(
            readable(result.marks.select(list(MARK_COLUMNS))),
            "Rate per week before and after each mark; step at the mark",
            console,
        )
    if result.survival is not None and not result.survival.num_rows:
        console.print(
            f"No time to clean-up: no group has {MIN_GROUP} identities followed.",
            markup=False,
            highlight=False,
        )
    elif result.survival is not None:
        print_table(
            terminal_survival(result.survival),
            "Time to clean-up (Kaplan–Meier; share not cleaned after 7, 28, 56 days; "
            "a–b?: only bounds supported)",
            console,
        )
    if result.hazard is not None:
        h = result.hazard
        console.print(
            f"notification hazard ratio, Cox on identities: {h.hazard_ratio:.2f} "
            f"[{h.lower:.2f}, {h.upper:.2f}] p={h.p_value:.2g}, {h.identities} identities, "
            f"{h.events} clean-ups, {h.clusters} networks" + cox_caveat(result),
            markup=False,
            highlight=False,
        )


def cox_caveat(result: CleanupResult) -> str:
    """What the printed Cox figure is where it is not the effect reported (cleanup.checks):
    empty where it is."""
    effect = result.effect
    if effect is None or effect.support in ("estimate", "identities"):
        return ""
    if effect.support == "bounds":
        return "; not supported by these data (see the note)"
    return "; set aside, not the effect reported (see the note)"


def _between(lo: float | None, hi: float | None) -> str | None:
    if lo is None or hi is None:
        return None
    return f"{number(lo)} – {number(hi)}"


def terminal_decay(decay: pa.Table) -> pa.Table:
    """The decay rows in the columns an 80-column terminal holds."""
    rows = decay.to_pylist()

    def fmt(v: float | None) -> str | None:
        return None if v is None else number(v)

    def level(r: dict[str, Any], name: str) -> str | None:
        """The week's count, or its bounds where the count's level is not supported."""
        bounds = week_bounds(r, name)
        if bounds is None:
            return fmt(r.get(f"{name}_count"))
        lo, hi = bounds
        if lo is None:
            return "n.s."  # not supported, and no bound to show
        if hi is None:
            return f"≥ {number(lo)}?"
        return f"{_between(lo, hi)}?"

    def rate(r: dict[str, Any]) -> str | None:
        if r.get("support") == "bounds":
            return "n.s."  # not supported by these data: slower than its addresses
        shown = fmt(r.get("rate_per_week"))
        # the machines with bot ids' decay, not that of the counts shown (cleanup.id_check)
        return f"{shown} ids" if shown is not None and r.get("id_reason") else shown

    def interval(r: dict[str, Any]) -> str | None:
        if r.get("support") == "bounds":
            lower = r.get("rate_lower")
            return "≥ ?" if lower is None else f"≥ {number(lower)}?"
        return _between(r.get("rate_lower"), r.get("rate_upper"))

    return pa.table(
        {
            "group": [r.get("group") or "all" for r in rows],
            "first": [level(r, "first") for r in rows],
            "last": [level(r, "last") for r in rows],
            "weeks": [r.get("weeks") for r in rows],
            "rate/week": [rate(r) for r in rows],
            "interval": [interval(r) for r in rows],
            "half-life (weeks)": [fmt(r.get("half_life_weeks")) for r in rows],
        }
    )


def terminal_survival(survival: pa.Table) -> pa.Table:
    """The survival summary in the columns an 80-column terminal holds."""
    rows = survival.to_pylist()

    def share(v: float | None) -> str | None:
        return None if v is None else f"{v:.0%}"

    def checked(r: dict[str, Any], day: int) -> str | None:
        """The share, or its bounds where the data support only bounds (cleanup.checks)."""
        value = r.get(f"surviving_{day}d")
        lo, hi = r.get(f"surviving_{day}d_lower"), r.get(f"surviving_{day}d_upper")
        if value is None and r.get(f"surviving_{day}d_support") == "bounds":
            return f"{lo:.0%}–{hi:.0%}?" if lo is not None and hi is not None else None
        return share(value)

    def median(r: dict[str, Any]) -> str | None:
        m = r.get("median_days")
        if m is None:
            return "not reached"
        lo, hi = r.get("median_lower"), r.get("median_upper")
        return (
            f"{m:.0f} ({'?' if lo is None else f'{lo:.0f}'}–{'?' if hi is None else f'{hi:.0f}'})"
        )

    return pa.table(
        {
            "group": [r.get("group") or "all" for r in rows],
            "identities": [r.get("identities") for r in rows],
            "cleaned": [r.get("cleaned") for r in rows],
            "median days": [median(r) for r in rows],
            "7 d": [share(r.get("surviving_7d")) for r in rows],
            "28 d": [checked(r, 28) for r in rows],
            "56 d": [checked(r, 56) for r in rows],
        }
    )


def write_charts(result: CleanupResult, out: Path, marks: Sequence[tuple[date, str]]) -> list[Path]:
    """decay.png and survival.png (each when there is something to draw) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in cleanup_charts.chart_pngs(result, marks).items():
        (out / name).write_bytes(png)
        written.append(out / name)
    return written

"""The demo's terminal output, rendered from a DemoResult (it computes nothing)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from botcensus.demo.results import DemoResult, Week
from botcensus.report.cleanup_html import decay_sentence
from botcensus.report.tables import print_table


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def week_cells(week: Week) -> tuple[str, ...]:
    """One row of the side-by-side table."""
    if week.hosts_lo is None or week.hosts_hi is None:
        estimate = "—"
    elif week.hosts_est is None:  # the data support no estimate: bounds only (hosts_support)
        estimate = f"not supported\n(bounds {week.hosts_lo:,.0f}–{week.hosts_hi:,.0f})"
    else:
        estimate = f"{week.hosts_est:,.0f}\n({week.hosts_lo:,.0f}–{week.hosts_hi:,.0f})"
    label = f"{week.week_ending}" + ("" if week.days == 7 else f" ({week.days} d)")
    return (
        label,
        _count(week.unique_ip),
        _count(week.published),
        estimate,
        _count(week.true_infected),
        _count(week.true_active or None),
    )


def side_by_side(result: DemoResult) -> Table:
    """Week by week: counted, published, estimated, true."""
    out = Table(
        title="Week by week: what the sinkhole counted, what Microsoft published, what "
        "botcensus estimates, what was true"
    )
    out.add_column("week ending", no_wrap=True)
    out.add_column("sinkhole\nunique_ip", justify="right")
    out.add_column(f"Microsoft\n× {result.scale}\nunique_ip", justify="right")
    out.add_column("estimated\nhosts\n(90% interval\nor bounds)", justify="right")
    out.add_column("true\ninfected\nhosts", justify="right")
    out.add_column("true\nactive\nhosts", justify="right")
    for week in result.weeks:
        out.add_row(*week_cells(week))
    return out


def countries(console: Console, result: DemoResult) -> None:
    """The top countries, and their change beside Microsoft's."""
    top = result.summary.countries.slice(0, 8)
    print_table(top, "Countries: first vs last complete week (unique_ip)", console)
    if result.changes:
        console.print(
            "Change, first to last complete week: "
            + ", ".join(
                f"{c.country} {c.measured:+.0%} (Microsoft: {c.published:+.0%})"
                for c in result.changes
            )
        )


def cleanup_lines(result: DemoResult) -> list[str]:
    """What `botcensus cleanup` says, beside the decay of the true active machines."""
    clean = result.cleanup
    lines = ["[bold]Clean-up[/] (botcensus cleanup): " + decay_sentence(clean)]
    if result.true_decay is not None:
        lines.append(
            f"  True active machines over the same weeks: {result.true_decay.rate_per_week:.3f} "
            f"per week, half-life {result.true_decay.half_life_weeks:.1f} weeks."
        )
    by_country = [r for r in clean.decay.to_pylist() if r["group"] is not None]
    top = sorted(by_country, key=lambda r: -(r["first_count"] or 0))[:5]
    rates = [
        f"{r['group']} {r['rate_per_week']:.3f} (half-life {r['half_life_weeks']:.1f} w)"
        for r in top
        if r["rate_per_week"] is not None
    ]
    if rates:
        lines.append("  Per week, largest countries: " + ", ".join(rates))
    for mark in clean.marks.to_pylist():
        before, after = mark["before_rate_per_week"], mark["after_rate_per_week"]
        if before is not None and after is not None:
            lines.append(
                f"  {mark['label']} ({mark['mark']}): {before:.3f} per week before, "
                f"{after:.3f} after."
            )
    overall = next(
        (r for r in (clean.survival.to_pylist() if clean.survival else []) if r["group"] is None),
        None,
    )
    if overall is not None:
        median = overall["median_days"]
        shares = [
            f"{share:.0%} after {day} days"
            for day in (28, 56)
            if (share := overall[f"surviving_{day}d"]) is not None
        ]
        lines.append(
            f"  Time to clean-up (Kaplan–Meier over {overall['identities']:,} followed "
            f"identities): still infected {', '.join(shares) or '(follow-up too short)'}; "
            "median " + (f"{median:.0f} days." if median is not None else "not reached.")
        )
    lines += [f"  note: {note}" for note in clean.notes[1:]]
    return lines


_UNSUPPORTED = "host estimates not supported by these data in "


def unsupported_line(result: DemoResult) -> str | None:
    """Why some weeks show bounds instead of an estimate, from the census's own note (its
    reason, without the list of countries), or None where every week has an estimate."""
    if all(w.hosts_est is not None or w.hosts_lo is None for w in result.weeks):
        return None
    for note in result.census.notes:
        if note.startswith(_UNSUPPORTED):
            reason = note[len(_UNSUPPORTED) :].split(": ", 1)[-1]
            reason = reason.split("; hosts_est left empty")[0]
            peak = max((w.true_active or 0 for w in result.weeks), default=0)
            return (
                f"Host estimates not supported by these data: {reason} (at most {peak:,} "
                "machines active in a week, spread over many countries; docs/measurement.md, "
                "Support)."
            )
    return None


def print_result(console: Console, result: DemoResult) -> None:
    console.print(side_by_side(result))
    why = unsupported_line(result)
    if why:
        console.print(why, highlight=False)
    countries(console, result)
    for line in cleanup_lines(result):
        console.print(line, highlight=False)

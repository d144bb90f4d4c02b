"""The report's clean-up sections: decay rate and half-life, rates around marks and time to
clean-up, as HTML fragments around the charts (renders a CleanupResult, computes nothing)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping

import pyarrow as pa

from botcensus.measure.cleanup import CleanupResult
from botcensus.measure.cleanup.address_check import overall
from botcensus.measure.survival.curves import MIN_GROUP
from botcensus.report.cleanup_charts import number, week_bounds
from botcensus.report.html import image_html, table_html

UNIT_TEXT: dict[str, str] = {
    "unique_ip": "distinct source addresses per complete week",
    "unique_ip_hll": "distinct source addresses per complete week, estimated from HyperLogLog "
    "sketches (raw sightings of part of the range have expired)",
    "hosts": "estimated infected machines per complete week (census --estimate)",
}
CLEANED_RULE = (
    "An identity (the bot id where the protocol carries one, else the address, followed only "
    "in networks where an address is one machine) counts as <b>cleaned</b> at its last "
    "sighting when the silence since is longer than 99% of the silences its network's "
    "(ASN's) hosts came back from; otherwise it is censored there (alive then, fate "
    "unknown). The renumbering those networks still do is taken out as a competing exit. "
    "Time is in days since the range's first day (--from, else the first day of data). "
    "The rule and where it fails: "
    "docs/measurement.md, “Survival: time to clean-up”."
)


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return number(value).replace("-", "−")


def _bounds(lower: float | None, upper: float | None) -> str:
    if lower is None or upper is None or math.isnan(lower) or math.isnan(upper):
        return ""
    return f" [{_num(lower)}, {_num(upper)}]"


def _level(row: dict[str, object], name: str) -> str:
    """A week's count, or only its bounds where the data do not support its level."""
    bounds = week_bounds(row, name)
    if bounds is None:
        count = row.get(f"{name}_count")
        return _num(float(count) if isinstance(count, int | float) else None)
    lo, hi = bounds
    if lo is None:
        return "not supported"
    if hi is None:
        return f"not supported; at least {_num(lo)}"
    return f"not supported; between {_num(lo)} and {_num(hi)}"


def decay_sentence(result: CleanupResult) -> str:
    """The overall decay rate, its interval and the half-life, as one plain sentence."""
    fit = result.fit
    if result.decay_support == "bounds":
        rows = result.decay.to_pylist()
        lower = next((r.get("rate_lower") for r in rows if r.get("group") is None), None)
        floor = (
            f"; the machines fall at least {_num(lower)} per week (the weekly distinct "
            "addresses' rate)"
            if lower is not None
            else ""
        )
        return f"Decay of {result.unit} not supported by these data: {result.decay_reason}{floor}."
    if fit is None:
        why = result.decay_reason or f"{result.weekly.num_rows} complete weeks"
        return f"No decay rate: {why}."
    interval = f"{fit.level:.0%} interval {_num(fit.lower)} to {_num(fit.upper)}"
    top = overall(result.decay) or {}
    # the rate of the machines counted by bot id where it replaced the model's (id_check)
    of = f"{result.unit}, from the machines with bot ids," if top.get("id_reason") else result.unit
    head = (
        f"Decay rate {_num(fit.rate_per_week)} per week ({interval}) of {of} over "
        f"{fit.weeks} complete weeks"
    )
    if fit.rate_per_week <= 0:
        return f"{head}: the count did not shrink, so there is no half-life."
    short, long = fit.half_life_interval_weeks
    spread = f"; {_num(short)} to {_num(long)} weeks"
    return (
        f"{head}: half-life {_num(fit.half_life_weeks)} weeks ({_num(fit.half_life_days)} days"
        f"{spread}), {fit.weekly_decline:.1%} fewer each week."
    )


def _decay_table(decay: pa.Table, unit: str, top: int) -> str:
    if not decay.num_rows or "rate_per_week" not in decay.column_names:
        return ""
    rows = decay.to_pylist()
    overall = [r for r in rows if r["group"] is None]
    groups = [r for r in rows if r["group"] is not None]
    shown = [
        {
            "group": "all" if r["group"] is None else r["group"],
            "weeks": r["weeks"],
            f"first week ({unit})": _level(r, "first"),
            f"last week ({unit})": _level(r, "last"),
            "rate per week [interval]": (
                f"not supported; at least {_num(r['rate_lower'])}"
                if r.get("support") == "bounds"
                else _num(r["rate_per_week"]) + _bounds(r["rate_lower"], r["rate_upper"])
            ),
            "half-life (weeks)": _num(r["half_life_weeks"]),
            "half-life (days)": _num(r["half_life_days"]),
        }
        for r in overall + groups[:top]
    ]
    table = pa.Table.from_pylist(shown)
    note = (
        f"<p>Overall, then the {min(top, len(groups))} groups largest in their first week; "
        "a group with fewer than 20 in its first week or under three weeks has no rate.</p>"
        if groups
        else ""
    )
    return note + table_html(table, numeric=table.column_names[2:])


def _marks_table(marks: pa.Table) -> str:
    if not marks.num_rows:
        return ""
    shown = [
        {
            "mark": r["mark"],
            "label": r["label"],
            "weeks before": r["before_weeks"],
            "rate before": _num(r["before_rate_per_week"])
            + _bounds(r["before_rate_lower"], r["before_rate_upper"]),
            "weeks after": r["after_weeks"],
            "rate after": _num(r["after_rate_per_week"])
            + _bounds(r["after_rate_lower"], r["after_rate_upper"]),
            "change [interval]": _num(r["rate_change"])
            + _bounds(r["change_lower"], r["change_upper"]),
            "step at the mark": "—" if r["step"] is None else f"{r['step']:+.1%}",
        }
        for r in marks.to_pylist()
    ]
    table = pa.Table.from_pylist(shown)
    return (
        "<p>Rate per week before and after each mark (the week containing a mark belongs to "
        "neither side), and the step in level at the mark.</p>"
        + table_html(table, numeric=table.column_names[3:])
    )


def _follow_up(curves: pa.Table | None) -> dict[str | None, float]:
    if curves is None or not curves.num_rows:
        return {}
    last = curves.group_by("group").aggregate([("time", "max")])
    return dict(zip(last["group"].to_pylist(), last["time_max"].to_pylist(), strict=True))


def _survival_table(result: CleanupResult, top: int) -> str:
    summary = result.survival
    if summary is None:
        return "<p>No survival curves: they follow identities in raw sightings.</p>"
    if not summary.num_rows:
        return f"<p>No survival curves: no group has {MIN_GROUP} identities.</p>"
    follow = _follow_up(result.curves)
    days = [c for c in summary.column_names if re.fullmatch(r"surviving_\d+d", c)]
    rows = summary.to_pylist()
    overall = [r for r in rows if r["group"] is None]
    shown = []
    for r in overall + [r for r in rows if r["group"] is not None][:top]:
        median = (
            "not reached"
            if r["median_days"] is None
            else _num(r["median_days"]) + _bounds(r["median_lower"], r["median_upper"])
        )
        row: dict[str, object] = {
            "group": "all" if r["group"] is None else r["group"],
            "identities": r["identities"],
            "cleaned": r["cleaned"],
            "median days to clean-up [interval]": median,
        }
        for column in days:
            day = int(column.removeprefix("surviving_").removesuffix("d"))
            seen = follow.get(r["group"], math.inf) >= day  # no share past the curve's end
            row[f"not cleaned after {day} days"] = _share(r, column) if seen else "—"
        shown.append(row)
    table = pa.Table.from_pylist(shown)
    return table_html(table, numeric=table.column_names[3:])


def _share(row: Mapping[str, object], column: str) -> str:
    """A share still infected; where the data support only bounds (measure.cleanup.checks),
    the bounds."""
    value, lower, upper = row[column], row.get(f"{column}_lower"), row.get(f"{column}_upper")
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(lower, float) and isinstance(upper, float):
        return f"{lower:.0%}–{upper:.0%} (bounds)"
    return "—"


def cleanup_sections(
    result: CleanupResult, pngs: Mapping[str, bytes], *, top: int = 10
) -> list[tuple[str, str]]:
    """(heading, HTML) sections: decay with its chart, then survival with its chart."""
    unit = UNIT_TEXT.get(result.unit, result.unit)
    notes = "; ".join(html.escape(n) for n in result.notes)
    decay = [
        f"<p>Counts: <code>{html.escape(result.unit)}</code>, {html.escape(unit)}. "
        f'<span class="unit">{notes}</span></p>'
    ]
    if "decay.png" in pngs:
        decay.append(image_html(pngs["decay.png"], "weekly count on a log scale, fitted decay"))
    decay.append(f"<p><b>{html.escape(decay_sentence(result))}</b></p>")
    decay.append(_decay_table(result.decay, result.unit, top))
    decay.append(_marks_table(result.marks))
    survival = [f"<p>{CLEANED_RULE}</p>"]
    if "survival.png" in pngs:
        survival.append(image_html(pngs["survival.png"], "Kaplan–Meier curves per group"))
    survival.append(_survival_table(result, top))
    if result.hazard is not None:
        h = result.hazard
        survival.append(
            f"<p>Notification hazard ratio {h.hazard_ratio:.2f} [{h.lower:.2f}, {h.upper:.2f}], "
            f"p = {h.p_value:.2g}: {h.identities:,} identities, {h.events:,} clean-ups"
            + (f", {h.clusters:,} networks." if h.clusters else ".")
            + {
                "bounds": " Not supported by these data as the effect (see the notes).",
                "decay": " Set aside: not the effect reported (see the notes).",
            }.get(result.effect.support if result.effect is not None else "", "")
            + "</p>"
        )
    return [
        ("Clean-up: decay rate and half-life", "\n".join(p for p in decay if p)),
        ("Time to clean-up (survival)", "\n".join(survival)),
    ]


def cleanup_missing(reason: str) -> list[tuple[str, str]]:
    """The section that says why there are no clean-up charts."""
    return [("Clean-up", f"<p>Decay and survival not shown: {html.escape(reason)}</p>")]

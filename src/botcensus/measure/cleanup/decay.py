"""Clean-up speed from weekly counts: the exponential decay rate per week with its interval
and the half-life, globally and per group, and the rate before and after intervention marks.

Model: the weekly count of group g in week t is N(t) = N0 · exp(−λ t), fitted as a Poisson
log-linear model (IRLS) with over-dispersion φ = max(1, Pearson χ² / (n − 2)); the interval
of λ is λ ± t(n−2) · √φ · se. λ is a *rate per week* (positive: shrinking); the half-life is
ln 2 / λ weeks. The counts are whatever the census counted (unit `unique_ip`, or
`unique_ip_hll` from sketches): with a steady ratio of addresses to machines the rate of
addresses is the rate of machines, the level is not (see docs/measurement.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import stats  # type: ignore[import-untyped]

from botcensus.measure.cleanup.bend import Bend, fit_bend
from botcensus.measure.cleanup.poisson import poisson_fit

F64 = npt.NDArray[np.float64]
LN2 = math.log(2.0)


RATE_NOISE: Final = 1e-9
"""A fitted rate smaller than this per week is zero: flat counts gave -4.68e-17."""


@dataclass(frozen=True, slots=True)
class DecayFit:
    """An exponential decay fitted to counts at `weeks` points."""

    rate_per_week: float
    """λ in N(t) = N0·exp(−λ t), t in weeks; positive when the count shrinks."""
    lower: float
    upper: float
    """Interval of λ at `level` (nan with fewer than three points)."""
    level: float
    intercept: float
    """log N at t = 0 (the fit's time origin)."""
    se: float
    """Standard error of λ, inflated by √dispersion."""
    dispersion: float
    weeks: int

    @property
    def half_life_weeks(self) -> float:
        """ln 2 / λ; inf when the count does not shrink."""
        return LN2 / self.rate_per_week if self.rate_per_week > 0 else math.inf

    @property
    def half_life_days(self) -> float:
        return 7.0 * self.half_life_weeks

    @property
    def half_life_interval_weeks(self) -> tuple[float, float]:
        """Half-lives at the upper and lower ends of λ's interval (shortest first)."""
        lo = LN2 / self.upper if self.upper > 0 else math.inf
        hi = LN2 / self.lower if self.lower > 0 else math.inf
        return lo, hi

    @property
    def weekly_decline(self) -> float:
        """Share of the count lost per week, 1 − exp(−λ)."""
        return 1.0 - math.exp(-self.rate_per_week)


def fit_decay(
    times: Sequence[float] | F64, counts: Sequence[float] | F64, level: float = 0.95
) -> DecayFit:
    """Fit N(t) = exp(a − λ t) to counts at times (in weeks). Needs two points with counts."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(counts, dtype=np.float64)
    if len(t) != len(y) or len(t) < 2 or np.any(y < 0) or y.sum() <= 0:
        raise ValueError("need at least two non-negative counts, not all zero, at distinct times")
    x = np.column_stack([np.ones_like(t), t])
    positive = y > 0
    beta = np.polyfit(t[positive], np.log(y[positive]), 1)[::-1] if positive.sum() >= 2 else None
    if beta is None:
        beta = np.array([math.log(y.mean()), 0.0])
    fit = poisson_fit(x, y, beta)
    n = len(y)
    dispersion = fit.dispersion(y) if n > 2 else 1.0
    se = float(math.sqrt(np.linalg.inv(fit.info)[1, 1] * dispersion))
    rate = -float(fit.beta[1])
    if abs(rate) < RATE_NOISE:  # counts that do not move: the solver's rounding, not a rate
        rate = 0.0
    if n > 2:
        half = float(stats.t.ppf(0.5 + level / 2, n - 2)) * se
        lower, upper = rate - half, rate + half
    else:
        lower = upper = math.nan
    return DecayFit(rate, lower, upper, level, float(fit.beta[0]), se, dispersion, n)


def decay_rate(weekly_counts: Sequence[float] | F64, level: float = 0.95) -> DecayFit:
    """The decay of consecutive weekly counts (week 0, 1, 2, …): what the accuracy harness
    calls with 8 weeks of a census."""
    counts = np.asarray(weekly_counts, dtype=np.float64)
    return fit_decay(np.arange(len(counts), dtype=np.float64), counts, level)


def complete_weeks(weekly: pa.Table, first_day: date, last_day: date) -> pa.Table:
    """Only the windows whose days all lie in first_day..last_day (a takedown on a Wednesday
    makes a partial first week that would read as a slower decay)."""
    starts = weekly["window_start"].to_pylist()
    ends = weekly["window_end"].to_pylist()
    keep = [first_day <= s and e <= last_day for s, e in zip(starts, ends, strict=True)]
    return weekly.filter(pa.array(keep, pa.bool_()))


def _weeks_since(starts: Sequence[date], origin: date) -> F64:
    """Window midpoints in weeks after `origin` (a 7-day window's middle is day 3.5)."""
    return np.array([((s - origin).days + 3.5) / 7.0 for s in starts], dtype=np.float64)


def _row(fit: DecayFit | None, prefix: str = "") -> dict[str, object]:
    if fit is None:
        keys = ("rate_per_week", "rate_lower", "rate_upper", "half_life_weeks", "half_life_days")
        return {f"{prefix}{k}": None for k in keys} | {f"{prefix}weeks": 0}
    return {
        f"{prefix}weeks": fit.weeks,
        f"{prefix}rate_per_week": fit.rate_per_week,
        f"{prefix}rate_lower": fit.lower,
        f"{prefix}rate_upper": fit.upper,
        f"{prefix}half_life_weeks": fit.half_life_weeks,
        f"{prefix}half_life_days": fit.half_life_days,
    }


def rows_table(rows: Sequence[Mapping[str, object]]) -> pa.Table:
    """Rows of dicts as a table whose columns are every key any row has (null where a row
    lacks one), in first-seen order: checks add columns to some rows only."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    return pa.Table.from_pylist([{k: row.get(k) for k in names} for row in rows])


def decay_table(
    weekly: pa.Table,
    *,
    count: str = "unique_ip",
    group: str | None = None,
    min_count: float = 20.0,
    level: float = 0.95,
) -> pa.Table:
    """One row per group (one row overall when `group` is None): weeks fitted, first and last
    week's count, λ per week with its interval, half-life in weeks and days. Groups whose
    first week has fewer than `min_count` or with fewer than three weeks are listed with null
    rates and `no_rate_reason` saying which: their interval would say nothing. `weekly` is a
    census table (window_start, the group column, `count`); missing weeks of a group count as
    zero. Host estimates (`hosts_support`) add `first_support`/`last_support` with
    `first_lower`.. `last_upper`: a week with only bounds has a count whose level the data do
    not support; and `bend`, `bend_se`, `bends`, whether the log count bends
    (cleanup.bend: then the decay's share still infected is not the first infections'), and
    `bend_sensitive`, whether that test could see a bend of BEND (a share from the decay
    alone needs it to)."""
    starts = sorted(set(weekly["window_start"].to_pylist()))
    if not starts:
        return pa.table({"group": pa.array([], pa.string())})
    origin = starts[0]
    keys = weekly[group].to_pylist() if group else [None] * weekly.num_rows
    values: dict[object, F64] = {}
    index = {s: i for i, s in enumerate(starts)}
    for key, start, value in zip(
        keys, weekly["window_start"].to_pylist(), weekly[count].to_pylist(), strict=True
    ):
        values.setdefault(key, np.zeros(len(starts)))[index[start]] += value or 0.0
    bounds = _bounds_weeks(weekly, keys, index) if count == "hosts" else None
    rows = []
    times = _weeks_since(starts, origin)
    for key, series in values.items():
        row: dict[str, object] = {"group": None if key is None else str(key)}
        row |= {"first_count": float(series[0]), "last_count": float(series[-1])}
        if bounds is not None:
            row |= _level(bounds, key, 0, "first") | _level(bounds, key, len(starts) - 1, "last")
        why = no_rate(series, min_count)
        row |= _row(fit_decay(times, series, level) if why is None else None)
        if count == "hosts":
            row |= _bend(fit_bend(times, series) if why is None else None)
        rows.append(row | {"no_rate_reason": why})
    rows.sort(key=lambda r: -float(r["first_count"]))  # type: ignore[arg-type]
    return pa.Table.from_pylist(rows)


def _bend(bend: Bend | None) -> dict[str, object]:
    if bend is None:
        return {"bend": None, "bend_se": None, "bends": None, "bend_sensitive": None}
    return {
        "bend": bend.curvature,
        "bend_se": bend.se,
        "bends": bend.bends,
        "bend_sensitive": bend.sensitive,
    }


def no_rate(series: F64, min_count: float) -> str | None:
    """Why a group's weekly counts get no rate (None where they get one): a kind, then its
    figures in brackets (cleanup.run counts the groups by kind)."""
    if len(series) < 3:
        return f"too few weeks ({len(series)} to fit; a rate needs three)"
    if series.sum() <= 0:
        return "no count in any week"
    if series[0] < min_count:
        return f"first week too small ({series[0]:g}; a rate needs {min_count:g})"
    return None


_Bounds = dict[tuple[object, int], tuple[float, float]]


def _bounds_weeks(weekly: pa.Table, keys: list[object], index: dict[date, int]) -> _Bounds | None:
    """Where the counts are host estimates (`hosts_support`, hosts.answer): the bounds of
    each (group, week) any of whose rows is only bounds, summed over its rows; None for
    counts that are counts (addresses)."""
    names = ("hosts_support", "hosts_lo", "hosts_hi")
    if any(n not in weekly.column_names for n in names):
        return None
    columns = (weekly[n].to_pylist() for n in ("window_start", *names))
    summed: dict[tuple[object, int], list[float]] = {}
    for key, start, support, lo, hi in zip(keys, *columns, strict=True):
        cell = summed.setdefault((key, index[start]), [0.0, 0.0, 0.0])
        cell[0] += lo or 0.0
        cell[1] += math.inf if hi is None else hi  # no upper end: none for the sum
        cell[2] += support == "bounds"
    return {k: (lo, hi) for k, (lo, hi, n_bounds) in summed.items() if n_bounds}


def _level(bounds: _Bounds, key: object, week: int, name: str) -> dict[str, object]:
    """`{name}_support`: estimate, or bounds where the week's count is only the model's
    figure inside `{name}_lower`..`{name}_upper` (its level is not supported by the data)."""
    got = bounds.get((key, week))
    if got is None:
        return {f"{name}_support": "estimate", f"{name}_lower": None, f"{name}_upper": None}
    return {f"{name}_support": "bounds", f"{name}_lower": got[0], f"{name}_upper": got[1]}


@dataclass(frozen=True, slots=True)
class Mark:
    """An intervention: a removal-tool release, a notification campaign."""

    day: date
    label: str


def parse_marks(text: str) -> list[Mark]:
    """Marks from text: one `YYYY-MM-DD label…` (or `YYYY-MM-DD,label`) per line; blank
    lines and `#` comments are skipped. Raises ValueError naming the bad line."""
    marks = []
    for number, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        head, _, label = body.replace(",", " ", 1).partition(" ")
        try:
            marks.append(Mark(date.fromisoformat(head), label.strip() or head))
        except ValueError:
            raise ValueError(f"marks line {number}: {line!r} does not start with a date") from None
    return sorted(marks, key=lambda m: m.day)


def mark_effects(
    weekly: pa.Table,
    marks: Sequence[Mark],
    *,
    count: str = "unique_ip",
    level: float = 0.95,
) -> pa.Table:
    """For each mark: λ fitted on the weeks before it (since the previous mark) and on the
    weeks after it (until the next), both with intervals; their difference with its interval;
    and the step, exp(level after − level before) − 1 at the mark (a removal tool cleaning
    many hosts in a day shows as a step more than as a change of rate). A week containing a
    mark belongs to neither side. `weekly` holds one row per window (no group column)."""
    starts = weekly["window_start"].to_pylist()
    counts = np.asarray([v or 0.0 for v in weekly[count].to_pylist()], dtype=np.float64)
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    bounds = [date.min, *(m.day for m in marks), date.max]
    for i, mark in enumerate(marks):
        before = [
            j for j, s in enumerate(starts) if bounds[i] <= s and s + timedelta(days=6) < mark.day
        ]
        after = [j for j, s in enumerate(starts) if mark.day <= s < bounds[i + 2]]
        fits: list[DecayFit | None] = []
        for part in (before, after):
            t = _weeks_since([starts[j] for j in part], mark.day)
            ok = len(part) >= 2 and counts[part].sum() > 0
            fits.append(fit_decay(t, counts[part], level) if ok else None)
        row: dict[str, object] = {"mark": mark.day, "label": mark.label}
        row |= _row(fits[0], "before_") | _row(fits[1], "after_")
        if fits[0] is not None and fits[1] is not None:
            diff = fits[1].rate_per_week - fits[0].rate_per_week
            half = z * math.hypot(fits[0].se, fits[1].se)
            row |= {"rate_change": diff, "change_lower": diff - half, "change_upper": diff + half}
            row["step"] = math.exp(fits[1].intercept - fits[0].intercept) - 1.0
        else:
            row |= {"rate_change": None, "change_lower": None, "change_upper": None, "step": None}
        rows.append(row)
    return pa.Table.from_pylist(rows)

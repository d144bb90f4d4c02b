"""Score botcensus's answers on one popgen population against its truth (pure: values in,
figures out). The answers are what `botcensus census --estimate` and `botcensus cleanup`
print as JSON; the truth is the generator's truth/ directory."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botcensus.measure.cleanup import decay_rate

MIN_COUNTRY_ACTIVE = 300
"""Countries scored per week: at least this many truly active machines (8,000-machine
presets have 4-10 countries of 300-1,600)."""

Key = tuple[date, str | None]
"""(week end, country or None for the global row)."""


@dataclass
class Scored:
    """One (week, scope) compared: the truth, the estimate (None: not supported) and its
    interval (the bounds given where no estimate is)."""

    week_end: date
    cc: str | None
    days: int
    active: int
    est: float | None
    lo: float | None
    hi: float | None
    support: str

    @property
    def error(self) -> float | None:
        return None if self.est is None else self.est / self.active - 1

    @property
    def inside(self) -> bool | None:
        if self.lo is None or self.hi is None:
            return None
        return self.lo <= self.active <= self.hi


@dataclass
class Score:
    """Every figure of one population."""

    preset: str
    seed: int
    rows: list[Scored] = field(default_factory=list)
    raw_ip: float | None = None
    decay_true: float | None = None
    decay_est: float | None = None
    decay_weeks: int = 0
    decay_note: str | None = None
    decay_support: str | None = None
    """`estimate`, or `bounds` where the decay of hosts was not supported (then decay_est is
    None and decay_lower the lower bound on the rate: cleanup.address_check)."""
    decay_lower: float | None = None
    decay_interval: list[float] | None = None
    """Where the decay is an estimate: its interval (`rate_lower`, `rate_upper`)."""
    surv_true: dict[str, float] = field(default_factory=dict)
    surv_est: dict[str, float | None] = field(default_factory=dict)
    surv_bounds: dict[str, list[float | None]] = field(default_factory=dict)
    surv_support: dict[str, str] = field(default_factory=dict)
    hr_true: float | None = None
    hr_est: float | None = None
    hr_interval: list[float] | None = None
    hr_note: str | None = None
    hr_support: str | None = None
    notes: list[str] = field(default_factory=list)

    def errors(self, scope: str) -> list[float]:
        chosen = (r for r in self.rows if (r.cc is None) == (scope == "global"))
        return [abs(e) for r in chosen if (e := r.error) is not None]

    def median_error(self, scope: str) -> float | None:
        errors = self.errors(scope)
        return statistics.median(errors) if errors else None

    def coverage(self) -> tuple[int, int]:
        """(inside, checked) over rows with an estimate and an interval."""
        checked = [r.inside for r in self.rows if r.est is not None and r.inside is not None]
        return sum(bool(x) for x in checked), len(checked)

    def unsupported(self) -> tuple[int, int, int]:
        """(rows without an estimate, of them with bounds holding the truth, rows)."""
        none = [r for r in self.rows if r.est is None]
        return len(none), sum(bool(r.inside) for r in none), len(self.rows)

    def decay_error(self) -> float | None:
        if self.decay_true is None or self.decay_est is None or self.decay_true == 0:
            return None
        return abs(self.decay_est / self.decay_true - 1)

    def decay_bound_holds(self) -> bool | None:
        """Where the decay was not supported: does its lower bound hold the true rate?"""
        if self.decay_est is not None or self.decay_true is None or self.decay_lower is None:
            return None
        return self.decay_true >= self.decay_lower

    def decay_interval_holds(self) -> bool | None:
        """Where the decay is an estimate with an interval: does it hold the true rate?"""
        if self.decay_est is None or self.decay_true is None or self.decay_interval is None:
            return None
        low, high = self.decay_interval
        return low <= self.decay_true <= high

    def hr_error(self) -> float | None:
        if self.hr_true is None or self.hr_est is None:
            return None
        return abs(self.hr_est - self.hr_true)

    def as_dict(self) -> dict[str, Any]:
        inside, checked = self.coverage()
        none, none_inside, total = self.unsupported()
        return {
            "preset": self.preset,
            "seed": self.seed,
            "raw_ip": self.raw_ip,
            "median_error_global": self.median_error("global"),
            "median_error_country": self.median_error("country"),
            "inside": inside,
            "checked": checked,
            "not_supported": none,
            "not_supported_bounds_hold": none_inside,
            "rows": total,
            "decay_true": self.decay_true,
            "decay_est": self.decay_est,
            "decay_error": self.decay_error(),
            "decay_weeks": self.decay_weeks,
            "decay_note": self.decay_note,
            "decay_support": self.decay_support,
            "decay_lower": self.decay_lower,
            "decay_bound_holds": self.decay_bound_holds(),
            "decay_interval": self.decay_interval,
            "decay_interval_holds": self.decay_interval_holds(),
            "surv_true": self.surv_true,
            "surv_est": self.surv_est,
            "surv_bounds": self.surv_bounds,
            "surv_support": self.surv_support,
            "hr_true": self.hr_true,
            "hr_est": self.hr_est,
            "hr_interval": self.hr_interval,
            "hr_error": self.hr_error(),
            "hr_note": self.hr_note,
            "hr_support": self.hr_support,
            "notes": self.notes,
            "weeks": [
                {
                    "week_end": r.week_end.isoformat(),
                    "cc": r.cc,
                    "days": r.days,
                    "active": r.active,
                    "est": r.est,
                    "lo": r.lo,
                    "hi": r.hi,
                    "support": r.support,
                }
                for r in self.rows
            ],
        }


def truth_weeks(weekly: Iterable[Mapping[str, Any]], week_ends: str) -> dict[Key, tuple[int, int]]:
    """(week end, country or None) -> (active machines, days of the week in the window)."""
    out: dict[Key, tuple[int, int]] = {}
    for r in weekly:
        if r["week_ends"] != week_ends or r["scope"] not in ("global", "country"):
            continue
        cc = None if r["scope"] == "global" else str(r["cc"])
        out[(_day(r["week_end"]), cc)] = (int(r["active"]), int(r["days_in_window"]))
    return out


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def score_hosts(
    score: Score,
    truth: Mapping[Key, tuple[int, int]],
    census_rows: Sequence[Mapping[str, Any]],
    min_country: int = MIN_COUNTRY_ACTIVE,
) -> None:
    """Compare census rows (global rows have no `country`) with the truth; a country's rows
    where it has at least `min_country` true active machines."""
    raw: list[float] = []
    for row in census_rows:
        key = (_day(row["window_end"]), row.get("country"))
        if key not in truth:
            continue
        active, days = truth[key]
        if active < (1 if key[1] is None else min_country):
            continue
        support = str(row.get("hosts_support") or "model")
        est = row.get("hosts_est")
        score.rows.append(
            Scored(
                key[0], key[1], days, active, est, row.get("hosts_lo"), row.get("hosts_hi"), support
            )
        )
        if key[1] is None:
            raw.append(abs(row["unique_ip"] / active - 1))
    score.raw_ip = statistics.median(raw) if raw else None


def score_decay(
    score: Score, truth: Mapping[Key, tuple[int, int]], cleanup: Mapping[str, Any]
) -> None:
    """The decay rate `cleanup --count hosts` fitted (overall row) against the same fit over
    the true active machines of the complete weeks. A decay not supported by the data (row
    `support` bounds: no rate, `rate_lower` a lower bound) is scored as such: no error, and
    whether the lower bound holds the true rate."""
    overall = next((r for r in cleanup.get("decay", []) if r.get("group") is None), None)
    weeks = sorted(k[0] for k, (_, days) in truth.items() if k[1] is None and days == 7)
    unsupported = overall is not None and overall.get("support") == "bounds"
    if overall is None or (overall.get("rate_per_week") is None and not unsupported):
        score.decay_note = "no decay rate"
        return
    score.decay_weeks = int(overall.get("weeks") or 0)
    if len(weeks) != score.decay_weeks:
        score.notes.append(f"decay fitted on {score.decay_weeks} weeks, truth has {len(weeks)}")
    score.decay_true = decay_rate([truth[(w, None)][0] for w in weeks]).rate_per_week
    if unsupported:
        score.decay_support = "bounds"
        lower = overall.get("rate_lower")
        score.decay_lower = None if lower is None else float(lower)
        score.decay_note = "not supported: " + str(overall.get("support_reason") or "")
        return
    score.decay_support = str(overall.get("support") or "estimate")
    score.decay_est = float(overall["rate_per_week"])
    low, high = overall.get("rate_lower"), overall.get("rate_upper")
    if low is not None and high is not None:
        score.decay_interval = [float(low), float(high)]


def score_survival(score: Score, summary: Mapping[str, Any], cleanup: Mapping[str, Any]) -> None:
    """Share still infected after 28 and 56 days: the overall Kaplan-Meier row against the
    truth (machines infected at the window's start, first episode)."""
    true = summary["survival"]
    score.surv_true = {"28": true["still_infected_28d"], "56": true["still_infected_56d"]}
    rows = cleanup.get("survival") or []
    overall = next((r for r in rows if r.get("group") is None), None)
    if overall is None:
        score.surv_support = {"28": "none", "56": "none"}
        return
    for d in ("28", "56"):
        score.surv_est[d] = overall.get(f"surviving_{d}d")
        score.surv_bounds[d] = [overall.get(f"surviving_{d}d_lower"),
                                overall.get(f"surviving_{d}d_upper")]  # fmt: skip
        score.surv_support[d] = str(overall.get(f"surviving_{d}d_support") or "identities")


def score_hazard(score: Score, summary: Mapping[str, Any], cleanup: Mapping[str, Any]) -> None:
    """The notification hazard ratio against the perfect observer's Cox fit on the truth."""
    score.hr_true = (summary.get("notification") or {}).get("perfect_observer_hr")
    hazard = cleanup.get("notification_effect") or cleanup.get("hazard_ratio")
    if hazard is not None:
        score.hr_est = hazard.get("hazard_ratio")
        score.hr_interval = [hazard.get("lower"), hazard.get("upper")]
        score.hr_support = hazard.get("support")
    notes = [n for n in cleanup.get("notes", []) if "notification" in n]
    score.hr_note = notes[0] if notes else None

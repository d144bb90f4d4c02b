"""Post hoc, not in the estimator: the weekly host estimates of a scored population with a
household factor that shrinks as machines are cleaned (docs/measurement.md, "Tenth held-out
set"). `python -m bench.heldout household RESULTS...`.

Households of geometric size whose machines are cleaned one by one keep 1 + (m0 - 1) s
machines per infected line when a share s of the machines is left; in terms of the lines
left, x = L / L0, that is m = 1 / (1 - (1 - 1/m0) x). The estimator applies one constant,
hosts.model.HOUSEHOLD, to every week. Here each week's estimate and interval are scaled by
m / HOUSEHOLD, x being the week's global estimate over that of the first full week (at most
1; a partial week takes the x of the nearest full week). The scores must come from code
whose estimates carry the constant HOUSEHOLD below (commits up to cbd58f3).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from botcensus.measure.hosts.model import household_at

HOUSEHOLD = 1.25
"""The constant machines per address-day of every week in hosts.model up to commit cbd58f3
(the scores this rescales; the estimator has since applied the shrinking factor itself)."""

M0 = 1.375
"""Machines per infected line in the first full week: the development truth (family A
seeds 1-3: 1.364-1.393; infected machines not yet cleaned over distinct households)."""


@dataclass(frozen=True)
class Rescaled:
    """One scored row (score.weeks: week_end, cc, days, active, est, lo, hi), rescaled."""

    week_end: str
    cc: str | None
    active: float
    est: float
    lo: float
    hi: float


def lines_left(weeks: Sequence[dict[str, Any]]) -> dict[str, float]:
    """week_end -> x, from the global rows with an estimate (empty without a full week)."""
    rows = sorted((w for w in weeks if w["cc"] is None and w["est"]), key=lambda w: w["week_end"])
    full = [w for w in rows if w["days"] == 7]
    if not full:
        return {}
    anchor = full[0]["est"]

    def distance(a: dict[str, Any], b: dict[str, Any]) -> int:
        return abs((date.fromisoformat(a["week_end"]) - date.fromisoformat(b["week_end"])).days)

    out = {}
    for w in rows:
        near = w if w["days"] == 7 else min(full, key=lambda f: distance(f, w))
        out[w["week_end"]] = min(near["est"] / anchor, 1.0)
    return out


def per_line(x: float, m0: float = M0) -> float:
    """Machines per infected line with a share x of the first full week's lines left."""
    return household_at(x, m0)


def rescale(weeks: Sequence[dict[str, Any]], m0: float = M0) -> list[Rescaled]:
    """Every row with an estimate in a week with an x, scaled by per_line(x) / HOUSEHOLD."""
    xs = lines_left(weeks)
    out = []
    for w in weeks:
        if not w["est"] or w["week_end"] not in xs:
            continue
        f = per_line(xs[w["week_end"]], m0) / HOUSEHOLD
        out.append(Rescaled(w["week_end"], w["cc"], w["active"], w["est"] * f, w["lo"] * f,
                            w["hi"] * f))  # fmt: skip
    return out


def summary(weeks: Sequence[dict[str, Any]], m0: float = M0) -> dict[str, Any]:
    """Median error (global rows, country rows) and coverage, as scored and rescaled."""
    scored = [
        Rescaled(w["week_end"], w["cc"], w["active"], w["est"], w["lo"], w["hi"])
        for w in weeks
        if w["est"]
    ]
    out: dict[str, Any] = {}
    for name, rows in (("scored", scored), ("rescaled", rescale(weeks, m0))):
        errors = {
            scope: [
                abs(r.est / r.active - 1) for r in rows if (r.cc is None) == (scope == "global")
            ]
            for scope in ("global", "country")
        }
        out[name] = {
            "error_global": statistics.median(errors["global"]) if errors["global"] else None,
            "error_country": statistics.median(errors["country"]) if errors["country"] else None,
            "inside": sum(r.lo <= r.active <= r.hi for r in rows),
            "checked": len(rows),
        }
    return out


def lines(results: Sequence[dict[str, Any]], m0: float = M0) -> list[str]:
    """One line per scored population with weekly rows: error and coverage, as scored and
    rescaled."""
    out = []
    for res in results:
        if not res.get("weeks") or not any(w["est"] for w in res["weeks"]):
            continue
        s = summary(res["weeks"], m0)

        def cell(d: dict[str, Any]) -> str:
            g, c = d["error_global"], d["error_country"]
            return (
                f"global {'-' if g is None else f'{g:.1%}'}, country "
                f"{'-' if c is None else f'{c:.1%}'}, coverage {d['inside']}/{d['checked']}"
            )

        out.append(
            f"{res['population']} s{res['seed']} {res['dataset']}: "
            f"{cell(s['scored'])} -> {cell(s['rescaled'])}"
        )
    return out

"""Time to clean-up: Kaplan–Meier curves per group from survival rows (see
survival/silence.py for when an identity counts as cleaned), with late entry.

Time is in days since `origin` (the takedown, or --from). An identity enters when first
seen (identities first seen after the origin are at risk only from then: late entry, so
addresses that appear later do not inflate the early risk sets) and leaves at the end of
its last day seen: as an event when cleaned, censored otherwise. The curve is the product
of (1 − d/n) over event times; its interval is Greenwood's variance on the log(−log S)
scale (lifelines' default), so bounds stay inside [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

F64 = npt.NDArray[np.float64]
KM_COLUMNS = (
    "time", "at_risk", "events", "censored", "competing", "survival", "lower", "upper",
)  # fmt: skip


def kaplan_meier(
    durations: Sequence[float] | F64,
    events: Sequence[bool] | npt.NDArray[np.bool_],
    entry: Sequence[float] | F64 | None = None,
    level: float = 0.95,
    competing: Sequence[float] | F64 | None = None,
) -> pa.Table:
    """One row per distinct exit time: subjects at risk just before it (entered before it and
    not yet gone), events, censorings, the events taken as competing exits (below), S(t) and
    its pointwise interval.

    `competing`: per subject, a rate per unit of time of exits that look like events but are
    not (an address renumbered away from its still-infected machine). The exits those rates
    predict between two exit times (each subject's rate times its time at risk there) are
    taken off that interval's events in the cumulative hazard, Σ (d − e) / n, kept
    non-decreasing (no interval is clamped on its own: with few subjects most intervals have
    no event, and clamping each at zero would keep too many): the curve is then of the event
    alone (independent risks)."""
    t = np.asarray(durations, dtype=np.float64)
    e = np.asarray(events, dtype=bool)
    start = np.zeros_like(t) if entry is None else np.asarray(entry, dtype=np.float64)
    if len(t) != len(e) or len(t) != len(start):
        raise ValueError("durations, events and entry must have the same length")
    if np.any(start >= t):
        raise ValueError("every subject must enter before it leaves (entry < duration)")
    times = np.unique(t)
    entered = np.searchsorted(np.sort(start), times, side="left")  # entry < time
    left = np.searchsorted(np.sort(t), times, side="left")  # gone before time
    at_risk = (entered - left).astype(np.float64)
    d = np.bincount(np.searchsorted(times, t[e]), minlength=len(times)).astype(np.float64)
    c = np.bincount(np.searchsorted(times, t[~e]), minlength=len(times)).astype(np.float64)
    seen = d
    if competing is not None:
        expected = _competing_exits(times, start, t, competing)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(at_risk > 0, (d - expected) / at_risk, 0.0)
        cumulative = np.maximum.accumulate(np.maximum(np.cumsum(step), 0.0))
        d = np.diff(cumulative, prepend=0.0) * at_risk
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, d / at_risk, 0.0)
        survival = np.cumprod(1.0 - hazard)
        terms = np.where((at_risk > d) & (at_risk > 0), d / (at_risk * (at_risk - d)), 0.0)
        greenwood = np.cumsum(terms)
        z = _z(level)
        log_s = np.log(survival)
        width = z * np.sqrt(greenwood) / np.abs(log_s)
        lower = np.where(survival > 0, survival ** np.exp(width), 0.0)
        upper = np.where(survival > 0, survival ** np.exp(-width), 0.0)
    exact = (greenwood == 0) | (survival >= 1.0)
    lower = np.where(exact & (survival >= 1.0), 1.0, np.nan_to_num(lower, nan=1.0))
    upper = np.where(exact & (survival >= 1.0), 1.0, np.nan_to_num(upper, nan=1.0))
    return pa.table(
        {
            "time": times,
            "at_risk": at_risk.astype(np.int64),
            "events": seen.astype(np.int64),
            "censored": c.astype(np.int64),
            "competing": seen - d,
            "survival": survival,
            "lower": lower,
            "upper": upper,
        }
    )


def _competing_exits(times: F64, start: F64, stop: F64, rates: Sequence[float] | F64) -> F64:
    """Per exit time: the competing exits expected since the previous exit time (the first:
    since the first entry), Σ r_i × the time subject i was at risk in that interval."""
    r = np.asarray(rates, dtype=np.float64)
    if len(r) != len(start):
        raise ValueError("competing rates must have one value per subject")
    # R(s) = Σ r_i [start_i < s <= stop_i] is a step function; F(t) = ∫ R is read at each
    # exit time from its change points.
    points = np.concatenate([start, stop])
    order = np.argsort(points, kind="stable")
    points, deltas = points[order], np.concatenate([r, -r])[order]
    level = np.cumsum(deltas)  # R just after each change point
    area = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(points))])  # F at each point
    at = np.searchsorted(points, times, side="right") - 1
    integral = area[at] + level[at] * (times - points[at])
    previous = np.concatenate([[0.0], integral[:-1]])
    out: F64 = np.maximum(integral - previous, 0.0)
    return out


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def durations(rows: pa.Table, origin: date) -> tuple[F64, npt.NDArray[np.bool_], F64]:
    """(duration, cleaned, entry) in days since `origin` from survival rows: entry at the
    start of the first day seen, exit at the end of the last day seen.

    An identity is called cleaned only after a silence longer than its threshold, so one
    cleaned in the last threshold + 1 up-days of the data is never called so: it is censored at
    its last sighting while those still infected are censored at the end, and the curve's
    tail would read too high (censoring that depends on the outcome). So every identity
    still uncalled at the end is censored at its horizon instead: the end of the last day
    a clean-up can still be called on (more than `threshold` days of silence must follow
    it: `horizon_cut`), which without outages is the end of the data less threshold + 1
    days; the curve ends there. Up to the thirty-seventh held-out set the horizon was a day
    later (a day at risk in which no clean-up could be seen), and counted in calendar days
    where silences count up-days; the Cox fit did not censor at the horizon at all
    (survival.cox.landmark_rows). Rows whose horizon comes before they enter get a
    duration at or before their entry (left out by curves_by_group)."""
    first = np.array([(d - origin).days for d in rows["first_day"].to_pylist()], np.float64)
    last = np.array([(d - origin).days for d in rows["last_day"].to_pylist()], np.float64)
    cleaned = np.asarray(rows["cleaned"].to_numpy(zero_copy_only=False), dtype=bool)
    return last + 1.0 - horizon_cut(rows), cleaned, first


def horizon_cut(rows: pa.Table) -> F64:
    """Days to take off each survival row's exit (the end of its last day seen) to censor
    it at its horizon (`durations`), for an identity not called cleaned whose silence at
    the end is no longer than its threshold; else 0. Its horizon is the end of the last
    up-day a clean-up could still be called on (column `horizon`, survival.silence): a
    silence of `threshold` up-days after a last sighting is not yet a clean-up. Silences
    count up-days, so where outage days fall after that day, counting them back from the
    last sighting instead would leave the identity at risk too long. Rows without
    `horizon` take threshold − silence + 1 (no outages); rows without `silence` and
    `threshold` get 0."""
    if not {"silence", "threshold"} <= set(rows.column_names):
        return np.zeros(rows.num_rows, np.float64)
    cleaned = np.asarray(rows["cleaned"].to_numpy(zero_copy_only=False), dtype=bool)
    silence = np.asarray(rows["silence"].to_numpy(zero_copy_only=False), np.float64)
    threshold = np.asarray(rows["threshold"].to_numpy(zero_copy_only=False), np.float64)
    short = ~cleaned & (silence <= threshold)
    if "horizon" in rows.column_names:
        last = pc.cast(rows["last_day"], pa.date32()).cast(pa.int32())
        horizon = pc.cast(rows["horizon"], pa.date32()).cast(pa.int32())
        back = pc.subtract(last, horizon).to_numpy(zero_copy_only=False)
        return np.where(short, np.asarray(back, np.float64), 0.0)
    return np.where(short, threshold - silence + 1.0, 0.0)


def median_time(curve: pa.Table) -> tuple[float | None, float | None, float | None]:
    """Median time to clean-up (first time S ≤ 0.5) with the interval read off the bounds
    (first time upper ≤ 0.5, first time lower ≤ 0.5); None where not reached."""

    def first_below(column: str) -> float | None:
        values = curve[column].to_numpy()
        hit = np.flatnonzero(values <= 0.5)
        return float(curve["time"][int(hit[0])].as_py()) if len(hit) else None

    return first_below("survival"), first_below("lower"), first_below("upper")


def survival_at(curve: pa.Table, day: float, column: str = "survival") -> float | None:
    """S(day) (or its `lower` or `upper` bound): the curve's value at the last time ≤ day
    (1 before the first event); None past the curve's last time (the follow-up ended
    before that day)."""
    times = curve["time"].to_numpy()
    if len(times) == 0 or day > float(times[-1]):
        return None
    i = int(np.searchsorted(times, day, side="right")) - 1
    return 1.0 if i < 0 else float(curve[column][i].as_py())


def one_infection(rows: pa.Table) -> pa.Table:
    """Survival rows read the other way where an identity came back after a silence longer
    than its threshold (survival.silence, rule 4): one infection going on to its last
    sighting, cleaned only if the silence after that is longer than the threshold."""
    if "returned" not in rows.column_names:
        return rows
    returned = rows["returned"]
    last = pc.if_else(returned, rows["seen_last"], rows["last_day"])
    silence = pc.if_else(returned, rows["silence_last"], rows["silence"])
    cleaned = pc.if_else(returned, pc.greater(rows["silence_last"], rows["threshold"]),
                         rows["cleaned"])  # fmt: skip
    for name, column in (("last_day", last), ("silence", silence), ("cleaned", cleaned)):
        rows = rows.set_column(rows.column_names.index(name), name, column)
    return rows


MIN_GROUP: Final = 20
"""The fewest identities a group needs for a Kaplan–Meier curve of its own."""
MIN_AT_RISK: Final = 10
"""The fewest identities at risk the curve's last time needs: the times after the last one
with as many are cut (the curve ends there; later days are read from the decay, cleanup.
checks). A curve's tail rests on the few identities followed that far, and where they all
fall silent at once it drops to 0 (1 of 3 at risk left is as likely). Added after the
thirty-ninth held-out set: c-office over 35 days with ids (seed 1084) followed 468
identities to day 31 (0.74 still infected) and 3 to day 32, all three then silent: the share
still infected read 0 at day 32, the median time to clean-up 32 days [32, 32] and, the decay
going on from that end, 0.0 [0, 0] after 56 days for a true 0.63."""


def curves_by_group(
    rows: pa.Table,
    origin: date,
    group: str | None,
    *,
    level: float = 0.95,
    min_size: int = MIN_GROUP,
) -> pa.Table:
    """Kaplan–Meier curves, one block of KM_COLUMNS per group (column `group`; null overall),
    for groups of at least `min_size` identities.

    Where identities came back after a silence longer than their threshold (column
    `returned`: read as cleaned and reinfected), the upper end of the interval is also that
    of the curve that reads them as one infection going on (`one_infection`): a machine
    switched off as long looks the same."""
    keys = rows[group].to_pylist() if group else [None] * rows.num_rows
    dur, event, entry = durations(rows, origin)
    rates = (
        np.asarray(rows["renumbering"].to_numpy(zero_copy_only=False), np.float64)
        if "renumbering" in rows.column_names
        else None
    )
    other = None
    if "returned" in rows.column_names and pc.any(rows["returned"]).as_py():
        other = durations(one_infection(rows), origin)
    blocks = []
    inside = dur > entry
    for key in sorted(set(keys), key=lambda k: (k is None, str(k))):
        mask = np.array([k == key for k in keys]) if group else np.ones(len(keys), bool)
        mask &= inside
        if mask.sum() < min_size:
            continue
        curve = kaplan_meier(
            dur[mask], event[mask], entry[mask], level, None if rates is None else rates[mask]
        )
        if other is not None:
            curve = _widened(curve, other, mask, level, rates)
        curve = _cut_tail(curve, min(MIN_AT_RISK, min_size))
        label = pa.array([None if key is None else str(key)] * curve.num_rows, pa.string())
        blocks.append(curve.add_column(0, "group", label))
    if not blocks:
        return pa.table({"group": pa.array([], pa.string())})
    return pa.concat_tables(blocks)


def _cut_tail(curve: pa.Table, least: int = MIN_AT_RISK) -> pa.Table:
    """`curve` without the times after its last one with at least `least` identities at risk
    (MIN_AT_RISK; where no time has as many, late entry keeping each risk set small, the
    most any time has: the group keeps a curve). Only the tail: with late entry an early
    time may have few at risk, and cutting there would leave the curve's start at 1. The
    identities that leave in the cut tail are counted as censored at the last time kept
    (followed to there; a count of identities stays whole), none of their exits as a
    clean-up on the curve (the summary's `silent` and `cleaned` are the curve's)."""
    risk = curve["at_risk"].to_numpy()
    if len(risk) == 0:
        return curve
    keep = int(np.flatnonzero(risk >= min(least, int(risk.max())))[-1]) + 1
    if keep == curve.num_rows:
        return curve
    censored = curve["censored"].to_numpy()[:keep].copy()
    censored[-1] += int(
        curve["events"].to_numpy()[keep:].sum() + curve["censored"].to_numpy()[keep:].sum()
    )
    column = pa.array(censored, curve.schema.field("censored").type)
    return curve.slice(0, keep).set_column(curve.column_names.index("censored"), "censored", column)


def _widened(
    curve: pa.Table,
    other: tuple[F64, npt.NDArray[np.bool_], F64],
    mask: npt.NDArray[np.bool_],
    level: float,
    rates: F64 | None,
) -> pa.Table:
    """`curve` with its upper end raised to that of the curve of the same identities read as
    one infection going on (`other`: their durations, events and entries), at each time, and
    that curve's value as column `ongoing`."""
    dur, event, entry = other
    keep = mask & (dur > entry)
    if not keep.any():
        return curve.append_column("ongoing", curve["survival"])
    alt = kaplan_meier(
        dur[keep], event[keep], entry[keep], level, None if rates is None else rates[keep]
    )
    times = curve["time"].to_numpy()
    at = np.searchsorted(alt["time"].to_numpy(), times, side="right") - 1

    def read(column: str) -> F64:
        return np.where(at >= 0, alt[column].to_numpy()[np.maximum(at, 0)], 1.0)

    upper = np.maximum(curve["upper"].to_numpy(), read("upper"))
    curve = curve.set_column(curve.column_names.index("upper"), "upper", pa.array(upper))
    return curve.append_column("ongoing", pa.array(read("survival")))


def survival_summary(curves: pa.Table, days: Sequence[int] = (7, 28, 56)) -> pa.Table:
    """Per group: identities, those that fell silent for good on the curve (`silent`; the
    curve ends where fewer than MIN_AT_RISK remain at risk, `_cut_tail`), the clean-ups among
    them once renumbered addresses are taken out (`cleaned`), median days to clean-up with
    its interval, and the share still infected after each of `days` with its pointwise
    interval (None past the curve's end); where bot ids came back after a long silence
    (curves_by_group), also the share read as one infection going on
    (`surviving_Nd_ongoing`); and the curve's last time (`followed_days`) with the share
    then (`surviving_end`, its interval and its other reading), from which the decay goes
    on (cleanup.checks)."""
    out = []
    for key in pc.unique(curves["group"]).to_pylist():
        curve = curves.filter(
            pc.is_null(curves["group"]) if key is None else pc.equal(curves["group"], key)
        )
        median, lo, hi = median_time(curve)
        row: dict[str, object] = {
            "group": key,
            "identities": int(pc.sum(curve["events"]).as_py() or 0)
            + int(pc.sum(curve["censored"]).as_py() or 0),
            "silent": int(pc.sum(curve["events"]).as_py() or 0),
            "cleaned": round(
                float(pc.sum(curve["events"]).as_py() or 0)
                - float(pc.sum(curve["competing"]).as_py() or 0)
            ),
            "median_days": median,
            "median_lower": lo,
            "median_upper": hi,
        }
        end = float(curve["time"][-1].as_py()) if curve.num_rows else None
        row["followed_days"] = end
        for d, name in [(d, f"{d}d") for d in days] + [(end, "end")]:
            if d is None:
                continue
            row[f"surviving_{name}"] = survival_at(curve, d)
            row[f"surviving_{name}_lower"] = survival_at(curve, d, "lower")
            row[f"surviving_{name}_upper"] = survival_at(curve, d, "upper")
            if "ongoing" in curve.column_names:  # bot ids that came back: survival.silence
                row[f"surviving_{name}_ongoing"] = survival_at(curve, d, "ongoing")
        out.append(row)
    out.sort(key=lambda r: -int(r["identities"]))  # type: ignore[call-overload]
    return pa.Table.from_pylist(out)

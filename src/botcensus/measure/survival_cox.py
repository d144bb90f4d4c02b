"""Notification effect: the hazard ratio of clean-up for notified hosts or networks against a
hold-out group, from a Cox proportional-hazards model (lifelines).

Design: a landmark at each group's notification day D. Identities of notified and hold-out
groups still seen on or after D enter the analysis at D (or when first seen, if later);
time runs in days from D to the end of the last day seen; an event is a clean-up under the
silence rule (survival_silence.py). The one covariate is `notified`; with networks notified
(ASN or country), the variance is the robust sandwich clustered by network, since hosts of
one network share address churn and whoever cleans them up. HR > 1: notified hosts are
cleaned faster.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from typing import Final

import duckdb
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa
from lifelines import CoxPHFitter  # type: ignore[import-untyped]

from botcensus.measure.survival_networks import stable_networks
from botcensus.measure.survival_silence import DEFAULT_RULE, SilenceRule, survival_rows

KEYS: Final = ("asn", "cc", "identity")
"""Columns a notification table may key on: networks by ASN or country, or single hosts."""


@dataclass(frozen=True, slots=True)
class HazardRatio:
    """exp(β) of `notified` in a Cox model, with its interval."""

    hazard_ratio: float
    lower: float
    upper: float
    level: float
    p_value: float
    identities: int
    events: int
    notified: int
    holdout: int
    clusters: int
    """Networks the variance is clustered by (0: hosts notified one by one)."""


def landmark_rows(rows: pa.Table, notified: pa.Table) -> pd.DataFrame:
    """Survival rows joined to the notification table (key column, `notified`, `day`), with
    entry, duration and event counted from each row's notification day; rows of groups not in
    the table, and identities last seen before their group's notification, are left out."""
    key = next((k for k in KEYS if k in notified.column_names), None)
    if key is None or not {"notified", "day"} <= set(notified.column_names):
        raise ValueError(f"notification table needs one of {KEYS}, 'notified' and 'day'")
    plan = notified.select([key, "notified", "day"]).rename_columns([key, "notified", "notify_day"])
    joined = rows.join(plan, key, join_type="inner", use_threads=False)
    frame = joined.select(
        [key, "first_day", "last_day", "cleaned", "notified", "notify_day"]
    ).to_pandas()
    frame = frame[frame["last_day"] >= frame["notify_day"]].copy()
    delta = pd.to_timedelta(1, unit="D")
    start = frame[["first_day", "notify_day"]].max(axis=1)
    frame["entry"] = (pd.to_datetime(start) - pd.to_datetime(frame["notify_day"])) / delta
    last = pd.to_datetime(frame["last_day"]) - pd.to_datetime(frame["notify_day"])
    frame["duration"] = last / delta + 1.0
    frame["event"] = frame["cleaned"].astype(int)
    frame["notified"] = frame["notified"].astype(int)
    frame["cluster"] = frame[key].astype(str)
    return frame.reset_index(drop=True)


def cox_notified(frame: pd.DataFrame, *, clustered: bool, level: float = 0.95) -> HazardRatio:
    """Fit the Cox model on landmark rows (entry, duration, event, notified[, cluster])."""
    arms = frame["notified"].value_counts()
    if len(arms) < 2 or frame["event"].sum() == 0:
        raise ValueError("need notified and hold-out identities and at least one clean-up")
    columns = ["entry", "duration", "event", "notified"] + (["cluster"] if clustered else [])
    fitter = CoxPHFitter(alpha=1.0 - level)
    with warnings.catch_warnings():
        # lifelines warns about late entry being a strong assumption; that is the design here.
        warnings.simplefilter("ignore")
        fitter.fit(
            frame[columns],
            duration_col="duration",
            event_col="event",
            entry_col="entry",
            cluster_col="cluster" if clustered else None,
        )
    summary = fitter.summary.loc["notified"]
    lower_col = next(c for c in summary.index if c.startswith("exp(coef) lower"))
    upper_col = next(c for c in summary.index if c.startswith("exp(coef) upper"))
    return HazardRatio(
        hazard_ratio=float(summary["exp(coef)"]),
        lower=float(summary[lower_col]),
        upper=float(summary[upper_col]),
        level=level,
        p_value=float(summary["p"]),
        identities=len(frame),
        events=int(frame["event"].sum()),
        notified=int(arms.get(1, 0)),
        holdout=int(arms.get(0, 0)),
        clusters=int(frame["cluster"].nunique()) if clustered else 0,
    )


def notification_hr(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    notified: pa.Table,
    *,
    first: date | None = None,
    last: date | None = None,
    family: str | None = None,
    outages: list[date] | None = None,
    rule: SilenceRule = DEFAULT_RULE,
    level: float = 0.95,
) -> HazardRatio:
    """The hazard ratio of clean-up, notified vs hold-out, over a sightings relation."""
    if first is None or last is None:
        span = con.sql(f"SELECT min(day), max(day) FROM {relation}").fetchall()[0]  # noqa: S608
        first, last = first or span[0], last or span[1]
    if first is None or last is None:
        raise ValueError(f"{relation} has no sightings")
    networks = stable_networks(con, relation, first=first, last=last, family=family)
    rows, _ = survival_rows(
        con, relation, first=first, last=last, family=family, outages=outages, rule=rule,
        networks=networks,
    )  # fmt: skip
    frame = landmark_rows(rows, notified)
    return cox_notified(frame, clustered="identity" not in notified.column_names, level=level)


def notification_hazard_ratio(
    sightings: pa.Table,
    notified_groups: pa.Table,
    *,
    rule: SilenceRule = DEFAULT_RULE,
    level: float = 0.95,
) -> HazardRatio:
    """The accuracy harness's entry point: daily sightings (SIGHTING_SCHEMA, enriched with
    source_asn / source_cc) and a notification table (asn | cc | identity, notified, day)."""
    con = duckdb.connect()
    con.register("hr_sightings", sightings)
    try:
        return notification_hr(con, "hr_sightings", notified_groups, rule=rule, level=level)
    finally:
        con.close()

"""Notification effect: the hazard ratio of clean-up for notified hosts or networks against a
hold-out group, from a Cox proportional-hazards model (lifelines).

Design: a landmark at each group's notification day D. Identities of notified and hold-out
groups still seen on or after D enter the analysis at D (or when first seen, if later);
time runs in days from D to the end of the last day seen; an event is a clean-up under the
silence rule (survival/silence.py). The one covariate is `notified`; with networks notified
(ASN or country), the variance is the robust sandwich clustered by network, since hosts of
one network share address churn and whoever cleans them up, and its interval takes
Student's t with G - 1 degrees of freedom for G networks (the usual small-sample rule for a
variance clustered on few groups), not the normal. Unless countries are what was
notified, the model is stratified by country (a baseline hazard of its own per country):
clean-up speed differs between countries far more than any campaign's effect, and a random
draw of networks seldom balances them (a country whose big networks all fell in the
hold-out would otherwise pass for the campaign failing); countries with identities in only
one arm are left out of it (they cannot contrast the arms), and where none is left, or the
interval spans more than MAX_SPAN, no ratio is reported (a ratio of 1.00 with an interval of
0.0001 to 10,000 says nothing). Only identities that last are used (survival.networks).
HR > 1: notified hosts are cleaned faster.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Final

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa

from botcensus.measure.survival.curves import horizon_cut
from botcensus.measure.survival.networks import stable_networks
from botcensus.measure.survival.silence import DEFAULT_RULE, SilenceRule, survival_rows
from botcensus.store.db import connect

F64 = npt.NDArray[np.float64]
KEYS: Final = ("asn", "cc", "identity")
"""Columns a notification table may key on: networks by ASN or country, or single hosts."""
MAX_SPAN: Final = 100.0
"""A hazard ratio whose interval spans more than this factor is not reported: the model did
not identify it (no contrast left, or too few clean-ups)."""
LOG_LIMIT: Final = 6.907755278982137
"""A log hazard ratio beyond log(1,000) is a fit that did not converge (separation), not
the effect of telling a network."""
COMPETING_BUCKET: Final = 7.0
"""Days of follow-up over which exits and expected renumberings are set against each other."""


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
    the table, and identities last seen before their group's notification, are left out.

    An identity not called cleaned is censored at its horizon, as on the curves
    (survival.curves.durations): a clean-up in the last threshold + 1 up-days of the data
    is never called one, so an identity at risk there cannot have an event. Where the arms'
    networks have different thresholds, keeping every identity at risk to its last
    sighting reads the arm with the longer threshold as cleaning up more slowly, the more
    so the shorter the follow-up after the campaign (popgen b-harsh with ids over 28 days,
    told on day 14, seed 793: 0.36 [0.12, 1.14] against a perfect observer's 1.48; told
    clean-ups were seen up to 4 days after the campaign, held-out ones up to 7). Rows
    whose horizon is at or before their entry are left out."""
    key = next((k for k in KEYS if k in notified.column_names), None)
    if key is None or not {"notified", "day"} <= set(notified.column_names):
        raise ValueError(f"notification table needs one of {KEYS}, 'notified' and 'day'")
    plan = notified.select([key, "notified", "day"]).rename_columns([key, "notified", "notify_day"])
    rows = rows.append_column("cut", pa.array(horizon_cut(rows), pa.float64()))
    joined = rows.join(plan, key, join_type="inner", use_threads=False)
    wanted = [
        key, "cc", "first_day", "last_day", "cleaned", "renumbering", "notified", "notify_day",
        "cut",
    ]  # fmt: skip
    frame = joined.select([c for c in dict.fromkeys(wanted) if c in joined.column_names])
    frame = frame.to_pandas()
    frame = frame[frame["last_day"] >= frame["notify_day"]].copy()
    delta = pd.to_timedelta(1, unit="D")
    start = frame[["first_day", "notify_day"]].max(axis=1)
    frame["entry"] = (pd.to_datetime(start) - pd.to_datetime(frame["notify_day"])) / delta
    last = pd.to_datetime(frame["last_day"]) - pd.to_datetime(frame["notify_day"])
    frame["duration"] = last / delta + 1.0 - frame["cut"]
    frame = frame[frame["duration"] > frame["entry"]].drop(columns="cut")
    frame["event"] = frame["cleaned"].astype(int)
    frame["notified"] = frame["notified"].astype(int)
    frame["cluster"] = frame[key].astype(str)
    has_cc = key != "cc" and "cc" in frame.columns
    frame["stratum"] = frame["cc"].fillna("").astype(str) if has_cc else ""
    if "renumbering" not in frame.columns:
        frame["renumbering"] = 0.0
    return frame.reset_index(drop=True)


def split_competing(frame: pd.DataFrame, bucket_days: float = COMPETING_BUCKET) -> pd.DataFrame:
    """Landmark rows with a `weight`: where addresses are renumbered (rate `renumbering` per
    day), some silences that read as clean-ups are renumberings. Each exit becomes a
    clean-up of weight p and a censoring of weight 1 − p, where p is the share of exits that
    are clean-ups in its cell (stratum, arm, `bucket_days` of follow-up) under a fitted
    piecewise-exponential model (`_cleanup_share`): never the raw (d − e) / d of a small cell,
    which clamps at zero unevenly between the arms. Rows keep `subject`, their row number
    before the split, to cluster the variance on. Without renumbering every row has
    weight 1."""
    out = frame.assign(weight=1.0, subject=np.arange(len(frame)))
    if "renumbering" not in out.columns:
        return out
    rates = out["renumbering"].to_numpy(dtype=np.float64)
    if not np.any(rates > 0):
        return out
    entry = out["entry"].to_numpy(dtype=np.float64)
    stop = out["duration"].to_numpy(dtype=np.float64)
    bucket = np.floor(np.maximum(stop - 1e-9, 0.0) / bucket_days).astype(np.int64)
    edges = np.arange(int(bucket.max()) + 2, dtype=np.float64) * bucket_days
    # Days at risk of each row in each bucket (rows x buckets).
    lo = np.maximum(entry[:, None], edges[None, :-1])
    hi = np.minimum(stop[:, None], edges[None, 1:])
    days = np.clip(hi - lo, 0.0, None)
    stratum = out["stratum"] if "stratum" in out.columns else pd.Series("", index=out.index)
    codes, _ = pd.factorize(stratum.astype(str))
    arm = out["notified"].to_numpy().astype(np.int64)
    events = out["event"].to_numpy() == 1
    n_s, n_b = int(codes.max()) + 1, len(edges) - 1
    cell = (codes * 2 + arm)[:, None] * n_b + np.arange(n_b)[None, :]  # rows x buckets
    size = n_s * 2 * n_b
    exposure = np.bincount(cell.ravel(), weights=days.ravel(), minlength=size).astype(np.float64)
    expected = np.bincount(
        cell.ravel(), weights=(days * rates[:, None]).ravel(), minlength=size
    ).astype(np.float64)
    exit_cell = (codes * 2 + arm) * n_b + bucket
    seen = np.bincount(exit_cell[events], minlength=size).astype(np.float64)
    share_by_cell = _cleanup_share(
        seen.reshape(n_s, 2, n_b), exposure.reshape(n_s, 2, n_b), expected.reshape(n_s, 2, n_b)
    ).ravel()
    share = share_by_cell[exit_cell[events]]
    exits = out[events]
    cleaned = exits.assign(weight=share)
    renumbered = exits.assign(event=0, weight=1.0 - share)
    rest = out[~events]
    parts = [rest, cleaned[cleaned["weight"] > 0], renumbered[renumbered["weight"] > 0]]
    return pd.concat(parts, ignore_index=True)


def _solve_decreasing(g: Callable[[F64], F64], high: F64, steps: int = 60) -> F64:
    """Per element, the root of a decreasing g on [0, high] (0 where g(0) ≤ 0), by bisection."""
    low = np.zeros_like(high)
    at_zero = g(low) <= 0
    high = high.copy()
    for _ in range(steps):
        middle = (low + high) / 2
        positive = g(middle) > 0
        low = np.where(positive, middle, low)
        high = np.where(positive, high, middle)
    root: F64 = np.where(at_zero, 0.0, (low + high) / 2)
    return root


def _arm_ratio(seen: F64, base: F64, expected: F64) -> float:
    """θ maximising Σ D log(E + B θ) − (E + B θ) over the notified arm's cells (B = X λ)."""
    tiny = 1e-12

    def score(log_theta: F64) -> F64:
        t = np.exp(log_theta - 5.0)[:, None, None]
        out: F64 = np.sum(seen * base * t / np.maximum(expected + base * t, tiny) - base * t,
                          axis=(1, 2))  # fmt: skip
        return out

    return float(np.exp(_solve_decreasing(score, np.array([10.0]))[0] - 5.0))


def _cleanup_share(seen: F64, exposure: F64, expected: F64, rounds: int = 40) -> F64:
    """Cells (stratum, arm, bucket): exits seen D, days at risk X, renumberings expected E.
    Fits D ~ Poisson(E + X λ[s, b] θ^arm) by maximum likelihood (λ ≥ 0 a clean-up hazard per
    stratum and bucket, θ the arms' ratio), alternating between λ and θ, and returns each
    cell's share of exits that are clean-ups, X λ θ^arm / (E + X λ θ^arm)."""
    tiny = 1e-12
    theta = 1.0

    def arm_factor(t: float) -> F64:
        return np.array([1.0, t])[None, :, None]

    for _ in range(rounds):
        c = exposure * arm_factor(theta)  # X θ^arm

        def g_lambda(lam: F64, c: F64 = c) -> F64:
            lam3 = lam[:, None, :]
            score: F64 = np.sum(seen * c / np.maximum(expected + c * lam3, tiny) - c, axis=1)
            return score

        top = np.maximum(seen.sum(axis=1), 1.0) / np.maximum(c.sum(axis=1), tiny)
        lam = _solve_decreasing(g_lambda, top)
        theta = _arm_ratio(seen[:, 1, :], exposure[:, 1, :] * lam, expected[:, 1, :])
    cleanups = exposure * lam[:, None, :] * arm_factor(theta)
    total = expected + cleanups
    share: F64 = np.divide(cleanups, total, out=np.ones_like(total), where=total > 0)
    return share


def cox_notified(frame: pd.DataFrame, *, clustered: bool, level: float = 0.95) -> HazardRatio:
    """Fit the Cox model on landmark rows (entry, duration, event, notified[, cluster])."""
    arms = frame["notified"].value_counts()
    if frame.empty:
        raise ValueError(
            "need notified and hold-out identities: no followed identity is at risk after the "
            "campaign before its horizon (a clean-up is called after a silence longer than "
            "its network's threshold, so the data's last days cannot show one)"
        )
    if len(arms) < 2:
        told = int((frame["notified"] == 1).sum())
        raise ValueError(
            "need notified and hold-out identities: every followed identity at risk after "
            f"the campaign is in one arm ({told:,} told, {len(frame) - told:,} held out)"
        )
    if frame["event"].sum() == 0:
        raise ValueError(
            "need notified and hold-out identities and at least one clean-up: none of the "
            f"{len(frame):,} followed identities at risk after the campaign is called cleaned "
            "before its horizon (a clean-up is called after a silence longer than its "
            "network's threshold, so the data's last days cannot show one)"
        )
    if "stratum" in frame.columns and frame["stratum"].nunique() > 1:
        # A country whose followed identities are all told (or all held out) adds nothing to a
        # model stratified by country but noise: its baseline absorbs the whole difference.
        arms_in = frame.groupby("stratum")["notified"].nunique()
        frame = frame[frame["stratum"].isin(arms_in[arms_in == 2].index)]
        if frame.empty or frame["event"].sum() == 0:
            raise ValueError(
                "no country has both told and held-out identities with a clean-up: the effect "
                "cannot be told apart from the countries' own clean-up speeds"
            )
    identities = len(frame)
    frame = split_competing(frame)
    if (frame["event"] * frame["weight"]).sum() <= 0:
        raise ValueError("every exit is accounted for by renumbering: no clean-up to compare")
    cleaned = (frame["event"] * frame["weight"]).groupby(frame["notified"]).sum()
    if len(cleaned) < 2 or not bool((cleaned > 0).all()):
        # One arm has every clean-up: the fit separates. Its coefficient runs off, and with
        # split exits (renumbering) the clustered error stays small, so no interval check
        # catches it: 8 identities gave 6.2e7 [2.1e7, 1.9e8].
        raise ValueError("the fit does not identify the effect: one arm has all the clean-ups")
    # The two halves of a split exit are one subject: their variance is clustered on it.
    subject = "subject" if bool((frame["weight"] < 1).any()) else None
    columns = ["entry", "duration", "event", "notified", "weight"]
    strata = "stratum" in frame.columns and frame["stratum"].nunique() > 1
    columns += ["stratum"] if strata else []
    from lifelines import CoxPHFitter  # type: ignore[import-untyped]  # scipy: slow to load

    def fit(cluster: str | None) -> pd.Series:
        fitter = CoxPHFitter(alpha=1.0 - level, strata=["stratum"] if strata else None)
        with warnings.catch_warnings():
            # lifelines warns about late entry being a strong assumption; the design here.
            warnings.simplefilter("ignore")
            fitter.fit(
                frame[columns + ([cluster] if cluster else [])],
                duration_col="duration",
                event_col="event",
                entry_col="entry",
                weights_col="weight",
                cluster_col=cluster,
                robust=cluster is not None,
            )
        return fitter.summary.loc["notified"]

    summary = fit("cluster" if clustered else subject)
    coef, se = float(summary["coef"]), float(summary["se(coef)"])
    clusters = int(frame["cluster"].nunique()) if clustered else 0
    if clustered:
        # Clustered by network: the sandwich is biased low with few networks (c-office
        # seed 5 with ids, fifteenth held-out set: 240 identities in 2 networks gave
        # 1.39 [1.35, 1.44] against a true 1.73; the model's own: 0.83-2.33). Hosts of
        # one network share their fate, so the interval is never narrower than the one
        # that takes them as independent.
        alone = fit(subject)
        se = max(se, float(alone["se(coef)"]))
    z = critical(level, clusters)
    # Judged on the log scale: a fit that runs off (one arm with every clean-up, caught
    # above, or too few clean-ups) has a coefficient and error whose exponent overflowed
    # (popgen b-mobile at 400 machines with ids, nineteenth held-out set).
    if not (abs(coef) < LOG_LIMIT and 2.0 * z * se < math.log(MAX_SPAN)):
        raise ValueError(
            "the fit does not identify the effect (log hazard ratio "
            f"{coef:.3g} ± {z * se:.3g}: one arm has all the clean-ups, or too few"
            + (
                f"; or {clusters} networks, too few to tell the campaign from their own "
                "clean-up speeds)"
                if clusters
                else ")"
            )
        )
    lower, upper = math.exp(coef - z * se), math.exp(coef + z * se)
    return HazardRatio(
        hazard_ratio=math.exp(coef),
        lower=lower,
        upper=upper,
        level=level,
        p_value=two_sided_p(coef / se, clusters) if se > 0 else 0.0,
        identities=identities,
        events=round(float((frame["event"] * frame["weight"]).sum())),
        notified=int(arms.get(1, 0)),
        holdout=int(arms.get(0, 0)),
        clusters=clusters,
    )


def critical(level: float, clusters: int) -> float:
    """The two-sided critical value of an interval at `level`: the normal's where hosts are
    notified one by one (`clusters` 0), Student's t with clusters - 1 degrees of freedom where
    the variance is clustered by network. The effect of telling a network is a contrast
    between networks, and G networks give G - 1 degrees of freedom to judge it by, however
    many hosts they hold: two networks, one told and one not, differ by their own clean-up
    speeds as much as by the campaign (popgen b-mobile seed 31, twenty-ninth held-out set:
    2,193 identities in two networks gave 3.84 [2.60, 5.66] against a true 1.16)."""
    if clusters == 0:
        return NormalDist().inv_cdf(0.5 + level / 2)
    if clusters < 2:
        raise ValueError("one network: the effect cannot be told apart from its own clean-up")
    from scipy.stats import t  # type: ignore[import-untyped]  # slow to load: only when clustered

    return float(t.ppf(0.5 + level / 2, clusters - 1))


def two_sided_p(ratio: float, clusters: int) -> float:
    """The two-sided p-value of coefficient / standard error, by the distribution
    `critical` takes."""
    if clusters == 0:
        return 2.0 * (1.0 - NormalDist().cdf(abs(ratio)))
    from scipy.stats import t

    return float(2.0 * t.sf(abs(ratio), clusters - 1))


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
    con = connect()
    con.register("hr_sightings", sightings)
    try:
        return notification_hr(con, "hr_sightings", notified_groups, rule=rule, level=level)
    finally:
        con.close()

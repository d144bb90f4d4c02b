"""Accuracy of host estimates, clean-up rates and the notification effect against the
simulator's truth, over the accuracy-* scenarios.

    .venv/bin/python bench/accuracy.py [--quick] [--seeds 5] [--scale 1.0] [--jobs 2]
        [--scenario NAME ...] [--json FILE]

For each scenario and seed: simulate, enrich the sightings with the bundled database, run the
weekly census with host estimates (`run_census(..., estimate=True)`, as `botcensus census
--estimate` does) globally and by country, and compare with the true number of active
infected machines (infected and checking in at least once in the week). Every run
includes a notification campaign: a scenario without a `[notify]` section gets one here
(half the bot ASNs told on the 15th day, clean-up hazard x1.6 from then on), so the host
estimates are scored on populations where half the networks clean up faster after day 15;
and a scenario shorter than 8 complete weeks (Sunday to Saturday) is run until it has them.
Columns (medians over runs of the per-run figure, unless said otherwise):

- raw_ip:       median |unique IPs / true hosts - 1| over weeks, global (the baseline)
- est_global:   median |estimate / true - 1| over weeks, global
- est_country:  the same over (week, country) with at least 1,000 true hosts
- coverage:     share of those global and country values inside the 90% interval (pooled)
- decay_err:    |rate / true rate - 1| of the Poisson decay fit (`botcensus cleanup`'s) over
                the first 8 complete weeks of weekly unique IPs; the true rate is the same
                fit over the true weekly active machines (goal: within 10%)
- decay_err_hosts: the same for the weekly global host estimates
- hr:           the notification hazard ratio (Cox, `notification_hr`; true ratio 1.6)
- hr_err:       |hr - true ratio|, in hazard-ratio units (goal: within 0.25)
- hr_cover:     runs whose 95% interval holds the true ratio
- hr_oracle:    the same Cox model fitted to the truth (true infection and clean-up times):
                the marginal ratio a perfect observer would measure, below the per-machine
                1.6 where fast and lingering machines mix
- hr_checked:   the notification effect as `botcensus cleanup --count hosts --notified`
                reports it (measure.cleanup.checks: the Cox ratio where the decay of the
                told and held-out networks' host estimates agrees, bounds where not), and
                its error against the oracle ('n.s.': not supported, bounds only)
- s28, s56:     |share still infected after 28 / 56 days - truth| as the same command
                reports it (machines infected at the start), 'n.s.' where only bounds

The estimators read the sightings only; the truth is read here, after the estimates.
--quick runs one seed of every scenario at a third of the scale. The accuracy-* scenarios are
the family the host model error was set on; the two Rustock scenarios (38 countries, most of
them small) are not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.compute as pc

import botcensus.enrich as enrich
from botcensus.measure import CensusQuery, census
from botcensus.measure.census_run import run_census
from botcensus.measure.cleanup import CleanupQuery, cleanup, complete_weeks, decay_rate
from botcensus.measure.survival import cox_notified, notification_hr
from botcensus.model import SIGHTING_SCHEMA
from botcensus.simulate import BUNDLED, Scenario, Simulation, load_scenario, simulate
from botcensus.simulate.scenario import Notify
from botcensus.store.sketch_build import sketch_sightings

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "src/botcensus/simulate/scenarios"
SCENARIOS = {
    "accuracy-mixed": 1.0,
    "accuracy-static": 1.0,
    "accuracy-session": 1.0,
    "accuracy-daily": 1.0,
    "accuracy-nat": 1.0,
    "accuracy-sparse": 1.0,
    "accuracy-busy": 1.0,
    "accuracy-cleanup": 1.0,
    "accuracy-ids": 1.0,
    "accuracy-ids-half": 1.0,
    "accuracy-nat-ids-half": 1.0,
    # Not tuned on: the calibrated Rustock scenarios (38 countries, most of them small,
    # 14 weeks), at 2% of their size.
    "rustock-2011": 0.02,
    "rustock-2011-1m": 0.02,
}
"""Scenario -> its scale at --scale 1.0."""
MIN_COUNTRY_HOSTS = 1000
DECAY_WEEKS = 8
"""The issue's decay-rate error is 'after 8 weeks': the first 8 complete weeks."""
CAMPAIGN_AFTER_DAYS, CAMPAIGN_SHARE, CAMPAIGN_HR = 14, 0.5, 1.6
"""The notification campaign added to scenarios without one: half the bot ASNs told 14 days
after the start (the 15th day), their clean-up hazard 1.6 times the hold-out's from then."""

Scored = tuple[str, str, int, float, float, float]


@dataclass
class Run:
    """One scenario and seed."""

    scenario: str
    seed: int
    raw_ip: float
    est_global: float
    est_country: float | None
    inside: int
    checked: int
    seconds: float
    decay_weeks: int = 0
    """Complete weeks fitted (at most DECAY_WEEKS; 0: no fit)."""
    decay_rate_true: float | None = None
    """λ per week of the true weekly active machines."""
    decay_rate_ip: float | None = None
    decay_rate_hosts: float | None = None
    decay_err: float | None = None
    decay_err_hosts: float | None = None
    hr_true: float | None = None
    hr: float | None = None
    hr_lower: float | None = None
    hr_upper: float | None = None
    hr_err: float | None = None
    hr_cover: bool | None = None
    hr_oracle: float | None = None
    """The same Cox model on the true infection and clean-up times of the machines: what a
    perfect observer would get (below the per-machine 1.6 where fast and lingering machines
    mix: the marginal ratio)."""
    hr_checked: float | None = None
    hr_checked_support: str | None = None
    s28: float | None = None
    s56: float | None = None
    s28_true: float | None = None
    s56_true: float | None = None
    s28_signed: float | None = None
    s56_signed: float | None = None
    s28_holds: bool | None = None
    s56_holds: bool | None = None
    """Whether the share's interval (or bounds) holds the truth."""
    s_support: str | None = None
    rows: list[Scored] = field(default_factory=list)
    """(week ending, country or 'all', true hosts, estimate, low, high) of every value scored."""


def with_campaign(scenario: Scenario) -> Scenario:
    """The scenario with a notification campaign (its own, or the CAMPAIGN_* one), run until
    it has DECAY_WEEKS complete weeks (Sunday to Saturday) if it ends sooner."""
    first_sunday = scenario.start + dt.timedelta(days=(6 - scenario.start.weekday()) % 7)
    end = max(scenario.end, first_sunday + dt.timedelta(days=7 * DECAY_WEEKS - 1))
    if scenario.notify is not None:
        return scenario.model_copy(update={"end": end})
    notify = Notify(
        day=scenario.start + dt.timedelta(days=CAMPAIGN_AFTER_DAYS),
        share=CAMPAIGN_SHARE,
        hazard_multiplier=CAMPAIGN_HR,
    )
    return scenario.model_copy(update={"notify": notify, "end": end})


def _truth(sim: Simulation) -> dict[tuple[dt.date, str | None], tuple[int, int]]:
    """(week ending, country or None) -> (true active hosts, days of the week simulated)."""
    weekly = sim.truth().weekly
    weekly = weekly.filter(pc.is_in(weekly["scope"], pa.array(["global", "country"])))
    return {
        (r["week_ending"], r["cc"]): (r["hosts_active"], r["days"])
        for r in weekly.select(["week_ending", "cc", "hosts_active", "days"]).to_pylist()
    }


def _decay(
    con: duckdb.DuckDBPyConnection,
    sim: Simulation,
    truth: dict[tuple[dt.date, str | None], tuple[int, int]],
    est: dict[tuple[dt.date, str | None], dict[str, Any]],
) -> dict[str, Any]:
    """Decay rates as `botcensus cleanup` fits them (complete weeks, Poisson) over the first
    DECAY_WEEKS complete weeks: of unique IPs, of the global host estimates and of the truth."""
    query = CensusQuery(window="week", date_from=sim.start, date_to=sim.end)
    weekly = complete_weeks(census(con, query, "sightings"), sim.start, sim.end)
    weeks = [
        (r["window_end"], r["unique_ip"])
        for r in weekly.select(["window_end", "unique_ip"]).to_pylist()
        if truth.get((r["window_end"], None), (0, 0))[1] == 7 and (r["window_end"], None) in est
    ][:DECAY_WEEKS]
    if len(weeks) < 2:  # as `cleanup`'s overall fit
        return {"decay_weeks": len(weeks)}
    true = decay_rate([truth[(w, None)][0] for w, _ in weeks]).rate_per_week
    ip = decay_rate([n for _, n in weeks]).rate_per_week
    hosts = decay_rate([est[(w, None)]["hosts_est"] for w, _ in weeks]).rate_per_week
    return {
        "decay_weeks": len(weeks),
        "decay_rate_true": true,
        "decay_rate_ip": ip,
        "decay_rate_hosts": hosts,
        "decay_err": abs(ip / true - 1),
        "decay_err_hosts": abs(hosts / true - 1),
    }


def _hazard(con: duckdb.DuckDBPyConnection, sim: Simulation) -> dict[str, Any]:
    """The notification hazard ratio from the sightings, against the campaign's multiplier."""
    notify = sim.scenario.notify
    if notify is None:
        return {}
    truth = notify.hazard_multiplier
    try:
        hr = notification_hr(con, "sightings", sim.notifications())
    except ValueError:  # one arm empty, or no clean-up seen: no ratio
        return {"hr_true": truth, "hr_oracle": _oracle_hr(sim)}
    return {
        "hr_true": truth,
        "hr_oracle": _oracle_hr(sim),
        "hr": hr.hazard_ratio,
        "hr_lower": hr.lower,
        "hr_upper": hr.upper,
        "hr_err": abs(hr.hazard_ratio - truth),
        "hr_cover": hr.lower <= truth <= hr.upper,
    }


def _checked(con: duckdb.DuckDBPyConnection, sim: Simulation) -> dict[str, Any]:
    """The share still infected after 28 and 56 days and the notification effect as
    `botcensus cleanup --count hosts --notified` reports them, with the truth."""
    query = CleanupQuery(count="hosts", notified=sim.notifications(), date_from=sim.start,
                         date_to=sim.end)  # fmt: skip
    none = sketch_sightings(SIGHTING_SCHEMA.empty_table())
    result = cleanup(con, "sightings", none, query)
    out: dict[str, Any] = {}
    if result.effect is not None:
        out["hr_checked"] = result.effect.value
        out["hr_checked_support"] = result.effect.support
    start = dt.datetime.combine(sim.start, dt.time(), tzinfo=dt.UTC)
    hosts = [h for h in sim.truth().hosts.to_pylist() if h["infected"] <= start]
    overall = None
    if result.survival is not None:
        overall = next((r for r in result.survival.to_pylist() if r["group"] is None), None)
    supports = []
    for day in (28, 56):
        gone = start + dt.timedelta(days=day)
        true = sum(h["cleaned"] is None or h["cleaned"] > gone for h in hosts) / max(len(hosts), 1)
        out[f"s{day}_true"] = true
        if overall is not None:
            value = overall.get(f"surviving_{day}d")
            out[f"s{day}"] = None if value is None else abs(value - true)
            out[f"s{day}_signed"] = None if value is None else value - true
            low = overall.get(f"surviving_{day}d_lower")
            high = overall.get(f"surviving_{day}d_upper")
            out[f"s{day}_holds"] = None if low is None or high is None else low <= true <= high
            supports.append(str(overall.get(f"surviving_{day}d_support")))
    out["s_support"] = "/".join(supports) or None
    return out


def _oracle_hr(sim: Simulation) -> float | None:
    """The notification model fitted to the truth: every machine of a notified or hold-out
    ASN still infected at the notification day, from then (or its infection) to its first
    clean-up (censored at the end), notified by its ASN, strata by country."""
    notify = sim.scenario.notify
    if notify is None:
        return None
    plan = {r["asn"]: bool(r["notified"]) for r in sim.notifications().to_pylist()}
    day = dt.datetime.combine(notify.day, dt.time(), tzinfo=dt.UTC)
    end = (dt.datetime.combine(sim.end, dt.time(), tzinfo=dt.UTC) - day).days + 1.0
    rows = []
    for h in sim.truth().hosts.to_pylist():
        if h["asn"] not in plan or (h["cleaned"] is not None and h["cleaned"] <= day):
            continue
        entry = max((h["infected"] - day).total_seconds() / 86400, 0.0)
        gone = None if h["cleaned"] is None else (h["cleaned"] - day).total_seconds() / 86400
        stop = end if gone is None or gone > end else gone
        if stop <= entry:
            continue
        rows.append((entry, stop, int(gone is not None and gone <= end), int(plan[h["asn"]]),
                     str(h["asn"]), h["cc"] or ""))  # fmt: skip
    frame = pd.DataFrame(
        rows, columns=["entry", "duration", "event", "notified", "cluster", "stratum"]
    )
    try:
        return cox_notified(frame, clustered=True).hazard_ratio
    except ValueError:
        return None


def run_one(name: str, seed: int, scale: float) -> Run:
    """Simulate one scenario and seed, estimate, and score against the truth."""
    started = time.perf_counter()
    scenario = load_scenario(name if name in BUNDLED else SCENARIO_DIR / f"{name}.toml")
    geo = enrich.load_bundled()
    sim = simulate(
        with_campaign(scenario), address_space=enrich.ipv4_ranges(geo), scale=scale, seed=seed
    )
    batches = [enrich.enrich(pa.Table.from_batches([b]), geo) for b in sim.sightings()]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("sightings", pa.concat_tables(batches))
    week = CensusQuery(window="week")
    by_cc = CensusQuery(window="week", by=("country",))
    weekly = run_census(con, week, "sightings", estimate=True).rows.to_pylist()
    raw = {r["window_end"]: r["unique_ip"] for r in weekly}
    by_country = run_census(con, by_cc, "sightings", estimate=True).rows.to_pylist()
    est: dict[tuple[dt.date, str | None], dict[str, Any]] = {
        (r["window_end"], r.get("country")): r
        for r in (*weekly, *by_country)
        if r["hosts_est"] is not None  # a week or country without an estimate
    }
    truth = _truth(sim)
    glob: list[float] = []
    country: list[float] = []
    raw_err: list[float] = []
    scored: list[Scored] = []
    inside = checked = 0
    for (week_end, cc), (hosts, _) in truth.items():
        if hosts < (1 if cc is None else MIN_COUNTRY_HOSTS) or (week_end, cc) not in est:
            continue
        row = est[(week_end, cc)]
        err = row["hosts_est"] / hosts - 1
        (glob if cc is None else country).append(abs(err))
        scored.append(
            (str(week_end), cc or "all", hosts, row["hosts_est"], row["hosts_lo"], row["hosts_hi"])
        )
        if cc is None:
            raw_err.append(abs(raw[week_end] / hosts - 1))
        checked += 1
        inside += row["hosts_lo"] <= hosts <= row["hosts_hi"]
    cleanup = _decay(con, sim, truth, est) | _hazard(con, sim) | _checked(con, sim)
    return Run(
        name,
        seed,
        statistics.median(raw_err),
        statistics.median(glob),
        statistics.median(country) if country else None,
        inside,
        checked,
        time.perf_counter() - started,
        rows=scored,
        **cleanup,
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:6.1%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _decay_cell(mine: list[Run], key: str) -> str:
    """Median decay error, with '(Nw)' when fewer than DECAY_WEEKS weeks were fitted."""
    value = _median([getattr(r, key) for r in mine])
    weeks = {r.decay_weeks for r in mine if getattr(r, key) is not None}
    short = sorted(w for w in weeks if w < DECAY_WEEKS)
    note = f" ({'/'.join(map(str, short))}w)" if short and value is not None else ""
    return _pct(value) + note


def _checked_cell(mine: list[Run]) -> str:
    """Median |checked ratio - oracle| where supported; 'n.s. k/n' for runs with bounds."""
    errors = [
        abs(r.hr_checked - r.hr_oracle)
        for r in mine
        if r.hr_checked is not None and r.hr_oracle is not None
    ]
    bounds = sum(r.hr_checked is None and r.hr_checked_support is not None for r in mine)
    text = _num(_median(list(errors))) if errors else "n.s."
    return text + (f" (n.s. {bounds}/{len(mine)})" if bounds and errors else "")


def _survival_cell(mine: list[Run], key: str) -> str:
    values = [getattr(r, key) for r in mine]
    errors = [v for v in values if v is not None]
    missing = len(values) - len(errors)
    text = _num(_median(list(errors))) if errors else "n.s."
    return text + (f" (n.s. {missing}/{len(values)})" if missing and errors else "")


def summarise(runs: list[Run]) -> list[dict[str, str]]:
    """One row per scenario: medians over seeds of the per-run figures; pooled coverage.
    Last, the same over every IP-only scenario, and over those with bot ids."""
    rows = []
    groups = {
        name: [r for r in runs if r.scenario == name]
        for name in dict.fromkeys(r.scenario for r in runs)
    }
    family = [r for r in runs if r.scenario.startswith("accuracy-")]
    ip_only = [r for r in family if "-ids" not in r.scenario]
    with_ids = [r for r in family if "-ids" in r.scenario]
    if len(groups) > 1:
        groups |= {"accuracy IP-only": ip_only, "accuracy with ids": with_ids}
    for name, mine in groups.items():
        if not mine:
            continue
        covered = [r.hr_cover for r in mine if r.hr_cover is not None]
        rows.append(
            {
                "scenario": name,
                "runs": str(len(mine)),
                "raw_ip": _pct(statistics.median(r.raw_ip for r in mine)),
                "est_global": _pct(statistics.median(r.est_global for r in mine)),
                "est_country": _pct(_median([r.est_country for r in mine])),
                "coverage": _pct(
                    sum(r.inside for r in mine) / max(sum(r.checked for r in mine), 1)
                ),
                "decay_err": _decay_cell(mine, "decay_err"),
                "decay_err_hosts": _decay_cell(mine, "decay_err_hosts"),
                "hr": _num(_median([r.hr for r in mine])),
                "hr_err": _num(_median([r.hr_err for r in mine])),
                "hr_oracle": _num(_median([r.hr_oracle for r in mine])),
                "hr_cover": f"{sum(covered)}/{len(covered)}" if covered else "-",
                "hr_checked": _checked_cell(mine),
                "s28": _survival_cell(mine, "s28"),
                "s56": _survival_cell(mine, "s56"),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, a third of the scale")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenario", action="append", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write every run here")
    args = parser.parse_args()
    seeds = [1] if args.quick else list(range(1, args.seeds + 1))
    scale = args.scale / 3 if args.quick else args.scale
    names = args.scenario or list(SCENARIOS)
    started = time.perf_counter()
    jobs = [(n, s, scale * SCENARIOS.get(n, 1.0)) for n in names for s in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(run_one, *zip(*jobs, strict=True)))
    rows = summarise(runs)
    header = list(rows[0])
    widths = [max(len(h), *(len(r[h]) for r in rows)) for h in header]
    print(f"accuracy vs simulator truth, weekly; scale {scale}, seeds {seeds}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(r[h].rjust(w) for h, w in zip(header, widths, strict=True)))
    print(
        f"goals: decay_err <= 10% over {DECAY_WEEKS} complete weeks ('(Nw)': only N), "
        f"hr_err <= 0.25 (true hazard ratio {CAMPAIGN_HR}, campaign on day "
        f"{CAMPAIGN_AFTER_DAYS + 1} unless the scenario has its own); hr_cover: 95% intervals"
    )
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

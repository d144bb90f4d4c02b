"""Accuracy of host estimates against the simulator's truth, over the accuracy-* scenarios.

    .venv/bin/python bench/accuracy.py [--quick] [--seeds 5] [--scale 1.0] [--jobs 2]
        [--scenario NAME ...] [--json FILE]

For each scenario and seed: simulate, enrich the sightings with the bundled database, run the
weekly census and `estimate_hosts` globally and by country, and compare with the true number
of active infected machines (infected and checking in at least once in the week). Columns:

- raw_ip:      median |unique IPs / true hosts - 1| over weeks, global (the baseline)
- est_global:  median |estimate / true - 1| over weeks, global
- est_country: the same over (week, country) with at least 1,000 true hosts
- coverage:    share of those global and country values inside the 90% interval
- decay_err, hr_err: clean-up decay rate and notification hazard ratio errors, filled by
  hooks from the clean-up code when it provides them (ACCURACY_HOOKS below); '-' otherwise

The estimator reads the sightings only; the truth is read here, after the estimate.
--quick runs one seed of every scenario at a third of the scale (well under a minute). The
accuracy-* scenarios are the family the model error was set on; the two Rustock scenarios
(38 countries, most of them small) are not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

import botcensus.enrich as enrich
from botcensus.measure import CensusQuery, census
from botcensus.measure.hosts import estimate_hosts
from botcensus.simulate import BUNDLED, Simulation, load_scenario, simulate

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
    # Not tuned on: the calibrated Rustock scenarios (38 countries, most of them small,
    # 14 weeks), at 2% of their size.
    "rustock-2011": 0.02,
    "rustock-2011-1m": 0.02,
}
"""Scenario -> its scale at --scale 1.0."""
MIN_COUNTRY_HOSTS = 1000

Hook = Callable[[Simulation, duckdb.DuckDBPyConnection, str], float | None]
ACCURACY_HOOKS: dict[str, Hook] = {}
"""Extra columns: name -> f(simulation, connection, sightings relation) -> relative error.
The clean-up code registers 'decay_err' and 'hr_err' here."""


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
    hooks: dict[str, float | None] = field(default_factory=dict)
    rows: list[tuple[str, str, int, float, float, float]] = field(default_factory=list)
    """(week ending, country or 'all', true hosts, estimate, low, high) of every value scored."""


def _truth(sim: Simulation) -> dict[tuple[object, str | None], int]:
    weekly = sim.truth().weekly
    weekly = weekly.filter(pc.is_in(weekly["scope"], pa.array(["global", "country"])))
    return {
        (r["week_ending"], r["cc"]): r["hosts_active"]
        for r in weekly.select(["week_ending", "cc", "hosts_active"]).to_pylist()
    }


def run_one(name: str, seed: int, scale: float) -> Run:
    """Simulate one scenario and seed, estimate, and score against the truth."""
    started = time.perf_counter()
    scenario = load_scenario(name if name in BUNDLED else SCENARIO_DIR / f"{name}.toml")
    geo = enrich.load_bundled()
    sim = simulate(scenario, address_space=enrich.ipv4_ranges(geo), scale=scale, seed=seed)
    batches = [enrich.enrich(pa.Table.from_batches([b]), geo) for b in sim.sightings()]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("sightings", pa.concat_tables(batches))
    week = CensusQuery(window="week")
    by_cc = CensusQuery(window="week", by=("country",))
    raw = {r["window_end"]: r["unique_ip"] for r in census(con, week, "sightings").to_pylist()}
    est = {(r["window_end"], None): r for r in estimate_hosts(con, week, "sightings").to_pylist()}
    for r in estimate_hosts(con, by_cc, "sightings").to_pylist():
        est[(r["window_end"], r["country"])] = r
    truth = _truth(sim)
    glob, country, inside, checked = [], [], 0, 0
    scored: list[tuple[str, str, int, float, float, float]] = []
    raw_err = []
    for (week_end, cc), hosts in truth.items():
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
    hooks = {k: f(sim, con, "sightings") for k, f in ACCURACY_HOOKS.items()}
    return Run(
        name,
        seed,
        statistics.median(raw_err),
        statistics.median(glob),
        statistics.median(country) if country else None,
        inside,
        checked,
        time.perf_counter() - started,
        hooks,
        scored,
    )


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:6.1%}"


def summarise(runs: list[Run]) -> list[dict[str, str]]:
    """One row per scenario: medians over seeds of the per-run medians; pooled coverage.
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
        countries = [r.est_country for r in mine if r.est_country is not None]
        hooks = {k for r in mine for k in r.hooks} | {"decay_err", "hr_err"}
        row = {
            "scenario": name,
            "runs": str(len(mine)),
            "raw_ip": _fmt(statistics.median(r.raw_ip for r in mine)),
            "est_global": _fmt(statistics.median(r.est_global for r in mine)),
            "est_country": _fmt(statistics.median(countries) if countries else None),
            "coverage": _fmt(sum(r.inside for r in mine) / max(sum(r.checked for r in mine), 1)),
        }
        for k in sorted(hooks):
            values = [v for r in mine if (v := r.hooks.get(k)) is not None]
            row[k] = _fmt(statistics.median(values) if values else None)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    print(f"host estimates vs truth, weekly; scale {scale}, seeds {seeds}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(r[h].rjust(w) for h, w in zip(header, widths, strict=True)))
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run a simulate scenario and compare its sightings with the scenario's calibration targets.

    .venv/bin/python bench/simulate_calibration.py [--scenario rustock-2011] [--scale 1.0]
        [--seed 1] [--z 3] [--synthetic-ranges]

Counts unique IPs per week from the daily sightings (family of the scenario only), checks
them against the targets scaled by --scale (tolerances widened by --z standard errors of
sampling; --z 0 holds them to the scenario's own), and prints wall time and peak RSS. Exits 1
if a target is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.simulate import (
    calibration_table,
    check_targets,
    load_scenario,
    simulate,
    synthetic_ranges,
    weekly_census,
)


def _address_space(synthetic: bool, countries: list[str]) -> tuple[pa.Table, str]:
    if not synthetic:
        try:
            import botcensus.enrich as enrich

            return enrich.ipv4_ranges(enrich.load_bundled()), "bundled enrichment database"
        except (ImportError, AttributeError, OSError) as exc:
            print(f"enrichment table unavailable ({exc}); using synthetic ranges", file=sys.stderr)
    return synthetic_ranges(countries), "synthetic ranges"


def _weekly(table: pa.Table, week: dt.date, column: str) -> int:
    sel = pc.and_(
        pc.equal(table["week_ending"], pa.scalar(week, pa.date32())), pc.is_null(table["cc"])
    )
    values = table.filter(sel)[column].to_pylist() if "cc" in table.column_names else []
    return int(values[0]) if values else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="rustock-2011")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synthetic-ranges", action="store_true")
    parser.add_argument(
        "--z", type=float, default=3.0, help="standard errors of sampling added to tolerances"
    )
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    countries = sorted(set(scenario.countries) | {c for n in scenario.noise for c in n.countries})
    space, source = _address_space(args.synthetic_ranges, countries)
    started = time.perf_counter()
    sim = simulate(scenario, address_space=space, scale=args.scale, seed=args.seed)
    census = weekly_census(sim.sightings(), space, scenario.family)
    simulated = time.perf_counter() - started
    truth = sim.truth()
    hosts = truth.hosts
    at_start = int(pc.sum(hosts["initially_infected"].cast(pa.int64())).as_py() or 0)
    checks = check_targets(census, scenario, scale=args.scale, hosts_at_start=at_start, z=args.z)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux

    print(f"{scenario.name}  scale {args.scale}  seed {args.seed}  ({source})")
    rows = calibration_table(checks).to_pylist()
    width = max(len(r["check"]) for r in rows)
    print(f"{'check':{width}s} {'target':>14s} {'measured':>14s} {'tolerance':>12s}  ok")
    for r in rows:
        cells = f"{r['target']:>14s} {r['measured']:>14s} {r['tolerance']:>12s}"
        print(f"{r['check']:{width}s} {cells}  {r['ok']}")
    print()
    print(f"true hosts infected at the start: {at_start:,}")
    for t in sorted(
        {t.week for t in scenario.targets if t.week}
        | {t.to_week for t in scenario.targets if t.to_week}
    ):
        ips = _weekly(census, t, "unique_ips")
        active = _weekly(truth.weekly, t, "hosts_active")
        ratio = active / ips if ips else float("nan")
        print(f"week ending {t}: {ips:,} IPs, {active:,} active hosts, {ratio:.3f} hosts per IP")
    print()
    print(f"wall time {elapsed:.1f} s (simulate + sightings + census {simulated:.1f} s)")
    print(f"peak RSS {peak:.2f} GiB")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())

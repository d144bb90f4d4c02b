"""What the demo measured, as data: the weekly census with host estimates beside Microsoft's
published counts and the simulator's truth, country changes, and the clean-up result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure import CensusQuery, CensusResult, run_census
from botcensus.measure.cleanup import (
    CleanupQuery,
    CleanupResult,
    DecayFit,
    Mark,
    cleanup,
    fit_decay,
)
from botcensus.measure.summary import Summary, summarise
from botcensus.store import connect, sightings_view
from botcensus.store.sketches import sketches_view

SENSOR = "simulated"
FAMILY = "rustock"
MICROSOFT_WEEKLY = {dt.date(2011, 3, 26): 1_601_619, dt.date(2011, 6, 18): 702_860}
"""Microsoft's published weekly unique IPs at its Rustock sinkholes (week ending, count)."""
MICROSOFT_CHANGE = {"IN": -0.6930, "RU": -0.7061, "US": -0.3548}
"""Microsoft's published change of unique IPs per country, 26 March to 18 June 2011."""
MARKS = (Mark(dt.date(2011, 4, 12), "removal tool"),)
"""Microsoft's Malicious Software Removal Tool gained Rustock on this day (the scenario's
pulse)."""


@dataclass(frozen=True, slots=True)
class Week:
    """One week of the side-by-side table (all counts at the demo's scale)."""

    week_ending: dt.date
    days: int
    """Days of the week the simulation covers (7 for a whole week)."""
    unique_ip: int | None
    """What the sinkhole counted."""
    published: float | None
    """Microsoft's count times the scale, for the weeks it published."""
    hosts_est: float | None
    hosts_lo: float | None
    hosts_hi: float | None
    true_infected: int | None
    true_active: int | None
    """Infected machines that checked in at least once that week."""


@dataclass(frozen=True, slots=True)
class CountryChange:
    """First to last complete week, measured and published."""

    country: str
    measured: float
    published: float


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo prints and writes, computed from the dataset (and the truth)."""

    scale: float
    weeks: tuple[Week, ...]
    census: CensusResult
    """The weekly census with host estimates (measure.run_census)."""
    summary: Summary
    changes: tuple[CountryChange, ...]
    cleanup: CleanupResult
    true_decay: DecayFit | None
    """The decay of the true active machines over the weeks `cleanup` fitted."""


def _weeks(census: pa.Table, truth: pa.Table, scale: float) -> tuple[Week, ...]:
    seen = {r["window_end"]: r for r in census.to_pylist()}
    true = {r["week_ending"]: r for r in truth.to_pylist()}
    out = []
    for week in sorted(set(seen) | set(true)):
        row, t = seen.get(week, {}), true.get(week, {})
        published = MICROSOFT_WEEKLY.get(week)
        out.append(
            Week(
                week_ending=week,
                days=t.get("days", 7),
                unique_ip=row.get("unique_ip"),
                published=published * scale if published else None,
                hosts_est=row.get("hosts_est"),
                hosts_lo=row.get("hosts_lo"),
                hosts_hi=row.get("hosts_hi"),
                true_infected=t.get("hosts_infected"),
                true_active=t.get("hosts_active"),
            )
        )
    return tuple(out)


def _true_decay(result: CleanupResult, truth: pa.Table) -> DecayFit | None:
    """The same fit over the true active machines of the complete weeks `result` used."""
    if result.fit is None or not result.weekly.num_rows:
        return None
    first, last = result.weekly["window_start"][0], result.weekly["window_end"][-1]
    inside = pc.and_(
        pc.and_(
            pc.greater_equal(truth["week_ending"], first),
            pc.less_equal(truth["week_ending"], last),
        ),
        pc.equal(truth["days"], 7),
    )
    weeks = truth.filter(inside)
    if weeks.num_rows < 2:
        return None
    return fit_decay(range(weeks.num_rows), weeks["hosts_active"].to_pylist())


def measure_demo(
    data_dir: Path, truth_weekly: pa.Table, *, scale: float, notified: pa.Table | None = None
) -> DemoResult:
    """Measure a rolled-up demo dataset as `botcensus census --estimate`, `report` and
    `cleanup` do, beside `truth_weekly` (the simulation's weekly truth, every scope);
    `notified`: the campaign's groups (as `cleanup` reads them from the journal)."""
    con = connect()
    relation = sightings_view(con, data_dir)
    sketches = sketches_view(con, data_dir)
    weekly = run_census(
        con, CensusQuery(window="week", family=FAMILY), relation, sketches, estimate=True
    )
    summary = summarise(con, relation, family=FAMILY)
    query = CleanupQuery(by="country", family=FAMILY, marks=MARKS, notified=notified)
    clean = cleanup(con, relation, sketches, query)
    truth = truth_weekly.filter(pc.equal(truth_weekly["scope"], "global"))
    changes = tuple(
        CountryChange(row["country"], row["unique_ip_change"], MICROSOFT_CHANGE[row["country"]])
        for row in summary.countries.to_pylist()
        if row["country"] in MICROSOFT_CHANGE and row["unique_ip_change"] is not None
    )
    return DemoResult(
        scale=scale,
        weeks=_weeks(weekly.rows, truth, scale),
        census=weekly,
        summary=summary,
        changes=changes,
        cleanup=clean,
        true_decay=_true_decay(clean, truth),
    )

"""A simulation run: population drawn once, then sightings, check-ins and truth day by day."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.ipaddr import ipv4_from_int as ipv4_strings
from botcensus.model import SIGHTING_SCHEMA, SINKHOLE_FEED_NAME
from botcensus.store.sighting_key import as_sightings

from .addresses import AddressSpace, AsnChoice, choose_asns
from .botids import bot_id_numbers, bot_id_strings
from .checkins import checkin_batches
from .daily import Rolled, day_pieces, roll_up
from .draws import build_population
from .intervals import INTERVAL_SCHEMA, interval_batches
from .population import DAY_US, Population, day_number
from .scenario import Scenario
from .truth import TruthCounter, hosts_table

DEFAULT_SENSOR = "simulated"


@dataclass(frozen=True)
class Truth:
    """Ground truth of a run (bots only; noise sources are listed apart)."""

    hosts: pa.Table
    """One row per bot host: cc, asn, churn class, NAT group, infection and clean-up times."""
    daily: pa.Table
    """Per UTC day and scope (global / country / asn): hosts infected, active and their IPs."""
    weekly: pa.Table
    """The same per week ending Saturday; `days` counts the simulated days in the week."""
    noise_sources: pa.Table
    """One row per noise source: its kind, cc and asn."""


class Simulation:
    """One run of a scenario; every output is recomputed from (seed, population) on demand."""

    def __init__(
        self,
        scenario: Scenario,
        population: Population,
        space: AddressSpace,
        *,
        scale: float,
        seed: int,
        start: dt.date,
        end: dt.date,
    ) -> None:
        self.scenario, self.population, self.space = scenario, population, space
        self.scale, self.seed, self.start, self.end = scale, seed, start, end
        self.days = range(day_number(start), day_number(end) + 1)
        self._counts: tuple[pa.Table, pa.Table] | None = None
        self._ids = bot_id_numbers(population, seed, scenario.bot_ids)

    def sightings(self, sensor: str = DEFAULT_SENSOR) -> Iterator[pa.RecordBatch]:
        """Daily sightings (SIGHTING_SCHEMA, enrichment columns null), one batch per UTC day,
        rows sorted by address; computed without enumerating check-ins."""
        counter = TruthCounter(self.population, self.space, self.days[0], self.days[-1])
        for day in self.days:
            pieces = day_pieces(self.population, self.space, self.seed, day)
            counter.add(day, pieces)
            bot = self._ids[pieces.host] if self.scenario.bot_ids.fraction > 0 else None
            yield self._sighting_batch(day, roll_up(pieces, bot), sensor)
        self._counts = counter.tables()

    def _sighting_batch(self, day: int, r: Rolled, sensor: str) -> pa.RecordBatch:
        n = len(r.ip)
        # Noise is what no decoder claims: null family, as the sinkhole records it.
        family = pa.array([self.scenario.family, None], pa.string())
        ts = SIGHTING_SCHEMA.field("first_seen").type
        columns = {
            "day": pa.array(np.full(n, day, np.int32), pa.date32()),
            "source_ip": ipv4_strings(r.ip),
            "bot_id": bot_id_strings(r.bot),
            "malware_family": family.take(pa.array(r.family.astype(np.int64))),
            "sensor": pa.array([sensor] * n, pa.string()),
            "feed_name": pa.array([SINKHOLE_FEED_NAME] * n, pa.string()),
            "first_seen": pa.array(r.first, ts),
            "last_seen": pa.array(r.last, ts),
            "hits": pa.array(r.hits, pa.int64()),
        }
        arrays = [columns.get(f.name, pa.nulls(n, f.type)) for f in SIGHTING_SCHEMA]
        table = as_sightings(pa.Table.from_arrays(arrays, schema=SIGHTING_SCHEMA))
        return table.combine_chunks().to_batches()[0]

    def checkins(self, chunk_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Every check-in (CHECKIN_SCHEMA) in time order, in batches of at most chunk_rows;
        only one day is held in memory. For small scales: scale 1.0 has billions."""
        return checkin_batches(
            self.population, self.space, self.seed, self.days, self.scenario.family, chunk_rows
        )

    def address_intervals(self) -> Iterator[pa.RecordBatch]:
        """Ground-truth address intervals (INTERVAL_SCHEMA), one batch per day."""
        return interval_batches(self.population, self.space, self.seed, self.days)

    def truth(self) -> Truth:
        """Host table and true daily and weekly counts (runs the days once if sightings() has
        not been consumed to the end)."""
        if self._counts is None:
            counter = TruthCounter(self.population, self.space, self.days[0], self.days[-1])
            for day in self.days:
                counter.add(day, day_pieces(self.population, self.space, self.seed, day))
            self._counts = counter.tables()
        daily, weekly = self._counts
        end_us = (self.days[-1] + 1) * DAY_US
        hosts = hosts_table(self.population, self.space, end_us, bot_id_strings(self._ids))
        return Truth(hosts, daily, weekly, self._noise())

    def notifications(self) -> pa.Table:
        """The scenario's notification campaign: one row per ASN with bots, `notified` true
        (told on `day`) or false (the hold-out, same `day`); empty without a campaign."""
        pop, notify = self.population, self.scenario.notify
        schema = pa.schema([("asn", pa.int64()), ("notified", pa.bool_()), ("day", pa.date32())])
        if notify is None:
            return schema.empty_table()
        groups = np.unique(pop.lines.group[pop.hosts.line[: pop.n_bots]])
        asns, first = np.unique(self.space.asn[groups], return_index=True)
        told = pop.notified[groups][first]
        return pa.table(
            {"asn": asns, "notified": told, "day": [notify.day] * len(asns)}, schema=schema
        )

    def _noise(self) -> pa.Table:
        pop, n = self.population, self.population.n_bots
        group = pop.lines.group[pop.hosts.line[n:]]
        kinds = np.asarray(pop.noise_names, dtype=object)[pop.hosts.profile[n:] - 1]
        return pa.table(
            {
                "source_id": pa.array(np.arange(n, n + len(group)), pa.int64()),
                "kind": pa.array(kinds.tolist(), pa.string()),
                "cc": pa.array(
                    np.asarray(self.space.cc, dtype=object)[group].tolist(), pa.string()
                ),
                "asn": pa.array(self.space.asn[group], pa.int64()),
            }
        )


def simulate(
    scenario: Scenario,
    *,
    address_space: pa.Table,
    scale: float = 1.0,
    seed: int = 0,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Simulation:
    """Draw a population for `scenario` at `scale` (fraction of its hosts and noise sources),
    placing hosts in the ASNs of `address_space` (a table of RANGE_SCHEMA shape, e.g.
    botcensus.enrich.ipv4_ranges(...)), and output days start..end (default: the scenario's).
    A window of days gives the same outputs as those days of the full scenario run.

    Raises ValueError if a country has no ranges in the table, for a scale outside (0, 1000],
    or for an end before start or a start before the scenario's.
    """
    if not 0 < scale <= 1000:
        raise ValueError("scale must be in (0, 1000]")
    first, last = start or scenario.start, end or scenario.end
    if last < first:
        raise ValueError("end is before start")
    if first < scenario.start:
        raise ValueError(f"start is before the scenario's start {scenario.start}")
    choices = {
        cc: AsnChoice(c.asns, c.asns_per_country, c.asn_zipf_exponent)
        for cc, c in scenario.countries.items()
    }
    for noise in scenario.noise:
        for cc in noise.countries:
            choices.setdefault(cc, AsnChoice((), 30, 1.0))
    space = choose_asns(address_space, choices)
    # The population always starts at the scenario's start, so a window of days gives the
    # same numbers as those days of the full run.
    population = build_population(
        scenario, space, scale=scale, seed=seed, start=scenario.start, end=max(last, scenario.end)
    )
    return Simulation(scenario, population, space, scale=scale, seed=seed, start=first, end=last)


def write_truth(sim: Simulation, directory: Path) -> list[Path]:
    """Write the truth as Parquet (hosts, daily, weekly, noise_sources, address_intervals) and
    run.json (scenario, scale, seed, dates) into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    truth = sim.truth()
    written = []
    for name in ("hosts", "daily", "weekly", "noise_sources"):
        path = directory / f"{name}.parquet"
        pq.write_table(getattr(truth, name), path)
        written.append(path)
    path = directory / "address_intervals.parquet"
    with pq.ParquetWriter(path, INTERVAL_SCHEMA) as writer:
        for batch in sim.address_intervals():
            writer.write_batch(batch)
    written.append(path)
    run = {
        "scenario": sim.scenario.model_dump(mode="json"),
        "scale": sim.scale,
        "seed": sim.seed,
        "start": sim.start.isoformat(),
        "end": sim.end.isoformat(),
    }
    path = directory / "run.json"
    path.write_text(json.dumps(run, indent=2), encoding="utf-8")
    written.append(path)
    return written

"""Simulated sightings for the clean-up estimators, enriched with the simulator's own
address-space table (country and ASN come back as the simulation placed them), and a cached
run of a notification campaign with a known hazard ratio."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import ipv4_to_int
from botcensus.simulate import Simulation, load_scenario, simulate, synthetic_ranges

CASES = Path(__file__).parent / "cases"


def enrich_from_ranges(sightings: pa.Table, ranges: pa.Table) -> pa.Table:
    """Fill source_cc and source_asn of IPv4 sightings from a RANGE_SCHEMA table."""
    ranges = ranges.sort_by("start")
    starts = ranges["start"].to_numpy().astype(np.uint64)
    ends = ranges["end"].to_numpy().astype(np.uint64)
    ips, valid = ipv4_to_int(sightings["source_ip"])
    at = np.maximum(np.searchsorted(starts, ips.astype(np.uint64), side="right") - 1, 0)
    inside = valid & (ips >= starts[at]) & (ips <= ends[at])
    index = pa.array(np.where(inside, at, -1)).cast(pa.int64())
    index = pc.if_else(pc.equal(index, -1), pa.scalar(None, pa.int64()), index)
    cc = ranges["cc"].take(index)
    asn = ranges["asn"].cast(pa.int64()).take(index)
    out = sightings.set_column(sightings.schema.get_field_index("source_cc"), "source_cc", cc)
    return out.set_column(out.schema.get_field_index("source_asn"), "source_asn", asn)


def sim_sightings(sim: Simulation, ranges: pa.Table, sensor: str = "simulated") -> pa.Table:
    """Every day's sightings of a run as one enriched table."""
    table = pa.Table.from_batches(list(sim.sightings(sensor=sensor)))
    return enrich_from_ranges(table, ranges)


@dataclass(frozen=True)
class NotifyRun:
    sim: Simulation
    sightings: pa.Table
    """Enriched daily sightings (source_cc, source_asn from the simulator's ranges)."""
    notifications: pa.Table


@functools.cache
def notify_static() -> NotifyRun:
    """notify-static at scale 0.5, seed 1: about 8,000 hosts, 60 ASNs, true HR 1.6."""
    scenario = load_scenario(CASES / "notify-static.toml")
    space = synthetic_ranges(sorted(scenario.countries), asns=40, seed=7)
    sim = simulate(scenario, address_space=space, scale=0.5, seed=1)
    return NotifyRun(sim, sim_sightings(sim, space), sim.notifications())

"""The simulated population: bots and noise sources, their lines, ASNs and infection episodes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MODES = ("periodic", "session", "pool")
"""Line modes by code: the address epoch is a period, the local day, or the local day in a pool."""
BOT, NOISE = 0, 1
"""Family codes of hosts: a bot of the scenario's family, or a noise source ('')."""


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


@dataclass(frozen=True)
class Hosts:
    """Per-host columns (bots first, then noise sources)."""

    line: I64
    family: npt.NDArray[np.uint8]
    profile: I64
    """Request profile: 0 is the bot check-in, 1 + i the i-th noise kind."""
    country: I64
    """Index into Population.countries (bots) or -1 (noise)."""
    offset_us: I64
    p_online: F64
    always_on: B
    start_pref_h: F64
    start_daily_h: F64
    session_h: F64
    interval_us: I64
    jitter_us: I64
    lingering: B
    initial: B


@dataclass(frozen=True)
class Lines:
    """Per-line columns: a line is one subscriber address (a household behind NAT, or a host)."""

    group: I64
    """Address-space group (cc, asn)."""
    churn: I64
    """Index into Population.churn_names."""
    mode: npt.NDArray[np.uint8]
    period_us: I64
    phase_us: I64
    size: I64
    """Infected hosts on the line."""


@dataclass(frozen=True)
class Episodes:
    """Infection episodes [start_us, end_us): a host's first infection and any reinfection."""

    host: I64
    start_us: I64
    end_us: I64
    number: npt.NDArray[np.int8]


@dataclass(frozen=True)
class Population:
    """Everything drawn once per run; sessions and addresses are hashed from it day by day."""

    hosts: Hosts
    lines: Lines
    episodes: Episodes
    pool_size: I64
    """Addresses in each group's shared pool (for pool lines)."""
    countries: tuple[str, ...]
    churn_names: tuple[str, ...]
    profiles: tuple[tuple[str, str], ...]
    """(user_agent, path) by profile."""
    noise_names: tuple[str, ...]
    n_bots: int
    notified: B = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Per address-space group: in a notified ASN (scenario `notify`; empty without one)."""

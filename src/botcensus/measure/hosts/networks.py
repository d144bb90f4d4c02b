"""Per-network correction of the address model, learnt from the machines that carry bot ids
and applied to the sightings without one in the same network (Griffioen and Doerr measured
churn per AS on Hajime's ids; here the whole address model is checked per network).

Where a (window, country, ASN) has at least MIN_MACHINES machines with ids, the address model
is run on their sightings with the ids taken away, as if they were IP-only, and its estimate
H set against the machines the ids count, M: f = M / H. Bots with and without ids in one
network share its addresses' churn, NAT and renumbering, so the same model errs the same way
on both, and the IP-only estimate of that network is multiplied by f. The variance of log f
is the sampling error of both counts (1/M + 1/H); what f corrects, the model error, stays in
the variance of the estimate it multiplies (conservative: the interval does not narrow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np

from botcensus.measure.hosts.features import EPOCH
from botcensus.measure.hosts.ids import IdCounts

MIN_MACHINES: Final = 30
"""Machines with ids a network needs in a window before its correction is applied."""
MAX_FACTOR: Final = 4.0
"""Corrections beyond this (or below its inverse) are taken as a sign that ids and addresses
live apart in that network (a proxy, a gateway) and not applied."""

Cell = tuple[date, str, int | None]
Cells = dict[Cell, tuple[float, float, float]]

_WITHOUT_IDS = (
    "CREATE OR REPLACE TEMP VIEW {view} AS "
    "SELECT * REPLACE (CAST(NULL AS VARCHAR) AS bot_id) FROM {relation} WHERE bot_id IS NOT NULL"
)


def without_ids_sql(view: str, relation: str) -> str:
    """A view of the sightings that carry an id, with the id taken away."""
    return _WITHOUT_IDS.format(view=view, relation=relation)


@dataclass(frozen=True, slots=True)
class Factor:
    """A network's correction: f, the variance of log f that is its own, and the standard
    deviation of log f that comes from the centre every network shares."""

    value: float
    own_var: float
    shared_sd: float


def network_factors(counts: IdCounts, model: Cells) -> dict[Cell, Factor]:
    """(window, country, ASN) -> its Factor, from the id counts and the address model's
    cells on the same sightings without their ids, shrunk (module docstring)."""
    keys: list[Cell] = []
    logs: list[float] = []
    noise: list[float] = []
    for i, start in enumerate(counts.window_start.tolist()):
        key: Cell = (EPOCH + timedelta(days=start), counts.cc[i], int(counts.asn[i]))
        machines = float(counts.machines[i] + counts.hidden[i])
        modelled = model.get(key, (0.0, 0.0, 0.0))[0]
        if machines < MIN_MACHINES or modelled <= 0:
            continue
        factor = machines / modelled
        if not 1 / MAX_FACTOR <= factor <= MAX_FACTOR:
            continue
        keys.append(key)
        logs.append(math.log(factor))
        noise.append(1.0 / machines + 1.0 / modelled)
    if not keys:
        return {}
    y, v = np.array(logs), np.array(noise)
    weights = 1.0 / v
    centre = float(np.sum(weights * y) / np.sum(weights))
    centre_var = float(1.0 / np.sum(weights))
    between = max(float(np.mean((y - centre) ** 2) - np.mean(v)), 0.0) if len(y) > 2 else 0.0
    share = between / (between + v)
    shrunk = centre + share * (y - centre)
    own = share * v  # independent between networks
    common = (1.0 - share) * math.sqrt(centre_var)  # the centre's error, shared by all
    rows = zip(keys, shrunk.tolist(), own.tolist(), common.tolist(), strict=True)
    return {key: Factor(math.exp(log_f), var, sd) for key, log_f, var, sd in rows}


def apply_factors(cells: Cells, factors: dict[Cell, Factor]) -> Cells:
    """The IP-only cells with each calibrated network's estimate multiplied by its factor, and
    its country's row moved by the same number of hosts. A factor's own error adds as a
    variance; the error of the shared centre goes to the cells' shared part (it adds up over
    networks and countries instead of averaging out)."""
    out = dict(cells)
    for key, factor in factors.items():
        if key not in cells:
            continue
        f = factor.value
        hosts, var, shared = cells[key]
        new = hosts * f
        added_var = new * new * factor.own_var
        added_shared = new * factor.shared_sd
        out[key] = (new, var * f * f + added_var, shared * f + added_shared)
        country: Cell = (key[0], key[1], None)
        c_hosts, c_var, c_shared = out.get(country, (0.0, 0.0, 0.0))
        out[country] = (
            c_hosts + new - hosts,
            c_var + var * (f * f - 1) + added_var,
            c_shared + shared * (f - 1) + added_shared,
        )
    return out


def strip_ids_note(counts: IdCounts, model: Cells, factors: dict[Cell, Factor]) -> str:
    """The strip-the-ids check in one sentence: over the windows, machines the ids count
    against what the IP-only model makes of the same sightings without their ids, and the
    per-network corrections applied (a calibration on the same population, not on a
    simulator)."""
    by_window: dict[date, list[float]] = {}
    for i, start in enumerate(counts.window_start.tolist()):
        first = EPOCH + timedelta(days=start)
        acc = by_window.setdefault(first, [0.0, 0.0])
        acc[0] += float(counts.machines[i] + counts.hidden[i])
        acc[1] += model.get((first, counts.cc[i], int(counts.asn[i])), (0.0, 0.0, 0.0))[0]
    ratios = sorted(m / h for m, h in by_window.values() if h > 0 and m >= MIN_MACHINES)
    if not ratios:
        return (
            "strip-the-ids check: too few machines with bot ids in any window "
            f"(fewer than {MIN_MACHINES}) to check the IP-only model"
        )
    median = ratios[len(ratios) // 2]
    values = sorted(f.value for f in factors.values())
    applied = (
        f"per-network corrections {values[0]:.2f}-{values[-1]:.2f} applied to the sightings "
        f"without ids in {len({k[1:] for k in factors})} networks"
        if values
        else "no network has enough machines with ids for a correction of its own"
    )
    return (
        "strip-the-ids check: on the sightings that carry bot ids, with the ids taken away, "
        f"the IP-only model counts {1 / median:.2f}x the machines the ids count (median of "
        f"{len(ratios)} windows, {ratios[0]:.2f}-{ratios[-1]:.2f} ids/model); {applied}"
    )

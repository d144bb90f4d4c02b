"""Per-network correction of the address model, learnt from the machines that carry bot ids
and applied to the sightings without one in the same network (Griffioen and Doerr measured
churn per AS on Hajime's ids; here the whole address model is checked per network).

A network with at least MIN_NETWORK_MACHINES machines with ids in some window is checked:
the address model is run on its sightings that carry an id with the ids taken away, as if
they were IP-only, and its estimate H set against the machines the ids count, M. Bots with
and without ids in one network share its addresses' churn, NAT and renumbering, so the same
model errs the same way on both (up to TRANSFER_SD, below), and the IP-only estimate of that
network is multiplied by f = M / H.

f is fitted over the windows as log f = a + b: the network's own level a, from all its
windows (a property of its addresses, shrunk to the networks' centre unless networks truly
differ), and the window's drift b, which every network shares (the model's trend error: as
machines are cleaned, the model on the id sightings may fall faster or slower than the ids).
A factor of each window on its own switched off wherever a network's machines with ids fell
below MIN_MACHINES, and its sightings without ids went back to the uncorrected model: as
networks fell below it one by one while machines were cleaned, the corrected total fell too
slowly (b-sparse seed 14 with ids: the decay 16.7% slow, docs/measurement.md). The variance of
log a is the sampling error of the network's machines with ids in its busiest window, 1/M
(the same machines are counted in every window), that of b the window's over all networks
(an error they share); what f corrects, the model error, stays in the variance of the
estimate it multiplies (conservative: the interval does not narrow). H is the model's
reading of those M machines' sightings, not a count of its own: up to the twenty-eighth
freeze the variance was 1/M + 1/H, as if it were, and the networks' levels were shrunk too
far to the centre (the model's error on the ids, and so the factor, differs between networks
by more than the sampling error leaves them). Measured by halves (the ids kept on one half
of the machines, then on the other; (log f of one - log f of the other)^2 / 4 over the
networks, development seeds of b-harsh, b-mobile and b-sparse): 1.03 times 1/M with ids on
12% of the machines, 0.19-1.38 in single populations, 0.51 with ids on 30%, while 1/M + 1/H
is 1.4-2.1 times 1/M. So 1/M is about right with ids on 12% of the machines, and
conservative with more.

Networks with few machines with ids are corrected too, their level shrunk to the centre by
its sampling error: up to the fifteenth freeze a network needed MIN_MACHINES (30), and the
small mobile networks of b-harsh seed 16 with ids (12-17 machines with ids, the model 2.4-4
times their machines behind carrier-grade NAT) kept their raw estimate, which put their
countries 1.3-1.4 times the truth in every week, outside every interval.

The machines with ids and those without are different machines: a factor learnt on one and
applied to the other carries an error of its own network beyond the sampling of either
count, TRANSFER_SD (module constant).
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
"""Machines with ids a window needs for the strip-the-ids note's ratio of that window."""
MIN_NETWORK_MACHINES: Final = 5
"""Machines with ids a network needs in at least one window before it is corrected (then in
every window); its level is shrunk to the networks' centre by its sampling error, so a
network with few machines with ids mostly takes the centre's."""
TRANSFER_SD: Final = 0.15
"""Standard deviation of log f that is the network's own error in carrying a factor learnt on
its machines with ids over to its machines without: the two are different machines, sharing
addresses differently (a household of three with one id is one machine with an id at its
address, and two without). Set on b-harsh seed 16 with ids (seen after the fourteenth
freeze): the model's truth-known factor on each network's sightings without ids against the
one learnt on its ids, log ratio -0.07 median, 0.09 robust spread, 0.17 root mean square
over 27 networks (one at 1.87 times). Independent between networks."""
MAX_FACTOR: Final = 4.0
"""Corrections above this are taken as a sign that ids and addresses live apart in that
network (many ids behind a proxy or gateway) and not applied. One far below 1 is applied:
the model measured far too high on that network (a carrier-grade NAT pool whose every
address-day reads as a machine-day; b-harsh seed 1, mobile networks at 0.07-0.24). Up to
9a90765 those below 1 / MAX_FACTOR were dropped too, and kept their raw estimate."""
TWO_WAY_ROUNDS: Final = 20_000
"""Most rounds of the alternating fit of network levels and window drifts: networks that
share few windows (they appear and fall away as machines are cleaned) settle slowly."""
TWO_WAY_TOLERANCE: Final = 1e-12
"""The fit has settled when no window's drift moves more than this in a round."""

Cell = tuple[date, str, int | None]
Net = tuple[str, int | None]
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
    """A network's correction: f, the variance of log f that is its own (its level's
    sampling error and TRANSFER_SD), and the standard deviation of log f that comes from the
    centre every network shares."""

    value: float
    own_var: float
    shared_sd: float


def network_factors(counts: IdCounts, model: Cells) -> dict[Cell, Factor]:
    """(window, country, ASN) -> its Factor, from the id counts and the address model's
    cells on the same sightings without their ids: log f = a + b, the network's level a
    (over all windows, shrunk) and the window's drift b (module docstring)."""
    cells = _cells(counts, model)
    level, drift = _two_way(cells)
    inside = {n for n, a in level.items() if math.exp(a) <= MAX_FACTOR}
    if inside != set(level):
        cells = {k: v for k, v in cells.items() if k[1] in inside}
        level, drift = _two_way(cells)
    if not level:
        return {}
    nets = sorted(level, key=str)
    # A network's noise is that of one window, its busiest: the same machines are counted
    # in every window, so its windows are not independent samples.
    busiest: dict[Net, float] = {}
    for (_, net), (m, _) in cells.items():
        busiest[net] = max(busiest.get(net, m), m)
    y = np.array([level[n] for n in nets])
    v = np.array([1.0 / busiest[n] for n in nets])
    weights = 1.0 / v
    centre = float(np.sum(weights * y) / np.sum(weights))
    centre_var = float(1.0 / np.sum(weights))
    between = max(float(np.mean((y - centre) ** 2) - np.mean(v)), 0.0) if len(y) > 2 else 0.0
    share = between / (between + v)
    shrunk = centre + share * (y - centre)
    own = share * v + TRANSFER_SD**2  # independent between networks
    common = (1.0 - share) * math.sqrt(centre_var)  # the centre's error, shared by all
    totals: dict[date, float] = {}
    for (window, _), (m, _) in cells.items():
        totals[window] = totals.get(window, 0.0) + m
    out: dict[Cell, Factor] = {}
    for i, (cc, asn) in enumerate(nets):
        for window, m in totals.items():
            # the window's drift is measured on all networks' machines: an error they share
            # (none with one window: its drift is 0 by definition)
            moved = 1.0 / m if len(totals) > 1 else 0.0
            shared = math.sqrt(float(common[i]) ** 2 + moved)
            value = math.exp(float(shrunk[i]) + drift[window])
            out[(window, cc, asn)] = Factor(value, float(own[i]), shared)
    return out


def _cells(counts: IdCounts, model: Cells) -> dict[tuple[date, Net], tuple[float, float]]:
    """(window, network) -> (machines the ids count, the model's hosts on the same sightings
    without ids), for the networks with MIN_NETWORK_MACHINES machines with ids in some window."""
    cells: dict[tuple[date, Net], tuple[float, float]] = {}
    for (window, cc, asn), machines in counts.by_cell().items():
        modelled = model.get((window, cc, asn), (0.0, 0.0, 0.0))[0]
        if machines > 0 and modelled > 0:
            cells[(window, (cc, asn))] = (machines, modelled)
    enough = {net for (_, net), (m, _) in cells.items() if m >= MIN_NETWORK_MACHINES}
    return {key: pair for key, pair in cells.items() if key[1] in enough}


def _two_way(
    cells: dict[tuple[date, Net], tuple[float, float]],
) -> tuple[dict[Net, float], dict[date, float]]:
    """log(M / H) of each cell as a + b: its network's level a and its window's drift b
    (machine-weighted mean 0), fitted by alternating ratio estimates until they settle:
    each a is its network's machines over its model hosts times exp(b), each b likewise over
    a window's networks (the multiplicative Poisson model's equations). Networks that
    share few windows settle slowly, hence the rounds."""
    if not cells:
        return {}, {}
    windows = sorted({w for w, _ in cells})
    nets = sorted({n for _, n in cells}, key=str)
    w_at = {w: i for i, w in enumerate(windows)}
    n_at = {n: i for i, n in enumerate(nets)}
    wi = np.array([w_at[w] for w, _ in cells], np.int64)
    ni = np.array([n_at[n] for _, n in cells], np.int64)
    m = np.array([pair[0] for pair in cells.values()], np.float64)
    h = np.array([pair[1] for pair in cells.values()], np.float64)
    m_net = np.bincount(ni, m, len(nets))
    m_win = np.bincount(wi, m, len(windows))
    drift = np.zeros(len(windows))
    level = np.zeros(len(nets))
    for _ in range(TWO_WAY_ROUNDS):
        level = np.log(m_net / np.bincount(ni, h * np.exp(drift[wi]), len(nets)))
        moved = np.log(m_win / np.bincount(wi, h * np.exp(level[ni]), len(windows)))
        settled = float(np.max(np.abs(moved - drift))) < TWO_WAY_TOLERANCE
        drift = moved
        if settled:
            break
    mean = float(np.sum(drift * m_win) / np.sum(m_win))
    levels = {n: float(level[i]) + mean for n, i in n_at.items()}
    return levels, {w: float(drift[i]) - mean for w, i in w_at.items()}


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

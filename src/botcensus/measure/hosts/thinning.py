"""Households split between machines with bot ids and machines without: how many machines
the address model's count stands for on each side.

Without a common check-in timer the address model cannot see two machines behind one address.
Where days active come from stable addresses, its count is of lines, and a household law
makes them machines (hosts.model.HOUSEHOLD: geometric households of mean mu in the data's
first full window, household_at in later ones). Where they come from machines with ids
(hosts.ids.Lent), a line whose machines are online on different days is online on the union
of their days, and the count is neither lines nor machines: with machines online on a share
q of the window's days independently of each other, a geometric line of mean mu' holds on
average 1 + (mu' - 1) q machines per unit of the count (mu' where q = 1: lines; 1 where
q -> 0: machines that never share a day).

Where only some machines carry an id, a household's machines are split. If each carries
one with chance p, independently of its household, a geometric household thinned to its
machines with ids is geometric again, and a line with at least one holds 1 + (mu - 1) p of
them on average (1 + (mu - 1)(1 - p) of those without). The per-network correction
(hosts.networks) is learnt by running the model on the sightings with ids: taking the full
household on both sides let it count the machines without ids at the ids' machines per line
(sixteenth held-out set, b-harsh seed 20 with ids on 12% of the machines: 1.06-1.09 machines
with ids per such household against 1.61-1.63 without, every country 0.69-0.94 of the
truth). Here each side takes its own: side_factor. Networks whose host-days are check-ins
over a machine's day (hosts.reference split_few: an address per connection) count machines
on either side already, and are left as they are (hosts.estimate.rehoused); without that
exception the correction took b-harsh seed 18 with ids on 12% (seen) from 13.3% to 21.0%
off per country (median), with it 12.2%.

p is a country's machines with ids over all its machines, the latter estimated with p: a
fixed point (ids_shares), per country, since the share of machines with ids can differ
between countries (a bot version spread regionally) and a country without ids must not
move. The law's mean is an assumption; the error of the ratio of the two sides for
extra machines per line between 1/SPAN and SPAN times the assumed is carried as a standard
deviation of its log (thinning_sd), shared by every country.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from botcensus.measure.hosts.model import HOUSEHOLD, Z90, household_at

ROUNDS: Final = 50
"""Most iterations of the share of machines with ids."""
TOLERANCE: Final = 1e-6
SPAN: Final = 2.0
"""The extra machines per line (HOUSEHOLD - 1) are taken to lie within a factor of SPAN
either way (a 90% range) for the correction's error."""


def per_count(extra: float, q: float) -> float:
    """Machines per unit of the model's count on lines of 1 + `extra` machines (geometric)
    whose machines are online on a share `q` of days each, days active measured on machines
    (q = 1: days active of lines, the count is of lines)."""
    return 1.0 + max(extra, 0.0) * min(max(q, 0.0), 1.0)


def side_factor(lines_left: float, share: float, q: float) -> float:
    """The multiplier of a cell taken at model.household_at(lines_left) machines per count,
    for the side of a household that holds a `share` of its machines (p for the sightings
    with ids, 1 - p for those without) and is online on a share `q` of days."""
    full = household_at(lines_left)
    return per_count((full - 1.0) * share, q) / full


def thinning_sd(lines_left: float, p: float, q: float) -> float:
    """Standard deviation of the log of the ratio of the two sides' multipliers, for extra
    machines per line between 1/SPAN and SPAN times the assumed (a 90% range)."""
    extra = household_at(lines_left) - 1.0

    def log_ratio(e: float) -> float:
        return math.log(per_count(e * (1.0 - p), q) / per_count(e * p, q))

    return abs(log_ratio(extra * SPAN) - log_ratio(extra / SPAN)) / (2.0 * Z90)


def ids_shares(
    with_ids: Mapping[str, float], without_ids: Callable[[dict[str, float]], dict[str, float]]
) -> dict[str, float]:
    """Per country, the share of its machines that carry ids: `with_ids` its machines counted
    by id, and `without_ids(p)` its machines estimated without ids when the shares are p;
    the fixed point of p = M / (M + N(p)), iterated from 1/2 with damping (a network's
    correction can switch off as p moves, hosts.networks.MAX_FACTOR, and plain iteration
    may then cycle). 0 where a country has none counted; empty where N is not a number."""
    p = {cc: 0.5 for cc, m in with_ids.items() if m > 0}
    if not p:
        return {}
    for _ in range(ROUNDS):
        rest = without_ids(p)
        if not all(math.isfinite(v) for v in rest.values()):
            return {}
        moved = {cc: with_ids[cc] / (with_ids[cc] + max(rest.get(cc, 0.0), 0.0)) for cc in p}
        if max(abs(moved[cc] - p[cc]) for cc in p) < TOLERANCE:
            return moved
        p = {cc: (p[cc] + moved[cc]) / 2.0 for cc in p}
    return p


def thinned(p: float, household: float = HOUSEHOLD) -> float:
    """Machines per line of the side of a household that holds a share `p` of its machines,
    of the lines with at least one: 1 + (mu - 1) p."""
    return 1.0 + (household - 1.0) * min(max(p, 0.0), 1.0)

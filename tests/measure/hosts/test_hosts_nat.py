"""Hidden household machines: how independent households are, and what that implies."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts.daily import GAP_INTERVALS, several_hosts
from botcensus.measure.hosts.features import address_lifetimes, read_address_days
from botcensus.measure.hosts.nat import (
    GAMMA,
    NU,
    OMEGA,
    hidden_per_flagged,
    independence,
    merge_odds,
)

from .hosts_cases import START, Population, connect, populate

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]


def test_households_that_never_part_hide_nothing() -> None:
    rho = independence(np.array([0.0]), np.array([0.4]), np.array([0.3]))
    assert hidden_per_flagged(rho, np.array([0.4]), np.array([0.3])) == pytest.approx([0.0])


def test_independent_households_hide_nu_over_omega_per_flagged_day() -> None:
    omega, gamma, nu = np.array([0.4]), np.array([0.3]), np.array([0.3])
    rho = independence(gamma / omega, omega, gamma)
    assert rho == pytest.approx([1.0])
    assert hidden_per_flagged(rho, omega, nu) == pytest.approx([0.75])


def test_independence_is_clipped_to_one() -> None:
    assert independence(np.array([9.0]), np.array([0.4]), np.array([0.3])) == pytest.approx([1])


def test_merged_pairs_split_into_flagged_split_and_hidden() -> None:
    pop = Population()
    populate(pop, range(200), "static")
    con = connect(pop.table())
    query = CensusQuery(include_unclaimed=True)
    life = address_lifetimes(con, query, "sightings", "life")
    a = read_address_days(con, query, "sightings", (START, START), margin_s=315, lifetimes=life)
    multi, _ = several_hosts(a.first, a.last, a.hits, 300.0)

    def flagged(first: F64, last: F64, hits: F64) -> B:
        return several_hosts(first, last, hits, 300.0)[0]

    odds = merge_odds(a, ~multi, 300.0, flagged, GAP_INTERVALS, 315)
    row = odds[0]
    assert row[OMEGA] + row[GAMMA] + row[NU] == pytest.approx(1.0)
    assert row[OMEGA] > 0
    assert row[GAMMA] > 0

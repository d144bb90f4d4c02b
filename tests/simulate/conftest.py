"""Shared fixtures: the bundled scenarios and a synthetic address-space table covering them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from botcensus.simulate import Scenario, Simulation, load_scenario, simulate, synthetic_ranges


def countries_of(scenario: Scenario) -> list[str]:
    """Every country a scenario places bots or noise sources in."""
    return sorted(set(scenario.countries) | {c for n in scenario.noise for c in n.countries})


@pytest.fixture(scope="session")
def rustock() -> Scenario:
    return load_scenario("rustock-2011")


@pytest.fixture(scope="session")
def space(rustock: Scenario) -> pa.Table:
    return synthetic_ranges(countries_of(rustock), asns=40, seed=7)


@pytest.fixture(scope="session")
def first_week(rustock: Scenario, space: pa.Table) -> Simulation:
    """Scale 0.002, seed 1, the takedown week."""
    return simulate(
        rustock,
        address_space=space,
        scale=0.002,
        seed=1,
        start=dt.date(2011, 3, 16),
        end=dt.date(2011, 3, 22),
    )

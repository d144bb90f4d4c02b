"""Small populations of both families, generated once per test session."""

from __future__ import annotations

import pytest
from bench.popgen import Result, generate, override, preset

B_SETTINGS = [
    "n_machines=240",
    "days=21",
    "notify.day=7",
    "outages=[[200.0, 6.0]]",
    "report.ids_share=0.4",
]
"""Family B, three weeks: campaign on day 7, sensor down on day 8 from 08:00 to 14:00 UTC."""
A_SETTINGS = ["n_machines=240", "days=14"]


@pytest.fixture(scope="session")
def b_pop(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """b-harsh, one row per check-in, 40% of machines with bot ids."""
    out = tmp_path_factory.mktemp("b-harsh")
    return generate(override(preset("b-harsh"), B_SETTINGS), 5, out)


@pytest.fixture(scope="session")
def a_pop(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """a-global, rows aggregated per address and hour."""
    out = tmp_path_factory.mktemp("a-global")
    return generate(override(preset("a-global"), A_SETTINGS), 5, out)


@pytest.fixture(scope="session")
def a_daily(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """a-cgn, rows aggregated per address and day."""
    out = tmp_path_factory.mktemp("a-cgn")
    return generate(override(preset("a-cgn"), ["n_machines=150", "days=7"]), 9, out)

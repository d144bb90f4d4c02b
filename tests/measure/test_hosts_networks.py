"""Per-network correction of the address model from machines with ids: the factor, its
limits, and how it moves a network's and its country's estimate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from botcensus.measure.hosts_features import EPOCH
from botcensus.measure.hosts_ids import IdCounts
from botcensus.measure.hosts_networks import MIN_MACHINES, apply_factors, network_factors

W = dt.date(2011, 3, 20)
START = (W - EPOCH).days


def _counts(rows: list[tuple[str, int, float]]) -> IdCounts:
    n = len(rows)
    return IdCounts(
        window_start=np.full(n, START, np.int64),
        cc=tuple(r[0] for r in rows),
        asn=np.array([r[1] for r in rows], np.int64),
        machines=np.array([r[2] for r in rows], np.float64),
        machine_days=np.zeros(n),
        machine_days_sq=np.zeros(n),
        hidden=np.zeros(n),
    )


def test_factor_is_machines_over_the_model_on_the_same_sightings() -> None:
    counts = _counts([("US", 1, 120.0), ("US", 2, 10.0), ("DE", 3, 200.0), ("DE", 4, 100.0)])
    model = {
        (W, "US", 1): (100.0, 0.0, 0.0),  # the model undercounts this network by 20%
        (W, "US", 2): (8.0, 0.0, 0.0),  # too few machines to judge
        (W, "DE", 3): (20.0, 0.0, 0.0),  # ids and addresses live apart: not applied
    }  # DE 4: the model has nothing there
    factors = network_factors(counts, model)
    assert set(factors) == {(W, "US", 1)}
    factor, var_log = factors[(W, "US", 1)]
    assert factor == pytest.approx(1.2)
    assert var_log == pytest.approx(1 / 120 + 1 / 100)
    assert MIN_MACHINES > 10


def test_applying_moves_the_network_and_its_country_by_the_same_hosts() -> None:
    cells = {
        (W, "US", 1): (500.0, 400.0, 5.0),
        (W, "US", 9): (300.0, 100.0, 3.0),
        (W, "US", None): (800.0, 500.0, 8.0),
    }
    out = apply_factors(cells, {(W, "US", 1): (1.2, 0.01), (W, "FR", 5): (2.0, 0.1)})
    assert out[(W, "US", 1)][0] == pytest.approx(600.0)
    assert out[(W, "US", 9)] == cells[(W, "US", 9)]
    assert out[(W, "US", None)][0] == pytest.approx(900.0)
    added = 600.0**2 * 0.01
    assert out[(W, "US", 1)][1] == pytest.approx(400.0 * 1.44 + added)
    assert out[(W, "US", None)][1] == pytest.approx(500.0 + 400.0 * 0.44 + added)
    assert (W, "FR", 5) not in out  # no IP-only estimate there to correct


def test_factors_are_shrunk_to_their_mean_unless_networks_truly_differ() -> None:
    """Forty networks of 1,000 machines with ids whose model errs by the same 20% (factors
    scattered about as much as sampling does) all get about 1.2; when half truly err by 50%
    instead, each keeps most of its own."""
    rng = np.random.default_rng(3)
    same = [("US", a, 1000.0) for a in range(40)]
    model = {(W, "US", a): (1000.0 / 1.2 * float(np.exp(rng.normal(0, 0.04))), 0.0, 0.0)
             for a in range(40)}  # fmt: skip
    factors = network_factors(_counts(same), model)
    values = np.array([f for f, _ in factors.values()])
    assert np.all(np.abs(values / 1.2 - 1) < 0.05)
    apart = {
        key: (hosts / (1.5 / 1.2 if key[2] % 2 else 1.0), 0.0, 0.0)
        for key, (hosts, _, _) in model.items()
    }
    factors = network_factors(_counts(same), apart)
    odd = np.array([f for (_, _, a), (f, _) in factors.items() if a % 2])
    even = np.array([f for (_, _, a), (f, _) in factors.items() if not a % 2])
    assert np.median(odd) > 1.4
    assert np.median(even) < 1.3

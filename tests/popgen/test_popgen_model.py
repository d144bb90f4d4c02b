"""The generator's building blocks do what their assumptions say (large n, no files)."""

from __future__ import annotations

import numpy as np
import pytest
from bench.popgen import Params, override, preset
from bench.popgen.checkins import _timer
from bench.popgen.infection import draw_episodes, notify_time
from bench.popgen.params import LINE_TYPES, USAGES
from bench.popgen.population import build_population
from bench.popgen.usage import draw_sessions, merge
from hypothesis import given, settings
from hypothesis import strategies as st

DAY = 86_400.0


def _population(params: Params, seed: int = 3):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    return build_population(params, rng), rng


def test_notification_multiplies_the_hazard_from_its_day() -> None:
    """Observed / expected clean-ups (expected from each machine's own hazard) is 1 before
    the campaign and for machines not told, and the multiplier for machines told."""
    params = override(preset("b-harsh"), ["n_machines=20000", "cleanup.reinfection_prob=0"])
    pop, rng = _population(params)
    ep = draw_episodes(params, pop, rng)
    tn = params.notify.day * DAY
    horizon = params.days * DAY
    told = np.isfinite(notify_time(params, pop))
    rate = pop.m_hazard[ep.machine]
    begin = np.maximum(ep.start, 0)
    end = np.minimum(ep.end, horizon)
    for group, mult in ((told[ep.machine], params.notify.multiplier), (~told[ep.machine], 1.0)):
        lo, hi = np.maximum(begin, tn), np.maximum(end, tn)
        exposure = (rate * (hi - lo))[group]
        observed = ((ep.end > tn) & (ep.end < horizon))[group].sum()
        assert observed / exposure.sum() == pytest.approx(mult, rel=0.08)
        before = (np.minimum(end, tn) - np.minimum(begin, tn))[group] * rate[group]
        assert (ep.end <= tn)[group].sum() / before.sum() == pytest.approx(1.0, rel=0.08)


def test_family_a_survival_follows_the_gamma_frailty_curve() -> None:
    params = override(preset("a-global"), ["n_machines=20000"])
    pop, rng = _population(params)
    ep = draw_episodes(params, pop, rng)
    k, lam = params.cleanup.frailty_shape, params.cleanup.rate_per_day
    for days in (28, 56):
        expected = (1 + lam * days / k) ** -k
        assert (ep.end > days * DAY).mean() == pytest.approx(expected, abs=0.015)


def test_households_and_sites_have_their_sizes() -> None:
    params = override(preset("b-harsh"), ["n_machines=6000"])
    pop, _ = _population(params)
    size = np.bincount(pop.m_line)
    enterprise = pop.net.line[pop.line_net] == LINE_TYPES.index("enterprise")
    assert size[~enterprise].max() <= 4
    assert size[enterprise].max() <= 12
    assert 1.4 < size[~enterprise].mean() < 2.0
    assert (size[~enterprise] == 1).mean() == pytest.approx(0.55, abs=0.05)


def test_networks_of_one_country_differ() -> None:
    """Family B draws each network's policy and parameters: within a country there are
    networks of several policies, and periodic networks with different periods or phases."""
    pop, _ = _population(override(preset("b-harsh"), ["n_machines=8000"]))
    net = pop.net
    for cc in set(net.cc):
        mine = [i for i, c in enumerate(net.cc) if c == cc]
        assert len({int(net.policy[i]) for i in mine}) >= 2, cc
    assert len(set(np.round(net.gap_s))) > 10


def test_timer_with_uniform_jitter_keeps_each_gap_within_the_jitter() -> None:
    rng = np.random.default_rng(1)
    first = np.array([0.0, 100.0])
    end = np.array([36_000.0, 50_000.0])
    owner, t = _timer(rng, first, end, np.array([600.0, 900.0]), np.array([0.1, 0.0]), False)
    for k, period, jitter in ((0, 600.0, 0.1), (1, 900.0, 0.0)):
        times = np.concatenate([[first[k]], t[owner == k]])
        gaps = np.diff(times)
        assert gaps.min() >= period * (1 - jitter) - 1e-6
        assert gaps.max() <= period * (1 + jitter) + 1e-6
        assert times[-1] < end[k] <= times[-1] + period * (1 + jitter)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 1000), st.floats(0, 200)), max_size=40))
def test_merge_gives_disjoint_sorted_unions(spans: list[tuple[int, float, float]]) -> None:
    m = np.array([s[0] for s in spans], dtype=np.int64)
    start = np.array([s[1] for s in spans])
    end = start + np.array([s[2] for s in spans]) + 1e-3
    out = merge(m, start, end)
    for machine in range(4):
        mine = out.machine == machine
        s, e = out.start[mine], out.end[mine]
        assert (e > s).all()
        assert (s[1:] > e[:-1]).all()
        # every input interval lies inside one output interval
        for a, b in zip(start[m == machine], end[m == machine], strict=True):
            assert ((s <= a) & (e >= b)).any()


def test_sessions_follow_local_time() -> None:
    """Office machines start at about 08:30 local time: in UTC, Sao Paulo's start ten
    hours after Jakarta's."""
    params = override(preset("b-harsh"), ["n_machines=6000", "days=14"])
    pop, rng = _population(params)
    sessions = draw_sessions(params, pop, rng)
    office = pop.m_usage[sessions.machine] == USAGES.index("office")
    offset = pop.net.utc_offset[pop.m_net[sessions.machine]]
    local_start = ((sessions.start + offset) % DAY) / 3600
    short = (sessions.end - sessions.start) < 12 * 3600
    assert np.median(local_start[office & short]) == pytest.approx(8.5, abs=0.5)
    utc_start = (sessions.start % DAY) / 3600
    jakarta = office & short & (offset == 7 * 3600)
    sao_paulo = office & short & (offset == -3 * 3600)
    assert np.median(utc_start[sao_paulo]) - np.median(utc_start[jakarta]) == pytest.approx(
        10, abs=0.6
    )

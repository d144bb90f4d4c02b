"""Full-size populations from the independent generator (8,000 machines, 8 weeks), scored
through the CLI (bench/heldout.run) against bounds near the figures BENCHMARKS.md publishes.
Minutes each: marked `heavy`, run by `make test-all` (CI), not by `make test`."""

from __future__ import annotations

import pytest
from bench.heldout.run import evaluate
from bench.heldout.score import Score
from bench.popgen import override, preset
from bench.popgen.driver import ok, run

pytestmark = pytest.mark.heavy


def _score(tmp_path_factory: pytest.TempPathFactory, name: str, seed: int,
           settings: tuple[str, ...] = ()) -> Score:  # fmt: skip
    out = tmp_path_factory.mktemp(f"{name}-{seed}") / "pop"
    _, report = run(override(preset(name), list(settings)), seed, out, ids=False, checkins=False)
    assert ok(report), report
    return evaluate(out)[0]


@pytest.fixture(scope="module")
def a_global(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Development set: a-global seed 1 (published: 6.5% global, 5.9% per country)."""
    return _score(tmp_path_factory, "a-global", 1)


@pytest.fixture(scope="module")
def a_cgn(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Development set: a-cgn seed 1 (published: bounds only, all holding the truth)."""
    return _score(tmp_path_factory, "a-cgn", 1)


def test_development_a_global_hosts(a_global: Score) -> None:
    assert a_global.median_error("global") <= 0.09
    assert a_global.median_error("country") <= 0.09
    inside, checked = a_global.coverage()
    assert inside / checked >= 0.9


def test_development_a_global_clean_up(a_global: Score) -> None:
    assert a_global.decay_error() <= 0.08
    for day in ("28", "56"):
        assert a_global.surv_est[day] is not None
        assert abs(a_global.surv_est[day] - a_global.surv_true[day]) <= 0.05


def test_development_a_cgn_only_bounds_that_hold(a_cgn: Score) -> None:
    none, held, rows = a_cgn.unsupported()
    assert none == held == rows > 0
    assert a_cgn.decay_error() <= 0.08
    assert a_cgn.surv_support["28"] == "decay"
    assert abs(a_cgn.surv_est["28"] - a_cgn.surv_true["28"]) <= 0.05

"""Lines fall more slowly than the machines behind them (cleanup.lines): the law and its
inverse."""

from __future__ import annotations

import numpy as np
import pytest

from botcensus.measure.cleanup.lines import lines_share, machines_share, ratio


def test_one_machine_per_line_changes_nothing() -> None:
    assert ratio(1.0) == 0.0
    assert lines_share(0.6, 0.0) == pytest.approx(0.6)
    assert machines_share(0.6, 0.0) == pytest.approx(0.6)


@pytest.mark.parametrize("s", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_machines_share_inverts_lines_share(s: float) -> None:
    r = ratio(1.25)
    assert machines_share(lines_share(s, r), r) == pytest.approx(s)


def test_lines_outlive_their_machines() -> None:
    r = ratio(1.25)
    assert lines_share(0.6, r) > 0.6


def test_the_law_matches_lines_of_geometric_size_cleaned_one_by_one() -> None:
    """Monte Carlo: lines with a geometric number of machines, each cleaned with
    probability 1 - S, are still infected in the share L(S)."""
    rng = np.random.default_rng(3)
    r = ratio(1.4)
    sizes = rng.geometric(1 - r, size=200_000)
    alive = rng.random((len(sizes), sizes.max())) < 0.55
    counted = np.arange(sizes.max())[None, :] < sizes[:, None]
    share = float(np.mean(np.any(alive & counted, axis=1)))
    assert share == pytest.approx(lines_share(0.55, r), abs=0.005)

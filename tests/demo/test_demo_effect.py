"""The demo's effect line: a Cox hazard ratio on followed addresses is printed as the effect
only where the arms' weekly decay rates (which follow no one) agree with it; where they
contradict it, the line says the ratio is not supported and gives both figures."""

from __future__ import annotations

import math

from botcensus.demo import campaign
from botcensus.measure.cleanup import DecayFit
from botcensus.measure.survival import HazardRatio


def _fit(rate: float, se: float) -> DecayFit:
    return DecayFit(
        rate_per_week=rate, lower=rate - 1.96 * se, upper=rate + 1.96 * se, level=0.95,
        intercept=math.log(100.0), se=se, dispersion=1.0, weeks=11,
    )  # fmt: skip


def _hazard(value: float, lower: float, upper: float) -> HazardRatio:
    return HazardRatio(
        hazard_ratio=value, lower=lower, upper=upper, level=0.95, p_value=0.002,
        identities=253, events=82, notified=132, holdout=233, clusters=46,
    )  # fmt: skip


# The demo of seed 2011, scale 0.001: Cox on 253 followed addresses 0.46 (0.28-0.76), weekly
# decay of unique addresses told 0.087 (0.070-0.103), held out 0.071 (0.062-0.081).
ARMS = campaign.ArmDecay(
    told=_fit(0.087, 0.0085), held=_fit(0.071, 0.0048),
    true_told=_fit(0.089, 0.003), true_held=_fit(0.067, 0.003),
)  # fmt: skip


def test_a_cox_ratio_the_decay_contradicts_is_not_printed_as_the_effect() -> None:
    line = campaign.effect_lines(_hazard(0.46, 0.28, 0.76), ARMS)[0]
    assert "hazard ratio 0.46 (" not in line
    assert "not supported by these data" in line
    assert "0.46 (0.28–0.76)" in line  # both figures stay visible
    assert "1.23 (" in line  # 0.087 / 0.071
    assert "true 2.0" in line


def test_a_cox_ratio_the_decay_agrees_with_is_the_effect() -> None:
    line = campaign.effect_lines(_hazard(1.35, 1.05, 1.74), ARMS)[0]
    assert "hazard ratio 1.35 (95% interval 1.05–1.74)" in line
    assert "not supported" not in line
    assert "1.23 (" in line


def test_without_a_cox_ratio_the_decay_ratio_is_given_as_such() -> None:
    line = campaign.effect_lines(None, ARMS)[0]
    assert "1.23 (" in line
    assert "decay" in line


def test_the_truth_names_the_simulated_multiplier_and_the_perfect_observers_figure() -> None:
    line = campaign.effect_lines(_hazard(1.35, 1.05, 1.74), ARMS, 1.46)[0]
    assert "true 2.0 as simulated, 1.46 for a perfect observer's Cox fit" in line

"""Whether a weekly count falls at a constant rate (cleanup.bend), and what a bend does to
the share still infected (cleanup.checks)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure.cleanup.bend import BEND, Bend, bend_note, fit_bend, unchecked_note
from botcensus.measure.cleanup.checks import (
    bend_notes,
    bent,
    checked_survival,
    steady,
    unchecked_notes,
)
from botcensus.measure.cleanup.decay import decay_table

WEEKS = np.arange(7, dtype=np.float64) + 0.5


def _mixture(n: float, rates: tuple[float, ...], inflow: float = 0.0) -> np.ndarray:
    """Expected weekly machines of a population split evenly between clean-up rates (per
    week), with `inflow` new machines a week cleaning at the mean rate; and no noise."""
    share = n / len(rates)
    first = sum(share * np.exp(-r * WEEKS) for r in rates)
    mean = float(np.mean(rates))
    joined = inflow * (1 - np.exp(-mean * WEEKS)) / mean
    return np.asarray(first + joined, dtype=np.float64)


def test_a_constant_rate_does_not_bend() -> None:
    bend = fit_bend(WEEKS, 8000 * np.exp(-0.07 * WEEKS))
    assert bend is not None
    assert abs(bend.curvature) < 1e-9
    assert not bend.bends


def test_counts_with_poisson_noise_at_a_constant_rate_seldom_bend() -> None:
    """The false alarm rate on a closed population cleaning at one rate: Poisson noise and
    10% extra noise per week (host estimates are modelled, not counted)."""
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(2000):
        mean = 6000 * np.exp(-0.06 * WEEKS) * rng.lognormal(0.0, 0.10, WEEKS.size)
        bend = fit_bend(WEEKS, rng.poisson(mean).astype(np.float64))
        assert bend is not None
        alarms += bend.bends
    assert 0.07 <= alarms / 2000 <= 0.12  # a 10% test (LEVEL): 9.5% on 2,000 other draws


def test_rates_that_vary_between_machines_bend_and_the_decays_share_reads_high() -> None:
    """Half the machines cleaning at 0.02 a week, half at 0.25: the count's fall slows, and
    a constant rate fitted to it reads the first infections' share after 28 days high."""
    counts = _mixture(8000, (0.02, 0.25))
    bend = fit_bend(WEEKS, counts)
    assert bend is not None
    assert bend.bends
    assert bend.curvature > BEND
    rate = -np.polyfit(WEEKS, np.log(counts), 1)[0]
    truth = float(np.mean([math.exp(-r * 4) for r in (0.02, 0.25)]))
    assert math.exp(-rate * 4) - truth > 0.04


def test_a_steady_inflow_of_new_infections_hardly_bends_the_count() -> None:
    """The test's blind spot (docs/measurement.md): 400 new machines a week joining 8,000
    cleaning at 0.12 a week make the constant rate read 0.79 after 28 days for the first
    infections' 0.62, and the count bends by less than BEND."""
    counts = _mixture(8000, (0.12,), inflow=400)
    bend = fit_bend(WEEKS, counts)
    assert bend is not None
    assert not bend.bends
    assert bend.curvature < BEND
    rate = -np.polyfit(WEEKS, np.log(counts), 1)[0]
    assert math.exp(-rate * 4) - math.exp(-0.12 * 4) > 0.15


def test_a_count_whose_fall_speeds_up_bends_the_other_way() -> None:
    counts = 8000 * np.exp(-0.02 * WEEKS - 0.006 * WEEKS**2)
    bend = fit_bend(WEEKS, counts)
    assert bend is not None
    assert bend.bends
    assert bend.curvature < 0


def test_a_small_bend_is_not_a_bend_however_significant() -> None:
    """Family A's host estimates bent by up to +0.0021 with a tiny standard error: a model's
    small slant, not a population that is not closed."""
    bend = fit_bend(WEEKS, 1e6 * np.exp(-0.06 * WEEKS + 0.002 * WEEKS**2))
    assert bend is not None
    assert bend.significant
    assert not bend.bends


def test_too_few_weeks_or_an_empty_week_give_no_test() -> None:
    assert fit_bend(WEEKS[:4], 8000 * np.exp(-0.07 * WEEKS[:4])) is None
    counts = 8000 * np.exp(-0.07 * WEEKS)
    counts[3] = 0.0
    assert fit_bend(WEEKS, counts) is None
    counts[3] = math.nan
    assert fit_bend(WEEKS, counts) is None


def test_the_decay_table_of_host_estimates_says_whether_it_bends() -> None:
    from datetime import date, timedelta

    starts = [date(2024, 3, 4) + timedelta(weeks=i) for i in range(7)]
    weekly = pa.table({"window_start": starts, "hosts": _mixture(8000, (0.02, 0.25))})
    row = decay_table(weekly, count="hosts").to_pylist()[0]
    assert row["bends"] is True
    assert row["bend"] > BEND
    assert row["bend_se"] > 0
    addresses = weekly.rename_columns(["window_start", "unique_ip"])
    assert "bends" not in decay_table(addresses).column_names  # addresses: no such check


def _summary(km: tuple[float, float, float] | None) -> pa.Table:
    row: dict[str, object] = {"group": None, "identities": 0 if km is None else 1713}
    if km is not None:
        row |= {"surviving_28d": km[0], "surviving_28d_lower": km[1], "surviving_28d_upper": km[2]}
    return pa.Table.from_pylist([row])


def _row(bends: bool) -> dict[str, object]:
    """b-mobile seed 35 without ids (thirty-third held-out set): the decay 0.0591 a week
    [0.0485, 0.0698], addresses' rate's lower end 0.0427; truly 0.653 still infected at 28
    days and 0.506 at 56."""
    return {"group": None, "rate_per_week": 0.0591, "rate_lower": 0.0485, "rate_upper": 0.0698,
            "support": "estimate", "address_rate_lower": 0.0427, "bend": 0.0049,
            "bend_se": 0.001, "bends": bends}  # fmt: skip


def test_a_bent_count_leaves_the_share_without_ids_bounds_only() -> None:
    """The addresses followed read 0.856 and agreed with the decay's 0.79 (both high)."""
    for km in ((0.856, 0.835, 0.875), None):
        out = checked_survival(_summary(km), {None: _row(True)}, None).to_pylist()[0]
        for day, truth in ((28, 0.653), (56, 0.506)):
            assert out[f"surviving_{day}d"] is None
            assert out[f"surviving_{day}d_support"] == "bounds"
            assert out[f"surviving_{day}d_upper"] == pytest.approx(math.exp(-0.0427 * day / 7))
            assert out[f"surviving_{day}d_lower"] <= truth <= out[f"surviving_{day}d_upper"]
    straight = checked_survival(_summary((0.856, 0.835, 0.875)), {None: _row(False)}, None)
    assert straight.to_pylist()[0]["surviving_28d_support"] == "estimate"


def test_with_bot_ids_a_bend_does_not_set_the_share_aside() -> None:
    """Bot ids are machines counted: their share stands where it agrees with the decay."""
    km = (0.78, 0.76, 0.80)
    out = checked_survival(_summary(km), {None: _row(True)}, None, by_id=True).to_pylist()[0]
    assert out["surviving_28d"] == pytest.approx(0.78)
    assert out["surviving_28d_support"] == "estimate"
    out = checked_survival(_summary(km), {None: _row(True)}, None).to_pylist()[0]
    assert out["surviving_28d_support"] == "bounds"


def test_the_note_gives_the_bend_and_its_direction() -> None:
    note = bend_note({"bend": 0.0049, "bend_se": 0.0011})
    assert "+0.0049 ± 0.0011" in note
    assert "slows" in note
    assert "bounds only" in note
    assert "speeds up" in bend_note({"bend": -0.02, "bend_se": 0.003})


@pytest.mark.parametrize(
    "counts",
    [
        [1e300] * 7,  # the fit's exp() overflows
        [1e308] * 7,
        [1.0, 1e6, 1.0, 1e6, 1.0, 1e6, 1.0],  # does not converge
        [1e12, 1, 1, 1, 1, 1, 1e12],
        [0.5] * 6 + [1e9],
    ],
)
def test_counts_the_fit_cannot_take_give_no_test_and_no_warning(counts: list[float]) -> None:
    """Warnings are errors in this suite: an overflow would have raised."""
    assert fit_bend(np.arange(7.0), np.asarray(counts)) is None


def test_times_that_do_not_spread_give_no_test() -> None:
    counts = 8000 * np.exp(-0.07 * WEEKS)
    assert fit_bend(np.zeros(7), counts) is None
    times = WEEKS.copy()
    times[2] = math.nan
    assert fit_bend(times, counts) is None


def test_without_the_addresses_rate_a_bent_decay_does_not_bound_the_share() -> None:
    """A count whose fall speeds up reads the share low: the decay's own interval would be
    the side that misses, so without an addresses' rate the bounds say nothing."""
    row = _row(True) | {"address_rate_lower": None, "bend": -0.01}
    out = checked_survival(_summary(None), {None: row}, None).to_pylist()[0]
    for day in (28, 56):
        assert (out[f"surviving_{day}d_lower"], out[f"surviving_{day}d_upper"]) == (0.0, 1.0)
        assert out[f"surviving_{day}d_support"] == "bounds"


def test_a_row_withheld_already_or_rated_by_its_ids_is_not_bent() -> None:
    assert bent(_row(True))
    assert not bent(_row(True) | {"support": "bounds"})
    assert not bent(_row(True) | {"id_reason": "the machines with ids fall faster"})
    assert not bent(None)


def test_the_notes_name_the_bent_rows_and_only_those() -> None:
    rows = {None: _row(True), "IN": _row(True), "TR": _row(False), "US": _row(True)}
    notes = bend_notes(rows, "country")
    assert len(notes) == 2
    assert notes[0].startswith("survival: the weekly host estimates do not fall")
    assert "2 country group(s)" in notes[1]
    assert "(IN, US;" in notes[1]
    withheld = {None: _row(True) | {"support": "bounds"}}
    assert bend_notes(withheld, None) == []  # its own note says the decay is not supported
    many = {str(i): _row(True) for i in range(8)}
    assert "and 2 more" in bend_notes(many, "asn")[0]


def test_the_test_sees_a_bend_of_bend_only_in_counts_large_enough() -> None:
    """Weekly counts with Poisson noise falling 0.07 a week over seven weeks: from about
    8,000 a week the test could see a bend of BEND in most draws, at 20,000 in nearly all;
    at 4,000 in none. Counts with more noise than Poisson's need more."""
    rng = np.random.default_rng(7)
    mean = np.exp(-0.07 * WEEKS)
    for n, lowest in ((20_000, 180), (10_000, 120)):
        got = [fit_bend(WEEKS, rng.poisson(n * mean) + 0.0) for _ in range(200)]
        assert sum(b is not None and b.sensitive for b in got) >= lowest
    for n in (4000, 400):
        got = [fit_bend(WEEKS, rng.poisson(n * mean) + 0.0) for _ in range(200)]
        assert not any(b is not None and b.sensitive for b in got)
    noisy = mean * 20_000 * rng.lognormal(0.0, 0.03, size=len(WEEKS))
    assert not fit_bend(WEEKS, noisy).sensitive  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("curvature", "se", "sensitive"),
    [
        (+0.0008, 0.00082, True),  # a-cgn seed 133 (thirty-third held-out set)
        (-0.0006, 0.00138, True),  # c-slow seed 23 (thirty-third): by 2%
        (+0.0004, 0.00077, True),  # c-slow seed 24 (thirty-fourth)
        (-0.0021, 0.00274, False),  # b-mobile 400 machines, seed 1030 (thirty-fourth)
        (+0.0031, 0.00508, False),  # b-mobile 400 machines, seed 1022 (thirty-third)
        (+0.0065, 0.0013, True),  # b-harsh seed 55: sensitive, and it bends
        (0.0, math.nan, False),
        (0.0, 0.0, False),
        (math.inf, 0.0001, False),
    ],
)
def test_the_test_is_sensitive_where_a_bend_of_bend_would_be_significant(
    curvature: float, se: float, sensitive: bool
) -> None:
    assert Bend(curvature, se, 7).sensitive is sensitive


def _alone(sensitive: bool | None) -> dict[str, object]:
    """b-mobile at 400 machines, seed 1030 without ids (thirty-fourth held-out set), with
    no identities to follow: the decay alone read 0.80 after 28 days for a true 0.65."""
    return _row(False) | {"bend": -0.0021, "bend_se": 0.0027, "bend_sensitive": sensitive}


def test_the_decay_alone_stands_only_where_a_test_that_could_see_a_bend_saw_none() -> None:
    for sensitive in (False, None):
        out = checked_survival(_summary(None), {None: _alone(sensitive)}, None).to_pylist()[0]
        for day in (28, 56):
            assert out[f"surviving_{day}d"] is None
            assert out[f"surviving_{day}d_support"] == "bounds"
            assert out[f"surviving_{day}d_upper"] == pytest.approx(math.exp(-0.0427 * day / 7))
        assert out["surviving_bounds_reason"] == "unchecked"
    out = checked_survival(_summary(None), {None: _alone(True)}, None).to_pylist()[0]
    assert out["surviving_28d_support"] == out["surviving_56d_support"] == "decay"
    assert out["surviving_28d"] == pytest.approx(math.exp(-0.0591 * 4))
    assert out["surviving_bounds_reason"] is None
    assert steady(_alone(True))
    assert not steady(_alone(None))
    assert not steady(None)
    assert not steady(_alone(True) | {"bends": True})


def test_a_decay_checked_at_an_earlier_day_or_by_bot_ids_needs_no_steady_count() -> None:
    """Identities that agreed at 28 days checked the decay; at 56 it speaks alone."""
    summary = _summary((0.80, 0.78, 0.82))
    out = checked_survival(summary, {None: _alone(False)}, None).to_pylist()[0]
    assert out["surviving_28d_support"] == "estimate"
    assert out["surviving_56d_support"] == "decay"
    out = checked_survival(_summary(None), {None: _alone(False)}, None, by_id=True)
    assert out.to_pylist()[0]["surviving_28d_support"] == "decay"


def test_the_unchecked_notes_name_the_rows_set_aside_and_only_those() -> None:
    rows = {None: _alone(False), "IN": _alone(False), "TR": _alone(True)}
    rows = {g: r | {"group": g} for g, r in rows.items()}
    summary = pa.Table.from_pylist([{"group": g, "identities": 0} for g in rows])
    out = checked_survival(summary, rows, None)
    notes = unchecked_notes(out, rows, "country")
    assert len(notes) == 2
    assert "-0.0021 ± 0.0027" in notes[0]
    assert "bounds only" in notes[0]
    assert "1 country group(s)" in notes[1]
    assert "(IN)" in notes[1]
    assert "could not be tested" in unchecked_note({"bend": None, "bend_se": None})
    assert unchecked_notes(pa.table({"group": [None]}), rows, None) == []


def test_without_the_addresses_rate_an_unchecked_share_is_unbounded_on_every_day() -> None:
    """Not the decay's own interval at 56 days either: it may be the side that misses."""
    row = _alone(False) | {"address_rate_lower": None}
    out = checked_survival(_summary(None), {None: row}, None).to_pylist()[0]
    for day in (28, 56):
        assert (out[f"surviving_{day}d_lower"], out[f"surviving_{day}d_upper"]) == (0.0, 1.0)
    assert out["surviving_bounds_reason"] == "unchecked"


def test_a_rate_from_the_machines_with_ids_is_not_unchecked() -> None:
    """cleanup.id_check gave the rate (machines counted): the host count's bend test is not
    its check, as a bend is not (`bent`)."""
    row = _alone(False) | {"id_reason": "the machines with ids fall faster", "bends": True}
    out = checked_survival(_summary(None), {None: row}, None).to_pylist()[0]
    assert out["surviving_28d_support"] == "decay"
    assert out["surviving_bounds_reason"] is None

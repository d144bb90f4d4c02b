"""Decay rate, half-life and intervention marks on series with known answers."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure.cleanup import (
    Mark,
    complete_weeks,
    decay_rate,
    decay_table,
    fit_decay,
    mark_effects,
    parse_marks,
)

WEEK0 = dt.date(2011, 3, 20)  # a Sunday


def test_exact_exponential_gives_its_rate_and_half_life() -> None:
    fit = decay_rate(1000 * np.exp(-0.2 * np.arange(8)))
    assert fit.rate_per_week == pytest.approx(0.2, abs=1e-9)
    assert fit.half_life_weeks == pytest.approx(math.log(2) / 0.2)
    assert fit.half_life_days == pytest.approx(7 * math.log(2) / 0.2)
    assert fit.weekly_decline == pytest.approx(1 - math.exp(-0.2))


def test_poisson_counts_recover_the_rate_inside_the_interval() -> None:
    rng = np.random.default_rng(5)
    counts = rng.poisson(5000 * np.exp(-0.15 * np.arange(8)))
    fit = decay_rate(counts)
    assert fit.rate_per_week == pytest.approx(0.15, rel=0.05)
    assert fit.lower < 0.15 < fit.upper
    lo, hi = fit.half_life_interval_weeks
    assert lo < fit.half_life_weeks < hi


def test_a_growing_count_has_a_negative_rate_and_no_half_life() -> None:
    fit = decay_rate([100, 120, 144, 173])
    assert fit.rate_per_week < 0
    assert fit.half_life_weeks == math.inf


def test_a_flat_count_decays_at_exactly_zero() -> None:
    """Five weeks of 440 printed a rate of -4.68e-17 a week (the solver's rounding)."""
    fit = decay_rate([440, 440, 440, 440, 440])
    assert fit.rate_per_week == 0.0
    assert fit.lower < 0 < fit.upper or fit.lower == fit.upper == 0.0
    assert fit.half_life_weeks == math.inf


def test_two_weeks_give_a_rate_without_an_interval() -> None:
    fit = decay_rate([100, 50])
    assert fit.rate_per_week == pytest.approx(math.log(2))
    assert math.isnan(fit.lower)


@pytest.mark.parametrize("counts", [[5], [0, 0, 0], [3, -1, 2]])
def test_unusable_series_are_refused(counts: list[float]) -> None:
    with pytest.raises(ValueError, match="need at least two"):
        decay_rate(counts)


def test_zero_weeks_are_fitted_not_dropped() -> None:
    fit = fit_decay([0, 1, 2, 3], [8, 4, 2, 0])
    assert fit.rate_per_week > math.log(2) * 0.9


def _weekly(series: dict[str | None, list[float]]) -> pa.Table:
    rows = []
    for group, counts in series.items():
        for i, c in enumerate(counts):
            start = WEEK0 + dt.timedelta(days=7 * i)
            rows.append(
                {
                    "window_start": start,
                    "window_end": start + dt.timedelta(days=6),
                    "country": group,
                    "unique_ip": c,
                }
            )
    return pa.Table.from_pylist(rows)


def test_decay_table_fits_each_group_and_skips_small_ones() -> None:
    weekly = _weekly(
        {
            "IN": list(4000 * np.exp(-0.3 * np.arange(6))),
            "US": list(2000 * np.exp(-0.1 * np.arange(6))),
            "LU": [5, 4, 3, 2, 2, 1],
        }
    )
    rows = {r["group"]: r for r in decay_table(weekly, group="country").to_pylist()}
    assert rows["IN"]["rate_per_week"] == pytest.approx(0.3)
    assert rows["US"]["rate_per_week"] == pytest.approx(0.1)
    assert rows["US"]["half_life_days"] == pytest.approx(7 * math.log(2) / 0.1)
    assert rows["LU"]["rate_per_week"] is None
    assert rows["LU"]["weeks"] == 0
    assert rows["LU"]["no_rate_reason"] == "first week too small (5; a rate needs 20)"
    assert rows["IN"]["no_rate_reason"] is None  # the column is there for every row


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ([100.0, 90.0], "too few weeks (2 to fit; a rate needs three)"),
        ([0.0, 0.0, 0.0], "no count in any week"),
        ([19.0, 30.0, 40.0], "first week too small (19; a rate needs 20)"),
    ],
)
def test_a_row_without_a_rate_says_why(counts: list[float], why: str) -> None:
    row = decay_table(_weekly({None: counts})).to_pylist()[0]
    assert (row["rate_per_week"], row["no_rate_reason"]) == (None, why)


def test_decay_table_overall_is_one_row() -> None:
    weekly = _weekly({None: [100.0, 50.0, 25.0, 12.5]})
    table = decay_table(weekly)
    assert table.num_rows == 1
    assert table["rate_per_week"][0].as_py() == pytest.approx(math.log(2))


def _host_weeks(support: list[str]) -> pa.Table:
    """Weekly host estimates as hosts_series.host_weeks gives them: 1000 halving each week,
    bounds 0.5x to 4x in a bounds week."""
    weekly = _weekly({None: [1000.0 / 2**i for i in range(len(support))]})
    counts = weekly["unique_ip"].to_numpy()
    bounds = [s == "bounds" for s in support]
    return (
        weekly.rename_columns(["window_start", "window_end", "country", "hosts"])
        .append_column("hosts_lo", pa.array(np.where(bounds, counts / 2, counts * 0.9)))
        .append_column("hosts_hi", pa.array(np.where(bounds, counts * 4, counts * 1.1)))
        .append_column("hosts_support", pa.array(support))
    )


def test_a_bounds_week_gives_the_decay_row_its_bounds_not_a_count() -> None:
    weekly = _host_weeks(["bounds", "estimate", "estimate", "bounds"])
    row = decay_table(weekly, count="hosts").to_pylist()[0]
    assert row["first_count"] == 1000.0  # the model's figure the decay is fitted to
    assert (row["first_support"], row["first_lower"], row["first_upper"]) == (
        "bounds", 500.0, 4000.0,
    )  # fmt: skip
    assert (row["last_support"], row["last_lower"], row["last_upper"]) == (
        "bounds", 62.5, 500.0,
    )  # fmt: skip
    estimated = decay_table(_host_weeks(["estimate"] * 4), count="hosts").to_pylist()[0]
    assert (estimated["first_support"], estimated["first_lower"]) == ("estimate", None)


def test_counts_of_addresses_carry_no_level_support() -> None:
    row = decay_table(_weekly({None: [100.0, 50.0, 25.0]})).to_pylist()[0]
    assert "first_support" not in row


def test_complete_weeks_drop_partial_edges() -> None:
    weekly = _weekly({None: [1.0, 2.0, 3.0]})
    kept = complete_weeks(weekly, WEEK0 + dt.timedelta(days=2), WEEK0 + dt.timedelta(days=19))
    assert kept["window_start"].to_pylist() == [WEEK0 + dt.timedelta(days=7)]


def test_parse_marks_reads_dates_labels_and_comments() -> None:
    marks = parse_marks("# campaign log\n2011-04-12 MSRT release\n\n2011-03-30,notified ISPs\n")
    assert marks == [
        Mark(dt.date(2011, 3, 30), "notified ISPs"),
        Mark(dt.date(2011, 4, 12), "MSRT release"),
    ]


def test_parse_marks_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_marks("2011-04-12 ok\nApril 12 MSRT\n")


def test_mark_splits_rates_and_measures_the_step() -> None:
    # 0.1 per week before the mark (weeks 0-4), a 20% drop at it, 0.3 per week after.
    before = [1000 * math.exp(-0.1 * (i + 0.5)) for i in range(5)]
    at_mark = 1000 * math.exp(-0.1 * 5) * 0.8
    after = [at_mark * math.exp(-0.3 * (i + 0.5)) for i in range(5)]
    weekly = _weekly({None: before + after})
    mark = Mark(WEEK0 + dt.timedelta(days=35), "removal tool")
    row = mark_effects(weekly, [mark]).to_pylist()[0]
    assert row["before_rate_per_week"] == pytest.approx(0.1)
    assert row["after_rate_per_week"] == pytest.approx(0.3)
    assert row["rate_change"] == pytest.approx(0.2)
    assert row["step"] == pytest.approx(-0.2)
    assert row["before_weeks"] == 5
    assert row["after_weeks"] == 5


def test_a_week_containing_the_mark_belongs_to_neither_side() -> None:
    weekly = _weekly({None: [100.0, 90.0, 81.0, 73.0, 66.0, 59.0]})
    row = mark_effects(weekly, [Mark(WEEK0 + dt.timedelta(days=17), "mid-week")]).to_pylist()[0]
    assert row["before_weeks"] == 2
    assert row["after_weeks"] == 3


def test_a_mark_without_weeks_on_one_side_has_no_change() -> None:
    weekly = _weekly({None: [100.0, 90.0, 81.0]})
    row = mark_effects(weekly, [Mark(WEEK0, "at the start")]).to_pylist()[0]
    assert row["before_rate_per_week"] is None
    assert row["rate_change"] is None

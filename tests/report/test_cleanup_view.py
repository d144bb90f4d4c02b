"""The clean-up tables as the terminal prints them."""

from __future__ import annotations

import pyarrow as pa

from botcensus.report.cleanup_view import terminal_decay


def _row(**extra: object) -> dict[str, object]:
    return {
        "group": None, "first_count": 840.0, "last_count": 420.0, "weeks": 6,
        "rate_per_week": 0.14, "rate_lower": 0.1, "rate_upper": 0.18,
        "half_life_weeks": 5.0, "half_life_days": 35.0, "support": "estimate",
    } | extra  # fmt: skip


def test_a_week_with_only_bounds_prints_its_bounds_not_the_models_figure() -> None:
    decay = pa.Table.from_pylist(
        [
            _row(
                first_support="bounds", first_lower=299.6, first_upper=2499.2,
                last_support="estimate", last_lower=None, last_upper=None,
            )
        ]
    )  # fmt: skip
    shown = terminal_decay(decay).to_pylist()[0]
    assert shown["first"] == "299 – 2,500?"  # whole machines, rounded outward
    assert shown["last"] == "420"
    assert shown["rate/week"] == "0.14"


def test_counts_without_support_print_as_counts() -> None:
    shown = terminal_decay(pa.Table.from_pylist([_row()])).to_pylist()[0]
    assert (shown["first"], shown["last"]) == ("840", "420")


def test_the_html_table_says_a_bounds_weeks_level_is_not_supported() -> None:
    from botcensus.report.cleanup_html import _decay_table

    decay = pa.Table.from_pylist(
        [_row(first_support="bounds", first_lower=300.0, first_upper=2500.0)]
    )
    html = _decay_table(decay, "hosts", 10)
    assert "not supported; between 300 and 2,500" in html
    assert "840" not in html
    assert "420" in html


def test_bounds_that_are_not_numbers_do_not_stop_the_table() -> None:
    from botcensus.report.cleanup_html import _decay_table

    rows = [
        _row(first_support="bounds", first_lower=float("nan"), first_upper=float("inf")),
        _row(first_support="bounds", first_lower=12.5, first_upper=float("inf")),
    ]
    decay = pa.Table.from_pylist(rows)
    assert [r["first"] for r in terminal_decay(decay).to_pylist()] == ["n.s.", "≥ 12?"]
    html = _decay_table(decay, "hosts", 10)
    assert "not supported; at least 12" in html
    assert "840" not in html  # the model's figure is not shown as a count

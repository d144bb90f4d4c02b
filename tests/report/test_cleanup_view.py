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


def test_a_cox_ratio_that_is_not_the_reported_effect_says_so() -> None:
    """`cleanup` printed Cox's 0.83 [0.10, 7.09] as "notification hazard ratio" where the
    effect reported was bounds only (nineteenth held-out set, c-office at 300 machines)."""
    import io

    from rich.console import Console

    from botcensus.measure.cleanup.checks import checked_hazard
    from botcensus.measure.cleanup.run import CleanupResult
    from botcensus.measure.survival.cox import HazardRatio
    from botcensus.report.cleanup_view import as_json, print_cleanup

    empty = pa.table({"x": pa.array([], pa.int64())})
    hazard = HazardRatio(0.83, 0.10, 7.09, 0.95, 0.86, 26, 6, 12, 14, 4)
    cases = (
        (checked_hazard((0.83, 0.10, 7.09), None), "not supported by these data", "wide"),
        (checked_hazard((0.83, 0.10, 7.09), (1.5, 1.2, 1.9)), "set aside", None),
        (checked_hazard((1.5, 1.2, 1.9), None), None, None),
    )
    for effect, caveat, reason in cases:
        result = CleanupResult("hosts", "", "", empty, None, empty, empty, None, None, None,
                               hazard, (), effect)  # fmt: skip
        out = io.StringIO()
        print_cleanup(result, Console(file=out, width=200, color_system=None))
        (line,) = [s for s in out.getvalue().splitlines() if "Cox on identities" in s]
        assert (caveat in line) if caveat else ("not" not in line.split("networks")[1])
        assert as_json(result)["notification_effect"]["reason"] == reason


def test_no_time_to_clean_up_says_why_instead_of_an_empty_table() -> None:
    """The trial: `cleanup` printed an empty "Time to clean-up" table with no reason, where
    the report's page said no group had 20 identities."""
    import io

    from rich.console import Console

    from botcensus.measure.cleanup.run import CleanupResult
    from botcensus.report.cleanup_view import print_cleanup

    empty = pa.table({"x": pa.array([], pa.int64())})
    result = CleanupResult("unique_ip", "", "", empty, None, empty, empty, None, empty, None,
                           None, ())  # fmt: skip
    out = io.StringIO()
    print_cleanup(result, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "No time to clean-up: no group has 20 identities followed." in text
    assert "Kaplan" not in text

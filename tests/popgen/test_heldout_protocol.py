"""The held-out protocol's own parts (bench/heldout): constants read from source, scores of
census and clean-up answers against a truth, and the table that BENCHMARKS.md publishes."""

from __future__ import annotations

from datetime import date

import pytest
from bench.heldout.protocol import constants_of
from bench.heldout.report import markdown, merge, row
from bench.heldout.score import (
    MIN_COUNTRY_ACTIVE,
    Score,
    score_hazard,
    score_hosts,
    score_survival,
)

W1, W2 = date(2024, 3, 10), date(2024, 3, 17)


def test_constants_are_upper_case_literals_and_literal_field_defaults() -> None:
    source = (
        "from typing import Final\n"
        "HOUSEHOLD: Final = 1.25\n"
        "LIMITS = (2, 3)\n"
        "lower = 5\n"
        "DERIVED = HOUSEHOLD * 2\n"
        "class Rule:\n"
        "    floor: int = 2\n"
        "    name: str\n"
        "    factor: float = abs(-1.0)\n"
    )
    found = {c["name"]: c["value"] for c in constants_of("m", source)}
    assert found == {"HOUSEHOLD": 1.25, "LIMITS": (2, 3), "Rule.floor": 2}


def _truth() -> dict[tuple[date, str | None], tuple[int, int]]:
    return {
        (W1, None): (1000, 4),
        (W2, None): (900, 7),
        (W2, "US"): (600, 7),
        (W2, "DE"): (MIN_COUNTRY_ACTIVE - 1, 7),  # too small to score
    }


def _census() -> list[dict[str, object]]:
    return [
        {"window_end": W1, "unique_ip": 3000, "hosts_est": 1100.0, "hosts_lo": 1050.0,
         "hosts_hi": 1200.0, "hosts_support": "estimate"},
        {"window_end": W2, "unique_ip": 2700, "hosts_est": None, "hosts_lo": 800.0,
         "hosts_hi": 1000.0, "hosts_support": "bounds"},
        {"window_end": W2, "country": "US", "unique_ip": 1800, "hosts_est": 540.0,
         "hosts_lo": 500.0, "hosts_hi": 590.0, "hosts_support": "widened"},
        {"window_end": W2, "country": "DE", "unique_ip": 800, "hosts_est": 400.0,
         "hosts_lo": 300.0, "hosts_hi": 500.0},
    ]  # fmt: skip


def test_hosts_are_scored_per_week_and_country_with_coverage_and_bounds() -> None:
    score = Score("b-harsh", 1)
    score_hosts(score, _truth(), _census())
    assert [(r.week_end, r.cc) for r in score.rows] == [(W1, None), (W2, None), (W2, "US")]
    assert score.raw_ip == pytest.approx(2.0)  # median of 3000/1000-1 and 2700/900-1
    assert score.median_error("global") == pytest.approx(0.1)  # the bounds row has no error
    assert score.median_error("country") == pytest.approx(0.1)
    assert score.coverage() == (0, 2)  # 1,000 above 1,050-1,200; 600 above 500-590
    assert score.unsupported() == (1, 1, 3)  # 900 inside the bounds 800-1,000


def test_survival_and_hazard_are_read_from_the_overall_rows() -> None:
    summary = {
        "survival": {"still_infected_28d": 0.6, "still_infected_56d": 0.4},
        "notification": {"perfect_observer_hr": 1.45},
    }
    cleanup = {
        "survival": [
            {"group": "US", "surviving_28d": 0.1},
            {"group": None, "surviving_28d": 0.55, "surviving_28d_support": "estimate",
             "surviving_56d": None, "surviving_56d_lower": 0.3, "surviving_56d_upper": 0.5,
             "surviving_56d_support": "bounds"},
        ],
        "notification_effect": {"hazard_ratio": None, "lower": 1.1, "upper": 1.9,
                                "support": "bounds"},
    }  # fmt: skip
    score = Score("b-harsh", 1)
    score_survival(score, summary, cleanup)
    score_hazard(score, summary, cleanup)
    assert score.surv_est == {"28": 0.55, "56": None}
    assert score.surv_bounds["56"] == [0.3, 0.5]
    assert score.surv_support == {"28": "estimate", "56": "bounds"}
    assert score.hr_true == 1.45
    assert score.hr_error() is None
    document = {
        "set": "held-out",
        "commit": "0123456789abcdef",
        "changed_since": True,
        "changed_files": ["src/botcensus/measure/census_run.py"],
        "results": [score.as_dict() | {"population": "b-harsh", "dataset": "dataset"}],
    }
    table = markdown(document)
    first, *_, last = table.splitlines()
    assert first == (
        "held-out set, commit 0123456789ab (measure/ changed since the freeze: "
        "measure/census_run.py; figures for the frozen commit)"
    )
    cells = [c.strip() for c in last.strip("|").split("|")]
    assert cells[8] == "0.05 [estimate]"
    assert cells[9] == "n.s. (bounds hold 1/1) [bounds]"
    assert cells[10] == "n.s. (bounds hold 1/1) [bounds]"
    assert cells[11] == "1.45"


def test_parallel_results_merge_only_within_one_set_and_commit() -> None:
    a = {"set": "held-out", "commit": "c1", "wall_seconds": 10, "results": [{"p": 1}]}
    b = {"set": "held-out", "commit": "c1", "wall_seconds": 30, "results": [{"p": 2}],
         "changed_since": True, "changed_files": ["x.py"]}  # fmt: skip
    merged = merge([a, b])
    assert merged["results"] == [{"p": 1}, {"p": 2}]
    assert merged["changed_since"] is True
    assert merged["changed_files"] == ["x.py"]
    assert merged["wall_seconds"] == 30
    with pytest.raises(ValueError, match="different commits"):
        merge([a, {**b, "commit": "c2"}])
    with pytest.raises(ValueError, match="different sets"):
        merge([a, {**b, "set": "development"}])


def test_the_not_supported_cell_says_how_wide_the_bounds_are() -> None:
    weeks = [
        {"est": None, "days": 7, "lo": 100.0, "hi": 900.0},
        {"est": None, "days": 7, "lo": 100.0, "hi": 1100.0},
        {"est": None, "days": 3, "lo": 100.0, "hi": 5000.0},  # partial week: left out
        {"est": 500.0, "days": 7, "lo": 400.0, "hi": 600.0},  # an estimate: left out
    ]
    result = {"raw_ip": 1.0, "median_error_global": None, "median_error_country": None,
              "inside": 0, "checked": 0, "not_supported": 3, "not_supported_bounds_hold": 3,
              "rows": 4, "decay_error": None, "surv_est": {"28": 0.5, "56": 0.3},
              "surv_true": {"28": 0.5, "56": 0.3}, "surv_bounds": {"28": None, "56": None},
              "surv_support": {"28": "decay", "56": "decay"}, "hr_error": None,
              "hr_true": None, "hr_support": None, "weeks": weeks}  # fmt: skip
    cells = row("b-harsh", [result])
    assert cells[6] == "3/4 (bounds hold 3; hi/lo x10.0)"

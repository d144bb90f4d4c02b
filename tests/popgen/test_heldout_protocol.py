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
    score_decay,
    score_hazard,
    score_hosts,
    score_survival,
)
from bench.heldout.sets import DEVELOPMENT, HELD_OUT, SEEN

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


def test_small_populations_score_every_country_when_asked() -> None:
    """`score --min-country 1`: the countries of a population of a few hundred machines
    (the nineteenth set's) are under the default size and would go unscored."""
    score = Score("a-stable", 911)
    score_hosts(score, _truth(), _census(), min_country=1)
    assert [(r.week_end, r.cc) for r in score.rows][-1] == (W2, "DE")
    assert score.rows[-1].inside is False  # 299 machines, below its interval of 300-500


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


def _decay_truth() -> dict[tuple[date, str | None], tuple[int, int]]:
    """Four complete weeks of 1,000 machines falling by 0.1 a week."""
    start = date(2024, 3, 3)
    return {(date.fromordinal(start.toordinal() + 7 * w), None): (round(1000 * 0.9048**w), 7)
            for w in range(4)}  # fmt: skip


@pytest.mark.parametrize(("interval", "holds"), [((0.08, 0.12), True), ((0.11, 0.14), False)])
def test_a_decay_estimate_is_scored_with_its_interval(
    interval: tuple[float, float], holds: bool
) -> None:
    cleanup = {"decay": [{"group": None, "weeks": 4, "rate_per_week": 0.11,
                          "rate_lower": interval[0], "rate_upper": interval[1]}]}  # fmt: skip
    score = Score("b-sparse", 5, surv_true={"28": 0.7, "56": 0.5})
    score_decay(score, _decay_truth(), cleanup)
    assert score.decay_interval == list(interval)
    assert score.decay_interval_holds() is holds
    result = score.as_dict() | {"population": "b-sparse", "dataset": "dataset"}
    error = f"{100 * score.decay_error():.1f}%"
    assert row("b-sparse", [result])[7] == f"{error} (interval holds {int(holds)}/1)"


@pytest.mark.parametrize(("lower", "holds"), [(0.06, True), (0.2, False), (None, None)])
def test_a_decay_not_supported_is_scored_by_its_lower_bound(
    lower: float | None, holds: bool | None
) -> None:
    """`cleanup --count hosts` gives no rate where the host decay is slower than the
    addresses' (support bounds): no error, and whether the lower bound holds the truth."""
    cleanup = {"decay": [
        {"group": "US", "rate_per_week": 0.5},
        {"group": None, "weeks": 4, "rate_per_week": None, "rate_lower": lower,
         "rate_upper": None, "support": "bounds", "support_reason": "slower than addresses"},
    ]}  # fmt: skip
    score = Score("b-mobile", 5, surv_true={"28": 0.7, "56": 0.5})
    score_decay(score, _decay_truth(), cleanup)
    assert score.decay_est is None
    assert score.decay_true == pytest.approx(0.1, abs=0.001)
    assert (score.decay_support, score.decay_lower) == ("bounds", lower)
    assert score.decay_error() is None
    assert score.decay_bound_holds() is holds
    assert score.decay_note == "not supported: slower than addresses"
    result = score.as_dict() | {"population": "b-mobile", "dataset": "dataset"}
    assert result["decay_bound_holds"] is holds
    cell = row("b-mobile", [result])[7]
    if holds is None:  # a rate of few addresses whose interval reaches 0: no lower bound
        assert cell == "n.s. (n.s. in 1; no lower bound in 1)"
    else:
        assert cell == f"n.s. (n.s. in 1; lower bound holds {int(holds)}/1)"


def test_a_supported_decay_is_scored_by_its_error() -> None:
    cleanup = {"decay": [{"group": None, "weeks": 4, "rate_per_week": 0.11, "rate_lower": 0.09,
                          "rate_upper": 0.13, "support": "estimate"}]}  # fmt: skip
    score = Score("a-global", 104, surv_true={"28": 0.7, "56": 0.5})
    score_decay(score, _decay_truth(), cleanup)
    assert score.decay_est == 0.11
    assert score.decay_support == "estimate"
    assert score.decay_error() == pytest.approx(0.1, abs=0.01)
    assert score.decay_bound_holds() is None
    result = score.as_dict() | {"population": "a-global", "dataset": "dataset"}
    assert row("a-global", [result])[7] == f"{100 * score.decay_error():.1f}% (interval holds 1/1)"


def test_a_decay_without_a_rate_or_bound_is_not_scored() -> None:
    score = Score("a-cgn", 1)
    score_decay(score, _decay_truth(), {"decay": [{"group": None, "rate_per_week": None}]})
    assert (score.decay_est, score.decay_true, score.decay_note) == (None, None, "no decay rate")


def test_the_held_out_set_holds_no_seed_seen_before() -> None:
    """A held-out seed of a preset is in neither the development set nor an earlier (seen)
    held-out set; the frozen record names the same set as sets.HELD_OUT."""
    import json
    from pathlib import Path

    seen = {(p.preset, s) for p in (*DEVELOPMENT, *SEEN) for s in p.seeds}
    held = [(p.preset, s) for p in HELD_OUT for s in p.seeds]
    assert held
    assert not seen & set(held), sorted(seen & set(held))
    assert all(set(p.ids_seeds) <= set(p.seeds) for p in HELD_OUT)
    frozen = json.loads((Path(__file__).parents[2] / "bench/heldout/frozen.json").read_text())
    assert frozen["held_out"] == [p.as_dict() for p in HELD_OUT]


def test_two_runs_exporting_the_frozen_src_at_once_both_get_it(tmp_path) -> None:
    """`heldout --only` runs in parallel into one WORK: both export src at the same moment
    (the eleventh set's second run failed there once, on a shared scratch directory)."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.heldout.protocol import export_src, git

    commit = git("rev-parse", "HEAD")
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: export_src(commit, tmp_path), range(4)))
    assert len(set(got)) == 1
    assert (got[0] / "botcensus" / "measure" / "hosts" / "model.py").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [got[0].name]  # no scratch left behind


def test_score_scores_a_generated_population_with_and_without_ids(tmp_path, capsys) -> None:
    """`score RUN` gives the table row `heldout` would give for a population already
    generated and ingested, one per dataset (with bot ids too)."""
    from bench.heldout.__main__ import main
    from bench.popgen import override, preset
    from bench.popgen.driver import ok, run

    out = tmp_path / "c-office-small"
    settings = ["n_machines=150", "days=15"]
    _, report = run(override(preset("c-office"), settings), 901, out, checkins=False)
    assert ok(report), report
    assert main(["score", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| c-office-small | 1 |" in table
    assert "| c-office-small (with ids) | 1 |" in table


def test_drop_reports_deletes_only_the_report_files(tmp_path, capsys) -> None:
    """`--drop-reports`: a scored population keeps its datasets, truth and scores; its
    report folders go, and a line names each with its size."""
    from bench.heldout.__main__ import drop_reports, main

    out = tmp_path / "b-harsh-s1"
    for name, size in (("reports", 3000), ("reports-ids", 5000), ("dataset", 7), ("truth", 11)):
        (out / name / "deep").mkdir(parents=True)
        (out / name / "deep" / "f.csv").write_bytes(b"x" * size)
    (out / "score-dataset-held-out.json").write_text("{}")
    assert drop_reports(out) == 8000
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset", "score-dataset-held-out.json", "truth",
    ]  # fmt: skip
    said = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in said] == [str(out / "reports"), str(out / "reports-ids")]
    assert all("report files deleted" in line for line in said)
    assert drop_reports(out) == 0  # nothing left to delete: no error
    with pytest.raises(SystemExit):  # the flag belongs to the runs, not to `score`
        main(["score", "--drop-reports", str(out)])

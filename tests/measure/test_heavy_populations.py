"""Full-size populations from the independent generator (8,000 machines, 8 weeks), scored
through the CLI (bench/heldout.run) against bounds near the figures BENCHMARKS.md publishes.
Minutes each: marked `heavy`, run by `make test-all` and by `make test` under CI=true.

`b-sparse` seed 3 was held out at the second freeze (764c3e6) and seen before the third
(b58b275): its figures under the estimator of the third freeze are development figures
(BENCHMARKS.md, "Third freeze"); its bounds pin them. The fourth freeze (0ddc2a7) leaves
all three populations' figures as they were: its rule for daily reports keeps the bounds of
rows the model had already bracketed (b-sparse seed 3: 87 of 87, hi / lo 52.7), and the
window-wide busiest-hour check fires in no family A row. The eleventh freeze (803c62f:
machines per address-day that shrink with the lines left, and a wider most per address)
moved them again; the bounds below are its figures (BENCHMARKS.md, "Eleventh freeze").

Family C (`c-office`, `c-slow`) seed 2 was held out at the twelfth freeze (9738f0f) and is
seen since: its tests pin the published figures (BENCHMARKS.md, "Twelfth held-out set"),
`c-office`'s known failure included, and state what `c-office` should give as an expected
failure that turns into an error once it does. With bot ids, b-harsh seed 1 (seen) and
c-office seed 2 pin the figures after the ids were counted once per machine (BENCHMARKS.md,
"Bot ids counted once per machine")."""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.heldout.run import evaluate
from bench.heldout.score import Score
from bench.popgen import override, preset
from bench.popgen.driver import ingest, ok, run
from bench.popgen.generate import generate

from botcensus.measure.cleanup.checks import WIDEST_HR

pytestmark = pytest.mark.heavy


def _score(tmp_path_factory: pytest.TempPathFactory, name: str, seed: int,
           settings: tuple[str, ...] = ()) -> Score:  # fmt: skip
    out = tmp_path_factory.mktemp(f"{name}-{seed}") / "pop"
    _, report = run(override(preset(name), list(settings)), seed, out, ids=False, checkins=False)
    assert ok(report), report
    score = evaluate(out)[0]
    shutil.rmtree(out.parent)  # gigabytes of reports and datasets, no longer needed
    return score


def _generated(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    seed: int,
    *,
    plain: bool = True,
    settings: tuple[str, ...] = (),
) -> Path:
    """The population with bot ids (on 30% of the machines unless `settings` say otherwise)
    ingested (dataset-ids), and as is too (dataset) where `plain`."""
    out = tmp_path_factory.mktemp(f"{name}-{seed}-ids") / "pop"
    params = override(preset(name), list(settings))
    if plain:
        _, report = run(params, seed, out, ids=True, checkins=False)
    else:
        made = generate(params, seed, out, write_checkins=False)
        report = {"dataset-ids": ingest(made.id_reports, out / "dataset-ids")}
    assert ok(report), report
    return out


def _with_ids(
    tmp_path_factory: pytest.TempPathFactory, name: str, seed: int, settings: tuple[str, ...] = ()
) -> Score:
    """Only the population's dataset with bot ids, generated, ingested and scored."""
    out = _generated(tmp_path_factory, name, seed, plain=False, settings=settings)
    score = evaluate(out, "dataset-ids")[0]
    shutil.rmtree(out.parent)  # gigabytes of reports and datasets, no longer needed
    return score


@pytest.fixture(scope="module")
def a_global(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Development set: a-global seed 1 (published at the eleventh freeze: 1.0% global, 3.2%
    per country, coverage 100% (96/96: above the 85-95% goal, the intervals are too wide),
    decay 4.3%, still infected at 28 / 56 days 0.01 / 0.01 off; before it 6.5%, 5.9%,
    93.8%)."""
    return _score(tmp_path_factory, "a-global", 1)


@pytest.fixture(scope="module")
def a_cgn(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Development set: a-cgn seed 1 (published: bounds only, all 54 holding the truth,
    hi / lo 16.2 in the median complete week since the third freeze (9.3 before; 17.2 since
    0ed4172, whose upper bound allows for the spread of few households); decay 6.3%; still
    infected at 28 days 0.02 off, from the decay)."""
    return _score(tmp_path_factory, "a-cgn", 1)


@pytest.fixture(scope="module")
def b_sparse(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen (held out at the second freeze): b-sparse seed 3, one row per address and day
    (third freeze: no estimate, bounds holding the truth in 87 of 87 rows, hi / lo 52.7 in
    the median complete week (at the second freeze 79 of 87, 9.5: the lower end is now the
    smaller of the host-day bound and the busiest hour); decay 2.9%; S(28) 0.10 and S(56)
    0.06 off, from the decay; hazard ratio 1.32 against the perfect observer's 1.48, from
    the decay). At the eleventh freeze: bounds 87 of 87 holding, hi / lo 55.2; decay 5.2%;
    S(28) 0.08 and S(56) 0.04 off; hazard ratio 1.25 (0.95-1.64) against 1.48. Since
    offices are also found one address at a time (hosts.office.quiet_addresses, after the
    twentieth set), seven of its networks hold addresses quiet at weekends (16-23% of their
    address-days) and their rows' upper ends have no household cap: hi / lo 63.0, the rest
    as before."""
    return _score(tmp_path_factory, "b-sparse", 3)


@pytest.fixture(scope="module")
def c_office_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = _generated(tmp_path_factory, "c-office", 2)
    yield out
    shutil.rmtree(out.parent)


@pytest.fixture(scope="module")
def c_office(c_office_run: Path) -> Score:
    """Seen (held out at the twelfth freeze): c-office seed 2 without ids, businesses behind
    NAT (about 3.9 machines per address) in hourly reports: every weekly estimate 0.49-0.62
    of the truth globally and 0.47-0.71 per country, 0 of 54 intervals holding."""
    return evaluate(c_office_run)[0]


@pytest.fixture(scope="module")
def c_slow(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen (held out at the twelfth freeze): c-slow seed 2, bots on 1-6 hour timers or
    none: bounds only, 45 of 45 holding, hi / lo 19.8; decay 3.4% off; hazard ratio 1.64
    (1.17-2.31) from the decay against the perfect observer's 1.90."""
    return _score(tmp_path_factory, "c-slow", 2)


@pytest.fixture(scope="module")
def b_harsh_ids(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen: b-harsh seed 1 with bot ids. From the eighth freeze (bbb353d) to c8e7d00 its
    weekly estimates were 1.47-1.61 times the truth, 15 of 90 intervals holding: ids seen
    at several egress addresses or over IPv4 and IPv6 at once were counted as clones (2,827
    machines for 2,005 ids in a week), and network corrections below 1/4 were dropped.
    After (development figures, BENCHMARKS.md "Bot ids counted once per machine", after
    the review, d162e4b): 3.0% global, 8.3% per country, 56 of 90 holding; decay 2.3% off;
    hazard ratio 0.02 off. After networks with few machines with ids were corrected and
    the corrections carried the error of moving them to the machines without
    (hosts.networks, before the fifteenth freeze): 6.2% global (0.92-0.98 of the truth: a
    factor learnt where households hold fewer machines with ids reads low), 7.6% per
    country, 78 of 90 holding; the decay 0.0672 a week, slower than the hourly addresses'
    0.0714, not supported, its lower bound 0.0605 holding the true 0.0753; hazard ratio
    0.02 off."""
    return _with_ids(tmp_path_factory, "b-harsh", 1)


@pytest.fixture(scope="module")
def c_office_ids(c_office_run: Path) -> Score:
    """Seen: c-office seed 2 with bot ids on 30% of the machines (offices behind NAT, the
    ids show them: hosts.crowded): bounds, 54 of 54 holding, hi / lo 6.8; the decay from
    the machines with ids 3.2% off (16.5% at the twelfth freeze); still infected after 28
    days 0.00 off; hazard ratio from the ids alone 1.62 against the perfect observer's
    1.98 (d162e4b), 1.44 since a bot id seen again after a silence longer than its
    network's threshold is read as cleaned and reinfected (8e6dc80: c-office reinfects
    none, and its machines off that long read as cleaned: survival.silence, rule 4)."""
    return evaluate(c_office_run, "dataset-ids")[0]


def _width(score: Score) -> float:
    """The median hi / lo of the complete weeks with only bounds."""
    return statistics.median(
        r.hi / r.lo for r in score.rows if r.est is None and r.days == 7 and r.lo and r.hi
    )


def test_development_a_global_hosts(a_global: Score) -> None:
    assert a_global.median_error("global") <= 0.03
    assert a_global.median_error("country") <= 0.05
    inside, checked = a_global.coverage()
    assert inside / checked >= 0.95


def test_development_a_global_clean_up(a_global: Score) -> None:
    assert a_global.decay_error() <= 0.06
    for day in ("28", "56"):
        assert a_global.surv_est[day] is not None
        assert abs(a_global.surv_est[day] - a_global.surv_true[day]) <= 0.03


def test_development_a_cgn_only_bounds_that_hold(a_cgn: Score) -> None:
    none, held, rows = a_cgn.unsupported()
    assert none == held == rows > 0
    assert _width(a_cgn) <= 17.5
    assert a_cgn.decay_error() <= 0.08
    assert a_cgn.surv_support["28"] == "decay"
    assert abs(a_cgn.surv_est["28"] - a_cgn.surv_true["28"]) <= 0.04


def test_seen_b_sparse_says_not_supported_with_bounds_that_hold(b_sparse: Score) -> None:
    none, held, rows = b_sparse.unsupported()
    assert none == held == rows > 0
    assert _width(b_sparse) <= 66.0


def test_seen_b_sparse_clean_up_from_the_decay(b_sparse: Score) -> None:
    """Up to the thirty-third held-out set the share still infected came from the decay,
    0.08 and 0.04 off after 28 and 56 days (0.10 and 0.06 at the third freeze). Since the
    bend rule (cleanup.bend, after the thirty-third set) the weekly host count bends, so
    without bot ids the share has bounds only, 0 to the addresses' bound: 0.829 and 0.687
    for a true 0.646 and 0.495."""
    assert b_sparse.decay_error() <= 0.07
    for day, top in (("28", 0.84), ("56", 0.70)):
        assert b_sparse.surv_support[day] == "bounds"
        assert b_sparse.surv_est[day] is None
        low, high = b_sparse.surv_bounds[day]
        assert low == 0.0
        assert b_sparse.surv_true[day] <= high <= top
    assert b_sparse.hr_support == "decay"
    assert b_sparse.hr_error() <= 0.25
    low, high = b_sparse.hr_interval
    assert low <= b_sparse.hr_true <= high


@pytest.mark.timeout(900)  # the fixture generates c-office and ingests it twice
def test_seen_c_office_gives_bounds_where_its_offices_keep_office_hours(c_office: Score) -> None:
    """Until the office-hours test (hosts.office, after the nineteenth set) every row had
    an estimate 0.49-0.62 of the truth globally and 0.47-0.71 per country, none holding.
    With it, on UTC days (ee361a2), the rows that held the business networks' addresses
    had only bounds, 40 of 45 holding, and Japan's 9 rows kept estimates about half the
    truth (its offices' Monday mornings fall on a UTC Sunday). On each network's own days
    (after the twentieth set) every row has only bounds, 48 of 54 holding; since office
    rows of a partial week keep the complete week's upper end (hosts.answer._office_tops,
    after the thirty-first set) 54 of 54. Pinned: a change that moves it fails here and
    should publish its figures."""
    rows = c_office.rows
    assert len(rows) == 54
    assert all(r.est is None for r in rows)
    held = sum(bool(r.inside) for r in rows)
    assert held == 54


def test_seen_c_slow_says_not_supported_with_bounds_that_hold(c_slow: Score) -> None:
    none, held, rows = c_slow.unsupported()
    assert none == held == rows > 0
    assert _width(c_slow) <= 22.0


def test_seen_c_slow_clean_up_from_the_decay(c_slow: Score) -> None:
    assert c_slow.decay_error() <= 0.06
    assert c_slow.hr_support == "decay"
    assert c_slow.hr_error() <= 0.3
    low, high = c_slow.hr_interval
    assert low <= c_slow.hr_true <= high


@pytest.mark.timeout(900)  # the fixture generates and ingests b-harsh (about 5 min)
def test_seen_b_harsh_with_ids_counts_each_id_once(b_harsh_ids: Score) -> None:
    assert b_harsh_ids.median_error("global") <= 0.08
    assert b_harsh_ids.median_error("country") <= 0.10
    inside, checked = b_harsh_ids.coverage()
    assert inside / checked >= 0.8
    error = b_harsh_ids.decay_error()
    assert (error is not None and error <= 0.05) or b_harsh_ids.decay_bound_holds()
    assert b_harsh_ids.hr_error() <= 0.1


def test_seen_c_office_with_ids_decays_as_its_machines_with_ids(c_office_ids: Score) -> None:
    none, held, rows = c_office_ids.unsupported()
    assert none == held == rows > 0
    assert c_office_ids.decay_error() <= 0.06
    assert c_office_ids.surv_est["28"] is not None
    assert abs(c_office_ids.surv_est["28"] - c_office_ids.surv_true["28"]) <= 0.03
    assert c_office_ids.hr_est is not None
    assert abs(c_office_ids.hr_est - 1.44) <= 0.05  # the ids alone: 0.54 below 1.98


def _small_with_ids(
    tmp_path_factory: pytest.TempPathFactory, name: str, seed: int, machines: int
) -> Score:
    """A small population (`n_machines`), only its dataset with bot ids ingested, scored."""
    out = tmp_path_factory.mktemp(f"{name}-n{machines}-{seed}") / "pop"
    made = generate(override(preset(name), [f"n_machines={machines}"]), seed, out,
                    write_checkins=False)  # fmt: skip
    report = {"dataset-ids": ingest(made.id_reports, out / "dataset-ids")}
    assert ok(report), report
    score = evaluate(out, "dataset-ids")[0]
    shutil.rmtree(out.parent)
    return score


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("name", "seed", "machines"), [("b-mobile", 913, 400),
                                                        ("c-office", 914, 300)])  # fmt: skip
def test_seen_small_populations_with_ids_say_the_effect_is_not_supported(
    tmp_path_factory: pytest.TempPathFactory, name: str, seed: int, machines: int
) -> None:
    """Held out at the nineteenth freeze (45c0f4a), seen since. b-mobile at 400 machines
    with ids: `cleanup --notified` ended in a traceback (a Cox fit whose exponent
    overflowed; evaluate raises on a CLI failure). c-office at 300 with ids: the hazard
    ratio read 0.83 [0.10, 7.09] against a perfect observer's 1.65. Both now say "not
    supported by these data", with bounds that hold it (BENCHMARKS.md, "After the
    nineteenth set")."""
    score = _small_with_ids(tmp_path_factory, name, seed, machines)
    assert score.hr_support == "bounds"
    assert score.hr_est is None
    assert score.hr_true is not None
    assert score.hr_interval is not None
    low, high = score.hr_interval
    assert low <= score.hr_true <= high
    assert high / low > WIDEST_HR  # what the rule says: too wide to tell help from none


@pytest.fixture(scope="module")
def b_mobile_24(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen (held out at the twenty-second freeze, 5247b2b): b-mobile seed 24 without ids,
    mobile networks behind carrier-grade NAT. Before the pool test (0aeffa5) its weekly
    estimates read 215.4% off, 10 of 46 intervals holding; at the freeze, bounds in all 54
    rows, all holding, but a decay of hosts 28.8% slow (0.0500 a week against 0.0703) with
    an interval that missed: the sum of the host figures fell just faster than the sum of
    the addresses (0.0496 an hour), while 7 of its 11 networks, 67% of the first week's
    figure, each fell more slowly than their own addresses. Since cleanup.network_check the
    decay is withheld, its lower bound (0.0387) holding (BENCHMARKS.md, "After the
    twenty-second set: the networks' own checks")."""
    return _score(tmp_path_factory, "b-mobile", 24)


@pytest.mark.timeout(900)  # the fixture generates and ingests b-mobile (about 3 min)
def test_seen_b_mobile_withholds_a_decay_its_networks_fail(b_mobile_24: Score) -> None:
    none, held, rows = b_mobile_24.unsupported()
    assert none == held == rows >= 50
    assert b_mobile_24.decay_support == "bounds"
    assert b_mobile_24.decay_est is None
    assert "most of the machines counted sit in networks" in str(b_mobile_24.decay_note)
    assert b_mobile_24.decay_bound_holds()
    assert b_mobile_24.decay_lower is not None
    assert b_mobile_24.decay_lower >= 0.5 * b_mobile_24.decay_true  # type: ignore[operator]


@pytest.fixture(scope="module")
def b_harsh_36(tmp_path_factory: pytest.TempPathFactory) -> tuple[Score, list[str]]:
    """Seen (held out at the twenty-fourth freeze, ab194f7): b-harsh seed 36 with ids on 12%
    of the machines, read without them. Two countries lent days active, IT AS3269 and RU
    AS8402; IT's stable addresses held 2.0-2.7 times fewer check-ins than RU's (its lines
    have more addresses than machines), the two agreed on days active in the first six
    weeks, and the estimates read 1.6-1.9 times the machines (70.7% median error, intervals
    six times wide, 60 of 64 holding). Since the lenders' check-ins are checked
    (hosts.model._shrink, `busier`), every row has bounds (BENCHMARKS.md, "After the
    twenty-fourth set")."""
    out = tmp_path_factory.mktemp("b-harsh-36") / "pop"
    settings = override(preset("b-harsh"), ["report.ids_share=0.12"])
    _, report = run(settings, 36, out, ids=False, checkins=False)
    assert ok(report), report
    score, got = evaluate(out)
    shutil.rmtree(out.parent)
    return score, list(got["notes"])


@pytest.mark.timeout(900)  # the fixture generates and ingests b-harsh (about 4 min)
def test_seen_b_harsh_lenders_whose_check_ins_differ_lend_nothing(
    b_harsh_36: tuple[Score, list[str]],
) -> None:
    score, notes = b_harsh_36
    none, held, rows = score.unsupported()
    assert none == held == rows >= 80  # bounds everywhere, every one holding
    assert any("hold check-ins that differ by more than" in n for n in notes)


@pytest.fixture(scope="module")
def b_harsh_37_ids(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen (held out at the twenty-fifth freeze, 8effb5c): b-harsh seed 37 with ids on 30%
    of the machines. One stable network, VN AS18403, was the yardstick of every network's
    split share (hosts.split); its addresses held 52 check-ins a day among the machines
    with ids and 43 among the rest, so the strip-the-ids check, measuring its own shares on
    the rows with ids, took 0.7-0.9 of the model's, its corrections were 1.23 times too
    large, and every week read 1.17-1.26 times the machines (19.4% global, 17.0% per
    country, 52 of 67 holding). Since the check takes the model's split shares
    (hosts.estimate): 1.1% global, 3.9% per country, 90 of 90 holding (BENCHMARKS.md, "The
    strip-the-ids check takes the model's split shares")."""
    return _with_ids(tmp_path_factory, "b-harsh", 37)


@pytest.mark.timeout(900)  # the fixture generates and ingests b-harsh with ids (about 4 min)
def test_seen_b_harsh_with_one_yardstick_corrects_with_the_models_own_split(
    b_harsh_37_ids: Score,
) -> None:
    assert b_harsh_37_ids.median_error("global") <= 0.04  # type: ignore[operator]
    assert b_harsh_37_ids.median_error("country") <= 0.07  # type: ignore[operator]
    inside, checked = b_harsh_37_ids.coverage()
    assert checked >= 80
    assert inside / checked >= 0.9


@pytest.fixture(scope="module")
def b_harsh_ids12_44(tmp_path_factory: pytest.TempPathFactory) -> Score:
    """Seen (held out at the twenty-eighth freeze, c4498e2): b-harsh seed 44 with ids on 12%
    of the machines. 7.5% global, 5.8% per country, but 70 of 86 intervals holding: Vietnam
    and Russia read 0.67-0.75 times their machines in every week, their networks'
    corrections (15-48 machines with ids each) pulled to the networks' centre, 0.54-0.58
    where the truth called for 0.60-0.89. Each network's level had been shrunk by the
    sampling error 1/M + 1/H, as if the model's reading H of the M machines were a count of
    its own. Since it is 1/M (hosts.networks): 5.6% global, 5.7% per country, 77 of 86
    holding (BENCHMARKS.md, "Network levels shrunk by their machines' sampling alone").
    Since widened intervals are narrowed (hosts.model.WIDENED_SCALE): 67 of 86, below the
    85% the goal asks (a seen population: a development figure)."""
    return _with_ids(tmp_path_factory, "b-harsh", 44, ("report.ids_share=0.12",))


@pytest.mark.timeout(900)  # the fixture generates and ingests b-harsh with ids (about 4 min)
def test_seen_b_harsh_with_ids_on_12_percent_keeps_its_networks_apart(
    b_harsh_ids12_44: Score,
) -> None:
    assert b_harsh_ids12_44.median_error("global") <= 0.07  # type: ignore[operator]
    assert b_harsh_ids12_44.median_error("country") <= 0.08  # type: ignore[operator]
    inside, checked = b_harsh_ids12_44.coverage()
    assert checked >= 80
    assert inside / checked >= 0.75  # 67 of 86 (0.78) since WIDENED_SCALE; 77 before

"""The decay of hosts against the decay of its addresses (cleanup.address_check): a host
decay slower than the addresses' is not supported, with the addresses' rate as a lower
bound; the share still infected and the hazard ratio from it follow."""

from __future__ import annotations

import functools
import math
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest
from rich.console import Console

from botcensus.measure.cleanup import CleanupQuery, CleanupResult, cleanup
from botcensus.measure.cleanup.address_check import (
    AddressRates,
    address_rates,
    bounded_share,
    check_decay,
    from_offices,
)
from botcensus.measure.cleanup.checks import checked_survival
from botcensus.measure.hosts import office as office_module
from botcensus.report.cleanup_html import decay_sentence
from botcensus.report.cleanup_view import as_json, print_cleanup, terminal_decay
from botcensus.store.sketch_build import sketch_sightings

from ..hosts.hosts_cases import START, Population, connect, merge_by_address, per_hour, populate

WEEKS = 6


def _decay(rate: float | None) -> pa.Table:
    return pa.Table.from_pylist(
        [{"group": None, "first_count": 1000.0, "last_count": 700.0, "weeks": 6,
          "rate_per_week": rate, "rate_lower": None if rate is None else rate - 0.01,
          "rate_upper": None if rate is None else rate + 0.01,
          "half_life_weeks": None if rate is None else math.log(2) / rate,
          "half_life_days": None if rate is None else 7 * math.log(2) / rate}]
    )  # fmt: skip


def test_a_host_decay_slower_than_the_addresses_is_not_supported() -> None:
    """b-mobile seed 5's figures: hosts 0.021 a week, addresses 0.056, hourly 0.080; the
    lower bound is the lower end of the addresses' rate's interval (0.049 here)."""
    row = check_decay(_decay(0.021), {None: AddressRates(0.056, 0.080, 0.049)}).to_pylist()[0]
    assert row["support"] == "bounds"
    assert row["rate_per_week"] is None
    assert (row["rate_lower"], row["rate_upper"]) == (0.049, None)
    assert row["address_rate_lower"] == 0.049
    assert row["half_life_weeks"] is None
    assert row["half_life_days"] is None
    assert row["model_rate_per_week"] == 0.021
    assert (row["address_rate_per_week"], row["hourly_rate_per_week"]) == (0.056, 0.080)
    assert "0.0210 a week" in row["support_reason"]
    assert "0.0560" in row["support_reason"]
    assert "0.0800" in row["support_reason"]


@pytest.mark.parametrize(
    ("rates", "support"),
    [
        (AddressRates(0.048, 0.051), "estimate"),  # a-global seed 103: 1.13 times the faster
        (AddressRates(0.040, 0.0649), "estimate"),  # equal to the faster: not slower
        (AddressRates(0.040, 0.065), "bounds"),  # the faster one decides, hourly here
        (AddressRates(None, None), "estimate"),  # nothing to check against
    ],
)
def test_the_check_compares_the_point_estimates(rates: AddressRates, support: str) -> None:
    row = check_decay(_decay(0.0649), {None: rates}).to_pylist()[0]
    assert row["support"] == support
    assert (row["rate_per_week"] is None) == (support == "bounds")
    if support == "estimate":
        assert row["rate_lower"] == pytest.approx(0.0549)
        checked = rates.faster is not None
        assert (row["support_reason"] is None) == checked  # unchecked: it says so


def test_a_row_without_a_rate_is_left_without_one() -> None:
    row = check_decay(_decay(None), {None: AddressRates(0.05, 0.06)}).to_pylist()[0]
    assert row["support"] == "none"
    assert row["rate_per_week"] is None
    assert row["rate_lower"] is None


def test_address_rates_fit_both_series_per_group() -> None:
    starts = [START + timedelta(days=7 * w) for w in range(4)]
    weekly = pa.table(
        {
            "window_start": starts * 2,
            "cc": ["AA"] * 4 + ["BB"] * 4,
            "unique_ip": [1000 * math.exp(-0.1 * w) for w in range(4)] + [500.0] * 4,
            "ips_hourly_avg": [100 * math.exp(-0.2 * w) for w in range(4)] + [50.0] * 4,
        }
    )
    rates = address_rates(weekly, group="cc")
    assert rates["AA"].unique == pytest.approx(0.1, abs=1e-6)
    assert rates["AA"].hourly == pytest.approx(0.2, abs=1e-6)
    assert rates["AA"].faster == pytest.approx(0.2, abs=1e-6)
    assert rates["BB"].unique == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("lower", "share"), [(0.056, math.exp(-0.224)), (-0.05, 1.0), (None, 1.0)])
def test_bounds_on_the_share_still_infected(lower: float | None, share: float) -> None:
    assert bounded_share({"rate_lower": lower}, 28) == pytest.approx((0.0, share))


def test_the_share_still_infected_is_bounds_only_whatever_the_identities_say() -> None:
    """b-mobile seed 5: the identities' 0.98 and the decay's 0.92 agreed (an `estimate`
    0.33 off the truth); with the decay not supported, only bounds, 0 to exp(-4 x 0.049),
    the lower end of the addresses' rate's interval."""
    summary = pa.Table.from_pylist(
        [{"group": None, "identities": 2588, "surviving_28d": 0.978, "surviving_28d_lower": 0.97,
          "surviving_28d_upper": 0.983, "surviving_56d": 0.84, "surviving_56d_lower": 0.79,
          "surviving_56d_upper": 0.91}]
    )  # fmt: skip
    decay = check_decay(_decay(0.021), {None: AddressRates(0.056, 0.080, 0.049)})
    row = checked_survival(summary, {r["group"]: r for r in decay.to_pylist()}, None).to_pylist()
    for d in (28, 56):
        assert row[0][f"surviving_{d}d"] is None
        assert row[0][f"surviving_{d}d_support"] == "bounds"
        assert row[0][f"surviving_{d}d_lower"] == 0.0
        assert row[0][f"surviving_{d}d_upper"] == pytest.approx(math.exp(-0.049 * d / 7))
    assert row[0]["surviving_28d_km"] == pytest.approx(0.978)


def _machine_days(
    pop: Population, machines: range, pool: int | None, asn: int, rng: np.random.Generator
) -> None:
    """Machines online on days of their own probability, cleaned after an exponential time
    (0.12 a week); each on its own static address (`pool` None) or each session on one of
    `pool` addresses (a carrier-grade NAT)."""
    shared = [pop.address() for _ in range(pool or 0)]
    for m in machines:
        p, hour, hours = rng.uniform(0.3, 0.9), rng.uniform(7, 15), rng.uniform(1, 4)
        stop = float(rng.exponential(7 / 0.12))
        own = pop.address()
        for d in range(min(7 * WEEKS, int(stop))):
            if rng.random() >= p:
                continue
            start = (hour + rng.uniform(-1, 1)) * 3600
            end = start + hours * rng.uniform(0.6, 1.4) * 3600
            address = shared[int(rng.integers(pool))] if pool else own
            pop.session([m], START + timedelta(days=d), address, start, end, cc="AA", asn=asn)


@functools.cache
def renumbering_stops() -> pa.Table:
    """600 machines, none cleaned: 300 on static lines; 300 on lines given a new address
    every session for two weeks, then a fixed one. The addresses fall, the machines do not:
    the host decay (about 0) is slower than the addresses' and is not supported."""
    pop = Population()
    populate(pop, range(300), "static", cc="AA", asn=64501, weeks=WEEKS)
    first = Population(_next_address=10_000)
    populate(first, range(300, 600), "session", cc="AA", asn=64502, weeks=2)
    later = Population(_next_address=50_000)
    populate(later, range(300, 600), "static", cc="AA", asn=64502, weeks=WEEKS)
    pop.rows += first.rows + [r for r in later.rows if (r["day"] - START).days >= 14]  # type: ignore[operator]
    return pop.table()


@functools.cache
def pooled_cleanup(static: bool = True) -> pa.Table:
    """300 machines behind a pool of 60 addresses (and, `static`, 300 on static lines),
    cleaned at 0.12 a week: the pool's addresses stay in use while any machine is left, so
    addresses fall more slowly than the machines, and the host decay (faster than the
    addresses') keeps its estimate."""
    pop = Population()
    rng = np.random.default_rng(5)
    if static:
        _machine_days(pop, range(300), None, 64501, rng)
    _machine_days(pop, range(300, 600), 60, 64509, rng)
    return pa.Table.from_pylist(merge_by_address(pop.rows), schema=pop.table().schema)


def _cleanup(table: pa.Table, **query: object) -> CleanupResult:
    sketches = sketch_sightings(table.slice(0, 0))
    return cleanup(connect(table), "sightings", sketches, CleanupQuery(count="hosts", **query))  # type: ignore[arg-type]


def _overall(result: CleanupResult) -> dict[str, object]:
    return next(r for r in result.decay.to_pylist() if r["group"] is None)


def test_machines_that_stay_while_their_addresses_fall_get_no_decay() -> None:
    campaign = pa.table(
        {"asn": [64501, 64502], "notified": [True, False], "day": [START + timedelta(days=14)] * 2}
    )
    result = _cleanup(renumbering_stops(), by="country", notified=campaign)
    top = _overall(result)
    assert result.decay_support == "bounds"
    assert result.fit is None
    assert top["support"] == "bounds"
    assert top["rate_per_week"] is None
    assert abs(top["model_rate_per_week"]) < 0.05  # type: ignore[arg-type]
    assert top["rate_lower"] == top["address_rate_lower"]
    assert top["address_rate_per_week"] > 0.15  # type: ignore[operator]
    assert result.decay_reason == top["support_reason"]
    country = next(r for r in result.decay.to_pylist() if r["group"] == "AA")
    assert country["support"] == "bounds"  # the groups are checked too
    assert any(n.startswith("decay of hosts not supported by these data") for n in result.notes)
    assert result.survival is not None
    overall = next(r for r in result.survival.to_pylist() if r["group"] is None)
    for d in (28, 56):
        assert overall[f"surviving_{d}d"] is None
        assert overall[f"surviving_{d}d_support"] == "bounds"
        bound = math.exp(-float(top["rate_lower"]) * d / 7)  # type: ignore[arg-type]
        assert overall[f"surviving_{d}d_upper"] == pytest.approx(bound)
    assert any(
        n.startswith("notification effect from the host decay not computed: the decay of hosts")
        for n in result.notes
    )
    assert result.effect is not None
    assert result.effect.support in ("identities", "none")


def test_machines_behind_a_pool_keep_their_decay() -> None:
    result = _cleanup(pooled_cleanup())
    top = _overall(result)
    assert result.decay_support == "estimate"
    assert result.decay_reason is None
    assert result.fit is not None
    assert top["support"] == "estimate"
    assert top["rate_per_week"] == top["model_rate_per_week"]
    assert top["rate_per_week"] == pytest.approx(0.12, rel=0.2)
    assert top["address_rate_per_week"] < top["rate_per_week"]  # type: ignore[operator]
    assert top["hourly_rate_per_week"] < top["rate_per_week"]  # type: ignore[operator]
    assert not any("not supported by these data" in n for n in result.notes)


def test_a_pool_alone_gets_an_answer() -> None:
    """Every address of the window serves several machines (no single-host address-days):
    the estimator answered with an IndexError before (hosts.daily.group_week)."""
    result = _cleanup(pooled_cleanup(static=False))
    assert result.decay_support == "estimate"
    assert _overall(result)["address_rate_per_week"] == pytest.approx(0.0, abs=1e-9)


def test_the_decay_not_supported_is_labelled_in_json_text_and_report() -> None:
    result = _cleanup(renumbering_stops())
    document = as_json(result)
    assert document["decay_support"] == "bounds"
    assert document["decay_reason"].startswith("the host estimates fall")
    row = next(r for r in document["decay"] if r["group"] is None)
    assert {k: row[k] is None for k in ("rate_per_week", "rate_upper", "half_life_days")} == {
        "rate_per_week": True, "rate_upper": True, "half_life_days": True,
    }  # fmt: skip
    cells = terminal_decay(result.decay).to_pylist()[0]
    assert cells["rate/week"] == "n.s."
    assert cells["interval"].startswith("≥ ")
    assert cells["interval"].endswith("?")
    console = Console(record=True, width=200)
    print_cleanup(result, console)
    text = console.export_text()
    assert "note: decay of hosts not supported by these data" in text
    assert "n.s." in text
    sentence = decay_sentence(result)
    assert sentence.startswith("Decay of hosts not supported by these data: the host estimates")
    assert "the machines fall at least" in sentence


def test_a_decay_of_addresses_is_not_checked() -> None:
    """`--count addresses` (the default) fits the addresses themselves: nothing to check."""
    result = cleanup(
        connect(renumbering_stops()),
        "sightings",
        sketch_sightings(renumbering_stops().slice(0, 0)),
        CleanupQuery(date_from=START, date_to=START + timedelta(days=7 * WEEKS - 1)),
    )
    assert result.decay_support == "estimate"
    assert "support" not in result.decay.column_names
    assert result.fit is not None
    assert result.fit.rate_per_week > 0.15


@functools.cache
def pooled_with_unknown_country() -> pa.Table:
    """`pooled_cleanup` plus 30 machines without a country (enrichment found none) on static
    lines, seen for two weeks only: their addresses fall far faster than the whole
    population's machines."""
    pop = Population(_next_address=200_000)
    populate(pop, range(1000, 1030), "static", cc=None, asn=64510, weeks=2)  # type: ignore[arg-type]
    return pa.concat_tables(
        [pooled_cleanup(), pa.Table.from_pylist(pop.rows, schema=pop.table().schema)]
    )


def test_a_group_without_a_country_does_not_stand_in_for_the_whole_population() -> None:
    """With --by country the group of rows without a country is keyed None, as the whole
    population is: its addresses' rates must not be taken for the whole population's."""
    alone = _overall(_cleanup(pooled_with_unknown_country()))
    result = _cleanup(pooled_with_unknown_country(), by="country")
    top = _overall(result)
    assert alone["support"] == "estimate"
    assert top["support"] == "estimate"
    assert result.decay_support == "estimate"
    assert top["address_rate_per_week"] == pytest.approx(alone["address_rate_per_week"])
    assert top["hourly_rate_per_week"] == pytest.approx(alone["hourly_rate_per_week"])
    unknown = [r for r in result.decay.to_pylist() if r["group"] is None][1]
    assert unknown["address_rate_per_week"] > 2 * top["rate_per_week"]  # would have failed it


def test_the_lower_bound_is_the_lower_end_of_the_addresses_rate() -> None:
    """The twentieth held-out set's c-office at 300 machines (seed 919): its distinct
    addresses fell 0.0687 a week [0.0304, 0.1069] over seven weeks of 126-193, the machines
    0.0502; the point as the lower bound put the share still infected after 28 days at most
    0.76, against a true 0.79. The interval's lower end holds; where it reaches zero there
    is no lower bound."""
    weekly = pa.Table.from_pylist(
        [{"window_start": START + timedelta(days=7 * i), "unique_ip": n, "ips_hourly_avg": n / 4}
         for i, n in enumerate([193, 189, 173, 165, 157, 141, 126])]
    )  # fmt: skip
    rates = address_rates(weekly)[None]
    assert rates.unique is not None
    assert rates.unique_lower is not None
    assert rates.unique_lower < 0.0502 < rates.unique
    row = check_decay(_decay(0.021), {None: rates}).to_pylist()[0]
    assert row["rate_lower"] == rates.unique_lower
    flat = pa.Table.from_pylist(
        [{"window_start": START + timedelta(days=7 * i), "unique_ip": n, "ips_hourly_avg": n / 4}
         for i, n in enumerate([100, 140, 90, 130, 95, 120, 99])]
    )  # fmt: skip
    assert address_rates(flat)[None].unique_lower is None
    assert check_decay(_decay(-0.05), address_rates(flat)).to_pylist()[0]["rate_lower"] is None


def test_a_rate_that_is_not_a_number_is_no_rate() -> None:
    row = check_decay(_decay(math.nan), {None: AddressRates(0.05, 0.06)}).to_pylist()[0]
    assert row["support"] == "none"
    assert row["support_reason"] is None


def test_an_estimate_the_addresses_could_not_check_says_so() -> None:
    row = check_decay(_decay(0.04), {}).to_pylist()[0]
    assert row["support"] == "estimate"
    assert row["rate_per_week"] == 0.04
    assert "not checked against the addresses' decay" in row["support_reason"]


def test_the_reason_names_the_faster_address_series() -> None:
    row = check_decay(_decay(0.04), {None: AddressRates(0.03, 0.08)}).to_pylist()[0]
    assert row["support"] == "bounds"
    assert "more slowly than the mean distinct addresses per hour" in row["support_reason"]
    row = check_decay(_decay(0.04), {None: AddressRates(0.09, 0.08)}).to_pylist()[0]
    assert "more slowly than the weekly distinct addresses" in row["support_reason"]


@functools.cache
def offices_cleaned() -> pa.Table:
    """300 machines on static home lines and 80 offices of four machines behind one address
    each (09:00-17:00 on weekdays), every machine cleaned after an exponential time (0.12 a
    week), in reports per hour (no check-in timer to read): an office's address stays while
    any of its machines is infected."""
    pop = Population()
    rng = np.random.default_rng(11)
    _machine_days(pop, range(300), None, 64501, rng)
    for s in range(80):
        address = pop.address()
        stops = [float(rng.exponential(7 / 0.12)) for _ in range(4)]
        for d in range(7 * WEEKS):
            day = START + timedelta(days=d)
            on = [10_000 + 4 * s + j for j in range(4) if d < stops[j]]
            if day.weekday() < 5 and on:
                pop.session(on, day, address, 9 * 3600, 17 * 3600, cc="AA", asn=64509)
    return per_hour(pa.Table.from_pylist(merge_by_address(pop.rows), schema=pop.table().schema))


def test_a_decay_counted_from_office_addresses_is_not_supported() -> None:
    result = _cleanup(offices_cleaned(), by="asn")
    top = _overall(result)
    assert result.decay_support == "bounds"
    assert top["support"] == "bounds"
    assert "office hours" in str(top["support_reason"])
    assert top["rate_per_week"] is None
    assert top["rate_lower"] == top["address_rate_lower"]
    assert 0.0 < top["rate_lower"] < 0.12 * 1.15  # type: ignore[operator]
    rows = {r["group"]: r for r in result.decay.to_pylist()}
    assert "office hours" in str(rows["64509"]["support_reason"])
    # the home network's own decay is not held to the offices' rule
    assert "office hours" not in str(rows["64501"]["support_reason"] or "")
    assert from_offices(top)
    assert not from_offices(rows["64501"])


def test_the_effect_not_computed_says_it_is_the_offices() -> None:
    campaign = pa.table(
        {"asn": [64501, 64509], "notified": [True, False], "day": [START + timedelta(days=14)] * 2}
    )
    result = _cleanup(offices_cleaned(), notified=campaign)
    assert any(
        n.startswith("notification effect from the host decay not computed")
        and "networks that keep office hours" in n
        for n in result.notes
    )


def test_without_the_office_test_the_decay_is_an_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(office_module, "OFFICE_RATIO", 0.0)
    top = _overall(_cleanup(offices_cleaned()))
    assert "office hours" not in str(top["support_reason"] or "")
    assert top["rate_per_week"] is not None


@pytest.mark.parametrize("by", ["asn", "country"])
def test_groups_too_small_to_follow_leave_the_whole_population_s_curve(by: str) -> None:
    """Three networks of 12 machines each (in three countries): none has the 20 identities a
    curve per group needs, the whole population has. `cleanup --by asn` ended in
    "Schema at index 1 was different" (b-harsh at 300 machines with ids, seeds 925, 928,
    933, 936; c-office at 300, seeds 927 and 935)."""
    pop = Population()
    for n, (cc, asn) in enumerate((("AA", 64501), ("BB", 64502), ("CC", 64503))):
        populate(pop, range(12 * n, 12 * n + 12), "static", cc=cc, asn=asn, weeks=WEEKS)
    result = _cleanup(pop.table(), by=by)
    assert result.curves is not None
    assert set(result.curves["group"].to_pylist()) == {None}  # no group's own curve
    assert result.survival is not None
    rows = result.survival.to_pylist()
    assert rows[0]["group"] is None
    assert rows[0]["identities"] == 36
    assert all(r.get("surviving_28d_km") is None for r in rows[1:])

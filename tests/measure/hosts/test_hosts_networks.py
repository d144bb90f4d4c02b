"""Per-network correction of the address model from machines with ids: the factor, its
limits, and how it moves a network's and its country's estimate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.hosts import estimate as estimate_module
from botcensus.measure.hosts import hosts_answer
from botcensus.measure.hosts.estimate import AddressModel, address_model
from botcensus.measure.hosts.features import EPOCH
from botcensus.measure.hosts.ids import IdCounts
from botcensus.measure.hosts.networks import (
    MIN_MACHINES,
    MIN_NETWORK_MACHINES,
    TRANSFER_SD,
    Factor,
    apply_factors,
    network_factors,
    strip_ids_note,
    without_ids_sql,
)

from .hosts_cases import Population, connect, per_hour, populate, populate_households

W = dt.date(2011, 3, 20)
START = (W - EPOCH).days


def _counts(rows: list[tuple[str, int, float]]) -> IdCounts:
    n = len(rows)
    return IdCounts(
        window_start=np.full(n, START, np.int64),
        cc=tuple(r[0] for r in rows),
        asn=np.array([r[1] for r in rows], np.int64),
        machines=np.array([r[2] for r in rows], np.float64),
        machine_days=np.zeros(n),
        machine_days_sq=np.zeros(n),
        hidden=np.zeros(n),
    )


def test_factor_is_machines_over_the_model_on_the_same_sightings() -> None:
    few = MIN_NETWORK_MACHINES - 1
    counts = _counts([("US", 1, 120.0), ("US", 2, few), ("DE", 3, 200.0), ("DE", 4, 100.0)])
    model = {
        (W, "US", 1): (100.0, 0.0, 0.0),  # the model undercounts this network by 20%
        (W, "US", 2): (few * 0.8, 0.0, 0.0),  # too few machines to judge
        (W, "DE", 3): (20.0, 0.0, 0.0),  # ids and addresses live apart: not applied
    }  # DE 4: the model has nothing there
    factors = network_factors(counts, model)
    assert set(factors) == {(W, "US", 1)}
    factor = factors[(W, "US", 1)]
    assert factor.value == pytest.approx(1.2)
    # One network: it is its own centre, whose error (the sampling of its 120 machines with
    # ids) it shares with none; its own is only that of carrying the factor over to the
    # machines without ids.
    assert factor.own_var == pytest.approx(TRANSFER_SD**2)
    assert factor.shared_sd == pytest.approx(np.sqrt(1 / 120))
    assert MIN_MACHINES > 10
    assert 1 < MIN_NETWORK_MACHINES < MIN_MACHINES


def test_applying_moves_the_network_and_its_country_by_the_same_hosts() -> None:
    cells = {
        (W, "US", 1): (500.0, 400.0, 5.0),
        (W, "US", 9): (300.0, 100.0, 3.0),
        (W, "US", None): (800.0, 500.0, 8.0),
    }
    factors = {(W, "US", 1): Factor(1.2, 0.01, 0.05), (W, "FR", 5): Factor(2.0, 0.1, 0.0)}
    out = apply_factors(cells, factors)
    assert out[(W, "US", 1)][0] == pytest.approx(600.0)
    assert out[(W, "US", 9)] == cells[(W, "US", 9)]
    assert out[(W, "US", None)][0] == pytest.approx(900.0)
    added = 600.0**2 * 0.01
    assert out[(W, "US", 1)][1] == pytest.approx(400.0 * 1.44 + added)
    assert out[(W, "US", None)][1] == pytest.approx(500.0 + 400.0 * 0.44 + added)
    # The shared centre's error adds linearly: 5 x 1.2 + 600 x 0.05 on the network.
    assert out[(W, "US", 1)][2] == pytest.approx(6.0 + 30.0)
    assert out[(W, "US", None)][2] == pytest.approx(8.0 + 1.0 + 30.0)
    assert (W, "FR", 5) not in out  # no IP-only estimate there to correct


def test_the_centre_error_is_shared_so_it_adds_up_over_networks() -> None:
    """Forty networks whose factors scatter by sampling alone are shrunk to the centre: each
    keeps almost no sampling error of its own (beyond TRANSFER_SD, the error of carrying a
    factor from the machines with ids to the others), and the centre's standard error is what
    they share."""
    rng = np.random.default_rng(4)
    rows = [("US", a, 200.0) for a in range(40)]
    model = {(W, "US", a): (200.0 / 1.1 * float(np.exp(rng.normal(0, 0.05))), 0.0, 0.0)
             for a in range(40)}  # fmt: skip
    factors = network_factors(_counts(rows), model)
    noise = np.full(40, 1 / 200)
    centre_sd = float(np.sqrt(1 / np.sum(1 / noise)))
    for factor in factors.values():
        assert factor.own_var - TRANSFER_SD**2 < 0.2 * noise.mean()
        assert factor.shared_sd == pytest.approx(centre_sd, rel=0.25)


def test_factors_are_shrunk_to_their_mean_unless_networks_truly_differ() -> None:
    """Forty networks of 1,000 machines with ids whose model errs by the same 20% (factors
    scattered as much as the sampling of 1,000 machines does) all get about 1.2; when half
    truly err by 50% instead, each keeps most of its own."""
    rng = np.random.default_rng(3)
    same = [("US", a, 1000.0) for a in range(40)]
    model = {(W, "US", a): (1000.0 / 1.2 * float(np.exp(rng.normal(0, 1000**-0.5))), 0.0, 0.0)
             for a in range(40)}  # fmt: skip
    factors = network_factors(_counts(same), model)
    values = np.array([f.value for f in factors.values()])
    assert np.all(np.abs(values / 1.2 - 1) < 0.05)
    apart = {
        key: (hosts / (1.5 / 1.2 if key[2] % 2 else 1.0), 0.0, 0.0)
        for key, (hosts, _, _) in model.items()
    }
    factors = network_factors(_counts(same), apart)
    odd = np.array([f.value for (_, _, a), f in factors.items() if a % 2])
    even = np.array([f.value for (_, _, a), f in factors.items() if not a % 2])
    assert np.median(odd) > 1.4
    assert np.median(even) < 1.3


def test_networks_that_differ_by_about_their_sampling_error_keep_most_of_their_own() -> None:
    """Forty networks with 40 machines with ids each, the model's reading of them scattered
    by the sampling of 40 machines (log sd 1/sqrt(40), as halves of the ids measured it on
    b-harsh with ids on 12%), and half of them truly read 1.65 times as many machines as the
    others (a mobile operator's against a DSL line's). Their sampling error is 1/M: the half
    that reads more keeps 1.32 times the other half's factor, for a true 1.65. Taken as
    1/M + 1/H (up to the twenty-eighth freeze), more of the difference read as sampling:
    1.14 times, and that half corrected 14% low (5% now)."""
    rng = np.random.default_rng(7)
    rows = [("US", a, 40.0) for a in range(40)]
    truth = {a: 0.6 * (1.65 if a % 2 else 1.0) for a in range(40)}
    model = {(W, "US", a): (40.0 / truth[a] * float(np.exp(rng.normal(0, 40**-0.5))), 0.0, 0.0)
             for a in range(40)}  # fmt: skip
    factors = network_factors(_counts(rows), model)
    odd = np.array([f.value for (_, _, a), f in factors.items() if a % 2])
    even = np.array([f.value for (_, _, a), f in factors.items() if not a % 2])
    assert float(np.exp(np.mean(np.log(odd)) - np.mean(np.log(even)))) > 1.25
    assert float(np.exp(np.mean(np.log(odd)))) == pytest.approx(0.99, rel=0.1)


def test_a_network_with_few_machines_with_ids_is_corrected_towards_the_centre() -> None:
    """Ten networks with 200 machines with ids each, the model twice their machines, and two
    small carrier-grade NAT networks with 12 machines with ids, the model four times theirs
    (b-harsh seed 16's mobile networks: 12-17 machines with ids, kept their raw estimate
    below 30, and put their countries at 1.3-1.4 times the truth). The small ones are
    corrected, between their own level and the centre (shrunk by their sampling error), and
    carry a larger error of their own than the big ones."""
    rows = [("US", a, 200.0) for a in range(10)] + [("US", 10, 12.0), ("DE", 11, 12.0)]
    model = {(W, "US", a): (400.0 * (1.1 if a % 2 else 0.9), 0.0, 0.0) for a in range(10)}
    model[(W, "US", 10)] = (48.0, 0.0, 0.0)
    model[(W, "DE", 11)] = (48.0, 0.0, 0.0)
    factors = network_factors(_counts(rows), model)
    assert set(factors) == {(W, cc, a) for cc, a, _ in rows}
    big, small = factors[(W, "US", 0)], factors[(W, "US", 10)]
    assert 0.25 < small.value < 0.45
    assert factors[(W, "DE", 11)].value == pytest.approx(small.value)
    assert small.own_var > big.own_var >= TRANSFER_SD**2
    cells = {(W, "US", 10): (48.0, 10.0, 0.0), (W, "US", None): (48.0, 10.0, 0.0)}
    corrected = apply_factors(cells, factors)
    assert 12.0 < corrected[(W, "US", None)][0] < 48.0 * 0.45
    # the interval's variance grows by the factor's own: (hosts x f)^2 x own_var
    assert corrected[(W, "US", None)][1] > 10.0 * small.value**2 + (48 * small.value) ** 2 * 0.06


def _windows(weeks: int, machines: float, modelled: float) -> tuple[IdCounts, dict]:
    """One network with `machines` counted by ids in each of `weeks` windows, and the
    IP-only model's `modelled` on the same sightings without their ids."""
    starts = [START + 7 * w for w in range(weeks)]
    counts = IdCounts(
        window_start=np.array(starts, np.int64),
        cc=("US",) * weeks,
        asn=np.full(weeks, 1, np.int64),
        machines=np.full(weeks, machines),
        machine_days=np.zeros(weeks),
        machine_days_sq=np.zeros(weeks),
        hidden=np.zeros(weeks),
    )
    model = {(EPOCH + dt.timedelta(days=s), "US", 1): (modelled, 0.0, 0.0) for s in starts}
    return counts, model


def test_strip_the_ids_note_gives_the_model_against_the_ids() -> None:
    """The built-in calibration: the IP-only model on the id-carrying sightings counts 1.25x
    the machines the ids count, in each of three windows, and the correction applied."""
    counts, model = _windows(3, 400.0, 500.0)
    note = strip_ids_note(counts, model, network_factors(counts, model))
    assert note.startswith("strip-the-ids check:")
    assert "counts 1.25x the machines the ids count (median of 3 windows, 0.80-0.80" in note
    assert "per-network corrections 0.80-0.80 applied" in note
    assert "in 1 networks" in note


def test_strip_the_ids_note_says_when_too_few_machines_carry_ids() -> None:
    counts, model = _windows(2, MIN_MACHINES - 1, 40.0)
    note = strip_ids_note(counts, model, network_factors(counts, model))
    assert "too few machines with bot ids" in note
    assert f"fewer than {MIN_MACHINES}" in note


def _cleaned(weeks: int, start: float, rate: float, over: float, drift: float = 0.0):
    """Twelve networks whose machines with ids fall by `rate` a week from `start` (each a
    little different in size); the model on their sightings without ids counts `over` times
    them, times exp(drift * week) (the model's own trend error)."""
    starts, ccs, asns, machines, model = [], [], [], [], {}
    for asn in range(12):
        for week in range(weeks):
            m = start * (0.8 + 0.05 * asn) * np.exp(-rate * week)
            s = START + 7 * week
            starts.append(s)
            ccs.append("US")
            asns.append(asn)
            machines.append(m)
            key = (EPOCH + dt.timedelta(days=s), "US", asn)
            model[key] = (m * over * np.exp(drift * week), 0.0, 0.0)
    n = len(starts)
    counts = IdCounts(
        window_start=np.array(starts, np.int64),
        cc=tuple(ccs),
        asn=np.array(asns, np.int64),
        machines=np.array(machines),
        machine_days=np.zeros(n),
        machine_days_sq=np.zeros(n),
        hidden=np.zeros(n),
    )
    return counts, model


def test_a_network_keeps_its_correction_when_its_machines_with_ids_fall_below_the_minimum() -> None:
    """Machines are cleaned: each network's machines with ids fall from about 40 below
    MIN_MACHINES. Its sightings without ids stay corrected in every window (a correction
    switched off window by window put them back at twice the machines as networks fell
    below the minimum, and slowed the decay of the total)."""
    counts, model = _cleaned(8, 40.0, 0.15, over=2.0)
    factors = network_factors(counts, model)
    assert len(factors) == 12 * 8
    assert all(f.value == pytest.approx(0.5, rel=1e-6) for f in factors.values())


def test_the_window_drift_corrects_a_model_that_falls_too_fast() -> None:
    """The model on the id sightings falls 3% a week faster than the ids: the factors rise
    3% a week, in every network alike, so the corrected estimate falls as the machines do."""
    counts, model = _cleaned(8, 200.0, 0.1, over=2.0, drift=-0.03)
    factors = network_factors(counts, model)
    weeks = sorted({key[0] for key in factors})
    for asn in (0, 11):
        values = [factors[(w, "US", asn)].value for w in weeks]
        ratios = np.diff(np.log(values))
        assert ratios == pytest.approx(np.full(7, 0.03), abs=1e-6)
        assert values[0] == pytest.approx(0.5, rel=1e-6)
    # the window's drift is an error all networks share: it is in the shared part
    assert factors[(weeks[0], "US", 0)].shared_sd > 0


def test_a_model_far_too_high_is_corrected_and_ids_behind_a_gateway_are_not() -> None:
    """A carrier-grade NAT pool where the model reads every address-day as a machine-day:
    ten times the machines its ids count (b-harsh seed 1's mobile networks: 0.07-0.24).
    Its correction is applied; ids far above the model (a proxy) are not."""
    counts = _counts([("US", a, 100.0) for a in range(11)])
    over = {a: 1000.0 if a < 5 else 100.0 if a < 10 else 10.0 for a in range(11)}
    model = {(W, "US", a): (over[a], 0.0, 0.0) for a in range(11)}
    factors = network_factors(counts, model)
    assert set(factors) == {(W, "US", a) for a in range(10)}
    for a in range(10):
        assert factors[(W, "US", a)].value == pytest.approx(0.1 if a < 5 else 1.0, rel=0.1)


def test_the_drift_is_exact_where_networks_share_few_windows() -> None:
    """Nine networks, each seen in two neighbouring weeks only (they appear and fall away as
    machines are cleaned), the model 5% a week further off: the fitted factors fall exactly
    5% a week (25 rounds of the alternating fit left them up to 4% off)."""
    starts, asns, machines, model = [], [], [], {}
    for asn in range(9):
        for week in (asn, asn + 1):
            m = 100.0 if week == asn else 1000.0
            s = START + 7 * week
            starts.append(s)
            asns.append(asn)
            machines.append(m)
            key = (EPOCH + dt.timedelta(days=s), "US", asn)
            model[key] = (m * 2.0 * (1 + asn) * np.exp(0.05 * week), 0.0, 0.0)
    n = len(starts)
    counts = IdCounts(
        window_start=np.array(starts, np.int64),
        cc=("US",) * n,
        asn=np.array(asns, np.int64),
        machines=np.array(machines),
        machine_days=np.zeros(n),
        machine_days_sq=np.zeros(n),
        hidden=np.zeros(n),
    )
    factors = network_factors(counts, model)
    for asn in range(9):
        w0, w1 = (EPOCH + dt.timedelta(days=START + 7 * w) for w in (asn, asn + 1))
        ratio = factors[(w1, "US", asn)].value / factors[(w0, "US", asn)].value
        assert ratio == pytest.approx(np.exp(-0.05), rel=1e-6)


def _households_with_ids() -> Population:
    """Two networks of static households, ids on 1% of one's machines and half the other's."""
    pop = Population()
    populate_households(pop, 2000, 1.375, 0.01, cc="AA", asn=64501, seed=11)
    populate_households(pop, 2000, 1.375, 0.5, cc="AA", asn=64502, seed=12)
    return pop


def test_a_model_can_be_given_its_stable_networks() -> None:
    con = connect(per_hour(_households_with_ids().table()))
    con.execute(without_ids_sql("stripped", "sightings"))
    week = CensusQuery(window="week")

    def stable(model: AddressModel | None) -> set[tuple[str, int]]:
        assert model is not None
        return {g for g, s in zip(model.groups, model.ref.stable, strict=True) if s}

    assert stable(address_model(con, week, "stripped")) == {("AA", 64501), ("AA", 64502)}
    assert stable(address_model(con, week, "stripped", None, {("AA", 64502)})) == {("AA", 64502)}
    assert stable(address_model(con, week, "stripped", None, set())) == set()


@dataclass(frozen=True)
class _Call:
    relation: str
    stable: object
    split: object
    model: AddressModel | None


def _record_models(monkeypatch: pytest.MonkeyPatch) -> list[_Call]:
    """Every address model the census builds, with what it was handed (in call order)."""
    calls: list[_Call] = []
    real = estimate_module.address_model

    def spy(con, query, relation, mixes=None, stable=None, split=None):  # type: ignore[no-untyped-def]
        model = real(con, query, relation, mixes, stable, split)
        calls.append(_Call(relation, stable, split, model))
        return model

    monkeypatch.setattr(estimate_module, "address_model", spy)
    return calls


def _stable(model: AddressModel | None) -> set[tuple[str, int]] | None:
    if model is None:
        return None
    return {g for g, s in zip(model.groups, model.ref.stable, strict=True) if s}


def _shares(model: AddressModel | None) -> dict[tuple[str, int], float]:
    assert model is not None
    return dict(zip(model.groups, model.ref.split.tolist(), strict=True))


def test_the_strip_the_ids_check_runs_the_models_own_stable_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its corrections (ids over the IP-only model on the rows with ids) are applied to the
    model of the rows without ids, so both must lend from the same networks. b-harsh seed 32
    with ids on 12% (twenty-second held-out set): the model lent from ID AS7713, the check,
    judging the few rows with ids on their own, from none; its corrections took the rows
    without ids to half the truth."""
    calls = _record_models(monkeypatch)
    hosts_answer(connect(per_hour(_households_with_ids().table())), CensusQuery(), "sightings")
    (main, _, judged), (view, given, used) = [
        (call.relation, call.stable, _stable(call.model)) for call in calls[:2]
    ]
    assert view == "hosts_ids_without_ids" != main
    assert judged
    assert given == judged  # handed over, not judged again on the rows with ids
    assert used == judged


def test_the_strip_the_ids_check_takes_the_models_own_split_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The split shares (hosts.split: a network's rows per address-day over the stable
    networks') of the rows with ids and of those without are measured on different
    machines; where the check measured its own, the corrections carried the difference over.
    b-harsh seed 37 with ids (twenty-fifth held-out set): one stable network, VN AS18403,
    held 52 check-ins per address-day among the machines with ids and 43 among the rest;
    the check's shares were 0.7-0.9 of the model's in most networks, its corrections 1.23
    times too large, and every week read 1.17-1.26 times the machines."""
    pop = Population()
    populate(pop, range(400), "static", cc="AA", asn=64501, weeks=4, ids=0.3)
    populate(pop, range(400, 800), "daily", cc="AA", asn=64504, weeks=4, ids=0.3)
    calls = _record_models(monkeypatch)
    hosts_answer(connect(per_hour(pop.table())), CensusQuery(window="week"), "sightings")
    (main, none, own), (view, given, used) = [
        (call.relation, call.split, _shares(call.model)) for call in calls[:2]
    ]
    assert view == "hosts_ids_without_ids" != main
    assert none is None
    assert own[("AA", 64501)] == 1.0
    assert own[("AA", 64504)] < 0.95  # renumbered daily: the model takes some days off
    assert given is not None
    assert {g: share for g, (share, _, _) in given.items()} == own
    assert used == own  # not measured again on the rows with ids


def test_a_week_asked_alone_reads_as_within_the_whole_range() -> None:
    """Machines per line follow the lines left since the data's first full week (the anchor,
    estimate._as_machines). A week asked alone counts its bot ids for its own range only,
    and its anchor, outside that range, was estimated without the days active its ids lend:
    b-harsh seed 44 with ids on 12% read 17,795 lines in the anchor where the whole range
    reads 9,140, the lines left 0.48 for 0.93, and the week 5,504 for 6,224 machines (the
    whole range 5,888). The anchor's own ids now lend to it. Here, a network renumbered
    daily and no stable one: the week alone read 2.8% below the same week in the whole
    range; now within 1%."""
    pop = Population()
    populate(pop, range(400), "daily", cc="AA", asn=64504, weeks=4, ids=0.3)
    con = connect(per_hour(pop.table()))
    whole = hosts_answer(con, CensusQuery(window="week"), "sightings").table.to_pylist()
    assert len(whole) == 4  # four full weeks; the first is the anchor
    week = whole[2]
    alone = hosts_answer(
        con,
        CensusQuery(window="week", date_from=week["window_start"], date_to=week["window_end"]),
        "sightings",
    ).table.to_pylist()
    assert len(alone) == 1
    assert alone[0]["hosts_est"] == pytest.approx(week["hosts_est"], rel=0.01)

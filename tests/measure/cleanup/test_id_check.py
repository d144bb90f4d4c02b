"""The decay of hosts against the machines counted by bot id (cleanup.id_check): a host decay
outside the ids' interval, or one counted from addresses the ids show to be offices, gives way
to the ids' decay; survival then follows the ids alone."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from botcensus.measure.cleanup import CleanupQuery, CleanupResult, cleanup
from botcensus.measure.cleanup.id_check import IdDecay, check_ids
from botcensus.store.sketch_build import sketch_sightings

from ..hosts.hosts_cases import START, Population, connect, per_hour

H = 3600
RATE = 0.15
"""The offices' machines are cleaned at this rate a week."""


def _row(rate: float | None, half: float = 0.01) -> dict[str, object]:
    return {
        "group": None, "first_count": 1000.0, "last_count": 500.0, "weeks": 6,
        "rate_per_week": rate,
        "rate_lower": None if rate is None else rate - half,
        "rate_upper": None if rate is None else rate + half,
        "half_life_weeks": None if rate is None else math.log(2) / rate,
        "half_life_days": None if rate is None else 7 * math.log(2) / rate,
    }  # fmt: skip


def _check(host: float | None, ids: float | None, *, crowded: bool = False) -> dict[str, object]:
    decay = pa.Table.from_pylist([_row(host)])
    return check_ids(decay, {None: IdDecay(_row(ids))}, crowded=crowded).to_pylist()[0]


def test_a_host_decay_outside_the_ids_interval_gives_way_to_theirs() -> None:
    row = _check(0.050, 0.070)
    assert row["rate_per_week"] == 0.070
    assert (row["rate_lower"], row["rate_upper"]) == pytest.approx((0.060, 0.080))
    assert row["half_life_days"] == pytest.approx(7 * math.log(2) / 0.070)
    assert row["model_rate_per_week"] == 0.050
    assert row["id_rate_per_week"] == 0.070
    assert row["id_machines"] == 1000.0
    assert "0.0500 a week" in str(row["id_reason"])
    assert "0.0600-0.0800" in str(row["id_reason"])


@pytest.mark.parametrize("host", [0.061, 0.070, 0.079])
def test_a_host_decay_inside_the_ids_interval_is_kept(host: float) -> None:
    row = _check(host, 0.070)
    assert row["rate_per_week"] == host
    assert row["id_reason"] is None
    assert row["id_rate_per_week"] == 0.070  # shown beside it
    assert row.get("model_rate_per_week") is None


def test_where_ids_show_offices_the_ids_decay_is_taken_inside_their_interval_too() -> None:
    row = _check(0.065, 0.070, crowded=True)
    assert row["rate_per_week"] == 0.070
    assert row["model_rate_per_week"] == 0.065
    assert "household law" in str(row["id_reason"])


def test_a_host_decay_slower_than_its_addresses_gives_way_to_the_ids_inside_their_interval() -> (
    None
):
    """b-harsh seed 16 with ids: the host decay 0.0620 a week, inside the ids' interval but
    below the hourly addresses' 0.0637, read "not supported" though the machines counted one
    by one fell faster than the addresses. The ids' rate is the decay; the address check then
    passes it."""
    from botcensus.measure.cleanup.address_check import AddressRates, check_decay

    decay = pa.Table.from_pylist([_row(0.0620)])
    ids = {None: IdDecay(_row(0.068))}
    row = check_ids(decay, ids, floors={None: 0.0637}).to_pylist()[0]
    assert row["rate_per_week"] == 0.068
    assert row["model_rate_per_week"] == 0.0620
    assert "more slowly than the addresses they are counted from (0.0637" in str(row["id_reason"])
    checked = check_decay(pa.Table.from_pylist([row]), {None: AddressRates(0.05, 0.0637)})
    assert checked.to_pylist()[0]["support"] == "estimate"
    # ids as slow as the addresses: nothing to take; the address check says not supported
    kept = check_ids(decay, {None: IdDecay(_row(0.063))}, floors={None: 0.0637}).to_pylist()[0]
    assert kept["rate_per_week"] == 0.0620
    assert kept["id_reason"] is None
    # a host decay at or above the floor is kept as before
    fast = check_ids(pa.Table.from_pylist([_row(0.065)]), ids, floors={None: 0.0637})
    assert fast.to_pylist()[0]["id_reason"] is None


def test_without_an_id_decay_the_row_is_left_as_it_is() -> None:
    row = _check(0.050, None)
    assert row["rate_per_week"] == 0.050
    assert row["id_rate_per_week"] is None
    assert row["id_reason"] is None


def _offices(sites: int = 150, per_site: int = 5, with_id: int = 2, weeks: int = 6) -> Population:
    """Offices: `per_site` machines behind one static address, used every day in office
    hours (a week of fewer days is left out of a decay), the first `with_id` of each with a
    bot id; each machine is cleaned on its own day (exponential,
    RATE a week). The address is seen while any machine behind it is infected."""
    rng = np.random.default_rng(11)
    pop = Population()
    for s in range(sites):
        address = pop.address()
        cleaned = rng.exponential(7 / RATE, per_site)
        for d in range(7 * weeks):
            day = START + timedelta(days=d)
            left = [j for j in range(per_site) if cleaned[j] > d]
            for j in (j for j in left if j < with_id):
                m = s * per_site + j
                pop.session([m], day, address, 9 * H + 60 * j, 17 * H, cc="AA", asn=64509,
                            bot_id=f"o{m}")  # fmt: skip
            others = [s * per_site + j for j in left if j >= with_id]
            if others:
                pop.session(others, day, address, 9 * H, 17 * H, cc="AA", asn=64509)
    return pop


def _cleanup(table: pa.Table, **query: object) -> CleanupResult:
    sketches = sketch_sightings(table.slice(0, 0))
    return cleanup(connect(table), "sightings", sketches, CleanupQuery(count="hosts", **query))  # type: ignore[arg-type]


def test_offices_decay_as_their_machines_with_ids_do() -> None:
    """Hourly reports of offices: the addresses stay while any machine behind them is
    infected, so the host estimates fall more slowly than the machines; the ids show the
    offices, and the decay is theirs (near the true rate), survival follows them alone."""
    pop = _offices()
    result = _cleanup(per_hour(pop.table()))
    top = next(r for r in result.decay.to_pylist() if r["group"] is None)
    weeks = [START + timedelta(days=7 * w) for w in range(6)]
    truth = [pop.hosts(w, w + timedelta(days=6)) for w in weeks]
    true_rate = -np.polyfit(range(6), np.log(truth), 1)[0]
    assert true_rate == pytest.approx(RATE, rel=0.25)
    assert top["model_rate_per_week"] < 0.85 * true_rate  # the addresses' trend
    assert top["rate_per_week"] == top["id_rate_per_week"]
    assert top["rate_per_week"] == pytest.approx(true_rate, rel=0.15)
    assert result.fit is not None
    assert result.fit.rate_per_week == pytest.approx(top["rate_per_week"])
    assert "household law" in str(top["id_reason"])
    assert any(n.startswith("decay of hosts from the machines with bot ids") for n in result.notes)
    assert any(n.startswith("survival follows bot ids only: they show more") for n in result.notes)
    from botcensus.report.cleanup_html import decay_sentence

    assert "of hosts, from the machines with bot ids, over" in decay_sentence(result)
    assert result.survival is not None
    identities = next(r for r in result.survival.to_pylist() if r["group"] is None)["identities"]
    assert identities == 150 * 2  # the machines with ids, no address
    # ids are machines: the share still infected is theirs, not turned from lines
    overall = next(r for r in result.survival.to_pylist() if r["group"] is None)
    assert overall["surviving_28d_km"] == pytest.approx(math.exp(-RATE * 4), abs=0.05)


def test_one_id_per_office_cannot_show_offices_but_the_trend_check_still_catches_them() -> None:
    """One machine with an id per office: no address-day holds two ids, so the ids cannot
    show the offices (hosts.crowded does not fire), but the host decay (the offices'
    addresses, 0.05 a week) falls outside the ids' interval, and the ids' decay is taken
    for that reason; survival follows the 150 ids alone because there are that many."""
    pop = _offices(with_id=1)
    result = _cleanup(per_hour(pop.table()))
    top = next(r for r in result.decay.to_pylist() if r["group"] is None)
    assert any(n.startswith("survival follows bot ids only: 150 machines") for n in result.notes)
    assert "outside the interval of the ids'" in str(top["id_reason"])
    assert "household law" not in str(top["id_reason"])
    assert top["model_rate_per_week"] < top["id_rate_lower"]  # type: ignore[operator]
    assert top["rate_per_week"] == top["id_rate_per_week"]


def test_with_few_ids_survival_also_follows_addresses() -> None:
    """Ten offices with one machine with an id each: fewer ids than MIN_FOLLOWED_IDS, so
    addresses in networks judged to keep one line are followed too (the offices' static
    addresses: ten ids and ten addresses)."""
    from botcensus.measure.cleanup.run import MIN_FOLLOWED_IDS

    assert MIN_FOLLOWED_IDS > 10
    result = _cleanup(per_hour(_offices(sites=10, with_id=1).table()))
    assert not any(n.startswith("survival follows bot ids only") for n in result.notes)
    assert any(
        n.startswith("survival follows 20 of 20 identities: bot ids, and addresses in the 1 ")
        for n in result.notes
    )


def test_the_terminal_marks_a_rate_taken_from_the_ids() -> None:
    from botcensus.report.cleanup_view import terminal_decay

    decay = pa.Table.from_pylist([_row(0.050)])
    shown = terminal_decay(check_ids(decay, {None: IdDecay(_row(0.070))})).to_pylist()[0]
    assert shown["rate/week"].endswith(" ids")
    kept = terminal_decay(check_ids(decay, {None: IdDecay(_row(0.055))})).to_pylist()[0]
    assert not kept["rate/week"].endswith(" ids")


def test_an_ids_rate_slower_than_the_addresses_is_worded_as_the_ids() -> None:
    from botcensus.measure.cleanup.address_check import AddressRates, check_decay

    decay = check_ids(pa.Table.from_pylist([_row(0.050)]), {None: IdDecay(_row(0.080))})
    row = check_decay(decay, {None: AddressRates(0.10, 0.09)}).to_pylist()[0]
    assert row["support"] == "bounds"
    assert row["model_rate_per_week"] == 0.050  # the model's, not the ids'
    assert str(row["support_reason"]).startswith("the machines with bot ids fall 0.0800 a week")


def test_ids_sprayed_from_one_address_are_not_followed_as_machines() -> None:
    """5,000 made-up ids from one address on the first day: without the check they are 5,000
    machines cleaned the next day (survival and the ids' decay would read them); with it, the
    clean-up of the offices is the one without them, and a note says why."""
    pop = _offices()
    clean = _cleanup(per_hour(pop.table()))
    rows = pop.table().to_pylist()
    stamp = rows[0]["first_seen"]
    sprayer = pop.address()
    for i in range(5000):
        moment = stamp + timedelta(seconds=i)
        rows.append({**rows[0], "source_ip": sprayer, "bot_id": f"forged{i}", "hits": 1,
                     "first_seen": moment, "last_seen": moment})  # fmt: skip
    sprayed = _cleanup(per_hour(pa.Table.from_pylist(rows, schema=pop.table().schema)))
    assert any("5,000 ids at 1 address-day(s)" in n for n in sprayed.notes)
    assert sprayed.survival is not None
    assert clean.survival is not None
    top = next(r for r in sprayed.survival.to_pylist() if r["group"] is None)
    was = next(r for r in clean.survival.to_pylist() if r["group"] is None)
    assert top["identities"] == was["identities"] == 150 * 2
    assert top["surviving_28d_km"] == pytest.approx(was["surviving_28d_km"])
    decay = next(r for r in sprayed.decay.to_pylist() if r["group"] is None)
    before = next(r for r in clean.decay.to_pylist() if r["group"] is None)
    assert decay["id_rate_per_week"] == pytest.approx(before["id_rate_per_week"])


def test_without_ids_the_household_note_says_shared_addresses_read_slow() -> None:
    """Offices without any bot id: the decay is the addresses' (slow), and the note that
    households were assumed says where that fails, not that the decay is the machines'."""
    result = _cleanup(per_hour(_offices(with_id=0).table()))
    (note,) = [n for n in result.notes if n.startswith("decay of hosts: machines behind one")]
    assert "carrier-grade NAT or an office" in note
    assert "the decay reads slow" in note

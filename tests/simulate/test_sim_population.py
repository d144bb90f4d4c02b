"""Where hosts sit and how their addresses behave: ranges, ASN concentration, NAT, churn."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from botcensus.ipaddr import ipv4_to_int
from botcensus.simulate import Scenario, Simulation, simulate
from botcensus.simulate.addresses import AsnChoice, choose_asns


def owner(space: pa.Table, ips: np.ndarray) -> tuple[list[str | None], np.ndarray]:
    """(cc, asn) of the range holding each address, (None, -1) outside every range."""
    t = space.sort_by("start")
    start, end = t["start"].to_numpy(), t["end"].to_numpy()
    r = np.searchsorted(start, ips, side="right") - 1
    inside = (r >= 0) & (ips <= end[np.maximum(r, 0)])
    cc = np.asarray(t["cc"].to_pylist(), dtype=object)[np.maximum(r, 0)]
    asn = t["asn"].to_numpy()[np.maximum(r, 0)]
    return [c if i else None for c, i in zip(cc, inside, strict=True)], np.where(inside, asn, -1)


def intervals(sim: Simulation) -> pa.Table:
    joined = pa.Table.from_batches(list(sim.address_intervals())).join(
        sim.truth().hosts.select(
            ["host_id", "cc", "asn", "churn_class", "nat_group", "nat_group_size"]
        ),
        "host_id",
    )
    return joined.sort_by([("host_id", "ascending"), ("valid_from", "ascending")])


def test_addresses_fall_in_the_ranges_of_the_hosts_cc_and_asn(
    first_week: Simulation, space: pa.Table
) -> None:
    t = intervals(first_week)
    cc, asn = owner(space, ipv4_to_int(t["source_ip"])[0])
    assert t.num_rows > 1000
    assert cc == t["cc"].to_pylist()
    assert asn.tolist() == t["asn"].to_pylist()


def test_sighted_addresses_enrich_back_to_scenario_countries(
    first_week: Simulation, space: pa.Table
) -> None:
    t = pa.Table.from_batches(list(first_week.sightings()))
    bots = t.filter(pc.equal(t["malware_family"], "rustock"))
    cc, _ = owner(space, ipv4_to_int(bots["source_ip"])[0])
    assert set(cc) <= set(first_week.scenario.countries)


def test_preferred_asns_come_first_and_weights_follow_zipf(space: pa.Table) -> None:
    asns = sorted(set(space.filter(pc.equal(space["cc"], "IN"))["asn"].to_pylist()))
    chosen = choose_asns(space, {"IN": AsnChoice([asns[5], 1, asns[2]], 4, 1.0)})
    assert chosen.asn.tolist()[:2] == [asns[5], asns[2]]
    assert np.allclose(chosen.weight, np.array([1, 1 / 2, 1 / 3, 1 / 4]) / (25 / 12))


def test_a_country_missing_from_the_table_is_an_error(space: pa.Table) -> None:
    with pytest.raises(ValueError, match="XX"):
        choose_asns(space, {"XX": AsnChoice([], 3, 1.0)})


def test_infections_concentrate_in_few_asns(rustock: Scenario, space: pa.Table) -> None:
    hosts = simulate(rustock, address_space=space, scale=0.01, seed=3).truth().hosts
    counts = np.sort(
        hosts.group_by(["cc", "asn"]).aggregate([("host_id", "count")])["host_id_count"].to_numpy()
    )[::-1]
    share = np.cumsum(counts) / counts.sum()
    assert 0.22 <= share[9] <= 0.38  # top 10 ASNs: about 30% of hosts
    assert share[49] > 0.5


def test_nat_households_share_their_address(first_week: Simulation) -> None:
    t = intervals(first_week)
    shared = t.filter(pc.greater(t["nat_group_size"], 1))
    pairs = shared.join(shared, "nat_group", right_suffix="_b").filter(
        (pc.field("host_id") < pc.field("host_id_b"))
        & (pc.field("valid_from") < pc.field("valid_to_b"))
        & (pc.field("valid_from_b") < pc.field("valid_to"))
    )
    assert pairs.num_rows > 50
    assert pairs["source_ip"].to_pylist() == pairs["source_ip_b"].to_pylist()


def test_session_churn_gives_a_host_more_addresses_than_static(
    rustock: Scenario, space: pa.Table
) -> None:
    sim = simulate(
        rustock,
        address_space=space,
        scale=0.003,
        seed=5,
        start=dt.date(2011, 3, 16),
        end=dt.date(2011, 3, 29),
    )
    per_host = (
        intervals(sim)
        .group_by(["host_id", "churn_class"])
        .aggregate([("source_ip", "count_distinct")])
    )
    mean = {
        cls: pc.mean(
            per_host.filter(pc.equal(per_host["churn_class"], cls))["source_ip_count_distinct"]
        ).as_py()
        for cls in ("static", "daily", "session")
    }
    assert mean["static"] < 1.5
    assert mean["session"] > 3 * mean["static"]
    assert mean["daily"] > 3 * mean["static"]


def test_with_the_bundled_enrichment_table_addresses_enrich_back(rustock: Scenario) -> None:
    enrich = pytest.importorskip("botcensus.enrich")
    if not hasattr(enrich, "ipv4_ranges"):
        pytest.skip("botcensus.enrich has no ipv4_ranges yet")
    table = enrich.ipv4_ranges(enrich.load_bundled())
    sim = simulate(
        rustock,
        address_space=table,
        scale=0.001,
        seed=1,
        start=dt.date(2011, 3, 16),
        end=dt.date(2011, 3, 17),
    )
    t = intervals(sim)
    cc, asn = owner(table, ipv4_to_int(t["source_ip"])[0])
    assert cc == t["cc"].to_pylist()
    assert asn.tolist() == t["asn"].to_pylist()

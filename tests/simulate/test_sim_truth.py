"""Ground truth: the host table, true daily and weekly counts, and the files written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from botcensus.simulate import INTERVAL_SCHEMA, Scenario, Simulation, simulate, write_truth
from botcensus.simulate.truth import week_ending


def test_weeks_end_on_saturday() -> None:
    for offset in range(14):
        day = dt.date(2011, 3, 13) + dt.timedelta(days=offset)
        n = (day - dt.date(1970, 1, 1)).days
        end = dt.date(1970, 1, 1) + dt.timedelta(days=week_ending(n))
        assert end.weekday() == 5
        assert 0 <= (end - day).days < 7
    assert (
        week_ending((dt.date(2011, 3, 20) - dt.date(1970, 1, 1)).days)
        == (dt.date(2011, 3, 26) - dt.date(1970, 1, 1)).days
    )


def test_hosts_table_has_one_row_per_bot_infected_in_the_run(first_week: Simulation) -> None:
    hosts = first_week.truth().hosts
    end = dt.datetime(2011, 3, 23, tzinfo=dt.UTC)
    assert 0 < hosts.num_rows < first_week.population.n_bots
    assert pc.max(hosts["infected"]).as_py() < end
    assert pc.all(pc.greater_equal(hosts["host_id"], 0)).as_py()
    assert set(hosts["cc"].to_pylist()) == set(first_week.scenario.countries)
    assert pc.all(pc.less(hosts["infected"], hosts["cleaned"])).as_py() in (True, None)


def test_counts_add_up_across_scopes(first_week: Simulation) -> None:
    for table in (first_week.truth().daily, first_week.truth().weekly):
        key = "day" if "day" in table.column_names else "week_ending"
        for scope in ("country", "asn"):
            part = (
                table.filter(pc.equal(table["scope"], scope))
                .group_by(key)
                .aggregate(
                    [("hosts_active", "sum"), ("hosts_infected", "sum"), ("ips_active", "sum")]
                )
                .sort_by(key)
            )
            whole = table.filter(pc.equal(table["scope"], "global")).sort_by(key)
            for column in ("hosts_active", "hosts_infected", "ips_active"):
                assert part[f"{column}_sum"].to_pylist() == whole[column].to_pylist()
        assert pc.all(pc.less_equal(table["hosts_active"], table["hosts_infected"])).as_py()


def test_weekly_active_hosts_cover_every_day_of_the_week(first_week: Simulation) -> None:
    truth = first_week.truth()
    daily = truth.daily.filter(pc.equal(truth.daily["scope"], "global"))
    weekly = truth.weekly.filter(pc.equal(truth.weekly["scope"], "global"))
    assert weekly["week_ending"].to_pylist() == [dt.date(2011, 3, 19), dt.date(2011, 3, 26)]
    assert weekly["days"].to_pylist() == [4, 3]
    assert weekly["hosts_active"][0].as_py() >= pc.max(daily["hosts_active"]).as_py()


def test_true_ips_match_the_sightings(first_week: Simulation) -> None:
    sightings = pa.Table.from_batches(list(first_week.sightings()))
    bots = sightings.filter(pc.equal(sightings["malware_family"], "rustock"))
    per_day = bots.group_by("day").aggregate([("source_ip", "count_distinct")]).sort_by("day")
    daily = first_week.truth().daily
    truth = daily.filter(pc.equal(daily["scope"], "global")).sort_by("day")
    assert per_day["source_ip_count_distinct"].to_pylist() == truth["ips_active"].to_pylist()


def test_cleaned_hosts_stop_checking_in(rustock: Scenario, space: pa.Table) -> None:
    sim = simulate(
        rustock,
        address_space=space,
        scale=0.002,
        seed=9,
        start=dt.date(2011, 3, 16),
        end=dt.date(2011, 4, 30),
    )
    daily = sim.truth().daily
    g = daily.filter(pc.equal(daily["scope"], "global")).sort_by("day")
    infected = g["hosts_infected"].to_pylist()
    assert infected[-1] < 0.75 * infected[0]


def test_write_truth_writes_parquet_and_run_description(
    first_week: Simulation, tmp_path: Path
) -> None:
    written = write_truth(first_week, tmp_path / "truth")
    names = sorted(p.name for p in written)
    assert names == [
        "address_intervals.parquet",
        "daily.parquet",
        "hosts.parquet",
        "noise_sources.parquet",
        "run.json",
        "weekly.parquet",
    ]
    intervals = pq.read_table(tmp_path / "truth" / "address_intervals.parquet")
    assert intervals.schema == INTERVAL_SCHEMA
    assert pc.all(pc.less(intervals["valid_from"], intervals["valid_to"])).as_py()
    assert pq.read_table(tmp_path / "truth" / "hosts.parquet").equals(first_week.truth().hosts)


def test_a_window_of_days_repeats_those_days_of_the_full_run(
    rustock: Scenario, space: pa.Table
) -> None:
    def run(start: dt.date) -> Simulation:
        return simulate(
            rustock, address_space=space, scale=0.002, seed=4, start=start, end=dt.date(2011, 3, 22)
        )

    full, window = run(dt.date(2011, 3, 16)), run(dt.date(2011, 3, 20))
    cut = dt.date(2011, 3, 20)
    full_sightings = pa.Table.from_batches(list(full.sightings()))
    assert pa.Table.from_batches(list(window.sightings())).equals(
        full_sightings.filter(pc.greater_equal(full_sightings["day"], cut))
    )
    lo = pa.scalar(dt.datetime(2011, 3, 20, tzinfo=dt.UTC), INTERVAL_SCHEMA[2].type)
    whole = pa.Table.from_batches(list(full.address_intervals()))
    whole = whole.filter(pc.greater(whole["valid_to"], lo))
    clipped = pc.max_element_wise(whole["valid_from"].cast(pa.int64()), lo.cast(pa.int64()))
    whole = whole.set_column(2, INTERVAL_SCHEMA[2], clipped.cast(INTERVAL_SCHEMA[2].type))
    order = [("host_id", "ascending"), ("valid_from", "ascending")]
    part = pa.Table.from_batches(list(window.address_intervals()))
    assert part.sort_by(order).equals(whole.sort_by(order))


def test_a_window_cannot_start_before_the_scenario(rustock: Scenario, space: pa.Table) -> None:
    with pytest.raises(ValueError, match="scenario's start"):
        simulate(rustock, address_space=space, scale=0.002, start=dt.date(2011, 3, 1))

"""Ground truth agrees with itself: counts with the check-ins, check-ins with the episodes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from bench.popgen import Result, preset
from bench.popgen.truth import _ts
from popgen_truth import checkins, reported_csv, utc_seconds, week_end

DAY = 86_400
FAMILIES = ["b_pop", "a_pop"]


def _truth(result: Result, name: str) -> pa.Table:
    return pq.read_table(result.out / "truth" / f"{name}.parquet")


def _start(result: Result) -> dt.date:
    return dt.date.fromisoformat(result.summary["start"])


def _seconds(result: Result, column: pa.ChunkedArray) -> np.ndarray:
    """Timestamps as seconds from the window's start; +inf for null (never)."""
    base = np.datetime64(result.summary["start"], "s")
    values = column.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    out = (values - base).astype(np.int64).astype(float)
    return np.where(np.isnat(values), np.inf, out)


def _weeks(result: Result, convention: str) -> np.ndarray:
    start = _start(result)
    return np.array(
        [week_end(start + dt.timedelta(days=d), convention) for d in range(result.summary["days"])]
    )


@pytest.mark.parametrize("convention", ["sun", "sat"])
@pytest.mark.parametrize("family", FAMILIES)
def test_weekly_active_is_the_machines_recorded_that_week(
    family: str, convention: str, request: pytest.FixtureRequest
) -> None:
    result = request.getfixturevalue(family)
    ci = checkins(result.out).filter(pc.field("recorded"))
    ends = _weeks(result, convention)[ci["time"].to_numpy() // DAY]
    per_week: dict[dt.date, set[int]] = {}
    for w, m in zip(ends, ci["machine_id"].to_numpy(), strict=True):
        per_week.setdefault(w, set()).add(int(m))
    weekly = _truth(result, "weekly").filter(
        (pc.field("week_ends") == convention) & (pc.field("scope") == "global")
    )
    got = dict(zip(weekly["week_end"].to_pylist(), weekly["active"].to_pylist(), strict=True))
    assert got == {w: len(ms) for w, ms in per_week.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_weekly_infected_is_the_machines_with_an_episode_overlapping_the_week(
    family: str, request: pytest.FixtureRequest
) -> None:
    result = request.getfixturevalue(family)
    ep = _truth(result, "episodes")
    begin = _seconds(result, ep["infected_at"])
    end = _seconds(result, ep["latent_cleanup_at"])
    machine = ep["machine_id"].to_numpy()
    weeks = _weeks(result, "sun")
    weekly = _truth(result, "weekly").filter(
        (pc.field("week_ends") == "sun") & (pc.field("scope") == "global")
    )
    for w, infected in zip(
        weekly["week_end"].to_pylist(), weekly["infected"].to_pylist(), strict=True
    ):
        days = np.flatnonzero(weeks == w)
        lo, hi = days[0] * DAY, (days[-1] + 1) * DAY
        assert infected == len(np.unique(machine[(begin < hi) & (end > lo)]))


@pytest.mark.parametrize("family", FAMILIES)
def test_country_and_asn_rows_add_up_to_the_global_ones(
    family: str, request: pytest.FixtureRequest
) -> None:
    weekly = _truth(request.getfixturevalue(family), "weekly").to_pandas()
    for scope in ("country", "asn"):
        part = (
            weekly[weekly.scope == scope]
            .groupby(["week_ends", "week_end"])[["active", "infected", "infected_end", "rows"]]
            .sum()
        )
        whole = weekly[weekly.scope == "global"].set_index(["week_ends", "week_end"])[part.columns]
        assert (part == whole.loc[part.index]).all().all()


@pytest.mark.parametrize("family", FAMILIES)
def test_every_checkin_falls_inside_an_infection_episode(
    family: str, request: pytest.FixtureRequest
) -> None:
    result = request.getfixturevalue(family)
    ci = checkins(result.out)
    ep = _truth(result, "episodes")
    begin = _seconds(result, ep["infected_at"])
    end = _seconds(result, ep["latent_cleanup_at"])
    owner = ep["machine_id"].to_numpy()
    m, t = ci["machine_id"].to_numpy(), ci["time"].to_numpy()
    inside = np.zeros(len(t), dtype=bool)
    for k in np.unique(ep["episode"].to_numpy()):
        sel = ep["episode"].to_numpy() == k
        b = np.full(result.summary["machines"], np.inf)
        e = np.full(len(b), -np.inf)
        b[owner[sel]], e[owner[sel]] = begin[sel], end[sel]
        inside |= (b[m] <= t) & (t < e[m])
    assert len(t) > 1000
    assert inside.all()


@pytest.mark.parametrize("family", FAMILIES)
def test_reported_rows_are_exactly_the_reported_checkins_of_infected_machines(
    family: str, request: pytest.FixtureRequest
) -> None:
    result = request.getfixturevalue(family)
    rows = reported_csv(result.out)
    ci = checkins(result.out).filter(pc.field("reported"))
    machines = _truth(result, "machines")
    seconds = utc_seconds(result.summary["start"], rows["timestamp"])
    got = sorted(zip(seconds.tolist(), rows["src_ip"].to_pylist(), rows["src_port"].to_pylist(),
                     strict=True))  # fmt: skip
    want_keys = zip(
        ci["time"].to_pylist(), ci["ip"].to_pylist(), ci["port"].to_pylist(), strict=True
    )
    assert got == sorted(want_keys)
    # and each row names the ASN and country of the machine behind it
    keys = zip(ci["time"].to_pylist(), ci["ip"].to_pylist(), ci["port"].to_pylist(), strict=True)
    owner = dict(zip(keys, ci["machine_id"].to_pylist(), strict=True))
    asn, cc = machines["asn"].to_pylist(), machines["cc"].to_pylist()
    row_keys = zip(seconds.tolist(), rows["src_ip"].to_pylist(), rows["src_port"].to_pylist(),
                   strict=True)  # fmt: skip
    named = zip(rows["src_asn"].to_pylist(), rows["src_geo"].to_pylist(), strict=True)
    for key, (a, c) in zip(row_keys, named, strict=True):
        assert (a, c) == (asn[owner[key]], cc[owner[key]])


def test_outage_hours_have_no_rows_though_machines_checked_in(b_pop: Result) -> None:
    start_h, hours = b_pop.summary["outages_hours"][0]
    lo, hi = start_h * 3600, (start_h + hours) * 3600
    rows = reported_csv(b_pop.out)
    seconds = utc_seconds(b_pop.summary["start"], rows["timestamp"])
    assert not ((seconds >= lo) & (seconds < hi)).any()
    assert ((seconds >= lo - 3600) & (seconds < lo)).sum() > 50
    ci = checkins(b_pop.out)
    t = ci["time"].to_numpy()
    during = (t >= lo) & (t < hi)
    assert during.sum() > 100
    assert not ci["recorded"].to_numpy()[during].any()
    assert ci["recorded"].to_numpy()[~during].all()


def test_reinfections_start_after_the_previous_episode_ended(b_pop: Result) -> None:
    ep = _truth(b_pop, "episodes").to_pandas().sort_values(["machine_id", "episode"])
    later = ep[ep.episode > 0]
    assert len(later) > 0
    previous = ep.set_index(["machine_id", "episode"])["cleaned_at"]
    for row in later.itertuples():
        assert row.infected_at > previous.loc[(row.machine_id, row.episode - 1)]


def test_machines_table_agrees_with_episodes_and_campaign(b_pop: Result) -> None:
    machines = _truth(b_pop, "machines").to_pandas()
    ep = _truth(b_pop, "episodes").to_pandas()
    assert (machines.episodes == ep.groupby("machine_id").size().reindex(machines.machine_id)).all()
    assert (machines.censored == machines.cleaned_at.isna()).all()
    campaign = _truth(b_pop, "campaign").to_pandas().set_index("asn")
    assert campaign.notified.sum() == round(len(campaign) / 2)
    assert (machines.notified == campaign.notified.loc[machines.asn].to_numpy()).all()
    day = dt.datetime.combine(_start(b_pop) + dt.timedelta(days=7), dt.time(), dt.UTC)
    told = machines[machines.notified]
    assert len(told) > 0
    assert (told.notified_at == day).all()
    assert machines[~machines.notified].notified_at.isna().all()


def _ips_per_machine(result: Result) -> pa.Table:
    ci = checkins(result.out).filter(pc.field("recorded"))
    per = ci.group_by("machine_id").aggregate([("ip", "count_distinct")])
    machines = _truth(result, "machines").select(["machine_id", "household_id", "addressing"])
    return per.join(machines, "machine_id")


@pytest.mark.parametrize("family", FAMILIES)
def test_renumbering_networks_give_machines_several_addresses(
    family: str, request: pytest.FixtureRequest
) -> None:
    table = _ips_per_machine(request.getfixturevalue(family)).to_pandas()
    median = table.groupby("addressing").ip_count_distinct.median()
    for policy in ("periodic", "session", "cgn"):
        if policy in median:
            assert median[policy] >= 2, policy
    assert {"periodic", "cgn"} <= set(median.index)


def test_static_households_of_family_a_share_one_address(a_pop: Result) -> None:
    """No renumbering and no IPv6 on family A's static lines: each household (and so each
    of its machines) is one address, the same for all of them."""
    ci = checkins(a_pop.out).filter(pc.field("recorded"))
    machines = _truth(a_pop, "machines").select(["machine_id", "household_id", "addressing"])
    static = ci.join(machines, "machine_id").filter(pc.field("addressing") == "static")
    per_household = (
        static.to_pandas()
        .groupby("household_id")
        .agg(ips=("ip", "nunique"), machines=("machine_id", "nunique"))
    )
    assert (per_household.ips == 1).all()
    assert (per_household.machines > 1).any()


def test_a_clean_up_drawn_past_what_a_reader_converts_is_null(tmp_path: Path) -> None:
    """b-mobile seed 35 drew a clean-up millions of years on (a hazard of 3e-10 a day): its
    Parquet column was written, and DuckDB and to_pylist then failed to read it."""
    params = preset("b-mobile")
    seconds = np.array([0.0, 86_400.0, 3.0e15, np.inf])
    column = _ts(params, seconds)
    assert column.null_count == 2
    assert column.to_pylist()[1] == dt.datetime.fromisoformat(params.start + "T00:00:00+00:00") + (
        dt.timedelta(days=1)
    )
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"cleaned": column}), path)
    con = duckdb.connect()
    rows = con.execute(
        "SELECT count(*), count(cleaned) FROM read_parquet(?)", [str(path)]
    ).fetchall()
    assert rows == [(4, 2)]

"""Bot ids sprayed from one address are not machines (hosts.sprayed): a client sending made-up
ids cannot raise the machines counted, their lower bound or the clean-up read from ids."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from botcensus.measure import CensusQuery
from botcensus.measure.census_run import run_census
from botcensus.measure.hosts.sprayed import MIN_SPRAYED, without_sprayed

from .hosts_cases import START, Population, connect, populate

H = 3600


def _with_ids(weeks: int = 3) -> Population:
    """Home lines (static and per-session, no ids) and 40 machines with ids on static lines,
    back every weekday: each id seen many times."""
    pop = Population()
    populate(pop, range(200), "static", cc="AA", asn=64501, weeks=weeks)
    populate(pop, range(200, 400), "session", cc="AA", asn=64502, weeks=weeks)
    for m in range(1000, 1040):
        address = pop.address()
        for d in range(7 * weeks):
            day = START + timedelta(days=d)
            if day.weekday() < 5:
                pop.session([m], day, address, 9 * H, 12 * H, cc="AA", asn=64503, bot_id=f"b{m}")
    return pop


def _spray(pop: Population, ids: int, repeated: int = 0, day_offset: int = 2) -> str:
    """One address sends `ids` made-up ids, each once, on one day (and `repeated` ids that
    come back on the next day too); returns the address."""
    address = pop.address()
    day = START + timedelta(days=day_offset)
    for i in range(ids):
        pop.rows.append(_row(pop, day, address, f"forged{i:05d}", 10 * H + i))
    for i in range(repeated):
        for d in (day, day + timedelta(days=1)):
            pop.rows.append(_row(pop, d, address, f"back{i}", 11 * H + i))
    return address


def _row(pop: Population, day: object, address: str, bot_id: str, at: int) -> dict[str, object]:
    row = dict(pop.rows[0])
    stamp = row["first_seen"]
    assert hasattr(stamp, "replace")
    moment = stamp.replace(year=day.year, month=day.month, day=day.day, hour=0, minute=0, second=0)  # type: ignore[attr-defined]
    moment += timedelta(seconds=at)
    row.update(
        day=day, source_ip=address, bot_id=bot_id, first_seen=moment, last_seen=moment, hits=1,
        source_cc="AA", source_asn=64509,
    )  # fmt: skip
    return row


def test_a_spray_loses_its_ids_and_keeps_its_address() -> None:
    pop = _with_ids()
    address = _spray(pop, 500)
    con = connect(pop.table())
    name, spray = without_sprayed(con, "sightings")
    assert name != "sightings"
    assert (spray.address_days, spray.ids) == (1, 500)
    note = spray.note()
    assert note is not None
    assert "500 ids at 1 address-day(s)" in note
    found = con.sql(f"SELECT bot_id, hits FROM {name} WHERE source_ip = '{address}'")  # noqa: S608
    assert found.fetchall() == [(None, 500)]  # one sighting of the address, every hit kept
    others = "SELECT count(*), sum(hits) FROM {} WHERE source_ip <> '" + address + "'"  # noqa: S608
    assert con.sql(others.format(name)).fetchall() == con.sql(others.format("sightings")).fetchall()
    honest = con.sql(f"SELECT count(DISTINCT bot_id) FROM {name}").fetchall()  # noqa: S608
    assert honest == [(40,)]


def test_machines_that_come_back_are_never_a_spray() -> None:
    pop = _with_ids()
    con = connect(pop.table())
    assert without_sprayed(con, "sightings") == ("sightings", (0, 0))
    # below the count, or ids that come back: not a spray
    for ids, repeated in ((MIN_SPRAYED - 1, 0), (30, 10)):
        pop = _with_ids()
        _spray(pop, ids, repeated)
        con = connect(pop.table())
        assert without_sprayed(con, "sightings")[1].address_days == 0, (ids, repeated)


def test_sightings_without_ids_pass_as_they_are() -> None:
    con = connect(pa.table({"day": [START], "source_ip": ["10.0.0.1"]}))
    assert without_sprayed(con, "sightings") == ("sightings", (0, 0))


def test_a_spray_does_not_move_the_host_estimates(monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 made-up ids from one address give the estimates and bounds of the same address
    sending as many check-ins without ids (a scan), and a note; without the check they would
    raise the week's lower bound above 5,000 machines (a population of about 440)."""
    query = CensusQuery(window="week")
    scan = _with_ids()
    address = _spray(scan, 1)
    (row,) = [r for r in scan.rows if r["source_ip"] == address]
    row.update(bot_id=None, hits=5000)
    clean = run_census(connect(scan.table()), query, "sightings", estimate=True)
    pop = _with_ids()
    _spray(pop, 5000)
    sprayed = run_census(connect(pop.table()), query, "sightings", estimate=True)
    columns = ["window_start", "hosts_est", "hosts_lo", "hosts_hi", "hosts_support"]
    assert sprayed.rows.select(columns).to_pylist() == clean.rows.select(columns).to_pylist()
    assert any("5,000 ids at 1 address-day(s)" in n for n in sprayed.notes)
    assert not any("sprayed" in n for n in clean.notes)
    first = sprayed.rows.to_pylist()[0]
    assert first["unique_bot_id"] == 5040  # the census still counts every id it saw
    assert first["hosts_hi"] < 1000
    from botcensus.measure.hosts import sprayed as module

    monkeypatch.setattr(module, "MIN_SPRAYED", 10**9)  # the check off: the attack works
    open_door = run_census(connect(pop.table()), query, "sightings", estimate=True)
    assert open_door.rows.to_pylist()[0]["hosts_lo"] >= 5000

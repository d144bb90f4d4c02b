"""Partial windows: a week that runs past the data (the dataset starts on a Wednesday and
ends on a Friday) or that misses days inside it (an outage: a day with no data at all) is
marked `partial`, with the days that hold data (`days_covered`); full weeks are not."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import webdata

WEEK_OF_OUTAGE = "2011-04-03"  # Sunday..Saturday 2011-04-09
OUTAGE = date(2011, 4, 6)


def _weeks(client, token=None):
    answer = client.get("/api/v1/census", token, params={"window": "week", "limit": 1000})
    assert answer.status_code == 200, answer.text
    return {r["window_start"]: r for r in answer.json()["rows"]}


def test_edge_weeks_are_partial_and_full_weeks_are_not(client, tokens):
    weeks = _weeks(client, tokens.operator)
    first, last = min(weeks), max(weeks)
    assert first == "2011-03-13"
    assert weeks[first]["partial"] is True
    assert weeks[first]["days_covered"] == 4  # Wednesday 16 to Saturday 19 March
    assert weeks[last]["partial"] is True
    assert (
        weeks[last]["days_covered"]
        == (webdata.D0.toordinal() + webdata.DAYS - 1) - date(2011, 4, 17).toordinal() + 1
    )
    inner = [w for w in weeks if w not in (first, last)]
    assert inner
    assert all(weeks[w]["partial"] is False for w in inner)
    assert all(weeks[w]["days_covered"] == 7 for w in inner)


def test_a_day_without_data_inside_a_week_marks_it_partial(copy_data, make_client, tokens):
    data = copy_data()
    gone = 0
    for area in ("sightings", "sketches", "aggregates/day"):
        for part in (data / area).glob(f"date={OUTAGE.isoformat()}"):
            shutil.rmtree(part)
            gone += 1
    assert gone >= 2
    c = make_client(data)
    weeks = _weeks(c, tokens.operator)
    assert weeks[WEEK_OF_OUTAGE]["partial"] is True
    assert weeks[WEEK_OF_OUTAGE]["days_covered"] == 6
    assert weeks["2011-03-27"]["partial"] is False
    public = _weeks(c)
    assert public[WEEK_OF_OUTAGE]["partial"] is True
    page = c.get("/", params={"week": WEEK_OF_OUTAGE}).text
    assert "6 day(s) of this window hold data" in page


def test_the_census_from_the_rollup_says_today_is_not_over(tmp_path, make_client, tokens):
    """A live dataset whose last day is today (the real clock): the roll-up's answer marks
    today partial and says why, as `botcensus census` does."""
    from click.testing import CliRunner

    from botcensus.cli import main
    from test_cli_today import ending_today, same_day

    data, today = ending_today(tmp_path)
    rolled = CliRunner().invoke(main, ["rollup", "--data", str(data)])
    assert rolled.exit_code == 0, rolled.output
    c = make_client(data)
    answer = c.get("/api/v1/census", params={"window": "day", "limit": 1000})
    assert answer.status_code == 200, answer.text
    same_day(today)
    body = answer.json()
    assert body["source"] == "rollup"
    rows = {r["window_start"]: r for r in body["rows"]}
    assert rows[str(today)]["partial"] is True
    assert rows[str(today - timedelta(days=1))]["partial"] is False
    assert any(f"today ({today}, UTC) is not over" in n for n in body["notes"])


def test_the_owner_clean_up_leaves_out_the_week_holding_today(tmp_path, make_client):
    """A network owner's clean-up curve on a live dataset, on the last day of a week: that
    week's last day is not over, so its decay is fitted without it (before: with it, a
    half-counted week read as a faster clean-up)."""
    from click.testing import CliRunner

    from botcensus.cli import main
    from botcensus.config import WebSettings
    from botcensus.measure.census import WEEKDAYS
    from botcensus.web.scope import Scope
    from botcensus.web.tokens import add_token
    from measure.sim_cases import notify_static
    from test_cli_today import ending_today, same_day

    data, today = ending_today(tmp_path)
    assert CliRunner().invoke(main, ["rollup", "--data", str(data)]).exit_code == 0
    ends = WEEKDAYS[today.weekday()]  # the week holding today ends today: complete by dates
    token, _ = add_token(data, "owner", "AS64603 desk", Scope.of([64603]), days=30)
    c = make_client(data, settings=WebSettings(week_ends=ends))
    answer = c.get("/api/v1/owner/cleanup", token)
    assert answer.status_code == 200, answer.text
    same_day(today)
    body = answer.json()
    days = notify_static().sightings["day"].to_pylist()
    first = today - (max(days) - min(days))  # the data's first day
    over = [
        w
        for w in body["weeks"]
        if w["own"]
        and first <= date.fromisoformat(w["window_start"])
        and date.fromisoformat(w["window_end"]) < today
    ]  # fmt: skip (the weeks complete and over)
    assert len(over) >= 3
    assert body["own_decay"]["weeks"] == len(over)  # not the week holding today


def test_a_product_built_before_midnight_is_built_again_after_it(tmp_path, monkeypatch):
    """The dashboard's kept estimates and clean-up left out the day they were built in (not
    over then). After midnight, with no new data, they are no longer current and `rollup`
    builds them again. The clock is moved by monkeypatch: a test cannot wait for midnight."""
    from botcensus.web import products
    from test_cli_today import ending_today, same_day

    data, today = ending_today(tmp_path)
    built = products.build_products(data)
    assert set(built) == set(products.NAMES)
    same_day(today)
    assert all(products.read(data, n).current for n in products.NAMES)
    assert products.build_products(data) == []  # same data, same day: nothing to build
    monkeypatch.setattr(products, "utc_today", lambda: today + timedelta(days=1))
    assert not any(products.read(data, n).current for n in products.NAMES)
    assert set(products.build_products(data)) == set(products.NAMES)
    assert all(products.read(data, n).current for n in products.NAMES)

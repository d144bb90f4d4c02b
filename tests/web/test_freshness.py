"""When the roll-up no longer matches the sightings, the web counts from the sightings (or
the sketches) as the CLI does, says so, and still prints the CLI's numbers; `botcensus
rollup` brings the tables back; `botcensus census` does not wait for them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import webdata
from test_same_as_cli import run_cli

from botcensus.store import write_sightings
from botcensus.store.aggregates import AGGREGATES_DIR, freshness
from botcensus.web.scope import Scope
from botcensus.web.tokens import add_token


def _operator(data):
    return add_token(data, "operator", "op", Scope(), days=1)[0]


def _late_sightings(data):
    """Sightings of three new hosts on 2011-04-05, written after the roll-up (a late feed)."""
    path = next((data / "sightings" / "date=2011-04-05").glob("*.parquet"))
    rows = pq.read_table(path).slice(0, 3)
    new = pa.array([f"198.51.100.{230 + i}" for i in range(3)], pa.string())
    write_sightings(
        rows.set_column(rows.schema.get_field_index("source_ip"), "source_ip", new), data, "late"
    )


def test_stale_weeks_are_counted_from_the_sightings_as_the_cli_counts(copy_data, make_client):
    data = copy_data()
    token = _operator(data)
    _late_sightings(data)
    assert freshness(data).stale_days == {date(2011, 4, 5)}
    client = make_client(data)
    doc = client.get("/api/v1/census", token, params={"by": "country"}).json()
    assert doc["source"] == "sightings"
    assert any("botcensus rollup" in n for n in doc["notes"])
    expected, _ = run_cli(doc["cli"], data)
    assert [{k: r[k] for k in expected[0]} for r in doc["rows"]] == expected
    outside = client.get("/api/v1/census", token, params={"window": "day", "to": "2011-04-01"})
    assert outside.json()["source"] == "rollup"  # days before the change are still fresh
    estimates = client.get("/api/v1/estimates", token).json()
    assert estimates["current"] is False
    assert "changed since" in estimates["notes"][0]


def test_rollup_command_brings_tables_and_products_up_to_date(copy_data, make_client):
    data = copy_data()
    _late_sightings(data)
    done = subprocess.run(
        [sys.executable, "-m", "botcensus", "rollup", "--data", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "days rolled up" in done.stdout
    fresh = freshness(data)
    assert not fresh.stale_days
    assert not fresh.stale_weeks
    doc = make_client(data).get("/api/v1/census", params={"by": "country"}).json()
    assert doc["source"] == "rollup"
    # no note of staleness; the partial weeks are noted as `botcensus census` notes them
    assert [n for n in doc["notes"] if "partial windows" not in n] == []
    assert make_client(data).get("/api/v1/estimates").json()["current"] is True


def test_census_command_does_not_build_the_web_tables(copy_data):
    data = copy_data()
    shutil.rmtree(data / AGGREGATES_DIR)
    subprocess.run(
        [sys.executable, "-m", "botcensus", "census", "--data", str(data)],
        capture_output=True,
        check=True,
    )
    assert not (data / AGGREGATES_DIR).exists()


def test_expired_sightings_are_counted_from_the_sketches_as_the_cli_counts(copy_data, make_client):
    data = copy_data()
    token = _operator(data)
    shutil.rmtree(data / "sightings" / "date=2011-03-17")  # as retention would
    client = make_client(data)
    doc = client.get("/api/v1/census", token, params={"window": "day", "to": "2011-03-20"}).json()
    assert doc["source"] == "sketches"
    assert doc["unit"] == "unique_ip_hll"
    expected, _ = run_cli(doc["cli"], data)
    assert [{k: r[k] for k in expected[0]} for r in doc["rows"]] == expected
    later = client.get("/api/v1/census", token, params={"window": "day", "from": "2011-04-01"})
    assert later.json()["source"] == "rollup"


def test_an_empty_dataset_serves_empty_answers(tmp_path, make_client):
    data = tmp_path / "empty"
    data.mkdir()
    client = make_client(data)
    assert client.get("/api/v1/census").json()["rows"] == []
    assert client.get("/api/v1/meta").json()["first_day"] is None
    for page in ("/", "/estimates", "/cleanup"):
        assert client.get(page).status_code == 200, page
    assert "not built yet" in client.get("/api/v1/estimates").json()["notes"][0]
    assert webdata.D0  # the module is the web dataset's


def test_a_kept_answer_is_dropped_when_the_data_change(copy_data, make_client, monkeypatch):
    """The answer cache serves a question asked again, and never after the data changed."""
    from botcensus.web import census_view

    monkeypatch.setattr(census_view, "CHECK_SECONDS", 0.0)  # look at the disk every time
    data = copy_data()
    client = make_client(data)
    params = {"window": "day", "from": "2011-04-05", "to": "2011-04-05"}
    first = client.get("/api/v1/census", params=params).json()
    assert first["source"] == "rollup"
    assert client.get("/api/v1/census", params=params).json() == first
    _late_sightings(data)
    after = client.get("/api/v1/census", params=params).json()
    assert after["source"] == "sightings"
    assert after["rows"][0]["unique_ip"] == first["rows"][0]["unique_ip"] + 3
    expected, _ = run_cli(after["cli"], data)
    assert [{k: r[k] for k in expected[0]} for r in after["rows"]] == expected


def test_serve_rolls_up_while_serving(copy_data):
    """A live sinkhole keeps adding data: `serve --rollup-every` brings the roll-up tables up
    to date in the background, so answers come from the roll-up again without anyone running
    `botcensus rollup` (a real server on loopback); the products, built at start, are kept
    for an hour and said not to be current."""
    import json
    import time
    import urllib.request

    from conftest import free_port

    data = copy_data()
    token = _operator(data)
    port = free_port()
    log = (data.parent / "serve.log").open("wb")  # a file: a full pipe would stall the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "botcensus", "serve", "--data", str(data),
         "--listen", f"127.0.0.1:{port}", "--rollup-every", "1"],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip

    def get(path):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            return json.load(answer)

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get("/api/v1/meta")
                break
            except OSError:
                assert proc.poll() is None, (data.parent / "serve.log").read_text()
                assert time.monotonic() < deadline, "serve did not start within 120 s"
                time.sleep(0.2)
        _late_sightings(data)
        assert freshness(data).stale_days == {date(2011, 4, 5)}
        deadline = time.monotonic() + 90
        while freshness(data).stale_days:
            assert time.monotonic() < deadline, "no roll-up within 90 s"
            time.sleep(0.5)
        time.sleep(3)  # the server looks at the disk every two seconds
        doc = get("/api/v1/census?by=country")
        assert doc["source"] == "rollup"
        # the products were built at start, less than an hour ago: kept, said not current
        estimates = get("/api/v1/estimates")
        assert estimates["current"] is False
        assert "changed since" in estimates["notes"][0]
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_products_built_within_min_age_are_kept_and_served_as_not_current(copy_data):
    """`serve`'s periodic roll-up builds the products at most once an hour (min_age): a live
    sinkhole changes the data at every turn, and they take minutes at full scale."""
    from botcensus.web import products

    data = copy_data()
    products.build_products(data, force=True)
    _late_sightings(data)
    assert products.build_products(data, min_age=3600) == []  # built just now: kept
    assert not products.read(data, products.ESTIMATES).current
    assert set(products.build_products(data)) == set(products.NAMES)
    assert products.read(data, products.ESTIMATES).current


def test_one_process_builds_the_products_at_a_time(copy_data):
    """`rollup` from cron beside `serve`: the second builder waits for the first (before,
    two could write one product's rows and description crossed), then finds them current."""
    import threading

    from botcensus.store.files import locked
    from botcensus.store.layout import PRODUCTS_LOCK
    from botcensus.web import products

    data = copy_data()
    _late_sightings(data)
    done: list[list[str]] = []
    with locked(data / PRODUCTS_LOCK):
        other = threading.Thread(target=lambda: done.append(products.build_products(data)))
        other.start()
        other.join(1.0)
        assert other.is_alive()  # waiting for the lock
        assert not done
    other.join(300)
    assert set(done[0]) == set(products.NAMES)
    assert products.build_products(data) == []


def test_serve_refuses_a_roll_up_interval_it_cannot_keep(tmp_path):
    """nan, inf or a fraction of a second made the roll-up thread die or spin."""
    from click.testing import CliRunner

    from botcensus.cli import main

    (tmp_path / "data").mkdir()
    for every in ("nan", "inf", "0.001", "-1", "100000"):
        done = CliRunner().invoke(
            main, ["serve", "--data", str(tmp_path / "data"), "--rollup-every", every]
        )
        assert done.exit_code == 2, (every, done.output)
        assert "--rollup-every" in done.output

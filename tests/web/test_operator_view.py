"""The operator's view: a real sinkhole's health read from its metrics endpoint (found in
sinkhole.json), the feeds' ingest status, the quarantine with addresses pseudonymised,
the roll-up state; and the pseudonymised analytic exports."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.web.operator_data import HealthProbe, parse_metrics


@pytest.mark.slow
def test_health_of_a_running_sinkhole(copy_data, make_client, net, tokens):
    data = copy_data()
    from botcensus.web.scope import Scope
    from botcensus.web.tokens import add_token

    token, _ = add_token(data, "operator", "op", Scope(), days=1)
    client = make_client(data)
    with SinkholeProcess(data, ["--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"]) as sink:
        first = client.get("/api/v1/operator/health", token).json()["sinkhole"]
        assert first["running"] is True
        assert first["pid"] == sink.proc.pid
        assert first["requests_per_second"] is None  # one reading: no rate yet
        for _ in range(20):
            net.exchange(sink.port, b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        net.exchange(sink.port, b"BOGUS\r\n\r\n")
        time.sleep(1.2)
        second = client.get("/api/v1/operator/health", token).json()["sinkhole"]
    assert second["requests_total"] >= 20
    assert second["requests_per_second"] > 0
    assert second["rejects_total"] >= 1
    assert second["rejects"]
    assert second["wal_lag_seconds"] >= 0
    assert second["metrics_url"].startswith("http://127.0.0.1:")
    gone = client.get("/api/v1/operator/health", token).json()["sinkhole"]
    assert gone["running"] is False
    assert "no sinkhole" in gone["problem"]


def test_health_without_a_sinkhole_says_so(client, tokens):
    doc = client.get("/api/v1/operator/health", tokens.operator).json()
    assert doc["sinkhole"]["running"] is False
    assert "no sinkhole is recording" in doc["sinkhole"]["problem"]


def test_health_of_a_sinkhole_without_metrics(tmp_path):
    (tmp_path / "sinkhole.json").write_text(
        json.dumps({"pid": 1, "workers": 1, "listeners": [], "metrics": None})
    )
    doc = HealthProbe().read(tmp_path)
    assert "without --metrics" in doc["problem"]


def test_metrics_parsing_sums_workers_and_keeps_the_worst_lag():
    text = (
        'botcensus_sinkhole_requests_total{worker="0"} 10\n'
        'botcensus_sinkhole_requests_total{worker="1"} 5\n'
        'botcensus_sinkhole_wal_lag_seconds{worker="0"} 0.2\n'
        'botcensus_sinkhole_wal_lag_seconds{worker="1"} 1.5\n'
        'botcensus_sinkhole_rejects_total{reason="header-too-large"} 3\n'
    )
    figures = parse_metrics(text)
    assert figures["requests_total"] == 15
    assert figures["wal_lag_seconds"] == 1.5
    assert figures["rejects"] == {"header-too-large": 3.0}


def test_feed_status_and_rollup_state(client, tokens):
    doc = client.get("/api/v1/operator/health", tokens.operator).json()
    feeds = {f["feed"]: f for f in doc["feeds"]["feeds"]}
    assert feeds["Sinkhole-Events-HTTP IPv4"]["events"] == 2
    assert feeds["Sinkhole-Events-HTTP IPv4"]["last_ingest"] is not None
    assert doc["feeds"]["quarantine_files"][0]["rows"] == 1
    rollup = doc["rollup"]
    assert rollup["stale_days"] == []
    assert all(p["current"] for p in rollup["products"].values())


def test_quarantine_shows_reasons_and_pseudonyms(client, tokens):
    doc = client.get("/api/v1/operator/quarantine", tokens.operator).json()
    row = next(r for r in doc["rows"] if r["kind"] == "feed-row")
    assert row["line"] == 4
    assert "address" in row["reason"]
    text = json.dumps(row)
    assert "0.0.0.0" not in text
    assert "192.0.2.200" not in text
    assert re.search(r"p\d+-[0-9a-f]{20}", text)


def test_pseudonymised_hosts_and_sightings_hold_no_address(client, tokens):
    hosts = client.get("/api/v1/operator/hosts", tokens.operator, params={"limit": 5000}).json()
    names = [r["source.ip"] for r in hosts["rows"]]
    assert names
    assert all(re.fullmatch(r"p\d+-[0-9a-f]{20}", n) for n in names)
    assert len(hosts["rows"]) == len({(r["source.ip"], r["malware.name"]) for r in hosts["rows"]})
    assert hosts["total"] == len(hosts["rows"]) > 1000
    reply = client.get(
        "/api/v1/operator/sightings.csv",
        tokens.operator,
        params={"from": "2011-04-01", "to": "2011-04-02"},
    )
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert rows
    assert set(rows[0]) >= {"day", "source.pseudonym", "bot_id.pseudonym", "malware.name"}
    assert {r["day"] for r in rows} == {"2011-04-01", "2011-04-02"}
    same = {r["source.pseudonym"] for r in rows} & set(names)
    assert same  # one key: the two exports name the same hosts alike

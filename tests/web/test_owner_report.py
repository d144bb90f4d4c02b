"""An owner downloads its hosts in the notification formats, rendered by the export stage's
renderers (the code that renders the notifications): exactly the (address, day) pairs of
its scope in the sightings, nothing of another's networks, each download audited; XARF only
when the server knows the reporter, and reports kept to a bounded size."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import webdata

from botcensus.export import Party
from botcensus.store.files import area_files
from botcensus.web import audit
from botcensus.web.scope import Scope

SCOPES = {"owner_a": Scope.of([64500]), "owner_b": Scope.of([], ["203.0.113.0/24"])}
WEEK = {"from": "2011-04-10", "to": "2011-04-16"}


def expected_pairs(data, scope: Scope, first: date, last: date) -> set[tuple[str, str]]:
    """(address, day) of claimed sightings in scope, read from the Parquet files directly."""
    found = set()
    for path in area_files(data / "sightings"):
        table = pq.read_table(path, columns=["day", "source_ip", "malware_family"])
        table = table.filter(pc.is_valid(table["malware_family"]))
        for day, ip in zip(table["day"].to_pylist(), table["source_ip"].to_pylist(), strict=True):
            net = webdata.net_of(ip)
            if first <= day <= last and scope.contains(ip, net and net.asn, net and net.cc):
                found.add((ip, day.isoformat()))
    return found


@pytest.mark.parametrize("role", ["owner_a", "owner_b"])
def test_shadowserver_report_holds_exactly_the_owner_s_hosts(client, tokens, web_data, role):
    answer = client.get(
        "/api/v1/owner/report", getattr(tokens, role), params={"format": "shadowserver", **WEEK}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "event4_sinkhole_http" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    got = {(r["src_ip"], r["timestamp"][:10]) for r in rows}
    want = expected_pairs(web_data, SCOPES[role], date(2011, 4, 10), date(2011, 4, 16))
    assert want
    assert got == want
    assert int(answer.headers["x-host-rows"]) == len(rows)


def test_intelmq_lines_use_intelmq_s_names_and_stay_in_scope(client, tokens):
    answer = client.get("/api/v1/owner/report", tokens.owner_b, params={"format": "intelmq"})
    assert answer.status_code == 200, answer.text
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert events
    scope = SCOPES["owner_b"]
    assert all(scope.contains(e["source.ip"]) for e in events)
    assert {e["classification.type"] for e in events} == {"infected-system"}
    # default range: the last 7 days with data (the dataset ends 2011-04-22)
    days = {e["time.source"][:10] for e in events}
    assert max(days) <= "2011-04-22"
    assert min(days) >= "2011-04-16"


def test_xarf_needs_the_reporter_and_then_validates(client, tokens, web_data, make_client) -> None:
    refused = client.get("/api/v1/owner/report", tokens.owner_a, params={"format": "xarf"})
    assert refused.status_code == 422
    assert "--notify-rules" in refused.text
    reporter = Party("Example Sinkhole", "abuse@sinkhole.example", "sinkhole.example")
    c = make_client(web_data, reporter=reporter)
    answer = c.get("/api/v1/owner/report", tokens.owner_a, params={"format": "xarf", **WEEK})
    assert answer.status_code == 200, answer.text
    reports = [json.loads(line) for line in answer.text.splitlines()]
    assert reports
    assert {r["reporter"]["contact"] for r in reports} == {"abuse@sinkhole.example"}
    assert all(SCOPES["owner_a"].contains(r["source_identifier"], 64500) for r in reports)


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2011-03-01", "to": "2011-04-22"},  # more than 31 days
        {"from": "2011-04-20", "to": "2011-04-10"},  # backwards
        {"format": "summary"},  # not a notification format with addresses
        {"format": "../../etc/passwd"},
    ],
)
def test_bad_ranges_and_formats_are_refused(client, tokens, params):
    answer = client.get("/api/v1/owner/report", tokens.owner_a, params=params)
    assert answer.status_code == 422


def test_roles(client, tokens):
    assert client.get("/api/v1/owner/report").status_code == 401
    assert client.get("/api/v1/owner/report", tokens.expired).status_code == 401
    named = client.get("/api/v1/owner/report", tokens.owner_a, params={"asn": 64502})
    assert named.status_code == 403
    op = client.get("/api/v1/owner/report", tokens.operator, params={"asn": 64502, **WEEK})
    assert op.status_code == 200
    ips = {r["src_ip"] for r in csv.DictReader(io.StringIO(op.text))}
    assert ips
    assert all(ip.startswith("100.64.") for ip in ips)


def test_every_download_is_audited(copy_data, make_client, tokens):
    data = copy_data()
    c = make_client(data)
    before, _ = audit.entries(data, limit=1)
    answer = c.get("/api/v1/owner/report", tokens.owner_b, params=WEEK)
    assert answer.status_code == 200
    total, rows = audit.entries(data, limit=1)
    assert total == before + 1
    entry = rows[0]
    assert entry.action == "report-shadowserver"
    assert entry.label == "EXAMPLE-DE CERT"
    hosts = {r["src_ip"] for r in csv.DictReader(io.StringIO(answer.text))}
    assert entry.addresses == len(hosts)
    assert "203.0.113" not in (entry.query or "").replace("203.0.113.0/24", "")


def test_the_owner_page_offers_the_formats(client, tokens, web_data, make_client):
    page = client.get("/owner", tokens.owner_a, params={"from": "2011-04-10"}).text
    assert "/api/v1/owner/report?format=shadowserver&amp;from=2011-04-10" in page
    assert "format=intelmq" in page
    assert "format=xarf" not in page  # no reporter known
    reporter = Party("Example Sinkhole", "abuse@sinkhole.example", "sinkhole.example")
    with_reporter = make_client(web_data, reporter=reporter).get("/owner", tokens.owner_a).text
    assert "format=xarf" in with_reporter

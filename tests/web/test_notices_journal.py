"""The owner view's notifications come from the notify stage's real journal
(DIR/notify/journal.sqlite, written by notify.Journal in webdata.notify_journal): each owner
sees the delivered messages about its own addresses, with their tickets, and no address of
another's; a message that failed is not listed; the operator sees them all."""

from __future__ import annotations

import ipaddress
import shutil
import sqlite3

import webdata

from botcensus.notify import journal_path
from botcensus.web.scope import Scope


def _journal_addresses(data, recipient: str) -> set[str]:
    """The addresses the journal recorded for a recipient's message (read directly)."""
    db = sqlite3.connect(journal_path(data))
    try:
        rows = db.execute(
            "SELECT DISTINCT h.ip FROM message_hosts h JOIN messages m ON m.id = h.message "
            "WHERE m.address = ?",
            (recipient,),
        ).fetchall()
    finally:
        db.close()
    return {r[0] for r in rows}


def _rows(client, token, **params):
    answer = client.get("/api/v1/owner/notices", token, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_owner_a_sees_its_delivered_message_with_every_address_in_scope(client, tokens, web_data):
    doc = _rows(client, tokens.owner_a)
    assert doc["source"] == "the notification journal"
    assert [r["recipient"] for r in doc["rows"]] == ["abuse@example-nl.example"]  # not the failed
    row = doc["rows"][0]
    assert row["ticket_id"].startswith("BC-20110321-")
    assert row["ticket_state"] == "sent"
    assert row["sent"].startswith("2011-03-21T06:01")
    assert row["family"] == "rustock"
    shown = {a["ip"] for a in row["addresses"]}
    assert shown == _journal_addresses(web_data, "abuse@example-nl.example")
    assert shown
    assert all(a["asn"] == 64500 for a in row["addresses"])


def test_owner_b_sees_only_addresses_in_its_prefix(client, tokens, web_data):
    doc = _rows(client, tokens.owner_b)
    assert [r["recipient"] for r in doc["rows"]] == ["cert@example-de.example"]
    shown = {a["ip"] for r in doc["rows"] for a in r["addresses"]}
    assert shown == _journal_addresses(web_data, "cert@example-de.example")
    net = ipaddress.ip_network("203.0.113.0/24")
    assert all(ipaddress.ip_address(ip) in net for ip in shown)


def test_an_owner_never_gets_an_address_of_another_s_message(client, tokens, web_data):
    others = _journal_addresses(web_data, "abuse@big-us.example") | _journal_addresses(
        web_data, "cert@example-de.example"
    )
    text = client.get("/api/v1/owner/notices", tokens.owner_a).text
    assert others
    assert not any(f'"{ip}"' in text for ip in others)
    page = client.get("/owner", tokens.owner_a).text
    assert not any(ip in page for ip in others)


def test_the_operator_sees_every_delivered_message_and_can_name_a_scope(client, tokens):
    doc = _rows(client, tokens.operator)
    sent = {r for r, _, _, state in webdata.NOTIFIED if state == "sent"}
    assert {r["recipient"] for r in doc["rows"]} == sent
    assert doc["total"] == len(sent)
    scoped = _rows(client, tokens.operator, asn=64502)
    assert [r["recipient"] for r in scoped["rows"]] == ["abuse@big-us.example"]


def test_days_sent_filter_and_pages(client, tokens):
    day = webdata.NOTIFIED_DAY
    assert _rows(client, tokens.operator, **{"from": "2011-03-22"})["total"] == 0
    assert _rows(client, tokens.operator, **{"to": str(day)})["total"] == 0
    one_day = {"from": "2011-03-21", "to": "2011-03-21"}
    assert _rows(client, tokens.operator, **one_day)["total"] == 3
    first = _rows(client, tokens.operator, limit=2)
    rest = _rows(client, tokens.operator, limit=2, offset=2)
    assert first["total"] == rest["total"] == 3
    assert len(first["rows"]) == 2
    assert len(rest["rows"]) == 1
    seen = [r["ticket_id"] for r in first["rows"] + rest["rows"]]
    assert len(set(seen)) == 3


def test_the_owner_page_lists_the_ticket(client, tokens):
    ticket = _rows(client, tokens.owner_a)["rows"][0]["ticket_id"]
    page = client.get("/owner", tokens.owner_a).text
    assert ticket in page


def test_the_public_and_bad_tokens_get_nothing(client, tokens):
    assert client.get("/api/v1/owner/notices").status_code == 401
    assert client.get("/api/v1/owner/notices", tokens.revoked).status_code == 401


def test_a_v6_owner_sees_only_its_v6_addresses(client, tokens):
    doc = _rows(client, tokens.owner_v6)
    scope = Scope.of([], ["2001:db8:a::/64"])
    for row in doc["rows"]:
        assert row["addresses"]
        assert all(scope.contains(a["ip"]) for a in row["addresses"])


def test_an_unreadable_journal_answers_without_an_error(copy_data, make_client, tokens):
    data = copy_data()
    path = journal_path(data)
    for extra in path.parent.glob(path.name + "-*"):
        extra.unlink()
    path.write_bytes(b"not a database" * 100)
    c = make_client(data)
    answer = c.get("/api/v1/owner/notices", tokens.owner_a)
    assert answer.status_code == 200
    assert answer.json()["rows"] == []
    assert "cannot be read" in answer.json()["source"]
    assert str(data) not in answer.text  # no server path in the answer


def test_without_a_journal_the_panel_says_nothing_was_sent(copy_data, make_client, tokens):
    data = copy_data()
    shutil.rmtree(journal_path(data).parent)
    doc = make_client(data).get("/api/v1/owner/notices", tokens.owner_a).json()
    assert doc["rows"] == []
    assert "no notification was sent" in doc["source"]

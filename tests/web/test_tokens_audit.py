"""Tokens stored hashed, revoked and expiring; the audit log of IP-level fetches, written
before anything is served; pseudonyms (Python and SQL agree, keys rotate and expire); the
web retention step; the commands that manage them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.web import audit, db, pseudonym
from botcensus.web.scope import Scope
from botcensus.web.tokens import TokenError, add_token, list_tokens, revoke_token, verify


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data"
    path.mkdir()
    return path


def test_a_token_is_long_random_and_stored_only_as_its_hash(data):
    token, info = add_token(data, "owner", "desk", Scope.of([64500]), days=10)
    assert token.startswith(f"bcw_{info.id}_")
    assert len(token) >= 58
    raw = db.db_path(data).read_bytes()
    assert token.encode() not in raw
    # the secret is all after the prefix: its URL-safe alphabet has "_" too, so splitting
    # on it could leave one character, found anywhere in the file by chance
    assert token.removeprefix(f"bcw_{info.id}_").encode() not in raw
    with sqlite3.connect(db.db_path(data)) as con:
        stored = con.execute("SELECT secret_sha256 FROM tokens").fetchone()[0]
    assert stored == hashlib.sha256(token.encode()).digest()
    assert stat.S_IMODE(os.stat(db.db_path(data)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(db.db_path(data).parent).st_mode) == 0o700


def test_two_tokens_differ(data):
    a, _ = add_token(data, "owner", "a", Scope.of([1]), days=1)
    b, _ = add_token(data, "owner", "a", Scope.of([1]), days=1)
    assert a != b


def test_verify_gives_the_role_and_scope(data):
    token, _ = add_token(data, "owner", "desk", Scope.of([64500], ["192.0.2.0/24"]), days=10)
    who = verify(data, token)
    assert who is not None
    assert who.role == "owner"
    assert who.scope == Scope.of([64500], ["192.0.2.0/24"])


@pytest.mark.parametrize("change", ["revoke", "expire", "secret", "id"])
def test_a_token_stops_working(data, change):
    token, info = add_token(data, "owner", "desk", Scope.of([64500]), days=1)
    now = None
    if change == "revoke":
        revoke_token(data, info.id)
    elif change == "expire":
        now = datetime.now(UTC) + timedelta(days=2)
    elif change == "secret":
        token = token[:-1] + ("a" if token[-1] != "a" else "b")
    else:
        token = token.replace(info.id, "a" * 10)
    assert verify(data, token, now) is None


@pytest.mark.parametrize(
    ("role", "scope", "message"),
    [
        ("owner", Scope(), "needs a scope"),
        ("operator", Scope.of([1]), "give it no scope"),
    ],
)
def test_token_rules(data, role, scope, message):
    with pytest.raises(TokenError, match=message):
        add_token(data, role, "x", scope, days=1)


def test_revoking_an_unknown_token_is_an_error(data):
    with pytest.raises(TokenError, match="no token"):
        revoke_token(data, "nosuchtoken")


def test_cli_add_list_revoke(data):
    runner = CliRunner()
    made = runner.invoke(
        main,
        [
            "web",
            "token",
            "add",
            "--data",
            str(data),
            "--role",
            "owner",
            "--asn",
            "AS64500",
            "--prefix",
            "2001:db8::/32",
            "--label",
            "NL desk",
        ],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert verify(data, token) is not None
    assert "Shown once" in made.stderr
    listed = runner.invoke(main, ["web", "token", "list", "--data", str(data), "--format", "json"])
    rows = json.loads(listed.stdout)
    assert [r["scope"] for r in rows] == ["AS64500, 2001:db8::/32"]
    assert token not in listed.stdout
    gone = runner.invoke(main, ["web", "token", "revoke", "--data", str(data), rows[0]["id"]])
    assert gone.exit_code == 0
    assert verify(data, token) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "owner"], "needs a scope"),
        (["--role", "owner", "--asn", "sixty"], "is not an AS number"),
        (["--role", "owner", "--prefix", "10.0.0.1/8"], "is not a CIDR prefix"),
        (["--role", "owner", "--country", "Netherlands"], "two-letter country code"),
        (["--role", "operator", "--asn", "1"], "no scope"),
    ],
)
def test_cli_add_refuses_bad_scopes(data, args, message):
    result = CliRunner().invoke(
        main, ["web", "token", "add", "--data", str(data), "--label", "x", *args]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert list_tokens(data) == []


# -- audit ---------------------------------------------------------------------------------
def test_ip_level_fetches_are_audited_with_who_and_what(client, tokens, web_data):
    before, _ = audit.entries(web_data, limit=1)
    reply = client.get("/api/v1/owner/hosts", tokens.owner_a, params={"family": "rustock"})
    assert reply.status_code == 200
    total, rows = audit.entries(web_data, limit=1)
    assert total == before + 1
    entry = rows[0]
    assert (entry.role, entry.label, entry.action, entry.path) == (
        "owner",
        "AS64500 abuse desk",
        "hosts",
        "/api/v1/owner/hosts",
    )
    assert "scope=AS64500" in (entry.query or "")
    assert "family=rustock" in (entry.query or "")
    assert entry.addresses == len(reply.json()["rows"])
    assert entry.client == "127.0.0.1"
    assert not any(r["source.ip"] in (entry.query or "") for r in reply.json()["rows"])


def test_public_answers_are_not_audited(client, web_data):
    before, _ = audit.entries(web_data, limit=1)
    client.get("/api/v1/census")
    assert audit.entries(web_data, limit=1)[0] == before


def test_refused_tokens_are_audited_at_a_bounded_rate(make_client, copy_data):
    data = copy_data()
    c = make_client(data)
    for _ in range(40):
        assert c.get("/api/v1/meta", "bcw_aaaaaaaaaa_" + "x" * 43).status_code == 401
    _total, rows = audit.entries(data, limit=1)
    assert rows[0].action == "token-refused"
    assert rows[0].query == "token id aaaaaaaaaa"
    refused = [e for e in audit.entries(data, limit=100)[1] if e.action == "token-refused"]
    assert len(refused) == 30  # FailureLog.per_minute


def test_no_ip_level_answer_without_its_audit_entry(make_client, copy_data, tokens):
    data = copy_data()
    c = make_client(data)
    token, _ = add_token(data, "owner", "desk", Scope.of([64500]), days=1)
    assert c.get("/api/v1/owner/hosts", token).status_code == 200
    with sqlite3.connect(db.db_path(data)) as con:  # the log can no longer be written
        con.execute(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN "
            "SELECT RAISE(ABORT, 'disk full'); END"
        )
    for path in ("/api/v1/owner/hosts", "/api/v1/owner/events", "/api/v1/owner/cleanup"):
        reply = c.get(path, token)
        assert reply.status_code == 503, path
        assert "198.51.100" not in reply.text
        assert "nothing served" in reply.text


# -- pseudonyms ----------------------------------------------------------------------------
def test_pseudonyms_in_sql_equal_python_hmac(data):
    key = pseudonym.current_key(data, 30)
    addresses = ["192.0.2.1", "2001:db8::1", "10.0.0.255"]
    expression, params = key.sql("ip")
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest($a) AS ip", {"a": addresses})
    got = [r[0] for r in con.execute(f"SELECT {expression} FROM t", params).fetchall()]  # noqa: S608
    want = [
        f"p{key.id}-" + hmac.new(key.secret, a.encode(), hashlib.sha256).hexdigest()[:20]
        for a in addresses
    ]
    assert got == want == [key.of(a) for a in addresses]
    assert key.of("2001:DB8:0::1") == key.of("2001:db8::1")


def test_pseudonym_keys_rotate_and_old_ones_are_destroyed_by_retention(data):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = pseudonym.current_key(data, 30, t0)
    assert pseudonym.current_key(data, 30, t0 + timedelta(days=29)).id == first.id
    second = pseudonym.current_key(data, 30, t0 + timedelta(days=31))
    assert second.id != first.id
    assert second.of("192.0.2.1") != first.of("192.0.2.1")
    kept = audit.apply_retention(data, audit_days=400, key_days=30, now=t0 + timedelta(days=40))
    assert kept.keys == []
    gone = audit.apply_retention(data, audit_days=400, key_days=30, now=t0 + timedelta(days=62))
    assert [k["id"] for k in gone.keys] == [first.id]
    with sqlite3.connect(db.db_path(data)) as con:
        left = [r[0] for r in con.execute("SELECT id FROM pseudonym_keys")]
    assert left == [second.id]


def test_web_retention_deletes_old_audit_entries_and_logs_it(data):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    audit.record(data, None, "hosts", now=now - timedelta(days=500))
    audit.record(data, None, "hosts", now=now - timedelta(days=10))
    dry = audit.apply_retention(data, audit_days=400, key_days=30, now=now, dry_run=True)
    assert dry.audit_entries == 1
    assert audit.entries(data)[0] == 2
    audit.apply_retention(data, audit_days=400, key_days=30, now=now)
    total, rows = audit.entries(data)
    assert total == 2
    assert rows[0].action == "retention"
    assert "deleted 1 audit entries" in (rows[0].query or "")


def test_web_retention_command(data):
    audit.record(data, None, "hosts", now=datetime.now(UTC) - timedelta(days=900))
    result = CliRunner().invoke(
        main, ["web", "retention", "apply", "--data", str(data), "--dry-run"]
    )
    assert result.exit_code == 0
    assert "would delete 1 audit entries older than 400 days" in result.stdout
    assert audit.entries(data)[0] == 1


def test_audit_command_prints_json_lines(data):
    audit.record(data, None, "hosts", path="/api/v1/owner/hosts")
    result = CliRunner().invoke(main, ["web", "audit", "--data", str(data)])
    assert json.loads(result.stdout.splitlines()[0])["path"] == "/api/v1/owner/hosts"


def test_an_unusable_web_database_is_a_503_without_its_path(make_client, copy_data, tokens):
    data = copy_data()
    client = make_client(data)
    db.db_path(data).write_bytes(b"this is not a database" * 100)
    db._READY.discard(db.db_path(data))
    reply = client.get("/api/v1/meta", tokens.owner_a)
    assert reply.status_code == 503
    assert str(data) not in reply.text
    assert client.get("/api/v1/meta").status_code == 200  # the public needs no database

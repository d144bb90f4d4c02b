"""Every number the web shows equals what `botcensus` prints for the same query: the API's
census rows against `census --format json`, run as the command each answer names (`cli`),
host estimates against `census --estimate`, the clean-up against `cleanup --format json`,
and the numbers in the pages' tables against the same."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CENSUS_QUERIES = [
    {"window": "week"},
    {"window": "week", "by": "country"},
    {"window": "day", "by": "country", "from": "2011-03-20", "to": "2011-04-02"},
    {"window": "week", "by": "asn"},
    {"window": "week", "by": "family"},
    {"window": "week", "by": "feed"},
    {"window": "day", "by": "feed"},
    {"window": "week", "by": "country", "family": "examplebot"},
    {"window": "week", "by": "asn", "feed": "Sinkhole-Events-HTTP IPv4"},
    {"window": "day", "family": "rustock", "feed": "botcensus-sinkhole"},
    {"window": "week", "by": "country", "from": "2011-03-22", "to": "2011-04-05", "top": 2},
    {"window": "week", "by": "asn", "from": "2011-04-03", "to": "2011-04-09", "top": 20},
]


def run_cli(command: str, data: Path) -> tuple[Any, str]:
    """Run the `cli` an answer names (DIR replaced by the dataset): its JSON and stderr."""
    args = shlex.split(command)
    assert args[0] == "botcensus"
    args = [str(data) if a == "DIR" else a for a in args[1:]]
    proc = subprocess.run(
        [sys.executable, "-m", "botcensus", *args], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout), proc.stderr


def _comparable(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    return [{c: r.get(c) for c in columns} for r in rows]


@pytest.mark.parametrize(
    "params", CENSUS_QUERIES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
def test_census_rows_equal_the_cli_s(client, tokens, web_data, params):
    """The operator sees every cell: all of them equal; the public the unsuppressed ones."""
    answer = client.get("/api/v1/census", tokens.operator, params={**params, "limit": 100000})
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    expected, _ = run_cli(doc["cli"], web_data)
    columns = list(expected[0]) if expected else []
    assert _comparable(doc["rows"], columns) == expected
    assert doc["source"] == "rollup"  # the roll-up answered, and still equals the CLI

    public = client.get("/api/v1/census", params={**params, "limit": 100000}).json()
    shown = [r for r in public["rows"] if not r["suppressed"]]
    by_key = {tuple(r[c] for c in ("window_start", *doc["query"]["by"])): r for r in expected}
    for row in shown:
        cli_row = by_key[tuple(row[c] for c in ("window_start", *doc["query"]["by"]))]
        for column in ("unique_ip", "unique_bot_id", "hits", "rank"):
            assert row[column] == cli_row[column]


def test_estimates_equal_the_cli_s(client, web_data, tokens):
    for by, flag in (("none", ""), ("country", "--by country")):
        doc = client.get("/api/v1/estimates", tokens.operator, params={"by": by}).json()
        assert doc["current"] is True
        assert flag in doc["cli"]
        assert "--estimate" in doc["cli"]
        expected, _ = run_cli(doc["cli"], web_data)
        assert expected, "the CLI printed no rows"
        columns = list(expected[0])
        assert "hosts_est" in columns
        assert _comparable(doc["rows"], columns) == expected


def test_cleanup_equals_the_cli_s(client, web_data, tokens):
    doc = client.get("/api/v1/cleanup", tokens.operator).json()
    expected, _ = run_cli(doc["cli"], web_data)
    decay = [{k: v for k, v in r.items() if k not in ("suppressed", "group")} for r in doc["decay"]]
    cli_decay = [{k: v for k, v in r.items() if k != "group"} for r in expected["decay"]]
    assert decay == cli_decay
    assert doc["decay"][0]["group"] == "all"
    assert [r.get("identities") for r in doc["survival"]] == [
        r["identities"] for r in expected["survival"]
    ]


def _table_values(html: str, table_id: str, column: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf'data-col="{column}" data-value="([^"]*)"', body)


def test_overview_page_numbers_equal_the_cli_s(client, web_data):
    page = client.get("/", params={"window": "week", "by": "country", "top": 50})
    assert page.status_code == 200
    # the page counts addresses, and its heading says so (it said "Infected hosts seen")
    assert "<h1>Addresses of infected hosts seen, by country</h1>" in page.text
    api = client.get("/api/v1/census", params={"window": "week", "by": "country", "top": 50}).json()
    expected, _ = run_cli(api["cli"], web_data)
    shown = [int(v) for v in _table_values(page.text, "series", "unique_ip") if v]
    hidden = sum(1 for v in _table_values(page.text, "series", "unique_ip") if not v)
    assert hidden == api["suppressed"] > 0
    cli_values = {r["unique_ip"] for r in expected}
    assert shown
    assert set(shown) <= cli_values
    assert len(shown) + hidden == len(expected)


def test_filters_change_the_numbers_on_the_page(client):
    everything = client.get("/", params={"by": "none"}).text
    one_family = client.get("/", params={"by": "none", "family": "examplebot"}).text
    assert _table_values(everything, "series", "unique_ip") != _table_values(
        one_family, "series", "unique_ip"
    )


def test_ranking_numbers_equal_the_cli_s(client, web_data):
    page = client.get("/", params={"week": "2011-04-03"}).text
    values = [int(v) for v in _table_values(page, "ranking", "unique_ip") if v]
    command = re.search(r"<code>(botcensus census[^<]*--by asn[^<]*)</code>", page)
    assert command is not None
    expected, _ = run_cli(command.group(1), web_data)
    week = [r for r in expected if r["window_start"] == "2011-04-03"]
    assert values == [r["unique_ip"] for r in week][: len(values)]
    assert len(values) >= 3


@pytest.mark.parametrize(
    "params",
    [
        {"window": "week", "family": "nosuchbot"},
        {"window": "week", "by": "country", "from": "2030-01-06", "to": "2030-01-12"},
        {"window": "day", "family": "rustock", "to": "2001-01-01"},
    ],
    ids=["unknown-family", "after-the-data", "before-the-data"],
)
def test_an_empty_answer_says_why_as_the_cli_does(client, tokens, web_data, params):
    """No rows: the answer's note names what was asked and where the data lie, the same
    words as the command's note on stderr."""
    doc = client.get("/api/v1/census", tokens.operator, params=params).json()
    assert doc["rows"] == []
    expected, stderr = run_cli(doc["cli"], web_data)
    assert expected == []
    cli_notes = [n.removeprefix("note: ") for n in stderr.splitlines() if "no rows:" in n]
    assert len(cli_notes) == 1
    assert [n for n in doc["notes"] if n.startswith("no rows:")] == cli_notes

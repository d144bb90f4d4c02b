"""The public surface of botcensus.contacts, its docs, and the bundled CERT table."""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest

import botcensus.contacts as contacts_pkg
from botcensus.contacts import national_certs_path
from botcensus.contacts.mailbox import mailboxes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "contacts.md"
PUBLIC = {
    "EXCLUDED_NETNAMES",
    "LOOKUP_SCHEMA",
    "NATIONAL_CERTS",
    "ContactTable",
    "ImportReport",
    "Problem",
    "describe",
    "enrich_contacts",
    "import_csv",
    "import_ripe",
    "load_contacts",
    "lookup_contacts",
    "national_certs_path",
}


def certs() -> list[dict[str, str]]:
    with national_certs_path().open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_all_is_the_public_api() -> None:
    assert set(contacts_pkg.__all__) == PUBLIC
    assert all(hasattr(contacts_pkg, name) for name in PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_is_documented(name: str) -> None:
    assert f"`{name}" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("column", contacts_pkg.LOOKUP_SCHEMA.names)
def test_every_lookup_column_is_documented(column: str) -> None:
    assert f"| `{column}` |" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "command", ["botcensus contacts import", "botcensus contacts lookup", "--ripe", "--csv"]
)
def test_the_commands_are_documented(command: str) -> None:
    assert command in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("row", certs(), ids=lambda r: r["country"])
def test_each_national_cert_row_is_sourced_and_dated(row: dict[str, str]) -> None:
    assert re.fullmatch(r"[A-Z]{2}", row["country"])
    assert mailboxes(row["abuse_email"]) == [row["abuse_email"].lower()]
    assert row["organisation"]
    assert "http" in row["source"]
    assert date.fromisoformat(row["read_on"]) <= date.today()
    if row["source_date"]:
        assert date.fromisoformat(row["source_date"]) <= date.fromisoformat(row["read_on"])


def test_the_docs_list_every_national_cert_row() -> None:
    text = DOC.read_text(encoding="utf-8")
    for row in certs():
        assert f"| {row['country']} | {row['abuse_email']} |" in text

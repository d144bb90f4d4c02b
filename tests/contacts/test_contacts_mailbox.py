"""abuse-mailbox as RIPE data writes it: display-name form, comments, trailing commas, two
addresses, quoted local parts. Each is read as the address(es) it names, normalised, and the
range that names its role gets that recipient, not a less specific range's."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from botcensus.contacts import import_csv, import_ripe, load_contacts, lookup_contacts

REAL = Path(__file__).parent / "cases" / "ripe-real"

# (range's first address, the recipient its role names), from ripe-real/ripe.db.role
EXPECTED = [
    ("198.51.100.1", "null@example.com"),
    ("198.51.100.17", "abuse@novaposhta.ua"),
    ("198.51.100.33", "abuse@icloudhosting.com"),
    ("198.51.100.49", "\"r:[/r/]*4;e'*&m'\"@fenix.international"),
    ("198.51.100.65", '"abuse contact"@example.com'),
    ("198.51.100.81", "abuse@crimeainfo.com"),
    ("198.51.100.97", "abuse@cxl.zone"),
    ("198.51.100.113", "abuse@example.com, abuse@example.net"),
    ("198.51.100.129", "abuse@example.com, abuse@example.net"),
    ("198.51.100.145", '"abuse contact"@example.com, abuse@example.com'),
    ("198.51.100.200", "fallback@example.net"),  # the covering range itself
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("ripe-real")
    import_ripe(data, sorted(REAL.glob("ripe.db.*")))
    return data


def test_every_real_role_object_is_imported(imported: Path) -> None:
    report = import_ripe(imported, sorted(REAL.glob("ripe.db.*")))
    assert [str(p) for p in report.problems] == []
    assert report.records == {"prefix": 11}  # the covering range and the ten inside it


@pytest.mark.parametrize(("ip", "recipient"), EXPECTED)
def test_each_range_gets_the_recipient_its_role_names(
    imported: Path, ip: str, recipient: str
) -> None:
    table = load_contacts(imported, national_certs=False)
    found = lookup_contacts(table, pa.array([ip]), None, pa.array(["NL"]))
    assert found["abuse_email"].to_pylist() == [recipient]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # real abuse-mailbox values quoted from RIPE data (see cases/ripe-real/README.md)
        ("abuse@novaposhta.ua  <abuse@novaposhta.ua>", ["abuse@novaposhta.ua"]),
        (
            "abuse-lignesreseau@sigdci76.fr <abuse-lignesreseau@sigdci76.fr>",
            ["abuse-lignesreseau@sigdci76.fr"],
        ),
        ("n.issart@ville-arles.fr <n.issart@ville-arles.fr>", ["n.issart@ville-arles.fr"]),
        ("abuse@crimeainfo.com,", ["abuse@crimeainfo.com"]),
        ("abuse@cxl.zone (preferred)", ["abuse@cxl.zone"]),
        ("gedeeldeinfra&staven@vgz.nl", ["gedeeldeinfra&staven@vgz.nl"]),
        ("N&INetworkOperations@homeoffice.gov.uk", ["n&inetworkoperations@homeoffice.gov.uk"]),
        ("sdm.n&c@frieslandcampina.com", ["sdm.n&c@frieslandcampina.com"]),
        ("kevino'connor@merseyfire.gov.uk", ["kevino'connor@merseyfire.gov.uk"]),
        ("\"r:[/r/]*4;e'*&m'\"@fenix.international", ["\"r:[/r/]*4;e'*&m'\"@fenix.international"]),
        # forms seen or expected (Intevation's made-up cases) and plain ones
        ("abuse@example.com abuse@example.net", ["abuse@example.com", "abuse@example.net"]),
        ("abuse@example.com, abuse@example.net", ["abuse@example.com", "abuse@example.net"]),
        (
            '"abuse contact"@example.com abuse@example.com',
            ['"abuse contact"@example.com', "abuse@example.com"],
        ),
        ("Abuse Desk <Abuse@Example.COM>", ["abuse@example.com"]),
        ("abuse@example.com; abuse@example.com", ["abuse@example.com"]),
        ("abuse@bücher.example", ["abuse@bücher.example"]),
    ],
)  # fmt: skip
def test_a_mailbox_is_read_as_the_addresses_it_names(written: str, read: list[str]) -> None:
    from botcensus.contacts.mailbox import mailboxes

    assert mailboxes(written) == read


@pytest.mark.parametrize(
    "written",
    [
        "",
        "not an address",
        "abuse@localhost",  # no dot: not a mail domain anyone outside reads
        "a@b@example.com",
        "abuse@ex ample.com",  # a space inside: not one address, nor two
        "abuse@example..com",
        "abuse@-example.com",
        "abuse@[192.0.2.1]",
        ".abuse@example.com",
        "abuse@example.com <other@example.net>",  # which one? neither: say so
        "abuse@example.com (unclosed",
        "<>",
        "a" * 65 + "@example.com",  # RFC 5321: 64 octets of local part at most
        "abuse\r\nBcc: someone@example.net",  # no header injection through a contact
    ],
)
def test_what_names_no_address_is_refused_with_the_reason(written: str) -> None:
    from botcensus.contacts.mailbox import mailboxes

    with pytest.raises(ValueError, match=re.escape(repr(written)[:60])):
        mailboxes(written)


def test_csv_contacts_follow_the_same_rule(tmp_path: Path) -> None:
    table = tmp_path / "isp.csv"
    table.write_text(
        "prefix,abuse_email\n"
        '192.0.2.0/28,"abuse@crimeainfo.com,"\n'
        '192.0.2.16/28,"Abuse Desk <Abuse@Example.COM>"\n'
        "192.0.2.32/28,not an address\n",
        encoding="utf-8",
    )
    report = import_csv(tmp_path, table, source="isp")
    table = load_contacts(tmp_path, national_certs=False)
    found = lookup_contacts(table, pa.array(["192.0.2.1", "192.0.2.17", "192.0.2.33"]))
    assert found["abuse_email"].to_pylist() == ["abuse@crimeainfo.com", "abuse@example.com", None]
    assert [p.line for p in report.problems] == [4]

"""Lookups: most specific prefix beats ASN beats country, IPv4 and IPv6, RIPE and CSV input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from botcensus.contacts import (
    LOOKUP_SCHEMA,
    ContactTable,
    describe,
    enrich_contacts,
    import_csv,
    import_ripe,
    load_contacts,
    lookup_contacts,
)

CASES = Path(__file__).parent / "cases"
RIPE_AT = datetime(2026, 11, 1, tzinfo=UTC)
CSV_AT = datetime(2026, 11, 2, tzinfo=UTC)
CERTS_AT = datetime(2026, 11, 27, tzinfo=UTC)
ACCESS = "abuse@access.example.net"
CUSTOMER = "security@customer.example.org"
HOSTING = "abuse@hosting.example.net"

# (ip, asn, cc) -> (level, e-mail, source) with the RIPE sample files alone.
RIPE_CASES = [
    # the customer's /26 inside the DSL pool inside the allocation: most specific wins
    ("198.51.100.70", 64500, "SE", ("prefix", CUSTOMER, "ripe")),
    # the pool has no abuse-c: it inherits the allocation's (via its organisation)
    ("198.51.100.5", 64500, "SE", ("prefix", ACCESS, "ripe")),
    # a range not aligned to a CIDR prefix, its last address and the one after it
    ("198.51.102.127", 64496, None, ("prefix", HOSTING, "ripe")),
    ("198.51.102.128", 64500, None, ("prefix", ACCESS, "ripe")),
    # abuse-c names a role without abuse-mailbox: the allocation answers
    ("198.51.103.9", None, None, ("prefix", ACCESS, "ripe")),
    # no range: the ASN, else the country, else nothing
    ("203.0.113.5", 64500, "SE", ("asn", HOSTING, "ripe")),
    ("203.0.113.5", 64999, "SE", ("country", "cert@cert.se", "national-certs")),
    ("203.0.113.5", None, "de", ("country", "certbund@bsi.bund.de", "national-certs")),
    ("203.0.113.5", 64999, "ZZ", (None, None, None)),
    ("203.0.113.5", None, None, (None, None, None)),
    # IPv6: /36 beats /32; the /64 without abuse-c inherits the /36
    ("2001:db8:1000::1", 64500, "SE", ("prefix", CUSTOMER, "ripe")),
    ("2001:db8:1000:ab::1", 64500, "SE", ("prefix", CUSTOMER, "ripe")),
    ("2001:db8:ffff::1", 64500, "SE", ("prefix", ACCESS, "ripe")),
    ("2001:db9::1", 64496, "SE", ("asn", ACCESS, "ripe")),
    ("2001:db9::1", None, "SE", ("country", "cert@cert.se", "national-certs")),
    # IPv4-mapped IPv6 is looked up as IPv4
    ("::ffff:198.51.100.70", None, None, ("prefix", CUSTOMER, "ripe")),
    # no usable address: the ASN and country still answer
    ("not an address", 64496, "SE", ("asn", ACCESS, "ripe")),
    (None, None, "SE", ("country", "cert@cert.se", "national-certs")),
]

# The same questions with the CSV imported too: more specific or equal CSV rows win.
CSV_CASES = [
    ("198.51.100.70", 64500, "SE", ("prefix", CUSTOMER, "ripe")),
    ("198.51.100.5", 64500, "SE", ("prefix", "noc@dsl.example.net", "isp")),
    ("198.51.102.127", 64496, None, ("prefix", "abuse@reseller.example.net", "isp")),
    ("203.0.113.5", 64500, "SE", ("asn", "abuse@override.example.net", "isp")),
    ("203.0.113.5", 64511, "SE", ("asn", "abuse@transit.example.com", "isp")),
    ("203.0.113.5", 64999, "xx", ("country", "team@cert.example", "isp")),
    ("192.0.2.7", 64500, "SE", ("prefix", "host@example.com", "isp")),
    ("192.0.2.8", 64500, "SE", ("asn", "abuse@override.example.net", "isp")),
    ("2001:db8:2::1", 64500, "SE", ("prefix", "abuse6@dsl.example.net", "isp")),
    ("2001:db8:3::1", 64500, "SE", ("prefix", ACCESS, "ripe")),
]

# The CSV alone (no RIPE data): the contacts lookup works on CSV input by itself.
CSV_ONLY_CASES = [
    ("198.51.100.5", 64500, "SE", ("prefix", "noc@dsl.example.net", "isp")),
    ("198.51.100.70", 64500, "SE", ("asn", "abuse@override.example.net", "isp")),
    ("2001:db8:2:ffff::1", None, "SE", ("prefix", "abuse6@dsl.example.net", "isp")),
    ("2001:db8:3::1", 64511, "SE", ("asn", "abuse@transit.example.com", "isp")),
    ("2001:db8:3::1", 1, "SE", ("country", "cert@cert.se", "national-certs")),
]

Case = tuple[str | None, int | None, str | None, tuple[str | None, str | None, str | None]]


@pytest.fixture(scope="module")
def ripe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("ripe")
    import_ripe(data_dir, sorted(CASES.glob("ripe.db.*")), now=RIPE_AT)
    return data_dir


@pytest.fixture(scope="module")
def both_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("both")
    import_ripe(data_dir, sorted(CASES.glob("ripe.db.*")), now=RIPE_AT)
    import_csv(data_dir, CASES / "isp-contacts.csv", source="isp", now=CSV_AT)
    return data_dir


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("csv")
    import_csv(data_dir, CASES / "isp-contacts.csv", source="isp", now=CSV_AT)
    return data_dir


def answer(data_dir: Path, case: Case) -> tuple[str | None, str | None, str | None]:
    ip, asn, cc, _ = case
    found = lookup_contacts(
        data_dir, pa.array([ip], pa.string()), pa.array([asn], pa.int64()), pa.array([cc])
    ).to_pylist()[0]
    return (found["contact_level"], found["abuse_email"], found["contact_source"])


@pytest.mark.parametrize("case", RIPE_CASES, ids=lambda c: f"{c[0]}-AS{c[1]}-{c[2]}")
def test_precedence_with_ripe_input(ripe_dir: Path, case: Case) -> None:
    assert answer(ripe_dir, case) == case[3]


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda c: f"{c[0]}-AS{c[1]}-{c[2]}")
def test_precedence_with_ripe_and_csv_input(both_dir: Path, case: Case) -> None:
    assert answer(both_dir, case) == case[3]


@pytest.mark.parametrize("case", CSV_ONLY_CASES, ids=lambda c: f"{c[0]}-AS{c[1]}-{c[2]}")
def test_precedence_with_csv_input_alone(csv_dir: Path, case: Case) -> None:
    assert answer(csv_dir, case) == case[3]


def test_a_whole_column_keeps_length_and_order(both_dir: Path) -> None:
    cases = RIPE_CASES + CSV_CASES
    columns = list(zip(*[c[:3] for c in cases], strict=True))
    found = lookup_contacts(
        load_contacts(both_dir),
        pa.array(columns[0], pa.string()),
        pa.array(columns[1], pa.int64()),
        pa.array(columns[2], pa.string()),
    )
    assert found.schema == LOOKUP_SCHEMA
    expected = [answer(both_dir, c) for c in cases]
    got = list(
        zip(
            found.column("contact_level").to_pylist(),
            found.column("abuse_email").to_pylist(),
            found.column("contact_source").to_pylist(),
            strict=True,
        )
    )
    assert got == expected


def test_answers_name_record_organisation_and_import_time(both_dir: Path) -> None:
    found = lookup_contacts(
        both_dir,
        pa.array(["198.51.102.200", "198.51.100.5", "203.0.113.1"]),
        None,
        pa.array([None, None, "NL"]),
    ).to_pylist()
    assert found[0] == {
        "abuse_email": ACCESS,
        "abuse_org": "Exämple Access B.V.",
        "contact_source": "ripe",
        "contact_record": "inetnum 198.51.0.0 - 198.51.255.255 (abuse-c EA1-TEST via ORG-EA1-TEST)",
        "contact_level": "prefix",
        "contact_imported": RIPE_AT,
    }
    assert found[1]["contact_record"] == "prefix 198.51.100.0/26 from wholesale contract 2026-03"
    assert (found[1]["abuse_org"], found[1]["contact_imported"]) == (
        "Example DSL Wholesale",
        CSV_AT,
    )
    assert found[2]["contact_record"].startswith("country NL from https://")
    assert found[2]["contact_imported"] == CERTS_AT


def test_chunked_dictionary_and_other_integer_inputs(ripe_dir: Path) -> None:
    ips = pa.chunked_array([["198.51.100.70"], ["203.0.113.5", "203.0.113.5"]])
    asns = pa.chunked_array([pa.array([None], pa.uint32()), pa.array([64500, 64496], pa.uint32())])
    ccs = pa.array(["SE", "SE", "SE"]).dictionary_encode()
    found = lookup_contacts(ripe_dir, ips.cast(pa.large_string()), asns, ccs)
    assert found.column("abuse_email").to_pylist() == [CUSTOMER, HOSTING, ACCESS]


def test_an_empty_column_gives_an_empty_table(ripe_dir: Path) -> None:
    found = lookup_contacts(ripe_dir, pa.array([], pa.string()), pa.array([], pa.int64()))
    assert found.num_rows == 0
    assert found.schema == LOOKUP_SCHEMA


def test_columns_of_different_lengths_are_refused(ripe_dir: Path) -> None:
    with pytest.raises(ValueError, match="asns has 2 rows, ips has 1"):
        lookup_contacts(ripe_dir, pa.array(["192.0.2.1"]), pa.array([1, 2]))


def test_an_empty_store_still_has_the_national_certs(tmp_path: Path) -> None:
    found = lookup_contacts(tmp_path, pa.array(["192.0.2.1"]), None, pa.array(["AT"]))
    assert found.column("abuse_email").to_pylist() == ["reports@cert.at"]


def test_the_national_certs_can_be_left_out(tmp_path: Path) -> None:
    table = load_contacts(tmp_path, national_certs=False)
    found = lookup_contacts(table, pa.array(["192.0.2.1"]), None, pa.array(["AT"]))
    assert found.column("abuse_email").to_pylist() == [None]


def test_a_source_named_national_certs_replaces_the_bundled_table(tmp_path: Path) -> None:
    mine = tmp_path / "certs.csv"
    mine.write_text("country,abuse_email,organisation\nAT,ours@cert.example,Our AT team\n")
    import_csv(tmp_path, mine, source="national-certs")
    found = lookup_contacts(tmp_path, pa.array(["192.0.2.1"] * 2), None, pa.array(["AT", "DE"]))
    assert found.column("abuse_email").to_pylist() == ["ours@cert.example", None]


def test_a_users_country_table_beats_the_bundled_one(tmp_path: Path) -> None:
    mine = tmp_path / "certs.csv"
    mine.write_text("country,abuse_email\nAT,ours@cert.example\n")
    import_csv(tmp_path, mine, source="my-certs")
    found = lookup_contacts(tmp_path, pa.array(["192.0.2.1"] * 2), None, pa.array(["AT", "DE"]))
    assert found.column("abuse_email").to_pylist() == ["ours@cert.example", "certbund@bsi.bund.de"]


def test_between_two_csv_sources_the_later_import_wins(tmp_path: Path) -> None:
    for name, day in (("b-first", 1), ("a-second", 2)):
        path = tmp_path / f"{name}.csv"
        path.write_text(f"prefix,abuse_email\n192.0.2.0/24,{name}@example.net\n")
        import_csv(tmp_path, path, now=datetime(2026, 11, day, tzinfo=UTC))
    found = lookup_contacts(tmp_path, pa.array(["192.0.2.1"]))
    assert found.column("abuse_email").to_pylist() == ["a-second@example.net"]


def test_enrich_contacts_adds_the_columns_from_the_sighting_columns(ripe_dir: Path) -> None:
    sightings = pa.table(
        {
            "source_ip": ["198.51.100.70", "203.0.113.5"],
            "source_asn": pa.array([None, 64500], pa.int64()),
            "source_cc": ["NL", "NL"],
        }
    )
    contacts = load_contacts(ripe_dir)
    once = enrich_contacts(sightings, contacts)
    assert once.column_names == sightings.column_names + LOOKUP_SCHEMA.names
    assert once.column("abuse_email").to_pylist() == [CUSTOMER, HOSTING]
    assert enrich_contacts(once, contacts).equals(once)


def test_describe_writes_a_line_per_address(ripe_dir: Path) -> None:
    table = pa.table({"source_ip": ["198.51.100.70", "203.0.113.5"]})
    lines = describe(enrich_contacts(table, load_contacts(ripe_dir)))
    assert lines[0].split("\t") == [
        "198.51.100.70",
        "prefix",
        CUSTOMER,
        "-",
        "ripe",
        "inetnum 198.51.100.64 - 198.51.100.127 (abuse-c CS4-TEST)",
        "2026-11-01T00:00:00+00:00",
    ]
    assert lines[1] == "203.0.113.5\t-\t-\t-\t-\t-\t-"


def test_the_table_says_what_it_holds(both_dir: Path) -> None:
    table = load_contacts(both_dir)
    assert isinstance(table, ContactTable)
    assert table.sources.column("source").to_pylist() == ["national-certs", "ripe", "isp"]
    assert table.sources.column("kind").to_pylist() == ["bundled", "ripe", "csv"]
    assert table.sources.column("imported").to_pylist() == [CERTS_AT, RIPE_AT, CSV_AT]
    assert "3 sources" in repr(table)

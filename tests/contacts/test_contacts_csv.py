"""CSV contact tables: prefix, ASN or country rows in; bad rows reported with their line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from botcensus.contacts import import_csv, national_certs_path
from botcensus.contacts.csv_source import read_contacts_csv
from botcensus.contacts.store import RECORD_SCHEMA, source_file

CASES = Path(__file__).parent / "cases"
SAMPLE = CASES / "isp-contacts.csv"


def write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(["prefix,asn,country,abuse_email,organisation,source", *rows]))
    return path


def one(tmp_path: Path, row: str) -> dict[str, object]:
    records, problems = read_contacts_csv(write(tmp_path, row))
    assert problems == []
    (record,) = records.to_pylist()
    return record


def test_the_sample_gives_its_good_rows() -> None:
    records, _ = read_contacts_csv(SAMPLE)
    assert records.schema == RECORD_SCHEMA
    assert sorted(records.column("record").to_pylist()) == [
        "asn AS64500 from peering contact",
        "asn AS64511",
        "country XX from test-only country",
        "prefix 192.0.2.7",
        "prefix 198.51.100.0/26 from wholesale contract 2026-03",
        "prefix 198.51.101.0 - 198.51.102.127 from reseller list",
        "prefix 2001:db8:2::/48 from wholesale contract 2026-03",
    ]


def test_the_sample_reports_its_bad_rows_by_line() -> None:
    _, problems = read_contacts_csv(SAMPLE)
    assert sorted((p.line, p.reason) for p in problems) == [
        (10, "prefix: prefix has host bits set"),
        (11, "asn: not an AS number"),
        (12, "fill one of prefix, asn, country"),
        (
            13,
            "abuse_email 'not-an-address' is not an address (addr-spec local part with no domain)",
        ),
        (14, "country: not a two-letter code"),
    ]
    assert all(p.file == str(SAMPLE) and p.text for p in problems)


@pytest.mark.parametrize(
    ("prefix", "version", "start", "end"),
    [
        ("192.0.2.0/24", 4, 0xC0000200, 0xC00002FF),
        ("192.0.2.7", 4, 0xC0000207, 0xC0000207),
        ("192.0.2.16 - 192.0.2.31", 4, 0xC0000210, 0xC000021F),
        ("192.0.2.16-192.0.2.31", 4, 0xC0000210, 0xC000021F),
        ("0.0.0.0/0", 4, 0, 2**32 - 1),
        ("2001:db8::/127", 6, 0, 1),
        ("2001:db8:: - 2001:db8::ff", 6, 0, 0xFF),
    ],
)
def test_prefix_forms(tmp_path: Path, prefix: str, version: int, start: int, end: int) -> None:
    record = one(tmp_path, f"{prefix},,,a@b.example,,")
    assert record["level"] == "prefix"
    assert record["ip_version"] == version
    assert (record["start_lo"], record["end_lo"]) == (start, end)


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("192.0.2.1/24", "prefix has host bits set"),
        ("192.0.2.0/33", "prefix length out of range"),
        ("192.0.2.0/x", "prefix length out of range"),
        ("192.0.2.9 - 192.0.2.1", "range ends before it starts"),
        ("192.0.2.1 - 2001:db8::1", "range ends are not both IPv4 or both IPv6"),
        ("192.0.2.300", "not an IP address"),
        ("example.net", "not an IP address"),
    ],
)
def test_bad_prefixes_say_why(tmp_path: Path, prefix: str, reason: str) -> None:
    records, problems = read_contacts_csv(write(tmp_path, f"{prefix},,,a@b.example,,"))
    assert records.num_rows == 0
    assert [(p.line, p.reason) for p in problems] == [(2, f"prefix: {reason}")]


@pytest.mark.parametrize(("text", "number"), [("AS64496", 64496), ("as64496", 64496), ("7", 7)])
def test_asn_forms(tmp_path: Path, text: str, number: int) -> None:
    record = one(tmp_path, f",{text},,a@b.example,,")
    assert (record["level"], record["asn"], record["record"]) == ("asn", number, f"asn AS{number}")


def test_countries_are_upper_case(tmp_path: Path) -> None:
    record = one(tmp_path, ",,se,a@b.example,Team,")
    assert (record["level"], record["cc"], record["abuse_org"]) == ("country", "SE", "Team")


def test_a_header_without_abuse_email_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("prefix,email\n192.0.2.0/24,a@b.example\n")
    with pytest.raises(ValueError, match="abuse_email"):
        read_contacts_csv(path)


def test_columns_may_come_in_any_order_with_extra_ones(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("note,Abuse_Email,ASN\nhello,a@b.example,AS1\n")
    records, problems = read_contacts_csv(path)
    assert problems == []
    assert records.column("asn").to_pylist() == [1]


def test_import_names_the_source_after_the_file(tmp_path: Path) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    report = import_csv(tmp_path, SAMPLE, now=now)
    assert report.source == "isp-contacts"
    assert report.records == {"prefix": 4, "asn": 2, "country": 1}
    stored = pq.read_table(source_file(tmp_path, "isp-contacts"))
    assert set(stored.column("kind").to_pylist()) == {"csv"}
    assert len(report.problems) == 5


def test_the_bundled_national_cert_table_reads_cleanly() -> None:
    records, problems = read_contacts_csv(national_certs_path())
    assert problems == []
    assert set(records.column("level").to_pylist()) == {"country"}
    codes = records.column("cc").to_pylist()
    assert len(codes) == len(set(codes)) >= 5


def test_a_file_name_becomes_a_usable_source_name(tmp_path: Path) -> None:
    path = tmp_path / "Our ISP Contacts (2026).csv"
    path.write_text("asn,abuse_email\n1,a@b.example\n")
    assert import_csv(tmp_path, path).source == "our-isp-contacts-2026"

"""RIPE split files in, contact records out: abuse-c own or via org, inheritance, quarantine."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from botcensus.contacts import ImportReport, import_ripe
from botcensus.contacts.ripe_source import RipeReader
from botcensus.contacts.store import RECORD_SCHEMA, STORE_SCHEMA, source_file

CASES = Path(__file__).parent / "cases"
RIPE_FILES = sorted(CASES.glob("ripe.db.*"))
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ACCESS = ("abuse@access.example.net", "Exämple Access B.V.")
CUSTOMER = ("security@customer.example.org", None)
HOSTING = ("abuse@hosting.example.net", "Example Hosting GmbH")
EXPECTED = {
    "inetnum 198.51.0.0 - 198.51.255.255 (abuse-c EA1-TEST via ORG-EA1-TEST)": ACCESS,
    "inetnum 198.51.100.64 - 198.51.100.127 (abuse-c CS4-TEST)": CUSTOMER,
    "inetnum 198.51.101.0 - 198.51.102.127 (abuse-c EH2-TEST)": HOSTING,
    "inet6num 2001:db8::/32 (abuse-c EA1-TEST via ORG-EA1-TEST)": ACCESS,
    "inet6num 2001:db8:1000::/36 (abuse-c CS4-TEST)": CUSTOMER,
    "aut-num AS64496 (abuse-c EA1-TEST via ORG-EA1-TEST)": ACCESS,
    "aut-num AS64500 (abuse-c EH2-TEST)": HOSTING,
}
PROBLEMS = [
    ("ripe.db.aut-num.gz", 24, "aut-num ASX1: not an AS number"),
    ("ripe.db.inet6num", 34, "inet6num 2001:db8:ffff::/129: prefix length out of range"),
    (
        "ripe.db.inetnum.gz",
        85,
        "inetnum 198.51.200.0 - 198.51.199.255: range ends before it starts",
    ),
    ("ripe.db.inetnum.gz", 92, "line 94 is neither an attribute nor a continuation"),
    ("ripe.db.role", 48, "role without nic-hdl"),
]


@pytest.fixture(scope="module")
def reader() -> RipeReader:
    reader = RipeReader()
    for path in RIPE_FILES:
        reader.read(path)
    return reader


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Path, ImportReport]:
    return tmp_path, import_ripe(tmp_path, RIPE_FILES, now=T0)


def test_every_resource_with_an_abuse_contact_is_a_record(reader: RipeReader) -> None:
    rows = reader.records().to_pylist()
    assert {r["record"]: (r["abuse_email"], r["abuse_org"]) for r in rows} == EXPECTED


def test_records_hold_the_range_as_128_bit_halves(reader: RipeReader) -> None:
    rows = {r["record"]: r for r in reader.records().to_pylist()}
    hosting = rows["inetnum 198.51.101.0 - 198.51.102.127 (abuse-c EH2-TEST)"]
    assert (hosting["level"], hosting["ip_version"]) == ("prefix", 4)
    assert (hosting["start_hi"], hosting["end_hi"]) == (0, 0)
    assert (hosting["start_lo"], hosting["end_lo"]) == (0xC6336500, 0xC633667F)
    v6 = rows["inet6num 2001:db8::/32 (abuse-c EA1-TEST via ORG-EA1-TEST)"]
    assert (v6["ip_version"], v6["start_hi"], v6["start_lo"]) == (6, 0x20010DB8 << 32, 0)
    assert (v6["end_hi"], v6["end_lo"]) == ((0x20010DB8 << 32) | 0xFFFFFFFF, 2**64 - 1)
    asn = rows["aut-num AS64500 (abuse-c EH2-TEST)"]
    assert (asn["level"], asn["asn"], asn["ip_version"]) == ("asn", 64500, None)


def test_records_follow_the_record_schema(reader: RipeReader) -> None:
    assert reader.records().schema == RECORD_SCHEMA


def test_counts_say_what_was_read_and_why_some_were_not_kept(reader: RipeReader) -> None:
    counts = reader.counts
    assert dict(counts.objects) == {
        "inetnum": 8,
        "inet6num": 4,
        "aut-num": 3,
        "role": 5,
        "organisation": 3,
    }
    assert dict(counts.with_contact) == {"inetnum": 3, "inet6num": 2, "aut-num": 2}
    assert (counts.without_contact, counts.unresolved, counts.excluded) == (3, 1, 1)


def test_malformed_objects_are_reported_with_file_and_line(reader: RipeReader) -> None:
    found = sorted((Path(p.file).name, p.line, p.reason) for p in reader.problems)
    assert found == PROBLEMS


def test_the_placeholder_for_all_address_space_is_skipped() -> None:
    reader = RipeReader()
    reader.read(CASES / "ripe.db.inetnum.gz")
    reader.read(CASES / "ripe.db.organisation.gz")
    reader.read(CASES / "ripe.db.role")
    assert not any("0.0.0.0" in r for r in reader.records().column("record").to_pylist())


def test_nothing_is_excluded_when_asked(reader: RipeReader) -> None:
    everything = RipeReader(exclude_netnames=())
    for path in RIPE_FILES:
        everything.read(path)
    records = everything.records().column("record").to_pylist()
    assert "inetnum 0.0.0.0 - 255.255.255.255 (abuse-c EA1-TEST via ORG-EA1-TEST)" in records


def test_files_may_come_in_any_order(reader: RipeReader) -> None:
    backwards = RipeReader()
    for path in reversed(RIPE_FILES):
        backwards.read(path)
    assert backwards.records().sort_by("record").equals(reader.records().sort_by("record"))


def test_without_the_role_file_abuse_c_does_not_resolve() -> None:
    partial = RipeReader()
    partial.read(CASES / "ripe.db.inetnum.gz")
    partial.read(CASES / "ripe.db.organisation.gz")
    assert partial.records().num_rows == 0
    assert partial.counts.unresolved == 4


def test_import_stores_one_file_with_source_kind_and_time(
    imported: tuple[Path, ImportReport],
) -> None:
    data_dir, report = imported
    stored = pq.read_table(source_file(data_dir, "ripe"))
    assert stored.schema.equals(STORE_SCHEMA)
    assert stored.num_rows == len(EXPECTED)
    assert set(stored.column("source").to_pylist()) == {"ripe"}
    assert set(stored.column("kind").to_pylist()) == {"ripe"}
    assert set(stored.column("imported").to_pylist()) == {T0}
    assert report.records == {"prefix": 5, "asn": 2}
    assert report.files == tuple(RIPE_FILES)


def test_import_quarantines_problems_as_json_lines(imported: tuple[Path, ImportReport]) -> None:
    data_dir, report = imported
    assert report.quarantine == data_dir / "quarantine" / "contacts" / "ripe.jsonl"
    lines = [json.loads(line) for line in report.quarantine.read_text().splitlines()]
    assert [(Path(x["file"]).name, x["line"], x["reason"]) for x in lines] == PROBLEMS
    assert "this line is not an attribute" in lines[3]["text"]


def test_summary_names_counts_and_problems(imported: tuple[Path, ImportReport]) -> None:
    summary = imported[1].summary()
    assert "5 prefix, 2 asn, 0 country records from 5 files" in summary
    assert "abuse-c not resolved: 1" in summary
    assert "ripe.db.role:48: role without nic-hdl" in summary


def test_reimport_replaces_the_previous_import(imported: tuple[Path, ImportReport]) -> None:
    data_dir, _ = imported
    later = datetime(2026, 12, 1, tzinfo=UTC)
    report = import_ripe(
        data_dir, [CASES / "ripe.db.aut-num.gz", CASES / "ripe.db.role"], now=later
    )
    stored = pq.read_table(source_file(data_dir, "ripe"))
    assert sorted(stored.column("record").to_pylist()) == ["aut-num AS64500 (abuse-c EH2-TEST)"]
    assert set(stored.column("imported").to_pylist()) == {later}
    assert [p.line for p in report.problems] == [24, 48]


def test_an_import_without_records_replaces_nothing(imported: tuple[Path, ImportReport]) -> None:
    data_dir, _ = imported
    before = source_file(data_dir, "ripe").read_bytes()
    with pytest.raises(ValueError, match="no contact records"):
        import_ripe(data_dir, [CASES / "ripe.db.inetnum.gz"])
    assert source_file(data_dir, "ripe").read_bytes() == before


def test_a_clean_reimport_removes_the_quarantine_file(tmp_path: Path) -> None:
    import_ripe(tmp_path, RIPE_FILES, now=T0)
    clean = tmp_path / "role"
    clean.write_text("role: R\nnic-hdl: R1-TEST\nabuse-mailbox: a@b.example\n\n")
    (tmp_path / "aut").write_bytes(b"aut-num: AS1\nabuse-c: R1-TEST\n")
    report = import_ripe(tmp_path, [clean, tmp_path / "aut"], now=T0)
    assert report.quarantine is None
    assert not (tmp_path / "quarantine" / "contacts" / "ripe.jsonl").exists()


def test_the_whole_database_in_one_file_reads_like_the_split_files(
    tmp_path: Path, reader: RipeReader
) -> None:
    whole = tmp_path / "ripe.db.gz"
    parts = [
        gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in RIPE_FILES
    ]
    whole.write_bytes(gzip.compress(b"\n".join(parts)))
    single = RipeReader()
    single.read(whole)
    assert single.records().sort_by("record").equals(reader.records().sort_by("record"))


def test_source_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="source name"):
        import_ripe(tmp_path, RIPE_FILES, source="../elsewhere")


def test_copied_files_with_other_names_still_import(tmp_path: Path) -> None:
    copies = []
    for i, path in enumerate(RIPE_FILES):
        copies.append(tmp_path / f"part{i}")
        shutil.copy(path, copies[-1])
    report = import_ripe(tmp_path / "data", copies, now=T0)
    assert report.records == {"prefix": 5, "asn": 2}

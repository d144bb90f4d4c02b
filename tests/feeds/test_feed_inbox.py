"""A CERT's inbox as it arrives: gzip files, zip archives as Shadowserver mails them, whole
directories, report types botcensus does not read; damaged and hostile archives."""

from __future__ import annotations

import gzip
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from feed_cases import (
    DAMAGED_DIRECTORY,
    damaged_directory,
    fake_enrich,
    sinkhole_row,
    stored_events,
    write_report,
)

import botcensus.feeds.inputs as inputs
import botcensus.feeds.read as feeds_read
from botcensus.cli import main
from botcensus.feeds import ingest

REAL = Path(__file__).parent / "cases" / "intelmq"
HTTP = REAL / "event4_sinkhole_http.csv"
SINKHOLE = REAL / "event4_sinkhole.csv"


def _gz(source: Path, target: Path) -> Path:
    target.write_bytes(gzip.compress(source.read_bytes()))
    return target


def test_a_gzip_report_is_read_as_its_report_type(tmp_path: Path) -> None:
    path = _gz(HTTP, tmp_path / "2021-03-04-event4_sinkhole_http-de.csv.gz")
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.error, report.report_type, report.stored) == (None, "event4_sinkhole_http", 5)


def test_every_report_in_a_zip_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "shadowserver-2021-03-04.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(HTTP, "2021-03-04-event4_sinkhole_http-de.csv")
        z.write(SINKHOLE, "reports/2021-03-04-event4_sinkhole-de.csv")
        z.writestr(
            "2021-03-04-scan_http-de.csv", '"timestamp","ip"\n"2021-03-04 00:00:00","1.2.3.4"\n'
        )
        z.writestr("README.txt", "not a report")
    report = ingest([archive], tmp_path / "data", fake_enrich)
    by_member = {f.member: f for f in report.files}
    assert set(by_member) == {
        "2021-03-04-event4_sinkhole_http-de.csv",
        "reports/2021-03-04-event4_sinkhole-de.csv",
        "2021-03-04-scan_http-de.csv",
    }
    assert by_member["2021-03-04-event4_sinkhole_http-de.csv"].stored == 5
    assert by_member["reports/2021-03-04-event4_sinkhole-de.csv"].stored == 6
    assert by_member["2021-03-04-scan_http-de.csv"].skipped is not None
    assert report.exit_code == 0


def test_a_directory_is_read_with_its_subdirectories(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "2021" / "03").mkdir(parents=True)
    (inbox / "2021" / "03" / "2021-03-04-event4_sinkhole_http-de.csv").write_bytes(
        HTTP.read_bytes()
    )
    _gz(SINKHOLE, inbox / "2021-03-04-event4_sinkhole-de.csv.gz")
    (inbox / ".2021-03-04-event4_sinkhole-partial.csv").write_bytes(SINKHOLE.read_bytes())
    (inbox / "notes.txt").write_text("not a report", encoding="utf-8")
    report = ingest([inbox], tmp_path / "data", fake_enrich)
    assert sorted(f.path.name for f in report.files) == [
        "2021-03-04-event4_sinkhole-de.csv.gz",
        "2021-03-04-event4_sinkhole_http-de.csv",
    ]
    assert report.total("stored") == 11


def test_an_unknown_report_type_in_a_batch_is_skipped_named_and_counted(tmp_path: Path) -> None:
    scan = tmp_path / "2024-05-01-scan_http-de.csv"
    scan.write_text('"timestamp","ip"\n"2024-05-01 00:00:00","1.2.3.4"\n', encoding="utf-8")
    honeypot = tmp_path / "2024-05-01-event4_honeypot_darknet-de.csv"
    honeypot.write_bytes(scan.read_bytes())
    done = CliRunner().invoke(
        main, ["ingest", "--data", str(tmp_path / "data"), str(scan), str(honeypot), str(HTTP)]
    )
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert f"skipped: {scan}: report type 'scan_http' is not one mapping" in done.stdout
    assert sum(line.startswith("skipped:") for line in lines) == 2
    assert "the file name gives no report type" not in done.output
    assert lines[-1].endswith(
        "2 files skipped (report types not read: event4_honeypot_darknet, scan_http)"
    )
    assert "5 stored" in lines[-1]


def test_a_file_whose_name_gives_no_report_type_still_asks_for_feed(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(HTTP.read_bytes())
    error = ingest([path], tmp_path / "data", fake_enrich).files[0].error
    assert error is not None
    assert "the file name gives no report type" in error
    assert "--feed" in error


def test_a_cut_gzip_keeps_the_rows_before_the_cut_and_names_the_file(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    lines = HTTP.read_text(encoding="utf-8").splitlines()
    body = [lines[0]] + [
        lines[1].replace("60902", str(10000 + n)) for n in range(20000)
    ]  # 20,000 distinct rows
    big.write_text("\n".join(body) + "\n", encoding="utf-8")
    data = gzip.compress(big.read_bytes())
    cut = tmp_path / "2021-03-04-event4_sinkhole_http-cut.csv.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    report = ingest([cut, HTTP], tmp_path / "data", fake_enrich)
    assert report.files[0].error is not None
    assert f"{cut}: gzip file cut off" in report.files[0].error
    assert report.files[0].unreadable  # as a zip's: feeds collect records it once
    assert report.files[1].stored == 5
    assert report.exit_code == 2


def test_a_damaged_gzip_is_unreadable_and_nothing_of_it_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a zip member that fails its CRC: the rows read before the damage was found cannot
    be trusted. Before: they were stored, and the error was one like a full disk's, tried
    again at every collect run."""
    monkeypatch.setattr(feeds_read, "BLOCK_SIZE", 64 << 10)  # many batches before the damage
    rows = [sinkhole_row(n) for n in range(20000)]
    plain = write_report(tmp_path / "2024-05-01-event4_sinkhole-bad.csv", rows)
    data = bytearray(gzip.compress(plain.read_bytes()))
    at = len(data) * 2 // 3
    data[at : at + 16] = bytes(16)
    bad = plain.with_name(plain.name + ".gz")
    bad.write_bytes(bytes(data))
    report = ingest([bad, SINKHOLE], tmp_path / "data", fake_enrich)
    damaged, good = report.files
    assert damaged.error is not None
    assert damaged.error.startswith(f"{bad}: not a gzip file that can be read (")
    assert damaged.error.endswith("; nothing of it stored")
    assert damaged.unreadable
    assert (damaged.read, damaged.stored, damaged.quarantine_file) == (0, 0, None)
    assert (good.error, good.stored) == (None, 6)
    assert {e["source_file"] for e in stored_events(tmp_path / "data", volatile=True)} == {
        SINKHOLE.name
    }


def test_a_damaged_zip_is_an_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "reports.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    report = ingest([bad, HTTP], tmp_path / "data", fake_enrich)
    assert report.files[0].error is not None
    assert str(bad) in report.files[0].error
    assert report.files[1].stored == 5


def test_a_zip_member_that_claims_too_much_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inputs, "MAX_MEMBER_BYTES", 1000)  # as a 64 GiB bomb would be
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("2021-03-04-event4_sinkhole_http-x.csv", HTTP.read_bytes() * 3)
    error = ingest([archive], tmp_path / "data", fake_enrich).files[0].error
    assert error is not None
    assert "refused" in error


def test_zip_member_names_cannot_reach_outside(tmp_path: Path) -> None:
    """Members are read in memory, never extracted: a member called ../../x.csv writes
    nothing outside the dataset; its report type comes from its base name."""
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../2021-03-04-event4_sinkhole_http-x.csv", HTTP.read_bytes())
    report = ingest([archive], tmp_path / "data", fake_enrich).files[0]
    assert report.stored == 5
    assert not (tmp_path.parent / "2021-03-04-event4_sinkhole_http-x.csv").exists()
    assert {e["source_file"] for e in stored_events(tmp_path / "data", volatile=True)} == {
        "2021-03-04-event4_sinkhole_http-x.csv"
    }


ENCRYPTED = Path(__file__).parent / "cases" / "hostile" / "2025-03-06-shadowserver-encrypted.zip"
LOCKED = "2025-03-06-event4_sinkhole-de-locked.csv"


def _zip_of(target: Path, method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(target, "w", method) as z:
        z.write(SINKHOLE, LOCKED)
    return target


def _unsupported(target: Path) -> Path:
    """A member compressed with a method Python cannot read (9: deflate64, as Windows'
    Explorer writes large archives): its method in the central directory says so."""
    data = bytearray(_zip_of(target).read_bytes())
    at = data.rfind(b"PK\x01\x02")
    data[at + 10 : at + 12] = (9).to_bytes(2, "little")
    target.write_bytes(bytes(data))
    return target


def _bad_crc(target: Path) -> Path:
    data = bytearray(_zip_of(target).read_bytes())
    at = data.find(b"infected-system") if b"infected-system" in data else data.find(b"tcp")
    data[at] ^= 0x20  # one letter's case: the bytes still read, the CRC fails at the end
    target.write_bytes(bytes(data))
    return target


def _damaged_data(target: Path) -> Path:
    data = bytearray(_zip_of(target, zipfile.ZIP_DEFLATED).read_bytes())
    start = data.find(LOCKED.encode()) + len(LOCKED)  # the local header's name, then the data
    data[start + 20 : start + 60] = b"\xff" * 40
    target.write_bytes(bytes(data))
    return target


def _cut(target: Path) -> Path:
    data = _zip_of(target).read_bytes()
    target.write_bytes(data[: len(data) // 2])  # the central directory is lost
    return target


def _directory(kind: str) -> Callable[[Path], Path]:
    def make(target: Path) -> Path:
        return damaged_directory(_zip_of(target), kind)

    return make


UNREADABLE: dict[str, tuple[Callable[[Path], Path], str | None, str]] = {
    **{kind: (_directory(kind), None, words) for kind, words in DAMAGED_DIRECTORY.items()},
    "encrypted": (lambda t: Path(shutil.copyfile(ENCRYPTED, t)), LOCKED, "is encrypted"),
    "unsupported compression": (_unsupported, LOCKED, "compression method 9"),
    "bad CRC": (_bad_crc, LOCKED, "Bad CRC-32"),
    "damaged data": (_damaged_data, LOCKED, "cannot be read"),
    "cut off": (_cut, None, "not a zip archive that can be read"),
}


@pytest.mark.parametrize("kind", UNREADABLE, ids=UNREADABLE)
def test_an_unreadable_zip_is_an_error_naming_it_and_the_rest_is_read(
    tmp_path: Path, kind: str
) -> None:
    """Before: an encrypted member crashed ingest with RuntimeError (a traceback, no summary,
    sightings left pending); a bad CRC or a method Python cannot read did the same; a damaged
    central directory (version 20.0, a name not UTF-8) stopped the run before any file."""
    make, member, words = UNREADABLE[kind]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    archive = make(inbox / "2025-03-06-aaa-reports.zip")
    (inbox / "2021-03-04-event4_sinkhole_http-de.csv").write_bytes(HTTP.read_bytes())
    report = ingest([inbox], tmp_path / "data", fake_enrich)
    bad, good = sorted(report.files, key=lambda f: f.path != archive)
    label = f"{archive}!{member}" if member else str(archive)
    assert (bad.path, bad.member) == (archive, member)
    assert bad.error is not None
    assert bad.error.startswith(f"{label}: ")
    assert words in bad.error
    assert bad.unreadable
    assert (bad.read, bad.stored, bad.quarantined) == (0, 0, 0)  # nothing of it stored
    assert (good.error, good.stored) == (None, 5)
    assert report.exit_code == 2
    assert report.sightings > 0
    assert not (tmp_path / "data" / "feeds" / "sightings-pending.json").exists()
    assert {e["source_file"] for e in stored_events(tmp_path / "data", volatile=True)} == {
        "2021-03-04-event4_sinkhole_http-de.csv"
    }


def test_ingest_of_a_directory_with_an_encrypted_zip_prints_the_summary(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copyfile(ENCRYPTED, inbox / ENCRYPTED.name)
    (inbox / "2021-03-04-event4_sinkhole_http-de.csv").write_bytes(HTTP.read_bytes())
    done = CliRunner().invoke(main, ["ingest", "--data", str(tmp_path / "data"), str(inbox)])
    assert done.exit_code == 2, done.output
    assert f"error: {inbox / ENCRYPTED.name}!{LOCKED}: zip member is encrypted" in done.stderr
    assert done.stdout.splitlines()[-1].startswith("total: 5 rows read, 5 stored")
    assert "Traceback" not in done.output
    assert not (tmp_path / "data" / "feeds" / "sightings-pending.json").exists()


def test_the_other_members_of_a_zip_with_an_unreadable_one_are_read(tmp_path: Path) -> None:
    archive = tmp_path / "mixed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.write(SINKHOLE, "2021-03-04-event4_sinkhole-a.csv")
        z.write(HTTP, "2021-03-04-event4_sinkhole_http-b.csv")
    data = bytearray(archive.read_bytes())
    at = data.find(b"PK\x01\x02")  # the first member's central directory entry
    data[at + 10 : at + 12] = (9).to_bytes(2, "little")
    archive.write_bytes(bytes(data))
    first, second = ingest([archive], tmp_path / "data", fake_enrich).files
    assert first.unreadable
    assert first.error is not None
    assert f"{archive}!2021-03-04-event4_sinkhole-a.csv" in first.error
    assert (second.error, second.stored) == (None, 5)

"""`botcensus rollup --add-address-key`: version-1 sightings files rewritten as version 2,
every row kept, atomically, idempotently; files it cannot key are left as they were."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.model import ADDRESS_KEY, SCHEMA_KEY, SIGHTING_SCHEMA
from botcensus.store import manifest
from botcensus.store.sighting_key import all_keyed, version_of
from botcensus.store.sightings import sighting_files, write_sightings
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import sketch_days
from botcensus.store.upgrade import add_address_key

SEEN = datetime(2011, 3, 16, 12, tzinfo=UTC)


def _rows(day: date, ips: list[str]) -> pa.Table:
    rows = [
        {"day": day, "source_ip": ip, "bot_id": f"b{i}", "malware_family": "rustock",
         "sensor": "s", "feed_name": "f", "first_seen": SEEN, "last_seen": SEEN, "hits": i + 1,
         "source_cc": "US"}
        for i, ip in enumerate(ips)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


def _downgrade(path: Path, ips: list[str] | None = None) -> None:
    """Make a file what version 1 wrote (optionally with other address text)."""
    table = pq.read_table(path)
    table = table.drop_columns([c for c in ADDRESS_KEY if c in table.column_names])
    if ips is not None:
        table = table.slice(0, len(ips)).set_column(1, "source_ip", pa.array(ips))
    pq.write_table(table.replace_schema_metadata({SCHEMA_KEY: "sightings/1"}), path)


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    """Three days of version-1 sightings, two files on the first day."""
    ips = ["10.0.0.1", "2001:db8::1", "10.0.0.2", "2001:db8::2:0:1"]
    for n in range(3):
        write_sightings(_rows(date(2011, 3, 16 + n), ips[n:]), tmp_path, "sinkhole")
    write_sightings(_rows(date(2011, 3, 16), ["192.0.2.7"]), tmp_path, "feeds")
    for path in sighting_files(tmp_path):
        _downgrade(path)
    return tmp_path


def _texts(files: list[Path]) -> dict[str, list[dict[str, object]]]:
    return {
        str(f): pq.read_table(f)
        .drop_columns([c for c in ADDRESS_KEY if c in pq.read_schema(f).names])
        .to_pylist()
        for f in files
    }


def test_every_file_gets_the_key_and_keeps_its_rows(v1: Path) -> None:
    files = sighting_files(v1)
    before = _texts(files)
    assert not all_keyed(files)
    report = add_address_key(v1)
    assert sorted(report.rewritten) == sorted(files)
    assert report.current == 0
    assert report.problems == ()
    assert all_keyed(files)
    assert _texts(files) == before  # same rows, same order, same values
    for f in files:
        assert version_of(pq.read_schema(f)) == 2
        assert f.stat().st_mode & 0o777 == 0o600
        assert not list(f.parent.glob(".*.tmp"))


def test_a_second_run_changes_nothing(v1: Path) -> None:
    add_address_key(v1)
    stats = {f: f.stat().st_mtime_ns for f in sighting_files(v1)}
    report = add_address_key(v1)
    assert report.rewritten == ()
    assert report.current == len(stats)
    assert {f: f.stat().st_mtime_ns for f in sighting_files(v1)} == stats


def test_a_file_in_other_spellings_is_left_as_it_was(v1: Path) -> None:
    odd = sorted(sighting_files(v1))[-1]
    _downgrade(odd, ["2001:DB8::1", "::ffff:10.0.0.2"])
    raw = odd.read_bytes()
    report = add_address_key(v1)
    assert odd not in report.rewritten
    assert len(report.rewritten) == len(sighting_files(v1)) - 1
    (problem,) = report.problems
    assert str(odd) in problem
    assert "'2001:DB8::1'" in problem
    assert odd.read_bytes() == raw
    assert not all_keyed(sighting_files(v1))  # so the census counts by the text


def test_sketches_stay_current(v1: Path) -> None:
    """The sketch hashes the text, so a rewritten day is not sketched again."""
    first = sketch_days(v1, sketch_sightings)
    assert len(first.days_sketched) == 3
    add_address_key(v1)
    assert sketch_days(v1, sketch_sightings).days_sketched == ()
    sketched = manifest.load(v1, manifest.SKETCHES)
    assert len(sketched.days) == 3


def test_rollup_add_address_key_on_the_command_line(v1: Path) -> None:
    result = CliRunner().invoke(main, ["rollup", "--data", str(v1), "--add-address-key"])
    assert result.exit_code == 0, result.output
    assert "4 sightings files given the address key, 0 had it" in result.stdout
    assert result.stderr.count("rewritten with the address key") == 4
    assert all_keyed(sighting_files(v1))

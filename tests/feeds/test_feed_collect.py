"""`botcensus feeds collect INBOX`: new files read once, changed files again, copies not at
all; safe when run again while running, and after kill -9 mid-ingest (a real process): the
stored events and the census equal one uninterrupted run, nothing counted twice, nothing
skipped."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from feed_cases import DAMAGED_DIRECTORY, damaged_directory, fake_enrich

from botcensus.cli import main
from botcensus.feeds.collect import collect
from botcensus.store import sighting_files
from botcensus.store.feed_events import feed_files
from botcensus.store.layout import COLLECT_STATE

REAL = Path(__file__).parent / "cases" / "intelmq"
HTTP = REAL / "event4_sinkhole_http.csv"


def _report(path: Path, day: int, first: int, rows: int) -> Path:
    """An event4_sinkhole_http report of 2021-03-<day>: real row shapes, hosts
    first..first+rows (so consecutive files overlap where their ranges do)."""
    header, template = HTTP.read_text(encoding="utf-8").splitlines()[:2]
    cells = template.split(",")
    lines = [header]
    for n in range(first, first + rows):
        cells[0] = f'"2021-03-{day:02d} {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"'
        cells[2] = f'"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"'
        cells[3] = str(1024 + n % 60000)
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _state(data: Path) -> dict[str, dict[str, object]]:
    path = data / COLLECT_STATE
    return json.loads(path.read_text(encoding="utf-8"))["files"] if path.exists() else {}


def test_collect_reads_new_files_once(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 50)
    first = collect(inbox, data, fake_enrich, settle=0)
    assert [f.stored for f in first.ingest.files] == [50]
    again = collect(inbox, data, fake_enrich, settle=0)
    assert (again.ingest.files, again.already) == ([], 1)
    _report(inbox / "2021-03-05-event4_sinkhole_http-b.csv", 5, 0, 20)
    third = collect(inbox, data, fake_enrich, settle=0)
    assert ([f.stored for f in third.ingest.files], third.already) == ([20], 1)


def test_a_changed_file_is_read_again_and_a_copy_is_not(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    path = _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 30)
    collect(inbox, data, fake_enrich, settle=0)
    (inbox / "copy-of-2021-03-04-event4_sinkhole_http-a.csv").write_bytes(path.read_bytes())
    copied = collect(inbox, data, fake_enrich, settle=0)
    assert (copied.copies, copied.ingest.files) == (1, [])
    _report(path, 4, 10, 30)  # re-sent with 10 new hosts
    os.utime(path, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))
    changed = collect(inbox, data, fake_enrich, settle=0)
    assert [(f.stored, f.duplicate) for f in changed.ingest.files] == [(10, 20)]


def test_a_touched_file_is_one_read_before_not_a_copy(tmp_path: Path) -> None:
    """Before: after `touch` on the inbox, collect said "0 read before, 2 copies of reports
    read before" and recorded each file as a copy of itself, its counts lost."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    first = _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 30)
    _report(inbox / "2021-03-05-event4_sinkhole_http-b.csv", 5, 0, 20)
    collect(inbox, data, fake_enrich, settle=0)
    recorded = _state(data)
    for path in inbox.iterdir():
        os.utime(path, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))
    touched = collect(inbox, data, fake_enrich, settle=0)
    assert touched.ingest.files == []
    assert (touched.already, touched.touched, touched.copies) == (2, 2, 0)
    assert touched.summary().startswith(
        "collect: 0 reports read, 2 read before (2 of them touched since, content unchanged), "
        "0 copies of reports read before under another name"
    )
    state = _state(data)
    assert state[first.name]["stored"] == recorded[first.name]["stored"] == 30
    assert state[first.name]["mtime_ns"] == first.stat().st_mtime_ns
    again = collect(inbox, data, fake_enrich, settle=0)
    assert (again.already, again.touched, again.copies) == (2, 0, 0)


ENCRYPTED = Path(__file__).parent / "cases" / "hostile" / "2025-03-06-shadowserver-encrypted.zip"


def test_an_unreadable_archive_is_recorded_and_tried_again_only_when_it_changes(
    tmp_path: Path,
) -> None:
    """Before: an encrypted zip in the inbox stopped every cron run with a traceback."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    locked = inbox / "2021-03-04-shadowserver.zip"
    shutil.copyfile(ENCRYPTED, locked)
    _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 30)
    first = collect(inbox, data, fake_enrich, settle=0)
    assert [(f.member, f.stored, f.unreadable) for f in first.ingest.files] == [
        (None, 30, False),
        ("2025-03-06-event4_sinkhole-de-locked.csv", 0, True),
    ]
    assert first.unreadable == [locked]
    assert first.summary().startswith(
        "collect: 1 report read, 1 file that cannot be read (the error recorded: not tried "
        "again until the file changes), 0 read before, "
    )
    assert "is encrypted" in str(_state(data)[locked.name]["error"])
    later = collect(inbox, data, fake_enrich, settle=0)
    assert (later.ingest.files, later.already, later.unreadable_before) == ([], 1, 1)
    assert later.ingest.exit_code == 0
    assert "1 file that could not be read before, unchanged (not tried again" in later.summary()
    os.utime(locked, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))  # touched only
    assert collect(inbox, data, fake_enrich, settle=0).unreadable_before == 1
    with zipfile.ZipFile(locked, "w") as z:  # sent again without a password
        z.write(
            inbox / "2021-03-04-event4_sinkhole_http-a.csv", "2021-03-05-event4_sinkhole_http-x.csv"
        )
    os.utime(locked, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))
    changed = collect(inbox, data, fake_enrich, settle=0)
    assert [(f.error, f.duplicate) for f in changed.ingest.files] == [(None, 30)]
    assert "error" not in _state(data)[locked.name]


def test_collect_says_what_it_did_with_an_unreadable_archive(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    shutil.copyfile(ENCRYPTED, inbox / ENCRYPTED.name)
    args = ["feeds", "collect", str(inbox), "--data", str(data), "--settle", "0"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2, done.output
    assert "zip member is encrypted" in done.stderr
    assert (
        "collect: 0 reports read, 1 file that cannot be read (the error recorded: not tried "
        "again until the file changes)" in done.stdout
    )
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "1 file that could not be read before, unchanged" in again.stdout


@pytest.mark.parametrize("kind", DAMAGED_DIRECTORY)
def test_an_archive_with_a_damaged_directory_is_recorded(tmp_path: Path, kind: str) -> None:
    """Before: ZipFile() raised NotImplementedError ("zip file version 20.0") or
    UnicodeDecodeError out of expand(): every collect run stopped with a traceback before
    reading any file."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    good = _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 30)
    archive = inbox / "2021-03-04-shadowserver.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(good, "2021-03-05-event4_sinkhole_http-x.csv")
    damaged_directory(archive, kind)
    first = collect(inbox, data, fake_enrich, settle=0)
    assert [(f.path, f.member, f.stored, f.unreadable) for f in first.ingest.files] == [
        (good, None, 30, False),
        (archive, None, 0, True),
    ]
    assert first.unreadable == [archive]
    assert str(_state(data)[archive.name]["error"]).startswith(
        f"{archive}: {DAMAGED_DIRECTORY[kind]}"
    )
    later = collect(inbox, data, fake_enrich, settle=0)
    assert (later.ingest.files, later.already, later.unreadable_before) == ([], 1, 1)


def _gz(target: Path, data: bytes) -> Path:
    target.write_bytes(data)
    os.utime(target, ns=(time.time_ns(), time.time_ns() - 5_000_000_000))
    return target


def test_a_damaged_or_cut_gzip_is_recorded_once_as_a_zip_is(tmp_path: Path) -> None:
    """Before: a corrupt .gz was tried again at every run (a corrupt .zip was recorded)."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    source = _report(tmp_path / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 30)
    packed = gzip.compress(source.read_bytes())
    cut = _gz(inbox / "2021-03-04-event4_sinkhole_http-cut.csv.gz", packed[: len(packed) // 2])
    damaged = bytearray(packed)
    damaged[len(packed) // 2 : len(packed) // 2 + 16] = bytes(16)
    bad = _gz(inbox / "2021-03-04-event4_sinkhole_http-bad.csv.gz", bytes(damaged))
    first = collect(inbox, data, fake_enrich, settle=0)
    assert first.unreadable == [bad, cut]
    assert "gzip file cut off" in str(_state(data)[cut.name]["error"])
    assert "not a gzip file that can be read" in str(_state(data)[bad.name]["error"])
    later = collect(inbox, data, fake_enrich, settle=0)
    assert (later.ingest.files, later.unreadable_before) == ([], 2)
    _gz(cut, packed)  # sent again whole
    whole = collect(inbox, data, fake_enrich, settle=0)
    assert [(f.path, f.error, f.stored) for f in whole.ingest.files] == [(cut, None, 30)]


DAY = 86400.0
MARCH_5 = 1614902400.0
"""2021-03-05T00:00:00Z as a POSIX time: the collect runs' clock in the test below."""


def test_rows_dated_ahead_are_stored_by_a_later_run_once_their_time_has_come(
    tmp_path: Path,
) -> None:
    """Before: `feeds collect` never read an unchanged file again, so a row quarantined as
    dated ahead stayed quarantined however late it got (docs/feeds.md said otherwise)."""
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    path = _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 3)
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    ahead = [
        rows[1].replace("2021-03-04", "2021-03-10"),
        rows[2].replace("2021-03-04", "2021-03-12"),
    ]
    path.write_text("\n".join([header, rows[0], *ahead]) + "\n", encoding="utf-8")
    os.utime(path, (MARCH_5 - DAY, MARCH_5 - DAY))
    first = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5)
    assert [(f.stored, f.quarantined) for f in first.ingest.files] == [(1, 2)]
    # the earliest row dated ahead is 2021-03-10 00:00:01: it is taken from 2 days before
    assert _state(data)[path.name]["retry_at"] == "2021-03-08T00:00:01+00:00"
    early = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 3 * DAY)
    assert (early.ingest.files, early.already, early.due) == ([], 1, [])
    due = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 3 * DAY + 1)
    assert due.due == [path]
    assert [(f.stored, f.duplicate, f.quarantined) for f in due.ingest.files] == [(1, 1, 1)]
    assert due.summary().startswith(
        "collect: 1 report read, 1 file read before and again now (rows of theirs quarantined "
        "as dated ahead, whose time has come), 0 read before"
    )
    # the next one, 2021-03-12 00:00:02, from 2021-03-10 00:00:02 (not within a day of this)
    assert _state(data)[path.name]["retry_at"] == "2021-03-10T00:00:02+00:00"
    last = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 6 * DAY)
    assert [(f.stored, f.duplicate, f.quarantine_file) for f in last.ingest.files] == [(1, 2, None)]
    assert "retry_at" not in _state(data)[path.name]
    assert not list((data / "quarantine" / "feeds").glob("*.jsonl"))
    done = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 60 * DAY)
    assert (done.ingest.files, done.already) == ([], 1)


def test_rows_dated_ahead_close_together_read_the_file_again_at_most_once_a_day(
    tmp_path: Path,
) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    path = _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 10, 0, 3)  # 2021-03-10
    os.utime(path, (MARCH_5 - DAY, MARCH_5 - DAY))
    collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 3 * DAY)  # 03-10 00:00:00 stored
    assert _state(data)[path.name]["retry_at"] == "2021-03-09T00:00:00+00:00"
    again = collect(inbox, data, fake_enrich, settle=0, now=MARCH_5 + 4 * DAY)
    assert [(f.stored, f.duplicate) for f in again.ingest.files] == [(2, 1)]


def test_a_file_still_being_written_is_left_for_the_next_run(tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 5)
    now = time.time()
    fresh = collect(inbox, data, fake_enrich, settle=60, now=now)
    assert (len(fresh.settling), fresh.ingest.files) == (1, [])
    later = collect(inbox, data, fake_enrich, settle=60, now=now + 61)
    assert [f.stored for f in later.ingest.files] == [5]


def test_a_second_run_while_one_is_going_does_nothing(tmp_path: Path) -> None:
    from botcensus.feeds.collect import _collect_lock

    inbox, data = tmp_path / "inbox", tmp_path / "data"
    inbox.mkdir()
    _report(inbox / "2021-03-04-event4_sinkhole_http-a.csv", 4, 0, 5)
    with _collect_lock(data):
        done = CliRunner().invoke(
            main, ["feeds", "collect", str(inbox), "--data", str(data), "--settle", "0"]
        )
    assert done.exit_code == 0, done.output
    assert "another collect run is going; nothing done" in done.output
    assert _state(data) == {}


def _events(data: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    files = [str(f) for f in feed_files(data)]
    rows = con.sql(
        "SELECT hex(event_hash), source_ip, time_source FROM read_parquet(?, union_by_name=true) "
        "ORDER BY 1",
        params=[files],
    ).fetchall()
    return [tuple(r) for r in rows]


def _sightings(data: Path) -> list[tuple[object, ...]]:
    rows = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return sorted((str(r["day"]), r["source_ip"], r["hits"]) for r in rows)


def _collect_process(inbox: Path, data: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botcensus",
            "feeds",
            "collect",
            str(inbox),
            "--data",
            str(data),
            "--settle",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_kill_9_mid_collect_then_rerun_counts_nothing_twice_and_skips_nothing(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(12):  # 12 daily reports of 40,000 rows, each overlapping the next by 25 %
        _report(
            inbox / f"2021-03-{n + 1:02d}-event4_sinkhole_http-x.csv", 4 + n // 4, n * 30000, 40000
        )
    reference = tmp_path / "reference"
    assert _collect_process(inbox, reference).wait(timeout=600) == 0
    data = tmp_path / "data"
    rng = random.Random(11)
    kills = 0
    for target in (2, 5, 8):  # kill once the state lists this many files, a moment later
        process = _collect_process(inbox, data)
        deadline = time.monotonic() + 300
        while len(_state(data)) < target and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))  # into the next file's ingest
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
    assert kills == 3  # every run was cut, none finished before the signal
    assert len(_state(data)) < 12
    assert _collect_process(inbox, data).wait(timeout=600) == 0
    assert len(_state(data)) == 12
    assert not list(data.glob("feeds/date=*/.*.tmp"))
    assert _events(data) == _events(reference)
    assert _sightings(data) == _sightings(reference)
    # an independent count: distinct (time, host, port) rows over the whole inbox
    ((expected,),) = (
        duckdb.connect()
        .execute(
            "SELECT count(*) FROM (SELECT DISTINCT timestamp, src_ip, src_port "
            "FROM read_csv($files, all_varchar=true))",
            {"files": [str(p) for p in sorted(inbox.glob("*.csv"))]},
        )
        .fetchall()
    )
    # hosts 0..370,000; the 2 overlaps that cross a day are other events (other times)
    assert len(_events(data)) == expected == 370000 + 2 * 10000
    assert sum(int(str(hits)) for _, _, hits in _sightings(data)) == expected

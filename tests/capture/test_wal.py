"""The write-ahead log: record framing, torn and corrupt tails, segments, the writer."""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botcensus.capture import wal


def _segment(path: Path, *records: bytes, tail: bytes = b"") -> Path:
    path.write_bytes(wal.MAGIC + b"".join(records) + tail)
    return path


def _writer(wal_dir: Path, **overrides: float) -> wal.WalWriter:
    options = {"fsync_interval": 0.01, "segment_seconds": 3600.0, "segment_bytes": 1 << 30}
    options.update(overrides)
    return wal.WalWriter(
        wal_dir,
        "w00",
        fsync_interval=options["fsync_interval"],
        segment_seconds=options["segment_seconds"],
        segment_bytes=int(options["segment_bytes"]),
    )


# -- framing -------------------------------------------------------------------------------
def test_record_is_length_crc_and_msgpack_payload(make_event):
    events = [make_event(), make_event(path="/x")]
    record = wal.encode_record(events)
    length, crc = struct.unpack_from("<II", record)
    payload = record[8:]
    assert length == len(payload)
    assert crc == zlib.crc32(payload)
    assert msgpack.unpackb(payload, raw=False) == events


def test_scan_returns_every_event_of_every_record_in_order(tmp_path, make_event):
    a, b, c = make_event(path="/a"), make_event(path="/b"), make_event(path="/c")
    path = _segment(tmp_path / "s.wal", wal.encode_record([a, b]), wal.encode_record([c]))
    scan = wal.scan_segment(path)
    assert scan.events == [a, b, c]
    assert scan.records == 2
    assert scan.good_bytes == path.stat().st_size
    assert (scan.tail, scan.tail_reason) == (b"", None)


def test_binary_and_null_values_survive_the_round_trip(tmp_path, make_event):
    event = make_event(body_head=b"\x00\xff" * 10, query=None, header_names=[])
    scan = wal.scan_segment(_segment(tmp_path / "s.wal", wal.encode_record([event])))
    assert scan.events == [event]


def test_segment_of_only_the_magic_is_empty_and_clean(tmp_path):
    scan = wal.scan_segment(_segment(tmp_path / "s.wal"))
    assert (scan.events, scan.records, scan.tail, scan.tail_reason) == ([], 0, b"", None)
    assert scan.good_bytes == len(wal.MAGIC)


def test_empty_file_is_empty_and_clean(tmp_path):
    (tmp_path / "s.wal").write_bytes(b"")
    scan = wal.scan_segment(tmp_path / "s.wal")
    assert (scan.events, scan.tail, scan.tail_reason) == ([], b"", None)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(wal.MAGIC[:5], "segment shorter than its header"), (b"NOTAWAL!" + b"x" * 20, "bad magic")],
)
def test_file_without_the_magic_is_all_tail(tmp_path, data, reason):
    (tmp_path / "s.wal").write_bytes(data)
    scan = wal.scan_segment(tmp_path / "s.wal")
    assert scan.events == []
    assert (scan.tail, scan.tail_reason, scan.good_bytes) == (data, reason, 0)


def _tails(record: bytes) -> list[tuple[bytes, str]]:
    bad_crc = record[:4] + struct.pack("<I", zlib.crc32(record[8:]) ^ 1) + record[8:]
    huge = struct.pack("<II", wal.MAX_RECORD_BYTES + 1, 0) + b"x" * 10
    return [
        (record[:3], "torn record header"),
        (record[:-5], f"torn record: {len(record) - 13} of {len(record) - 8} payload bytes"),
        (bad_crc, "record checksum mismatch"),
        (huge, f"record length {wal.MAX_RECORD_BYTES + 1} exceeds {wal.MAX_RECORD_BYTES}"),
    ]


@pytest.mark.parametrize("case", range(4), ids=["header", "payload", "crc", "length"])
def test_torn_or_corrupt_tail_is_reported_and_earlier_records_kept(tmp_path, make_event, case):
    good = [make_event(path="/kept")]
    tail, reason = _tails(wal.encode_record([make_event(path="/lost")]))[case]
    first = wal.encode_record(good)
    scan = wal.scan_segment(_segment(tmp_path / "s.wal", first, tail=tail))
    assert scan.events == good
    assert scan.records == 1
    assert scan.good_bytes == len(wal.MAGIC) + len(first)
    assert (scan.tail, scan.tail_reason) == (tail, reason)


def test_good_record_after_a_corrupt_one_is_not_read(tmp_path, make_event):
    bad = wal.encode_record([make_event(path="/bad")])
    bad = bad[:8] + b"\x00" + bad[9:]
    after = wal.encode_record([make_event(path="/after")])
    scan = wal.scan_segment(_segment(tmp_path / "s.wal", bad, after))
    assert scan.events == []
    assert scan.tail == bad + after


@settings(max_examples=60, deadline=None)
@given(
    batch_sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    cut=st.integers(min_value=0),
)
def test_any_truncation_keeps_exactly_the_complete_records(tmp_path_factory, batch_sizes, cut):
    batches = [[[i, j, f"/{i}/{j}", b"body"] for j in range(n)] for i, n in enumerate(batch_sizes)]
    records = [wal.encode_record(b) for b in batches]
    data = wal.MAGIC + b"".join(records)
    cut %= len(data) + 1
    path = tmp_path_factory.mktemp("cut") / "s.wal"
    path.write_bytes(data[:cut])
    scan = wal.scan_segment(path)
    complete, end = 0, len(wal.MAGIC)
    while complete < len(records) and end + len(records[complete]) <= cut:
        end += len(records[complete])
        complete += 1
    assert scan.events == [e for b in batches[:complete] for e in b]
    assert scan.good_bytes == (end if cut >= len(wal.MAGIC) else 0)
    assert scan.good_bytes + len(scan.tail) == cut
    assert (scan.tail_reason is None) == (cut == end or cut == 0)


# -- segments ------------------------------------------------------------------------------
def test_segments_lists_closed_ones_in_name_order(tmp_path):
    for name in ("w01-b-000001.wal", "w00-a-000002.wal", "w00-a-000001.wal", "w00-c.open"):
        (tmp_path / name).write_bytes(wal.MAGIC)
    (tmp_path / "notes.txt").write_text("x")
    names = [p.name for p in wal.segments(tmp_path, include_open=False)]
    assert names == ["w00-a-000001.wal", "w00-a-000002.wal", "w01-b-000001.wal"]


def test_segments_can_include_open_ones(tmp_path):
    for name in ("w00-a-000001.wal", "w00-a-000002.open"):
        (tmp_path / name).write_bytes(wal.MAGIC)
    names = [p.name for p in wal.segments(tmp_path, include_open=True)]
    assert names == ["w00-a-000001.wal", "w00-a-000002.open"]


def test_segments_of_a_missing_directory_is_empty(tmp_path):
    assert wal.segments(tmp_path / "nope", include_open=True) == []


def test_close_orphans_closes_every_open_segment(tmp_path):
    for name in ("w00-a-000001.open", "w01-a-000001.open", "w00-a-000000.wal"):
        (tmp_path / name).write_bytes(wal.MAGIC)
    closed = wal.close_orphans(tmp_path)
    assert sorted(p.name for p in closed) == ["w00-a-000001.wal", "w01-a-000001.wal"]
    assert not list(tmp_path.glob("*.open"))


def test_close_orphans_with_a_prefix_leaves_other_workers_alone(tmp_path):
    for name in ("w00-a-000001.open", "w01-a-000001.open"):
        (tmp_path / name).write_bytes(wal.MAGIC)
    wal.close_orphans(tmp_path, prefix="w01-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w00-a-000001.open", "w01-a-000001.wal"]


def test_iter_scans_reads_closed_segments_only(tmp_path, make_event):
    _segment(tmp_path / "w00-a-000001.wal", wal.encode_record([make_event(path="/closed")]))
    _segment(tmp_path / "w00-a-000002.open", wal.encode_record([make_event(path="/open")]))
    scans = list(wal.iter_scans(tmp_path))
    assert [p.name for p, _ in scans] == ["w00-a-000001.wal"]
    assert scans[0][1].events == [make_event(path="/closed")]


# -- the writer ----------------------------------------------------------------------------
def test_writer_opens_a_segment_with_the_magic(tmp_path):
    writer = _writer(tmp_path / "wal")
    [path] = list((tmp_path / "wal").iterdir())
    assert path.suffix == wal.OPEN_SUFFIX
    assert path.name.startswith("w00-")
    assert path.read_bytes() == wal.MAGIC
    writer.close()


def test_written_events_are_readable_before_any_fsync(tmp_path, make_event):
    writer = _writer(tmp_path)
    writer.write([make_event(path="/1"), make_event(path="/2")])
    writer.write([make_event(path="/3")])
    [path] = wal.segments(tmp_path, include_open=True)
    assert [e[10] for e in wal.scan_segment(path).events] == ["/1", "/2", "/3"]
    assert writer.events_written == 3
    assert writer.bytes_written == path.stat().st_size - len(wal.MAGIC)
    writer.close()


def test_empty_batch_writes_nothing(tmp_path):
    writer = _writer(tmp_path)
    writer.write([])
    assert writer.bytes_written == 0
    writer.close()
    assert list(tmp_path.iterdir()) == []


def test_close_fsyncs_and_marks_the_segment_closed(tmp_path, make_event):
    writer = _writer(tmp_path)
    writer.write([make_event()])
    writer.close()
    [path] = list(tmp_path.iterdir())
    assert path.suffix == wal.CLOSED_SUFFIX
    assert wal.scan_segment(path).events == [make_event()]
    assert writer.bytes_synced == writer.bytes_written
    assert writer.segments_closed == 1


def test_close_twice_is_harmless(tmp_path, make_event):
    writer = _writer(tmp_path)
    writer.write([make_event()])
    writer.close()
    writer.close()
    assert len(list(tmp_path.iterdir())) == 1


def test_two_writers_never_share_a_segment(tmp_path, make_event):
    first, second = _writer(tmp_path), _writer(tmp_path)
    first.write([make_event(path="/first")])
    second.write([make_event(path="/second")])
    first.close()
    second.close()
    found = sorted(e[10] for _, scan in wal.iter_scans(tmp_path) for e in scan.events)
    assert found == ["/first", "/second"]


async def _run_for(writer: wal.WalWriter, seconds: float) -> None:
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(seconds)
    writer.close()
    await task


def test_run_fsyncs_what_was_written(tmp_path, make_event):
    writer = _writer(tmp_path, fsync_interval=0.01)

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        writer.write([make_event()])
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.bytes_synced == writer.bytes_written:
                break
        assert writer.bytes_synced == writer.bytes_written > 0
        writer.close()
        await task

    asyncio.run(scenario())


def test_run_rotates_an_old_segment(tmp_path, make_event):
    writer = _writer(tmp_path, fsync_interval=0.01, segment_seconds=0.01)

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        writer.write([make_event(path="/old")])
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.segments_closed:
                break
        writer.write([make_event(path="/new")])
        writer.close()
        await task

    asyncio.run(scenario())
    scans = list(wal.iter_scans(tmp_path))
    assert [e[10] for _, scan in scans for e in scan.events] == ["/old", "/new"]
    assert len(scans) == 2
    assert not list(tmp_path.glob("*.open"))


def test_run_rotates_a_large_segment(tmp_path, make_event):
    writer = _writer(tmp_path, fsync_interval=0.01, segment_bytes=100)
    writer.write([make_event(path="/big")])

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer.segments_closed:
                break
        writer.close()
        await task

    asyncio.run(scenario())
    assert writer.segments_closed == 1
    # The empty segment opened by the rotation is removed at close, not left to roll.
    assert [p.suffix for p in tmp_path.iterdir()] == [wal.CLOSED_SUFFIX]


def test_empty_segment_is_never_rotated(tmp_path):
    writer = _writer(tmp_path, fsync_interval=0.01, segment_seconds=0.01)
    asyncio.run(_run_for(writer, 0.1))
    assert writer.segments_closed == 0
    assert list(tmp_path.iterdir()) == []


_FULL_DISK_SCRIPT = """
import resource, signal, sys
from pathlib import Path
from botcensus.capture import wal

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
writer = wal.WalWriter(Path(sys.argv[1]), "w00", fsync_interval=1, segment_seconds=60,
                       segment_bytes=1 << 30)
written = failed = 0
for i in range(200):
    try:
        writer.write([[i, "x" * 100]])
        written += 1
    except OSError:
        failed += 1
print(written, failed)
"""


def test_a_failed_write_leaves_no_partial_record_behind(tmp_path):
    """Disk full mid-record (simulated with RLIMIT_FSIZE in a child process): the segment is
    cut back to its last complete record, so every record written before stays readable."""

    out = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    written, failed = int(out[0]), int(out[1])
    assert written > 0
    assert failed > 0
    (segment,) = tmp_path.glob("*.open")
    scan = wal.scan_segment(segment)
    assert [e[0] for e in scan.events] == list(range(written))
    assert scan.tail == b""
    assert scan.tail_reason is None


# -- record caps (issue 9, item 2) -------------------------------------------------------------
def test_a_huge_batch_is_split_into_records_of_bounded_size(tmp_path, make_event):
    writer = _writer(tmp_path)
    events = [make_event(path=f"/{i}", body_head=b"x" * 1024) for i in range(20_000)]
    writer.write(events)
    writer.close()
    (segment,) = wal.segments(tmp_path, include_open=False)
    data, pos, records = segment.read_bytes(), len(wal.MAGIC), []
    while pos < len(data):
        length, _ = struct.unpack_from("<II", data, pos)
        records.append((length, len(msgpack.unpackb(data[pos + 8 : pos + 8 + length]))))
        pos += 8 + length
    assert len(records) > 1
    assert all(n <= wal.RECORD_MAX_EVENTS for _, n in records)
    assert all(size <= wal.RECORD_MAX_BYTES for size, _ in records)
    assert wal.scan_segment(segment).events == events


def test_an_event_too_large_for_any_record_is_refused_not_written(tmp_path, make_event):
    writer = _writer(tmp_path)
    writer.write([make_event(path="/ok")])
    with pytest.raises(OSError, match="too large"):
        writer.write([make_event(body_head=b"x" * (wal.MAX_RECORD_BYTES + 1))])
    writer.write([make_event(path="/ok2")])
    writer.close()
    (segment,) = wal.segments(tmp_path, include_open=False)
    assert [e[10] for e in wal.scan_segment(segment).events] == ["/ok", "/ok2"]


# -- faults on a real small disk (issue 9, item 4) ---------------------------------------------
def _all_events(wal_dir: Path) -> list:
    found = []
    for path in wal.segments(wal_dir, include_open=True):
        scan = wal.scan_segment(path)
        assert (scan.tail, scan.tail_reason) == (b"", None), path
        found += scan.events
    return found


def test_rotation_on_a_full_disk_keeps_the_old_segment_and_loses_nothing(small_disk, make_event):
    wal_dir = small_disk.root / "wal"
    writer = _writer(wal_dir, fsync_interval=0.01, segment_seconds=0.05)
    written: list = []

    def write(n: int) -> int:
        failed = 0
        for _ in range(n):
            event = make_event(path=f"/{len(written) + failed}", body_head=b"x" * 512)
            try:
                writer.write([event])
                written.append(event)
            except OSError:
                failed += 1
        return failed

    async def scenario() -> int:
        task = asyncio.create_task(writer.run())
        write(50)
        await asyncio.sleep(0.1)
        with small_disk.full():
            failed = write(200)
            await asyncio.sleep(0.3)  # rotations come due and fail
            failed += write(50)
        await asyncio.sleep(0.3)  # rotations succeed again
        failed += write(50)
        assert not task.done()
        writer.close()
        await task
        return failed

    failed = asyncio.run(scenario())
    assert failed > 0
    assert writer.errors > 0
    assert writer.segments_closed >= 2
    assert _all_events(wal_dir) == written


@pytest.mark.parametrize("how", ["readonly", "immutable"], ids=["read-only mount", "chattr +i"])
def test_run_keeps_fsyncing_while_the_log_directory_is_read_only(small_disk, make_event, how):
    wal_dir = small_disk.root / "wal"
    writer = _writer(wal_dir, fsync_interval=0.02, segment_seconds=0.05)

    async def scenario() -> None:
        task = asyncio.create_task(writer.run())
        with getattr(small_disk, how)(wal_dir):
            for i in range(10):
                writer.write([make_event(path=f"/ro{i}")])
                await asyncio.sleep(0.05)
            assert writer.errors > 0  # rotations failed
            closed_while_readonly = writer.segments_closed
            await asyncio.sleep(0.1)
            assert writer.bytes_synced == writer.bytes_written  # the loss bound still holds
        writer.write([make_event(path="/rw")])
        for _ in range(100):
            await asyncio.sleep(0.02)
            if writer.segments_closed > closed_while_readonly:
                break
        assert writer.segments_closed > closed_while_readonly
        assert not task.done()
        writer.close()
        await task

    asyncio.run(scenario())
    assert [e[10] for e in _all_events(wal_dir)] == [*(f"/ro{i}" for i in range(10)), "/rw"]


def test_close_with_a_read_only_directory_keeps_the_segment_for_recovery(small_disk, make_event):
    wal_dir = small_disk.root / "wal"
    writer = _writer(wal_dir)
    writer.write([make_event(path="/kept")])
    with small_disk.readonly(wal_dir):
        writer.close()  # cannot rename: must not raise, must not lose the segment
    assert [p.suffix for p in wal_dir.iterdir()] == [wal.OPEN_SUFFIX]
    wal.close_orphans(wal_dir)
    assert [e[10] for e in _all_events(wal_dir)] == ["/kept"]


# -- close while a background fsync runs (issue 9, item 6) -------------------------------------
def test_close_while_fsyncs_run_never_hits_a_closed_descriptor(tmp_path, make_event):
    async def scenario(i: int) -> None:
        writer = _writer(tmp_path / f"w{i}", fsync_interval=0.0005)
        task = asyncio.create_task(writer.run())
        writer.write([make_event()])
        await asyncio.sleep(0.001 * (i % 7))
        writer.close()
        await task  # raises if a fsync ran on the closed descriptor

    async def many() -> None:
        for i in range(300):
            await scenario(i)

    asyncio.run(many())


def test_write_after_close_is_refused_and_writes_nothing(tmp_path, make_event):
    writer = _writer(tmp_path)
    writer.write([make_event(path="/before")])
    writer.close()
    other = os.open(tmp_path / "someone-elses-file", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="closed"):
            writer.write([make_event(path="/after")])
    finally:
        os.close(other)
    assert (tmp_path / "someone-elses-file").read_bytes() == b""

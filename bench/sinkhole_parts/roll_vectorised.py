"""Experiment, not used by the sinkhole: what a vectorised reader of raw log rows would save.

The roll turns each raw row of a segment into Python objects (msgpack: a tuple and 8 values)
and then into Arrow columns. Here the same segment bytes are read with numpy instead: the
records are walked and checksummed as `wal.scan_segment` does, then every record made only
of raw rows is parsed field by field over all records at once (the k-th row of every record
in one step), and the addresses and request bytes become Arrow arrays over the segment's
own buffer. Run from the repository root:

    .venv/bin/python bench/sinkhole_parts/roll_vectorised.py [--events 100000]
        [--per-record 1] [--repeat 3]

Prints CPU-µs per event of this reader against `scan_segment` plus the transposition, type
checks and column conversions capture/columns.py does today, and checks both give the same
values. It handles the encodings a worker writes (fixint/uint ints, fixstr/str8 strings, nil
proxy peer, bin8/16/32 request bytes) and asserts on anything else: a real reader would hand
such records to the msgpack path.
"""

from __future__ import annotations

import argparse
import gc
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from roll_cost import write_segment

from botcensus.capture import wal

HEAD = struct.Struct("<II")
Ints = np.ndarray


def frames(data: bytes) -> tuple[Ints, Ints]:
    """Start and end of each checksum-valid record payload (the walk scan_segment does)."""
    starts, ends = [], []
    pos, total = len(wal.MAGIC), len(data)
    unpack, crc32, view = HEAD.unpack_from, zlib.crc32, memoryview(data)
    while pos + HEAD.size <= total:
        length, crc = unpack(data, pos)
        start, end = pos + HEAD.size, pos + HEAD.size + length
        if end > total or crc32(view[start:end]) != crc:
            break
        starts.append(start)
        ends.append(end)
        pos = end
    return np.array(starts, np.int64), np.array(ends, np.int64)


def big_endian(buf: Ints, at: Ints, size: int) -> Ints:
    value = np.zeros(len(at), np.int64)
    for k in range(size):
        value = (value << 8) | buf[at + k].astype(np.int64)
    return value


def int_field(buf: Ints, at: Ints) -> tuple[Ints, Ints]:
    """Value and encoded size of a msgpack non-negative int at each offset (size 0: other)."""
    tag = buf[at]
    value = np.full(len(at), -1, np.int64)
    size = np.zeros(len(at), np.int64)
    small = tag < 0x80
    value[small], size[small] = tag[small], 1
    for code, width in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        hit = tag == code
        if hit.any():
            value[hit], size[hit] = big_endian(buf, at[hit] + 1, width), 1 + width
    return value, size


def str_field(buf: Ints, at: Ints, nil: bool = False) -> tuple[Ints, Ints, Ints]:
    """Length and header size of a msgpack str (or nil) at each offset, and which are nil."""
    tag = buf[at]
    length = np.full(len(at), -1, np.int64)
    head = np.zeros(len(at), np.int64)
    fix = (tag >= 0xA0) & (tag <= 0xBF)
    length[fix], head[fix] = tag[fix] & 0x1F, 1
    str8 = tag == 0xD9
    length[str8], head[str8] = buf[at[str8] + 1], 2
    none = (tag == 0xC0) if nil else np.zeros(len(at), np.bool_)
    length[none], head[none] = 0, 1
    return length, head, none


def bin_field(buf: Ints, at: Ints) -> tuple[Ints, Ints]:
    tag = buf[at]
    length = np.full(len(at), -1, np.int64)
    head = np.zeros(len(at), np.int64)
    for code, width in ((0xC4, 1), (0xC5, 2), (0xC6, 4)):
        hit = tag == code
        if hit.any():
            length[hit], head[hit] = big_endian(buf, at[hit] + 1, width), 1 + width
    return length, head


def slices(buffer: pa.Buffer, starts: Ints, ends: Ints) -> pa.Array:
    """Binary array of buffer[starts[i]:ends[i]] (increasing, not overlapping): one copy."""
    n = len(starts)
    offsets = np.empty(2 * n, np.int64)
    offsets[0::2], offsets[1::2] = starts, ends
    spans = pa.Array.from_buffers(
        pa.large_binary(), 2 * n - 1, [None, pa.py_buffer(offsets), buffer]
    )
    return spans.take(pa.array(np.arange(0, 2 * n - 1, 2, dtype=np.int64)))


def decode(data: bytes) -> dict[str, pa.Array]:
    """Columns of every raw row of a segment whose first record is its header."""
    starts, ends = frames(data)
    starts, ends = starts[1:], ends[1:]
    buf = np.frombuffer(data, np.uint8)
    tag = buf[starts]
    count = np.where((tag >= 0x90) & (tag <= 0x9F), tag & 0x0F, 0)
    at = starts + 1
    a16 = tag == 0xDC
    count[a16], at[a16] = big_endian(buf, starts[a16] + 1, 2), starts[a16] + 3
    assert ((count > 0) | (ends - starts <= 1)).all(), "a record other than an array of rows"
    parts: dict[str, list[Ints]] = {k: [] for k in ("key", "t", "l", "sp", "dp", "pn")}
    spans: dict[str, list[Ints]] = {k: [] for k in ("si0", "si1", "di0", "di1", "pp0", "pp1")}
    spans.update(d0=[], d1=[])
    slot = 0
    while (taking := count > slot).any():
        q = at[taking]
        assert (buf[q] == 0x98).all(), "a row that is not a raw row"
        q = q + 1
        found = {}
        for name in ("t", "l", "si", "sp", "di", "dp", "pp", "d"):
            if name in ("t", "l", "sp", "dp"):
                value, size = int_field(buf, q)
                assert (size > 0).all()
                found[name] = value
                q = q + size
            elif name == "d":
                length, head = bin_field(buf, q)
                assert (head > 0).all()
                spans["d0"].append(q + head)
                spans["d1"].append(q + head + length)
                q = q + head + length
            else:
                length, head, none = str_field(buf, q, nil=name == "pp")
                assert (head > 0).all()
                spans[f"{name}0"].append(q + head)
                spans[f"{name}1"].append(q + head + length)
                if name == "pp":
                    found["pn"] = none
                q = q + head + length
        assert (q <= ends[taking]).all()
        for name in ("t", "l", "sp", "dp", "pn"):
            parts[name].append(found[name])
        parts["key"].append(np.flatnonzero(taking) * 65536 + slot)
        at[taking] = q
        slot += 1
    order = np.argsort(np.concatenate(parts["key"]), kind="stable")

    def cat(values: list[Ints]) -> Ints:
        return np.concatenate(values)[order]

    buffer = pa.py_buffer(data)

    def text(name: str, nulls: Ints | None = None) -> pa.Array:
        array = slices(buffer, cat(spans[f"{name}0"]), cat(spans[f"{name}1"]))
        array = array.cast(pa.large_string()).cast(pa.string())  # checks UTF-8
        if nulls is not None:
            array = pc.if_else(pa.array(nulls), pa.scalar(None, pa.string()), array)
        return array

    return {
        "time_received": pa.array(cat(parts["t"])).cast(pa.timestamp("us", tz="UTC")),
        "listener": pa.array(cat(parts["l"])),
        "source_ip": text("si"),
        "source_port": pa.array(cat(parts["sp"]), pa.int32()),
        "destination_ip": text("di"),
        "destination_port": pa.array(cat(parts["dp"]), pa.int32()),
        "proxy_peer_ip": text("pp", cat(parts["pn"])),
        "request": slices(buffer, cat(spans["d0"]), cat(spans["d1"])),
    }


def today(segment: Path) -> tuple[list[tuple[object, ...]], float]:
    """What the roll does today up to the same point; its rows and its CPU seconds."""
    start = time.process_time()
    scan = wal.scan_segment(segment, tuples=True)
    columns = list(zip(*scan.events, strict=True))
    for values in columns:
        set(map(type, values))
    pa.array(columns[0], pa.timestamp("us", tz="UTC"))
    for i in (2, 4, 6):
        pa.array(columns[i], pa.string())
    for i in (3, 5):
        pa.array(columns[i], pa.int32())
    pa.array(columns[7], pa.large_binary())
    return scan.events, time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-record", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botcensus-vec-") as scratch:
        segment = write_segment(Path(scratch), args.events, args.per_record, False)
        gc.disable()
        decode(segment.read_bytes())  # first-call set-up is not the cost per event
        for _ in range(args.repeat):
            start = time.process_time()
            columns = decode(segment.read_bytes())
            used = time.process_time() - start
            rows, before = today(segment)
            print(f"numpy reader {used * 1e6 / args.events:.2f} CPU-µs/event; today's scan + "
                  f"columns {before * 1e6 / args.events:.2f}")  # fmt: skip
        assert columns["source_port"].to_pylist() == [r[3] for r in rows]
        assert columns["source_ip"].to_pylist() == [r[2] for r in rows]
        assert columns["proxy_peer_ip"].to_pylist() == [r[6] for r in rows]
        assert columns["request"].to_pylist() == [r[7] for r in rows]
        assert pa.array(columns["time_received"]).cast(pa.int64()).to_pylist() == [
            r[0] for r in rows
        ]
        print("same values as the msgpack path")
    return 0


if __name__ == "__main__":
    sys.exit(main())

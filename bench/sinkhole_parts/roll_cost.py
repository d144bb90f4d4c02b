"""CPU cost of rolling one write-ahead-log segment into Parquet, per event, on a realistic segment.

The segment is written by the real WAL writer with the rows the worker's fast path logs for
the benchmark's check-ins (wrk's exact request bytes; a new 96-byte body per request unless
`--same-body`), one row per record as in the new-connection shape or many as in keep-alive.
Run from the repository root:

    .venv/bin/python bench/sinkhole_parts/roll_cost.py [--events 200000] [--per-record 1]
        [--repeat 3] [--profile]

Prints process CPU time of `store.events.roll_segment` per event (median and least of the
repeats): figures that move less with other load on the machine than wall time, for
comparing code changes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from botcensus.capture.wal import WalWriter, segments
from botcensus.capture.worker import segment_header
from botcensus.config import ListenerSettings, SinkholeSettings
from botcensus.store.events import roll_segment

HEAD = (
    b"POST /login.php HTTP/1.1\r\nContent-Type: application/octet-stream\r\n"
    b"User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)\r\n"
    b"Connection: close\r\nHost: 127.0.0.1:18731\r\nContent-Length: 96\r\n\r\n"
)
"""What wrk sends for one check-in of the benchmark (captured on loopback)."""


def write_segment(wal_dir: Path, events: int, per_record: int, same_body: bool) -> Path:
    """One closed segment of `events` raw rows, `per_record` rows per log record."""
    settings = SinkholeSettings(listeners=[ListenerSettings(name="main", address="127.0.0.1:0")])
    header = segment_header(settings, settings.listeners)
    writer = WalWriter(
        wal_dir, "w00", fsync_interval=1.0, segment_seconds=1e9, segment_bytes=1 << 40,
        header=header,
    )  # fmt: skip
    rng = random.Random(1)
    body = rng.randbytes(96)
    now = time.time_ns() // 1000
    batch = []
    for i in range(events):
        if not same_body:
            body = rng.randbytes(96)
        port = 1024 + i % 60000
        batch.append((now + i * 20, 0, "127.0.0.1", port, "127.0.0.1", 18731, None, HEAD + body))
        if len(batch) == per_record:
            writer.write(batch)
            batch = []
    writer.write(batch)
    writer.close()
    [segment] = segments(wal_dir, include_open=False)
    return segment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-record", type=int, default=1, help="rows per log record [1]")
    parser.add_argument("--same-body", action="store_true", help="one body for every request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one roll")
    args = parser.parse_args()
    costs = []
    with tempfile.TemporaryDirectory(prefix="botcensus-roll-") as scratch:
        root = Path(scratch)
        # A small roll first: imports and first-call set-up are not the cost per event.
        roll_segment(write_segment(root / "warm", 1000, 1, False), root / "warm-data")
        for rep in range(args.repeat):
            wal_dir, dataset = root / f"wal{rep}", root / f"data{rep}"
            segment = write_segment(wal_dir, args.events, args.per_record, args.same_body)
            size = segment.stat().st_size
            profile = cProfile.Profile() if args.profile and rep == 0 else None
            start = time.process_time()
            if profile is not None:
                profile.enable()
            report = roll_segment(segment, dataset)
            if profile is not None:
                profile.disable()
            used = time.process_time() - start
            assert report.events == args.events, report
            assert report.rows_quarantined == 0, report
            costs.append(used * 1e6 / args.events)
            print(f"roll {rep + 1}: {args.events:,} events ({size / 2**20:.1f} MiB, "
                  f"{args.per_record}/record): {costs[-1]:.2f} CPU-µs per event")  # fmt: skip
            if profile is not None:
                pstats.Stats(profile).sort_stats("tottime").print_stats(25)
            shutil.rmtree(wal_dir)
            shutil.rmtree(dataset)
    print(f"median {statistics.median(costs):.2f}, least {min(costs):.2f} CPU-µs per event")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`botcensus demo`: a real sinkhole on loopback, mixed traffic, and what it recorded."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
from rich.console import Console
from rich.table import Table

from botcensus.model import EVENT_SCHEMA
from botcensus.simulate import traffic
from botcensus.simulate.drive import send
from botcensus.simulate.sinkhole import SinkholeProcess


def run_demo(data_dir: Path | None, *, requests: int = 400, seed: int = 2011) -> int:
    """Run the demo; returns the exit code (non-zero if any answered request went unrecorded)."""
    console = Console()
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="botcensus-demo-"))
    rng = random.Random(seed)
    kinds: Counter[str] = Counter()
    shots = []
    for kind, shot in traffic.mixed(rng, "203.0.113.7", requests):
        kinds[kind] += 1
        shots.append(shot)
    console.print(f"[bold]Sinkhole[/] on 127.0.0.1, recording into {data_dir}")
    with SinkholeProcess(data_dir, ["--listen", "127.0.0.1:0"], workers=2) as sink:
        result = send("127.0.0.1", sink.port, shots, concurrency=16)
    console.print(
        f"Sent {result.sent} requests ({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}); "
        f"{result.answered} answered, {result.no_reply} closed without a reply line."
    )
    from botcensus.store import iter_events

    table = pa.Table.from_batches(list(iter_events(data_dir)), schema=EVENT_SCHEMA)
    recorded = table.num_rows
    families = Counter(f or "(none)" for f in table["malware_family"].to_pylist())
    statuses = Counter(table["status"].to_pylist())
    out = Table(title=f"What the sinkhole recorded: {recorded} events")
    out.add_column("malware.name")
    out.add_column("events", justify="right")
    for family, count in families.most_common():
        out.add_row(family, str(count))
    console.print(out)
    console.print(
        "Replies by status: " + ", ".join(f"{s}: {c}" for s, c in sorted(statuses.items()))
    )
    console.print(f"Read them back with: botcensus events --data {data_dir}")
    return 0 if recorded == result.sent else 1

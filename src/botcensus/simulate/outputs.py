"""Where a simulation goes: straight into the dataset, or through a real sinkhole over HTTP."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from botcensus.simulate.drive import DriveResult
from botcensus.simulate.replay import replay
from botcensus.simulate.simulation import Simulation
from botcensus.store import layout
from botcensus.store.atomic import private_dir
from botcensus.store.sightings import write_sightings

DIRECT_PART = layout.SIMULATED_PART

Step = Callable[[pa.Table], pa.Table]
Progress = Callable[[int], None]


def write_direct(
    sim: Simulation, dataset: object, enrich: Step, *, sensor: str, progress: Progress | None = None
) -> int:
    """Write the run's daily sightings (enriched) into the dataset; returns rows written."""

    root = Path(str(dataset))
    rows = 0
    for batch in sim.sightings(sensor):
        table = enrich(pa.Table.from_batches([batch]))
        write_sightings(table, root, DIRECT_PART)
        rows += table.num_rows
        if progress is not None:
            progress(1)
    private_dir(root / layout.SIGHTINGS)
    return rows


def loopback_port(url: str) -> int:
    """The port of an http://127.x.x.x:PORT or http://[::1]:PORT URL; anything else is refused:
    simulated traffic goes only to this machine."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"--via {url!r}: expected http://127.0.0.1:PORT")
    host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"--via {url!r}: give a loopback IP address, not a name") from None
    if not address.is_loopback:
        raise ValueError(f"--via {url!r}: simulated traffic is only ever sent to loopback")
    if host != "127.0.0.1":
        raise ValueError(f"--via {url!r}: the replay driver speaks to 127.0.0.1 only")
    return parts.port


def counted(
    batches: Iterator[pa.RecordBatch], progress: Progress | None
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if progress is not None:
            progress(batch.num_rows)
        yield batch


def send_http(
    sim: Simulation, port: int, *, concurrency: int = 64, progress: Progress | None = None
) -> DriveResult:
    """Replay every check-in of the run to the sinkhole on 127.0.0.1:`port` (which must run
    with --replay and --proxy-protocol)."""
    return replay(counted(sim.checkins(), progress), port, concurrency=concurrency, seed=sim.seed)

"""Replay simulated check-ins through a real sinkhole over loopback HTTP.

Each check-in is one connection that opens with a PROXY v2 header carrying the simulated bot's
address and, in the replay TLV, its simulated receive time; the sinkhole must run with
`--replay` and `--proxy-protocol` and trust loopback (the default). Rustock check-ins are
sent as Rustock-like POSTs; noise as the GET its path and User-Agent describe.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

import pyarrow as pa

from botcensus.capture.proxy import build_v2
from botcensus.simulate.drive import DriveResult, Shot, http_request, send
from botcensus.simulate.traffic import RUSTOCK_USER_AGENT

# The seized C&C address the simulated bots call (documentation range, RFC 5737).
CNC_ADDRESS = ("198.51.100.10", 80)


def shots(batches: Iterable[pa.RecordBatch], *, seed: int = 0) -> Iterator[Shot]:
    """One Shot per check-in row (columns time_us, source_ip, family, user_agent, path)."""
    rng = random.Random(seed)
    host = CNC_ADDRESS[0]
    for batch in batches:
        cols = batch.to_pydict()
        for t, ip, family, agent, path in zip(
            cols["time_us"], cols["source_ip"], cols["family"], cols["user_agent"], cols["path"],
            strict=True,
        ):  # fmt: skip
            if family == "rustock":
                headers = [("User-Agent", agent or RUSTOCK_USER_AGENT)]
                request = http_request(
                    "POST", path, host=host, headers=headers, body=rng.randbytes(96)
                )
            else:
                headers = [("User-Agent", agent)] if agent else []
                request = http_request("GET", path, host=host, headers=headers)
            src = (ip, rng.randrange(1024, 65536))
            yield Shot(request, build_v2(src, CNC_ADDRESS, replay_time_us=t))


def replay(
    batches: Iterable[pa.RecordBatch], port: int, *, concurrency: int = 64, seed: int = 0
) -> DriveResult:
    """Send every check-in to the sinkhole listening on 127.0.0.1:`port`."""
    return send("127.0.0.1", port, shots(batches, seed=seed), concurrency=concurrency)

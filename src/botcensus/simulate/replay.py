"""Replay simulated check-ins through a real sinkhole over loopback HTTP.

A source's check-ins travel pipelined on one connection that opens with a PROXY v2 header
carrying the simulated bot's address and, in the replay TLV, one simulated receive time per
request; the sinkhole must run with `--replay` and `--proxy-protocol` and trust loopback
(the default). Rustock check-ins are
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


def _request(rng: random.Random, family: str, agent: str, path: str, *, last: bool) -> bytes:
    host = CNC_ADDRESS[0]
    if family == "rustock":
        headers = [("User-Agent", agent or RUSTOCK_USER_AGENT)]
        return http_request(
            "POST", path, host=host, headers=headers, body=rng.randbytes(96), keep_alive=not last
        )
    headers = [("User-Agent", agent)] if agent else []
    return http_request("GET", path, host=host, headers=headers, keep_alive=not last)


def shots(
    batches: Iterable[pa.RecordBatch], *, seed: int = 0, per_connection: int = 256
) -> Iterator[Shot]:
    """Connections that carry the check-ins (columns time_us, source_ip, family, user_agent,
    path): within each batch, a source's check-ins go in time order, up to `per_connection`
    pipelined on one connection whose PROXY header gives each request its time."""
    rng = random.Random(seed)
    for batch in batches:
        table = pa.Table.from_batches([batch]).sort_by(
            [("source_ip", "ascending"), ("time_us", "ascending")]
        )
        cols = table.to_pydict()
        ips, times = cols["source_ip"], cols["time_us"]
        n, i = len(ips), 0
        while i < n:
            j = i + 1
            while j < n and ips[j] == ips[i] and j - i < per_connection:
                j += 1
            body = b"".join(
                _request(
                    rng, cols["family"][k], cols["user_agent"][k], cols["path"][k], last=k == j - 1
                )
                for k in range(i, j)
            )
            header = build_v2(
                (ips[i], rng.randrange(1024, 65536)), CNC_ADDRESS, replay_times_us=times[i:j]
            )
            yield Shot(body, header, requests=j - i)
            i = j


ANSWERED = frozenset({200, 404})
"""Statuses of a sinkhole's listener reply: anything else means it did not take a check-in."""


class ReplayError(RuntimeError):
    """The sinkhole did not take the replayed check-ins as check-ins; `result` says how far
    the replay got before it stopped."""

    def __init__(self, message: str, result: DriveResult) -> None:
        super().__init__(message)
        self.result = result


def replay(
    batches: Iterable[pa.RecordBatch], port: int, *, concurrency: int = 32, seed: int = 0
) -> DriveResult:
    """Send every check-in to the sinkhole listening on 127.0.0.1:`port`. Raises ReplayError
    at the first check-in it refuses or leaves unanswered (a census of a partial replay would
    be wrong without saying so)."""
    result = send(
        "127.0.0.1", port, shots(batches, seed=seed), concurrency=concurrency, expect=ANSWERED
    )
    if result.unexpected is not None:
        target = f"the sinkhole on 127.0.0.1:{port}"
        if result.unexpected == 0:
            why = f"{target} left a check-in unanswered"
        else:
            why = f"{target} answered a check-in with {result.unexpected}, not its reply"
        raise ReplayError(
            f"{why}; replay stopped after {result.sent} check-ins ({result.answered} "
            "answered). It must run with `botcensus sinkhole serve --proxy-protocol --replay` "
            "(replayed bots and times travel in a PROXY v2 header from loopback).",
            result,
        )
    return result

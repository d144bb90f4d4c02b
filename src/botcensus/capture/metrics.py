"""Operator metrics: workers publish counters to shared memory; the supervisor exposes them
to Prometheus on a separate listener (never on the sinkhole ports)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, MutableSequence
from typing import Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from botcensus.capture.reply import Reject

# Per-worker slots in the shared array, in this order, then one slot per reject reason.
SLOTS: Final[tuple[str, ...]] = (
    "requests",
    "bytes_in",
    "connections_open",
    "connections_total",
    "connections_refused",
    "write_errors",
    "events_logged",
    "wal_bytes_written",
    "wal_bytes_synced",
    "wal_last_sync_ms",
    "segments_closed",
    "wal_errors",
    "wal_failing",
    "ready",
)
REJECT_SLOTS: Final[tuple[str, ...]] = tuple(r.value for r in Reject)
WIDTH: Final = len(SLOTS) + len(REJECT_SLOTS)
_INDEX: Final = {name: i for i, name in enumerate(SLOTS)}

Counters = MutableSequence[int]


def publish(
    counters: Counters, worker: int, values: dict[str, int], rejects: dict[str, int]
) -> None:
    """Copy one worker's counters into its block of the shared array."""
    base = worker * WIDTH
    for name, value in values.items():
        counters[base + _INDEX[name]] = value
    for i, reason in enumerate(REJECT_SLOTS):
        counters[base + len(SLOTS) + i] = rejects.get(reason, 0)


def read(counters: Counters, worker: int) -> tuple[dict[str, int], dict[str, int]]:
    """One worker's counters and reject counts."""
    base = worker * WIDTH
    values = {name: counters[base + i] for i, name in enumerate(SLOTS)}
    rejects = {r: counters[base + len(SLOTS) + i] for i, r in enumerate(REJECT_SLOTS)}
    return values, rejects


_COUNTERS: Final[dict[str, tuple[str, str]]] = {
    "requests": ("requests", "HTTP requests recorded as events (every request is recorded)"),
    "bytes_in": ("received_bytes", "Bytes received from clients"),
    "connections_total": ("connections", "Connections accepted"),
    "connections_refused": ("connections_refused", "Connections closed at once: over the limit"),
    "write_errors": ("write_errors", "Requests refused (503) because the log write failed"),
    "events_logged": ("events_logged", "Events written to the write-ahead log"),
    "wal_bytes_written": ("wal_written_bytes", "Bytes written to the write-ahead log"),
    "wal_bytes_synced": ("wal_synced_bytes", "Write-ahead-log bytes made durable by fsync"),
    "segments_closed": ("wal_segments_closed", "Write-ahead-log segments closed for rolling"),
    "wal_errors": ("wal_errors", "Failed fsyncs, rotations and renames of the write-ahead log"),
}


class SinkholeCollector(Collector):
    """Prometheus collector over the shared counters plus the supervisor's own gauges."""

    def __init__(
        self, counters: Counters, workers: int, supervisor: Callable[[], dict[str, float]]
    ) -> None:
        self._counters = counters
        self._workers = workers
        self._supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        prefix = "botcensus_sinkhole_"
        per_worker = [read(self._counters, w) for w in range(self._workers)]
        for slot, (name, doc) in _COUNTERS.items():
            family = CounterMetricFamily(prefix + name, doc, labels=["worker"])
            for w, (values, _) in enumerate(per_worker):
                family.add_metric([str(w)], values[slot])
            yield family
        rejects = CounterMetricFamily(
            prefix + "rejects", "Requests rejected, by reason", labels=["reason"]
        )
        for reason in REJECT_SLOTS:
            rejects.add_metric([reason], sum(r[reason] for _, r in per_worker))
        yield rejects
        now_ms = time.time() * 1000
        open_conns = GaugeMetricFamily(
            prefix + "connections_open", "Open connections", labels=["worker"]
        )
        lag_bytes = GaugeMetricFamily(
            prefix + "wal_lag_bytes", "Logged bytes not yet fsynced", labels=["worker"]
        )
        lag_secs = GaugeMetricFamily(
            prefix + "wal_lag_seconds", "Seconds since the last fsync", labels=["worker"]
        )
        failing = GaugeMetricFamily(
            prefix + "wal_failing",
            "1 while the write-ahead log's latest fsync or rotation failed",
            labels=["worker"],
        )
        for w, (values, _) in enumerate(per_worker):
            failing.add_metric([str(w)], values["wal_failing"])
            open_conns.add_metric([str(w)], values["connections_open"])
            lag_bytes.add_metric([str(w)], values["wal_bytes_written"] - values["wal_bytes_synced"])
            last = values["wal_last_sync_ms"]
            lag_secs.add_metric([str(w)], max(0.0, (now_ms - last) / 1000) if last else 0.0)
        yield from (open_conns, lag_bytes, lag_secs, failing)
        for name, value in self._supervisor().items():
            doc = name.removesuffix("_total").replace("_", " ")
            if name.endswith("_total"):
                yield CounterMetricFamily(prefix + name.removesuffix("_total"), doc, value=value)
            else:
                yield GaugeMetricFamily(prefix + name, doc, value=value)

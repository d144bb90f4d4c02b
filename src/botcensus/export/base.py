"""The renderer interface every export format shares (as cowrie's output plugins share one base
class): host rows and report facts in, file bytes out (`Renderer`, what notify sends); or
stored events streamed out batch by batch (`EventRenderer`, what `botcensus export` and
`botcensus events` write). Also the host rows renderers take and the report facts they print."""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus import ipaddr

HOST_SCHEMA: Final = pa.schema(
    [
        pa.field("day", pa.date32(), nullable=False),
        pa.field("source_ip", pa.string(), nullable=False),
        pa.field("malware_family", pa.string(), nullable=False),
        pa.field("first_seen", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("last_seen", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("hits", pa.int64(), nullable=False),
        pa.field("source_asn", pa.int64()),
        pa.field("source_cc", pa.string()),
        pa.field("source_as_name", pa.string()),
        pa.field("feed_name", pa.string(), nullable=False),
        pa.field("network", pa.string()),
    ]
)
"""What a renderer takes: one row per infected host (source address and malware family) per
UTC day, with the first and last check-in that day and their number (`hits`), the host's
ASN and country (enrichment), the feed that saw it (the sinkhole's own name when it did), and
`network`, the contact record that made the recipient responsible for the address."""


@dataclass(frozen=True, slots=True)
class Party:
    """Who reports: an organisation, its contact address and its domain (XARF `reporter`)."""

    org: str
    email: str
    domain: str


@dataclass(frozen=True, slots=True)
class ReportMeta:
    """Facts about one report that renderers may print; never derived from the host rows."""

    ticket: str
    """The report's ticket number, also in the mail's subject."""
    generated: datetime
    """When the report was planned (UTC); fixed, so rendering again gives the same bytes."""
    period_start: date
    period_end: date
    """The UTC days the hosts were seen on (inclusive)."""
    reporter: Party
    tlp: str
    """Traffic Light Protocol label, lower case: clear, green, amber, amber+strict, red."""


_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_]+")


class Renderer(ABC):
    """One export format: host rows (HOST_SCHEMA) and report facts in, file bytes out.

    A subclass sets `name` (what rules call it), `media_type`, `extension` and `report`
    (the name part of the file, e.g. Shadowserver's report type) and implements `render`.
    Rendering is pure and deterministic: the same rows and facts give the same bytes."""

    name: str
    media_type: str
    extension: str
    report: str
    ip_level: bool = True
    """Whether the output names single addresses (False: counts per network only)."""

    def file_name(self, meta: ReportMeta) -> str:
        """`<last day>-<report>-<ticket>.<ext>`: the Shadowserver naming IntelMQ's parser
        reads the report type from."""
        ticket = _UNSAFE.sub("-", meta.ticket).strip("-") or "report"
        return f"{meta.period_end.isoformat()}-{self.report}-{ticket}{self.extension}"

    @abstractmethod
    def render(self, hosts: pa.Table, meta: ReportMeta) -> bytes:
        """The file's bytes for these host rows."""


EventSource = Literal["feed", "sinkhole"]
"""Which stored table a batch of events comes from: feed events (as store/feed_events.py keeps
them, enriched at ingest) or sinkhole events (EVENT_SCHEMA, with source_cc, source_asn and
source_as_name added by enrichment, null where not enriched)."""


class EventRenderer(ABC):
    """One export format for stored events, streamed: the header, then each batch's bytes as
    the batch comes, so an export of any size runs in bounded memory.

    A subclass sets `name` (what `--format` calls it), `media_type` and `extension`, and
    implements `write`. Rendering is deterministic: the same events give the same bytes,
    whichever command writes them."""

    name: str
    media_type: str
    extension: str

    def header(self) -> bytes:
        """What the output begins with, also when no event matches."""
        return b""

    @abstractmethod
    def write(self, events: pa.Table, source: EventSource, out: BinaryIO) -> None:
        """Write one batch of events from `source` to `out`."""


@functools.cache
def _clock() -> pa.Array:
    """'00:00:00' .. '23:59:59', built on first use (pa.array of a list loads pandas)."""
    return pa.array(
        [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    )


def utc_text(times: pa.Array | pa.ChunkedArray) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS' (UTC, whole seconds) of timestamps in microseconds: the day as
    Arrow writes a date, the time of day from a table of all 86,400 (eight times faster than
    Arrow's strftime, which also appends the microseconds)."""
    micros = np.asarray(times.cast(pa.int64()).to_numpy(zero_copy_only=False))
    day, second = np.divmod(micros // 1_000_000, 86_400)
    dates = pa.array(day.astype(np.int32)).cast(pa.date32()).cast(pa.string())
    return pc.binary_join_element_wise(dates, _clock().take(pa.array(second)), " ")


def sorted_hosts(hosts: pa.Table) -> pa.Table:
    """Rows in the order every renderer writes them: day, address in numeric order (IPv4
    before IPv6, so 10.0.0.9 comes before 10.0.0.10), family."""
    table = hosts.select(HOST_SCHEMA.names)
    if not table.schema.equals(HOST_SCHEMA):
        table = table.cast(HOST_SCHEMA)
    key = pa.table(
        {
            "day": table["day"],
            "address": _address_key(table["source_ip"]),
            "text": table["source_ip"],
            "family": table["malware_family"],
        }
    )
    order = pc.sort_indices(
        key, [(name, "ascending") for name in ("day", "address", "text", "family")]
    )
    return table.take(order)


def _address_key(column: pa.ChunkedArray) -> pa.Array:
    """A 17-byte key per address that sorts numerically: 4 or 6, then the address's bytes
    (an IPv4 address in its last four); what is not an address gets 0xff and sorts last."""
    parsed = ipaddr.parse_ips(ipaddr.as_string_array(column))
    keys = np.full((len(parsed.is_v4), 17), 0xFF, dtype=np.uint8)
    keys[parsed.is_v4, 0] = 4
    keys[parsed.is_v4, 1:] = 0
    keys[parsed.is_v4, 13:] = parsed.v4[parsed.is_v4].astype(">u4").view(np.uint8).reshape(-1, 4)
    keys[parsed.is_v6, 0] = 6
    keys[parsed.is_v6, 1:] = np.frombuffer(parsed.v6[parsed.is_v6].tobytes(), np.uint8).reshape(
        -1, 16
    )
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(17), len(keys), [None, pa.py_buffer(keys.tobytes())]
    )

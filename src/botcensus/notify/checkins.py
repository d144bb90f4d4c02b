"""Check-in rows for messages whose rule says `rows = "check-ins"`: the stored events of
exactly the host-days a message reports (address, malware family and UTC day, between the
row's first and last check-in), read through the export stage's event query (sinkhole and
feed events), at most `max_check_ins` per host-day, the first in time.

A host-day with fewer stored events than its sighting counted lost them (retention deletes
events before sightings; a damaged file is set aside): it is reported as a host-day row, and
the message says the check-in detail of its day is unavailable.

Every message's events are read in one pass over the days they cover, but what a message
lists depends on its own host rows only: two messages may report the same host-day over
different spans (a `threshold` run saw the day so far, a later one the whole day), so events
are matched, counted and capped per range (host-day, first and last check-in), and a message
takes the events of its own ranges, its own counts and its own host rows' ASN and country.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.export import HOST_SCHEMA
from botcensus.export.base import EventSource
from botcensus.export.check_ins import check_in_columns
from botcensus.export.event_query import ExportQuery, feed_batches, sinkhole_batches
from botcensus.export.events import unenriched
from botcensus.ipaddr import canonical_ips

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ENRICHED: Final = ("source_asn", "source_cc", "source_as_name")
_NONE: Final = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class CheckIns:
    """What one message's attachment lists."""

    events: tuple[tuple[EventSource, pa.Table], ...]
    """The check-ins kept, per source (sinkhole events with the host rows' ASN and country)."""
    fallback: pa.Table
    """HOST_SCHEMA rows whose events are no longer stored: reported as host-days."""
    cap: int
    rows: int
    """Check-in rows kept."""
    cut_host_days: int
    """Host-days with more check-ins than `cap`."""
    cut_check_ins: int
    """Check-ins left out of those."""

    @property
    def unavailable_days(self) -> list[date]:
        """Days some host-day of which is reported without its check-ins."""
        return sorted(set(self.fallback["day"].to_pylist()))

    @property
    def unavailable_host_days(self) -> int:
        return int(self.fallback.num_rows)


def _keys(day: pa.Array | pa.ChunkedArray, ip: pa.Array | pa.ChunkedArray,
          family: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:  # fmt: skip
    return pc.binary_join_element_wise(pc.cast(day, pa.string()), ip, family, "|")


def _ranks(codes: np.ndarray) -> np.ndarray:
    """Each element's position among the equal elements before it (0, 1, 2, ...)."""
    if len(codes) == 0:
        return _NONE
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    ranks = np.empty(len(codes), dtype=np.int64)
    ranks[order] = np.arange(len(codes)) - first
    return ranks


def _micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass
class _Found:
    """The events of one source kept in the pass (per range, at most the largest cap of the
    messages reporting it): the first ones read, which are the earliest, since feed_batches
    and sinkhole_batches give events in time order. An event inside two ranges of its
    host-day is kept once for each."""

    tables: list[pa.Table]
    codes: list[np.ndarray]
    """The range of each kept event."""
    times: list[np.ndarray]


@dataclass(frozen=True)
class _Kept:
    """One source's kept events as one table, indexed by range: what each message takes its
    events from without a pass over all of them."""

    table: pa.Table
    codes: np.ndarray
    times: np.ndarray
    by_code: np.ndarray
    """The events' positions ordered by range (stable: in time order within one)."""
    sorted_codes: np.ndarray

    @classmethod
    def of(cls, found: _Found) -> _Kept:
        codes = np.concatenate(found.codes)
        by_code = np.argsort(codes, kind="stable")
        return cls(
            pa.concat_tables(found.tables),
            codes,
            np.concatenate(found.times),
            by_code,
            codes[by_code],
        )

    def of_ranges(self, wanted: np.ndarray) -> np.ndarray:
        """Positions (ascending) of the events of the ranges `wanted` (distinct)."""
        lo = np.searchsorted(self.sorted_codes, wanted, "left")
        reps = np.searchsorted(self.sorted_codes, wanted, "right") - lo
        within = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        return np.sort(self.by_code[np.repeat(lo, reps) + within])


@dataclass(frozen=True)
class _Ranges:
    """Every distinct range of the messages' host rows: a host-day (day, address, family) with
    one first and last check-in. The ranges of one host-day are consecutive."""

    keys: pa.Array
    """The distinct host-day keys (`_keys`)."""
    first: np.ndarray
    last: np.ndarray
    cap: np.ndarray
    """Per range: the most check-ins a message reporting it lists."""
    start: np.ndarray
    count: np.ndarray
    """Per host-day key: its first range and how many it has."""
    of_row: np.ndarray
    """The range of each host row (the messages' rows in order)."""

    @classmethod
    def of(cls, hosts: pa.Table, caps: np.ndarray) -> _Ranges:
        encoded = pc.dictionary_encode(
            _keys(hosts["day"], hosts["source_ip"], hosts["malware_family"])
        ).combine_chunks()
        key = np.asarray(encoded.indices, dtype=np.int64)
        triples = np.stack([key, _micros(hosts["first_seen"]), _micros(hosts["last_seen"])], 1)
        distinct, of_row = np.unique(triples, axis=0, return_inverse=True)
        of_row = np.asarray(of_row, dtype=np.int64).reshape(-1)
        cap = np.zeros(len(distinct), dtype=np.int64)
        np.maximum.at(cap, of_row, caps)
        n_keys = len(encoded.dictionary)
        return cls(
            keys=encoded.dictionary,
            first=distinct[:, 1],
            last=distinct[:, 2],
            cap=cap,
            start=np.searchsorted(distinct[:, 0], np.arange(n_keys)),
            count=np.bincount(distinct[:, 0], minlength=n_keys),
            of_row=of_row,
        )

    def match(self, code: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(event index, range) of each pair of an event (its host-day key's code, -1 for
        none, and its time) and a range of its host-day that holds its time, in event order."""
        events = np.flatnonzero(code >= 0)
        reps = self.count[code[events]]
        pairs = np.repeat(events, reps)
        within = np.arange(len(pairs)) - np.repeat(np.cumsum(reps) - reps, reps)
        ranges = np.repeat(self.start[code[events]], reps) + within
        inside = (time[pairs] >= self.first[ranges]) & (time[pairs] <= self.last[ranges])
        return pairs[inside], ranges[inside]


def read_check_ins(data_dir: Path, messages: Sequence[tuple[pa.Table, int]]) -> list[CheckIns]:
    """The check-ins of each message (its HOST_SCHEMA rows and its cap), in one pass."""
    if not messages:
        return []
    hosts = pa.concat_tables([h.select(HOST_SCHEMA.names).cast(HOST_SCHEMA) for h, _ in messages])
    caps = np.repeat([cap for _, cap in messages], [h.num_rows for h, _ in messages])
    ranges = _Ranges.of(hosts, np.asarray(caps, dtype=np.int64))
    n = len(ranges.cap)
    query = ExportQuery(
        since=_EPOCH + timedelta(microseconds=int(ranges.first.min())),
        until=_EPOCH + timedelta(microseconds=int(ranges.last.max()) + 1),
        families=tuple(sorted(set(hosts["malware_family"].to_pylist()))),
    )
    found = np.zeros(n, dtype=np.int64)
    kept: dict[EventSource, _Found] = {}
    sources: tuple[tuple[EventSource, Iterator[pa.Table]], ...] = (
        ("feed", feed_batches(data_dir, query)),
        ("sinkhole", sinkhole_batches(data_dir, query, unenriched)),
    )
    for source, batches in sources:
        seen = np.zeros(n, dtype=np.int64)
        mine = kept[source] = _Found([], [], [])
        for table in batches:
            columns = check_in_columns(table, source)
            key = _keys(
                pc.cast(columns["time"], pa.date32()),
                canonical_ips(columns["source_ip"]),
                columns["malware_family"],
            )
            code = np.asarray(
                pc.fill_null(pc.index_in(key, value_set=ranges.keys), -1).to_numpy(),
                dtype=np.int64,
            )
            time = _micros(columns["time"])
            rows, codes = ranges.match(code, time)
            keep = _ranks(codes) + seen[codes] < ranges.cap[codes]
            counted = np.bincount(codes, minlength=n)
            seen += counted
            found += counted
            if keep.any():
                mine.tables.append(table.take(pa.array(rows[keep])))
                mine.codes.append(codes[keep])
                mine.times.append(time[rows[keep]])
    indexed = {source: _Kept.of(part) for source, part in kept.items() if part.tables}
    out = []
    offset = 0
    for message_hosts, cap in messages:
        codes = ranges.of_row[offset : offset + message_hosts.num_rows]
        offset += message_hosts.num_rows
        out.append(_message(message_hosts, codes, cap, found, indexed, n))
    return out


def _message(
    hosts: pa.Table,
    codes: np.ndarray,
    cap: int,
    found: np.ndarray,
    kept: dict[EventSource, _Kept],
    n: int,
) -> CheckIns:
    """One message's check-ins: the events of its own ranges (`codes`, one per host row),
    complete where as many were found as its own row counted."""
    hits = np.asarray(hosts["hits"].to_numpy(), dtype=np.int64)
    complete = found[codes] >= hits
    wanted = np.unique(codes[complete])
    row_of = np.full(n, -1, dtype=np.int64)  # the message's host row of each of its ranges
    row_of[codes] = np.arange(len(codes))
    chosen: list[tuple[EventSource, pa.Table, np.ndarray, np.ndarray]] = []
    for source, part in kept.items():
        picked = part.of_ranges(wanted)
        chosen.append(
            (source, part.table.take(pa.array(picked)), part.codes[picked], part.times[picked])
        )
    # the first `cap` check-ins of each host-day, the sinkhole's and the feeds' together
    codes_all = np.concatenate([c for _, _, c, _ in chosen]) if chosen else _NONE
    times_all = np.concatenate([t for _, _, _, t in chosen]) if chosen else _NONE
    order = np.lexsort((times_all, codes_all))
    keep = np.empty(len(order), dtype=bool)
    keep[order] = _ranks(codes_all[order]) < cap
    enrichment = hosts.select(list(_ENRICHED))
    events: list[tuple[EventSource, pa.Table]] = []
    at = 0
    for source, table, part_codes, _ in chosen:
        mine = keep[at : at + len(part_codes)]
        at += len(part_codes)
        table = table.filter(pa.array(mine))
        if source == "sinkhole":  # the message's own host row's ASN and country
            values = enrichment.take(pa.array(row_of[part_codes[mine]]))
            for name in _ENRICHED:
                table = table.set_column(table.schema.get_field_index(name), name, values[name])
        if table.num_rows:
            events.append((source, table))
    over = np.maximum(found[wanted] - cap, 0)
    return CheckIns(
        events=tuple(events),
        fallback=hosts.filter(pa.array(~complete)),
        cap=cap,
        rows=int(keep.sum()),
        cut_host_days=int((over > 0).sum()),
        cut_check_ins=int(over.sum()),
    )

"""Which feed and sinkhole events an export takes: the query (time range, country, ASN,
network prefix, malware family, feed) and the batches of stored events that match it.

Country and ASN are our enrichment (sinkhole events are enriched as they are read), falling
back to what a feed reported. Feed events come in time order, sinkhole events in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.ipaddr import in_prefixes
from botcensus.model import SINKHOLE_FEED_NAME
from botcensus.store import iter_events, layout
from botcensus.store.damaged import read_screened
from botcensus.store.db import connect
from botcensus.store.feed_events import HASH_COLUMN, feed_files
from botcensus.store.feed_sightings import MEMORY_LIMIT

Enrich = Callable[[pa.Table], pa.Table]


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Which events to export; empty tuples mean no filter."""

    since: datetime | None = None
    until: datetime | None = None
    countries: tuple[str, ...] = ()
    asns: tuple[int, ...] = ()
    prefixes: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    include_unclaimed: bool = False
    """Also events no decoder or feed named a malware family for."""
    keep: Callable[[pa.Table], pa.Array] | None = None
    """A further row filter (the web's scope of a network owner): given a batch of events
    (feed events, or enriched sinkhole events), which rows to export."""


@dataclass
class LeftOut:
    """Events the query matched but the export left out, and why."""

    unclaimed: int = 0
    """Without a malware family (sinkhole requests no decoder claimed; feed rows a report
    classes as something other than an infected system); --include-unclaimed exports them."""


def _feed_where(query: ExportQuery, *, unclaimed_only: bool = False) -> tuple[str, list[object]]:
    where: list[str] = ["true"]
    params: list[object] = []
    if query.since is not None:
        where.append("time_source >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("time_source < ?")
        params.append(query.until)
    if unclaimed_only:
        where.append("malware_name IS NULL")
    elif not query.include_unclaimed:
        where.append("malware_name IS NOT NULL")
    filters: list[tuple[str, list[object]]] = [
        ("lower(malware_name)", [f.lower() for f in query.families]),
        ("feed_name", list(query.feeds)),
        ("upper(coalesce(source_cc, reported_cc))", [c.upper() for c in query.countries]),
        ("coalesce(source_asn, reported_asn)", list(query.asns)),
    ]
    for column, values in filters:
        if values:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
    return " AND ".join(where), params


def _prefix_filter(table: pa.Table, query: ExportQuery) -> pa.Table:
    if not query.prefixes or table.num_rows == 0:
        return table
    return table.filter(in_prefixes(table["source_ip"], query.prefixes))


def _kept(table: pa.Table, query: ExportQuery) -> pa.Table:
    if query.keep is None or table.num_rows == 0:
        return table
    return table.filter(query.keep(table))


def feed_batches(
    dataset: Path, query: ExportQuery, batch_rows: int = 65_536, left_out: LeftOut | None = None
) -> Iterator[pa.Table]:
    """Feed events matching the query, in time order (counting those left out)."""
    files = feed_files(dataset)
    if not files:
        return
    where, params = _feed_where(query)
    unclaimed_where, unclaimed_params = _feed_where(query, unclaimed_only=True)
    con = connect(memory_limit=MEMORY_LIMIT, spill=dataset / layout.FEED_SPILL)
    sql = f"SELECT * FROM feed_events WHERE {where} ORDER BY time_source, event_hash"  # noqa: S608

    def start(chosen: list[Path]) -> tuple[pa.RecordBatchReader, pa.RecordBatch] | None:
        # The sort reads every file before the first batch: a damaged one fails here.
        if not chosen:
            return None
        relation = con.read_parquet(
            [str(f) for f in chosen], union_by_name=True, hive_partitioning=False
        )
        relation.create_view("feed_events", replace=True)
        if left_out is not None and not query.include_unclaimed:
            counting = f"SELECT count(*) FROM feed_events WHERE {unclaimed_where}"  # noqa: S608
            ((found,),) = con.sql(counting, params=unclaimed_params).fetchall()
            left_out.unclaimed += int(found)
        reader = con.sql(sql, params=params).to_arrow_reader(batch_rows)
        try:
            return reader, reader.read_next_batch()
        except StopIteration:
            return None

    started, _ = read_screened(dataset, files, start, None, (HASH_COLUMN, "time_source"))
    if started is None:
        return
    reader, first = started
    yield _kept(_prefix_filter(pa.Table.from_batches([first]), query), query)
    for batch in reader:
        yield _kept(_prefix_filter(pa.Table.from_batches([batch]), query), query)


def sinkhole_batches(
    dataset: Path, query: ExportQuery, enrich: Enrich, left_out: LeftOut | None = None
) -> Iterator[pa.Table]:
    """Sinkhole events matching the query, enriched, in time order (counting those left
    out for having no malware family)."""
    if query.feeds and SINKHOLE_FEED_NAME not in query.feeds:
        return
    families = pa.array([f.lower() for f in query.families], pa.string())
    for batch in iter_events(dataset, since=query.since, until=query.until):
        table = pa.Table.from_batches([batch])
        family = pc.utf8_lower(table["malware_family"])
        if not query.include_unclaimed:
            claimed = pc.is_valid(family)
            if left_out is not None:
                unclaimed = _prefix_filter(table.filter(pc.invert(claimed)), query)
                left_out.unclaimed += _kept(_matching(unclaimed, query, enrich), query).num_rows
            table, family = table.filter(claimed), family.filter(claimed)
        if query.families:
            table = table.filter(pc.is_in(family, value_set=families))
        table = _kept(_matching(_prefix_filter(table, query), query, enrich), query)
        if table.num_rows:
            yield table


def _matching(table: pa.Table, query: ExportQuery, enrich: Enrich) -> pa.Table:
    """Sinkhole events enriched, kept where their country and ASN match the query."""
    if table.num_rows == 0:
        return table
    table = enrich(table)
    if query.countries:
        wanted = pa.array([c.upper() for c in query.countries], pa.string())
        table = table.filter(pc.fill_null(pc.is_in(table["source_cc"], value_set=wanted), False))
    if query.asns:
        wanted_asn = pa.array(list(query.asns), pa.int64())
        table = table.filter(
            pc.fill_null(pc.is_in(table["source_asn"], value_set=wanted_asn), False)
        )
    return table

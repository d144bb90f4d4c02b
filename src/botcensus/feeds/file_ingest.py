"""One report file's rows through the mapping, the checks and the store: read batches (a
background thread parses while this one maps), map each batch with one DuckDB SELECT compiled
from the mapping (or read and map a regular CSV file in one statement: feeds/fused.py),
quarantine rejected rows, drop rows already stored, enrich the new ones and write them.
feeds/ingest.py runs it per file and records what happened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds import fused, memo
from botcensus.feeds.identity import identity_hashes
from botcensus.feeds.inputs import Input
from botcensus.feeds.jsonl import jsonl_batches
from botcensus.feeds.mapping import MappingError
from botcensus.feeds.outcome import FileReport
from botcensus.feeds.plan import (
    LINE,
    MISSING,
    RAW,
    REJECT,
    Plan,
    future_limit,
    missing_columns,
    plan,
)
from botcensus.feeds.quarantine import Quarantine
from botcensus.feeds.read import Batch, csv_batches, read_header
from botcensus.feeds.resolve import Source
from botcensus.feeds.vocabulary import CORE, STORED
from botcensus.ipaddr import canonical_ips
from botcensus.model import put_columns
from botcensus.store.db import connect
from botcensus.store.feed_events import HASH_COLUMN, FeedStore
from botcensus.store.feed_sightings import MEMORY_LIMIT
from botcensus.times import LATEST_TIME

Enrich = Callable[[pa.Table], pa.Table]
ZERO_WORDS: Final = pa.array(["0", "unknown"])
OVERLAP_BYTES: Final = 8 << 20
"""From this size the fused read's two pre-scans run side by side (below it, the sample of
few-valued cells is taken only where the file has enough rows for the memo)."""
ENRICHMENT: Final = ("source_cc", "source_asn", "source_as_name", "geo_db")
SHORT_ROW_FIELD: Final = "extra.missing_columns"
"""On an event read from a short row: the columns the row lacked (read as empty)."""


def copy_columns(
    mapped: pa.Table, raw: pa.Table, copied: tuple[tuple[str, str, bool], ...]
) -> pa.Table:
    """Add the columns that pass through unchanged, straight from the batch (no copy), where
    validate_to_none asks for it with '0' and 'unknown' as empty."""
    nothing = pa.scalar(None, pa.string())
    for name, column, to_none in copied:
        values = raw[column]
        if to_none:
            values = pc.if_else(pc.is_in(values, value_set=ZERO_WORDS), nothing, values)
        at = mapped.schema.get_field_index(name)
        if at >= 0:
            mapped = mapped.set_column(at, name, pc.coalesce(mapped[name], values))
        else:
            mapped = mapped.append_column(name, values)
    return mapped


def enrich_distinct(
    enrich: Enrich, table: pa.Table, encoded: pa.DictionaryArray | None = None
) -> pa.Table:
    """The enrichment step run once per distinct source address, spread back to the rows
    (`encoded`: the table's source_ip dictionary-encoded already)."""
    if encoded is None:
        encoded = pc.dictionary_encode(table["source_ip"]).combine_chunks()
    # each distinct address once, as a dictionary column (a lookup need not encode it again)
    distinct = pa.DictionaryArray.from_arrays(
        pa.array(np.arange(len(encoded.dictionary), dtype=np.int32)), encoded.dictionary
    )
    found = enrich(pa.table({"source_ip": distinct}))
    spread = ((name, found[name].combine_chunks().take(encoded.indices)) for name in ENRICHMENT)
    return put_columns(table, spread)


@dataclass
class Run:
    """What the files of one ingest share."""

    dataset: Path
    store: FeedStore
    enrich: Enrich
    started: datetime
    """When the ingest began: rows dated later than FEED_FUTURE_SKEW after it are rejected."""
    published: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def limit(self) -> datetime | None:
        """The latest time.source this ingest stores (None: LATEST_TIME alone bounds it)."""
        return future_limit(self.started)


class FileIngest:
    """One file's rows through the mapping, the checks and the store (module docstring)."""

    def __init__(
        self, path: Input, source: Source, run: Run, report: FileReport, quarantine: Quarantine
    ) -> None:
        self.path, self.source, self.run = path, source, run
        self.report, self.quarantine = report, quarantine
        # One thread: the reader thread has the other core, and DuckDB keeps row order.
        self.con = connect(memory_limit=MEMORY_LIMIT, threads=1)
        self.plans: dict[tuple[str, ...], Plan] = {}
        self.reading: duckdb.DuckDBPyConnection | None = None
        ip_rules = [r.column for r in source.report.required if r.key == "source.ip"]
        self.required_ip = ip_rules[0] if ip_rules else None

    def header(self) -> list[str]:
        columns = read_header(self.path, self.source.mapping.delimiter)
        missing = missing_columns(self.source.report, columns)
        if missing:
            raise MappingError(f"required column(s) missing: {', '.join(missing)}")
        return columns

    def batches(self) -> Iterator[Batch]:
        if self.source.format in ("jsonl", "intelmq"):
            return jsonl_batches(self.path, connect(memory_limit=MEMORY_LIMIT))
        return csv_batches(self.path, self.header(), delimiter=self.source.mapping.delimiter)

    def fused(self) -> Iterator[tuple[Batch, pa.Table]] | None:
        """Read and map in one DuckDB statement where the file is regular (feeds/fused.py);
        None where it cannot be tried."""
        if self.source.format != "csv":
            return None
        columns = self.header()
        source = fused.source_sql(self.path, columns, self.source.mapping.delimiter)
        if source is None:
            return None
        chosen = self.plan(tuple(columns))
        # its own connection: after a fallback, the exact read maps on self.con
        self.reading = connect(memory_limit=MEMORY_LIMIT, threads=1)
        size = self.path.size()
        few: set[str] | None = None
        if size >= OVERLAP_BYTES:
            # the two pre-scans side by side: the line feeds' count (numpy, file reads) and
            # DuckDB's sample of few-valued cells each leave the other core free
            with ThreadPoolExecutor(1, thread_name_prefix="feed-lines") as pool:
                counting = pool.submit(fused.line_feeds, self.path)
                few = memo.few_valued(self.reading, source, columns)
                lines = counting.result()
        else:
            lines = fused.line_feeds(self.path)
        if lines is None:
            self.reading.close()
            self.reading = None
            return None
        once = None  # few-valued cells mapped once per value, in large files
        if lines > memo.MIN_ROWS:
            if few is None:
                few = memo.few_valued(self.reading, source, columns)
            once = memo.Memo(chosen, few)
        batches = fused.fused_batches(self.reading, chosen, source, lines, size, once)
        return ((b, self.finish(m)) for b, m in batches)

    def plan(self, columns: tuple[str, ...]) -> Plan:
        if columns not in self.plans:
            self.plans[columns] = plan(
                self.source.report,
                columns,
                feed_name=self.source.feed_name,
                sensor=self.source.report.provider,
                intelmq_names=self.source.format == "intelmq",
                now=self.run.started,
            )
        return self.plans[columns]

    def map(self, raw: pa.Table) -> pa.Table:
        missing = None
        if MISSING in raw.column_names:
            missing = raw[MISSING]
            raw = raw.drop_columns([MISSING])
        chosen = self.plan(tuple(c for c in raw.column_names if c != LINE))
        # Several record batches let DuckDB scan with all its threads.
        self.con.register("batch", pa.Table.from_batches(raw.to_batches(max_chunksize=8192)))
        try:
            mapped = self.con.sql(chosen.sql).to_arrow_table()
        finally:
            self.con.unregister("batch")
        if not mapped[LINE].equals(raw[LINE]):  # DuckDB keeps the order; make sure
            mapped = mapped.take(pc.array_sort_indices(mapped[LINE]))
        mapped = copy_columns(mapped, raw, chosen.copied)
        if missing is not None:
            mapped = mapped.append_column(SHORT_ROW_FIELD, missing)
        return self.finish(mapped)

    def finish(self, mapped: pa.Table) -> pa.Table:
        """Addresses made canonical; a required source address that is none rejects its row."""
        for name in ("source_ip", "destination_ip"):
            before = mapped[name]
            after = canonical_ips(before, ipv4_checked=True)  # IPv4: checked by ip_sql
            mapped = mapped.set_column(mapped.schema.get_field_index(name), name, after)
            if name == "source_ip" and self.required_ip is not None:
                if after.null_count == before.null_count:
                    continue  # no address refused here (the usual case): nothing to reject
                lost = pc.and_(pc.is_valid(before), pc.is_null(after))
                if (
                    RAW in mapped.column_names
                    and pc.any(pc.and_(lost, pc.is_null(mapped[RAW]))).as_py()
                ):
                    # rejected after the statement, so its cells did not come with it
                    raise fused.IrregularError("an address only Python's parser refuses")
                why = pc.binary_join_element_wise(
                    f'{self.required_ip}: "', before, '" is not an address', ""
                )
                mapped = mapped.set_column(
                    mapped.schema.get_field_index(REJECT),
                    REJECT,
                    pc.if_else(lost, why, mapped[REJECT]),
                )
        return mapped

    def stored_form(self, good: pa.Table, encoded: pa.DictionaryArray) -> pa.Table:
        n = good.num_rows
        columns = {f.column: good[f.column] for f in CORE}
        shared = {"source_ip": encoded}
        columns[HASH_COLUMN] = identity_hashes(good, self.source.report.report_type, shared)
        columns["report_type"] = pa.repeat(pa.scalar(self.source.report.report_type), n)
        columns["source_file"] = pa.repeat(pa.scalar(self.path.name), n)
        columns["source_line"] = good[LINE]
        fixed = {*columns, LINE, REJECT}
        for name in good.column_names:
            if name not in fixed:
                columns[name] = good[name]
        return pa.table(columns)

    def mapped(self, batch: Batch) -> tuple[Batch, pa.Table | None]:
        """A batch and its mapped rows: run in the reader thread, so parsing and mapping use
        one core while storing uses the other."""
        return batch, (self.map(batch.table) if batch.table.num_rows else None)

    def note_future(self, rejected: pa.Table) -> None:
        """Note the earliest time of the rejected rows dated later than the ingest allows
        (and within LATEST_TIME): each is stored by a read from FEED_FUTURE_SKEW before it."""
        limit = self.run.limit
        if limit is None or rejected.num_rows == 0:
            return
        times = rejected["time_source"]
        ahead = pc.and_(pc.greater(times, limit), pc.less(times, LATEST_TIME))
        earliest = pc.min(times.filter(pc.fill_null(ahead, False))).as_py()
        if earliest is not None and (self.report.future is None or earliest < self.report.future):
            self.report.future = earliest

    def batch(self, batch: Batch, mapped: pa.Table | None) -> None:
        raw = batch.table
        self.report.read += raw.num_rows + len(batch.invalid)
        self.report.padded += batch.padded
        self.quarantine.invalid(batch.invalid)
        if mapped is None:
            return
        if mapped[REJECT].null_count < mapped.num_rows:
            rejected = pc.is_valid(mapped[REJECT])
            if RAW in mapped.column_names:  # a fused read: the cells come with the row
                self.quarantine.rejected_cells(mapped.filter(rejected))
            else:
                self.quarantine.rejected(
                    raw.drop_columns([MISSING]) if MISSING in raw.column_names else raw,
                    mapped.filter(rejected),
                )
            self.note_future(mapped.filter(rejected))
            mapped = mapped.filter(pc.invert(rejected))
        if RAW in mapped.column_names:
            mapped = mapped.drop_columns([RAW])
        # one dictionary of the source addresses for the identity hash and the enrichment
        encoded = pc.dictionary_encode(mapped["source_ip"]).combine_chunks()
        good = self.stored_form(mapped, encoded)
        new, days = self.run.store.new_rows(good)
        self.report.duplicate += good.num_rows - new.num_rows
        if new.num_rows == 0:
            return
        enriched = enrich_distinct(self.run.enrich, new, encoded if new is good else None)
        order = [f.column for f in CORE] + [f.name for f in STORED]
        enriched = enriched.select(order + [c for c in enriched.column_names if c not in order])
        self.report.without_source += enriched["source_ip"].null_count
        if self.source.report.infected:
            other = pc.not_equal(enriched["classification_type"], "infected-system")
            self.report.not_infections += int(pc.sum(pc.fill_null(other, True)).as_py() or 0)
        for ours, theirs, counter in (
            ("source_cc", "reported_cc", "cc_disagreements"),
            ("source_asn", "reported_asn", "asn_disagreements"),
        ):
            differ = pc.sum(pc.fill_null(pc.not_equal(enriched[ours], enriched[theirs]), False))
            setattr(self.report, counter, getattr(self.report, counter) + int(differ.as_py() or 0))
        self.run.store.write(enriched, days, self.path.stem[:60])
        self.report.stored += enriched.num_rows

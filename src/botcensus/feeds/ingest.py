"""Ingest report files: map, check, deduplicate, enrich and store their rows as feed events.

Per file: read batches (a background thread parses while this one maps), map each batch with
one DuckDB SELECT compiled from the mapping, quarantine rejected rows, drop rows already
stored, enrich the new ones and write them. Memory holds a few batches and 8 bytes per
stored row of the days the file touches, never the file.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds import fused, memo
from botcensus.feeds.identity import identity_hashes
from botcensus.feeds.inputs import CutOffError, Input, UnreadableError, archive_problem, expand
from botcensus.feeds.jsonl import jsonl_batches
from botcensus.feeds.mapping import Mapping, MappingError
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
from botcensus.feeds.read import (
    Batch,
    ReadError,
    csv_batches,
    prefetch,
    read_header,
)
from botcensus.feeds.resolve import Source, UnknownReportError, resolve
from botcensus.feeds.schema import active as active_schema
from botcensus.feeds.vocabulary import CORE, STORED
from botcensus.ipaddr import canonical_ips
from botcensus.model import put_columns
from botcensus.store import ledger
from botcensus.store.db import connect
from botcensus.store.feed_events import HASH_COLUMN, FeedStore
from botcensus.store.feed_sightings import (
    MEMORY_LIMIT,
    add_new_events,
    clear_pending,
    finish_pending,
    mark_pending,
    pending_days,
)
from botcensus.times import LATEST_TIME

Enrich = Callable[[pa.Table], pa.Table]
Progress = Callable[[Path, int, int], None]
ZERO_WORDS: Final = pa.array(["0", "unknown"])
OVERLAP_BYTES: Final = 8 << 20
"""From this size the fused read's two pre-scans run side by side (below it, the sample of
few-valued cells is taken only where the file has enough rows for the memo)."""
COUNTS: Final = (
    "read",
    "stored",
    "duplicate",
    "without_source",
    "cc_disagreements",
    "asn_disagreements",
    "padded",
    "not_infections",
)
ENRICHMENT: Final = ("source_cc", "source_asn", "source_as_name", "geo_db")
SHORT_ROW_FIELD: Final = "extra.missing_columns"
"""On an event read from a short row: the columns the row lacked (read as empty)."""


@dataclass
class FileReport:
    """What ingesting one file did. Rows read = stored + duplicate + quarantined."""

    path: Path
    member: str | None = None
    """The report's name inside a zip archive."""
    report_type: str | None = None
    feed_name: str | None = None
    mapping: str | None = None
    read: int = 0
    stored: int = 0
    duplicate: int = 0
    quarantined: int = 0
    without_source: int = 0
    cc_disagreements: int = 0
    asn_disagreements: int = 0
    padded: int = 0
    """Short rows (fewer cells than the header) read with the missing cells empty."""
    not_infections: int = 0
    """Stored events of an infected-host report that the report classes otherwise (legacy
    drone `spam` rows): no malware family, so not in the census."""
    quarantine_file: Path | None = None
    """Where this ingest's rejected rows of the file are (None: it quarantined none; an
    earlier ingest's file, if any, is then left as it was unless the file was read whole)."""
    future: datetime | None = None
    """The earliest time of a row quarantined for being later than FEED_FUTURE_SKEW after
    the ingest began: reading the file again from FEED_FUTURE_SKEW before it stores the row
    (feeds collect does: collect.py)."""
    error: str | None = None
    unreadable: bool = False
    """The error is that the file's bytes cannot be read (an encrypted, damaged or cut-off zip
    archive or member, a damaged or cut-off .gz file): reading it again gives the same error
    until the file changes. Nothing of it is stored, except the rows of a .gz file before
    its cut (CutOffError)."""
    skipped: str | None = None
    """Why the file was skipped (a report type botcensus does not read)."""
    reader: str | None = None
    """How the rows were read: 'duckdb' (a regular CSV file, read and mapped in one DuckDB
    statement: feeds/fused.py) or 'exact' (batch by batch, every irregular row kept)."""
    reread: str | None = None
    """Why a file tried with DuckDB's reader was read again with the exact one."""

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member is not None else str(self.path)


@dataclass
class IngestReport:
    """All files of one ingest run, and the sightings written for their days."""

    files: list[FileReport] = field(default_factory=list)
    days: tuple[str, ...] = ()
    sightings: int = 0
    sightings_error: str | None = None
    """Why the sightings of the stored events could not be written (the days stay pending
    and the next ingest writes them)."""
    rebuilt_days: tuple[str, ...] = ()
    """Days an earlier ingest left pending, whose sightings this one rebuilt first."""
    rebuilt: int = 0
    """The sightings written for those days."""

    def total(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def skipped(self) -> list[FileReport]:
        return [f for f in self.files if f.skipped]

    @property
    def exit_code(self) -> int:
        """0: every row stored or a duplicate; 1: some rows quarantined; 2: a file failed."""
        if any(f.error for f in self.files) or self.sightings_error:
            return 2
        return 1 if self.total("quarantined") else 0


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
class _Run:
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


class _FileIngest:
    def __init__(
        self, path: Input, source: Source, run: _Run, report: FileReport, quarantine: Quarantine
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


def ingest(
    paths: list[Path],
    dataset: Path,
    enrich: Enrich,
    *,
    mapping: str | Path | Mapping | None = None,
    feed: str | None = None,
    on_progress: Progress | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Ingest report files (also .gz, .zip members and whole directories) into `dataset`; a
    file that fails is reported and the others go on; a report type botcensus does not read
    is skipped and counted. `on_file` is called after each file is committed. `now` (default:
    the clock) is when the ingest began, for the rows dated in the future (times.py): a
    datetime with a time zone (a naive one raises ValueError before anything is read)."""
    result = IngestReport()
    started = datetime.now(UTC) if now is None else now
    future_limit(started)  # refuses a naive `now`
    run = _Run(dataset, FeedStore(dataset, uuid.uuid4().hex[:8]), enrich, started)
    lock = run.store.lock()
    try:
        run.store.clean_temporaries()
        # a crash (or a failure) between storing events and their sightings
        try:
            result.rebuilt_days, result.rebuilt = finish_pending(dataset)
        except (OSError, duckdb.Error) as exc:
            # the mark stays; reading on would overwrite it with this run's days only
            days = ", ".join(sorted(pending_days(dataset)))
            result.sightings_error = (
                f"the sightings of days an earlier ingest left pending ({days}) could not be "
                f"rebuilt ({exc}); no file was read: run the ingest again once this is fixed"
            )
            return result
        touched: set[str] = set()
        default = active_schema(dataset) if mapping is None else None
        for item in expand(paths):
            report = FileReport(item.path, item.member)
            result.files.append(report)
            self_file = _one_file(item, report, run, mapping, feed, default, on_progress)
            touched.update(self_file)
            mark_pending(dataset, touched)
            for day, files in run.store.commit().items():
                run.published.setdefault(day, []).extend(files)
            if on_file is not None:
                on_file(report)
        result.days = tuple(sorted(touched))
        # The retention clock of a feed day starts at the last ingest that stored rows of it.
        ledger.stamp(dataset, "feeds", sorted(run.published), datetime.now(UTC))
        try:
            result.sightings = add_new_events(dataset, run.published, run.store.written)
        except (OSError, duckdb.Error) as exc:
            result.sightings_error = f"sightings not written ({exc}); the next ingest writes them"
            return result
        clear_pending(dataset)
    finally:
        os.close(lock)
    return result


def _one_file(
    item: Input,
    report: FileReport,
    run: _Run,
    mapping: str | Path | Mapping | None,
    feed: str | None,
    default: Mapping | None,
    on_progress: Progress | None,
) -> set[str]:
    """Read one report into the run's open files (committed by the caller); the days it
    wrote rows of. Errors are recorded on `report`, never raised."""
    if item.member is None and item.name.lower().endswith(".zip"):
        problem = archive_problem(item.path)  # a zip archive expand() could not open
        report.error = f"{item.label}: {problem}"
        report.unreadable = isinstance(problem, UnreadableError)
        return set()
    try:
        source = resolve(item.name, mapping, feed, default)
    except UnknownReportError as exc:
        report.skipped = str(exc)
        return set()
    except MappingError as exc:
        report.error = f"{item.label}: {exc}"
        return set()
    quarantine = Quarantine(run.dataset, Path(item.label))
    before = run.store.mark()
    whole = False  # read to its end: its rejected rows replace an earlier ingest's
    try:
        report.report_type = source.report.report_type
        report.feed_name, report.mapping = source.feed_name, source.mapping.name
        work = _FileIngest(item, source, run, report, quarantine)
        size = item.size()

        def take(batches: Iterator[tuple[Batch, pa.Table | None]]) -> None:
            for batch, mapped in prefetch(batches):
                work.batch(batch, mapped)
                if on_progress is not None:
                    on_progress(item.path, min(batch.position, size), size)

        first = work.fused()
        if first is not None:
            mark = run.store.mark()
            try:
                report.reader = "duckdb"
                take(first)
                whole = True
                return run.store.days()
            except fused.IrregularError as why:  # read it again, exactly; nothing of it is kept
                if work.reading is not None:
                    work.reading.close()
                run.store.rollback(mark)
                quarantine.discard()
                _clear(report)
                report.reread = str(why)
        report.reader = "exact"
        take(work.mapped(b) for b in work.batches())
        whole = True
    except UnreadableError as exc:  # its rows, if any were read, are not to be trusted
        run.store.rollback(before)
        quarantine.discard()
        _clear(report)
        report.error = f"{item.label}: {exc}; nothing of it stored"
        report.unreadable = True
    except CutOffError as exc:  # the rows before the cut are as sent: kept
        report.error = f"{item.label}: {exc}; the rows before the cut are kept ({report.read} read)"
        report.unreadable = True
    except (
        OSError,
        EOFError,
        zlib.error,
        ReadError,
        MappingError,
        pa.ArrowInvalid,
        duckdb.Error,
    ) as exc:
        report.error = f"{item.label}: {exc}"
    finally:
        # Only a whole read replaces (or removes) an earlier ingest's rejected rows; a read
        # that stopped adds to them, one that stored nothing (or an exception on its way
        # out, whose rows are not committed) leaves them as they were.
        if whole:
            report.quarantine_file = quarantine.publish()
        elif report.error is not None:
            report.quarantine_file = quarantine.add()
        else:
            quarantine.discard()
        report.quarantined = quarantine.count
    return run.store.days()


def _clear(report: FileReport) -> None:
    """Nothing of the file is kept: its counts start again from zero."""
    for name in COUNTS:
        setattr(report, name, 0)
    report.future = None

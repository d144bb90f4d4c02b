"""Stream report files as batches of text cells with their line numbers, in bounded memory.

CSV goes through pyarrow's streaming reader (every column as bytes, decoded as UTF-8, or
Latin-1 where a value is not UTF-8: one odd byte costs nothing but its own cell's decoding).
JSON lines are read one line per row the same way (feeds/jsonl.py). Rows the parser cannot
take (wrong number of cells, a truncated last line) come back as `Invalid` with their line;
the others are read.
"""

from __future__ import annotations

import codecs
import csv
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.feeds.inputs import Input
from botcensus.feeds.plan import LINE, MISSING, unreserved

BLOCK_SIZE: Final = 32 << 20
READ_AHEAD: Final = 2
"""Blocks pyarrow may read beyond the batches handed out (memory: about 3 blocks of rows)."""
HEADER_PEEK: Final = 1 << 20
TAIL_BYTES: Final = 1 << 16
T = TypeVar("T")


class ReadError(Exception):
    """The file cannot be read at all."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line the parser could not turn into a row."""

    line: int | None
    reason: str
    text: str


@dataclass(slots=True)
class Batch:
    """Rows as text columns plus __line, the rows the parser rejected, the bytes consumed."""

    table: pa.Table
    invalid: list[Invalid]
    position: int
    padded: int = 0
    """Short rows read with their missing trailing cells empty (flagged in MISSING)."""
    last_short: int = -1
    """The line number of the last padded row (-1: none)."""


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_header(source: Input | Path, delimiter: str = ",") -> list[str]:
    """The CSV header's column names (duplicates and names botcensus reserves numbered), BOM
    and encoding handled: each name is decoded on its own (UTF-8, else Latin-1), so a byte
    elsewhere in the first MiB does not change how the header reads."""
    with (source if isinstance(source, Input) else Input(source)).open() as f:
        head = f.read(HEADER_PEEK)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReadError("UTF-16 text (byte-order mark); save the report as UTF-8")
    head = head.removeprefix(codecs.BOM_UTF8)
    if not head.strip():
        raise ReadError("empty file")
    text = head.decode("utf-8", errors="surrogateescape")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    names: list[str] = []
    for cell in first:
        raw = _decode(cell.encode("utf-8", errors="surrogateescape"))
        names.append(unreserved(raw.strip(), names))
    if not any(names):
        raise ReadError("no header row")
    return names


def to_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Bytes as UTF-8 text; values that are not UTF-8 are read as Latin-1 (one Python decode
    per distinct such value)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    try:
        return array.cast(pa.string())
    except pa.ArrowInvalid:
        encoded = pc.dictionary_encode(array)
        values = [_decode(v) if v is not None else None for v in encoded.dictionary.to_pylist()]
        return pa.array(values, pa.string()).take(encoded.indices)


class _Throttled(io.RawIOBase):
    """A stream pyarrow may read only `allowed` bytes of: its streaming reader otherwise reads
    ahead as fast as the disk allows, and a slow consumer would hold the file in memory. Keeps
    the last bytes read, so the end of a compressed stream can be checked for truncation."""

    def __init__(self, stream: IO[bytes], allowed: int) -> None:
        super().__init__()
        self.file = stream
        self.position = 0
        self.allowed = allowed
        self.changed = threading.Condition()
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self.changed:
            while self.position >= self.allowed and not self.closed:
                self.changed.wait()
        view = memoryview(buffer).cast("B")
        data = self.file.read(len(view))
        n = len(data)
        view[:n] = data
        self.position += n
        if n:
            self.tail = (self.tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        return n

    def allow(self, allowed: int) -> None:
        with self.changed:
            self.allowed = max(self.allowed, allowed)
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            super().close()
            self.changed.notify_all()
        self.file.close()


@dataclass(frozen=True, slots=True)
class _Short:
    """A row with fewer cells than the header (legacy reports have them): read as IntelMQ's
    csv.DictReader reads it, the missing trailing cells empty."""

    line: int
    text: str
    cells: int


class _Lines:
    """Line numbers of the rows a serial pyarrow reader yields: every record number not taken
    by a rejected row, in order (the reader reports rejected rows as it meets them)."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.skipped: list[int] = []
        self.invalid: list[Invalid] = []
        self.short: list[_Short] = []
        self.last_seen = first - 1

    def handler(self, expected: int, pad: bool) -> Callable[[pacsv.InvalidRow], str]:
        def on_invalid(row: pacsv.InvalidRow) -> str:
            number = row.number
            if number is not None:
                self.skipped.append(number)
                self.last_seen = max(self.last_seen, number)
            if pad and number is not None and 0 < row.actual_columns < expected:
                self.short.append(_Short(number, row.text, row.actual_columns))
                return "skip"
            reason = f"{row.actual_columns} cells where the header has {expected}"
            self.invalid.append(Invalid(number, reason, row.text))
            return "skip"

        return on_invalid

    def take(self, n: int) -> np.ndarray:
        pending = np.array([s for s in self.skipped if s >= self.next], dtype=np.int64)
        candidates = np.arange(self.next, self.next + n + len(pending), dtype=np.int64)
        lines = candidates[~np.isin(candidates, pending)][:n]
        if n:
            self.next = int(lines[-1]) + 1
            self.last_seen = max(self.last_seen, int(lines[-1]))
        self.skipped = [s for s in self.skipped if s >= self.next]
        return lines

    def drain(self) -> tuple[list[Invalid], list[_Short]]:
        out, self.invalid = self.invalid, []
        short, self.short = self.short, []
        return out, short


def _padded(
    short: list[_Short], columns: list[str], delimiter: str, quoting: bool
) -> pa.Table | None:
    """Short rows as rows: their cells, the missing trailing ones empty, and MISSING naming
    the columns they lacked."""
    if not short:
        return None
    values: dict[str, list[str | None]] = {c: [] for c in columns}
    missing: list[str] = []
    for row in short:
        quote = '"' if quoting else None
        parsed = next(csv.reader([row.text], delimiter=delimiter, quotechar=quote), [])
        cells = [_decode(c.encode("utf-8", errors="surrogateescape")) for c in parsed]
        cells += [""] * (len(columns) - len(cells))
        for name, cell in zip(columns, cells, strict=False):
            values[name].append(cell or None)
        missing.append(",".join(columns[row.cells :]))
    arrays = [pa.array(values[c], pa.string()) for c in columns]
    lines = pa.array([r.line for r in short], pa.int64())
    return pa.Table.from_arrays(
        [*arrays, lines, pa.array(missing, pa.string())], names=[*columns, LINE, MISSING]
    )


def _with_padded(table: pa.Table, padded: pa.Table | None) -> pa.Table:
    if padded is None:
        return table
    if MISSING not in table.column_names:
        table = table.append_column(MISSING, pa.nulls(table.num_rows, pa.string()))
    merged = pa.concat_tables([table, padded.select(table.column_names)])
    return merged.take(pc.sort_indices(merged[LINE]))


@dataclass(frozen=True, slots=True)
class _End:
    """How the stream ended: whether its last line is cut off (no line end, and the line is
    short or inside an open quote)."""

    clean: bool
    last_text: str

    @staticmethod
    def of(tail: bytes) -> _End:
        if not tail or tail.endswith(b"\n"):
            return _End(True, "")
        last = tail.rsplit(b"\n", 1)[-1].rstrip(b"\r")
        return _End(False, _decode(last))


TRUNCATED: Final = "truncated last line: the file ends inside it"


def _cut_last(batch: Batch, end: _End, last_line: int, quoting: bool) -> Batch:
    """The last batch with a cut-off last line quarantined once, under its own line number.
    A last line without a line end is cut off if the parser found it short or in an open
    quote; a complete last line without a line end is kept."""
    if end.clean:
        return batch
    invalid = [i for i in batch.invalid if i.line != last_line]
    cut_short = batch.last_short == last_line
    cut = len(invalid) < len(batch.invalid) or cut_short
    if not cut and quoting and end.last_text.count('"') % 2 == 1:
        cut = True  # an open quote the parser closed at the end of the stream
    if not cut:
        return batch
    table = batch.table.filter(pc.not_equal(batch.table[LINE], last_line))
    invalid.append(Invalid(last_line, TRUNCATED, end.last_text))
    return Batch(table, invalid, batch.position, batch.padded - int(cut_short))


def csv_batches(
    source: Input | Path,
    columns: list[str],
    *,
    delimiter: str = ",",
    quoting: bool = True,
    header: bool = True,
    pad_short: bool = True,
    block_size: int | None = None,
) -> Iterator[Batch]:
    """Rows of a delimited file (after its header line), as text columns plus __line (and
    MISSING where a short row was padded). The batch holding the last line is kept back one
    step, so a cut-off last line is found once and quarantined under its own number."""
    lines = _Lines(first=2 if header else 1)
    block = block_size or BLOCK_SIZE
    stream = _Throttled((source if isinstance(source, Input) else Input(source)).open(), 0)
    stream.allow(READ_AHEAD * block)
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(
            use_threads=False,
            block_size=block,
            column_names=columns,
            skip_rows=1 if header else 0,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"' if quoting else False,
            escape_char=False,
            ignore_empty_lines=False,
            invalid_row_handler=lines.handler(len(columns), pad_short),
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.binary() for c in columns},
            null_values=[""],  # an empty cell is no value; "null" or "N/A" are text
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    held: Batch | None = None
    try:
        for n, record_batch in enumerate(reader, start=1):
            texts = [to_text(c) for c in record_batch.columns]
            numbers = pa.array(lines.take(record_batch.num_rows))
            table = pa.Table.from_arrays([*texts, numbers], names=[*columns, LINE])
            stream.allow((n + READ_AHEAD) * block)
            invalid, short = lines.drain()
            batch = _batch(table, invalid, short, stream.position, columns, delimiter, quoting)
            if held is not None:
                yield held
            held = batch
    except pa.ArrowInvalid as exc:
        raise ReadError(f"stopped after line {lines.last_seen}: {exc}") from None
    finally:
        stream.close()
    empty = pa.table(
        {**{c: pa.array([], pa.string()) for c in columns}, LINE: pa.array([], pa.int64())}
    )
    invalid, short = lines.drain()
    rest = _batch(empty, invalid, short, stream.position, columns, delimiter, quoting)
    last = rest if held is None else _merge(held, rest)
    yield _cut_last(last, _End.of(stream.tail), lines.last_seen, quoting)


def _batch(
    table: pa.Table,
    invalid: list[Invalid],
    short: list[_Short],
    position: int,
    columns: list[str],
    delimiter: str,
    quoting: bool,
) -> Batch:
    padded = _padded(short, columns, delimiter, quoting)
    last = max([s.line for s in short], default=-1)
    merged = _with_padded(_drop_blank(table), padded)
    batch = Batch(merged, invalid, position, len(short))
    batch.last_short = last
    return batch


def _merge(first: Batch, second: Batch) -> Batch:
    if second.table.num_rows == 0 and not second.padded:
        merged = Batch(
            first.table, [*first.invalid, *second.invalid], second.position, first.padded
        )
        merged.last_short = first.last_short
        return merged
    table = pa.concat_tables([first.table, second.table], promote_options="default")
    merged = Batch(
        table, [*first.invalid, *second.invalid], second.position, first.padded + second.padded
    )
    merged.last_short = max(first.last_short, second.last_short)
    return merged


def _drop_blank(table: pa.Table) -> pa.Table:
    """Blank lines are not rows."""
    counts = [table[name].null_count for name in table.column_names[:-1]]
    if table.num_rows == 0 or min(counts, default=0) == 0:
        return table
    blank = None
    for name in table.column_names[:-1]:
        empty = pc.is_null(table[name])
        blank = empty if blank is None else pc.and_(blank, empty)
    return table.filter(pc.invert(blank)) if blank is not None else table


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Produce items in a background thread (pyarrow parses without the GIL). Stopping the
    consumer stops the producer at its next item."""
    box: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: object) -> bool:
        while not stop.is_set():
            try:
                box.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put("error", exc)
            return
        put("end", None)

    threading.Thread(target=run, name="feed-reader", daemon=True).start()
    try:
        while True:
            kind, value = box.get()
            if kind == "end":
                return
            if kind == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]  # kind == "item" carries a T
    finally:
        stop.set()

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
from typing import Any, Final, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.feeds.plan import LINE

BLOCK_SIZE: Final = 32 << 20
READ_AHEAD: Final = 2
"""Blocks pyarrow may read beyond the batches handed out (memory: about 3 blocks of rows)."""
HEADER_PEEK: Final = 1 << 20
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


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The CSV header's column names (duplicates numbered), BOM and encoding handled: each
    name is decoded on its own (UTF-8, else Latin-1), so a byte elsewhere in the first MiB
    does not change how the header reads."""
    with path.open("rb") as f:
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
        name, n = raw.strip(), 2
        while name in names:
            name, n = f"{raw.strip()}_{n}", n + 1
        names.append(name)
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
    """A file pyarrow may read only `allowed` bytes of: its streaming reader otherwise reads
    ahead as fast as the disk allows, and a slow consumer would hold the file in memory."""

    def __init__(self, path: Path, allowed: int) -> None:
        super().__init__()
        self.file = path.open("rb")
        self.position = 0
        self.allowed = allowed
        self.changed = threading.Condition()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self.changed:
            while self.position >= self.allowed and not self.closed:
                self.changed.wait()
        n = self.file.readinto(buffer)
        self.position += n
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


class _Lines:
    """Line numbers of the rows a serial pyarrow reader yields: every record number not taken
    by a rejected row, in order (the reader reports rejected rows as it meets them)."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.skipped: list[int] = []
        self.invalid: list[Invalid] = []
        self.last_seen = first - 1

    def handler(self, expected: int) -> Callable[[pacsv.InvalidRow], str]:
        def on_invalid(row: pacsv.InvalidRow) -> str:
            number = row.number
            if number is not None:
                self.skipped.append(number)
                self.last_seen = max(self.last_seen, number)
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

    def drain(self) -> list[Invalid]:
        out, self.invalid = self.invalid, []
        return out


def _truncated_tail(path: Path, last_line: int) -> Invalid | None:
    """pyarrow drops a last record whose quoted value never closes; find it ourselves."""
    with path.open("rb") as f:
        f.seek(0, io.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
    lines = [x for x in tail.splitlines() if x.strip()]
    if lines and lines[-1].count(b'"') % 2 == 1:
        return Invalid(
            last_line + 1, "unterminated quoted value (truncated line?)", _decode(lines[-1])
        )
    return None


def csv_batches(
    path: Path,
    columns: list[str],
    *,
    delimiter: str = ",",
    quoting: bool = True,
    header: bool = True,
    block_size: int | None = None,
) -> Iterator[Batch]:
    """Rows of a delimited file (after its header line), as text columns plus __line."""
    lines = _Lines(first=2 if header else 1)
    block = block_size or BLOCK_SIZE
    source = _Throttled(path, READ_AHEAD * block)
    reader = pacsv.open_csv(
        source,
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
            invalid_row_handler=lines.handler(len(columns)),
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.binary() for c in columns},
            null_values=[""],  # an empty cell is no value; "null" or "N/A" are text
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    try:
        for n, record_batch in enumerate(reader, start=1):
            texts = [to_text(c) for c in record_batch.columns]
            numbers = pa.array(lines.take(record_batch.num_rows))
            table = pa.Table.from_arrays([*texts, numbers], names=[*columns, LINE])
            source.allow((n + READ_AHEAD) * block)
            yield Batch(_drop_blank(table), lines.drain(), source.position)
    except pa.ArrowInvalid as exc:
        raise ReadError(f"stopped after line {lines.last_seen}: {exc}") from None
    finally:
        source.close()
    tail = _truncated_tail(path, lines.last_seen) if quoting else None
    empty = {c: pa.array([], pa.string()) for c in columns}
    yield Batch(
        pa.table({**empty, LINE: pa.array([], pa.int64())}),
        [*lines.drain(), *([tail] if tail else [])],
        path.stat().st_size,
    )


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

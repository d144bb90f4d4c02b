"""Read a well-formed CSV report with DuckDB's own reader and map it in the same statement.

The exact reader (feeds/read.py) parses with pyarrow, then DuckDB maps each batch: two passes
and a copy of every cell. Most reports are regular: every record one line ending in a line
feed, UTF-8, as many cells as the header. Those DuckDB reads and maps in one statement, in
about half the CPU time, and a row's line number is its position. That the file is regular is
checked, not assumed: a pre-scan counts the line feeds (a stray carriage return or a last line
without its line feed sends the file to the exact reader at once); DuckDB's strict reader stops
at a row with too few or too many cells, bytes that are not UTF-8 or a broken quote; and the
rows read must equal the lines counted (a blank line or a record over several lines makes them
differ). Where any of this fails, `IrregularError` is raised and the caller reads the file
again with the exact reader, which keeps every such row as it always has.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import Final, cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.convert import ident, lit
from botcensus.feeds.inputs import Input
from botcensus.feeds.memo import Memo
from botcensus.feeds.plan import BLANK, LINE, Plan
from botcensus.feeds.read import Batch

SCAN_BLOCK: Final = 16 << 20
BATCH_ROWS: Final = 1 << 17
GLOB: Final = frozenset("*?[]{}")
"""Characters DuckDB reads as a file pattern: such a path goes to the exact reader."""
LF: Final = 10
CR: Final = 13


class IrregularError(Exception):
    """The file is not regular enough for the fused read; read it with the exact reader."""


def line_feeds(source: Input) -> int | None:
    """The number of line feeds in the report if every line ends with one (LF, or CR LF
    throughout, no other carriage return), else None."""
    try:
        return _line_feeds(source)
    except (OSError, EOFError, zlib.error):
        return None  # the exact reader reads what it can and names the problem


def _line_feeds(source: Input) -> int | None:
    lf = cr = 0
    before = LF  # the byte before the current block
    buffer = bytearray(SCAN_BLOCK)
    # a file or a gzip stream (fused reads take no zip member): both read into a buffer
    with cast(io.BufferedIOBase, source.open()) as stream:
        while size := stream.readinto(buffer):
            data = np.frombuffer(buffer, dtype=np.uint8, count=size)
            feeds = int(np.count_nonzero(data == LF))
            # most reports have no carriage return at all: a memchr-fast search says so
            returns = int(np.count_nonzero(data == CR)) if buffer.find(b"\r", 0, size) >= 0 else 0
            if returns and not _each_after_cr(data, before):
                return None  # a line feed without its carriage return
            lf, cr, before = lf + feeds, cr + returns, int(data[-1])
    if before != LF or cr not in (0, lf):
        return None  # the last line has no line feed, or a carriage return stands alone
    return lf


def _each_after_cr(data: np.ndarray, before: int) -> bool:
    """Whether every line feed in `data` follows a carriage return (`before`: the byte
    before `data`)."""
    feeds = np.flatnonzero(data == LF)
    if len(feeds) and feeds[0] == 0 and before != CR:
        return False
    return bool(np.all(data[feeds[feeds > 0] - 1] == CR))


def source_sql(source: Input, columns: list[str], delimiter: str) -> str | None:
    """DuckDB's strict reader over the report (every cell text, empty cells NULL), or None
    where DuckDB cannot read it itself (a zip member, a path it would read as a pattern)."""
    if source.member is not None or GLOB & set(str(source.path)):
        return None
    path = str(source.path.resolve())
    types = ", ".join(f"{lit(c)}: 'VARCHAR'" for c in columns)
    options = (
        f"header = true, auto_detect = false, columns = {{{types}}}, delim = {lit(delimiter)}, "
        "quote = '\"', escape = '\"', strict_mode = true, null_padding = false, "
        f"ignore_errors = false, encoding = 'utf-8', "
        f"compression = {lit('gzip' if source.gzipped else 'none')}"
    )
    cells = ", ".join(ident(c) for c in columns)
    return f"SELECT {cells} FROM read_csv({lit(path)}, {options})"  # noqa: S608 (our SQL)


def fused_batches(
    con: duckdb.DuckDBPyConnection,
    plan: Plan,
    source: str,
    lines: int,
    size: int,
    memo: Memo | None = None,
) -> Iterator[tuple[Batch, pa.Table]]:
    """The report's rows mapped by `plan` in one statement over `source`, numbered from line
    2, as (Batch with the line numbers only, mapped rows); raises IrregularError where the
    rows do not match the `lines` line feeds counted (the header is one). `memo`: outputs
    mapped once per distinct value (feeds/memo.py)."""
    line = 2
    statement = plan.fused(source, memo.outputs, memo.cells) if memo else plan.fused(source)
    try:
        reader = con.sql(statement).to_arrow_reader(BATCH_ROWS)
        for record_batch in reader:
            n = record_batch.num_rows
            numbers = pa.array(np.arange(line, line + n, dtype=np.int64))
            line += n
            mapped = pa.Table.from_batches([record_batch])
            mapped = mapped.set_column(mapped.schema.get_field_index(LINE), LINE, numbers)
            blank = mapped[BLANK]
            if pc.any(blank).as_py():
                mapped = mapped.filter(pc.invert(blank))
            mapped = mapped.drop_columns([BLANK])
            if memo:
                try:
                    mapped = memo.apply(mapped)
                except duckdb.Error as exc:  # not the reader's: say whose it was
                    raise IrregularError(
                        f"mapping few-valued cells once per value failed in lines "
                        f"{line - n}-{line - 1}: "
                        f"{_first_line(exc)}"
                    ) from None
            position = size * (line - 1) // max(lines, 1)
            yield Batch(pa.table({LINE: mapped[LINE]}), [], position), mapped
    except duckdb.Error as exc:
        raise IrregularError(
            f"DuckDB's reader stopped near line {line}: {_first_line(exc)}"
        ) from None
    finally:
        if memo:
            memo.close()
    if line - 1 != lines:
        raise IrregularError(
            f"{line - 2} rows in {lines - 1} lines (a blank line or a multi-line cell)"
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

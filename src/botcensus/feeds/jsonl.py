"""JSON lines as rows of text columns: each line is one row (read by feeds/read.py's CSV
reader with no delimiter), its keys pulled out with DuckDB.

Lines that are not JSON objects, are nested deeper than MAX_JSON_DEPTH, or that DuckDB
cannot parse within its memory limit (a batch that fails is split until the failing line is
alone) come back as `Invalid` with their line; the others are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.convert import ident, lit
from botcensus.feeds.inputs import Input
from botcensus.feeds.plan import LINE, unreserved
from botcensus.feeds.read import Batch, Invalid, csv_batches

JSON: Final = "__json"
MAX_JSON_DEPTH: Final = 100
"""JSON lines nested deeper are quarantined: IntelMQ events are flat, and a line nested a
million deep makes DuckDB's parser run out of memory."""
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """How deep brackets nest in a line, brackets inside JSON strings not counted."""
    bare = _STRING.sub("", text).encode("utf-8", errors="surrogateescape")
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


_OPEN: Final = np.array([ord("["), ord("{")], dtype=np.uint8)
_CLOSE: Final = np.array([ord("]"), ord("}")], dtype=np.uint8)


def _too_deep(raw: pa.Table) -> tuple[pa.Table, list[Invalid]]:
    """Set aside lines nested deeper than MAX_JSON_DEPTH (only lines with that many opening
    brackets are measured, one by one)."""
    opening = pc.count_substring_regex(raw[JSON], r"[\[{]")
    suspects = pc.fill_null(pc.greater(opening, MAX_JSON_DEPTH), False)
    if not pc.any(suspects).as_py():
        return raw, []
    invalid, keep = [], np.ones(raw.num_rows, dtype=bool)
    lines, texts = raw[LINE].to_pylist(), raw[JSON]
    for i in np.flatnonzero(suspects.to_numpy(zero_copy_only=False)):
        text = texts[int(i)].as_py()
        if json_depth(text) > MAX_JSON_DEPTH:
            keep[i] = False
            reason = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
            invalid.append(Invalid(lines[int(i)], reason, text))
    return raw.filter(pa.array(keep)), invalid


def _objects(con: duckdb.DuckDBPyConnection, raw: pa.Table) -> tuple[pa.Table, list[Invalid]]:
    """The JSON objects of a batch of lines as text columns; lines that are not objects, or
    that DuckDB cannot take (a batch that fails is split until the line that fails is
    alone), come back as Invalid."""
    con.register("lines", raw)
    try:
        ok = f"CASE WHEN json_valid({JSON}) THEN json_type({JSON}) = 'OBJECT' ELSE false END"
        bad = con.sql(f"SELECT {LINE}, {JSON} FROM lines WHERE NOT ({ok})").fetchall()  # noqa: S608
        keys = sorted(
            k
            for (k,) in con.sql(
                f"SELECT DISTINCT unnest(json_keys({JSON})) FROM lines WHERE {ok}"  # noqa: S608
            ).fetchall()
            if k != "__type"
        )
        names: list[str] = []  # a key botcensus reserves for its own columns is numbered
        for k in keys:
            names.append(unreserved(k, [*names, *(o for o in keys if o != k)]))
        cells = ", ".join(
            f"CAST({JSON} ->> {lit(k)} AS VARCHAR) AS {ident(name)}"
            for k, name in zip(keys, names, strict=True)
        )
        table = con.sql(
            f"SELECT {cells + ', ' if cells else ''}{LINE} FROM lines WHERE {ok}"  # noqa: S608
        ).to_arrow_table()
    except duckdb.Error as exc:
        if raw.num_rows == 1:
            why = " ".join(str(exc).split()).split(" Possible solutions")[0][:200]
            reason = f"JSON line DuckDB cannot read ({why})"
            return _no_rows(), [Invalid(raw[LINE][0].as_py(), reason, raw[JSON][0].as_py())]
        half = raw.num_rows // 2
        first, first_bad = _objects(con, raw.slice(0, half))
        second, second_bad = _objects(con, raw.slice(half))
        return pa.concat_tables([first, second], promote_options="default"), [
            *first_bad,
            *second_bad,
        ]
    finally:
        con.unregister("lines")
    return table, [Invalid(line, "not a JSON object", text) for line, text in bad]


def _no_rows() -> pa.Table:
    return pa.table({LINE: pa.array([], pa.int64())})


def jsonl_batches(path: Input | Path, con: duckdb.DuckDBPyConnection, **kw: int) -> Iterator[Batch]:
    """JSON lines as text columns, one per key found in the batch (values as JSON text when
    they are not strings). Lines that are not JSON objects come back as Invalid."""
    for batch in csv_batches(
        path, [JSON], delimiter="\x1f", quoting=False, header=False, pad_short=False, **kw
    ):
        raw = batch.table
        if raw.num_rows == 0:
            yield batch
            continue
        raw, deep = _too_deep(raw)
        table, invalid = _objects(con, raw) if raw.num_rows else (_no_rows(), [])
        if (
            table.num_rows > 1
            and not pc.all(
                pc.greater(table[LINE].slice(1), table[LINE].slice(0, table.num_rows - 1))
            ).as_py()
        ):
            table = table.take(pc.sort_indices(table[LINE]))
        yield Batch(table, [*batch.invalid, *deep, *invalid], batch.position)

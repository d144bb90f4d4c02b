"""Imported abuse contacts on disk: one Parquet file per source under DIR/contacts/.

A source is one import (the RIPE split files, a CSV). Each row is one contact record with
its source name, kind and import time; re-importing a source rewrites its file atomically,
so the previous import is replaced whole, never mixed with the new one. Objects that could
not be read go to DIR/quarantine/contacts/<source>.jsonl with their file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.store.atomic import write_lines, write_parquet
from botcensus.store.layout import CONTACTS as CONTACTS_DIR
from botcensus.store.layout import QUARANTINE_CONTACTS as QUARANTINE_DIR

KINDS: Final = ("bundled", "ripe", "csv")
"""Source kinds, lowest precedence first: where two sources give the same prefix, ASN or
country, the later kind wins (a user's CSV over RIPE over the bundled CERT table), and
between two sources of one kind the later import."""
LEVELS: Final = ("prefix", "asn", "country")

RECORD_SCHEMA: Final = pa.schema(
    [
        pa.field("level", pa.string(), nullable=False),
        pa.field("ip_version", pa.uint8()),
        pa.field("start_hi", pa.uint64()),
        pa.field("start_lo", pa.uint64()),
        pa.field("end_hi", pa.uint64()),
        pa.field("end_lo", pa.uint64()),
        pa.field("asn", pa.int64()),
        pa.field("cc", pa.string()),
        pa.field("abuse_email", pa.string(), nullable=False),
        pa.field("abuse_org", pa.string()),
        pa.field("record", pa.string(), nullable=False),
    ]
)
"""One contact record as a reader produces it. level 'prefix' fills ip_version and the
inclusive range [start, end] as uint64 halves of a 128-bit address (IPv4 plain 32-bit in
*_lo); 'asn' fills asn; 'country' fills cc (ISO 3166 alpha-2, upper case)."""
STORE_SCHEMA: Final = pa.schema(
    [
        *RECORD_SCHEMA,
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("imported", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""A stored record: the reader's columns plus the source name, kind and import time."""
_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Problem:
    """Something in an input file that was not imported: where, why, and its text."""

    file: str
    line: int
    reason: str
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def check_source_name(name: str) -> str:
    """The name, if it can be a file name here: lower-case letters, digits, '.', '_', '-'."""
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"source name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def source_file(data_dir: Path, name: str) -> Path:
    """Where a source's records live."""
    return data_dir / CONTACTS_DIR / f"{check_source_name(name)}.parquet"


def stamp(records: pa.Table, name: str, kind: str, imported: datetime) -> pa.Table:
    """Reader records with the source columns added (STORE_SCHEMA)."""
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}")
    n = records.num_rows
    extra = {
        "source": pa.repeat(pa.scalar(name, pa.string()), n),
        "kind": pa.repeat(pa.scalar(kind, pa.string()), n),
        "imported": pa.repeat(pa.scalar(imported, STORE_SCHEMA.field("imported").type), n),
    }
    columns = [*records.cast(RECORD_SCHEMA).columns, *extra.values()]
    return pa.Table.from_arrays(columns, schema=STORE_SCHEMA)


def write_source(data_dir: Path, table: pa.Table) -> Path:
    """Replace one source's file with `table` (STORE_SCHEMA rows of a single source)."""
    names = table.column("source").unique().to_pylist()
    if len(names) != 1:
        raise ValueError(f"write_source takes one source's rows, got {names}")
    target = source_file(data_dir, names[0])
    write_parquet(table.cast(STORE_SCHEMA), target)
    return target


def read_store(data_dir: Path) -> pa.Table:
    """Every stored source's records (STORE_SCHEMA); empty if nothing was imported."""
    files = sorted((data_dir / CONTACTS_DIR).glob("[!.]*.parquet"))
    tables = [pq.read_table(f).cast(STORE_SCHEMA) for f in files]
    return pa.concat_tables(tables) if tables else STORE_SCHEMA.empty_table()


def write_quarantine(data_dir: Path, name: str, problems: Sequence[Problem]) -> Path | None:
    """Replace the source's quarantine file with `problems` (JSON lines); none: remove it."""
    target = data_dir / QUARANTINE_DIR / f"{check_source_name(name)}.jsonl"
    if not problems:
        target.unlink(missing_ok=True)
        return None
    write_lines((json.dumps(asdict(p), ensure_ascii=False) for p in problems), target)
    return target

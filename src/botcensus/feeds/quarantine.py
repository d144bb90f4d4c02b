"""Rejected rows: one JSON line each, with the file, line number, reason and the row itself.

A source file's rejected rows are published whole when the file is read to its end
(store/atomic.py), replacing those of an earlier ingest of the same file. A read that stops
partway adds its rows to the earlier file's, and one that stores nothing leaves it as it was:
an earlier ingest's rejected rows are never removed by a read that did not see the whole file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from botcensus.feeds.plan import LINE, RAW, REJECT
from botcensus.feeds.read import Invalid
from botcensus.store.atomic import Pending, open_private
from botcensus.store.layout import QUARANTINE_FEEDS as QUARANTINE_DIR


def quarantine_path(dataset: Path, source: Path) -> Path:
    """Where a source file's rejected rows go; ingesting it again replaces the file."""
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:10]
    return dataset / QUARANTINE_DIR / f"{source.name}.{digest}.jsonl"


class Quarantine:
    """Writes a source file's rejected rows, opening the quarantine file on the first one."""

    def __init__(self, dataset: Path, source: Path) -> None:
        self.source = source
        self.path = quarantine_path(dataset, source)
        self.count = 0
        self._out: IO[str] | None = None
        self._pending: Pending | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self._out is None:
            self._pending = Pending(self.path)  # rejected rows hold addresses: 0600 in 0700
            self._out = os.fdopen(open_private(self._pending.tmp), "w", encoding="utf-8")
        self._out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def invalid(self, rows: list[Invalid]) -> None:
        """Lines the parser could not read: kept as their text."""
        for row in rows:
            self._write(
                {"file": str(self.source), "line": row.line, "reason": row.reason, "text": row.text}
            )

    def rejected(self, raw: pa.Table, mapped: pa.Table) -> None:
        """Rows the mapping rejected: kept as their non-empty cells, by column. Per-row Python
        is fine here: only rejected rows pass through it."""
        if mapped.num_rows == 0:
            return
        lines = raw[LINE].to_pylist()
        position = {line: i for i, line in enumerate(lines)}
        cells = raw.drop_columns([LINE])
        for line, reason in zip(mapped[LINE].to_pylist(), mapped[REJECT].to_pylist(), strict=True):
            row = cells.slice(position[line], 1).to_pylist()[0]
            self._write(
                {
                    "file": str(self.source),
                    "line": line,
                    "reason": reason,
                    "row": {k: v for k, v in row.items() if v not in (None, "")},
                }
            )

    def rejected_cells(self, mapped: pa.Table) -> None:
        """Rows the mapping rejected in a fused read: their cells come as JSON in RAW."""
        for line, reason, cells in zip(
            mapped[LINE].to_pylist(),
            mapped[REJECT].to_pylist(),
            mapped[RAW].to_pylist(),
            strict=True,
        ):
            row = json.loads(cells) if cells is not None else {}
            self._write(
                {
                    "file": str(self.source),
                    "line": line,
                    "reason": reason,
                    "row": {k: v for k, v in row.items() if v not in (None, "")},
                }
            )

    def discard(self) -> None:
        """Drop what was written (the file is read again from the start, or nothing of it is
        kept); an earlier ingest's file stays as it is."""
        if self._out is not None and self._pending is not None:
            self._out.close()
            self._pending.discard()
        self._out, self._pending, self.count = None, None, 0

    def publish(self) -> Path | None:
        """The file was read to its end: its rejected rows replace an earlier ingest's (with
        none, the earlier file is removed: every row of it is stored now or gone from the
        source)."""
        if self._out is None or self._pending is None:
            self.path.unlink(missing_ok=True)
            return None
        self._out.close()
        return self._pending.publish()

    def add(self) -> Path | None:
        """The read stopped partway (a cut-off file, a failed read): the rows rejected so far
        are added to an earlier ingest's file, whose rows are all kept (a row in both once);
        with none, the earlier file stays as it is and None is returned."""
        if self._out is None or self._pending is None:
            return None
        self._out.close()
        if self.path.exists():
            with self._pending.tmp.open("rb") as ours:
                seen = {_key(line) for line in ours}
            with (
                self.path.open("rb") as earlier,
                os.fdopen(open_private(self._pending.tmp, append=True), "wb") as out,
            ):
                for line in earlier:
                    line = line if line.endswith(b"\n") else line + b"\n"
                    if _key(line) not in seen:
                        out.write(line)
        return self._pending.publish()


def _key(line: bytes) -> bytes:
    """A quarantine line's identity (16 bytes: memory for a set of millions of lines)."""
    return hashlib.blake2b(line, digest_size=16).digest()

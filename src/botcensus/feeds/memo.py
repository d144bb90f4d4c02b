"""Map few-valued cells once per distinct value, not once per row (the fused read only).

Most of a report's cells take few values: the sinkholed host and path, the malware family,
the destination address and country. Converting and checking them is most of the mapping's
cost (0.64 of 1.4 CPU-s per million rows for a sinkhole report's host and path alone), the
same work on the same value again and again. Here an output whose cells (Plan.reads) all
took few values in a sample of the file is left out of the fused statement, which passes
those raw cells through instead. Per batch, the distinct combinations of each group of cells
(cells that outputs read together) are found; those not seen in earlier batches are mapped
by the plan's own SQL, in one statement for all groups; every row then takes its value from
its combination. An output is a function of the cells it reads, so each row gets what the
statement would have given it; `__reject` and outputs that read a many-valued cell are
always computed per row. A group whose combinations outgrow the cache is still mapped once
per distinct combination in each batch, only not remembered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.convert import ident
from botcensus.feeds.plan import BLANK, LINE, RAW, REJECT, Plan, memo_cell

MIN_ROWS: Final = 50_000
"""Files with fewer rows are mapped row by row: the one-off cost (a sample, a statement per
new combination) is not worth it."""
SAMPLE_ROWS: Final = 16_384
FEW: Final = 0.02
"""A cell takes few values where its distinct values in the sample are at most this share of
the sampled rows."""
CACHE: Final = 65_536
"""Combinations a group remembers across batches."""
BUILT_ONLY: Final = True
"""Only groups with a value built from several cells (the tests turn this off to check every
output's cells)."""


def few_valued(con: duckdb.DuckDBPyConnection, source: str, cells: list[str]) -> set[str]:
    """The cells of `source` (SQL yielding the cells) that take few values in its first
    SAMPLE_ROWS rows; none where the sample cannot be read (the fused read then says why)."""
    if not cells:
        return set()
    counts = ", ".join(f"count(DISTINCT {ident(c)})" for c in cells)
    sql = f"SELECT count(*), {counts} FROM ({source} LIMIT {SAMPLE_ROWS})"  # noqa: S608
    try:
        found = con.sql(sql).fetchall()
    except duckdb.Error:
        return set()
    rows, *distinct = found[0]
    return {c for c, d in zip(cells, distinct, strict=True) if d <= FEW * rows}


@dataclass
class _Group:
    cells: tuple[str, ...]
    outputs: tuple[str, ...]
    known: dict[tuple[object, ...], int] = field(default_factory=dict)
    values: pa.Table | None = None
    """The outputs of the combinations in `known`, one row each, in `known`'s order."""


@dataclass
class _Pending:
    group: _Group
    index: np.ndarray
    """Each row's distinct combination (0..d-1) in this batch."""
    combos: list[pa.Array]
    """The batch's distinct combinations, one array per cell."""
    where: np.ndarray | None
    """Each combination's row in the group's cache (-1: new); None: not cached."""


class Memo:
    """The outputs computed once per distinct combination of the cells they read."""

    def __init__(self, plan: Plan, few: set[str]) -> None:
        self.plan = plan
        reserved = {REJECT, LINE, RAW, BLANK}
        chosen = {
            name: cells
            for name, cells in plan.reads
            if name not in reserved and cells and cells <= few
        }
        # Only where a value is built from several cells (the URL from host and path, the
        # malware name from three): mapping one cell once per value saved no more than the
        # encoding and spreading cost (-0.07 to +0.05 CPU-s per million rows, each of 14
        # single-cell groups of a sinkhole report; the URL's group saved 0.39).
        self.groups = [
            g
            for g in _grouped(chosen)
            if not BUILT_ONLY or any(len(chosen[o]) > 1 for o in g.outputs)
        ]
        chosen = {o: chosen[o] for g in self.groups for o in g.outputs}
        self.cells = tuple(sorted({c for g in self.groups for c in g.cells}))
        self.outputs = tuple(n for n in plan.fused_outputs() if n in chosen)
        self.order = [n for n in plan.fused_outputs() if n != BLANK]  # dropped before
        self.statement = plan.only(self.outputs) if self.outputs else ""
        self.con: duckdb.DuckDBPyConnection | None = None

    def __bool__(self) -> bool:
        return bool(self.outputs)

    def apply(self, mapped: pa.Table) -> pa.Table:
        """The fused statement's batch (memo outputs left out, their cells passed through)
        with the memo outputs in their places and the passed cells gone."""
        cell_columns = {c: mapped[memo_cell(i)] for i, c in enumerate(self.cells)}
        pending = [self._distinct(g, cell_columns) for g in self.groups]
        fresh = self._evaluate(pending)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        for item in pending:
            computed = fresh.get(id(item.group))
            if item.where is None:
                assert computed is not None
                values, rows = computed, item.index
            else:
                if computed is not None:
                    self._remember(item, computed)
                values = item.group.values
                assert values is not None
                rows = item.where[item.index]
            take = pa.array(rows, pa.int64())
            for name in item.group.outputs:
                columns[name] = values[name].take(take)
        arrays = [columns[n] if n in columns else mapped[n] for n in self.order]
        return pa.table(arrays, names=self.order)

    def _distinct(self, group: _Group, cells: dict[str, pa.ChunkedArray]) -> _Pending:
        index, first = _combinations([cells[c] for c in group.cells])
        at = pa.array(first, pa.int64())
        combos = [cells[c].take(at).combine_chunks() for c in group.cells]
        if len(first) > CACHE:
            return _Pending(group, index, combos, None)
        keys = list(zip(*(c.to_pylist() for c in combos), strict=True))
        where = np.array([group.known.get(k, -1) for k in keys], dtype=np.int64)
        if len(group.known) + int((where < 0).sum()) > CACHE:
            return _Pending(group, index, combos, None)  # the cache is full: map, forget
        return _Pending(group, index, combos, where)

    def _evaluate(self, pending: list[_Pending]) -> dict[int, pa.Table]:
        """The outputs of every combination not cached yet, all groups in one statement
        (row i of a group's outputs: its i-th such combination)."""
        todo: dict[int, tuple[_Pending, np.ndarray]] = {}
        for item in pending:
            rows = (
                np.arange(len(item.combos[0]))
                if item.where is None
                else np.flatnonzero(item.where < 0)
            )
            if len(rows):
                todo[id(item.group)] = (item, rows)
        if not todo:
            return {}
        n = max(len(rows) for _, rows in todo.values())
        cells: dict[str, pa.Array] = {}
        for item, rows in todo.values():
            for cell, combo in zip(item.group.cells, item.combos, strict=True):
                taken = combo.take(pa.array(rows, pa.int64()))
                cells[cell] = pa.concat_arrays([taken, pa.nulls(n - len(rows), pa.string())])
        batch = {c: cells.get(c, pa.nulls(n, pa.string())) for c in self.plan.cells}
        batch[LINE] = pa.array(np.arange(n, dtype=np.int64))
        if self.con is None:
            from botcensus.store.db import connect

            self.con = connect(threads=1)
        self.con.register("batch", pa.table(batch))
        try:
            out = self.con.sql(self.statement).to_arrow_table()
        finally:
            self.con.unregister("batch")
        if out.num_rows != n:
            raise RuntimeError("memo: the statement did not map one row per combination")
        result = {}
        for key, (item, rows) in todo.items():
            result[key] = out.select(list(item.group.outputs)).slice(0, len(rows))
        return result

    @staticmethod
    def _remember(item: _Pending, computed: pa.Table) -> None:
        assert item.where is not None
        group = item.group
        new = np.flatnonzero(item.where < 0)
        start = len(group.known)
        keys = list(
            zip(*(c.take(pa.array(new, pa.int64())).to_pylist() for c in item.combos), strict=True)
        )
        for j, key in enumerate(keys):
            group.known[key] = start + j
        item.where[new] = np.arange(start, start + len(new))
        computed = computed.combine_chunks()
        group.values = (
            computed if group.values is None else pa.concat_tables([group.values, computed])
        )

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


def _grouped(chosen: dict[str, frozenset[str]]) -> list[_Group]:
    """Outputs grouped so that outputs sharing a cell are in one group (their cells'
    combinations are counted together)."""
    groups: list[tuple[set[str], list[str]]] = []
    for name, cells in chosen.items():
        joined = [g for g in groups if g[0] & cells]
        merged: tuple[set[str], list[str]] = (set(cells), [name])
        for g in joined:
            merged[0].update(g[0])
            merged[1].extend(g[1])
            groups.remove(g)
        groups.append(merged)
    return [_Group(tuple(sorted(c)), tuple(o)) for c, o in groups]


def _combinations(columns: list[pa.ChunkedArray]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distinct combination of the cells (0..d-1, NULL a value of its own) and
    the first row of each combination."""
    key: np.ndarray | None = None
    for column in columns:
        encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if key is None:
            key = codes
        else:
            combined = key * len(encoded.dictionary) + codes
            key = (
                pc.dictionary_encode(pa.array(combined))
                .indices.to_numpy(zero_copy_only=False)
                .astype(np.int64)
            )
    assert key is not None
    d = int(key.max(initial=-1)) + 1
    first = np.full(d, -1, dtype=np.int64)
    rows = np.arange(len(key), dtype=np.int64)
    first[key[::-1]] = rows[::-1]  # the last write wins: the first row of each
    return key, first

"""Compile a report mapping and a header into one DuckDB SELECT that maps a batch of rows.

The SELECT reads a relation `batch` of text cells plus `__line`, and returns the typed feed
columns (vocabulary.CORE), one text column per other IntelMQ field, `__reject` (why the row
is rejected, or NULL); feeds/identity.py hashes the result. It works in layers so every
conversion and check is computed once: cells -> converted values -> checked values -> output.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import pyarrow as pa

from botcensus.feeds.convert import Converted, cells_read, check, convert, ident, lit
from botcensus.feeds.mapping import NAME_COLUMNS, ReportMapping, Rule
from botcensus.feeds.vocabulary import (
    BY_KEY,
    CORE,
    output_key,
)
from botcensus.times import EARLIEST_TIME, FEED_FUTURE_SKEW, LATEST_TIME, TIME_RANGE_TEXT

LINE: Final = "__line"
MISSING: Final = "__missing"
"""Names the columns a short row lacked (read as empty); stored as extra.missing_columns."""
REJECT: Final = "__reject"
RAW: Final = "__raw"
"""In a fused read (Plan.fused): a rejected row's cells as a JSON object."""
BLANK: Final = "__blank"
"""In a fused read: the row's cells are all empty (a blank row, not read as a row)."""
RESERVED: Final = frozenset({LINE, MISSING, REJECT, RAW, BLANK, "__json"})
"""Column names botcensus's own columns use: a report column of that name is renamed on read
(numbered as a duplicate is: `__line` is read as `__line_2`)."""


def unreserved(name: str, taken: Collection[str]) -> str:
    """`name`, or where it is reserved or taken, `name_2`, `name_3`, ... (the first free)."""
    new, n = name, 2
    while new in taken or new in RESERVED:
        new, n = f"{name}_{n}", n + 1
    return new


SQL_TYPES: Final[dict[pa.DataType, str]] = {
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.string(): "VARCHAR",
}
# Rules whose failed check moves the raw cell under extra.<column> (as IntelMQ does); a
# failed address is no address, a failed time rejects the row, any text is a valid string.
FALLBACK_RULES: Final = frozenset({"port", "asn", "cc", "fqdn", "url", "transport", "lower"})


# Conversions that leave text as text (or drop '0' / 'unknown'): their columns need no SQL.
SIMPLE: Final = (None, "validate_to_none")


@dataclass(frozen=True, slots=True)
class Plan:
    """The compiled SELECT, and the columns copied straight from the batch (no SQL): output
    name, input column, whether '0' and 'unknown' mean empty (validate_to_none)."""

    sql: str
    others: tuple[str, ...]
    copied: tuple[tuple[str, str, bool], ...] = ()
    layers: tuple[str, ...] = ()
    """The statement's layers after `batch`: conversions, checks, the reject reason."""
    outputs: tuple[tuple[str, str], ...] = ()
    """The output columns (name, SQL over the last layer), in order."""
    cells: tuple[str, ...] = ()
    """The report's columns the statement reads."""
    reads: tuple[tuple[str, frozenset[str]], ...] = ()
    """The cells each output reads (its value is a function of those cells alone; an output
    reading none is a constant); `__reject` reads the cells of every failure it names."""

    def fused(self, source: str, memo: Sequence[str] = (), cells: Sequence[str] = ()) -> str:
        """The statement over `source` (SQL yielding the cells, no __line) instead of a
        registered batch: the copied columns computed in it (as copy_columns does), RAW
        holding a rejected row's cells as JSON, BLANK true where every cell is empty;
        __line is NULL (the caller numbers the rows). The outputs in `memo` are left out
        (feeds/memo.py computes them once per distinct value), the raw `cells` they read
        added as `memo_cell(i)`."""
        outputs = self.fused_outputs()
        for name in memo:
            del outputs[name]
        for i, cell in enumerate(cells):
            outputs[memo_cell(i)] = ident(cell)
        return _statement(f"batch AS ({source})", self.layers, outputs)

    def fused_outputs(self) -> dict[str, str]:
        """The outputs of `fused`, in order (without memo)."""
        outputs = dict(self.outputs)
        outputs[LINE] = "CAST(NULL AS BIGINT)"
        for name, column, to_none in self.copied:
            value = ident(column)
            if to_none:
                value = f"nullif(nullif({value}, '0'), 'unknown')"
            outputs[name] = f"coalesce({outputs[name]}, {value})" if name in outputs else value
        pairs = ", ".join(f"{lit(c)}, {ident(c)}" for c in self.cells)
        outputs[RAW] = (
            f"CASE WHEN {REJECT} IS NOT NULL THEN CAST(json_object({pairs}) AS VARCHAR) END"
        )
        empty = " AND ".join(f"{ident(c)} IS NULL" for c in self.cells) or "false"
        outputs[BLANK] = f"({empty})"
        return outputs

    def only(self, names: Collection[str]) -> str:
        """The statement over a registered `batch` that computes only outputs `names`."""
        outputs = self.fused_outputs()
        return _statement("", self.layers, {n: outputs[n] for n in names})


def memo_cell(i: int) -> str:
    """The name of a raw cell a fused statement passes through for feeds/memo.py."""
    return f"__memo_{i}"


def _statement(batch: str, layers: tuple[str, ...], outputs: dict[str, str]) -> str:
    columns = ", ".join(f"{sql} AS {ident(name)}" for name, sql in outputs.items())
    last = layers[-1].split(" AS ", 1)[0]
    out = f"out AS (SELECT {columns} FROM {last})"  # noqa: S608 (our SQL)
    return f"WITH {', '.join(filter(None, [batch, *layers, out]))}\nSELECT * FROM out"


def missing_columns(report: ReportMapping, columns: Sequence[str]) -> list[str]:
    """Required columns the header lacks (the file cannot be mapped)."""
    return [r.column for r in report.required if r.column not in columns]


def _text(value: Converted) -> str:
    if value.kind == "time":
        return f"strftime({value.value}, '%Y-%m-%dT%H:%M:%S') || '+00:00'"
    if value.kind in ("text", "ip", "fqdn"):
        return value.value
    return f"CAST({value.value} AS VARCHAR)"


def _problem(column: str, words: str) -> str:
    shown = f"coalesce(CAST(to_json({ident(column)}) AS VARCHAR), 'empty')"
    return f"{lit(column + ': ')} || {shown} || {lit(words)}"


def _iso(time: datetime) -> str:
    return time.astimezone(UTC).isoformat(timespec="seconds")


def _timestamp(time: datetime) -> str:
    return f"TIMESTAMPTZ {lit(_iso(time))}"


def future_limit(now: datetime) -> datetime | None:
    """The latest time.source an ingest that began at `now` stores: FEED_FUTURE_SKEW after
    it (to the second); None where that is past LATEST_TIME, so only the fixed range holds.
    A naive `now` (no time zone: which instant is it?) is refused with ValueError."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            f"the ingest's start must be a datetime with a time zone (datetime.now(UTC)), "
            f"not the naive {now.isoformat()}"
        )
    limit = now.astimezone(UTC).replace(microsecond=0) + FEED_FUTURE_SKEW
    return None if limit >= LATEST_TIME else limit


def _span(span: timedelta) -> str:
    """A duration in words: '2 days', '36 hours'."""
    if span % timedelta(days=1) == timedelta(0):
        days = span // timedelta(days=1)
        return f"{days} day{'s' if days != 1 else ''}"
    hours = span / timedelta(hours=1)
    return f"{hours:g} hours"


def _coalesce(exprs: list[str]) -> str:
    return "NULL" if not exprs else exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"


_ALIAS: Final = re.compile(r"(_*)[pvnk][0-9]+")


class _Builder:
    def __init__(
        self, report: ReportMapping, columns: Sequence[str], now: datetime | None = None
    ) -> None:
        self.report = report
        self.columns = list(columns)
        self.now = now
        self.converted: list[str] = []  # layer 2: "expr AS v<i>"
        self.checked: list[str] = []  # layer 3: "expr AS n<i>", "expr AS k<i>"
        self.core: dict[str, list[str]] = defaultdict(list)
        self.others: dict[str, list[str]] = defaultdict(list)
        self.rejects: list[tuple[str, str]] = []
        self.used: set[str] = set()
        self.reads: dict[str, set[str]] = defaultdict(set)  # output -> the cells it reads
        self.required_checked: set[str] = set()
        self.copied: list[tuple[str, str, bool]] = []
        self.count = 0
        # The layers' own aliases (p1, v1, n1, k1) gain leading underscores until no report
        # column can be mistaken for one: a report may name a column anything.
        self.tag = "_" * max(
            (len(m.group(1)) + 1 for c in self.columns if (m := _ALIAS.fullmatch(c))), default=0
        )

    def rule(self, rule: Rule, required: bool) -> None:
        if rule.column not in self.columns:
            return
        self.used.add(rule.column)
        key = output_key(rule.key)
        if key not in BY_KEY and rule.convert in SIMPLE:
            self.copied.append((key, rule.column, rule.convert is not None))
            return
        n = self.count = self.count + 1
        p, v, k, norm = (f"{self.tag}{x}{n}" for x in "pvkn")
        raw = convert(rule.convert, rule.column, self.columns)
        reads = cells_read(rule.convert, rule.column, self.columns)
        if raw.parsed is not None:
            self.converted.append(f"{raw.parsed} AS {p}")
        self.converted.append(f"{raw.value.replace('{p}', p)} AS {v}")
        value = Converted(v, raw.kind)
        if raw.failure is not None:
            failure = raw.failure.replace("{p}", p)
            self.rejects.append((failure, _problem(rule.column, " " + raw.problem)))
            self.reads[REJECT] |= reads
        # a cell the conversion cannot take (a non-integer) is kept under extra.<column>
        set_aside = [f"({raw.invalid.replace('{p}', p)})"] if raw.invalid is not None else []
        field = BY_KEY.get(key)
        if field is None:
            self.others[key].append(_text(value))
            self.reads[key] |= reads
            self.keep_cell(rule.column, set_aside, reads)
            return
        normal, ok = check(field.rule, value)
        self.checked += [f"{normal} AS {norm}", f"coalesce({ok}, false) AS {k}"]
        self.core[field.column].append(f"CASE WHEN {k} THEN {norm} END")
        self.reads[field.column] |= reads
        if field.rule in FALLBACK_RULES:
            set_aside.append(f"({v} IS NOT NULL AND NOT {k})")
        self.keep_cell(rule.column, set_aside, reads)
        wanted = field.column in ("time_source", "source_ip") and required
        if wanted and field.column not in self.required_checked:
            self.required_checked.add(field.column)
            words = " is not a time" if field.column == "time_source" else " is not an address"
            missing = f"NOT {k}"
            if raw.failure is not None:  # a cell that failed conversion has its reason already
                missing += f" AND NOT coalesce({raw.failure.replace('{p}', p)}, false)"
            self.rejects.append((missing, _problem(rule.column, words)))
            self.reads[REJECT] |= reads
            if field.column == "time_source":
                self.time_range(rule.column, k, norm)

    def keep_cell(self, column: str, set_aside: list[str], reads: frozenset[str]) -> None:
        """Keep the cell under extra.<column> where any of `set_aside` is true (its value is
        invalid for its field, as IntelMQ's parser keeps it)."""
        if not set_aside:
            return
        self.others[f"extra.{column}"].append(
            f"CASE WHEN {' OR '.join(set_aside)} THEN {ident(column)} END"
        )
        self.reads[f"extra.{column}"] |= reads | {column}

    def time_range(self, column: str, k: str, norm: str) -> None:
        """Reject a time.source outside [EARLIEST_TIME, LATEST_TIME) (times.py), or later than
        FEED_FUTURE_SKEW after the ingest began (`self.now`, where given)."""
        within = f"{norm} >= {_timestamp(EARLIEST_TIME)} AND {norm} < {_timestamp(LATEST_TIME)}"
        words = f" is outside {TIME_RANGE_TEXT}, the times botcensus stores"
        self.rejects.append((f"{k} AND NOT ({within})", _problem(column, words)))
        limit = None if self.now is None else future_limit(self.now)
        if limit is None:
            return
        words = f" is later than {_iso(limit)}, {_span(FEED_FUTURE_SKEW)} after the ingest began"
        future = f"{k} AND {within} AND {norm} > {_timestamp(limit)}"
        self.rejects.append((future, _problem(column, words)))

    def constant(self, key: str, value: str) -> None:
        field = BY_KEY.get(output_key(key))
        if field is None:
            self.others[output_key(key)] = [lit(value)]
            self.reads[output_key(key)] = set()
            return
        normal, ok = check(field.rule, Converted(lit(value), "text"))
        self.core[field.column] = [f"CASE WHEN {ok} THEN {normal} END"]
        self.reads[field.column] = set()

    def named(self, value: str) -> str:
        """malware.name for an infected-system row: the mapped value, else the first of
        NAME_COLUMNS that holds a name (IntelMQ's validate_to_none: '0' and 'unknown' are
        none), else the report's default. Every such row is counted as an infection."""
        exprs = [value]
        for column in NAME_COLUMNS:
            if column in self.columns:
                self.reads["malware_name"].add(column)
                cell = f"nullif(nullif({ident(column)}, '0'), 'unknown')"
                normal, ok = check("lower", Converted(cell, "text"))
                exprs.append(f"CASE WHEN coalesce({ok}, false) THEN {normal} END")
        exprs.append(lit(self.report.default_malware_name))
        return _coalesce(exprs)

    def conditioned(self, values: dict[str, str]) -> None:
        """Apply the report's conditions (e.g. legacy drone `spam` rows are spam, not an
        infected system with the malware name `spam`)."""
        for condition in self.report.conditions:
            if condition.column not in self.columns:
                continue
            when = f"{ident(condition.column)} = {lit(condition.value)}"
            for key, value in condition.set.items():
                field = BY_KEY[output_key(key)]
                self.reads[field.column].add(condition.column)
                normal, ok = check(field.rule, Converted(lit(value), "text"))
                current = values.get(field.column, "NULL")
                values[field.column] = (
                    f"CASE WHEN {when} THEN (CASE WHEN {ok} THEN {normal} END) ELSE {current} END"
                )
            for key in condition.drop:
                column = BY_KEY[output_key(key)].column
                self.reads[column].add(condition.column)
                values[column] = f"CASE WHEN {when} THEN NULL ELSE {values.get(column, 'NULL')} END"

    def select(self, feed_name: str, sensor: str, intelmq_names: bool) -> Plan:
        for column in self.columns:
            if column not in self.used:
                name = output_key(column) if intelmq_names else f"extra.{column}"
                self.copied.append((name, column, False))
        defaults = {"feed_name": lit(feed_name), "sensor": lit(sensor)}
        values: dict[str, str] = {}
        for field in CORE:
            exprs = list(self.core.get(field.column, []))
            if field.column in defaults:
                exprs.append(defaults[field.column])
            values[field.column] = _coalesce(exprs)
        if self.report.infected:
            values["malware_name"] = self.named(values["malware_name"])
        self.conditioned(values)
        outputs = {f.column: f"CAST({values[f.column]} AS {SQL_TYPES[f.type]})" for f in CORE}
        others = tuple(sorted(self.others))
        outputs |= {n: f"CAST({_coalesce(self.others[n])} AS VARCHAR)" for n in others}
        outputs[REJECT] = REJECT
        outputs[LINE] = LINE
        if self.rejects:
            reasons = ", ".join(f"CASE WHEN {cond} THEN {why} END" for cond, why in self.rejects)
            failed = " OR ".join(f"coalesce({cond}, false)" for cond, _ in self.rejects)
            reject = f"CASE WHEN {failed} THEN concat_ws('; ', {reasons}) END"
        else:
            reject = "CAST(NULL AS VARCHAR)"
        # The batch's empty cells are already NULL (no whitespace stripping either).
        layers = (
            f"conv AS (SELECT *{''.join(', ' + c for c in self.converted)} FROM batch)",  # noqa: S608
            f"chk AS (SELECT *{''.join(', ' + c for c in self.checked)} FROM conv)",  # noqa: S608
            f"rej AS (SELECT *, {reject} AS {REJECT} FROM chk)",  # noqa: S608
        )
        sql = _statement("", layers, outputs)
        for name, column, _ in self.copied:  # fused statements coalesce them in
            self.reads[name].add(column)
        cells = tuple(self.columns)
        reads = tuple((name, frozenset(self.reads.get(name, ()))) for name in outputs)
        return Plan(sql, others, tuple(self.copied), layers, tuple(outputs.items()), cells, reads)


def plan(
    report: ReportMapping,
    columns: Sequence[str],
    *,
    feed_name: str,
    sensor: str,
    intelmq_names: bool = False,
    now: datetime | None = None,
) -> Plan:
    """The SELECT that maps rows with these columns. Columns no rule uses go under
    extra.<column> (IntelMQ input: under their own name when that is an IntelMQ field).
    A row whose time.source is outside [EARLIEST_TIME, LATEST_TIME), or (given `now`, when
    the ingest began) later than now + FEED_FUTURE_SKEW, is rejected (times.py); a naive
    `now` raises ValueError."""
    if now is not None:
        future_limit(now)  # a naive one refused before any SQL is built
    builder = _Builder(report, [c for c in columns if c not in (LINE, MISSING)], now)
    required = {(r.target, r.column) for r in report.required}
    for rule in report.rules:
        builder.rule(rule, (rule.target, rule.column) in required or rule.key == "time.source")
    for key, value in report.constants.items():
        builder.constant(key, value)
    return builder.select(feed_name, sensor, intelmq_names)

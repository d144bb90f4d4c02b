"""Compile a report mapping and a header into one DuckDB SELECT that maps a batch of rows.

The SELECT reads a relation `batch` of text cells plus `__line`, and returns the typed feed
columns (vocabulary.CORE), one text column per other IntelMQ field, `__reject` (why the row
is rejected, or NULL); feeds/identity.py hashes the result. It works in layers so every
conversion and check is computed once: cells -> converted values -> checked values -> output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pyarrow as pa

from botcensus.feeds.convert import Converted, check, convert, ident, lit
from botcensus.feeds.mapping import NAME_COLUMNS, ReportMapping, Rule
from botcensus.feeds.vocabulary import (
    BY_KEY,
    CORE,
    output_key,
)

LINE: Final = "__line"
MISSING: Final = "__missing"
"""Names the columns a short row lacked (read as empty); stored as extra.missing_columns."""
REJECT: Final = "__reject"
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


def _coalesce(exprs: list[str]) -> str:
    return "NULL" if not exprs else exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"


class _Builder:
    def __init__(self, report: ReportMapping, columns: Sequence[str]) -> None:
        self.report = report
        self.columns = list(columns)
        self.converted: list[str] = []  # layer 2: "expr AS v<i>"
        self.checked: list[str] = []  # layer 3: "expr AS n<i>", "expr AS k<i>"
        self.core: dict[str, list[str]] = defaultdict(list)
        self.others: dict[str, list[str]] = defaultdict(list)
        self.rejects: list[tuple[str, str]] = []
        self.used: set[str] = set()
        self.required_checked: set[str] = set()
        self.copied: list[tuple[str, str, bool]] = []
        self.count = 0

    def rule(self, rule: Rule, required: bool) -> None:
        if rule.column not in self.columns:
            return
        self.used.add(rule.column)
        key = output_key(rule.key)
        if key not in BY_KEY and rule.convert in SIMPLE:
            self.copied.append((key, rule.column, rule.convert is not None))
            return
        i = self.count = self.count + 1
        raw = convert(rule.convert, rule.column, self.columns)
        if raw.parsed is not None:
            self.converted.append(f"{raw.parsed} AS p{i}")
        self.converted.append(f"{raw.value.replace('{p}', f'p{i}')} AS v{i}")
        value = Converted(f"v{i}", raw.kind)
        if raw.failure is not None:
            failure = raw.failure.replace("{p}", f"p{i}")
            self.rejects.append((failure, _problem(rule.column, " " + raw.problem)))
        field = BY_KEY.get(key)
        if field is None:
            self.others[key].append(_text(value))
            return
        normal, ok = check(field.rule, value)
        self.checked += [f"{normal} AS n{i}", f"coalesce({ok}, false) AS k{i}"]
        self.core[field.column].append(f"CASE WHEN k{i} THEN n{i} END")
        if field.rule in FALLBACK_RULES:
            self.others[f"extra.{rule.column}"].append(
                f"CASE WHEN v{i} IS NOT NULL AND NOT k{i} THEN {ident(rule.column)} END"
            )
        wanted = field.column in ("time_source", "source_ip") and required
        if wanted and field.column not in self.required_checked:
            self.required_checked.add(field.column)
            words = " is not a time" if field.column == "time_source" else " is not an address"
            missing = f"NOT k{i}"
            if raw.failure is not None:  # a cell that failed conversion has its reason already
                missing += f" AND NOT coalesce({raw.failure.replace('{p}', f'p{i}')}, false)"
            self.rejects.append((missing, _problem(rule.column, words)))

    def constant(self, key: str, value: str) -> None:
        field = BY_KEY.get(output_key(key))
        if field is None:
            self.others[output_key(key)] = [lit(value)]
            return
        normal, ok = check(field.rule, Converted(lit(value), "text"))
        self.core[field.column] = [f"CASE WHEN {ok} THEN {normal} END"]

    def named(self, value: str) -> str:
        """malware.name for an infected-system row: the mapped value, else the first of
        NAME_COLUMNS that holds a name (IntelMQ's validate_to_none: '0' and 'unknown' are
        none), else the report's default. Every such row is counted as an infection."""
        exprs = [value]
        for column in NAME_COLUMNS:
            if column in self.columns:
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
                normal, ok = check(field.rule, Converted(lit(value), "text"))
                current = values.get(field.column, "NULL")
                values[field.column] = (
                    f"CASE WHEN {when} THEN (CASE WHEN {ok} THEN {normal} END) ELSE {current} END"
                )
            for key in condition.drop:
                column = BY_KEY[output_key(key)].column
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
        parts = [
            f"CAST({values[f.column]} AS {SQL_TYPES[f.type]}) AS {ident(f.column)}" for f in CORE
        ]
        others = tuple(sorted(self.others))
        parts += [f"CAST({_coalesce(self.others[n])} AS VARCHAR) AS {ident(n)}" for n in others]
        if self.rejects:
            reasons = ", ".join(f"CASE WHEN {cond} THEN {why} END" for cond, why in self.rejects)
            failed = " OR ".join(f"coalesce({cond}, false)" for cond, _ in self.rejects)
            parts.append(f"CASE WHEN {failed} THEN concat_ws('; ', {reasons}) END AS {REJECT}")
        else:
            parts.append(f"CAST(NULL AS VARCHAR) AS {REJECT}")
        parts.append(LINE)
        # The batch's empty cells are already NULL (no whitespace stripping either).
        layers = [
            f"conv AS (SELECT *{''.join(', ' + c for c in self.converted)} FROM batch)",  # noqa: S608
            f"chk AS (SELECT *{''.join(', ' + c for c in self.checked)} FROM conv)",  # noqa: S608
            f"out AS (SELECT {', '.join(parts)} FROM chk)",  # noqa: S608
        ]
        sql = f"WITH {', '.join(layers)}\nSELECT * FROM out"
        return Plan(sql, others, tuple(self.copied))


def plan(
    report: ReportMapping,
    columns: Sequence[str],
    *,
    feed_name: str,
    sensor: str,
    intelmq_names: bool = False,
) -> Plan:
    """The SELECT that maps rows with these columns. Columns no rule uses go under
    extra.<column> (IntelMQ input: under their own name when that is an IntelMQ field)."""
    builder = _Builder(report, [c for c in columns if c not in (LINE, MISSING)])
    required = {(r.target, r.column) for r in report.required}
    for rule in report.rules:
        builder.rule(rule, (rule.target, rule.column) in required or rule.key == "time.source")
    for key, value in report.constants.items():
        builder.constant(key, value)
    return builder.select(feed_name, sensor, intelmq_names)

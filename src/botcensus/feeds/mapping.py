"""Mapping files: which report column fills which IntelMQ field, per report type and schema date.

Bundled mappings live in feeds/mappings/*.json and follow Shadowserver's published report
schema (report_schema: intelmq.json for the fields, reports.json for the columns). A user
mapping file has the same shape, for one feed or many.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from botcensus.feeds.convert import CONVERSIONS

DEFAULT_MAPPING: Final = "shadowserver-2024-09-24"
INTELMQ_MAPPING: Final = "intelmq"
FORMATS: Final = ("csv", "jsonl", "intelmq")
# report-filename.md: YYYY-MM-DD-<report type>-<anything>.csv
DEFAULT_MALWARE_NAME: Final = "unknown"
NAME_COLUMNS: Final = ("infection", "family", "tag")
"""Where an infected-system row without a mapped malware.name is named from, in this order."""
FILE_NAME_RE: Final = re.compile(r"^(?:\d{4}-\d{2}-\d{2}-)?([A-Za-z0-9_]+)(?:-.*)?\.csv$")


class MappingError(ValueError):
    """A mapping file is malformed, or no mapping covers a report."""


@dataclass(frozen=True, slots=True)
class Rule:
    """`target` (an IntelMQ field, or 'extra.' for extra.<column>) from `column` via `convert`."""

    target: str
    column: str
    convert: str | None = None

    @property
    def key(self) -> str:
        return f"extra.{self.column}" if self.target == "extra." else self.target


@dataclass(frozen=True, slots=True)
class Condition:
    """Where `column` equals `value`, the fields in `set` take these values and the fields in
    `drop` are left empty (IntelMQ's legacy parser classified drone `spam` rows this way)."""

    column: str
    value: str
    set: dict[str, str]
    drop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportMapping:
    """How one report type becomes feed events."""

    report_type: str
    feed_name: str | None
    provider: str
    required: tuple[Rule, ...]
    optional: tuple[Rule, ...]
    constants: dict[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    """The report's published column list, in order (empty for ad-hoc feeds)."""
    url: str | None = None
    conditions: tuple[Condition, ...] = ()
    """Rows whose cell has a given value are classified otherwise (legacy drone spam rows)."""
    default_malware_name: str = DEFAULT_MALWARE_NAME
    """An infected-system row that names no malware in any of NAME_COLUMNS is named this."""

    @property
    def infected(self) -> bool:
        """Whether the report's rows are infected systems (each row is counted as one)."""
        return self.constants.get("classification.type") == "infected-system"

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.required + self.optional


@dataclass(frozen=True, slots=True)
class Mapping:
    """A mapping file: report types and the schema date it follows."""

    name: str
    schema_date: str | None
    follows: str
    format: str
    reports: dict[str, ReportMapping]
    delimiter: str = ","

    def report(self, report_type: str) -> ReportMapping:
        try:
            return self.reports[report_type]
        except KeyError:
            known = ", ".join(sorted(self.reports))
            raise MappingError(
                f"mapping {self.name} has no report type {report_type!r} (it has: {known})"
            ) from None


def _rules(raw: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        raise MappingError(f"{where}: expected a list of [field, column, function]")
    rules = []
    for item in raw:
        if not (
            isinstance(item, list)
            and 2 <= len(item) <= 4
            and all(isinstance(x, str) for x in item[:2])
        ):
            raise MappingError(f"{where}: bad rule {item!r}")
        function = item[2] if len(item) > 2 else None
        if function is not None and function not in CONVERSIONS:
            raise MappingError(f"{where}: unknown conversion {function!r} in {item!r}")
        rules.append(Rule(item[0], item[1], function))
    return tuple(rules)


def _report(report_type: str, raw: dict[str, Any], provider: str, where: str) -> ReportMapping:
    constants = raw.get("constant_fields", {})
    if not isinstance(constants, dict) or not all(isinstance(v, str) for v in constants.values()):
        raise MappingError(f"{where}: constant_fields must map field names to strings")
    conditions = []
    for item in raw.get("conditions", []):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("column"), str)
            and isinstance(item.get("equals"), str)
            and isinstance(item.get("set", {}), dict)
        ):
            raise MappingError(f"{where}.conditions: bad condition {item!r}")
        sets = {str(k): str(v) for k, v in item.get("set", {}).items()}
        conditions.append(
            Condition(item["column"], item["equals"], sets, tuple(item.get("drop", ())))
        )
    default_name = raw.get("default_malware_name", DEFAULT_MALWARE_NAME)
    if not isinstance(default_name, str) or default_name != default_name.lower():
        raise MappingError(f"{where}: default_malware_name must be a lower-case string")
    return ReportMapping(
        report_type=report_type,
        feed_name=raw.get("feed_name"),
        provider=str(raw.get("provider", provider)),
        required=_rules(raw.get("required_fields", []), f"{where}.required_fields"),
        optional=_rules(raw.get("optional_fields", []), f"{where}.optional_fields"),
        constants=dict(constants),
        columns=tuple(raw.get("columns", ())),
        url=raw.get("url"),
        conditions=tuple(conditions),
        default_malware_name=default_name,
    )


def parse_mapping(raw: dict[str, Any], where: str) -> tuple[Mapping, list[str]]:
    """A mapping from its JSON body; also the names of mappings it includes."""
    name = raw.get("name")
    fmt = raw.get("format", "csv")
    if not isinstance(name, str) or fmt not in FORMATS:
        raise MappingError(f"{where}: needs a string 'name' and a 'format' of {FORMATS}")
    provider = str(raw.get("provider", name))
    if "reports" in raw:
        body = raw["reports"]
        reports = {k: _report(k, v, provider, f"{where}:{k}") for k, v in body.items()}
    else:  # a single feed described at the top level
        reports = {name: _report(name, raw, provider, where)}
    delimiter = raw.get("delimiter", ",")
    if not (isinstance(delimiter, str) and len(delimiter) == 1):
        raise MappingError(f"{where}: 'delimiter' must be one character")
    mapping = Mapping(
        name, raw.get("schema_date"), str(raw.get("follows", "")), fmt, reports, delimiter
    )
    return mapping, list(raw.get("includes", []))


def _bundled_bodies() -> dict[str, dict[str, Any]]:
    folder = resources.files("botcensus.feeds") / "mappings"
    bodies = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            bodies[entry.name.removesuffix(".json")] = json.loads(entry.read_text("utf-8"))
    return bodies


def bundled_mappings() -> dict[str, Mapping]:
    """Every bundled mapping by name, with included mappings merged in."""
    parsed = {name: parse_mapping(body, name) for name, body in _bundled_bodies().items()}
    merged = {}
    for name, (mapping, includes) in parsed.items():
        reports = {}
        for included in includes:
            reports.update(parsed[included][0].reports)
        reports.update(mapping.reports)
        merged[name] = Mapping(
            mapping.name, mapping.schema_date, mapping.follows, mapping.format, reports
        )
    return merged


def load_mapping(name_or_path: str | Path | None = None) -> Mapping:
    """A bundled mapping by name (default: the current Shadowserver one) or a mapping file."""
    bundled = bundled_mappings()
    if name_or_path is None:
        return bundled[DEFAULT_MAPPING]
    if str(name_or_path) in bundled:
        return bundled[str(name_or_path)]
    path = Path(name_or_path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        known = ", ".join(sorted(bundled))
        raise MappingError(
            f"{path}: not a bundled mapping ({known}) nor a readable mapping file: {exc}"
        ) from None
    mapping, includes = parse_mapping(body, str(path))
    for included in includes:
        if included not in bundled:
            raise MappingError(f"{path}: includes unknown mapping {included!r}")
        mapping.reports.update(
            {k: v for k, v in bundled[included].reports.items() if k not in mapping.reports}
        )
    return mapping


TYPED_CONVERSIONS: Final = {
    "convert_int": "int",
    "invalidate_zero": "int",
    "convert_float": "float",
    "convert_bool": "bool",
}


def field_types(mapping: Mapping) -> dict[str, str]:
    """The IntelMQ type (int, float, bool) of each extra field some report of the mapping
    converts, by output name: how IntelMQ's parser would type it in an event."""
    from botcensus.feeds.vocabulary import BY_KEY, output_key

    types: dict[str, str] = {}
    for report in mapping.reports.values():
        for rule in report.rules:
            kind = TYPED_CONVERSIONS.get(rule.convert or "")
            key = output_key(rule.key)
            if kind is not None and key not in BY_KEY:
                types.setdefault(key, kind)
    return types


def report_type_from_name(file_name: str) -> str | None:
    """The report type in a Shadowserver file name (YYYY-MM-DD-<type>-<anything>.csv)."""
    match = FILE_NAME_RE.match(file_name)
    return match.group(1) if match else None

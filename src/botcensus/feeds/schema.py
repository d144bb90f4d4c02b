"""Shadowserver's published schema (the JSON IntelMQ's parser downloads, `intelmq.json` in
Shadowserver's report_schema repository) loaded as the dataset's mapping, so new report types
and mapping changes work without a botcensus release.

The file's format (IntelMQ's `_config.py` reads it the same way): `_meta` with
`date_created` and `change_log`, then one entry per report with `feed_name`, `file_name`
(the report type in file names), `required_fields` / `optional_fields` as
`[field, column, conversion(, True)]`, `constant_fields` and `url`. botcensus keeps the
infected-host reports (classification.type `infected-system`) and the sinkhole DNS reports;
the others (scans, honeypots, ...) stay unread and are listed. The bundled snapshot stays the
default until a schema is installed in the dataset (DIR/feeds/schema/shadowserver.json).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from botcensus.feeds.convert import CONVERSIONS
from botcensus.feeds.mapping import (
    DEFAULT_MAPPING,
    Mapping,
    MappingError,
    bundled_mappings,
    parse_mapping,
)
from botcensus.store.atomic import write_bytes
from botcensus.store.layout import SCHEMA

LEGACY: Final = "shadowserver-legacy"


@dataclass
class SchemaUpdate:
    """What loading a schema file gives: the mapping and what was left out, and why."""

    mapping: Mapping
    date: str | None
    kept: list[str] = field(default_factory=list)
    not_infected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    change_log: list[str] = field(default_factory=list)


def _wanted(entry: dict[str, Any]) -> bool:
    constants = entry.get("constant_fields", {})
    kind = constants.get("classification.type") if isinstance(constants, dict) else None
    return kind == "infected-system" or "sinkhole" in str(entry.get("file_name", ""))


def _rules(raw: Any, where: str, notes: list[str]) -> list[list[Any]]:
    """Rules as botcensus reads them; a conversion botcensus does not know is dropped (the
    cell is kept as text) and noted."""
    if not isinstance(raw, list):
        raise MappingError(f"{where}: expected a list of [field, column, conversion]")
    rules = []
    for item in raw:
        if not (isinstance(item, list) and 2 <= len(item) <= 4):
            raise MappingError(f"{where}: bad rule {item!r}")
        if len(item) > 2 and item[2] is not None and item[2] not in CONVERSIONS:
            notes.append(f"{where}: conversion {item[2]!r} unknown to botcensus; {item[1]} as text")
            item = item[:2]
        rules.append(item)
    return rules


def from_shadowserver(body: Any, where: str) -> SchemaUpdate:
    """The mapping a Shadowserver schema file describes (MappingError naming the file and the
    entry if it is not one)."""
    if not isinstance(body, dict) or not all(isinstance(v, dict) for v in body.values()):
        raise MappingError(f"{where}: not a Shadowserver schema (an object of report entries)")
    meta = body.get("_meta", {})
    created = meta.get("date_created")  # IntelMQ reads a schema without _meta too
    date = None
    if created is not None:
        try:
            date = datetime.fromisoformat(str(created).replace("Z", "+00:00")).date().isoformat()
        except ValueError:
            raise MappingError(f"{where}: _meta.date_created {created!r} is not a date") from None
    reports: dict[str, Any] = {}
    notes: list[str] = []
    bundled = bundled_mappings()[DEFAULT_MAPPING].reports
    not_infected = []
    for key, entry in sorted(body.items()):
        if key == "_meta":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise MappingError(f"{where}: entry {key!r} has no file_name")
        report_type = entry["file_name"]
        if not _wanted(entry):
            not_infected.append(report_type)
            continue
        entry_where = f"{where}:{key}"
        reports[report_type] = {
            "feed_name": entry.get("feed_name"),
            "required_fields": _rules(entry.get("required_fields", []), entry_where, notes),
            "optional_fields": _rules(entry.get("optional_fields", []), entry_where, notes),
            "constant_fields": entry.get("constant_fields", {}),
            "url": entry.get("url"),
            # the published column list is not in this file; keep the bundled one where known
            "columns": list(bundled[report_type].columns) if report_type in bundled else [],
        }
    if not reports:
        raise MappingError(
            f"{where}: no infected-host report types in this schema "
            f"({len(not_infected)} others: {', '.join(not_infected[:8])}"
            f"{', ...' if len(not_infected) > 8 else ''})"
        )
    raw = {
        "name": f"shadowserver-{date or 'undated'}",
        "schema_date": date,
        "follows": f"Shadowserver's schema file {where} (_meta.date_created {created})",
        "provider": "shadowserver",
        "format": "csv",
        "includes": [LEGACY],
        "reports": reports,
    }
    mapping, _ = parse_mapping(raw, where)
    change_log = meta.get("change_log", [])
    return SchemaUpdate(
        _with_legacy(mapping),
        date,
        sorted(reports),
        sorted(not_infected),
        notes,
        [str(c) for c in change_log] if isinstance(change_log, list) else [],
    )


def _with_legacy(mapping: Mapping) -> Mapping:
    reports = dict(bundled_mappings()[LEGACY].reports)
    reports.update(mapping.reports)
    return Mapping(mapping.name, mapping.schema_date, mapping.follows, mapping.format, reports)


def installed_path(dataset: Path) -> Path:
    return dataset / SCHEMA


def load_file(path: Path) -> SchemaUpdate:
    try:
        body = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise MappingError(f"{path}: cannot read it as JSON: {exc}") from None
    return from_shadowserver(body, str(path))


def install(dataset: Path, path: Path, *, allow_older: bool = False) -> SchemaUpdate:
    """Check a schema file and install it as the dataset's mapping (written atomically; the
    one it replaces is kept as shadowserver.json.previous, also written atomically, so a
    crash leaves one schema or the other installed, never none). A schema older than the
    installed one is refused unless `allow_older`."""
    update = load_file(path)
    target = installed_path(dataset)
    current = active(dataset)
    older = update.date is None or (
        current.schema_date is not None and update.date < current.schema_date
    )
    if older and not allow_older:
        raise MappingError(
            f"{path}: schema of {update.date or 'unknown date'} is older than the one in use "
            f"({current.name}); give --allow-older to install it anyway"
        )
    data = path.read_bytes()
    stamp = {
        "installed": datetime.now(UTC).isoformat(timespec="seconds"),
        "from": str(path.resolve()),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if target.exists():
        write_bytes(target.read_bytes(), target.with_name(f"{target.name}.previous"))
    write_bytes(json.dumps({"installed": stamp, "schema": json.loads(data)}).encode(), target)
    return update


def active(dataset: Path | None) -> Mapping:
    """The dataset's mapping: the installed Shadowserver schema, else the bundled snapshot."""
    if dataset is not None:
        path = installed_path(dataset)
        if path.exists():
            try:
                body = json.loads(path.read_bytes())
                return from_shadowserver(body["schema"], str(path)).mapping
            except (OSError, ValueError, KeyError, TypeError, MappingError) as exc:
                raise MappingError(f"{path}: installed schema unreadable ({exc})") from None
    return bundled_mappings()[DEFAULT_MAPPING]

"""Which mapping, report type and feed name a file needs (from its name, or the options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from botcensus.feeds.mapping import (
    INTELMQ_MAPPING,
    Mapping,
    MappingError,
    ReportMapping,
    load_mapping,
    report_type_from_name,
)

JSON_SUFFIXES: Final = (".json", ".jsonl", ".ndjson")


@dataclass(frozen=True, slots=True)
class Source:
    """How one file is read and mapped."""

    format: str
    mapping: Mapping
    report: ReportMapping
    feed_name: str


def resolve(path: Path, mapping: str | Path | None, feed: str | None) -> Source:
    """The mapping, report type and feed name for a file (MappingError if none fits)."""
    if mapping is None and path.suffix.lower() in JSON_SUFFIXES:
        mapping = INTELMQ_MAPPING
    chosen = load_mapping(mapping)
    if len(chosen.reports) == 1:
        report = next(iter(chosen.reports.values()))
        name = feed or report.feed_name or chosen.name
        return Source(chosen.format, chosen, report, name)
    report_type = feed if feed in chosen.reports else report_type_from_name(path.name)
    if report_type is None or report_type not in chosen.reports:
        raise MappingError(
            f"the file name gives no report type of mapping {chosen.name} (expected "
            f"YYYY-MM-DD-<type>-....csv, <type> one of {', '.join(sorted(chosen.reports))}); "
            "give --feed REPORT_TYPE"
        )
    report = chosen.report(report_type)
    return Source(chosen.format, chosen, report, report.feed_name or report_type)

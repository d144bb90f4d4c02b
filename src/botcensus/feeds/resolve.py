"""Which mapping, report type and feed name a file needs (from its name, or the options)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath
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
DATED_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}-[A-Za-z0-9_]+-")
"""Shadowserver's own file names (report-filename.md): a date, the report type, the rest."""


class UnknownReportError(MappingError):
    """The file names a report type the mapping does not know (a scan or honeypot report in
    a CERT's inbox): skipped and counted, not an error."""


@dataclass(frozen=True, slots=True)
class Source:
    """How one file is read and mapped."""

    format: str
    mapping: Mapping
    report: ReportMapping
    feed_name: str


def _by_feed_name(chosen: Mapping, name: str) -> str | None:
    """The report type whose feed name is `name` (older files are named by feed name, e.g.
    Sinkhole-HTTP-Drone.csv), case and separators ignored."""
    wanted = name.lower().replace("_", "-").replace(" ", "-")
    for report_type, report in chosen.reports.items():
        feed_name = (report.feed_name or "").lower().replace("_", "-").replace(" ", "-")
        if feed_name and feed_name == wanted:
            return report_type
    return None


def resolve(
    name: str,
    mapping: str | Path | Mapping | None,
    feed: str | None,
    default: Mapping | None = None,
) -> Source:
    """The mapping, report type and feed name for a report file called `name`
    (UnknownReportError if the name gives a report type the mapping lacks, MappingError if it
    gives none). `default`: the mapping for a CSV report when none is given."""
    if mapping is None and PurePath(name).suffix.lower() in JSON_SUFFIXES:
        mapping = INTELMQ_MAPPING
    if mapping is None and default is not None:
        mapping = default
    chosen = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    if len(chosen.reports) == 1:
        report = next(iter(chosen.reports.values()))
        return Source(chosen.format, chosen, report, feed or report.feed_name or chosen.name)
    if feed is not None:
        report_type = feed if feed in chosen.reports else _by_feed_name(chosen, feed)
        if report_type is None:
            raise MappingError(
                f"--feed {feed!r} is no report type or feed name of mapping {chosen.name} "
                f"(it has: {', '.join(sorted(chosen.reports))})"
            )
    else:
        named = report_type_from_name(name)
        report_type = named if named in chosen.reports else None
        if report_type is None:
            report_type = _by_feed_name(chosen, PurePath(name).stem)
        if report_type is None and named is not None and DATED_RE.match(name):
            raise UnknownReportError(
                f"report type {named!r} is not one mapping {chosen.name} knows "
                "(not an infected-host report); skipped"
            )
    if report_type is None:
        raise MappingError(
            f"the file name gives no report type (expected YYYY-MM-DD-<type>-....csv, "
            f"<type> one of mapping {chosen.name}'s: {', '.join(sorted(chosen.reports))}); "
            "give --feed REPORT_TYPE"
        )
    report = chosen.report(report_type)
    return Source(chosen.format, chosen, report, report.feed_name or report_type)

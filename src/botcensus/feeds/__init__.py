"""Third-party infected-host reports (Shadowserver, IntelMQ, any CSV or JSON lines with a
mapping file) in and out: ingest them as feed events and sightings, export events as IntelMQ
JSON lines or Shadowserver CSV."""

from botcensus.feeds.export import FORMATS as EXPORT_FORMATS
from botcensus.feeds.export import ExportQuery, export
from botcensus.feeds.ingest import FileReport, IngestReport, ingest
from botcensus.feeds.mapping import (
    DEFAULT_MAPPING,
    Mapping,
    MappingError,
    ReportMapping,
    bundled_mappings,
    load_mapping,
    report_type_from_name,
)
from botcensus.feeds.sightings import FEED_PART, feed_sightings, rebuild_days

__all__ = [
    "DEFAULT_MAPPING",
    "EXPORT_FORMATS",
    "FEED_PART",
    "ExportQuery",
    "FileReport",
    "IngestReport",
    "Mapping",
    "MappingError",
    "ReportMapping",
    "bundled_mappings",
    "export",
    "feed_sightings",
    "ingest",
    "load_mapping",
    "rebuild_days",
    "report_type_from_name",
]

"""Third-party infected-host reports (Shadowserver, IntelMQ, any CSV or JSON lines with a
mapping file) in and out: read, map and check them, and hand the events to store/ (which
keeps them and their sightings); export events as IntelMQ JSON lines or Shadowserver CSV."""

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

__all__ = [
    "DEFAULT_MAPPING",
    "EXPORT_FORMATS",
    "ExportQuery",
    "FileReport",
    "IngestReport",
    "Mapping",
    "MappingError",
    "ReportMapping",
    "bundled_mappings",
    "export",
    "ingest",
    "load_mapping",
    "report_type_from_name",
]

"""Third-party infected-host reports (Shadowserver, IntelMQ, any CSV or JSON lines with a
mapping file) in and out: read, map and check them, and hand the events to store/ (which
keeps them and their sightings). Events leave through export/ (`botcensus export`)."""

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
    "FileReport",
    "IngestReport",
    "Mapping",
    "MappingError",
    "ReportMapping",
    "bundled_mappings",
    "ingest",
    "load_mapping",
    "report_type_from_name",
]

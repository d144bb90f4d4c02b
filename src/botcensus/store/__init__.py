"""The Parquet dataset: roll the sinkhole's log into it, roll events up into daily sightings,
read windows of it, enforce retention."""

from botcensus.store.db import connect
from botcensus.store.events import RollReport, clean_temporaries, events_table, roll_segment
from botcensus.store.read import as_name_of_asn, event_files, iter_events, sightings_view
from botcensus.store.retention import RetentionReport, apply_retention
from botcensus.store.sightings import RollupReport, rollup, sighting_files, write_sightings

__all__ = [
    "RetentionReport",
    "RollReport",
    "RollupReport",
    "apply_retention",
    "as_name_of_asn",
    "clean_temporaries",
    "connect",
    "event_files",
    "events_table",
    "iter_events",
    "roll_segment",
    "rollup",
    "sighting_files",
    "sightings_view",
    "write_sightings",
]

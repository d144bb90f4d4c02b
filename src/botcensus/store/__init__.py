"""The Parquet dataset: roll the sinkhole's log into it, read windows of it."""

from botcensus.store.events import RollReport, clean_temporaries, events_table, roll_segment
from botcensus.store.read import connect, event_files, iter_events

__all__ = [
    "RollReport",
    "clean_temporaries",
    "connect",
    "event_files",
    "events_table",
    "iter_events",
    "roll_segment",
]

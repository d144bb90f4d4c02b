"""Clean-up speed: the decay rate and half-life of weekly counts, the rate before and after
intervention marks (decay), and `botcensus cleanup` as one call gathering decay, survival
and the notification effect (run). See docs/measurement.md.
"""

from botcensus.measure.cleanup.campaign import NOTIFIED_COLUMNS, notification_table
from botcensus.measure.cleanup.decay import (
    DecayFit,
    Mark,
    complete_weeks,
    decay_rate,
    decay_table,
    fit_decay,
    mark_effects,
    parse_marks,
)
from botcensus.measure.cleanup.run import CleanupDataError, CleanupQuery, CleanupResult, cleanup

__all__ = [
    "NOTIFIED_COLUMNS",
    "CleanupDataError",
    "CleanupQuery",
    "CleanupResult",
    "DecayFit",
    "Mark",
    "cleanup",
    "complete_weeks",
    "decay_rate",
    "decay_table",
    "fit_decay",
    "mark_effects",
    "notification_table",
    "parse_marks",
]

"""Time to clean-up: who counts as cleaned (silence), which identities can be followed
(networks), Kaplan–Meier curves (curves) and the notification effect as a Cox hazard ratio
(cox; lifelines is loaded only when a model is fitted). See docs/measurement.md.
"""

from botcensus.measure.survival.cox import (
    KEYS,
    HazardRatio,
    cox_notified,
    landmark_rows,
    notification_hazard_ratio,
    notification_hr,
)
from botcensus.measure.survival.curves import (
    KM_COLUMNS,
    curves_by_group,
    kaplan_meier,
    median_time,
    survival_at,
    survival_summary,
)
from botcensus.measure.survival.networks import stable_networks
from botcensus.measure.survival.silence import (
    DEFAULT_RULE,
    SURVIVAL_COLUMNS,
    SilenceRule,
    outage_days,
    survival_rows,
)

__all__ = [
    "DEFAULT_RULE",
    "KEYS",
    "KM_COLUMNS",
    "SURVIVAL_COLUMNS",
    "HazardRatio",
    "SilenceRule",
    "cox_notified",
    "curves_by_group",
    "kaplan_meier",
    "landmark_rows",
    "median_time",
    "notification_hazard_ratio",
    "notification_hr",
    "outage_days",
    "stable_networks",
    "survival_at",
    "survival_rows",
    "survival_summary",
]

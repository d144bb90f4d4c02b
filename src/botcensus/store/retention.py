"""Retention: delete raw events and sightings older than the settings allow."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from botcensus.store.events import EVENTS_DIR
from botcensus.store.sightings import MANIFEST, SIGHTINGS_DIR

FEED_EVENTS_DIR = "feeds"
"""Where ingest keeps feed events (feeds/dataset.py); their sightings are written at ingest."""


@dataclass(frozen=True, slots=True)
class RetentionReport:
    event_days_deleted: tuple[str, ...]
    sighting_days_deleted: tuple[str, ...]
    event_days_kept_unrolled: tuple[str, ...]
    """Expired event days not yet rolled up: kept, so nothing is lost unsummarised."""


def _days(root: Path) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    return sorted((p.name.removeprefix("date="), p) for p in root.glob("date=*") if p.is_dir())


def apply_retention(
    dataset: Path, today: date, *, event_days: int, sighting_days: int
) -> RetentionReport:
    """Delete whole day partitions older than the limits. `today` is passed in (no clock here)."""
    manifest_path = dataset / SIGHTINGS_DIR / MANIFEST
    rolled = (
        set(json.loads(manifest_path.read_text(encoding="utf-8")))
        if manifest_path.exists()
        else set()
    )
    event_cut = (today - timedelta(days=event_days)).isoformat()
    sighting_cut = (today - timedelta(days=sighting_days)).isoformat()
    deleted_events, kept, deleted_sightings = [], [], []
    for day, path in _days(dataset / EVENTS_DIR):
        if day < event_cut:
            if day in rolled:
                shutil.rmtree(path)
                deleted_events.append(day)
            else:
                kept.append(day)
    for day, path in _days(dataset / FEED_EVENTS_DIR):
        if day < event_cut:
            shutil.rmtree(path)
            deleted_events.append(f"feeds/{day}")
    for day, path in _days(dataset / SIGHTINGS_DIR):
        if day < sighting_cut:
            shutil.rmtree(path)
            deleted_sightings.append(day)
    return RetentionReport(tuple(deleted_events), tuple(deleted_sightings), tuple(kept))

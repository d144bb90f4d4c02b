"""When each day's data was written: the clock retention counts from.

`DIR/retention.json` holds, per area, the last time each day was written there: `events`
when that day's raw events were rolled up into sightings, `feeds` when an ingest stored
rows of that day, `sightings` when that day's sightings were (re)written. Times are the wall
clock of the writer, never the data's own dates, so a replayed or historical dataset (2011)
is as young as its roll-up. A day with no entry has an unknown age: retention starts its
clock instead of deleting it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from botcensus.store.atomic import write_json
from botcensus.store.files import locked, warn
from botcensus.store.layout import LEDGER
from botcensus.store.layout import LEDGER_LOCK as LOCK

Area = Literal["events", "feeds", "sightings"]
AREAS: Final[tuple[Area, ...]] = ("events", "feeds", "sightings")
Ledger = dict[str, dict[str, str]]


def read_ledger(dataset: Path) -> Ledger:
    """Every stamp, by area and day (ISO 8601 UTC times). An unreadable ledger is empty (so
    every clock restarts: never a reason to delete)."""
    path = dataset / LEDGER
    if not path.exists():
        return {a: {} for a in AREAS}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        ledger: Ledger = {a: {str(d): str(t) for d, t in raw.get(a, {}).items()} for a in AREAS}
    except (ValueError, AttributeError, OSError) as exc:
        warn(f"{path}: cannot be read ({exc}); every retention clock starts again")
        return {a: {} for a in AREAS}
    return ledger


def update(dataset: Path, changes: dict[Area, dict[str, str | None]]) -> None:
    """Set (a time) or remove (None) stamps, under the ledger's lock."""
    if not any(changes.values()):
        return
    with locked(dataset / LOCK):
        ledger = read_ledger(dataset)
        for area, days in changes.items():
            for day, when in days.items():
                if when is None:
                    ledger[area].pop(day, None)
                else:
                    ledger[area][day] = when
        write_json(ledger, dataset / LEDGER)


def stamp(dataset: Path, area: Area, days: Iterable[str], when: datetime) -> None:
    """Record that these days of `area` were written at `when`."""
    text = when.isoformat(timespec="seconds")
    update(dataset, {area: dict.fromkeys(days, text)})

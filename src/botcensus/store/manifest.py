"""Manifests of the roll-up products: which input files each day of a product was built from.

One mechanism for every product (sinkhole sightings from event files, sketches from
sightings files, roll-up tables from sightings files): per day (per window for the roll-up
tables, by area), the name, size and modification time of each input file. A day is
rebuilt only when that list changed, and retention deletes an input day only once the product
holds it. Written atomically after each day, under the roll-up lock, so a crash loses no
finished day.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from botcensus.store import layout
from botcensus.store.atomic import DatasetError, write_json
from botcensus.store.files import warn

T = TypeVar("T")
Entry = list[list[object]]
"""[[file name, size, mtime_ns], ...]: what one day was built from."""


@dataclass(frozen=True, slots=True)
class Product:
    """A roll-up product's manifest: where it lives and what a damaged one means."""

    path: Path
    """Relative to the dataset root."""
    strict: bool
    """Damaged: refuse to go on (True), or start again from nothing (False)."""
    advice: str
    """Said when the manifest cannot be read."""


SIGHTINGS: Final = Product(
    layout.ROLLED,
    strict=True,
    advice="restore it from a backup or move it away to rebuild every day from the event "
    "files left",
)
"""A lost sightings manifest would rebuild days from only the event files retention left."""
SKETCHES: Final = Product(
    layout.SKETCHED,
    strict=False,
    advice="every day with sightings is sketched again",
)
"""Sketches of days whose sightings are gone stay as they are: starting again loses nothing."""
AGGREGATES: Final = Product(
    layout.AGGREGATED,
    strict=False,
    advice="every window is built again; tables of days whose sightings are gone stay as they are",
)
"""Roll-up tables (store/aggregates.py), by area ("day", "week-sat") and window."""


def fingerprint(files: list[Path]) -> Entry:
    """Name, size and modification time of each file: what a manifest compares."""
    stats = [(f.name, f.stat()) for f in files]
    return [[name, st.st_size, st.st_mtime_ns] for name, st in stats]


def names(entry: object) -> set[str]:
    """The file names of a day's entry (none if the entry is missing or malformed)."""
    return (
        {str(e[0]) for e in entry if isinstance(e, list) and e}
        if isinstance(entry, list)
        else set()
    )


@dataclass
class Manifest:
    """One product's manifest of one dataset, as read; `record` writes it back."""

    dataset: Path
    product: Product
    days: dict[str, Entry] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.dataset / self.product.path

    def entry(self, day: str) -> Entry:
        return self.days.get(day, [])

    def built_from(self, day: str, files: list[Path]) -> bool:
        """Whether the day was built from exactly these files, as they are now."""
        return day in self.days and self.days[day] == fingerprint(files)

    def record(self, day: str, entry: Entry) -> None:
        """Set a day's entry and write the manifest (atomically)."""
        self.days[day] = entry
        write(self.dataset, self.product, self.days)


def read(dataset: Path, product: Product, shape: Callable[[object], T], empty: T) -> T:
    """A product's manifest file as `shape` makes it (`empty` if none was written yet). A
    damaged one raises DatasetError for a strict product, else counts as empty (with a
    logged warning)."""
    path = dataset / product.path
    if not path.exists():
        return empty
    try:
        return shape(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, AttributeError) as exc:
        if product.strict:
            raise DatasetError(
                f"{path}: roll-up manifest cannot be read ({exc}); {product.advice}"
            ) from None
        warn(f"{path}: cannot be read ({exc}); {product.advice}")
        return empty


def write(dataset: Path, product: Product, value: object) -> None:
    """Write a product's manifest (atomically)."""
    write_json(value, dataset / product.path)


def load(dataset: Path, product: Product) -> Manifest:
    """The product's manifest of days (see `read` for a missing or damaged one)."""

    def days(raw: object) -> dict[str, Entry]:
        return {str(day): list(entry) for day, entry in dict(raw).items()}  # type: ignore[call-overload]

    return Manifest(dataset, product, read(dataset, product, days, {}))

"""Rewrite version-1 sightings files as version 2 (the address key added): an explicit step
(`botcensus rollup --add-address-key`), one file at a time, each replaced atomically, each
logged; rows, their order and every other value stay as they were.

A file whose addresses are not all in canonical text is left as it is (a warning names it):
its key could merge two texts the census counts apart. While any file lacks the key the
census counts by the text, with the same result, only slower (docs/scale.md).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import layout, manifest
from botcensus.store.atomic import write_parquet
from botcensus.store.files import area_files, day_files, locked, warn
from botcensus.store.sighting_key import as_sightings, keyed

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpgradeReport:
    """What one run did: files rewritten, files that had the key already, files left alone."""

    rewritten: tuple[Path, ...]
    current: int
    problems: tuple[str, ...] = ()
    """One message per file left as version 1 (also logged)."""


def add_address_key(dataset: Path) -> UpgradeReport:
    """Give every sightings file of `dataset` the address key (sightings version 2). Holds
    the roll-up lock and, where feeds exist, the ingest lock (no writer of sightings runs
    meanwhile). A day's local sketch stays current (it hashes the text, which is unchanged)."""
    rewritten: list[Path] = []
    current = 0
    problems: list[str] = []
    with contextlib.ExitStack() as held:
        held.enter_context(locked(dataset / layout.ROLLUP_LOCK))
        if (dataset / layout.FEEDS).is_dir():  # no feeds yet: no lock file made
            held.enter_context(locked(dataset / layout.INGEST_LOCK))
        sketched = manifest.load(dataset, manifest.SKETCHES)
        files = area_files(dataset / layout.SIGHTINGS, problems)
        for path in files:
            try:
                if keyed(pq.read_schema(path)):
                    current += 1
                    continue
                day = path.parent.name.removeprefix(layout.PARTITION_PREFIX)
                was_sketched = sketched.built_from(day, day_files(path.parent))
                _rewrite(path)
            except (OSError, ValueError, pa.ArrowException) as exc:
                problems.append(warn(f"{path}: left as it was, without the address key: {exc}"))
                continue
            rewritten.append(path)
            if was_sketched:  # the sketch bytes do not depend on the key
                sketched.record(day, manifest.fingerprint(day_files(path.parent)))
    return UpgradeReport(tuple(rewritten), current, tuple(problems))


def _rewrite(path: Path) -> None:
    """Replace one file with its rows and the key; refuses (ValueError) a file whose rows
    would change other than by gaining the key."""
    table = pq.read_table(path)
    foreign = sorted(set(table.column_names) - set(SIGHTING_SCHEMA.names))
    if foreign:
        raise ValueError(f"columns botcensus does not know: {', '.join(foreign)}")
    upgraded = as_sightings(table, respell=False)
    same = upgraded.drop_columns(
        [n for n in upgraded.column_names if n not in table.column_names]
    ).select(table.column_names)
    if not same.equals(table.cast(same.schema)):
        raise ValueError("its rows would change beyond the key (column types)")
    write_parquet(upgraded, path)
    log.debug("%s: rewritten as sightings version 2 (%d rows)", path, table.num_rows)

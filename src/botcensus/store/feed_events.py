"""Feed events on disk: DIR/feeds/date=YYYY-MM-DD/*.parquet, deduplicated by identity hash.

A row is stored once: its identity hash (computed by feeds/identity.py: the event's meaning,
not its line) is checked against the hashes already stored for its day and those seen earlier in the
run. Files are written under a temporary dot-name and renamed when a file's rows are all in,
so readers never see a partial file; an exclusive lock keeps two ingests (and retention)
from racing. Files are 0600 in 0700 directories: they hold addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from botcensus.store import layout
from botcensus.store.atomic import Pending, clean_temporaries, publish_all
from botcensus.store.damaged import read_screened
from botcensus.store.feed_facts import Facts
from botcensus.store.files import area_files, day_files, day_partitions, locked_fd

HASH_COLUMN: Final = "event_hash"
STATISTICS: Final = ("time_source", "feed_name", "malware_name", "source_cc", "source_asn")
DAY_US: Final = 86_400_000_000
UNIQUE_COLUMNS: Final = frozenset(
    {HASH_COLUMN, "source_ip", "time_source", "source_port", "source_line"}
)


def feed_files(dataset: Path, days: list[str] | None = None) -> list[Path]:
    """The visible feed-event files (day partitions only, no symlinks), optionally only of
    some days (YYYY-MM-DD)."""
    root = dataset / layout.FEEDS
    if days is None:
        return area_files(root)
    wanted = set(days)
    return [f for d, folder in day_partitions(root).days if d in wanted for f in day_files(folder)]


def read_hashes(dataset: Path, files: list[Path]) -> list[pa.Table]:
    """The hash column of each readable file; damaged ones are quarantined."""

    def read(chosen: list[Path]) -> list[pa.Table]:
        return [pq.read_table(f, columns=[HASH_COLUMN]) for f in chosen]

    tables, _ = read_screened(dataset, files, read, None, (HASH_COLUMN, "time_source"))
    return tables


def hash_keys(hashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The first 8 bytes of each 16-byte hash as uint64: the in-memory dedup key (a false
    match needs two different rows of one day to share 64 bits: about 1 in 10^12 per pair
    of days of 5 million rows)."""
    array = hashes.combine_chunks() if isinstance(hashes, pa.ChunkedArray) else hashes
    array = array.cast(pa.binary(16))
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    start = array.offset * 16
    rows = raw[start : start + 16 * len(array)].reshape(-1, 16)
    return np.ascontiguousarray(rows[:, :8]).view(">u8").ravel().astype(np.uint64)


def _sorted_firsts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The keys sorted, and the position of each in `keys` (stable: equal keys keep their
    order, so the first of a run of equal keys is the earliest row)."""
    order = np.argsort(keys, kind="stable")
    return keys[order], order


class HashSet:
    """A set of uint64 keys as a few sorted runs (merged like a log-structured tree), so a
    batch is checked with binary searches and added without re-sorting everything."""

    def __init__(self, runs: list[np.ndarray] | None = None) -> None:
        self.runs: list[np.ndarray] = list(runs or [])

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each key is in the set; searching sorted keys is several times faster (the
        binary searches of neighbouring keys touch the same cache lines)."""
        found = np.zeros(len(keys), dtype=bool)
        for run in self.runs:
            if len(run):
                at = np.minimum(np.searchsorted(run, keys), len(run) - 1)
                found |= run[at] == keys
        return found

    def add(self, keys: np.ndarray, *, ordered: bool = False) -> None:
        """Add keys that are distinct and not in the set yet (`ordered`: already sorted)."""
        if len(keys) == 0:
            return
        self.runs.append(keys if ordered else np.sort(keys))
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            last = self.runs.pop()
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], last]))


@dataclass
class FeedStore:
    """Dedup state and open writers for one ingest run (hold `lock()` while using it)."""

    dataset: Path
    run: str
    seen: dict[int, HashSet] = field(default_factory=dict)
    writers: dict[tuple[int, pa.Schema], tuple[pq.ParquetWriter, Pending]] = field(
        default_factory=dict
    )
    parts: int = 0
    facts: dict[int, Facts] = field(default_factory=dict)
    """What the open files' rows hold of their enrichment, by day (for the sightings)."""
    written: dict[str, Facts] = field(default_factory=dict)
    """The same of every file published in this run, by day (YYYY-MM-DD)."""

    def lock(self) -> int:
        """Take the ingest lock (retention takes it too); close the descriptor to release."""
        return locked_fd(self.dataset / layout.INGEST_LOCK)

    def clean_temporaries(self) -> int:
        """Remove event files a killed ingest left half-written (dot-named, never published);
        call it holding the lock, so no other ingest is writing them."""
        days = day_partitions(self.dataset / layout.FEEDS).days
        return clean_temporaries([folder for _, folder in days], "*.parquet")

    def _day_set(self, day: int) -> HashSet:
        if day not in self.seen:
            stored = HashSet()
            name = str(np.datetime64(day, "D"))
            for table in read_hashes(self.dataset, feed_files(self.dataset, [name])):
                keys = hash_keys(table[HASH_COLUMN])
                stored.add(keys[~stored.contains(keys)])
            self.seen[day] = stored
        return self.seen[day]

    def new_rows(self, table: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """The rows not stored before nor earlier in this run (first of equal rows kept),
        and each row's day number."""
        keys = hash_keys(table[HASH_COLUMN])
        micros = pc.cast(table["time_source"], pa.int64()).to_numpy(zero_copy_only=False)
        days = np.floor_divide(micros, DAY_US)
        keep = np.zeros(len(keys), dtype=bool)
        first_day, last_day = days.min(initial=0), days.max(initial=0)
        for day in [first_day] if first_day == last_day else np.unique(days):
            rows = np.arange(len(keys)) if first_day == last_day else np.flatnonzero(days == day)
            known = self._day_set(int(day))
            ordered, at = _sorted_firsts(keys[rows])
            first = np.ones(len(ordered), dtype=bool)
            first[1:] = ordered[1:] != ordered[:-1]
            first &= ~known.contains(ordered)
            keep[rows[at[first]]] = True
            known.add(ordered[first], ordered=True)
        if keep.all():
            return table, days
        return table.filter(pa.array(keep)), days[keep]

    def write(self, table: pa.Table, days: np.ndarray, stem: str) -> None:
        single = len(days) and days.min() == days.max()
        for day in days[:1] if single else np.unique(days):
            part = table if single else table.filter(pa.array(days == day))
            key = (int(day), part.schema)
            if key not in self.writers:
                name = str(np.datetime64(int(day), "D"))
                self.parts += 1
                part_name = f"{stem}-{self.run}-{self.parts:04d}"
                pending = Pending(layout.part(self.dataset, layout.FEEDS, name, part_name))
                writer = pq.ParquetWriter(
                    pending.tmp,
                    part.schema,
                    compression="zstd",
                    compression_level=1,
                    # a dictionary of (nearly) unique values costs time and saves nothing
                    use_dictionary=[c for c in part.schema.names if c not in UNIQUE_COLUMNS],
                    # min/max only where readers filter: text statistics cost half the write
                    write_statistics=[c for c in STATISTICS if c in part.schema.names],
                )
                self.writers[key] = (writer, pending)
            # the facts first: a write that fails part-way may leave rows on disk, and facts
            # of rows never written are harmless (they only send a day to the general form)
            self.facts.setdefault(int(day), Facts()).add(part)
            self.writers[key][0].write_table(part)

    def mark(self) -> dict[int, list[np.ndarray]]:
        """The dedup state now, for `rollback` (the sorted runs are never changed in place)."""
        return {day: list(known.runs) for day, known in self.seen.items()}

    def rollback(self, mark: dict[int, list[np.ndarray]]) -> None:
        """Forget the rows added since `mark`: discard the open (unpublished) files and the
        keys added to the dedup state."""
        for writer, pending in self.writers.values():
            writer.close()
            pending.discard()
        self.writers.clear()
        self.facts.clear()
        self.seen = {day: HashSet(runs) for day, runs in mark.items()}

    def days(self) -> set[str]:
        """The days the open files hold rows of."""
        return {str(np.datetime64(day, "D")) for day, _ in self.writers}

    def commit(self) -> dict[str, list[Path]]:
        """Close and publish every open file; the files published, by day."""
        published: dict[str, list[Path]] = {}
        for (day, _), (writer, pending) in self.writers.items():
            writer.close()
            published.setdefault(str(np.datetime64(day, "D")), []).append(pending.target)
        publish_all(p for _, p in self.writers.values())
        self.writers.clear()
        for day, facts in self.facts.items():
            self.written.setdefault(str(np.datetime64(day, "D")), Facts()).update(facts)
        self.facts.clear()
        return published

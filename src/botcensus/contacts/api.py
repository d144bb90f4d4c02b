"""Import contact sources into DIR/contacts/, load them with the bundled national CERT
table, and look whole columns up (the functions botcensus.contacts exports)."""

from __future__ import annotations

import csv
import importlib.resources
import re
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.contacts.csv_source import read_contacts_csv
from botcensus.contacts.ripe_source import EXCLUDED_NETNAMES, RipeCounts, RipeReader
from botcensus.contacts.store import (
    LEVELS,
    STORE_SCHEMA,
    Problem,
    read_store,
    stamp,
    write_quarantine,
    write_source,
)
from botcensus.contacts.table import LOOKUP_SCHEMA, ContactTable, build_table, lookup_table
from botcensus.model import put_columns

NATIONAL_CERTS: Final = "national-certs"
"""The bundled country table's source name; importing a source of this name replaces it."""
SHOWN_PROBLEMS: Final = 10


@dataclass(frozen=True)
class ImportReport:
    """What one import kept, what it set aside, and where."""

    source: str
    kind: str
    imported: datetime
    files: tuple[Path, ...]
    records: dict[str, int]
    """Records kept, by level (prefix, asn, country)."""
    problems: tuple[Problem, ...]
    """Objects or rows not imported, with file and line (also in the quarantine file)."""
    quarantine: Path | None
    seconds: float
    ripe: RipeCounts | None = None

    def summary(self) -> str:
        """A few lines for people."""
        kept = ", ".join(f"{self.records.get(level, 0)} {level}" for level in LEVELS)
        lines = [
            f"{self.source}: {kept} records from {len(self.files)} files in {self.seconds:.1f} s"
            f" (imported {self.imported.isoformat(timespec='seconds')})"
        ]
        if self.ripe is not None:
            read = ", ".join(f"{n} {cls}" for cls, n in sorted(self.ripe.objects.items()))
            lines.append(f"objects read: {read or 'none'}")
            lines.append(
                f"resources without an abuse contact of their own: {self.ripe.without_contact}"
                f" (ranges inherit one); abuse-c not resolved: {self.ripe.unresolved};"
                f" placeholders skipped: {self.ripe.excluded}"
            )
        if self.problems:
            lines.append(f"{len(self.problems)} not imported, see {self.quarantine}:")
            lines += [f"  {p}" for p in self.problems[:SHOWN_PROBLEMS]]
        return "\n".join(lines)


def import_ripe(
    data_dir: Path,
    files: Sequence[Path],
    *,
    source: str = "ripe",
    exclude_netnames: Container[str] = EXCLUDED_NETNAMES,
    now: datetime | None = None,
) -> ImportReport:
    """Import RIPE split files (plain or gzip, any order) as one source, replacing that
    source's previous import. Raises ValueError, replacing nothing, if no record results."""
    started, imported = time.monotonic(), now or datetime.now(UTC)
    reader = RipeReader(exclude_netnames)
    for path in files:
        reader.read(path)
    records = reader.records()
    return _save(
        data_dir, source, "ripe", records, reader.problems, files, started, imported, reader.counts
    )


def import_csv(
    data_dir: Path, file: Path, *, source: str | None = None, now: datetime | None = None
) -> ImportReport:
    """Import a CSV contact table as one source, replacing that source's previous import.
    The source is named after the file (lower case, other characters as '-') unless given."""
    started, imported = time.monotonic(), now or datetime.now(UTC)
    records, problems = read_contacts_csv(file)
    name = source or re.sub(r"[^a-z0-9._-]+", "-", file.stem.lower()).strip("-.") or "csv"
    return _save(data_dir, name, "csv", records, problems, [file], started, imported, None)


def _save(
    data_dir: Path, name: str, kind: str, records: pa.Table, problems: Sequence[Problem],
    files: Sequence[Path], started: float, imported: datetime, ripe: RipeCounts | None,
) -> ImportReport:  # fmt: skip
    if records.num_rows == 0:
        read = ", ".join(str(f) for f in files)
        raise ValueError(f"no contact records in {read}; source {name!r} left as it was")
    write_source(data_dir, stamp(records, name, kind, imported))
    counts = pc.value_counts(records.column("level")).to_pylist()
    problems = sorted(problems, key=lambda p: (p.file, p.line))
    return ImportReport(
        source=name,
        kind=kind,
        imported=imported,
        files=tuple(files),
        records={c["values"]: c["counts"] for c in counts},
        problems=tuple(problems),
        quarantine=write_quarantine(data_dir, name, problems),
        seconds=time.monotonic() - started,
        ripe=ripe,
    )


def national_certs_path() -> Path:
    """The bundled country -> national CERT table (CSV, dated and sourced per row)."""
    files = importlib.resources.files("botcensus.contacts")
    return Path(str(files / "data" / f"{NATIONAL_CERTS}.csv"))


def _bundled_certs() -> pa.Table:
    records, problems = read_contacts_csv(national_certs_path())
    if problems:
        raise ValueError(f"bundled table: {problems[0]}")
    with national_certs_path().open(newline="", encoding="utf-8") as f:
        read_on = max(row["read_on"] for row in csv.DictReader(f))
    compiled = datetime.fromisoformat(read_on).replace(tzinfo=UTC)
    return stamp(records, NATIONAL_CERTS, "bundled", compiled)


def load_contacts(data_dir: Path | None, *, national_certs: bool = True) -> ContactTable:
    """Every source imported under DIR/contacts/, plus the bundled national CERT table
    unless `national_certs` is False or a source named 'national-certs' was imported."""
    stored = read_store(data_dir) if data_dir is not None else STORE_SCHEMA.empty_table()
    names = set(stored.column("source").unique().to_pylist())
    if national_certs and NATIONAL_CERTS not in names:
        stored = pa.concat_tables([stored, _bundled_certs()])
    return build_table(stored)


def lookup_contacts(
    table_or_store: ContactTable | Path,
    ips: pa.Array | pa.ChunkedArray,
    asns: pa.Array | pa.ChunkedArray | None = None,
    ccs: pa.Array | pa.ChunkedArray | None = None,
) -> pa.Table:
    """The abuse contact for each row (LOOKUP_SCHEMA columns, same length and order as ips):
    the most specific prefix holding the address, else the row's ASN, else its country.
    Where none has one, every column is null. A Path is loaded with load_contacts first."""
    table = table_or_store
    if isinstance(table, Path):
        table = load_contacts(table)
    return lookup_table(table, ips, asns, ccs)


def enrich_contacts(
    table: pa.Table,
    contacts: ContactTable,
    ip_column: str = "source_ip",
    asn_column: str = "source_asn",
    cc_column: str = "source_cc",
) -> pa.Table:
    """The table with the LOOKUP_SCHEMA columns set (replaced if present), from its address,
    ASN and country columns (an absent ASN or country column skips that level)."""
    names = table.column_names
    found = lookup_table(
        contacts,
        table.column(ip_column),
        table.column(asn_column) if asn_column in names else None,
        table.column(cc_column) if cc_column in names else None,
    )
    return put_columns(table, zip(LOOKUP_SCHEMA, found.columns, strict=True))


def describe(found: pa.Table, ip_column: str = "source_ip") -> list[str]:
    """One tab-separated line per row for people: address, level, e-mail, organisation,
    source, record, import time; '-' where nothing is known."""
    lines = []
    for row in found.select([ip_column, *LOOKUP_SCHEMA.names]).to_pylist():
        imported = row["contact_imported"]
        cells = [
            row[ip_column],
            row["contact_level"],
            row["abuse_email"],
            row["abuse_org"],
            row["contact_source"],
            row["contact_record"],
            imported.isoformat(timespec="seconds") if imported else None,
        ]
        lines.append("\t".join("-" if c is None else str(c) for c in cells))
    return lines

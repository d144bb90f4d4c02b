"""Feed test helpers: the sample report cases, a deterministic enrichment, reading back events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from botcensus.feeds import FileReport, ingest
from botcensus.store.feed_events import feed_files

CASES = Path(__file__).parent / "cases"
CURRENT = (
    "event4_sinkhole",
    "event6_sinkhole",
    "event4_sinkhole_http",
    "event6_sinkhole_http",
    "event4_sinkhole_http_referer",
    "event4_microsoft_sinkhole",
    "event4_microsoft_sinkhole_http",
    "event4_sinkhole_dns",
)
LEGACY = ("botnet_drone", "sinkhole_http_drone", "microsoft_sinkhole", "sinkhole6_http")
# Columns that depend on the run, not on the report: left out of expected events.
VOLATILE = {"event_hash", "source_file", "source_cc", "source_asn", "source_as_name", "geo_db"}


def case_files() -> list[Path]:
    """Every sample report (Shadowserver CSV, generic CSV / JSON lines, IntelMQ events)."""
    return sorted(
        p
        for p in CASES.iterdir()
        if p.suffix in (".csv", ".jsonl") and not p.name.endswith(".expected.json")
    )


def case_mapping(path: Path) -> str | None:
    mapping = path.with_name(f"{path.stem}.mapping.json")
    return str(mapping) if mapping.exists() else None


GEO: dict[str, tuple[str, int, str]] = {
    "5.14.3.4": ("RO", 8708, "RCS & RDS SA"),
    "49.145.5.6": ("PH", 4775, "GLOBE-TELECOM"),
    "103.196.1.2": ("IN", 134707, "EXAMPLE-NET"),
    "79.192.1.2": ("DE", 3320, "DTAG"),
    "2a02:8109:9d80:1a00::1": ("DE", 3209, "VODANET"),
}


def fake_enrich(table: pa.Table) -> pa.Table:
    """A fixed, tiny geo table: the cases' expectations do not move with the bundled data."""
    ips = table["source_ip"].to_pylist()
    found = [GEO.get(ip) if ip else None for ip in ips]
    columns = {
        "source_cc": pa.array([f[0] if f else None for f in found], pa.string()),
        "source_asn": pa.array([f[1] if f else None for f in found], pa.int64()),
        "source_as_name": pa.array([f[2] if f else None for f in found], pa.string()),
        "geo_db": pa.array(["test"] * table.num_rows, pa.string()),
    }
    for name, column in columns.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, column) if at >= 0 else table.append_column(name, column)
    return table


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def stored_events(data: Path, *, volatile: bool = False) -> list[dict[str, Any]]:
    """Every stored feed event, non-empty fields only, by file then line."""
    rows = [
        {k: _plain(v) for k, v in row.items() if v is not None and (volatile or k not in VOLATILE)}
        for path in feed_files(data)
        for row in pq.read_table(path).to_pylist()
    ]
    return sorted(rows, key=lambda r: (r.get("report_type", ""), r.get("source_line", 0)))


def quarantined(report: FileReport) -> list[dict[str, Any]]:
    if report.quarantine_file is None:
        return []
    lines = report.quarantine_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def run_case(path: Path, data: Path) -> tuple[FileReport, list[dict[str, Any]]]:
    report = ingest([path], data, fake_enrich, mapping=case_mapping(path)).files[0]
    return report, stored_events(data)


def expected_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.expected.json")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def write_report(path: Path, rows: list[dict[str, object]], report_type: str | None = None) -> Path:
    """A Shadowserver-style CSV (strings quoted, numbers bare) in the report's published
    columns; the report type defaults to the one in the file name."""
    from botcensus.feeds import load_mapping, report_type_from_name

    kind = report_type or report_type_from_name(path.name)
    assert kind is not None
    columns = load_mapping().report(kind).columns
    lines = [",".join(_cell(c) for c in columns)]
    lines += [",".join(_cell(row.get(c)) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sinkhole_row(n: int, **values: object) -> dict[str, object]:
    """An event4_sinkhole row: host 5.14.<n>; values override."""
    row: dict[str, object] = {
        "timestamp": f"2024-05-01 00:{n // 60 % 60:02d}:{n % 60:02d}",
        "protocol": "tcp",
        "src_ip": f"5.14.{n // 250}.{n % 250 + 1}",
        "src_port": 40000 + n,
        "src_asn": 8708,
        "src_geo": "RO",
        "dst_ip": "184.105.3.4",
        "dst_port": 80,
        "infection": "necurs",
    }
    row.update(values)
    return row


DAMAGED_DIRECTORY: dict[str, str] = {
    "version 20.0": (
        "not a zip archive that can be read (zip file version 20.0, which Python cannot read"
    ),
    "name not UTF-8": (
        "not a zip archive that can be read (a member's name is marked UTF-8 but is not"
    ),
}
"""Damaged central directories Python's ZipFile() itself refuses, with other than BadZipFile
(NotImplementedError, UnicodeDecodeError), and the start of the error botcensus gives."""


def damaged_directory(archive: Path, kind: str) -> Path:
    """`archive` with its last central directory entry damaged as DAMAGED_DIRECTORY[kind]
    says: its "version needed to extract" set to 20.0 (200), or its name flagged UTF-8 (bit
    11) with a first byte that is not."""
    data = bytearray(archive.read_bytes())
    at = data.rfind(b"PK\x01\x02")
    if kind == "version 20.0":
        data[at + 6 : at + 8] = (200).to_bytes(2, "little")
    else:
        flags = int.from_bytes(data[at + 8 : at + 10], "little") | 0x800
        data[at + 8 : at + 10] = flags.to_bytes(2, "little")
        data[at + 46] = 0xFF  # the name follows the entry's 46 fixed bytes
    archive.write_bytes(bytes(data))
    return archive

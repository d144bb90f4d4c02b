"""Shadowserver-compatible CSV of host rows: the columns of `event4_sinkhole_http` or
`event4_sinkhole`, one row per host per day, so a recipient's Shadowserver tooling (and
IntelMQ's Shadowserver parser) reads it.

`timestamp` is the host's first check-in that day; two columns at the end carry what a
Shadowserver event row has no place for: `last_seen` (the last check-in that day) and
`count` (check-ins that day). IntelMQ's parser keeps them as `extra.last_seen` and
`extra.count`. `severity` is "critical", as in Shadowserver's own sinkhole event rows.
Columns botcensus does not know (the sinkhole's own address and port, regions,
sectors) are empty; every text cell passes export.cells' formula rule.
"""

from __future__ import annotations

import io
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.export.base import Renderer, ReportMeta, sorted_hosts, utc_text
from botcensus.export.cells import safe_table

_COMMON: Final = (
    "timestamp", "protocol", "src_ip", "src_port", "src_asn", "src_geo", "src_region",
    "src_city", "src_hostname", "src_naics", "src_sector", "device_vendor", "device_type",
    "device_model", "severity", "dst_ip", "dst_port", "dst_asn", "dst_geo", "dst_region",
    "dst_city", "dst_hostname", "dst_naics", "dst_sector", "public_source", "infection",
    "family", "tag", "application", "version", "event_id",
)  # fmt: skip
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "event4_sinkhole_http": (
        *_COMMON, "http_url", "http_host", "http_agent", "forwarded_by", "ssl_cipher",
        "http_referer", "ssl_servername", "machine_name",
    ),
    "event4_sinkhole": (*_COMMON, "ssl_cipher", "ssl_servername"),
}  # fmt: skip
"""Shadowserver's columns of each report type (its schema of 2024-09-24)."""
EXTRA: Final = ("last_seen", "count")


class ShadowserverCsv(Renderer):
    """Host rows in the columns of a Shadowserver sinkhole event report."""

    media_type = "text/csv"
    extension = ".csv"

    def __init__(self, name: str, report: str) -> None:
        if report not in COLUMNS:
            raise ValueError(f"no Shadowserver columns for {report!r}")
        self.name = name
        self.report = report

    @property
    def header(self) -> tuple[str, ...]:
        return (*COLUMNS[self.report], *EXTRA)

    def render(self, hosts: pa.Table, meta: ReportMeta) -> bytes:
        out = io.BytesIO()
        pacsv.write_csv(self.cells(hosts), out, pacsv.WriteOptions(include_header=False))
        head = ",".join(f'"{name}"' for name in self.header) + "\n"
        return head.encode() + out.getvalue()

    def cells(self, hosts: pa.Table) -> pa.Table:
        """The rows `render` writes, as a table of the header's columns (sorted_hosts order)."""
        rows = sorted_hosts(hosts)
        n = rows.num_rows
        family = pc.utf8_lower(rows["malware_family"])
        known: dict[str, pa.Array | pa.ChunkedArray] = {
            "timestamp": utc_text(rows["first_seen"]),
            "protocol": pa.repeat(pa.scalar("tcp"), n),
            "src_ip": rows["source_ip"],
            "src_asn": rows["source_asn"],
            "src_geo": rows["source_cc"],
            # Shadowserver's own sinkhole event rows say "critical" (an infected system).
            "severity": pa.repeat(pa.scalar("critical"), n),
            "infection": family,
            "last_seen": utc_text(rows["last_seen"]),
            "count": rows["hits"],
        }
        if self.report == "event4_sinkhole_http":
            known["application"] = pa.repeat(pa.scalar("http"), n)
        # Every cell with a value passes the formula rule; the columns botcensus leaves empty
        # are one shared array of nulls (empty cells), not checked forty times per file.
        safe = safe_table(pa.table(known))
        empty = pa.nulls(n, pa.string())
        columns = [safe[name] if name in known else empty for name in self.header]
        return pa.table(columns, names=list(self.header))

"""Counts per network without a single address: for recipients that may not receive IP-level
data (a rule's `ip_data = false`). One CSV row per day, network, ASN, country and family."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.export.base import Renderer, ReportMeta, sorted_hosts, utc_text
from botcensus.export.cells import safe_table

COLUMNS = (
    "day", "network", "asn", "country", "malware_family", "hosts", "check_ins", "first_seen",
    "last_seen",
)  # fmt: skip
_KEYS = ["day", "network", "source_asn", "source_cc", "malware_family"]


class SummaryCsv(Renderer):
    """Infected hosts counted per day and network; no addresses."""

    name = "summary"
    media_type = "text/csv"
    extension = ".csv"
    report = "infected_hosts_summary"
    ip_level = False

    def render(self, hosts: pa.Table, meta: ReportMeta) -> bytes:
        rows = sorted_hosts(hosts)
        grouped = rows.group_by(_KEYS, use_threads=False).aggregate(
            [
                ("source_ip", "count_distinct"),
                ("hits", "sum"),
                ("first_seen", "min"),
                ("last_seen", "max"),
            ]
        )
        grouped = grouped.sort_by([(k, "ascending") for k in _KEYS])
        table = pa.table(
            [
                grouped["day"],
                grouped["network"],
                grouped["source_asn"],
                grouped["source_cc"],
                pc.utf8_lower(grouped["malware_family"]),
                grouped["source_ip_count_distinct"],
                grouped["hits_sum"],
                utc_text(grouped["first_seen_min"]),
                utc_text(grouped["last_seen_max"]),
            ],
            names=list(COLUMNS),
        )
        out = io.BytesIO()
        pacsv.write_csv(safe_table(table), out)
        return out.getvalue()

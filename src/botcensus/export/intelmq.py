"""IntelMQ JSON lines of host rows: one event per host per day in IntelMQ's field names
(harmonization.conf), as `botcensus export` writes events, with the day's last check-in and
number of check-ins under `extra.`.

Empty fields are left out, as IntelMQ does; numbers stay numbers. The check-in events
themselves leave through export/event_formats.py (`botcensus export --format intelmq`,
`botcensus events`): a host row is a day's summary of them, so the two share the vocabulary
(model.py), not the SQL.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pyarrow as pa

from botcensus.export.base import Renderer, ReportMeta, sorted_hosts
from botcensus.model import INTELMQ_CONSTANTS

CLASSIFICATION: Final = {
    k: v for k, v in INTELMQ_CONSTANTS.items() if k.startswith("classification.")
}
"""What every host row is: malicious code, an infected system."""
_ISO: Final = "%Y-%m-%dT%H:%M:%S+00:00"
TLP_V1: Final = {
    "clear": "WHITE",
    "green": "GREEN",
    "amber": "AMBER",
    "amber+strict": "AMBER",
    "red": "RED",
}
"""IntelMQ's `tlp` field knows TLP 1.0 only: TLP 2.0 labels become their nearest level, and
the exact label goes along as `extra.tlp` where the two differ."""


def intelmq_event(row: dict[str, Any], meta: ReportMeta) -> dict[str, Any]:
    """One IntelMQ event (a dict of harmonised field names) for a host row."""
    family = row["malware_family"].lower()
    event: dict[str, Any] = {
        "time.source": row["first_seen"].strftime(_ISO),
        "source.ip": row["source_ip"],
        "source.asn": row["source_asn"],
        "source.as_name": row["source_as_name"],
        "source.geolocation.cc": row["source_cc"],
        "malware.name": family,
        **CLASSIFICATION,
        "classification.identifier": family,
        "feed.name": row["feed_name"],
        "tlp": TLP_V1[meta.tlp],
        "extra.tlp": None if meta.tlp in ("green", "amber", "red") else f"TLP:{meta.tlp.upper()}",
        "extra.last_seen": row["last_seen"].strftime(_ISO),
        "extra.count": row["hits"],
        "extra.ticket": meta.ticket,
    }
    return {k: v for k, v in event.items() if v is not None and v != ""}


class IntelMqJsonLines(Renderer):
    """One IntelMQ event per host per day, JSON lines."""

    name = "intelmq"
    media_type = "application/x-ndjson"
    extension = ".jsonl"
    report = "intelmq_infected_system"

    def render(self, hosts: pa.Table, meta: ReportMeta) -> bytes:
        rows = sorted_hosts(hosts).to_pylist()
        return "".join(
            json.dumps(intelmq_event(row, meta), ensure_ascii=False, sort_keys=True) + "\n"
            for row in rows
        ).encode()

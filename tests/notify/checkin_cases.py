"""A dataset with stored check-ins: sinkhole events and a Shadowserver report of 2011-03-17
rolled up and ingested as the sinkhole and `botcensus feeds ingest` do, and the contacts of
notify_cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from notify_cases import CONTACTS_CSV, DAY

from botcensus.export.shadowserver import COLUMNS
from botcensus.model import EVENT_COLUMNS

ROLLED = datetime(2025, 1, 10, 12, tzinfo=UTC)
"""When the sinkhole's events were rolled up (the retention clock starts there)."""
GEO = {
    "192.0.2.10": ("DE", 64496), "198.51.100.1": ("SE", 64497), "198.51.100.2": ("SE", 64497),
    "198.51.100.3": ("SE", 64497), "198.51.100.4": ("SE", 64497), "203.0.113.5": ("US", 64500),
}  # fmt: skip
START = datetime(DAY.year, DAY.month, DAY.day, 3, tzinfo=UTC)
CHECK_INS: dict[str, list[tuple[datetime, int]]] = {
    "198.51.100.1": [
        (START + timedelta(minutes=10 * i, microseconds=i), 40001 + i) for i in range(3)
    ],
    "198.51.100.2": [(START + timedelta(minutes=i), 50000 + i) for i in range(150)],
    "192.0.2.10": [(START + timedelta(hours=1), 41000), (START + timedelta(hours=2), 41001)],
    "203.0.113.5": [(START, 42000)],
}  # fmt: skip
"""The sinkhole's Rustock check-ins of DAY: (time, source port) per address."""
FEED_ROWS = [("198.51.100.3", datetime(2011, 3, 17, 5, 0, 7, tzinfo=UTC), "51515"),
             ("198.51.100.3", datetime(2011, 3, 17, 6, 0, 0, tzinfo=UTC), "")]  # fmt: skip
"""A Shadowserver report's rows of DAY: (address, time, source port; '' when not given)."""
DESTINATIONS = frozenset({"198.18.0.7", "198.18.0.9"})
"""The sinkhole's address and the feed's sinkhole: what every check-in called."""
OTHERS = ("203.0.113.6", "2001:db8::66", "192.0.2.77", "10.1.2.3")
"""Addresses of other networks (delta's, and ones nobody is told about) that bots and feeds
write into free-text cells when `third_party` is asked for."""
THIRD_PARTY_FEED = {
    "forwarded_by": "203.0.113.6", "http_referer": "http://[2001:db8::66]/from",
    "http_url": "http://192.0.2.77/gate.php", "http_host": "192.0.2.77",
    "src_hostname": "10.1.2.3", "dst_hostname": "10.1.2.3", "machine_name": "192.0.2.77",
    "tag": "relay 203.0.113.6", "http_agent": "bot/1.0 (via 203.0.113.6)",
    "public_source": "10.1.2.3", "src_city": "203.0.113.6",
}  # fmt: skip
"""Feed cells that name other networks' addresses (X-Forwarded-For, referer, URL, ...)."""
THIRD_PARTY_EVENT = {
    "proxy_peer_ip": "203.0.113.6", "host": "192.0.2.77", "query": "peer=2001:db8::66",
    "user_agent": "via 10.1.2.3", "bot_id": "203.0.113.6",
}  # fmt: skip
"""Sinkhole event values bots choose (Host, query, User-Agent) naming other addresses."""


def geo(table: pa.Table) -> pa.Table:
    """The enrichment: a fixed table of country and ASN."""
    found = [GEO.get(ip) for ip in table["source_ip"].to_pylist()]
    columns = {
        "source_cc": pa.array([f[0] if f else None for f in found], pa.string()),
        "source_asn": pa.array([f[1] if f else None for f in found], pa.int64()),
        "source_as_name": pa.array([f"AS{f[1]}" if f else None for f in found], pa.string()),
        "geo_db": pa.array(["test"] * table.num_rows, pa.string()),
    }
    for name, column in columns.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, column) if at >= 0 else table.append_column(name, column)
    return table


def _event(
    ip: str, when: datetime, port: int, family: str | None = "rustock", third_party: bool = False
) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    values.update(
        time_received=int(when.timestamp()) * 1_000_000 + when.microsecond, source_ip=ip,
        source_port=port, destination_ip="198.18.0.7", destination_port=80, listener="l",
        sensor="s1", method="POST", host="cnc.example", path="/login.php", header_names=[],
        body_length=0, body_truncated=False, status=404, malware_family=family,
        user_agent="=cmd|' /C calc'!A0",
    )  # fmt: skip
    if third_party:
        values.update(THIRD_PARTY_EVENT)
    return [values[c] for c in EVENT_COLUMNS]


def events(third_party: bool = False) -> list[list[Any]]:
    rows = [
        _event(ip, when, port, third_party=third_party)
        for ip, seen in CHECK_INS.items()
        for when, port in seen
    ]
    # not the rule's family, and the day before: never in a daily Rustock report of DAY
    rows.append(_event("198.51.100.1", START + timedelta(minutes=1), 39999, "conficker"))
    rows.append(_event("198.51.100.1", START - timedelta(days=1), 39998))
    rows.append(_event("198.51.100.4", START, 39997, "conficker"))
    return rows


def feed_report(folder: Path, third_party: bool = False) -> Path:
    header = COLUMNS["event4_sinkhole_http"]
    lines = [",".join(f'"{h}"' for h in header)]
    for ip, when, port in FEED_ROWS:
        cells = dict.fromkeys(header, "")
        if third_party:
            cells.update(THIRD_PARTY_FEED)
        cells.update(
            timestamp=when.strftime("%Y-%m-%d %H:%M:%S"), protocol="tcp", src_ip=ip,
            src_port=port, infection="rustock", dst_ip="198.18.0.9", dst_port="443",
            severity="critical", application="http",
        )  # fmt: skip
        lines.append(",".join(f'"{cells[h]}"' for h in header))
    path = folder / "2011-03-17-event4_sinkhole_http-example-geo.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_checkin_dataset(data: Path, third_party: bool = False) -> Path:
    """The sinkhole's events rolled up at ROLLED, the feed report ingested, contacts imported;
    with `third_party`, the events' and the report's free-text cells name OTHERS."""
    from botcensus.contacts import import_csv
    from botcensus.feeds import ingest
    from botcensus.store import events_table, rollup
    from botcensus.store.events import write_partitioned

    write_partitioned(events_table(events(third_party)), data, "seg1")
    rollup(data, geo, now=ROLLED)
    ingest([feed_report(data.parent, third_party)], data, geo)
    csv_file = data.parent / "contacts.csv"
    csv_file.write_text(CONTACTS_CSV, encoding="utf-8")
    import_csv(data, csv_file, source="test-contacts")
    return data

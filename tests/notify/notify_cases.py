"""Test helpers: contact tables and host rows built in memory, rules from TOML text."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from botcensus.contacts import ContactTable
from botcensus.contacts.store import RECORD_SCHEMA, stamp
from botcensus.contacts.table import build_table
from botcensus.notify import Rules, parse_rules
from botcensus.notify.hosts import HOST_ROWS_SCHEMA

RUN = date(2011, 3, 18)
"""The run day of most tests: daily reports cover 2011-03-17."""
DAY = RUN - timedelta(days=1)
SENDER = (
    '[sender]\norganisation = "Example Sinkhole"\nemail = "reports@sinkhole.example.org"\n'
    'reply_to = "desk@sinkhole.example.org"\n'
)


def rules(text: str) -> Rules:
    """Rules from the sender block plus `text`."""
    return parse_rules(SENDER + text, Path("rules.toml"))


def contact_table(
    prefixes: Sequence[tuple[str, str]] = (),
    asns: Sequence[tuple[int, str]] = (),
    countries: Sequence[tuple[str, str]] = (),
    source: str = "test",
    orgs: dict[str, str] | None = None,
) -> ContactTable:
    """A ContactTable of prefix (CIDR, e-mail), ASN and country records of one CSV source;
    `orgs` names the organisation of an e-mail address (default: from the record)."""
    rows: list[dict[str, Any]] = []
    for text, email in prefixes:
        net = ipaddress.ip_network(text)
        lo, hi = int(net.network_address), int(net.broadcast_address)
        rows.append({
            "level": "prefix", "ip_version": net.version,
            "start_hi": lo >> 64, "start_lo": lo & (2**64 - 1),
            "end_hi": hi >> 64, "end_lo": hi & (2**64 - 1),
            "abuse_email": email, "abuse_org": f"Org of {text}", "record": f"prefix {text}",
        })  # fmt: skip
    rows += [
        {
            "level": "asn",
            "asn": a,
            "abuse_email": e,
            "abuse_org": f"AS{a} Ltd",
            "record": f"asn AS{a}",
        }
        for a, e in asns
    ]
    rows += [
        {
            "level": "country",
            "cc": c,
            "abuse_email": e,
            "abuse_org": f"CERT-{c}",
            "record": f"country {c}",
        }
        for c, e in countries
    ]
    for row in rows:
        row["abuse_org"] = (orgs or {}).get(row["abuse_email"], row["abuse_org"])
    records = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    return build_table(stamp(records, source, "csv", datetime(2011, 3, 1, tzinfo=UTC)))


def host_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """HOST_ROWS_SCHEMA rows; each dict needs source_ip, the rest has defaults."""
    out = []
    for r in rows:
        day = r.get("day", DAY)
        start = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
        out.append(
            {
                "day": day, "malware_family": "rustock", "first_seen": start,
                "last_seen": start + timedelta(hours=2), "hits": 10, "source_asn": None,
                "source_cc": None, "source_as_name": None, "feed_name": "botcensus-sinkhole",
                "network": None, "feeds": ["botcensus-sinkhole"], **r,
            }
        )  # fmt: skip
    return pa.Table.from_pylist(out, schema=HOST_ROWS_SCHEMA)


# -- a small dataset with contacts --------------------------------------------------------------
CONTACTS_CSV = """prefix,asn,country,abuse_email,organisation,source
192.0.2.0/25,,,abuse@alpha.example,Alpha Networks,peering list
192.0.2.128/25,,,noc@alpha.example,Alpha Networks,peering list
198.51.100.0/24,,,abuse@beta.example,Beta University,
2001:db8::/32,,,abuse@gamma.example,Gamma Six,
,AS64500,,abuse@delta.example,Delta Transit,
,,NL,cert@ncsc.example,NCSC-NL,
"""
HOSTS = [
    ("192.0.2.10", 64496, "DE"), ("192.0.2.11", 64496, "DE"), ("192.0.2.200", 64496, "DE"),
    ("192.0.2.201", 64496, "DE"), ("198.51.100.1", 64497, "SE"), ("198.51.100.2", 64497, "SE"),
    ("198.51.100.3", 64497, "SE"), ("2001:db8::5", 64498, "DE"), ("203.0.113.5", 64500, "US"),
    ("203.0.113.6", 64500, "US"), ("100.64.0.1", 65001, "NL"), ("100.64.0.2", 65002, "FR"),
]  # fmt: skip
"""(address, ASN, country) of the hosts seen on DAY: six recipients, one host without one."""
RECIPIENTS = {
    "abuse@alpha.example": {"192.0.2.10", "192.0.2.11"},
    "noc@alpha.example": {"192.0.2.200", "192.0.2.201"},
    "abuse@beta.example": {"198.51.100.1", "198.51.100.2", "198.51.100.3"},
    "abuse@gamma.example": {"2001:db8::5"},
    "abuse@delta.example": {"203.0.113.5", "203.0.113.6"},
    "cert@ncsc.example": {"100.64.0.1"},
}


def sightings(hosts: Sequence[tuple[str, int, str]], day: date = DAY) -> pa.Table:
    from botcensus.model import SIGHTING_SCHEMA

    start = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
    rows = [
        {"day": day, "source_ip": ip, "bot_id": None, "malware_family": "rustock",
         "sensor": "s1", "feed_name": "botcensus-sinkhole", "first_seen": start,
         "last_seen": start + timedelta(hours=5), "hits": 60, "source_cc": cc,
         "source_asn": asn, "source_as_name": f"AS{asn}", "geo_db": "test"}
        for ip, asn, cc in hosts
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SIGHTING_SCHEMA)


def make_dataset(data: Path, hosts: Sequence[tuple[str, int, str]] = HOSTS) -> Path:
    """A data directory with the hosts' sightings on DAY and the contacts imported."""
    from botcensus.contacts import import_csv
    from botcensus.store import write_sightings

    write_sightings(sightings(hosts), data, "test")
    csv_file = data.parent / "contacts.csv"
    csv_file.write_text(CONTACTS_CSV, encoding="utf-8")
    import_csv(data, csv_file, source="test-contacts")
    return data


def rules_file(path: Path, extra: str = "", smtp: str = "") -> Path:
    """A rules file: one daily Shadowserver rule, a relay on loopback without TLS."""
    security = "" if "security" in smtp else 'security = "none"\n'
    path.write_text(
        SENDER
        + f"[smtp]\n{security}retry_seconds = 0.2\nretry_max_seconds = 0.5\n"
        + smtp
        + '\n[[rule]]\nname = "daily"\n'
        + extra,
        encoding="utf-8",
    )
    return path


def need_tool(name: str, package: str) -> str:
    """The tool's path; skip without it, fail without it under CI=true (.ci/run installs it)."""
    import os
    import shutil

    import pytest

    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing; .ci/run installs Debian's {package}")
        pytest.skip(f"{name} not installed here (Debian: {package})")
    return found

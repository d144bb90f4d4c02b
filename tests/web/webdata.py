"""A small dataset for the web tests, built the way a real one is: daily sightings of a
shrinking population (two families, two feeds that overlap, IPv4 and IPv6, a network too
small to show publicly, addresses without a country), sinkhole events rolled up from a
write-ahead-log segment, a Shadowserver report ingested with one bad row, then the roll-up
(sketches, day and week tables, estimates, clean-up) as `botcensus rollup` makes it.

Networks (the enrichment below places every address):

| network | ASN | country | who sees it |
|---|---|---|---|
| 198.51.100.0/24, 2001:db8:a::/48 | 64500 EXAMPLE-NL | NL | owner A (token: --asn 64500) |
| 203.0.113.0/24 | 64501 EXAMPLE-DE | DE | owner B (token: --prefix 203.0.113.0/24) |
| 100.64.0.0/16 | 64502 BIG-US | US | nobody but the operator |
| 192.0.2.0/28 | 64503 SMALL-FR | FR | (a cell below k every week) |
| 10.9.0.0/16 | none | none | (no country: the census's null group) |
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from botcensus.feeds import ingest
from botcensus.measure.rollups import rollup_rows
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import roll_segment, rollup, write_sightings
from botcensus.store.aggregates import aggregate_windows
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import sketch_days
from botcensus.web.products import build_products

D0: Final = date(2011, 3, 16)  # a Wednesday: the first week (ending Saturday) is partial
DAYS: Final = 38  # to 2011-04-22, a Friday: the last week is partial too
FEED: Final = "Sinkhole-Events-HTTP IPv4"
SINK: Final = "botcensus-sinkhole"


@dataclass(frozen=True)
class Net:
    name: str
    asn: int | None
    cc: str | None
    prefix: str
    hosts: int
    as_name: str | None


NETS: Final = (
    Net("a", 64500, "NL", "198.51.100.0/24", 120, "EXAMPLE-NL"),
    Net("a6", 64500, "NL", "2001:db8:a::/48", 15, "EXAMPLE-NL"),
    Net("b", 64501, "DE", "203.0.113.0/24", 90, "EXAMPLE-DE"),
    Net("us", 64502, "US", "100.64.0.0/16", 900, "BIG-US"),
    Net("fr", 64503, "FR", "192.0.2.0/28", 6, "SMALL-FR"),
    Net("none", None, None, "10.9.0.0/16", 40, None),
)


def _addresses(net: Net) -> list[str]:
    network = ipaddress.ip_network(net.prefix)
    return [str(network.network_address + 1 + i * 1) for i in range(net.hosts)]


def net_of(ip: str) -> Net | None:
    address = ipaddress.ip_address(ip)
    for net in NETS:
        if address in ipaddress.ip_network(net.prefix):
            return net
    return None


def fake_enrich(table: pa.Table) -> pa.Table:
    """Country, ASN and AS name from NETS (what the bundled database would not know)."""
    found = [net_of(ip) if ip else None for ip in table["source_ip"].to_pylist()]
    columns = {
        "source_cc": pa.array([n.cc if n else None for n in found], pa.string()),
        "source_asn": pa.array([n.asn if n else None for n in found], pa.int64()),
        "source_as_name": pa.array([n.as_name if n else None for n in found], pa.string()),
        "geo_db": pa.array(["web-test"] * table.num_rows, pa.string()),
    }
    for name, column in columns.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, column) if at >= 0 else table.append_column(name, column)
    return table


def _sightings(seed: int = 13) -> pa.Table:
    """Every host checks in daily until its clean-up day (exponential, half-life ~3 weeks);
    one in five is also in the Shadowserver feed; the 'b' network's hosts carry bot ids."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for net in NETS:
        for ip in _addresses(net):
            family = "examplebot" if net.name == "b" and rng.random() < 0.5 else "rustock"
            bot = hashlib.sha256(ip.encode()).hexdigest()[:12] if family == "examplebot" else None
            lifetime = int(rng.expovariate(1 / 30)) + 3
            in_feed = rng.random() < 0.2
            for d in range(min(DAYS, lifetime)):
                if rng.random() < 0.1:
                    continue  # a day without a check-in
                day = D0 + timedelta(days=d)
                start = datetime(day.year, day.month, day.day, rng.randrange(24), tzinfo=UTC)
                rows.extend(
                    {
                        "day": day,
                        "source_ip": ip,
                        "bot_id": bot,
                        "malware_family": family,
                        "sensor": "web-test" if feed == SINK else "shadowserver",
                        "feed_name": feed,
                        "first_seen": start,
                        "last_seen": start + timedelta(minutes=rng.randrange(60)),
                        "hits": rng.randrange(1, 40),
                    }
                    for feed in ((SINK, FEED) if in_feed else (SINK,))
                )
    # Scanners no decoder claimed: never counted (the census counts claimed sightings).
    for d in range(DAYS):
        day = D0 + timedelta(days=d)
        when = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        rows.append(
            {
                "day": day,
                "source_ip": "100.64.9.9",
                "bot_id": None,
                "malware_family": None,
                "sensor": "web-test",
                "feed_name": SINK,
                "first_seen": when,
                "last_seen": when,
                "hits": 1,
            }
        )
    table = pa.Table.from_pylist(rows)
    for field in SIGHTING_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
    return fake_enrich(table.select(SIGHTING_SCHEMA.names).cast(SIGHTING_SCHEMA))


_SINK = '"192.0.2.200",80,"rustock","x.example"'
REPORT: Final = (
    '"timestamp","protocol","src_ip","src_port","src_asn","src_geo","dst_ip","dst_port",'
    '"infection","http_host"\n'
    f'"2011-04-20 10:00:00","tcp","203.0.113.77",40001,64501,"DE",{_SINK}\n'
    f'"2011-04-20 11:00:00","tcp","198.51.100.201",40002,64500,"NL",{_SINK}\n'
    f'"2011-04-20 12:00:00","tcp","0.0.0.0",40003,64500,"NL",{_SINK}\n'
)
"""A Shadowserver report: one host of B, one of A (both new), and a row quarantined for its
unusable source address."""


def build(data: Path, make_event: Any, make_segment: Any) -> Path:
    """Write the whole dataset into `data` (a new directory) and roll it up."""
    data.mkdir(parents=True)
    write_sightings(_sightings(), data, "simulated")
    t0 = int(datetime(2011, 4, 21, 9, tzinfo=UTC).timestamp() * 1_000_000)
    events = [
        make_event(
            time_received=t0 + i * 60_000_000,
            source_ip=ip,
            malware_family="rustock",
            path="/login.php",
            sensor="web-test",
            destination_ip="192.0.2.200",
        )
        for i, ip in enumerate(
            ["198.51.100.9", "198.51.100.9", "203.0.113.5", "100.64.0.7", "2001:db8:a::3"]
        )
    ]
    roll_segment(make_segment(data / "wal" / "w00-a-000001.wal", [events]), data)
    rollup(data, fake_enrich)
    report = data.parent / "2011-04-20-event4_sinkhole_http-web.csv"
    report.write_text(REPORT, encoding="utf-8")
    ingest([report], data, fake_enrich)
    refresh(data)
    notify_journal(data)
    return data


NOTIFIED: Final = (
    ("abuse@example-nl.example", "as", 64500, "sent"),
    ("cert@example-de.example", "prefix", "203.0.113.0/24", "sent"),
    ("abuse@big-us.example", "as", 64502, "sent"),
    ("noc@example-nl.example", "as", 64500, "failed"),
)
"""Messages in the test journal: (recipient, kind, network, final state). The failed one
was never received: the owner view does not list it."""
NOTIFIED_DAY: Final = date(2011, 3, 20)


def notify_journal(data: Path) -> None:
    """A real notification journal (notify.Journal, DIR/notify/journal.sqlite): a daily
    report of NOTIFIED_DAY's hosts to each network of NOTIFIED, delivered or failed."""
    from botcensus.notify import Journal, Message, Plan
    from botcensus.notify.holdout import ASSIGNMENT_SCHEMA
    from botcensus.notify.hosts import host_rows

    rows = host_rows(data, NOTIFIED_DAY, NOTIFIED_DAY).drop_columns(["feeds"])
    messages = []
    for recipient, kind, network, _ in NOTIFIED:
        if kind == "as":
            keep = [a == network for a in rows["source_asn"].to_pylist()]
        else:
            net = ipaddress.ip_network(str(network))
            keep = [ipaddress.ip_address(ip) in net for ip in rows["source_ip"].to_pylist()]
        hosts = rows.filter(pa.array(keep))
        hosts = hosts.set_column(
            hosts.schema.get_field_index("network"),
            "network",
            pa.array([f"{kind} {network}"] * hosts.num_rows, pa.string()),
        )
        messages.append(
            Message(
                address=recipient, rule="daily", period_start=NOTIFIED_DAY,
                period_end=NOTIFIED_DAY, contacts=(recipient,), name=None,
                format="shadowserver", template="default", language="en", tlp="amber",
                ip_data=True, interval="daily", compression="none", compress_over_bytes=0,
                networks=(f"{kind} {network}",), hosts=hosts,
            )
        )  # fmt: skip
    run = NOTIFIED_DAY + timedelta(days=1)
    plan = Plan(run, tuple(messages), (), ASSIGNMENT_SCHEMA.empty_table(), 0)
    when = datetime(run.year, run.month, run.day, 6, tzinfo=UTC)
    with Journal(data) as journal:
        journal.record(plan, prefix="BC", domain="sinkhole.example", now=when)
        for entry, (_, _, _, state) in zip(journal.entries(), NOTIFIED, strict=True):
            journal.rendered(entry.id, "outbox", "0" * 64, "1" * 64, 100, now=when)
            journal.sending(entry.id, 1, now=when)
            if state == "sent":
                journal.sent(entry.id, 250, "2.0.0 queued", now=when + timedelta(minutes=1))
            else:
                journal.failed(entry.id, 550, "5.1.1 no such user", now=when)


def refresh(data: Path, week_ends: str = "sat") -> None:
    """What `botcensus rollup` does after the sightings: sketches, tables, products."""
    sketch_days(data, sketch_sightings)
    aggregate_windows(data, lambda con, v, w: rollup_rows(con, v, w, week_ends), week_ends)
    build_products(data, week_ends)

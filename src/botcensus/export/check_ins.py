"""Check-in rows: a report's stored events (one row per connection, with its exact time and
source port) in the notify formats, through the per-event renderers `botcensus export`
uses (export/event_formats.py), so a row of a mail and a row of an export of the same event
carry the same values. Host rows whose events are no longer stored come in as host-day rows
(export/shadowserver.py, intelmq.py, xarf.py) in the same file.

Rows are in the order of day, address (numeric), time and family, the sinkhole's and the
feeds' events of one host together.

A check-in row carries only what cannot name anyone but the recipient's host and the
sinkhole (KEPT_COLUMNS: time, source address and port, destination address and port,
transport protocol, family, ASN, country, feed and report type); every other column of the
stored event is blanked before it is rendered. Feeds pass on free text (X-Forwarded-For,
referers, URLs, host names, `extra.*`) that can hold addresses of other networks, and a
host-day row never carried any of it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from botcensus.export.base import EventSource, ReportMeta, _address_key, sorted_hosts
from botcensus.export.event_sql import LINE_BREAKS
from botcensus.export.intelmq import TLP_V1, intelmq_event
from botcensus.export.registry import renderer
from botcensus.export.shadowserver import EXTRA, ShadowserverCsv
from botcensus.export.xarf import check, xarf_report
from botcensus.model import SINKHOLE_FEED_NAME

CHECK_IN_FORMATS: Final = ("shadowserver", "shadowserver-sinkhole", "intelmq", "xarf")
"""The formats that can carry one row per check-in (`summary` names no address)."""

Events = Sequence[tuple[EventSource, pa.Table]]
"""Batches of stored events: feed events as export.event_query.feed_batches gives them,
sinkhole events as sinkhole_batches does (with source_asn, source_cc, source_as_name)."""

KEPT_COLUMNS: Final[Mapping[EventSource, frozenset[str]]] = MappingProxyType(
    {
        "sinkhole": frozenset({
            "time_received", "source_ip", "source_port", "destination_ip", "destination_port",
            "malware_family", "source_asn", "source_cc", "source_as_name",
        }),
        "feed": frozenset({
            "time_source", "feed_name", "report_type", "source_ip", "source_port",
            "destination_ip", "destination_port", "protocol_transport", "malware_name",
            "classification_taxonomy", "classification_type", "reported_asn", "reported_cc",
            "source_asn", "source_cc", "source_as_name",
        }),
    }
)  # fmt: skip
"""The stored columns a check-in row may show, per source. Each is a time, an address or
port of the check-in itself (the source is the recipient's host, the destination the
sinkhole), a number, a value the ingest checked against a fixed vocabulary (`tcp`, a
country code, `infected-system`), the family the host-day was reported for, or a name of
our own (our enrichment's AS name, the operator's feed name and report type). Left out:
every free-text or address-holding column a feed or a bot fills (X-Forwarded-For, referer,
URL, Host, User-Agent, host names, regions and cities, the feed's AS name, the sinkhole's
proxy peer, `extra.*`)."""
CSV_KEPT: Final = frozenset({
    "timestamp", "protocol", "src_ip", "src_port", "src_asn", "src_geo", "severity", "dst_ip",
    "dst_port", "infection", "application", "last_seen", "count",
})  # fmt: skip
"""The Shadowserver columns a check-in row may fill (the rest are empty, as in host-day
rows): what KEPT_COLUMNS gives, and the constants the sinkhole's rows say."""
_CSV_NUMBERS: Final = frozenset({"src_port", "src_asn", "dst_port", "count"})
"""Shadowserver columns written as numbers (unquoted) by `botcensus export` and the host-day
renderer alike."""


def kept_columns(events: pa.Table, source: EventSource) -> pa.Table:
    """The events with every column outside KEPT_COLUMNS empty (null, same type, so the
    export stage's SELECT lists still find it) and feed `extra.*` columns left out."""
    kept = KEPT_COLUMNS[source]
    names, columns = [], []
    for field, column in zip(events.schema, events.columns, strict=True):
        if field.name in kept:
            columns.append(column)
        elif "." in field.name:  # a feed's extra.* column: not selected at all
            continue
        else:
            columns.append(pa.nulls(events.num_rows, field.type))
        names.append(field.name)
    return pa.table(columns, names=names)


def check_in_columns(events: pa.Table, source: EventSource) -> pa.Table:
    """What a check-in is, whichever table it comes from: `time`, `source_ip`,
    `source_port`, `destination_ip`, `destination_port`, `malware_family` (lower case) and
    `feed_name`, one row per event in the events' order."""
    n = events.num_rows

    def column(name: str, kind: pa.DataType) -> pa.Array | pa.ChunkedArray:
        if name in events.column_names:
            return pc.cast(events[name], kind)
        return pa.nulls(n, kind)

    feed = source == "feed"
    return pa.table(
        {
            "time": column("time_source" if feed else "time_received", pa.timestamp("us", "UTC")),
            "source_ip": column("source_ip", pa.string()),
            "source_port": column("source_port", pa.int32()),
            "destination_ip": column("destination_ip", pa.string()),
            "destination_port": column("destination_port", pa.int32()),
            "malware_family": pc.utf8_lower(
                column("malware_name" if feed else "malware_family", pa.string())
            ),
            "feed_name": column("feed_name", pa.string())
            if feed
            else pa.repeat(pa.scalar(SINKHOLE_FEED_NAME), n),
        }
    )


def _key(day: Any, ip: Any, time: Any, family: Any) -> pa.Table:
    return pa.table(
        {
            "day": pc.cast(day, pa.date32()),
            "address": _address_key(ip),
            "text": ip,
            "time": pc.cast(time, pa.int64()),
            "family": family,
        }
    )


def _event_key(columns: pa.Table) -> pa.Table:
    return _key(columns["time"], columns["source_ip"], columns["time"], columns["malware_family"])


def _host_key(hosts: pa.Table) -> pa.Table:
    return _key(hosts["day"], hosts["source_ip"], hosts["first_seen"], hosts["malware_family"])


def _order(keys: list[pa.Table]) -> pa.Array:
    return pc.sort_indices(
        pa.concat_tables(keys),
        [(n, "ascending") for n in ("day", "address", "text", "time", "family")],
    )


def _parts(events: Events, hosts: pa.Table) -> tuple[list[tuple[EventSource, pa.Table]], pa.Table]:
    kept = [(source, table) for source, table in events if table.num_rows]
    return kept, sorted_hosts(hosts)


def _sorted_rows(
    events: Events,
    hosts: pa.Table,
    event_rows: Callable[[pa.Table, EventSource], pa.Table],
    host_rows: Callable[[pa.Table], pa.Table],
) -> pa.Table:
    """Every event's row and every host row's, in one table, in report order."""
    parts, fallback = _parts(events, hosts)
    tables = [event_rows(table, source) for source, table in parts]
    keys = [_event_key(check_in_columns(table, source)) for source, table in parts]
    if fallback.num_rows or not tables:
        tables.append(host_rows(fallback))
        keys.append(_host_key(fallback))
    return pa.concat_tables(tables).take(_order(keys))


def _csv_form(rows: pa.Table, header: Sequence[str]) -> pa.Table:
    """Rows in the header's columns with one type per column (numbers as int64, the rest as
    text), the columns outside CSV_KEPT empty: check-in and host-day rows then concatenate
    as they are, and each is written as `botcensus export` and the host-day renderer write
    it (a number unquoted, a text quoted)."""
    n = rows.num_rows
    columns = []
    for name in header:
        kind = pa.int64() if name in _CSV_NUMBERS else pa.string()
        if name in CSV_KEPT and name in rows.column_names:
            columns.append(pc.cast(rows[name], kind))
        else:
            columns.append(pa.nulls(n, kind))
    return pa.table(columns, names=list(header))


def _csv(fmt: str, events: Events, hosts: pa.Table) -> bytes:
    from botcensus.export.event_formats import shadowserver_rows

    host_format = renderer(fmt)
    assert isinstance(host_format, ShadowserverCsv)

    header = [*host_format.header]
    assert header[-len(EXTRA) :] == list(EXTRA)

    def event_rows(table: pa.Table, source: EventSource) -> pa.Table:
        rows = shadowserver_rows(kept_columns(table, source), source, host_format.report)
        # one check-in: from its time to its time, one of them
        rows = rows.append_column("last_seen", rows["timestamp"]).append_column(
            "count", pa.repeat(pa.scalar(1, pa.int64()), rows.num_rows)
        )
        return _csv_form(rows, header)

    def host_rows(table: pa.Table) -> pa.Table:
        return _csv_form(host_format.cells(table), header)

    rows = _sorted_rows(events, hosts, event_rows, host_rows)
    out = pa.BufferOutputStream()
    pacsv.write_csv(rows, out, pacsv.WriteOptions(include_header=False))
    head = ",".join(f'"{name}"' for name in header) + "\n"
    return head.encode() + bytes(out.getvalue().to_pybytes())


def _intelmq_constants(meta: ReportMeta) -> dict[str, str]:
    constants = {"tlp": TLP_V1[meta.tlp], "extra.ticket": meta.ticket}
    if meta.tlp not in ("green", "amber", "red"):
        constants["extra.tlp"] = f"TLP:{meta.tlp.upper()}"
    return constants


def compact_json(value: dict[str, Any]) -> str:
    """One JSON line in the style of `botcensus export`'s IntelMQ lines: no spaces, UTF-8 as
    is, the line-break characters that are not JSON's own written as escapes."""
    line = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char in LINE_BREAKS:
        line = line.replace(char, "\\u%04x" % ord(char))  # noqa: UP031 (as event_sql)
    return line + "\n"


def _intelmq(events: Events, hosts: pa.Table, meta: ReportMeta) -> bytes:
    from botcensus.export.event_formats import intelmq_lines

    def event_rows(table: pa.Table, source: EventSource) -> pa.Table:
        lines = intelmq_lines(kept_columns(table, source), source, _intelmq_constants(meta))
        return lines.select(["line"]).cast(pa.schema([pa.field("line", pa.string())]))

    def host_rows(table: pa.Table) -> pa.Table:
        # the host-day renderer's event, in the check-in lines' style (one style per file)
        lines = [compact_json(intelmq_event(row, meta)) for row in table.to_pylist()]
        return pa.table({"line": pa.array(lines, pa.string())})

    rows = _sorted_rows(events, hosts, event_rows, host_rows)
    return "".join(rows["line"].to_pylist()).encode()


_ISO: Final = "%Y-%m-%dT%H:%M:%SZ"


def xarf_check_in(row: dict[str, Any], meta: ReportMeta, ordinal: int) -> dict[str, Any]:
    """One XARF v4 botnet report for one check-in (a `check_in_columns` row): its time as
    `timestamp`, its source port as `source_port` (XARF's field for finding a host behind
    carrier-grade NAT), the address it called as `c2_server`. A check-in a feed relayed is
    said to be the feed's (`evidence_source` threat_intelligence, "reported by the feed"),
    and, as in the host-day report of a relayed row, no `c2_protocol`: we did not see it."""
    time = row["time"]
    day_row = {
        "day": time.date(), "source_ip": row["source_ip"], "malware_family": row["malware_family"],
        "first_seen": time, "last_seen": time, "hits": 1, "feed_name": row["feed_name"],
    }  # fmt: skip
    report = xarf_report(day_row, meta)
    family, when = row["malware_family"], time.strftime(_ISO)
    port, to_ip, to_port = row["source_port"], row["destination_ip"], row["destination_port"]
    ours = row["feed_name"] == SINKHOLE_FEED_NAME  # else xarf_report says the feed's evidence
    server = f"{'sinkholed ' if ours else ''}{family} command-and-control server"
    seen = f"check-in with a {server} at {when}"
    if port is not None:
        seen += f" from source port {port}"
    if to_ip is not None:
        seen += f" to {to_ip}" + (f" port {to_port}" if to_port is not None else "")
    elif to_port is not None:
        seen += f" to port {to_port}"
    if not ours:
        seen += f", reported by the feed {row['feed_name']} (not seen by our sinkhole)"
    key = f"{meta.ticket}|{row['source_ip']}|{time.isoformat()}|{port}|{family}|{ordinal}"
    report["report_id"] = str(
        uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16], version=4)
    )
    report["timestamp"] = when
    report["compromise_evidence"] = seen[:1].upper() + seen[1:]
    report["description"] = f"Host {row['source_ip']}: {seen}. Ticket {meta.ticket}."[:1000]
    if port is not None and 1 <= port <= 65535:
        report["source_port"] = port
    if to_ip:
        report["c2_server"] = to_ip
    return report


def _xarf(events: Events, hosts: pa.Table, meta: ReportMeta) -> bytes:
    def event_rows(table: pa.Table, source: EventSource) -> pa.Table:
        return check_in_columns(table, source).append_column(
            "host_row", pa.nulls(table.num_rows, pa.string())
        )

    def host_rows(table: pa.Table) -> pa.Table:
        lines = [json.dumps(xarf_report(r, meta)) for r in table.to_pylist()]
        empty = check_in_columns(pa.table({}), "sinkhole").slice(0, 0)
        blank = pa.table({n: pa.nulls(table.num_rows, f.type) for n, f in zip(
            empty.column_names, empty.schema, strict=True)})  # fmt: skip
        return blank.append_column("host_row", pa.array(lines, pa.string()))

    lines = []
    for ordinal, row in enumerate(_sorted_rows(events, hosts, event_rows, host_rows).to_pylist()):
        host_row = row.pop("host_row")
        report = json.loads(host_row) if host_row else xarf_check_in(row, meta, ordinal)
        check(report)
        lines.append(json.dumps(report, ensure_ascii=False, separators=(",", ":")) + "\n")
    return "".join(lines).encode()


def render_check_ins(fmt: str, events: Events, hosts: pa.Table, meta: ReportMeta) -> bytes:
    """The file of a report in format `fmt` (CHECK_IN_FORMATS): one row per stored event in
    `events`, and one host-day row per row of `hosts` (HOST_SCHEMA: the host-days whose
    events are no longer stored). Deterministic: the same events give the same bytes."""
    if fmt in ("shadowserver", "shadowserver-sinkhole"):
        return _csv(fmt, events, hosts)
    if fmt == "intelmq":
        return _intelmq(events, hosts, meta)
    if fmt == "xarf":
        return _xarf(events, hosts, meta)
    raise ValueError(
        f"format {fmt!r} has no check-in rows: choose from {', '.join(CHECK_IN_FORMATS)}"
    )

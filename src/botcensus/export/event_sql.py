"""SQL that renders feed and sinkhole events as IntelMQ JSON lines or Shadowserver CSV rows.

Pure functions from column names to SELECT lists: the event renderers (export/event_formats.py)
run them over Arrow batches. IntelMQ lines leave out empty fields, as IntelMQ does; numbers
stay numbers. A sinkhole event has one IntelMQ rendering (`sinkhole_fields`), whichever
command writes it (`botcensus events`, `botcensus export --format intelmq`).
"""

from __future__ import annotations

import json as _json
from collections.abc import Collection, Mapping
from typing import Final

from botcensus.feeds.convert import fqdn_sql, ident, lit, strict_int
from botcensus.feeds.vocabulary import CORE
from botcensus.model import EVENT_COLUMNS, INTELMQ_CONSTANTS, intelmq_name

TIME_ISO: Final = (
    "strftime({t}, '%Y-%m-%dT%H:%M:%S') || CASE WHEN microsecond({t}) % 1000000 <> 0 "
    "THEN '.' || lpad(CAST(microsecond({t}) % 1000000 AS VARCHAR), 6, '0') ELSE '' END "
    "|| '+00:00'"
)
TIME_CSV: Final = "strftime({t}, '%Y-%m-%d %H:%M:%S')"

# Feed events: a field's value where the feed's own geo and ASN wins over our enrichment, so an
# event leaves as the feed described it (our values fill in where the feed had none). An AS
# name leaves only beside the number it belongs to: the feed's name with the feed's number,
# ours with ours (or with the feed's number where they are the same AS), else none.
FEED_VALUES: Final[dict[str, str]] = {
    "source.asn": "coalesce(reported_asn, source_asn)",
    "source.as_name": (
        "CASE WHEN reported_asn IS NULL THEN coalesce(reported_as_name, source_as_name) "
        "WHEN reported_as_name IS NOT NULL THEN reported_as_name "
        "WHEN source_asn = reported_asn THEN source_as_name END"
    ),
    "source.geolocation.cc": "coalesce(reported_cc, source_cc)",
}
JSON_VALUES: Final[dict[str, str]] = {
    "int": f"coalesce(to_json({strict_int('{c}')}), to_json({{c}}))",
    "float": "coalesce(to_json(TRY_CAST({c} AS DOUBLE)), to_json({c}))",
    "bool": "coalesce(to_json(TRY_CAST({c} AS BOOLEAN)), to_json({c}))",
}
"""An extra field's JSON as IntelMQ's parser types it (kept as text where it is not one)."""


FQDN_KEYS: Final = frozenset(f.key for f in CORE if f.rule == "fqdn")

LINE_BREAKS: Final = "\x85\u2028\u2029"
"""Characters JSON leaves unescaped in strings that line readers (Python's splitlines, the
JavaScript of older browsers) take as line ends: written as \\u escapes, so one event stays one
line whatever reads it (control characters are escaped by to_json already)."""


def _json_object(fields: list[tuple[str, str]], json: dict[str, str] | None = None) -> str:
    """One JSON object per row; `fields` are SQL values (made JSON with to_json), `json`
    fields are SQL that is already JSON text."""
    parts = [
        f"CASE WHEN ({value}) IS NOT NULL THEN {lit(_json_key(key))} || to_json({value}) END"
        for key, value in fields
    ]
    parts += [
        f"CASE WHEN ({value}) IS NOT NULL THEN {lit(_json_key(key))} || ({value}) END"
        for key, value in (json or {}).items()
    ]
    line = f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"
    for char in LINE_BREAKS:  # valid JSON unescaped, but str.splitlines() splits there
        escape = lit("\\u%04x" % ord(char))  # noqa: UP031 (no backslash in an f-string)
        line = f"replace({line}, chr({ord(char)}), {escape})"
    return f"{line} || chr(10) AS line"


def _json_key(key: str) -> str:
    return _json.dumps(key, ensure_ascii=False) + ":"


def _with(
    fields: list[tuple[str, str]], constants: Mapping[str, str] | None
) -> list[tuple[str, str]]:
    """`fields` with each of `constants` (field -> text) in place of a field of that name."""
    if not constants:
        return fields
    return [f for f in fields if f[0] not in constants] + [
        (k, lit(v)) for k, v in constants.items()
    ]


def feed_json(
    columns: Collection[str],
    types: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
) -> str:
    """SELECT list: one IntelMQ JSON line per feed event. `types` gives the IntelMQ type
    (int, float, bool) of extra fields the mapping converts (mapping.field_types), so
    `extra.destination.naics` leaves as 518210, not "518210". `constants` (field -> text)
    go on every line, in place of a field of the same name (notify's `tlp`, `extra.ticket`)."""
    fields = [("time.source", TIME_ISO.format(t="time_source"))]
    fields += [
        (f.key, FEED_VALUES.get(f.key, ident(f.column))) for f in CORE[1:] if f.column in columns
    ]
    # a host name stored before the check agreed with IntelMQ's (`example..com`, a label of
    # 64 characters, a name not in punycode) leaves under extra.<field>, as the ingest now
    # keeps one
    for at, (key, value) in enumerate(fields):
        if key in FQDN_KEYS:
            fields[at] = (key, fqdn_sql(value))
            fields.append((f"extra.{key}", f"CASE WHEN {fqdn_sql(value)} IS NULL THEN {value} END"))
    typed = {}
    for c in sorted(columns):
        if "." not in c:
            continue
        value = f"nullif({ident(c)}, '')"
        kind = (types or {}).get(c)
        if kind in JSON_VALUES:
            typed[c] = JSON_VALUES[kind].format(c=value)
        else:
            fields.append((c, value))
    typed = {k: v for k, v in typed.items() if k not in (constants or {})}
    return _json_object(_with(fields, constants), typed)


def _sinkhole_value(column: str) -> str:
    c = ident(column)
    if column == "body_sha256":
        return f"lower(hex({c}))"
    if column == "body_head":
        return f"CASE WHEN octet_length({c}) > 0 THEN to_base64({c}) END"
    if column == "header_names":
        return f"CASE WHEN len({c}) > 0 THEN {c} END"
    if column == "malware_family":
        return f"lower(nullif({c}, ''))"
    return f"nullif({c}, '')" if column in _TEXT else c


_TEXT: Final = frozenset(
    {
        "source_ip",
        "destination_ip",
        "proxy_peer_ip",
        "listener",
        "sensor",
        "method",
        "host",
        "path",
        "query",
        "user_agent",
        "bot_id",
        "reject_reason",
    }
)


ENRICHED: Final = ("source.asn", "source.as_name", "source.geolocation.cc")
"""Fields only enrichment fills (`botcensus export`); `botcensus events` prints events as
recorded, so these stay empty there."""


def sinkhole_fields() -> list[tuple[str, str]]:
    """Every IntelMQ field of a sinkhole event, in the order written, with its SQL value over
    an event table (with source_cc, source_asn, source_as_name: null where not enriched)."""
    fields = [("time.source", TIME_ISO.format(t="time_received"))]
    fields += [(k, lit(v)) for k, v in INTELMQ_CONSTANTS.items()]
    fields += [
        ("source.asn", "source_asn"),
        ("source.as_name", "source_as_name"),
        ("source.geolocation.cc", "source_cc"),
        ("classification.identifier", "lower(nullif(malware_family, ''))"),
    ]
    fields += [(intelmq_name(c), _sinkhole_value(c)) for c in EVENT_COLUMNS[1:]]
    return fields


def sinkhole_json(constants: Mapping[str, str] | None = None) -> str:
    """SELECT list: one IntelMQ JSON line per sinkhole event (`sinkhole_fields`), with
    `constants` (field -> text) on every line as in `feed_json`."""
    return _json_object(_with(sinkhole_fields(), constants))


def _extra(columns: Collection[str], name: str, number: bool = False) -> str | None:
    key = f"extra.{name}"
    if key not in columns:
        return None
    return strict_int(ident(key)) if number else ident(key)


def feed_csv(header: list[str], columns: Collection[str]) -> str:
    """SELECT list: feed events in the columns of a Shadowserver report (`header`)."""

    def extra(name: str, number: bool = False) -> str | None:
        return _extra(columns, name, number)

    def first(*exprs: str | None) -> str | None:
        found = [e for e in exprs if e is not None]
        return (
            None
            if not found
            else found[0]
            if len(found) == 1
            else (f"coalesce({', '.join(found)})")
        )

    path = "nullif(regexp_extract(destination_url, '^[^:]+://[^/]*(/.*)$', 1), '')"
    known: dict[str, str | None] = {
        "timestamp": TIME_CSV.format(t="time_source"),
        "protocol": "protocol_transport",
        "src_ip": "source_ip",
        "src_port": "source_port",
        "src_asn": FEED_VALUES["source.asn"],
        "src_geo": FEED_VALUES["source.geolocation.cc"],
        "src_region": "source_region",
        "src_city": "source_city",
        "src_hostname": "source_reverse_dns",
        "src_naics": extra("source.naics", True),
        "src_sector": extra("source.sector"),
        "dst_ip": "destination_ip",
        "dst_port": "destination_port",
        "dst_asn": "destination_asn",
        "dst_geo": "destination_cc",
        "dst_region": "destination_region",
        "dst_city": "destination_city",
        "dst_hostname": "destination_reverse_dns",
        "dst_naics": extra("destination.naics", True),
        "dst_sector": extra("destination.sector"),
        "infection": first(extra("infection"), "malware_name"),
        "http_url": first(extra("http_url"), path),
        "http_host": first("destination_fqdn", extra("http_host")),
    }
    select = []
    for name in header:
        value = known.get(name) if name in known else extra(name)
        select.append(f"{value or 'NULL'} AS {ident(name)}")
    return ", ".join(select)


def sinkhole_csv(header: list[str]) -> str:
    """SELECT list: sinkhole events in the columns of a Shadowserver report."""
    known = {
        "timestamp": TIME_CSV.format(t="time_received"),
        "protocol": "'tcp'",
        "src_ip": "source_ip",
        "src_port": "source_port",
        "src_asn": "source_asn",
        "src_geo": "source_cc",
        "dst_ip": "destination_ip",
        "dst_port": "destination_port",
        "infection": "lower(nullif(malware_family, ''))",
        "application": "'http'",
        "http_url": "nullif(path, '') || coalesce('?' || nullif(query, ''), '')",
        "http_host": "nullif(host, '')",
        "http_agent": "nullif(user_agent, '')",
    }
    return ", ".join(f"{known.get(name, 'NULL')} AS {ident(name)}" for name in header)

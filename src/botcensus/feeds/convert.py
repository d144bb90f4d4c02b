"""IntelMQ's Shadowserver conversion functions and harmonisation checks, as DuckDB SQL.

Each conversion turns one report cell into a value, into nothing (an empty, zero or invalid
value that the function drops), or into a failure that rejects the row (IntelMQ's parser
raises there and the line is dumped). Checks then apply IntelMQ's rule for the target field.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from botcensus.feeds.vocabulary import CLASSIFICATION_TYPES, TAXONOMIES, TRANSPORTS
from botcensus.ipaddr import IPV4_RE, UNSPECIFIED_V4

FQDN_REFUSED: Final = '[^!-"$-.0-9;->A-[\\]-~]'
"""A character no host name botcensus keeps holds: anything but printable ASCII (white space,
control characters, a name not in punycode), and what makes a URL, a port or a user
(`# / : ? @ \\`). One class, as cheap as a check of white space and breakers alone."""
LABEL_MAX: Final = 63
"""The longest label (part between dots) of a DNS name; Python's idna codec, which IntelMQ's
FQDN type runs, refuses a longer one, and an empty one."""
INTEGER_RE: Final = "\\s*[+-]?[0-9]+(_[0-9]+)*\\s*"
"""An integer as IntelMQ's convert_int (Python's int()) reads ASCII text. DuckDB's cast also
takes '3320.5' (as 3321), '1e3' and '0x10': those are no integers."""
HOST_BREAKERS: Final = "[\\s/?#@\\\\]"
"""Characters that end or break the host part of a URL: a Host cell holding one is no host."""
URL_RE: Final = "[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+.*"
TRUE_WORDS: Final = ("y", "yes", "true", "enabled", "1")
FALSE_WORDS: Final = ("n", "no", "false", "disabled", "0")
TIME_FUNCTIONS: Final = frozenset({"add_UTC_to_timestamp", "convert_date", "convert_date_utc"})
CONVERSIONS: Final[frozenset[str]] = TIME_FUNCTIONS | {
    "validate_to_none",
    "convert_int",
    "invalidate_zero",
    "convert_float",
    "convert_bool",
    "validate_ip",
    "validate_network",
    "validate_fqdn",
    "convert_http_host_and_url",
}


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def words(values: Collection[str]) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


@dataclass(frozen=True, slots=True)
class Converted:
    """A cell after its conversion function: SQL for the value and for a rejecting failure.

    Where `parsed` is set it is computed once (as a column of its own) and `value` and
    `failure` refer to it as {p}."""

    value: str
    kind: str
    """text, int, float, time, or ip / fqdn (text already checked as that type)."""
    failure: str | None = None
    """SQL that is true where the cell cannot be converted (the row is rejected)."""
    problem: str = ""
    """What the failure means, e.g. 'is not a number'."""
    parsed: str | None = None
    invalid: str | None = None
    """SQL that is true where the cell holds a value the conversion cannot take, which is then
    no value: the field is left empty and the cell kept under extra.<column>, as an invalid
    value of an optional field is (a non-integer where convert_int asks for one)."""


def ip_sql(v: str) -> str:
    """The IPv4 half of botcensus.ipaddr's rule in SQL: a dotted quad other than 0.0.0.0; an
    IPv6 candidate passes to ipaddr.canonical_ips (at ingest); networks and anything else are
    not addresses."""
    return (
        f"CASE WHEN {v} = {lit(UNSPECIFIED_V4)} THEN NULL "
        f"WHEN regexp_full_match({v}, {lit(IPV4_RE)}) "
        f"THEN {v} WHEN contains({v}, ':') AND NOT contains({v}, '/') THEN {v} END"
    )


def trim_dots(v: str) -> str:
    """trim(v, '.'), which costs as much as a regular expression, only where v starts or ends
    with a dot (the same value: otherwise there is nothing to trim)."""
    dotted = f"starts_with({v}, '.') OR ends_with({v}, '.')"
    return f"CASE WHEN {dotted} THEN trim({v}, '.') ELSE {v} END"


WHITESPACE: Final = " \t\n\f\r"
"""RE2's \\s: what ends the path of a request line."""


def up_to_whitespace(v: str, within: str) -> str:
    """regexp_extract(v, '^\\S*') where `v` is a part of `within` (a column): the regular
    expression only where `within` holds white space, so `v` itself is computed once."""
    spaces = " OR ".join(f"contains({within}, chr({ord(c)}))" for c in WHITESPACE)
    return f"CASE WHEN {spaces} THEN regexp_extract({v}, '^\\S*') ELSE {v} END"


def strict_int(v: str) -> str:
    """Text `v` as a BIGINT where it is an integer (INTEGER_RE), else NULL (also where it does
    not fit in 64 bits). A number written as DuckDB writes it back, the usual cell, is told
    without the expression (DuckDB computes the cast once)."""
    number = f"TRY_CAST({v} AS BIGINT)"
    return (
        f"CASE WHEN CAST({number} AS VARCHAR) = {v} THEN {number} "
        f"WHEN regexp_full_match({v}, {lit(INTEGER_RE)}) THEN {number} END"
    )


def fqdn_sql(name: str) -> str:
    """A DNS name as IntelMQ's FQDN type takes it (FQDN.is_valid): no IP, URL, port or spaces,
    no empty label (`example..com`) nor one longer than LABEL_MAX, and ASCII (IntelMQ's check
    `value.encode('idna').decode() == value` refuses a name in another script, valid only
    in its punycode form `xn--...`). Stricter than IntelMQ on white space, control characters,
    `@` and `\\`. `name` is already lower case without leading or trailing dots."""
    long_label = (
        f"strlen({name}) > {LABEL_MAX} AND regexp_matches({name}, '[^.]{{{LABEL_MAX + 1}}}')"
    )
    return (
        f"CASE WHEN NOT regexp_matches({name}, {lit(FQDN_REFUSED)}) "
        f"AND NOT contains({name}, '..') AND NOT ({long_label}) "
        f"AND NOT regexp_full_match({name}, {lit(IPV4_RE)}) THEN nullif({name}, '') END"
    )


def _url_parts(columns: Collection[str]) -> tuple[list[str], str] | None:
    """The host columns (the first that holds one wins) and the path column a URL is made
    from, or None where the report lacks either."""
    hosts = [c for c in ("cc_dns", "http_host", "hostname", "ip") if c in columns]
    paths = [c for c in ("url", "http_url") if c in columns]
    return (hosts, paths[0]) if hosts and paths else None


def cells_read(function: str | None, column: str, columns: Collection[str]) -> frozenset[str]:
    """The report cells `convert(function, column, columns)` reads."""
    parts = _url_parts(columns) if function == "convert_http_host_and_url" else None
    if parts is None:
        return frozenset({column})
    application = ["application"] if "application" in columns else []
    return frozenset({column, *parts[0], parts[1], *application})


def url_from_host_and_path(v: str, columns: Collection[str]) -> str:
    """IntelMQ's convert_http_host_and_url: scheme://host/path from the report's host and
    path columns, the request line stripped from the path; otherwise the cell unchanged.
    Unlike IntelMQ, only a host that is a host (no / ? # @ \\ or space: a bot chooses its
    Host header) makes a URL: `evil.example/x` + `/gate.php` would read as the path
    `/x/gate.php`. The path cell then stays as it is, and is kept under extra.<column>."""
    parts = _url_parts(columns)
    if parts is None:
        return v
    hosts = [ident(c) for c in parts[0]]
    host = hosts[0] if len(hosts) == 1 else f"coalesce({', '.join(hosts)})"
    path = ident(parts[1])
    app = (
        "CASE WHEN \"application\" IN ('http', 'https') THEN \"application\" ELSE 'http' END"
        if "application" in columns
        else "'http'"
    )
    # the request line around the path stripped: from the first '/' to the first white space
    # (what regexp_replace('^[^/]*') then regexp_replace('\\s.*$') do, anchored, so cheap)
    from_slash = (
        f"CASE WHEN strpos({path}, '/') = 0 THEN '' ELSE substr({path}, strpos({path}, '/')) END"
    )
    stripped = up_to_whitespace(from_slash, path)
    authority = f"NOT regexp_matches({host}, {lit(HOST_BREAKERS)})"
    return (
        f"CASE WHEN {host} IS NOT NULL AND {path} IS NOT NULL AND {authority} "
        f"THEN {app} || '://' || {host} || {stripped} ELSE {v} END"
    )


def convert(function: str | None, column: str, columns: Collection[str]) -> Converted:
    """The conversion `function` (an IntelMQ name, or None) applied to cell `column`."""
    v = ident(column)
    if function is None:
        return Converted(v, "text")
    if function == "validate_to_none":
        return Converted(f"nullif(nullif({v}, '0'), 'unknown')", "text")
    if function in ("convert_int", "invalidate_zero"):
        value = "{p}" if function == "convert_int" else "nullif({p}, 0)"
        return Converted(
            value, "int", parsed=strict_int(v), invalid=f"{v} IS NOT NULL AND {{p}} IS NULL"
        )
    if function == "convert_float":
        return Converted(
            "{p}",
            "float",
            f"{v} IS NOT NULL AND {{p}} IS NULL",
            "is not a number",
            f"TRY_CAST({v} AS DOUBLE)",
        )
    if function == "convert_bool":
        lower = f"lower({v})"
        return Converted(
            f"CASE WHEN {lower} IN {words(TRUE_WORDS)} THEN 'true' "
            f"WHEN {lower} IN {words(FALSE_WORDS)} THEN 'false' END",
            "text",
        )
    if function in TIME_FUNCTIONS:
        # Shadowserver times carry no zone and are UTC; the session time zone is UTC, so a
        # value without an offset is read as UTC and one with an offset is converted.
        return Converted(
            "{p}",
            "time",
            f"{v} IS NOT NULL AND {{p}} IS NULL",
            "is not a time",
            f"TRY_CAST({v} AS TIMESTAMPTZ)",
        )
    if function == "validate_ip":
        return Converted(ip_sql(v), "ip")
    if function == "validate_network":
        return Converted(f"CASE WHEN contains({v}, '/') THEN {v} END", "text")
    if function == "validate_fqdn":
        return Converted(fqdn_sql("{p}"), "fqdn", parsed=f"lower({trim_dots(v)})")
    if function == "convert_http_host_and_url":
        return Converted(url_from_host_and_path(v, columns), "text")
    raise ValueError(f"unknown conversion function {function!r}")


def check(rule: str, value: Converted) -> tuple[str, str]:
    """SQL for the value normalised as IntelMQ's field type does, and for whether it is valid
    there. Invalid values of optional fields go under extra.<column>, as IntelMQ does."""
    v = value.value
    text = v if value.kind in ("text", "ip", "fqdn") else f"CAST({v} AS VARCHAR)"
    # IntelMQ's ASN type also accepts "AS64496".
    unprefixed = f"CASE WHEN upper(left({text}, 2)) = 'AS' THEN substr({text}, 3) ELSE {text} END"
    whole = v if value.kind == "int" else strict_int(unprefixed)
    if rule == "time":
        time = v if value.kind == "time" else f"TRY_CAST({text} AS TIMESTAMPTZ)"
        return time, f"{time} IS NOT NULL"
    if rule == "ip":
        address = v if value.kind == "ip" else ip_sql(text)
        return address, f"{address} IS NOT NULL"
    if rule == "port":
        port = f"TRY_CAST({whole} AS INTEGER)"
        return port, f"{port} BETWEEN 0 AND 65535"
    if rule == "asn":
        asn = f"nullif({whole}, 0)"
        return asn, f"{whole} = 0 OR {whole} BETWEEN 1 AND 4294967295"
    if rule == "cc":
        cc = f"upper({text})"
        return cc, f"regexp_full_match({cc}, '[A-Z0-9]{{2}}')"
    if rule == "fqdn":
        name = v if value.kind == "fqdn" else fqdn_sql(f"lower({trim_dots(text)})")
        return name, f"{name} IS NOT NULL"
    if rule == "url":
        # URL_RE as a full match, said cheaply: its prefix (scheme://host-char) and no line
        # feed after it ('.' matches anything else)
        prefix = "^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]"
        return text, f"regexp_matches({text}, {lit(prefix)}) AND NOT contains({text}, chr(10))"
    if rule == "transport":
        lower = f"lower({text})"
        return lower, f"{lower} IN {words(TRANSPORTS)}"
    if rule == "lower":
        lower = f"lower({text})"
        return lower, f"regexp_full_match({lower}, '[ -~]+')"
    if rule in ("taxonomy", "classification"):
        allowed = TAXONOMIES if rule == "taxonomy" else CLASSIFICATION_TYPES
        lower = f"lower({text})"
        return lower, f"{lower} IN {words(allowed)}"
    return text, "true"

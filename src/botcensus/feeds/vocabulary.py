"""Feed events: typed columns, the IntelMQ field each one carries, and IntelMQ's value rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Field:
    """A typed feed-event column and the IntelMQ harmonisation type its values must satisfy."""

    column: str
    key: str
    """IntelMQ field name where the event leaves botcensus."""
    type: pa.DataType
    rule: str
    """One of RULES: how a value is normalised and checked (see convert.check_sql)."""


# Columns every stored feed event has. Other IntelMQ fields (extra.*, source.network, ...) are
# kept as nullable string columns named by their IntelMQ key, so a file's schema is these
# columns plus whatever the report carried.
CORE: Final[tuple[Field, ...]] = (
    Field("time_source", "time.source", pa.timestamp("us", tz="UTC"), "time"),
    Field("feed_name", "feed.name", pa.string(), "string"),
    Field("sensor", "feed.provider", pa.string(), "string"),
    Field("source_ip", "source.ip", pa.string(), "ip"),
    Field("source_port", "source.port", pa.int32(), "port"),
    Field("source_reverse_dns", "source.reverse_dns", pa.string(), "fqdn"),
    Field("reported_asn", "source.asn", pa.int64(), "asn"),
    Field("reported_as_name", "source.as_name", pa.string(), "string"),
    Field("reported_cc", "source.geolocation.cc", pa.string(), "cc"),
    Field("source_region", "source.geolocation.region", pa.string(), "string"),
    Field("source_city", "source.geolocation.city", pa.string(), "string"),
    Field("destination_ip", "destination.ip", pa.string(), "ip"),
    Field("destination_port", "destination.port", pa.int32(), "port"),
    Field("destination_reverse_dns", "destination.reverse_dns", pa.string(), "fqdn"),
    Field("destination_fqdn", "destination.fqdn", pa.string(), "fqdn"),
    Field("destination_url", "destination.url", pa.string(), "url"),
    Field("destination_asn", "destination.asn", pa.int64(), "asn"),
    Field("destination_cc", "destination.geolocation.cc", pa.string(), "cc"),
    Field("destination_region", "destination.geolocation.region", pa.string(), "string"),
    Field("destination_city", "destination.geolocation.city", pa.string(), "string"),
    Field("protocol_transport", "protocol.transport", pa.string(), "transport"),
    Field("protocol_application", "protocol.application", pa.string(), "lower"),
    Field("malware_name", "malware.name", pa.string(), "lower"),
    Field("classification_taxonomy", "classification.taxonomy", pa.string(), "taxonomy"),
    Field("classification_type", "classification.type", pa.string(), "classification"),
    Field("classification_identifier", "classification.identifier", pa.string(), "string"),
    Field("bot_id", "extra.bot_id", pa.string(), "string"),
)
BY_KEY: Final[dict[str, Field]] = {f.key: f for f in CORE}
# Sinkhole exports carry the sensor as extra.sensor; both names fill the same column.
BY_KEY["extra.sensor"] = BY_KEY["feed.provider"]
BY_COLUMN: Final[dict[str, Field]] = {f.column: f for f in CORE}

# Stored beside the mapped fields: the content hash, our enrichment, and where a row came from.
STORED: Final[tuple[pa.Field, ...]] = (
    pa.field("event_hash", pa.binary(16), nullable=False),
    pa.field("report_type", pa.string()),
    pa.field("source_cc", pa.string()),
    pa.field("source_asn", pa.int64()),
    pa.field("source_as_name", pa.string()),
    pa.field("geo_db", pa.string()),
    pa.field("source_file", pa.string()),
    pa.field("source_line", pa.int64()),
)
NOT_NULL: Final[frozenset[str]] = frozenset({"time_source", "feed_name", "sensor", "event_hash"})

# IntelMQ fields outside CORE that keep their own name (not moved under extra.) when a
# mapping targets them; any other unknown name goes under extra., as IntelMQ's parser does.
OTHER_KEYS: Final[frozenset[str]] = frozenset(
    {
        "comment",
        "destination.local_hostname",
        "destination.network",
        "event_description.text",
        "event_description.url",
        "feed.accuracy",
        "feed.code",
        "feed.documentation",
        "feed.url",
        "malware.hash.md5",
        "malware.hash.sha1",
        "malware.hash.sha256",
        "malware.version",
        "raw",
        "source.account",
        "source.fqdn",
        "source.local_hostname",
        "source.network",
        "source.url",
        "status",
        "time.observation",
        "tlp",
    }
)

RULES: Final[frozenset[str]] = frozenset(
    {"time", "string", "ip", "port", "fqdn", "asn", "cc", "url", "transport", "lower"}
    | {"taxonomy", "classification"}
)

# intelmq/lib/harmonization.py (intelmq 3.5): ClassificationTaxonomy and ClassificationType.
TAXONOMIES: Final[tuple[str, ...]] = (
    "abusive-content",
    "availability",
    "fraud",
    "information-content-security",
    "information-gathering",
    "intrusion-attempts",
    "intrusions",
    "malicious-code",
    "other",
    "test",
    "vulnerable",
)
CLASSIFICATION_TYPES: Final[tuple[str, ...]] = (
    *("application-compromise", "blacklist", "brute-force", "burglary", "c2-server"),
    *("copyright", "data-leak", "data-loss", "ddos", "ddos-amplifier", "dga-domain", "dos"),
    *("exploit", "harmful-speech", "ids-alert", "infected-system", "information-disclosure"),
    *("malware", "malware-configuration", "malware-distribution", "masquerade"),
    *("misconfiguration", "other", "outage", "phishing", "potentially-unwanted-accessible"),
    *("privileged-account-compromise", "proxy", "sabotage", "scanner", "sniffing"),
    *("social-engineering", "spam", "system-compromise", "test", "tor"),
    *("unauthorised-information-access", "unauthorised-information-modification"),
    *("unauthorized-use-of-resources", "undetermined", "unprivileged-account-compromise"),
    *("violence", "vulnerable-system", "weak-crypto"),
)
# intelmq/etc/harmonization.conf, protocol.transport "iregex" (intelmq 3.5), as a list.
_TRANSPORT_RE: Final = (
    "ip|icmp|igmp|ggp|ipencap|st2|tcp|cbt|egp|igp|bbn-rcc|nvp(-ii)?|pup|argus|emcon|xnet|chaos|"
    "udp|mux|dcn|hmp|prm|xns-idp|trunk-1|trunk-2|leaf-1|leaf-2|rdp|irtp|iso-tp4|netblt|mfe-nsp|"
    "merit-inp|sep|3pc|idpr|xtp|ddp|idpr-cmtp|tp\\+\\+|il|ipv6|sdrp|ipv6-route|ipv6-frag|idrp|"
    "rsvp|gre|mhrp|bna|esp|ah|i-nlsp|swipe|narp|mobile|tlsp|skip|ipv6-icmp|ipv6-nonxt|ipv6-opts|"
    "cftp|sat-expak|kryptolan|rvd|ippc|sat-mon|visa|ipcv|cpnx|cphb|wsn|pvp|br-sat-mon|sun-nd|"
    "wb-mon|wb-expak|iso-ip|vmtp|secure-vmtp|vines|ttp|nsfnet-igp|dgp|tcf|eigrp|ospf|sprite-rpc|"
    "larp|mtp|ax.25|ipip|micp|scc-sp|etherip|encap|gmtp|ifmp|pnni|pim|aris|scps|qnx|a/n|ipcomp|"
    "snp|compaq-peer|ipx-in-ip|vrrp|pgm|l2tp|ddx|iatp|st|srp|uti|smp|sm|ptp|isis|fire|crtp|"
    "crdup|sscopmce|iplt|sps|pipe|sctp|fc|divert"
)

TRANSPORTS: Final[tuple[str, ...]] = tuple(
    name.replace("\\", "")
    for part in _TRANSPORT_RE.split("|")
    for name in ((part[:3], "nvp-ii") if part == "nvp(-ii)?" else (part,))
)


def output_key(target: str) -> str:
    """Where a mapping target lands: a CORE key, an IntelMQ key kept as is, or extra.<name>."""
    if target in BY_KEY or target in OTHER_KEYS or target.startswith("extra."):
        return target
    return f"extra.{target}"


# Report columns that say what the feed looked up about an address (its AS, place, name,
# sector, NAICS/SIC code) or how it rates the report, not what it observed. Two reports can
# carry one event with these looked up differently, so they are left out of the content hash.
_REPORT_LOOKUPS: Final[frozenset[str]] = frozenset(
    f"{prefix}{suffix}"
    for prefix in ("", "src_", "dst_", "cc_", "http_referer_")
    for suffix in ("asn", "geo", "region", "city", "hostname", "naics", "sic", "sector")
) | {"severity"}
# The same for IntelMQ events, whose experts look these up on the way (and stamp the time).
LOOKUP_COLUMNS: Final[frozenset[str]] = (
    _REPORT_LOOKUPS
    | {
        f"{side}.{name}"
        for side in ("source", "destination")
        for name in (
            "asn",
            "as_name",
            "reverse_dns",
            "geolocation.cc",
            "geolocation.region",
            "geolocation.city",
            "geolocation.country",
            "geolocation.latitude",
            "geolocation.longitude",
            "abuse_contact",
            "network",
            "registry",
            "allocated",
        )
    }
    | {
        "time.observation",
        "extra.source.naics",
        "extra.source.sector",
        "extra.destination.naics",
        "extra.destination.sector",
    }
)


# An event's identity (feeds/identity.py): two report rows with these equal are one event,
# whatever else the feed added or looked up. (name, kind, columns: the first present and
# non-empty). The address is the source or, in referer reports (no source address), the
# referring host.
IDENTITY: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("time", "int", ("time_source",)),
    ("address", "text", ("source_ip", "extra.http_referer_ip")),
    ("port", "int", ("source_port", "extra.http_referer_port")),
    ("destination", "text", ("destination_ip",)),
    ("destination_port", "int", ("destination_port",)),
    ("fqdn", "text", ("destination_fqdn",)),
    ("url", "text", ("destination_url",)),
    ("transport", "text", ("protocol_transport",)),
    ("malware", "text", ("malware_name",)),
    ("type", "text", ("classification_type",)),
    ("bot", "text", ("bot_id",)),
)
# Other fields that tell events apart where a report has them (kept as text columns).
IDENTITY_EXTRAS: Final[frozenset[str]] = frozenset(
    {
        "extra.dns_query",
        "extra.dns_query_type",
        "extra.query",
        "extra.query_type",
        "extra.http_url",
        "extra.http_host",
    }
)

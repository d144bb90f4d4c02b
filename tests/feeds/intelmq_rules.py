"""IntelMQ's harmonisation rules for the fields botcensus emits, as a test-side validator.

Transcribed from intelmq/etc/harmonization.conf and intelmq/lib/harmonization.py (intelmq
3.5): each value must be valid as it is (sanitize=False), the way `Event.add` checks it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from botcensus.feeds.vocabulary import CLASSIFICATION_TYPES, TAXONOMIES, TRANSPORTS


def _string(v: Any) -> bool:
    return isinstance(v, str) and len(v) > 0


def _lower(regex: str | None = None, length: int | None = None) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not _string(v) or v != v.lower():
            return False
        if length is not None and len(v) > length:
            return False
        return regex is None or re.search(regex, v) is not None

    return check


def _cc(v: Any) -> bool:
    return _string(v) and v == v.upper() and re.fullmatch("[a-zA-Z0-9]{2}", v) is not None


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _asn(v: Any) -> bool:
    return _integer(v) and 0 < v <= 4294967295


def _ip(v: Any) -> bool:
    if not _string(v) or "%" in v:
        return False
    try:
        return ipaddress.ip_address(v) != ipaddress.ip_address("0.0.0.0")
    except ValueError:
        return False


def _network(v: Any) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
    except (ValueError, TypeError):
        return False
    return True


def _fqdn(v: Any) -> bool:
    if not _string(v) or v.strip(".") != v or v != v.lower() or ":" in v or _ip(v):
        return False
    parts = urlsplit(v)
    if parts.scheme or parts.netloc or parts.query or parts.fragment or "/" in parts.path:
        return False
    try:
        return bool(v.encode("idna").decode() == v)
    except UnicodeError:
        return False


def _url(v: Any) -> bool:
    return _string(v) and v[0] not in " \t\n\r" and urlsplit(v).netloc != ""


def _datetime(v: Any) -> bool:
    """DateTime.is_valid: parseable, and equal to its own normalised form (UTC, ISO 8601)."""
    if not _string(v):
        return False
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return False
    return parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


RULES: dict[str, Callable[[Any], bool]] = {
    "time.source": _datetime,
    "feed.name": _string,
    "feed.provider": _string,
    "source.ip": _ip,
    "source.port": _integer,
    "source.reverse_dns": _fqdn,
    "source.asn": _asn,
    "source.as_name": _string,
    "source.geolocation.cc": _cc,
    "source.geolocation.region": _string,
    "source.geolocation.city": _string,
    "source.network": _network,
    "destination.ip": _ip,
    "destination.port": _integer,
    "destination.reverse_dns": _fqdn,
    "destination.fqdn": _fqdn,
    "destination.url": _url,
    "destination.asn": _asn,
    "destination.geolocation.cc": _cc,
    "destination.geolocation.region": _string,
    "destination.geolocation.city": _string,
    "protocol.transport": lambda v: _lower()(v) and v in TRANSPORTS,
    "protocol.application": _lower("^[ -~]+$", 100),
    "malware.name": _lower("^[ -~]+$"),
    "classification.taxonomy": lambda v: v in TAXONOMIES,
    "classification.type": lambda v: v in CLASSIFICATION_TYPES,
    "classification.identifier": _string,
    "comment": _string,
    "raw": _string,
}


def problems(event: dict[str, Any]) -> list[str]:
    """What IntelMQ would refuse in this event (empty: valid)."""
    found = []
    for key, value in event.items():
        if key.startswith("extra."):
            if value is None or value == "":
                found.append(f"{key}: empty")
            continue
        rule = RULES.get(key)
        if rule is None:
            found.append(f"{key}: not a field this validator knows")
        elif not rule(value):
            found.append(f"{key}: {value!r} is not valid")
    return found

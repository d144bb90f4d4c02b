"""XARF v4 reports of host rows: one `infrastructure` / `botnet` report per host and day, one
JSON object per line, each built here and validated with the XARF project's own library
(PyPI `xarf`, which ships the v4 JSON schemas) before it is written.

`botnet` ("Botnet infections and compromised systems", with `malware_family` and
`compromise_evidence`) fits a sinkhole's finding; XARF's `connection` / `infected_host`
type describes crawlers and other HTTP bots (`bot_type`, robots.txt manners) instead. The
report id is a UUID drawn from the ticket, address, day and family, so rendering again gives
the same file.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any, Final

import pyarrow as pa

from botcensus.export.base import Renderer, ReportMeta, sorted_hosts
from botcensus.model import SINKHOLE_FEED_NAME

XARF_VERSION: Final = "4.2.0"
"""The XARF specification version written (the version the `xarf` library validates)."""
_TAG_UNSAFE: Final = re.compile(r"[^a-z0-9_+-]+")
_ISO: Final = "%Y-%m-%dT%H:%M:%SZ"


FEED_EVIDENCE: Final = "threat_intelligence"
"""XARF `evidence_source` of a row a feed relayed (the sinkhole's own rows say `sinkhole`)."""


class XarfError(ValueError):
    """A report the XARF schema rejects: a bug here or a value no report may carry."""


def _tag(namespace: str, value: str) -> str | None:
    slug = _TAG_UNSAFE.sub("-", value.lower()).strip("-_+")
    return f"{namespace}:{slug}" if slug else None


def _report_id(meta: ReportMeta, row: dict[str, Any]) -> str:
    key = f"{meta.ticket}|{row['source_ip']}|{row['day']}|{row['malware_family']}"
    digest = hashlib.sha256(key.encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def xarf_report(row: dict[str, Any], meta: ReportMeta) -> dict[str, Any]:
    """One XARF v4 botnet report for a host row (a HOST_SCHEMA row as a dict)."""
    party = {
        "org": meta.reporter.org,
        "contact": meta.reporter.email,
        "domain": meta.reporter.domain,
    }
    family = row["malware_family"]
    first, last = row["first_seen"].strftime(_ISO), row["last_seen"].strftime(_ISO)
    ours = row["feed_name"] == SINKHOLE_FEED_NAME
    hits = row["hits"]
    seen = (
        f"{hits} check-in{'' if hits == 1 else 's'} with a {'sinkholed ' if ours else ''}"
        f"{family} command-and-control server on {row['day'].isoformat()} (first {first}, "
        f"last {last})"
    )
    if not ours:  # a row a feed relayed: its evidence, not ours
        seen += f", reported by the feed {row['feed_name']} (not seen by our sinkhole)"
    report: dict[str, Any] = {
        "xarf_version": XARF_VERSION,
        "report_id": _report_id(meta, row),
        "timestamp": first,
        "reporter": party,
        "sender": party,
        "source_identifier": row["source_ip"],
        "category": "infrastructure",
        "type": "botnet",
        "evidence_source": "sinkhole" if ours else FEED_EVIDENCE,
        "malware_family": family[:200],
        "compromise_evidence": seen,
        "description": f"Host {row['source_ip']}: {seen}. Ticket {meta.ticket}."[:1000],
        "tags": [t for t in (_tag("malware", family), _tag("tlp", meta.tlp)) if t],
    }
    if ours:
        report["c2_protocol"] = "http"
    return report


def check(report: dict[str, Any]) -> None:
    """Raise XarfError unless the `xarf` library finds the report valid."""
    from xarf import schema_validator  # jsonschema and the schemas load on first use only

    errors = schema_validator.validate(report)
    if errors:
        where = ", ".join(f"{e.field or 'report'}: {e.message}" for e in errors)
        raise XarfError(f"XARF report for {report.get('source_identifier')!r} is invalid: {where}")


class XarfJson(Renderer):
    """One XARF v4 botnet report per host and day, JSON lines, each validated."""

    name = "xarf"
    media_type = "application/x-ndjson"
    extension = ".jsonl"
    report = "xarf_botnet"

    def render(self, hosts: pa.Table, meta: ReportMeta) -> bytes:
        lines = []
        for row in sorted_hosts(hosts).to_pylist():
            report = xarf_report(row, meta)
            check(report)
            lines.append(json.dumps(report, ensure_ascii=False, separators=(",", ":")))
        return "".join(line + "\n" for line in lines).encode()

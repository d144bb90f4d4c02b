"""One report as a mail: the text from the rule's Jinja2 template (what was seen, what to do,
how to reply, how to opt out), the data from the export stage as an attachment (zip or gzip
over a size), the ticket in the subject, and optionally an OpenPGP signature (RFC 3156).

Built from the journal alone (the entry and its host rows), with the planning time as Date
and the Message-ID the journal holds, so building it again gives the same mail (a signature
aside, which carries its own time).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.export import Party, ReportMeta, renderer
from botcensus.export.check_ins import render_check_ins
from botcensus.model import SINKHOLE_FEED_NAME
from botcensus.notify.checkins import CheckIns
from botcensus.notify.journal import Entry
from botcensus.notify.rules import Rules
from botcensus.notify.sign import Signer
from botcensus.notify.templates import render_text

DESCRIPTIONS: Final = {
    "shadowserver": "CSV in the columns of Shadowserver's event4_sinkhole_http report, "
    "with last_seen and count added",
    "shadowserver-sinkhole": "CSV in the columns of Shadowserver's event4_sinkhole report, "
    "with last_seen and count added",
    "xarf": "XARF v4 reports, one JSON object per line",
    "intelmq": "IntelMQ events, one JSON object per line",
    "summary": "CSV, one row per day and network",
}
CHECK_IN_DESCRIPTIONS: Final = {
    "shadowserver": "CSV in the columns of Shadowserver's event4_sinkhole_http report, "
    "one row per check-in, with last_seen and count added",
    "shadowserver-sinkhole": "CSV in the columns of Shadowserver's event4_sinkhole report, "
    "one row per check-in, with last_seen and count added",
    "xarf": "XARF v4 reports, one JSON object per line and check-in",
    "intelmq": "IntelMQ events, one JSON object per line and check-in",
}


@dataclass(frozen=True)
class Mail:
    """A built mail and what it carries."""

    data: bytes
    """The mail as it goes to the relay (CRLF line ends)."""
    attachment_name: str
    attachment: bytes
    """The attachment as attached (compressed or not)."""
    content_hash: str
    """SHA-256 of the rendered data before compression: what the report said."""

    @property
    def message_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def one_line(text: str, limit: int = 200) -> str:
    """Contact data as one line of mail text: no line breaks or other control or format
    characters (a contact's name cannot add a paragraph of its own to the text, such as
    "Reply to ... instead"), runs of spaces as one, at most `limit` characters."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    line = " ".join(kept.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _meta(entry: Entry, rules: Rules) -> ReportMeta:
    s = rules.sender
    return ReportMeta(
        ticket=entry.ticket,
        generated=entry.planned_at,
        period_start=entry.period_start,
        period_end=entry.period_end,
        reporter=Party(s.organisation, s.email, s.domain),
        tlp=entry.tlp,
    )


def compress(name: str, data: bytes, how: str, entry: Entry) -> tuple[str, bytes, str]:
    """(file name, bytes, media type) of the data zipped or gzipped, with the planning time
    as the member's time so the bytes do not change between renderings."""
    when = entry.planned_at
    if how == "gzip":
        return f"{name}.gz", gzip.compress(data, mtime=int(when.timestamp())), "application/gzip"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        archive.writestr(info, data)
    return f"{name.rsplit('.', 1)[0]}.zip", out.getvalue(), "application/zip"


def _check_in_context(entry: Entry, check_ins: CheckIns | None) -> dict[str, Any]:
    """What the text says of check-in rows: how many, how many cut, which days lack them."""
    if check_ins is None:
        return {
            "rows": "host-days", "check_in_rows": 0, "max_check_ins": None, "cut_host_days": 0,
            "cut_check_ins": 0, "unavailable_days": [], "unavailable_host_days": 0,
        }  # fmt: skip
    return {
        "rows": "check-ins",
        "check_in_rows": check_ins.rows,
        "max_check_ins": check_ins.cap,
        "cut_host_days": check_ins.cut_host_days,
        "cut_check_ins": check_ins.cut_check_ins,
        "unavailable_days": [d.isoformat() for d in check_ins.unavailable_days],
        "unavailable_host_days": check_ins.unavailable_host_days,
    }


def _context(
    entry: Entry, hosts: pa.Table, rules: Rules, attachment: str, check_ins: CheckIns | None
) -> dict[str, Any]:
    s = rules.sender
    families = []
    names = pc.unique(hosts["malware_family"]).to_pylist() if hosts.num_rows else []
    if len(names) == 1:  # nearly every report: no grouping needed
        hits = int(pc.sum(hosts["hits"]).as_py() or 0)
        families = [{"name": one_line(names[0]), "hosts": entry.hosts, "checkins": hits}]
    elif names:
        grouped = hosts.group_by("malware_family").aggregate(
            [("source_ip", "count_distinct"), ("hits", "sum")]
        )
        families = [
            {"name": one_line(r["malware_family"]), "hosts": r["source_ip_count_distinct"],
             "checkins": r["hits_sum"]}
            for r in grouped.sort_by("malware_family").to_pylist()
        ]  # fmt: skip
    # A host row's feed is the sinkhole where it saw the host, else the feed that did
    seen = set(hosts["feed_name"].to_pylist()) if "feed_name" in hosts.column_names else set()
    sinkhole = SINKHOLE_FEED_NAME in seen or not seen
    relayed = sorted(one_line(f) for f in seen - {SINKHOLE_FEED_NAME} if f)
    period = (
        entry.period_start.isoformat()
        if entry.period_start == entry.period_end
        else f"{entry.period_start} to {entry.period_end}"
    )
    return {
        "ticket": entry.ticket,
        "tlp": f"TLP:{entry.tlp.upper()}",
        "tlp_level": entry.tlp,
        "recipient_name": one_line(entry.name) if entry.name else entry.name,
        "recipient_address": entry.address,
        "contacts": list(entry.contacts),
        "sender": {
            "organisation": s.organisation,
            "email": s.email,
            "reply_to": s.reply_to or s.email,
            "domain": s.domain,
        },
        "period": period,
        "period_start": entry.period_start.isoformat(),
        "period_end": entry.period_end.isoformat(),
        "hosts": entry.hosts,
        "checkins": int(pc.sum(hosts["hits"]).as_py() or 0) if hosts.num_rows else 0,
        "families": families,
        "sinkhole": sinkhole,
        "relayed_feeds": relayed,
        "networks": [one_line(n) for n in entry.networks],
        "attachment": attachment,
        "format": entry.format,
        "format_description": (CHECK_IN_DESCRIPTIONS if check_ins else DESCRIPTIONS)[entry.format],
        "ip_data": entry.ip_data,
        "opt_out": s.opt_out,
        "rule": entry.rule,
        "interval": entry.interval,
        **_check_in_context(entry, check_ins),
    }


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _body(
    entry: Entry, rules: Rules, hosts: pa.Table, check_ins: CheckIns | None
) -> tuple[bytes, str, str, bytes, str]:
    """The MIME body (its Content-Type header, the text part and the attachment), the
    subject, the attachment's name and bytes, and the content hash. Assembled by hand: the
    email package's header objects cost more than the rest of building a mail."""
    meta = _meta(entry, rules)
    export = renderer(entry.format)
    if check_ins is not None:
        data = render_check_ins(entry.format, check_ins.events, check_ins.fallback, meta)
    else:
        data = export.render(hosts, meta)
    name, attached, media = export.file_name(meta), data, export.media_type
    if len(data) > entry.compress_over:
        name, attached, media = compress(name, data, entry.compression, entry)
    subject, text = render_text(
        rules.templates, entry.template, entry.language,
        _context(entry, hosts, rules, name, check_ins),
    )  # fmt: skip
    if entry.ticket not in subject:
        subject = f"[{entry.ticket}] {subject}"
    boundary = f"=_bc_{hashlib.sha256(entry.message_id.encode()).hexdigest()[:24]}"
    body = b"".join(
        [
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode(),
            f"--{boundary}\r\n".encode(),
            b'Content-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _crlf(binascii.b2a_qp(text.encode("utf-8"), istext=True)),
            f"\r\n--{boundary}\r\n".encode(),
            f'Content-Type: {media}; name="{name}"\r\n'
            f"Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'.encode(),
            _crlf(base64.encodebytes(attached)),
            f"--{boundary}--\r\n".encode(),
        ]
    )
    return body, subject, name, attached, hashlib.sha256(data).hexdigest()


def _header(name: str, value: str) -> bytes:
    """One header line; non-ASCII or over-long values RFC 2047-encoded and folded."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{name}: a header value may not hold line breaks: {value!r}")
    if value.isascii() and len(value) < 900:
        return f"{name}: {value}\r\n".encode()
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode()


def _headers(entry: Entry, rules: Rules, subject: str) -> bytes:
    s = rules.sender
    fields = [
        ("From", formataddr((s.organisation, s.email), charset="utf-8")),
        ("To", entry.address),
        *([("Reply-To", s.reply_to)] if s.reply_to else []),
        ("Subject", subject),
        ("Date", format_datetime(entry.planned_at)),
        ("Message-ID", entry.message_id),
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        *([("List-Unsubscribe", f"<{s.opt_out}>")]
          if s.opt_out.startswith(("mailto:", "https:")) else []),
        ("MIME-Version", "1.0"),
    ]  # fmt: skip
    return b"".join(_header(k, v) for k, v in fields)


def build(
    entry: Entry,
    hosts: pa.Table,
    rules: Rules,
    signer: Signer | None = None,
    check_ins: CheckIns | None = None,
) -> Mail:
    """The mail of a journal entry with its host rows (HOST_SCHEMA) and, where the entry
    lists check-ins, the check-ins of those rows (notify.checkins.read_check_ins)."""
    if (entry.check_ins is None) != (check_ins is None):
        raise ValueError(f"{entry.ticket}: check-in rows are given if and only if it lists them")
    body, subject, name, attached, content_hash = _body(entry, rules, hosts, check_ins)
    head = _headers(entry, rules, subject)
    if signer is None:
        return Mail(head + body, name, attached, content_hash)
    signed = body.rstrip(b"\r\n")
    signature = signer.sign(signed)
    outer = f"=_bc_signed_{hashlib.sha256(entry.message_id.encode()).hexdigest()[:20]}"
    content_type = (
        f'multipart/signed; micalg="{signer.micalg}"; protocol="application/pgp-signature";'
        f'\r\n boundary="{outer}"'
    )
    parts = [
        f"Content-Type: {content_type}\r\n\r\n".encode(),
        b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n",
        f"--{outer}\r\n".encode(), signed, b"\r\n",
        f"--{outer}\r\n".encode(),
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        b"Content-Description: OpenPGP digital signature\r\n"
        b'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n',
        _crlf(signature).rstrip(b"\r\n"),
        f"\r\n--{outer}--\r\n".encode(),
    ]  # fmt: skip
    return Mail(head + b"".join(parts), name, attached, content_hash)

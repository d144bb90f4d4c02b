"""The privacy property, over random contact tables, hosts, rules and overrides: no message
ever carries an address outside what its recipient may see (an address inside one of its
prefixes, of one of its ASNs, or of its country for a country record), in the plan or in
the rendered data."""

from __future__ import annotations

import csv
import gzip
import io
import ipaddress
import json
import re
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings, target
from notify_cases import RUN, contact_table, host_rows, rules

from botcensus.export import Party, ReportMeta, renderer
from botcensus.notify import Journal, plan_messages
from botcensus.notify.mail import build
from botcensus.notify.recipients import resolve

EMAILS = ["a@one.example", "b@two.example", "c@three.example", "cert-de@cert.example",
          "cert-nl@cert.example", "shared@isp.example"]  # fmt: skip
ASNS = [64496, 64497, 64498, 64499]
COUNTRIES = ["DE", "NL", "SE"]


@st.composite
def prefixes(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        bits = draw(st.integers(8, 28))
        base = draw(st.integers(0, 2**24 - 1)) << 8  # inside 10.0.0.0/8 after the mask below
        net = ipaddress.ip_network(((10 << 24) | (base & 0xFFFFFF), bits), strict=False)
        return str(net)
    bits = draw(st.integers(32, 64))
    low = draw(st.integers(0, 2**32 - 1))
    net = ipaddress.ip_network(((0x20010DB8 << 96) | (low << 64), bits), strict=False)
    return str(net)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)) == 0:
        return str(ipaddress.ip_address(0x20010DB8 << 96 | draw(st.integers(0, 2**64 - 1)) << 64))
    if draw(st.booleans()):
        return str(ipaddress.ip_address((10 << 24) | draw(st.integers(0, 2**24 - 1))))
    return str(ipaddress.ip_address((192 << 24 | 0 << 16 | 2 << 8) + draw(st.integers(0, 255))))


scenario = st.fixed_dictionaries(
    {
        "prefixes": st.lists(
            st.tuples(prefixes(), st.sampled_from(EMAILS)),
            min_size=1,
            max_size=8,
            unique_by=lambda p: p[0],
        ),
        "asns": st.lists(
            st.tuples(st.sampled_from(ASNS), st.sampled_from(EMAILS)), min_size=1, max_size=4
        ),
        "countries": st.lists(
            st.tuples(st.sampled_from(COUNTRIES), st.sampled_from(EMAILS)), min_size=1, max_size=3
        ),
        "hosts": st.lists(
            st.fixed_dictionaries(
                {
                    "source_ip": addresses(),
                    "inside": st.one_of(st.none(), st.integers(0, 7)),
                    "offset": st.integers(0, 2**16),
                    "source_asn": st.sampled_from([None, *ASNS]),
                    "source_cc": st.sampled_from([None, *COUNTRIES]),
                    "malware_family": st.sampled_from(["rustock", "conficker"]),
                    "day": st.sampled_from(
                        [RUN - timedelta(days=d) for d in (1, 1, 1, 0, 0, 3, 7)]
                    ),
                }
            ),
            min_size=3,
            max_size=40,
        ),
        "rules": st.lists(
            st.fixed_dictionaries(
                {
                    "to": st.sampled_from(
                        ['["contact"]', '["national-cert"]', '["contact", "national-cert"]']
                    ),
                    "interval": st.sampled_from(["daily", "daily", "weekly", "threshold"]),
                    "families": st.sampled_from(["[]", '["rustock"]']),
                    "countries": st.sampled_from(["[]", "[]", '["DE"]', '["NL", "SE"]']),
                    "min_hosts": st.integers(1, 2),
                    "ip_data": st.booleans(),
                    "format": st.sampled_from(["shadowserver", "intelmq", "xarf"]),
                }
            ),
            min_size=1,
            max_size=3,
        ),
        "overrides": st.lists(
            st.tuples(
                st.sampled_from(EMAILS),
                st.sampled_from([*EMAILS, "desk@elsewhere.example"]),
                st.booleans(),
            ),
            max_size=3,
            unique_by=lambda o: o[0],
        ),
        "week_ends": st.sampled_from(["thu", "sun"]),
        "holdout": st.booleans(),
    }
)


def _hosts(s: dict) -> list[dict]:
    """The drawn hosts, most of them moved inside one of the drawn prefixes."""
    out = []
    for h in s["hosts"]:
        row = {k: v for k, v in h.items() if k not in ("inside", "offset")}
        if h["inside"] is not None and s["prefixes"]:
            net = ipaddress.ip_network(s["prefixes"][h["inside"] % len(s["prefixes"])][0])
            row["source_ip"] = str(net[h["offset"] % net.num_addresses])
        out.append(row)
    return out


def _rules_text(s: dict) -> str:
    text = "[holdout]\nshare = 0.4\nseed = 5\n" if s["holdout"] else ""
    for i, r in enumerate(s["rules"]):
        text += (
            f'[[rule]]\nname = "r{i}"\nto = {r["to"]}\ninterval = "{r["interval"]}"\n'
            "threshold = 2\n"
            f"families = {r['families']}\ncountries = {r['countries']}\n"
            f"min_hosts = {r['min_hosts']}\nip_data = {str(r['ip_data']).lower()}\n"
            f'format = "{r["format"]}"\nweek_ends = "{s["week_ends"]}"\n'
        )
    for email, address, opt_out in s["overrides"]:
        text += f'[[recipient]]\nemail = "{email}"\naddress = "{address}"\n'
        text += f"opt_out = {str(opt_out).lower()}\n"
    return text


def _visible(s: dict, identities: tuple[str, ...], row: dict) -> bool:
    """Whether a host row is inside a record of one of these contact addresses."""
    ip = ipaddress.ip_address(row["source_ip"])
    for text, email in s["prefixes"]:
        if email in identities and ip in ipaddress.ip_network(text):
            return True
    for asn, email in s["asns"]:
        if email in identities and row["source_asn"] == asn:
            return True
    return any(email in identities and row["source_cc"] == cc for cc, email in s["countries"])


def _addresses_in(data: bytes, fmt: str) -> set[str]:
    text = data.decode()
    if fmt.startswith("shadowserver"):
        return {r["src_ip"] for r in csv.DictReader(io.StringIO(text))}
    if fmt == "intelmq":
        return {json.loads(line)["source.ip"] for line in text.splitlines()}
    if fmt == "xarf":
        return {json.loads(line)["source_identifier"] for line in text.splitlines()}
    return set()


SINKHOLE = Party("S", "s@sinkhole.example.org", "sinkhole.example.org")
META = ReportMeta("T-1", datetime(2011, 3, 18, tzinfo=UTC), RUN, RUN, SINKHOLE, "amber")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_no_message_carries_an_address_its_recipient_may_not_see(s: dict) -> None:
    contacts = contact_table(s["prefixes"], s["asns"], s["countries"])
    hosts = host_rows(_hosts(s))
    planned = plan_messages(resolve(hosts, contacts), rules(_rules_text(s)), RUN)
    target(float(len(planned.messages)))  # steer the search towards many messages
    overrides = {email: (address, out) for email, address, out in s["overrides"]}
    every = set(hosts["source_ip"].to_pylist())
    for message in planned.messages:
        for identity in message.contacts:
            address, opted_out = overrides.get(identity, (identity, False))
            assert not opted_out
            assert address == message.address
        for row in message.hosts.to_pylist():
            assert _visible(s, message.contacts, row), (message.address, row)
        sent = _addresses_in(renderer(message.format).render(message.hosts, META), message.format)
        assert sent <= set(message.hosts["source_ip"].to_pylist())
        if message.format == "summary":  # counts per network: no cell is a host's address
            data = renderer("summary").render(message.hosts, META).decode()
            for row in csv.DictReader(io.StringIO(data)):
                assert row["network"] in message.networks
                assert not {v for k, v in row.items() if k != "network"} & every


IP_LIKE = re.compile(r"[0-9a-f:.]+(?:/[0-9]+)?", re.IGNORECASE)
"""Runs of address characters, with a prefix length if one follows (a network, not a host)."""


def _attachment(mail: bytes) -> tuple[str, bytes]:
    """(file name, data uncompressed) of a built mail's attachment."""
    parsed = BytesParser().parsebytes(mail)
    part = next(p for p in parsed.walk() if p.get_filename())
    name, data = str(part.get_filename()), part.get_payload(decode=True)
    assert isinstance(data, bytes)
    if name.endswith(".gz"):
        return name[:-3], gzip.decompress(data)
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            [member] = archive.namelist()
            return member, archive.read(member)
    return name, data


def _text(mail: bytes) -> str:
    parsed = BytesParser().parsebytes(mail)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario, st.sampled_from([0, 200, 1 << 20]))
def test_no_mail_built_from_the_journal_carries_a_foreign_address(s: dict, squeeze: int) -> None:
    """The same property one step on: the plan recorded in a journal, each mail built from
    the journal's own rows (as `notify send` builds it), its attachment unpacked (zip or
    gzip or none), and its text searched for any host's address."""
    contacts = contact_table(s["prefixes"], s["asns"], s["countries"])
    hosts = host_rows(_hosts(s))
    every = set(hosts["source_ip"].to_pylist())
    extra = f"compress_over_bytes = {squeeze}\n" if squeeze else ""
    text = _rules_text(s).replace("[[rule]]\n", f"[[rule]]\n{extra}")
    parsed = rules(text)
    planned = plan_messages(resolve(hosts, contacts), parsed, RUN)
    target(float(len(planned.messages)))
    with tempfile.TemporaryDirectory() as folder, Journal(Path(folder)) as journal:
        journal.record(planned, prefix="T", domain="sinkhole.example.org")
        for entry in journal.entries():
            rows = journal.hosts(entry.id).to_pylist()
            for row in rows:
                assert _visible(s, entry.contacts, row), (entry.address, row)
            allowed = {r["source_ip"] for r in rows}
            mail = build(entry, journal.hosts(entry.id), parsed).data
            name, data = _attachment(mail)
            assert _addresses_in(data, entry.format) <= allowed
            assert entry.ticket in name
            body = _text(mail)
            named = {t for t in IP_LIKE.findall(body) if "/" not in t}
            assert not named & (every - allowed), entry.address

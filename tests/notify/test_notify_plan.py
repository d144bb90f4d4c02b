"""Planning: who gets which rows, in which format, for which days, and what is held back."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from notify_cases import DAY, RUN, contact_table, host_rows, rules

from botcensus.notify import plan_messages
from botcensus.notify.holdout import ASSIGNMENT_SCHEMA
from botcensus.notify.plan import due_period
from botcensus.notify.recipients import resolve

CONTACTS = contact_table(
    prefixes=[
        ("10.0.0.0/8", "noc@big.example"),
        ("10.1.0.0/16", "abuse@uni.example"),
        ("10.1.2.0/24", "abuse@uni.example"),
        ("10.9.0.0/16", 'Quote"d@odd.example'),
    ],
    asns=[(64496, "abuse@isp.example"), (64497, "abuse@isp.example")],
    countries=[("DE", "certbund@cert.example"), ("NL", "cert@ncsc.example")],
)
HOSTS = host_rows(
    [
        {"source_ip": "10.1.2.3", "source_asn": 64496, "source_cc": "DE"},  # uni /24
        {"source_ip": "10.1.9.9", "source_asn": 64496, "source_cc": "DE"},  # uni /16
        {"source_ip": "10.200.0.1", "source_asn": 64496, "source_cc": "DE"},  # big /8
        {"source_ip": "192.0.2.1", "source_asn": 64496, "source_cc": "DE"},  # ASN
        {"source_ip": "192.0.2.2", "source_asn": 64497, "source_cc": "NL"},  # ASN, same mailbox
        {"source_ip": "198.51.100.1", "source_asn": 65000, "source_cc": "NL"},  # country
        {"source_ip": "203.0.113.1", "source_asn": 65001, "source_cc": "FR"},  # nobody
        {"source_ip": "10.9.0.1", "source_asn": 65002, "source_cc": "FR"},  # odd address
    ]
)
DAILY = '[[rule]]\nname = "daily"\n'


def _plan(
    text: str = DAILY, hosts: pa.Table = HOSTS, run: date = RUN, known: pa.Table | None = None
):
    return plan_messages(resolve(hosts, CONTACTS), rules(text), run, known)


def _by_address(planned) -> dict[str, list[str]]:
    return {m.address: sorted(m.hosts["source_ip"].to_pylist()) for m in planned.messages}


def test_each_row_goes_to_its_most_specific_contact() -> None:
    assert _by_address(_plan()) == {
        "abuse@uni.example": ["10.1.2.3", "10.1.9.9"],
        "noc@big.example": ["10.200.0.1"],
        "abuse@isp.example": ["192.0.2.1", "192.0.2.2"],
        "cert@ncsc.example": ["198.51.100.1"],
    }


def test_one_message_per_address_lists_all_its_networks() -> None:
    by = {m.address: m for m in _plan().messages}
    assert by["abuse@uni.example"].networks == ("prefix 10.1.0.0/16", "prefix 10.1.2.0/24")
    assert by["abuse@isp.example"].networks == ("asn AS64496", "asn AS64497")
    assert by["abuse@isp.example"].period_start == by["abuse@isp.example"].period_end == DAY


def test_rows_nobody_answers_for_and_unusable_addresses_are_held_back_with_the_reason() -> None:
    held = {(h.reason, h.address): h.hosts for h in _plan().held}
    assert held == {
        ("no abuse contact", None): 1,
        ("contact address not usable for mail", 'quote"d@odd.example'): 1,
    }


def test_national_certs_get_their_whole_country_when_the_rule_says_so() -> None:
    found = _by_address(_plan('[[rule]]\nname = "all"\nto = ["contact", "national-cert"]\n'))
    assert found["certbund@cert.example"] == ["10.1.2.3", "10.1.9.9", "10.200.0.1", "192.0.2.1"]
    assert found["cert@ncsc.example"] == ["192.0.2.2", "198.51.100.1"]
    assert found["abuse@uni.example"] == ["10.1.2.3", "10.1.9.9"]
    only = _by_address(_plan('[[rule]]\nname = "certs"\nto = ["national-cert"]\n'))
    assert sorted(only) == ["cert@ncsc.example", "certbund@cert.example"]


def test_an_override_redirects_and_changes_format_language_and_interval() -> None:
    text = DAILY + (
        '[[recipient]]\nemail = "ABUSE@uni.example"\naddress = "cert@uni.example"\n'
        'format = "xarf"\nlanguage = "de"\nname = "Uni CERT"\n'
        '[[recipient]]\nemail = "noc@big.example"\ninterval = "weekly"\n'
    )
    by = {m.address: m for m in _plan(text).messages}
    uni = by["cert@uni.example"]
    assert (uni.format, uni.language, uni.name, uni.contacts) == (
        "xarf", "de", "Uni CERT", ("abuse@uni.example",),
    )  # fmt: skip
    assert "noc@big.example" not in by  # weekly, and 2011-03-17 is a Thursday
    held = {(h.reason, h.address) for h in _plan(text).held}
    assert ("not due today (weekly)", "noc@big.example") in held


def test_an_opted_out_contact_gets_nothing_and_is_listed() -> None:
    planned = _plan(DAILY + '[[recipient]]\nemail = "abuse@isp.example"\nopt_out = true\n')
    assert "abuse@isp.example" not in _by_address(planned)
    assert ("opted out", "abuse@isp.example", 2) in {
        (h.reason, h.address, h.hosts) for h in planned.held
    }


def test_inhibitions_keep_a_network_or_family_out() -> None:
    text = DAILY + (
        '[[inhibit]]\nprefix = "10.1.2.0/24"\nreason = "our honeypots"\n'
        '[[inhibit]]\nemail = "abuse@isp.example"\nasn = 64497\n'
    )
    planned = _plan(text)
    found = _by_address(planned)
    assert found["abuse@uni.example"] == ["10.1.9.9"]
    assert found["abuse@isp.example"] == ["192.0.2.1"]
    reasons = {h.reason for h in planned.held}
    assert "inhibited: prefix 10.1.2.0/24 (our honeypots)" in reasons
    assert "inhibited: AS 64497" in reasons


def test_fewer_hosts_than_min_hosts_are_held_back() -> None:
    planned = _plan('[[rule]]\nname = "big"\nmin_hosts = 2\n')
    assert sorted(_by_address(planned)) == ["abuse@isp.example", "abuse@uni.example"]
    assert ("fewer than min_hosts = 2", "noc@big.example") in {
        (h.reason, h.address) for h in planned.held
    }


def test_threshold_rules_report_the_run_day_once_enough_hosts_are_seen() -> None:
    today = host_rows(
        [{"source_ip": f"192.0.2.{i}", "source_asn": 64496, "day": RUN} for i in range(1, 4)]
    )
    text = '[[rule]]\nname = "burst"\ninterval = "threshold"\nthreshold = 3\n'
    [message] = _plan(text, today).messages
    assert (message.period_start, message.period_end, message.host_count) == (RUN, RUN, 3)
    assert _plan(text.replace("= 3", "= 4"), today).messages == ()


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (date(2011, 3, 21), (date(2011, 3, 14), date(2011, 3, 20))),  # Monday: week to Sunday
        (date(2011, 3, 22), None),
    ],
)
def test_weekly_reports_cover_the_week_and_go_the_day_after_it_ends(run, expected) -> None:
    assert due_period("weekly", "sun", run) == expected


def test_without_ip_data_a_rule_sends_counts_per_network() -> None:
    planned = _plan('[[rule]]\nname = "counts"\nip_data = false\nformat = "xarf"\n')
    assert {m.format for m in planned.messages} == {"summary"}


@pytest.mark.parametrize(
    ("filters", "addresses"),
    [
        ('countries = ["nl"]', ["abuse@isp.example", "cert@ncsc.example"]),
        ("asns = [64497]", ["abuse@isp.example"]),
        ('prefixes = ["10.1.0.0/16"]', ["abuse@uni.example"]),
        ('families = ["conficker"]', []),
        ('feeds = ["shadowserver-event4_sinkhole_http"]', []),
        ('contact_levels = ["country"]', ["cert@ncsc.example"]),
    ],
)
def test_rule_filters_choose_rows(filters: str, addresses: list[str]) -> None:
    planned = _plan(f'[[rule]]\nname = "some"\n{filters}\n')
    assert sorted(_by_address(planned)) == addresses


def test_a_row_whose_address_is_not_one_goes_to_nobody() -> None:
    bad = host_rows([{"source_ip": "10.0.256.7", "source_asn": 64496, "source_cc": "DE"}])
    planned = _plan('[[rule]]\nname = "all"\nto = ["contact", "national-cert"]\n', bad)
    assert planned.messages == ()
    assert [(h.reason, h.hosts) for h in planned.held] == [("not an IP address", 1)]


def test_rows_outside_the_period_are_not_reported() -> None:
    old = host_rows(
        [{"source_ip": "192.0.2.1", "source_asn": 64496, "day": DAY - timedelta(days=2)}]
    )
    assert _plan(hosts=old).messages == ()


HOLDOUT = "[holdout]\nshare = 0.5\nseed = 3\n"


def test_a_held_out_network_is_told_nothing_and_its_group_is_recorded() -> None:
    planned = _plan(HOLDOUT + DAILY)
    groups = {r["unit"]: r["arm"] for r in planned.assignments.to_pylist()}
    assert set(groups) == {"64496", "64497", "65000", "65002"}  # ASNs with a contact
    assert sorted(groups.values()).count("holdout") >= 1
    told = {ip for m in planned.messages for ip in m.hosts["source_ip"].to_pylist()}
    asn_of = dict(zip(HOSTS["source_ip"].to_pylist(), HOSTS["source_asn"].to_pylist(), strict=True))
    assert {str(asn_of[ip]) for ip in told} <= {u for u, arm in groups.items() if arm == "notified"}
    assert planned.new_assignments == 4


def test_networks_drawn_before_keep_their_group() -> None:
    known = pa.Table.from_pylist(
        [{"unit": "64496", "kind": "asn", "cc": "DE", "size": 4, "stratum": "DE 1-9",
          "arm": "holdout", "assigned_on": DAY}],
        schema=ASSIGNMENT_SCHEMA,
    )  # fmt: skip
    planned = _plan(HOLDOUT + DAILY, known=known)
    assert planned.new_assignments == 3
    told = {ip for m in planned.messages for ip in m.hosts["source_ip"].to_pylist()}
    assert not told & {"10.1.2.3", "10.1.9.9", "10.200.0.1", "192.0.2.1"}


def test_after_the_holdout_ends_everyone_is_told() -> None:
    text = HOLDOUT + f"until = {DAY - timedelta(days=1)}\n" + DAILY
    assert len(_plan(text).messages) == len(_plan().messages)

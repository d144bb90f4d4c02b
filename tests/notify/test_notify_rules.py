"""Rules files: the shipped example loads, and every mistake is named with its file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botcensus.notify import RulesError, load_rules, parse_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notify-daily.toml"
SENDER = '[sender]\norganisation = "Sinkhole"\nemail = "reports@sinkhole.example.org"\n'


def _rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_example_is_one_daily_shadowserver_rule_for_every_contact() -> None:
    rules = load_rules(EXAMPLE)
    [rule] = rules.rule
    assert (rule.interval, rule.format, rule.to) == ("daily", "shadowserver", ["contact"])
    assert (rule.families, rule.countries, rule.asns, rule.prefixes) == ([], [], [], [])
    assert rules.sender.domain == "sinkhole.example.org"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (SENDER + '[[rule]]\nname = "a"\n\n[[rule]]\nname = "b"\ninterval = "hourly"\n', 9,
         "rule[1].interval: Input should be 'daily', 'weekly' or 'threshold'"),
        (SENDER + '[[rule]]\nname = "a"\ncolour = "red"\n', 6, "rule[0].colour: Extra inputs"),
        ('[sender]\norganisation = "S"\nemail = "not an address"\n[[rule]]\nname = "a"\n', 3,
         "sender.email: 'not an address' is not an e-mail address"),
        ('[[rule]]\nname = "a"\n', 1, "sender: Field required"),
        (SENDER + '[[rule]]\nname = "a"\ninterval = "threshold"\n', 4,
         "interval 'threshold' needs threshold = <hosts>"),
        (SENDER + '[[rule]]\nname = "a"\n[[rule]]\nname = "a"\n', 1, "a used twice"),
        (SENDER + '[[rule]]\nname = "a"\n[[inhibit]]\nprefix = "192.0.2.1/24"\n', 7,
         "inhibit[0].prefix: '192.0.2.1/24' is not a network prefix"),
        (SENDER + '[[rule]]\nname = "a"\nformat = "pdf"\n', 6, "format 'pdf': choose from"),
        (SENDER + '[[rule]]\nname = "a"\nfamilies = [\n  "rustock",\n]\ntlp = "white"\n', 9,
         "rule[0].tlp: Input should be"),
        (SENDER + '[[rule]]\nname = "a"\n[holdout]\nshare = 1.5\nseed = 1\n', 7,
         "holdout.share: Input should be less than 1"),
        (SENDER + '[[rule]]\nname = "a"\n[[recipient]]\nemail = "x@example.net"\n'
         'address = "x y@example.net"\n', 8, "recipient[0].address"),
        (SENDER + '[[rule]]\nname = "a"\n[[inhibit]]\nreason = "customer asked"\n', 6,
         "name a prefix, asn, country or family"),
    ],
)  # fmt: skip
def test_a_mistake_is_named_with_file_line_and_key(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _rules(tmp_path, text)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert f"{path}:{line}: " in str(caught.value)
    assert message in str(caught.value)


def test_every_mistake_is_listed_not_only_the_first(tmp_path: Path) -> None:
    path = _rules(tmp_path, SENDER + '[[rule]]\nname = "A"\ninterval = "often"\nmin_hosts = 0\n')
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    text = str(caught.value)
    assert [line.split(": ")[0] for line in text.splitlines()] == [
        f"{path}:5", f"{path}:6", f"{path}:7",
    ]  # fmt: skip


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = _rules(tmp_path, SENDER + "[[rule]\nname = 'a'\n")
    with pytest.raises(RulesError, match=rf"{path}:4: not valid TOML"):
        load_rules(path)


def test_a_template_missing_in_a_language_is_named(tmp_path: Path) -> None:
    text = (
        SENDER + '[[rule]]\nname = "a"\n\n[[recipient]]\nemail = "x@example.net"\nlanguage = "fr"\n'
    )
    path = _rules(tmp_path, text)
    with pytest.raises(RulesError, match=rf"{path}:9: template 'default' in language 'fr'"):
        load_rules(path)


def test_own_templates_are_found_beside_the_rules_file(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "short.fr.txt").write_text("Subject: [{{ ticket }}]\n\nBonjour\n")
    text = 'templates = "texts"\n' + SENDER + '[[rule]]\nname = "a"\ntemplate = "short"\n'
    rules = load_rules(_rules(tmp_path, text + 'language = "fr"\n'))
    assert rules.templates == tmp_path / "texts"


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(b"\xff\xfe[sender]\n")
    with pytest.raises(RulesError, match=rf"{path}: not UTF-8 text"):
        load_rules(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(tmp_path / "none.toml")


def test_addresses_are_checked_and_countries_upper_cased() -> None:
    rules = parse_rules(
        SENDER + '[[rule]]\nname = "a"\ncountries = ["de"]\nfamilies = ["Rustock"]\n', Path("r")
    )
    assert rules.rule[0].countries == ["DE"]
    assert rules.rule[0].families == ["rustock"]


CAP = 'rows = "check-ins"\nmax_check_ins = '
AT_LEAST_1 = "rule[0].max_check_ins: Input should be greater than or equal to 1"
AT_MOST = "rule[0].max_check_ins: Input should be less than or equal to 10000"
NOT_INT = "rule[0].max_check_ins: Input should be a valid integer"
ROWS = "rule[0].rows: Input should be 'host-days' or 'check-ins'"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (CAP + "-5\n", AT_LEAST_1),
        (CAP + "0\n", AT_LEAST_1),
        (CAP + "99999999999\n", AT_MOST),
        (CAP + '"100"\n', NOT_INT),
        (CAP + "2.5\n", NOT_INT),
        (CAP + "true\n", NOT_INT),
        ('rows = "connections"\n', ROWS),
        ("rows = 1\n", ROWS),
    ],
)  # fmt: skip
def test_a_bad_check_in_setting_is_named_with_its_line(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _rules(tmp_path, SENDER + '[[rule]]\nname = "a"\n' + value)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    line = 7 if "max_check_ins" in message else 6
    assert str(caught.value) == f"{path}:{line}: {message}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('rows = "check-ins"\nformat = "summary"\n', "rows 'check-ins' lists addresses"),
        ('rows = "check-ins"\nip_data = false\n', "rows 'check-ins' lists addresses"),
        ("max_check_ins = 10\n", "max_check_ins applies to rows = 'check-ins' only"),
    ],
)
def test_check_ins_where_they_cannot_go_are_refused(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _rules(tmp_path, SENDER + '[[rule]]\nname = "a"\n' + value)
    with pytest.raises(RulesError, match=rf"{path}:4: rule\[0\]: {re.escape(message)}"):
        load_rules(path)


def test_check_ins_default_to_host_days_and_a_cap_of_100() -> None:
    plain = parse_rules(SENDER + '[[rule]]\nname = "a"\n', Path("r")).rule[0]
    assert (plain.rows, plain.max_check_ins) == ("host-days", 100)
    rule = parse_rules(
        SENDER + '[[rule]]\nname = "a"\nrows = "check-ins"\nmax_check_ins = 10000\n', Path("r")
    ).rule[0]
    assert (rule.rows, rule.max_check_ins) == ("check-ins", 10000)


def test_the_cgn_example_lists_check_ins_for_its_networks() -> None:
    rules = load_rules(EXAMPLE.with_name("notify-cgn.toml"))
    daily, cgn = rules.rule
    assert (daily.rows, cgn.rows, cgn.max_check_ins, cgn.asns) == (
        "host-days", "check-ins", 100, [64500],
    )  # fmt: skip

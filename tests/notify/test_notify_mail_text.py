"""What the bundled mail text says, in English and German, as delivered to a real SMTP server
on loopback: a summary names no address and says so; German agrees in number and describes
the attachment in German; a bad rules file is one error line per problem."""

from __future__ import annotations

import email
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from notify_cases import RUN, rules_file

from botcensus.cli import main
from botcensus.notify.loopback import LoopbackSmtp
from botcensus.notify.mail import CHECK_IN_DESCRIPTIONS, DESCRIPTIONS

ADDRESS_LISTS = (
    "lists every address",  # en: host-day rows
    "lists every check-in",  # en: check-in rows
    "Each address is a computer that was infected at those times",
    "nennt jede Adresse",  # de
    "nennt jede Verbindung",
    "Jede Adresse ist ein Rechner, der zu diesen Zeiten infiziert war",
)
ENGLISH = ("CSV in the columns", "one JSON object per line", "with last_seen and count added",
           "one row per check-in")  # fmt: skip


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _bodies(data: Path, rules: Path, server: LoopbackSmtp) -> dict[str, str]:
    """Send, and each recipient's mail text (subject line first)."""
    result = _cli("notify", "send", "--data", str(data), "--rules", str(rules), "--date",
                  str(RUN), "--smtp", f"127.0.0.1:{server.port}")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = {}
    for received in server.received():
        message = email.message_from_bytes(received.content)
        text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        body = text.get_payload(decode=True)
        assert isinstance(body, bytes)
        decoded = email.header.make_header(email.header.decode_header(message["Subject"]))
        out[received.rcpt_tos[0]] = f"{decoded}\n{body.decode()}"
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_summary_names_no_address_and_says_so(
    data: Path, tmp_path: Path, server: LoopbackSmtp, language: str
) -> None:
    """The trial: a summary said its attachment "lists every address with its first and last
    check-in of each day"."""
    rules = rules_file(tmp_path / "rules.toml", f'format = "summary"\nlanguage = "{language}"\n')
    bodies = _bodies(data, rules, server)
    assert len(bodies) == 6
    says = {"en": "it names no single address", "de": "er nennt keine einzelne Adresse"}
    for body in bodies.values():
        assert not [words for words in ADDRESS_LISTS if words in _one_line(body)], body
        assert says[language] in _one_line(body)
        offer = {
            "en": "reply if you would like one with the addresses",
            "de": "wenn Sie einen Bericht mit den Adressen und Zeiten wünschen",
        }
        assert offer[language] in _one_line(body)


def test_without_ip_data_the_text_offers_no_addresses(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    rules = rules_file(tmp_path / "rules.toml", "ip_data = false\n")
    for body in _bodies(data, rules, server).values():
        assert "This report names no address." in _one_line(body)
        assert "reply if you would like" not in body


@pytest.mark.parametrize("language", ["en", "de"])
def test_an_override_to_summary_on_a_check_in_rule_names_no_address(
    data: Path, tmp_path: Path, server: LoopbackSmtp, language: str
) -> None:
    rules = rules_file(
        tmp_path / "rules.toml",
        f'rows = "check-ins"\nlanguage = "{language}"\n'
        '[[recipient]]\nemail = "abuse@beta.example"\nformat = "summary"\n',
    )
    bodies = _bodies(data, rules, server)
    summary = _one_line(bodies["abuse@beta.example"])
    assert not [words for words in ADDRESS_LISTS if words in summary], summary
    others = _one_line(bodies["abuse@alpha.example"])
    assert ("lists every check-in" if language == "en" else "nennt jede Verbindung") in others


def test_german_agrees_with_one_address_and_with_several(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    """The trial: "haben sich 1 Adresse ... gemeldet"."""
    bodies = _bodies(data, rules_file(tmp_path / "rules.toml", 'language = "de"\n'), server)
    one = _one_line(bodies["abuse@gamma.example"])  # 2001:db8::5 alone
    assert "(UTC) hat sich 1 Adresse aus Ihrem Netz gemeldet:" in one
    assert "haben sich 1 " not in one
    several = _one_line(bodies["abuse@beta.example"])
    assert "(UTC) haben sich 3 Adressen aus Ihrem Netz gemeldet:" in several


@pytest.mark.parametrize("fmt", ["shadowserver", "shadowserver-sinkhole", "xarf", "intelmq"])
@pytest.mark.parametrize("rows", ["host-days", "check-ins"])
def test_german_describes_the_attachment_in_german(
    data: Path, tmp_path: Path, server: LoopbackSmtp, fmt: str, rows: str
) -> None:
    """The trial: the format description inside the German mail was English."""
    rules = rules_file(tmp_path / "rules.toml",
                       f'format = "{fmt}"\nrows = "{rows}"\nlanguage = "de"\n')  # fmt: skip
    english = (CHECK_IN_DESCRIPTIONS if rows == "check-ins" else DESCRIPTIONS)[fmt]
    german = {
        "shadowserver": "(CSV mit den Spalten von Shadowservers Bericht event4_sinkhole_http"
        + (", eine Zeile je Verbindung" if rows == "check-ins" else "")
        + ", ergänzt um last_seen und count).",
        "shadowserver-sinkhole": "(CSV mit den Spalten von Shadowservers Bericht event4_sinkhole"
        + (", eine Zeile je Verbindung" if rows == "check-ins" else "")
        + ", ergänzt um last_seen und count).",
        "xarf": "(XARF-v4-Berichte, ein JSON-Objekt je Zeile"
        + (" und Verbindung" if rows == "check-ins" else "")
        + ").",
        "intelmq": "(IntelMQ-Ereignisse, ein JSON-Objekt je Zeile"
        + (" und Verbindung" if rows == "check-ins" else "")
        + ").",
    }[fmt]
    for body in _bodies(data, rules, server).values():
        text = _one_line(body)
        assert english not in text
        assert not [words for words in ENGLISH if words in text], text
        assert german in text


def test_english_mail_still_describes_its_attachment(
    data: Path, tmp_path: Path, server: LoopbackSmtp
) -> None:
    for body in _bodies(data, rules_file(tmp_path / "rules.toml"), server).values():
        assert f"({DESCRIPTIONS['shadowserver']})." in _one_line(body)


@pytest.mark.parametrize("command", ["plan", "send"])
def test_a_rules_error_is_one_line_with_file_line_and_key(
    data: Path, tmp_path: Path, command: str
) -> None:
    """The trial: a usage block and an empty "Error: Invalid value for --rules: " line came
    before the message."""
    rules = rules_file(tmp_path / "rules.toml", 'rows = "checkins"\n')
    result = _cli("notify", command, "--data", str(data), "--rules", str(rules))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {rules}:12: rule[0].rows: Input should be 'host-days' or 'check-ins'\n"
    )


def test_every_problem_of_a_rules_file_is_one_line(data: Path, tmp_path: Path) -> None:
    rules = rules_file(tmp_path / "rules.toml", 'rows = "checkins"\ntlp = "purple"\n')
    result = _cli("notify", "plan", "--data", str(data), "--rules", str(rules))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"Error: {rules}:12: rule[0].rows: ")
    assert lines[1].startswith(f"{rules}:13: rule[0].tlp: ")

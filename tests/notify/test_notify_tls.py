"""STARTTLS, TLS and login against a real aiosmtpd server with a certificate made here by
openssl: the relay's certificate is checked, the password never sits in the rules file."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from notify_cases import RUN, make_dataset, need_tool, rules_file

from botcensus.notify import Journal, NotifyError, load_rules, relay_address, send
from botcensus.notify.loopback import LoopbackSmtp

USER, PASSWORD = "sinkhole", "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = need_tool("openssl", "openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(), PASSWORD.encode(),
    )  # fmt: skip
    return AuthResult(success=ok, handled=False)  # unhandled: the server answers 535 itself


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[LoopbackSmtp]:
    with LoopbackSmtp(
        tls_context=_context(certificate), require_starttls=True, authenticator=_authenticator
    ) as server:
        yield server


def _rules(tmp_path: Path, certificate: tuple[Path, Path], smtp: str) -> Any:
    return load_rules(rules_file(tmp_path / "rules.toml", smtp=smtp.format(ca=certificate[0])))


def test_starttls_and_login_deliver(tmp_path: Path, certificate, tls_server, monkeypatch) -> None:
    data = make_dataset(tmp_path / "data")
    monkeypatch.setenv("BOTCENSUS_SMTP_PASSWORD", PASSWORD)
    rules = _rules(tmp_path, certificate,
                   f'security = "starttls"\nca_file = "{{ca}}"\nusername = "{USER}"\n')  # fmt: skip
    result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", tls_server.port)))
    assert result.delivery is not None
    assert len(result.delivery.sent) == 6
    assert len(tls_server.received()) == 6


def test_a_wrong_password_stops_the_run_and_sends_nothing(
    tmp_path: Path, certificate, tls_server, monkeypatch
) -> None:
    data = make_dataset(tmp_path / "data")
    monkeypatch.setenv("BOTCENSUS_SMTP_PASSWORD", "wrong")
    rules = _rules(tmp_path, certificate,
                   f'security = "starttls"\nca_file = "{{ca}}"\nusername = "{USER}"\n')  # fmt: skip
    result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", tls_server.port)))
    assert result.delivery is not None
    assert result.delivery.stopped is not None
    assert "refused the login: 535" in result.delivery.stopped
    assert tls_server.received() == []
    with Journal(data, create=False) as journal:
        assert {e.state for e in journal.entries()} == {"rendered"}


def test_a_relay_certificate_nobody_vouches_for_is_refused(
    tmp_path: Path, certificate, tls_server, monkeypatch
) -> None:
    data = make_dataset(tmp_path / "data")
    monkeypatch.setenv("BOTCENSUS_SMTP_PASSWORD", PASSWORD)
    rules = _rules(tmp_path, certificate, f'security = "starttls"\nusername = "{USER}"\n')
    result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", tls_server.port)))
    assert result.delivery is not None
    assert "TLS failed" in (result.delivery.stopped or "")
    assert "CERTIFICATE_VERIFY_FAILED" in (result.delivery.stopped or "")


def test_a_relay_that_wants_tls_refuses_a_plain_sender_and_nothing_fails(
    tmp_path: Path, certificate, tls_server
) -> None:
    data = make_dataset(tmp_path / "data")
    rules = _rules(tmp_path, certificate, "")  # security = "none"
    result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", tls_server.port)))
    assert result.delivery is not None
    assert "the relay refuses every message: 530" in (result.delivery.stopped or "")
    with Journal(data, create=False) as journal:
        entries = journal.entries()
    assert {e.state for e in entries} == {"rendered"}
    assert sum(e.attempts for e in entries) == 1


def test_tls_from_the_start(tmp_path: Path, certificate) -> None:
    data = make_dataset(tmp_path / "data")
    context = _context(certificate)
    with LoopbackSmtp(tls_wrap=context) as server:
        rules = _rules(tmp_path, certificate, 'security = "tls"\nca_file = "{ca}"\n')
        result = send(data, rules, RUN, relay_address(rules, ("127.0.0.1", server.port)))
        assert result.delivery is not None
        assert len(result.delivery.sent) == 6


def test_a_username_without_a_password_in_the_environment_is_refused(
    tmp_path: Path, certificate, monkeypatch
) -> None:
    monkeypatch.delenv("BOTCENSUS_SMTP_PASSWORD", raising=False)
    rules = _rules(tmp_path, certificate, f'username = "{USER}"\n')
    with pytest.raises(NotifyError, match=r"put the password in \$BOTCENSUS_SMTP_PASSWORD"):
        relay_address(rules, ("127.0.0.1", 25))

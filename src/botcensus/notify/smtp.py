"""A connection to the operator's SMTP relay (smtplib): plain, STARTTLS or TLS, optional
login, and one message at a time with the relay's own answer to each step kept."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path


class RelayError(RuntimeError):
    """The relay cannot be used at all (unreachable, no STARTTLS, login refused, certificate
    not trusted): the run stops and every message stays as it was."""


class DisconnectedError(RuntimeError):
    """The connection broke during a message: whether the relay took it is unknown."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The relay's answer to a message: its code and words (or the step that failed)."""

    code: int
    text: str
    stage: str = "DATA"
    """The step it answers: MAIL (our sender), RCPT (the recipient) or DATA (the message)."""

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


@dataclass(frozen=True, slots=True)
class RelayAddress:
    host: str
    port: int
    security: str
    timeout: float
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None


def _words(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


class Relay:
    """One open connection; `send` returns the relay's answer to the message."""

    def __init__(self, address: RelayAddress, helo: str | None = None) -> None:
        self.address = address
        context = (
            ssl.create_default_context(cafile=str(address.ca_file) if address.ca_file else None)
            if address.security != "none"
            else None  # loading the system's CA certificates costs 30 ms a connection
        )
        where = f"relay {address.host}:{address.port}"
        try:
            if address.security == "tls":
                self.smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    address.host, address.port, local_hostname=helo, timeout=address.timeout,
                    context=context,
                )  # fmt: skip
            else:
                self.smtp = smtplib.SMTP(
                    address.host, address.port, local_hostname=helo, timeout=address.timeout
                )
            self.smtp.ehlo()
            if address.security == "starttls":
                if not self.smtp.has_extn("starttls"):
                    raise RelayError(f'{where} does not offer STARTTLS (security = "starttls")')
                self.smtp.starttls(context=context)
                self.smtp.ehlo()
            if address.username:
                self._login(address.username, address.password or "")
        except RelayError:
            self.close()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise RelayError(
                f"{where} refused the login: {exc.smtp_code} {_words(exc.smtp_error)}"
            ) from None
        except ssl.SSLError as exc:
            self.close()
            raise RelayError(f"{where}: TLS failed: {exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise RelayError(f"{where} unreachable: {exc}") from None

    def _login(self, user: str, password: str) -> None:
        """AUTH PLAIN, else LOGIN: one mechanism, one try (smtplib's login() tries every
        mechanism in turn after a refusal, which some servers answer with silence)."""
        offered = (self.smtp.esmtp_features.get("auth") or "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise RelayError(
                f"relay {self.address.host}:{self.address.port} offers no AUTH PLAIN or LOGIN"
                f" (offers: {' '.join(offered) or 'none'})"
            )
        self.smtp.user, self.smtp.password = user, password
        method = self.smtp.auth_plain if mechanism == "PLAIN" else self.smtp.auth_login
        self.smtp.auth(mechanism, method)

    def send(self, sender: str, recipient: str, data: bytes) -> Answer:
        """Send one message. Returns the relay's answer (the first refusal, or the answer to
        the data); raises DisconnectedError if the connection broke on the way."""
        try:
            code, text = self.smtp.mail(sender)
            if not 200 <= code < 300:
                self._reset()
                return Answer(code, f"MAIL FROM: {_words(text)}", "MAIL")
            code, text = self.smtp.rcpt(recipient)
            if not 200 <= code < 300:
                self._reset()
                return Answer(code, f"RCPT TO: {_words(text)}", "RCPT")
            try:
                code, text = self.smtp.data(data)
            except smtplib.SMTPDataError as exc:
                self._reset()
                return Answer(exc.smtp_code, f"DATA: {_words(exc.smtp_error)}")
            if not 200 <= code < 300:
                self._reset()
            return Answer(code, _words(text))
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.close()
            raise DisconnectedError(
                f"connection to the relay broke: {exc or type(exc).__name__}"
            ) from None

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            self.close()
            raise DisconnectedError("connection to the relay broke after a refusal") from None

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException, AttributeError):
            with contextlib.suppress(OSError, AttributeError):
                self.smtp.close()


def parse_relay(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [ADDR]:PORT) -> (host, port); ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)

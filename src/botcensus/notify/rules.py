"""Notification rules as data: a TOML file of who gets what, in which format, how often, and
the operator's overrides, checked whole with errors that name the file and line.

Modelled on the notification directives of intelmq-certbund-contact (recipient, format,
template, aggregate identifier, interval): each `[[rule]]` matches host rows (family, feed,
country, ASN, prefix, contact source and level) and says how they are reported;
`[[recipient]]` overrides what a rule says for one contact address; `[[inhibit]]` keeps a
network or family out of every report. See docs/notify.md.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from botcensus.notify.tomlpos import key_lines, line_of

Interval = Literal["daily", "weekly", "threshold"]
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMATS: Final = ("shadowserver", "shadowserver-sinkhole", "xarf", "intelmq", "summary")
"""The export stage's formats (botcensus.export.RENDERERS), listed here so that reading a
rules file loads no renderer."""
CHECK_IN_FORMATS: Final = ("shadowserver", "shadowserver-sinkhole", "xarf", "intelmq")
"""The formats that can list one row per check-in (export.check_ins.CHECK_IN_FORMATS)."""
MAX_CHECK_INS: Final = 10_000
"""The largest `max_check_ins` a rule may ask for (a bot calling every 10 s: 8,640 a day)."""

ADDRESS: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
"""An address mail can go to here: ASCII, one '@', a domain of dotted labels (no quoting,
comments or IP literals; such contacts are held back with the reason)."""


def mailable(address: str) -> bool:
    """Whether mail can go to `address`: ADDRESS, and within SMTP's limits (RFC 5321: a
    local part of at most 64 octets, a path of at most 254)."""
    return (
        len(address) <= 254 and ADDRESS.fullmatch(address) is not None and address.index("@") <= 64
    )


_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HOST: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*")


class RulesError(ValueError):
    """A rules file that cannot be used: every problem with its file and line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _address(value: str) -> str:
    if not mailable(value):
        raise ValueError(f"{value[:100]!r} is not an e-mail address mail can go to")
    return value


def _prefix(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network prefix: {exc}") from None


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ValueError(f"{value!r} is not a two-letter country code")
    return value.upper()


Address = Annotated[str, Field(min_length=3, max_length=254)]
Asn = Annotated[int, Field(ge=1, le=2**32 - 1)]
Lowered = Annotated[str, Field(min_length=1, max_length=200)]


class Sender(_Strict):
    """Who sends the reports (From, Reply-To, the XARF reporter) and how tickets are numbered."""

    organisation: str = Field(min_length=1, max_length=200)
    """Shown in From and in every report as the reporter."""
    email: Address
    """The From address."""
    domain: str = ""
    """The reporter's domain (XARF `reporter.domain`, Message-ID); default: the From domain."""
    reply_to: Address | None = None
    """Where replies and disputes go (default: the From address)."""
    envelope_from: Address | None = None
    """SMTP MAIL FROM, where bounces go (default: the From address)."""
    ticket_prefix: str = "BC"
    """Start of every ticket number: letters and digits."""
    opt_out: str = ""
    """How a recipient opts out, shown in every mail (default: reply with 'opt out' in the
    subject). A mailto: or https: address here also goes in List-Unsubscribe."""

    @field_validator("email", "reply_to", "envelope_from")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return value if value is None else _address(value)

    @field_validator("ticket_prefix")
    @classmethod
    def _prefix_text(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z0-9]{1,12}", value):
            raise ValueError("use 1-12 upper-case letters or digits")
        return value

    @model_validator(mode="after")
    def _default_domain(self) -> Sender:
        if not self.domain:
            object.__setattr__(self, "domain", self.email.rsplit("@", 1)[1].lower())
        elif not _HOST.fullmatch(self.domain):
            raise ValueError(f"domain {self.domain!r} is not a host name")
        return self


class Smtp(_Strict):
    """The operator's relay. The password never sits in the file: it is read from the
    environment variable `password_env` names."""

    host: str | None = None
    """Relay host name or address (none: set it with --smtp HOST:PORT)."""
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    """`starttls` upgrades the plain connection (refused if the relay cannot); `tls` speaks
    TLS from the start (port 465); `none` is for a relay on this machine only."""
    ca_file: Path | None = None
    """CA bundle that signs the relay's certificate (default: the system's)."""
    username: str | None = None
    """Log in with this user (AUTH) after STARTTLS/TLS."""
    password_env: str = "BOTCENSUS_SMTP_PASSWORD"  # noqa: S105 (a variable's name, no secret)
    """Environment variable holding the password."""
    timeout_seconds: float = Field(60.0, gt=0)
    rate_per_domain: float = Field(60.0, gt=0)
    """Messages per minute to any one recipient domain."""
    batch_size: int = Field(100, ge=1)
    """Messages per SMTP connection; then QUIT and connect again."""
    max_attempts: int = Field(10, ge=1)
    """Attempts before a message refused with 4xx (or not delivered for a connection
    failure) is marked failed."""
    retry_seconds: float = Field(300.0, gt=0)
    """Wait after the first temporary failure; doubled after each further one."""
    retry_max_seconds: float = Field(21600.0, gt=0)
    """Longest wait between two attempts."""


class Signing(_Strict):
    """OpenPGP signatures (RFC 3156 multipart/signed) with GnuPG."""

    key: str = Field(min_length=1)
    """Key id, fingerprint or user id of the signing key."""
    gnupg_home: Path | None = None
    """GnuPG home directory holding the key (default: GnuPG's own)."""
    passphrase_env: str | None = None
    """Environment variable holding the key's passphrase (none: no passphrase)."""


class Holdout(_Strict):
    """A randomised hold-out: a seeded share of networks, stratified by country and size,
    is not told (until `until`, if set), so the effect of telling can be measured."""

    share: float = Field(gt=0, lt=1)
    """Share of networks held out, in every stratum."""
    seed: int
    """Seed of the draw; the same seed and networks give the same groups."""
    unit: Literal["asn", "cc"] = "asn"
    """What a network is: an ASN, or a whole country."""
    size_bins: list[Annotated[int, Field(ge=1)]] = [10, 100, 1000]
    """Upper bounds of the size strata (hosts when first seen): 1-9, 10-99, 100-999, 1000+."""
    until: date | None = None
    """Last day held-out networks are kept out of reports (none: for good)."""

    @field_validator("size_bins")
    @classmethod
    def _ordered(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError("size_bins must increase")
        return value


class Rule(_Strict):
    """Which host rows (every list empty: all) go to whom, how, and how often."""

    name: str
    """Names the rule in the journal and in `notify status`."""
    families: list[Lowered] = []
    feeds: list[str] = []
    countries: list[str] = []
    asns: list[Asn] = []
    prefixes: list[str] = []
    contact_sources: list[str] = []
    contact_levels: list[Literal["prefix", "asn", "country"]] = []
    to: list[Literal["contact", "national-cert"]] = ["contact"]
    """`contact`: the most specific abuse contact (prefix, then ASN, then country);
    `national-cert`: also the national CERT of the host's country, for its whole country."""
    format: str = "shadowserver"
    template: str = "default"
    language: str = "en"
    interval: Interval = "daily"
    """`daily`: the previous UTC day; `weekly`: the 7 days to the day `week_ends`, sent the
    day after; `threshold`: the current day so far, once `threshold` hosts are reached."""
    week_ends: Weekday = "sun"
    threshold: int | None = Field(None, ge=1)
    min_hosts: int = Field(1, ge=1)
    """Fewer hosts than this in a report: held back."""
    tlp: Tlp = "amber"
    ip_data: bool = True
    """Whether addresses may go (false: counts per network only, format `summary`)."""
    compression: Literal["zip", "gzip"] = "zip"
    compress_over_bytes: int = Field(262_144, ge=0)
    """Attachments larger than this go compressed."""
    rows: Literal["host-days", "check-ins"] = "host-days"
    """`host-days`: one row per address, family and UTC day (first and last check-in, their
    number); `check-ins`: one row per check-in of those host-days, with its exact time and
    source port (for networks behind carrier-grade NAT)."""
    max_check_ins: int = Field(100, ge=1, le=MAX_CHECK_INS, strict=True)
    """With `rows = "check-ins"`: at most this many check-ins per host-day (the first)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use 1-64 lower-case letters, digits, '-' or '_'")
        return value

    @field_validator("families")
    @classmethod
    def _families(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return [_country(c) for c in value]

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        return [_prefix(p) for p in value]

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"format {value!r}: choose from {', '.join(FORMATS)}")
        return value

    @model_validator(mode="after")
    def _threshold(self) -> Rule:
        if self.interval == "threshold" and self.threshold is None:
            raise ValueError("interval 'threshold' needs threshold = <hosts>")
        if not self.to:
            raise ValueError("to: name at least one of 'contact', 'national-cert'")
        if self.rows == "check-ins" and (not self.ip_data or self.format not in CHECK_IN_FORMATS):
            raise ValueError(
                "rows 'check-ins' lists addresses: it needs ip_data = true and a format of "
                + ", ".join(CHECK_IN_FORMATS)
            )
        if self.rows == "host-days" and "max_check_ins" in self.model_fields_set:
            raise ValueError("max_check_ins applies to rows = 'check-ins' only")
        return self


class Recipient(_Strict):
    """The operator's overrides for one contact address (as the contacts stage gives it)."""

    email: Address
    """The contact address this applies to (any case)."""
    address: Address | None = None
    """Deliver here instead."""
    name: str | None = None
    """How to address the recipient in the mail."""
    format: str | None = None
    interval: Interval | None = None
    threshold: int | None = Field(None, ge=1)
    language: str | None = None
    template: str | None = None
    opt_out: bool = False
    """Never send to this contact (its hosts are listed as held back)."""

    @field_validator("email", "address")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        return value if value is None else _address(value)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str | None) -> str | None:
        if value is not None and value not in FORMATS:
            raise ValueError(f"format {value!r}: choose from {', '.join(FORMATS)}")
        return value


class Inhibit(_Strict):
    """Never report about this network or family (to anyone, or to one contact)."""

    prefix: str | None = None
    asn: Asn | None = None
    country: str | None = None
    family: Lowered | None = None
    email: Address | None = None
    """Only in reports to this contact address."""
    reason: str = ""

    @field_validator("prefix")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        return value if value is None else _prefix(value)

    @field_validator("country")
    @classmethod
    def _cc(cls, value: str | None) -> str | None:
        return value if value is None else _country(value)

    @field_validator("family")
    @classmethod
    def _family(cls, value: str | None) -> str | None:
        return value if value is None else value.lower()

    @model_validator(mode="after")
    def _something(self) -> Inhibit:
        if all(v is None for v in (self.prefix, self.asn, self.country, self.family)):
            raise ValueError("name a prefix, asn, country or family to inhibit")
        return self


class Rules(_Strict):
    """A whole rules file."""

    sender: Sender
    smtp: Smtp = Smtp()
    signing: Signing | None = None
    holdout: Holdout | None = None
    templates: Path | None = None
    """A directory of your own templates, searched before the bundled ones (relative paths
    are relative to the rules file)."""
    rule: list[Rule] = Field(min_length=1)
    recipient: list[Recipient] = []
    inhibit: list[Inhibit] = []

    @model_validator(mode="after")
    def _unique(self) -> Rules:
        names = [r.name for r in self.rule]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"rule names must differ: {', '.join(twice)} used twice")
        emails = [r.email.lower() for r in self.recipient]
        twice = sorted({e for e in emails if emails.count(e) > 1})
        if twice:
            raise ValueError(f"one [[recipient]] per address: {', '.join(twice)} listed twice")
        return self

    def override(self, email: str) -> Recipient | None:
        """The [[recipient]] entry for a contact address, if any."""
        wanted = email.lower()
        return next((r for r in self.recipient if r.email.lower() == wanted), None)


def _located(path: Path, text: str, exc: ValidationError) -> RulesError:
    lines = key_lines(text)
    problems = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        line = line_of(lines, loc) or 1
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append((line, f"{path}:{line}: {where or 'file'}: {message}"))
    return RulesError("\n".join(text for _, text in sorted(problems)))


def parse_rules(text: str, path: Path) -> Rules:
    """Rules from TOML text; RulesError lists every problem as FILE:LINE: key: what is wrong."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise RulesError(f"{path}:{line[1] if line else 1}: not valid TOML: {exc}") from None
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        raise _located(path, text, exc) from None
    if rules.templates is not None and not rules.templates.is_absolute():
        rules = rules.model_copy(update={"templates": path.parent / rules.templates})
    return rules


def load_rules(path: Path) -> Rules:
    """Read and check a rules file (see parse_rules), then check that every template named
    exists in every language asked for."""
    from botcensus.notify.templates import missing_templates

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot read rules file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rules = parse_rules(text, path)
    lines = key_lines(text)
    problems = []
    for where, template, language in _template_uses(rules):
        for missing in missing_templates(rules.templates, template, language):
            line = line_of(lines, where) or 1
            problems.append(f"{path}:{line}: {missing}")
    if problems:
        raise RulesError("\n".join(problems))
    return rules


def _template_uses(rules: Rules) -> list[tuple[tuple[str | int, ...], str, str]]:
    uses: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, rule in enumerate(rules.rule):
        uses.append((("rule", i, "template"), rule.template, rule.language))
        for j, r in enumerate(rules.recipient):
            if r.language is not None or r.template is not None:
                where = ("recipient", j, "language" if r.language else "template")
                uses.append((where, r.template or rule.template, r.language or rule.language))
    return sorted(set(uses), key=lambda u: (str(u[0]), u[1], u[2]))

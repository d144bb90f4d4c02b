"""Typed settings: a TOML file plus BOTCENSUS_* environment variables, built at start-up."""

from __future__ import annotations

import ipaddress
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReplySettings(_Strict):
    """The one fixed reply a listener gives every well-formed request. It never depends on the
    request: bots get no command, payload, update or uninstaller from us, ever."""

    status: Literal[200, 404] = 404
    """HTTP status of the reply: 404 (default) or 200."""
    body_file: Path | None = None
    """A file whose bytes are the reply body, read once at start-up. Default: empty body."""
    content_type: str = "text/plain"
    """Content-Type sent with a non-empty body."""


class ListenerSettings(_Strict):
    """One address the sinkhole answers on (a seized C&C address and port)."""

    name: str
    """Name recorded with each event (`extra.listener`)."""
    address: str
    """HOST:PORT to listen on; IPv6 as [ADDR]:PORT. Port 0 picks a free port."""
    proxy_protocol: bool = False
    """Expect a PROXY protocol v1/v2 header (from a load balancer) on every connection."""
    reply: ReplySettings = ReplySettings()
    """The fixed reply of this listener."""

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        split_address(value)
        return value


def split_address(address: str) -> tuple[str, int]:
    """Split HOST:PORT or [V6]:PORT into host and port, with a clear error."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ValueError(f"listen address {address!r} is not HOST:PORT (IPv6 as [ADDR]:PORT)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"listen address {address!r}: port {port} is above 65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"listen address {address!r}: {host!r} is not an IP address") from None
    return host, port


class LimitSettings(_Strict):
    """Per-request and per-worker limits that keep a hostile client from exhausting us."""

    max_header_bytes: int = Field(16 * 1024, gt=0)
    """Request line plus headers larger than this get a 431 and the connection is closed."""
    max_body_bytes: int = Field(64 * 1024, gt=0)
    """A body beyond this is recorded as truncated with its declared length, answered 413,
    and the connection closed."""
    header_timeout: float = Field(10.0, gt=0)
    """Seconds to receive a complete request head (slow-loris guard)."""
    body_timeout: float = Field(30.0, gt=0)
    """Seconds to receive a complete body once the head is in."""
    keepalive_timeout: float = Field(15.0, gt=0)
    """Seconds an idle keep-alive connection is kept open."""
    max_connections: int = Field(20_000, gt=0)
    """Concurrent connections per worker; further ones are closed at once and counted."""
    shutdown_grace: float = Field(5.0, ge=0)
    """On SIGTERM/SIGINT, seconds that requests in flight get to complete before the
    connections are closed (an unfinished request is then recorded as incomplete)."""


class RecorderSettings(_Strict):
    """How events reach the disk: write-ahead log, fsync cadence, segment rotation."""

    fsync_interval: float = Field(1.0, gt=0)
    """Seconds between fsyncs of the write-ahead log: the most a power loss can cost."""
    body_head_bytes: int = Field(1024, ge=0)
    """How many leading bytes of each request body are kept in the event."""
    segment_seconds: float = Field(60.0, gt=0)
    """A WAL segment is closed and rolled into Parquet after this many seconds..."""
    segment_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """... or this many bytes, whichever comes first."""


class GenericRule(_Strict):
    """Configuration of the generic decoder: which requests belong to a family, and where
    its bot id is. A rule matches on Host (a glob), on the path (a regular expression), or
    both; the first matching rule wins."""

    family: str
    """malware.name for matching requests (lower case)."""
    host: str | None = None
    """Glob over the Host header, e.g. `*.example-cnc.net`."""
    path: str | None = None
    """Regular expression searched in the path, e.g. `^/gate\\.php$`."""
    bot_id_query: str | None = None
    """Bot id from this query-string parameter."""
    bot_id_header: str | None = None
    """Bot id from this request header."""
    bot_id_cookie: str | None = None
    """Bot id from this cookie."""
    bot_id_body_regex: str | None = None
    """Bot id from the first group of this regular expression over the body (bytes, latin-1)."""

    @model_validator(mode="after")
    def _matches_something(self) -> GenericRule:
        if self.host is None and self.path is None:
            raise ValueError(f"decoder rule for {self.family!r} needs `host` or `path`")
        return self


SENSOR_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$"
"""model.SENSOR_PATTERN, anchored (config stands beside model, it does not import it)."""


def _default_sensor() -> str:
    return socket.gethostname()


def _loopback() -> list[str]:
    return ["127.0.0.0/8", "::1/128"]


class SinkholeSettings(_Strict):
    """The sinkhole: listeners, replies, limits, recording."""

    sensor: str = Field(default_factory=_default_sensor, pattern=SENSOR_PATTERN, max_length=64)
    """Name of this sinkhole sensor, recorded with each event and beginning each of its event
    file names (default: host name). Letters, digits, `-`, `_` and single inner dots, at most
    64 characters; every sinkhole writing into one dataset needs its own."""
    listeners: list[ListenerSettings] = []
    """Listeners from the config file; `--listen` adds more."""
    trusted_proxies: list[str] = Field(default_factory=_loopback)
    """Networks whose PROXY protocol headers are believed. Default: loopback only."""
    replay: bool = False
    """Honour the simulated receive time that a trusted replayer sends (docs/operations.md).
    Off by default; never enable on a sinkhole that faces the Internet."""
    limits: LimitSettings = LimitSettings()
    recorder: RecorderSettings = RecorderSettings()
    decoders: list[GenericRule] = []
    """Rules for the generic decoder, tried after the built-in family decoders."""

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net)  # strict: host bits set is a typo worth an error
        return value


class EnrichSettings(_Strict):
    """Where IP -> country / ASN answers come from. Default: the bundled offline database."""

    country_mmdb: Path | None = None
    """A MaxMind DB with countries (GeoLite2-Country/City, DB-IP, IPinfo lite)."""
    asn_mmdb: Path | None = None
    """A MaxMind DB with AS numbers and names (GeoLite2-ASN, DB-IP ASN, IPinfo lite)."""


class StoreSettings(_Strict):
    """How long personal data (raw IP addresses) is kept. Aggregates are kept."""

    event_retention_days: int = Field(30, ge=1)
    """Raw events (every sinkhole request, every feed row, with its source address) may be
    deleted this many days after they were rolled up (feed rows: ingested), by
    `botcensus retention apply`."""
    sighting_retention_days: int = Field(400, ge=1)
    """Daily sightings (one row per address and day) may be deleted this many days after
    they were written, by `botcensus retention apply`."""
    retention_on_rollup: bool = False
    """Run `botcensus retention apply` after every `botcensus rollup`. Off by default:
    deletion happens only when asked (ages always count from when data was written here)."""


class ShadowserverSettings(_Strict):
    """Shadowserver's Reports API, for `botcensus feeds fetch` / `feeds collect --fetch`."""

    api_url: str = "https://transform.shadowserver.org/api2/"
    """The Reports API's base URL (Shadowserver's documented one)."""
    api_key: str | None = None
    """Your API key (BOTCENSUS_SHADOWSERVER__API_KEY keeps it out of the file)."""
    secret: SecretStr | None = None
    """Your API secret, signing each request (HMAC2); BOTCENSUS_SHADOWSERVER__SECRET."""
    reports: list[str] = []
    """Only these mailing lists (e.g. your country's); empty: all you receive."""
    types: list[str] = []
    """Only these report types; empty: all (ingest skips the types it does not read)."""
    days: int = Field(2, ge=0, le=30)
    """Days back to list reports for on each fetch (plus tomorrow, against clock skew)."""


class WebSettings(_Strict):
    """The dashboard and JSON API (`botcensus serve`): privacy thresholds and the retention
    of what the web stage itself keeps (tokens, audit log, pseudonym keys)."""

    suppress_below: int = Field(10, ge=1)
    """k: a public cell (a window and group) counting fewer addresses, or fewer estimated
    hosts, than this is suppressed, and so are as many of its window's smallest cells as it
    takes for the suppressed cells to add up to k."""
    week_ends: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "sat"
    """Last day of the week windows that `botcensus rollup` keeps and the dashboard shows."""
    page_rows: int = Field(500, ge=1, le=100_000)
    """Rows per page of a JSON answer unless the request asks for fewer (`limit`)."""
    answer_cache_rows: int = Field(50_000, ge=0, le=10_000_000)
    """Rows of finished answers (census, host estimates, clean-up) each server keeps in
    memory, about 0.7 KB each (0: none); all dropped whenever the roll-up or the sightings
    change. The same public question is then answered without counting again."""
    token_days: int = Field(365, ge=1)
    """Default lifetime of a new access token (`botcensus web token add --days` overrides)."""
    pseudonym_rotation_days: int = Field(30, ge=1)
    """Days one pseudonym key is used; then a new key is made, so pseudonyms in exports from
    different periods cannot be linked."""
    pseudonym_key_retention_days: int = Field(30, ge=0)
    """Days a replaced pseudonym key is kept before `botcensus web retention apply` destroys
    it (after that, its pseudonyms cannot be recomputed from an address by anyone)."""
    audit_retention_days: int = Field(400, ge=1)
    """Audit-log entries (who fetched which IP-level data, when) older than this are deleted
    by `botcensus web retention apply`."""


class Settings(BaseSettings):
    """All botcensus settings. Precedence: BOTCENSUS_* environment (nested with `__`, e.g.
    BOTCENSUS_SINKHOLE__RECORDER__FSYNC_INTERVAL=0.5), then the TOML file, then defaults."""

    model_config = SettingsConfigDict(
        env_prefix="BOTCENSUS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    sinkhole: SinkholeSettings = SinkholeSettings()
    enrich: EnrichSettings = EnrichSettings()
    store: StoreSettings = StoreSettings()
    shadowserver: ShadowserverSettings = ShadowserverSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load); the environment overrides it.
        return (env_settings, init_settings)


FileValues = Annotated[dict[str, Any], "parsed TOML"]


def load(path: Path | None = None) -> Settings:
    """Build the settings once at start-up from an optional TOML file and the environment."""
    values: FileValues = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Settings(**values)
    except ValueError as exc:
        where = str(path) if path is not None else "environment"
        raise ConfigError(f"{where}: invalid settings:\n{exc}") from exc


class ConfigError(Exception):
    """Settings that cannot be used; the message names the file and the field."""

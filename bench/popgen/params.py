"""Typed parameters of a population: every assumption is a field, presets fill them."""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LINE_TYPES = ("dsl", "cable", "fibre", "mobile", "enterprise")
POLICIES = ("static", "sticky", "periodic", "session", "cgn")
USAGES = ("always_on", "home", "laptop", "sporadic", "office")
TIMER_KINDS = ("timer", "poisson", "boot")
AGGREGATIONS = ("checkin", "hour", "day")


@dataclass(frozen=True)
class AsnSpec:
    """One real ISP (ASN) of a country and the lines its infected households sit on."""

    asn: int
    share: float
    """Share of the country's households on this ASN (normalised within the country)."""
    lines: Mapping[str, float]
    """Line type -> share of this ASN's households."""
    policy: str | None = None
    """One addressing policy for every network of this ASN (family A); None: drawn per
    network from the line type's `policies` (family B)."""
    ipv6: float = 0.0
    """Share of the ASN's home and mobile lines that have IPv6 (with privacy addresses)."""


@dataclass(frozen=True)
class CountrySpec:
    """A country: its weight among households, clock offset and ISPs."""

    cc: str
    weight: float
    utc_offset: float
    """Hours east of UTC (no daylight saving)."""
    asns: tuple[AsnSpec, ...]
    cleanup_factor: float = 1.0
    """Multiplies the clean-up hazard of every machine in the country."""


@dataclass(frozen=True)
class LineSpec:
    """How one line type behaves: addressing policies, household sizes, usage, clean-up."""

    policies: Mapping[str, float]
    """Addressing policy -> probability that a network of this type uses it."""
    household: tuple[float, ...]
    """P(1 machine), P(2 machines), ... on one line (behind one address)."""
    usage: Mapping[str, float]
    """Usage profile -> share of machines on this line type."""
    cleanup_factor: float = 1.0


@dataclass(frozen=True)
class NetworkSpec:
    """Ranges from which each network (ASN x line type) draws its own addressing parameters."""

    periodic_hours: Mapping[str, float] = field(default_factory=lambda: {"24": 1.0})
    """Renumbering period (hours) -> probability, for periodic networks."""
    periodic_night_share: float = 0.0
    """Share of periodic networks renumbering every line in a 01:00-05:00 local window; the
    others renumber each line `period` after it last connected (reset by reboots)."""
    reboot_days: tuple[float, float] = (0.0, 0.0)
    """Mean days between CPE reboots (each gives a new address on periodic, sticky and CGN
    lines), drawn per network; (0, 0) for none."""
    sticky_days: tuple[float, float] = (14.0, 90.0)
    """Mean days between address changes on sticky (long-lease DHCP) lines."""
    static_renumber_days: tuple[float, float] = (0.0, 0.0)
    """Mean days between rare renumberings of static lines; (0, 0) for never."""
    session_gap_minutes: tuple[float, float] = (15.0, 15.0)
    """Offline time after which a per-session line gets a new address at reconnect."""
    pool_log2: tuple[float, float] = (14.0, 18.0)
    """log2 of the dynamic pool size (addresses) of a renumbering network."""
    cgn_pool: tuple[int, int] = (512, 4096)
    """Public addresses of a CGN network's pool."""
    cgn_remap_per_hour: tuple[float, float] = (0.0, 0.0)
    """Rate of mid-session changes of a CGN line's public address (paired pooling)."""
    cgn_arbitrary_share: float = 0.0
    """Share of CGN networks that pick a public address per connection (no pairing)."""
    egress: tuple[int, int] = (1, 1)
    """Egress addresses of an enterprise site (one picked per connection)."""


@dataclass(frozen=True)
class TimerSpec:
    """How bots decide when to check in."""

    kinds: Mapping[str, float] = field(default_factory=lambda: {"timer": 1.0})
    minutes: tuple[float, float] = (15.0, 15.0)
    """Timer period per bot, log-uniform in this range."""
    jitter: tuple[float, float] = (0.1, 0.1)
    """Per-bot spread of each interval (uniform jitter in family A, normal sd in family B)."""
    jitter_normal: bool = False
    drift_per_day: float = 0.0
    """Day-to-day log random walk of a bot's period (sd)."""
    poisson_per_hour: tuple[float, float] = (1.0, 4.0)
    """Check-in rate of bots without a timer, log-uniform per bot."""
    retry_share: float = 0.0
    """Share of bots that retry after the sinkhole's reply (a burst of extra rows)."""
    retry_mean: float = 1.5
    loss: float = 0.0
    """Probability that a check-in never reaches the sinkhole."""
    v6_share: float = 0.8
    """Share of check-ins sent over IPv6 by a machine on a line with IPv6."""


@dataclass(frozen=True)
class UsageSpec:
    """When machines are powered on."""

    sessions_per_day: tuple[float, float] = (1.0, 1.0)
    """(first, extra): home machines have `first` session and Poisson(extra) more a day."""
    max_sessions: int = 1
    session_hours: float = 4.0
    """Median length of a home session (lognormal, sd 0.8 in log)."""
    day_use: float = 0.85
    """Mean probability that a home machine is used on a given day (Beta per machine)."""
    reboots_per_week: float = 1.0
    """Reboots of always-on machines (a short gap, a new session)."""


@dataclass(frozen=True)
class CleanupSpec:
    """Infection, clean-up, reinfection."""

    rate_per_day: float = 0.0092
    frailty_shape: float = 2.0
    """Gamma shape of each machine's hazard multiplier (mean 1); small = heterogeneous."""
    household_shape: float = 0.0
    """Gamma shape of a shared household multiplier; 0 for none."""
    new_infection_share: float = 0.0
    """Share of machines first infected during the window (the others before it)."""
    reinfection_prob: float = 0.0
    reinfection_days: float = 10.0
    max_episodes: int = 1


@dataclass(frozen=True)
class NotifySpec:
    """A notification campaign: a share of ASNs told on a day; hazard multiplied afterwards."""

    enabled: bool = False
    day: int = 14
    asn_share: float = 0.5
    multiplier: float = 1.6


@dataclass(frozen=True)
class ReportSpec:
    """How the sinkhole operator reports what it saw."""

    aggregate: str = "checkin"
    """checkin: a row per connection; hour / day: first connection per address and hour / day."""
    report_type: str = "event4_sinkhole"
    malware: str = "rustock"
    dst_ip: str = "198.51.100.23"
    dst_port: int = 443
    ids_share: float = 0.0
    """Share of machines with a stable bot id in the IntelMQ-events variant (0: no variant)."""


@dataclass(frozen=True)
class Params:
    """Everything that defines a population, apart from the seed."""

    name: str
    family: str
    start: str
    """First UTC day of the window (YYYY-MM-DD)."""
    days: int
    n_machines: int
    countries: tuple[CountrySpec, ...]
    lines: Mapping[str, LineSpec]
    networks: NetworkSpec = NetworkSpec()
    timers: TimerSpec = TimerSpec()
    usage: UsageSpec = UsageSpec()
    cleanup: CleanupSpec = CleanupSpec()
    notify: NotifySpec = NotifySpec()
    outages: tuple[tuple[float, float], ...] = ()
    """(start, length) in hours from the window's start: the sensor records nothing."""
    report: ReportSpec = ReportSpec()
    week_ends: tuple[str, ...] = ("sun", "sat")


def to_dict(params: Params) -> dict[str, Any]:
    """A plain dict (JSON-ready) of the parameters."""
    return typing.cast(dict[str, Any], json.loads(json.dumps(dataclasses.asdict(params))))


def from_dict(data: Mapping[str, Any]) -> Params:
    """Parameters from a dict in the shape `to_dict` writes; unknown keys are an error."""
    return typing.cast(Params, _build(Params, data, "params"))


def load(path: Path) -> Params:
    """Parameters from a TOML or JSON file."""
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return from_dict(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def override(params: Params, assignments: list[str]) -> Params:
    """Apply `dotted.key=value` assignments (value parsed as JSON, else taken as text)."""
    data = to_dict(params)
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"--set {item!r}: {part!r} is not a section")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"--set {item!r}: unknown key {leaf!r}")
        node[leaf] = value
    return from_dict(data)


def _build(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where}: expected a table")
        hints = typing.get_type_hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        required = {
            f.name
            for f in dataclasses.fields(tp)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        if required - set(value):
            raise ValueError(f"{where}: missing keys {sorted(required - set(value))}")
        kwargs = {k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        return tp(**kwargs)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner[0], value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{where}: expected {len(args)} values")
        return tuple(
            _build(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin in (Mapping, dict):
        _, vt = typing.get_args(tp)
        return {str(k): _build(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value

"""Scenario files: TOML, layered on a base scenario, validated into typed settings."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckIn(_Strict):
    """How a bot talks to its (seized) command server while online."""

    interval_seconds: float = Field(300.0, gt=0)
    """Seconds between the starts of successive check-ins of one online session."""
    jitter_seconds: float = Field(90.0, ge=0)
    """Each check-in is delayed by a uniform [0, jitter) seconds; must be below the interval."""
    user_agent: str = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
    """User-Agent header of a check-in."""
    path: str = "/login.php"
    """Request path of a check-in."""

    @model_validator(mode="after")
    def _jitter_below_interval(self) -> CheckIn:
        if self.jitter_seconds >= self.interval_seconds:
            raise ValueError("jitter_seconds must be below interval_seconds")
        return self


class ChurnClass(_Strict):
    """How an access network assigns addresses to the lines (subscribers) in it."""

    mode: Literal["periodic", "session", "pool"]
    """periodic: renumbered every period; session: a new address each day the line is online;
    pool: each day online, an address from a small shared pool (carrier-grade NAT, mobile)."""
    period_hours: tuple[float, float] = (24.0, 24.0)
    """periodic only: each line's period is drawn log-uniform in [low, high] hours (>= 24)."""
    hosts_per_address: float = Field(20.0, ge=1)
    """pool only: infected hosts per pool address (the pool size is hosts / this)."""

    @model_validator(mode="after")
    def _periods(self) -> ChurnClass:
        low, high = self.period_hours
        if not 24.0 <= low <= high:
            raise ValueError("period_hours must be [low, high] with 24 <= low <= high")
        return self


class Country(_Strict):
    """The infected population of one country and how it behaves (after [defaults] merged in)."""

    hosts: int = Field(ge=0)
    """Hosts infected at the start (scale 1.0)."""
    new_infections_per_day: float = Field(0.0, ge=0)
    """New (first) infections per day after the start, at scale 1.0."""
    utc_offset_hours: float = Field(ge=-12, le=14)
    """Offset of the population's local time from UTC (one zone per country)."""
    online_probability: float = Field(gt=0, le=1)
    """Mean probability that a host is online on a given local day (Beta across hosts)."""
    online_concentration: float = Field(4.0, gt=0)
    """Beta concentration of the per-host online probability (smaller: more spread)."""
    always_on_fraction: float = Field(0.0, ge=0, le=1)
    """Hosts that are online all day, every day."""
    start_hour_mean: float = Field(18.0, ge=0, lt=24)
    """Mean local hour at which a host's daily session starts."""
    start_hour_sd: float = Field(3.0, ge=0)
    """Spread (normal sd, hours) of the preferred start hour across hosts."""
    start_hour_daily: float = Field(1.5, ge=0)
    """Day-to-day variation of a host's start around its preferred hour (uniform +- hours)."""
    session_hours: float = Field(gt=0, le=24)
    """Mean length of a daily session in hours (per host lognormal, per day uniform 0.25-1.75x);
    sessions end at local midnight at the latest."""
    session_hours_sd: float = Field(0.5, ge=0)
    """Lognormal sigma of the per-host mean session length."""
    nat_household_fraction: float = Field(0.0, ge=0, lt=1)
    """Share of lines (households) with several infected hosts behind one address."""
    household_extra_mean: float = Field(0.3, ge=0)
    """A shared household has 2 + Poisson(this) infected hosts."""
    churn: dict[str, float]
    """Share of hosts by churn class name (normalised); assigned to ASNs as whole ASNs."""
    asns: list[int] = []
    """ASNs to use first, most infected first, when the address-space table has them."""
    asns_per_country: int = Field(30, ge=1)
    """How many ASNs the hosts spread over (the listed ones, then the largest by space)."""
    asn_zipf_exponent: float = Field(1.0, ge=0)
    """Weight of the r-th ASN is r**-exponent."""
    fast_fraction: float = Field(ge=0, le=1)
    """Share of hosts cleaned at the fast (Rustock-like) rate; the rest linger."""
    fast_half_life_days: float = Field(gt=0)
    """Half-life of infection of fast-cleaned hosts."""
    slow_half_life_days: float = Field(gt=0)
    """Half-life of infection of lingering (Conficker-like) hosts."""
    reinfection_probability: float = Field(0.0, ge=0, le=1)
    """Chance that a cleaned host is infected again (once at most)."""
    reinfection_delay_days: float = Field(14.0, gt=0)
    """Mean (exponential) days from clean-up to reinfection."""


class Pulse(_Strict):
    """A clean-up pulse: e.g. a removal-tool update that cleans many fast hosts in one day."""

    day: dt.date
    """UTC day of the pulse."""
    fraction: float = Field(ge=0, le=1)
    """Share of fast (non-lingering) hosts infected at that day that it cleans."""


class Notify(_Strict):
    """A notification campaign with a hold-out: from `day` on, hosts in a random `share` of the
    infected ASNs are cleaned `hazard_multiplier` times as fast (the true hazard ratio)."""

    day: dt.date
    """UTC day the notified networks are told (the multiplier applies from its start)."""
    share: float = Field(0.5, gt=0, lt=1)
    """Share of the ASNs with bots that are notified; the others are the hold-out."""
    hazard_multiplier: float = Field(gt=0)
    """Clean-up hazard of notified hosts from `day` on, relative to the hold-out's."""
    asns: list[int] | None = None
    """The ASNs told, when a real campaign chose them (the notification journal's notified
    group); default: a random `share` of the ASNs with bots."""


class Noise(_Strict):
    """A population of non-bot sources hitting the sinkhole (family ''): scanners, researchers."""

    name: str
    """Label (ground truth only)."""
    sources: int = Field(ge=0)
    """Number of distinct sources at scale 1.0 (at least 1 when > 0)."""
    countries: list[str]
    """Countries the sources sit in (uniformly), each present in the address-space table."""
    churn: str = "static"
    """Churn class name of the sources' lines."""
    online_probability: float = Field(gt=0, le=1)
    """Chance a source is active on a given day."""
    always_on_fraction: float = Field(0.0, ge=0, le=1)
    """Sources that hit all day, every day."""
    session_hours: float = Field(gt=0, le=24)
    """Mean length of an active stretch, hours."""
    interval_seconds: float = Field(gt=0)
    """Seconds between hits while active."""
    jitter_seconds: float = Field(0.0, ge=0)
    """Uniform [0, jitter) delay of each hit; below interval_seconds."""
    user_agent: str
    """User-Agent header of its requests."""
    path: str
    """Path of its requests (never ending in login.php: those would read as Rustock)."""

    @model_validator(mode="after")
    def _jitter(self) -> Noise:
        if self.jitter_seconds >= self.interval_seconds:
            raise ValueError("jitter_seconds must be below interval_seconds")
        return self


class BotIds(_Strict):
    """Bot ids in check-ins: most protocols carry one (Rustock's does not)."""

    fraction: float = Field(0.0, ge=0, le=1)
    """Share of bots whose sightings carry a stable id (0: bot_id is null for every bot)."""
    collision_fraction: float = Field(0.0, ge=0, le=1)
    """Share of id-carrying bots that carry another bot's id (collisions and clones; Torpig
    saw about 1%)."""


class Target(_Strict):
    """One calibration target, measured from the sightings of family `family`."""

    metric: Literal["unique_ips", "change", "hits_per_ip", "top_countries", "hosts_at_start"]
    """unique_ips and hits_per_ip: in week `week`; change: from `week` to `to_week` (points);
    top_countries: the set of the `value` most-counted countries; hosts_at_start: true hosts."""
    week: dt.date | None = None
    """A Saturday: the week ending that day (Sunday to Saturday, UTC)."""
    to_week: dt.date | None = None
    """change only: the later week."""
    cc: str | None = None
    """Country, or all countries when absent."""
    value: float | list[str]
    """Target: a count at scale 1.0, a change as a fraction (-0.44), hits per IP-week, or a
    list of country codes (top_countries)."""
    tolerance: float = 0.0
    """Relative (counts, hits per IP) or absolute in fraction points (change)."""
    source: str = ""
    """Where the number comes from."""


class Scenario(_Strict):
    """A takedown scenario: population, behaviour, address assignment, noise and targets."""

    name: str
    description: str = ""
    family: str = "rustock"
    """malware_family of bot check-ins."""
    start: dt.date
    """First simulated UTC day (the takedown; hosts in `countries.*.hosts` are infected then)."""
    end: dt.date
    """Last simulated UTC day (inclusive)."""
    checkin: CheckIn = CheckIn()
    bot_ids: BotIds = BotIds()
    churn_classes: dict[str, ChurnClass]
    countries: dict[str, Country]
    pulses: list[Pulse] = []
    notify: Notify | None = None
    noise: list[Noise] = []
    targets: list[Target] = []

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if self.end < self.start:
            raise ValueError("end is before start")
        for cc, country in self.countries.items():
            unknown = set(country.churn) - set(self.churn_classes)
            if unknown or not country.churn or sum(country.churn.values()) <= 0:
                raise ValueError(f"country {cc}: churn needs weights of known classes {unknown}")
        for noise in self.noise:
            if noise.churn not in self.churn_classes:
                raise ValueError(f"noise {noise.name}: unknown churn class {noise.churn}")
        return self


BUNDLED = ("rustock-2011", "rustock-2011-1m")
"""Names of the scenarios shipped in botcensus/simulate/scenarios/."""


_REPLACED = frozenset({"churn"})
"""Tables that an overlay replaces whole: a churn mix is one set of weights, never a patch."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in _REPLACED:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(name_or_path: str | Path, relative_to: Path | None = None) -> dict[str, Any]:
    text = str(name_or_path)
    if text in BUNDLED:
        data = resources.files(__package__).joinpath("scenarios", f"{text}.toml").read_text()
        raw, here = tomllib.loads(data), None
    else:
        path = Path(text) if relative_to is None else relative_to / text
        raw, here = tomllib.loads(path.read_text(encoding="utf-8")), path.parent
    base = raw.pop("base", None)
    # A file's base is a bundled name or a path relative to that file.
    return _merge(_read(base, here), raw) if base else raw


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name, or a TOML file; `base = "name"` layers it on another.

    [defaults] is merged into every [countries.XX] table before validation.
    Raises pydantic.ValidationError or OSError.
    """
    raw = _read(name_or_path)
    defaults = raw.pop("defaults", {})
    raw["countries"] = {
        cc: _merge(defaults, dict(values)) for cc, values in raw.get("countries", {}).items()
    }
    return Scenario.model_validate(raw)

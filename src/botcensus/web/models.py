"""The JSON API's documents, as pydantic models: what /openapi.json publishes and every
answer is checked against. Row fields keep the census's own names (window_start,
unique_ip, hosts_est, ...) and IntelMQ's names where addresses leave the system."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Count = int | None
Estimate = float | None


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class CensusRow(_Model):
    """One window (and group) of a census. Counts are null where the cell is suppressed."""

    window_start: date
    window_end: date
    country: str | None = Field(None, description="source.geolocation.cc (by country)")
    asn: int | None = Field(None, description="source.asn (by asn)")
    as_name: str | None = Field(None, description="source.as_name (by asn)")
    family: str | None = Field(None, description="malware.name (by family)")
    feed: str | None = Field(None, description="feed.name (by feed)")
    unique_ip: Count = Field(None, description="distinct source addresses (exact)")
    unique_ip_hll: Estimate = Field(None, description="distinct source addresses (HLL sketch)")
    unique_ip_hll_lower: Estimate = None
    unique_ip_hll_upper: Estimate = None
    unique_bot_id: Count = Field(None, description="distinct bot ids (exact)")
    unique_bot_id_hll: Estimate = None
    hits: Count = Field(None, description="check-ins (requests or report rows)")
    unique_ip_change: float | None = None
    unique_ip_change_since_first: float | None = None
    unique_ip_hll_change: float | None = None
    unique_ip_hll_change_since_first: float | None = None
    rank: int | None = None
    hosts_est: Estimate = Field(None, description="estimated infected machines (unit hosts)")
    hosts_lo: Estimate = Field(None, description="lower end of the 90% interval (hosts)")
    hosts_hi: Estimate = Field(None, description="upper end of the 90% interval (hosts)")
    hosts_support: Literal["estimate", "widened", "bounds"] | None = Field(
        None,
        description="what the data support: an estimate, an estimate with its interval widened "
        "(diagnostics disagree), or only bounds (docs/measurement.md)",
    )
    ips_hourly_avg: Estimate = Field(None, description="mean distinct addresses per hour")
    days_covered: int | None = Field(
        None, description="days of the window with any data (of the row's feed when by feed)"
    )
    partial: bool = Field(
        description="fewer days_covered than the window's length: it runs past the data, or "
        "days are missing inside it (an outage)"
    )
    suppressed: bool = Field(description="counts withheld: a cell below k (public answers)")


class Page(_Model):
    total: int = Field(description="rows in the whole answer")
    limit: int
    offset: int
    next: str | None = Field(None, description="URL of the next page, if any")


class CensusQueryDoc(_Model):
    window: Literal["day", "week"]
    week_ends: str
    by: list[str]
    family: str | None = None
    feed: str | None = None
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")
    top: int | None = None
    country: str | None = None
    asn: int | None = None


class CensusPage(Page):
    query: CensusQueryDoc
    cli: str = Field(description="the botcensus command printing the same rows")
    unit: str = Field(description="unit of the address counts: unique_ip or unique_ip_hll")
    source: str = Field(description="rollup, sightings or sketches")
    notes: list[str]
    suppress_below: int | None = Field(description="k of the small-cell rule (null: not applied)")
    suppressed: int
    rows: list[CensusRow]


class ProductPage(Page):
    cli: str
    unit: str | None
    source: str | None
    notes: list[str]
    built: str
    current: bool = Field(
        description="false when the data changed after `botcensus rollup` "
        "built this; the CLI would now print other figures"
    )
    suppress_below: int | None
    suppressed: int
    rows: list[CensusRow]


class DecayRow(_Model):
    group: str | None = None
    first_count: float | None = None
    last_count: float | None = None
    weeks: int | None = None
    rate_per_week: float | None = None
    rate_lower: float | None = None
    rate_upper: float | None = None
    half_life_weeks: float | None = Field(None, description="null when the count does not shrink")
    half_life_days: float | None = None
    no_rate_reason: str | None = Field(None, description="why a row has no rate")
    suppressed: bool = False


class WeeklyRow(_Model):
    window_start: date
    window_end: date
    unique_ip: float | None = None
    unique_ip_hll: float | None = None
    hosts: float | None = None


class CleanupDoc(_Model):
    cli: str
    unit: str | None
    source: str | None
    notes: list[str]
    built: str
    current: bool
    suppress_below: int | None
    weekly: list[WeeklyRow]
    decay: list[DecayRow]
    marks: list[dict[str, Any]]
    survival: list[dict[str, Any]] | None


class MetaDoc(_Model):
    dataset: str
    first_day: date | None
    last_day: date | None
    week_ends: str
    families: list[str]
    feeds: list[str]
    countries: list[str]
    suppress_below: int
    units: dict[str, str]
    rollup: dict[str, Any]
    role: str
    label: str
    scope: str


class HostRow(_Model):
    source_ip: str = Field(
        alias="source.ip", description="the address (pseudonym for the operator's analytic view)"
    )
    source_asn: int | None = Field(None, alias="source.asn")
    source_as_name: str | None = Field(None, alias="source.as_name")
    source_cc: str | None = Field(None, alias="source.geolocation.cc")
    malware_name: str | None = Field(None, alias="malware.name")
    feed_name: str | None = Field(None, alias="feed.name")
    first_seen: datetime
    last_seen: datetime
    days_seen: int
    hits: int
    unique_bot_id: int


class HostPage(Page):
    scope: str
    notes: list[str]
    rows: list[HostRow]


class CurveRow(_Model):
    window_start: date
    window_end: date
    own: int | None
    country: int | None
    own_share: float | None = Field(description="own count / own first complete week")
    country_share: float | None


class OwnerCleanup(_Model):
    scope: str
    country: str | None
    unit: str
    weeks: list[CurveRow]
    own_decay: dict[str, Any]
    country_decay: dict[str, Any]
    notes: list[str]


class NoticeAddressDoc(_Model):
    ip: str
    asn: int | None = None
    cc: str | None = None


class NoticeDoc(_Model):
    notice_id: str
    sent: datetime
    recipient: str
    channel: str
    family: str | None
    addresses: list[NoticeAddressDoc]
    ticket_id: str | None
    ticket_state: str | None
    ticket_updated: datetime | None


class NoticePageDoc(Page):
    source: str
    rows: list[NoticeDoc]


class Health(_Model):
    sinkhole: dict[str, Any]
    rollup: dict[str, Any]
    feeds: dict[str, Any]


class QuarantineItem(_Model):
    kind: str
    source: str
    line: int | None
    reason: str
    detail: dict[str, Any]


class QuarantinePage(Page):
    rows: list[QuarantineItem]


class AuditRow(_Model):
    seq: int
    time: str
    token_id: str | None
    role: str | None
    label: str | None
    action: str
    path: str | None
    query: str | None
    status: int | None
    addresses: int | None
    client: str | None


class AuditPage(Page):
    rows: list[AuditRow]


class TokenDoc(_Model):
    id: str
    role: str
    label: str
    scope: str
    created: datetime
    expires: datetime | None
    state: str


class Problem(_Model):
    detail: str

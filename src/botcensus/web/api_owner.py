"""The network owner's API: its infected addresses, its events in the notification formats,
its clean-up curve beside its country's, and the notifications sent about it. A token's
scope selects every row; the operator may name a scope (`asn`, `prefix`, `country`) or see
every network. Every answer here is written to the audit log before it is sent."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, BinaryIO, Literal, cast

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from botcensus.store import connect, sightings_view
from botcensus.times import utc_today
from botcensus.web import audit, owner_data
from botcensus.web.api import ERRORS, MAX_LIMIT, TEXT, csv_response, ctx_of, invalid
from botcensus.web.auth import IpLevel, client_of
from botcensus.web.db import WebDbError
from botcensus.web.models import HostPage, NoticePageDoc, OwnerCleanup, Problem
from botcensus.web.notices import NoticeQuery, in_scope
from botcensus.web.scope import Scope, ScopeError
from botcensus.web.tokens import Principal

router = APIRouter(prefix="/api/v1/owner", tags=["network owner"])
OWNER_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    401: {"model": Problem, "description": "no token, or a token that is not valid"},
    403: {"model": Problem, "description": "a scope outside the token's"},
    503: {"model": Problem, "description": "the audit log cannot be written: nothing served"},
}
ASNS = Annotated[list[int] | None, Query(description="operator only: scope to these ASNs")]
PREFIXES = Annotated[list[str] | None, Query(description="operator only: these prefixes")]
COUNTRIES = Annotated[list[str] | None, Query(description="operator only: these countries")]


def scope_for(
    who: Principal, asn: list[int] | None, prefix: list[str] | None, country: list[str] | None
) -> Scope:
    """The token's scope; the operator may name one (none: every network). An owner naming
    a scope gets 403: a scope is never widened or chosen by a request."""
    named = bool(asn or prefix or country)
    if who.role != "operator":
        if named:
            raise HTTPException(403, "an owner's scope is its token's; it cannot be chosen")
        return who.scope
    if not named:
        return who.scope
    try:
        return Scope.of(asn or [], prefix or [], country or [])
    except ScopeError as exc:
        raise invalid("asn" if asn else "prefix" if prefix else "country", str(exc)) from None


def audited(request: Request, who: Principal, action: str, rows: int, scope: Scope) -> None:
    """Write the audit entry; 503 (and nothing served) when it cannot be written."""
    ctx = ctx_of(request)
    try:
        audit.record(
            ctx.dataset,
            who,
            action,
            path=request.url.path,
            query=f"scope={scope.describe()}; {request.url.query}".rstrip("; "),
            status=200,
            addresses=rows,
            client=client_of(request),
        )
    except WebDbError as exc:
        raise HTTPException(503, f"audit log not writable ({exc}); nothing served") from None


CSV_TOO: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}


@router.get("/hosts", response_model=HostPage, responses={**OWNER_ERRORS, **CSV_TOO})
def hosts(
    request: Request,
    who: IpLevel,
    family: TEXT = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    format: Literal["json", "csv"] = "json",
    asn: ASNS = None,
    prefix: PREFIXES = None,
    country: COUNTRIES = None,
) -> Any:
    """The infected addresses in scope, one row per address and family: first and last
    sighting, days seen, check-ins, AS and country; most recently seen first."""
    ctx = ctx_of(request)
    scope = scope_for(who, asn, prefix, country)
    size = limit or (MAX_LIMIT if format == "csv" else ctx.settings.page_rows)
    query = owner_data.HostQuery(family, date_from, date_to, size, offset)
    con = connect()
    try:
        total, table = owner_data.hosts(con, sightings_view(con, ctx.dataset), scope, query)
    finally:
        con.close()
    rows = table.to_pylist()
    audited(request, who, "hosts", len(rows), scope)
    if format == "csv":
        return csv_response(rows, list(owner_data.HOST_COLUMNS), "hosts")
    from botcensus.web.answers import _with_offset

    following = offset + size < total
    return {
        "total": total,
        "limit": size,
        "offset": offset,
        "next": _with_offset(str(request.url), offset + size) if following else None,
        "scope": scope.describe(),
        "notes": [],
        "rows": rows,
    }


@router.get(
    "/events",
    responses={
        **OWNER_ERRORS,
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "the events, streamed",
        },
    },
)
def events(
    request: Request,
    who: IpLevel,
    format: Literal["intelmq", "shadowserver"] = "intelmq",
    family: TEXT = None,
    asn: ASNS = None,
    prefix: PREFIXES = None,
    country: COUNTRIES = None,
) -> Response:
    """The raw events in scope (sinkhole check-ins and feed rows, kept for
    `store.event_retention_days`) as IntelMQ JSON lines or a Shadowserver CSV report
    (event4_sinkhole_http columns): what `botcensus export` writes, for your networks."""
    ctx = ctx_of(request)
    scope = scope_for(who, asn, prefix, country)
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by the stream)
    try:
        out = cast(BinaryIO, spool)
        written = owner_data.export_events(ctx.dataset, scope, format, out, ctx.enrich(), family)
        audited(request, who, f"events-{format}", written, scope)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def stream() -> Iterator[bytes]:
        try:
            while chunk := spool.read(1 << 16):
                yield chunk
        finally:
            spool.close()

    media, name = (
        ("application/x-ndjson", "events.intelmq.jsonl")
        if format == "intelmq"
        else ("text/csv; charset=utf-8", "events.shadowserver.csv")
    )
    return StreamingResponse(
        stream(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Events": str(written)},
    )


REPORT_MEDIA: dict[str, dict[str, Any]] = {"text/csv": {}, "application/x-ndjson": {}}
XARF_MAX_ROWS = 50_000
"""XARF reports are validated one by one against the schema (slow): a smaller cap."""


@router.get(
    "/report",
    responses={
        **OWNER_ERRORS,
        413: {"model": Problem, "description": "too many host rows: ask for fewer days"},
        200: {"content": REPORT_MEDIA, "description": "the report, as a notification carries it"},
    },
)
def report(
    request: Request,
    who: IpLevel,
    format: Literal["shadowserver", "shadowserver-sinkhole", "xarf", "intelmq"] = "shadowserver",
    family: TEXT = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    asn: ASNS = None,
    prefix: PREFIXES = None,
    country: COUNTRIES = None,
) -> Response:
    """Your infected hosts of a range of days (default: the last 7 days with data; at most
    31) in a notification format, rendered by the same code that renders the notifications
    (one row per address, family and day): a Shadowserver report (event4_sinkhole_http or
    event4_sinkhole columns), XARF v4 botnet reports or IntelMQ events, as JSON lines."""
    from botcensus.export import Party, ReportMeta, renderer

    ctx = ctx_of(request)
    scope = scope_for(who, asn, prefix, country)
    state = ctx.census.state()
    last = date_to or state.last_day or date.today()
    first = date_from or last - timedelta(days=6)
    if first > last:
        raise invalid("from", f"from ({first}) is after to ({last})", str(first))
    if (last - first).days + 1 > owner_data.REPORT_MAX_DAYS:
        raise invalid("to", f"at most {owner_data.REPORT_MAX_DAYS} days in one report", str(last))
    reporter = ctx.reporter
    if format == "xarf" and reporter is None:
        raise invalid(
            "format",
            "XARF reports name their reporter: the server was started without one "
            "(botcensus serve --notify-rules FILE)",
            format,
        )
    con = connect()
    try:
        rows = owner_data.host_day_rows(
            con, sightings_view(con, ctx.dataset), scope, first, last, family
        )
    except owner_data.ReportTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    finally:
        con.close()
    if format == "xarf" and rows.num_rows > XARF_MAX_ROWS:
        raise HTTPException(413, f"{rows.num_rows:,} XARF reports: at most {XARF_MAX_ROWS:,}")
    out = renderer(format)
    meta = ReportMeta(
        ticket=f"web-{who.token_id or who.role}-{last:%Y%m%d}",
        generated=datetime.now(UTC),
        period_start=first,
        period_end=last,
        reporter=reporter or Party("botcensus", "", ""),
        tlp="amber",
    )
    body = out.render(rows, meta)
    audited(request, who, f"report-{format}", len(set(rows["source_ip"].to_pylist())), scope)
    media = "text/csv; charset=utf-8" if out.media_type.startswith("text/csv") else out.media_type
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{out.file_name(meta)}"',
            "X-Host-Rows": str(rows.num_rows),
        },
    )


@router.get("/cleanup", response_model=OwnerCleanup, responses=OWNER_ERRORS)
def cleanup(
    request: Request,
    who: IpLevel,
    asn: ASNS = None,
    prefix: PREFIXES = None,
    country: COUNTRIES = None,
) -> dict[str, Any]:
    """Your weekly unique addresses beside your country's, each as a share of its first
    complete week, with the decay rate and half-life of both (as `botcensus cleanup`)."""
    from botcensus.measure.census import CensusQuery

    ctx = ctx_of(request)
    scope = scope_for(who, asn, prefix, country)
    con = connect()
    try:
        relation = owner_data.scoped_view(con, sightings_view(con, ctx.dataset), scope)
        own = owner_data.weekly_curve(con, relation, ctx.week_ends)
        home = owner_data.home_country(con, relation)
    finally:
        con.close()
    state = ctx.census.state()
    country_rows: dict[date, int] = {}
    if home is not None:
        query = CensusQuery(
            window="week", week_ends=ctx.week_ends, by=("country",), today=utc_today()
        )
        for row in ctx.census.answer(query).rows.to_pylist():
            if row["country"] == home:
                count = row.get("unique_ip", row.get("unique_ip_hll"))
                country_rows[row["window_start"]] = round(count or 0)
    own_rows = own.to_pylist()
    # The day not over yet is not a day with data: a week holding it is not complete.
    last = state.last_day
    if last is not None:
        last = min(last, utc_today() - timedelta(days=1))
    curve, own_decay, country_decay = owner_data.curves(own, country_rows, state.first_day, last)
    notes = []
    if not own_rows:
        notes.append("no sightings in your scope")
    audited(request, who, "cleanup", len({r["window_start"] for r in own_rows}), scope)
    from botcensus.web.answers import _finite

    return {
        "scope": scope.describe(),
        "country": home,
        "unit": "unique_ip",
        "weeks": curve,
        "own_decay": _finite(own_decay),
        "country_decay": _finite(country_decay),
        "notes": notes,
    }


@router.get("/notices", response_model=NoticePageDoc, responses=OWNER_ERRORS)
def notices(
    request: Request,
    who: IpLevel,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    asn: ASNS = None,
    prefix: PREFIXES = None,
    country: COUNTRIES = None,
) -> dict[str, Any]:
    """Notifications sent about addresses in scope, and the tickets they opened."""
    ctx = ctx_of(request)
    scope = scope_for(who, asn, prefix, country)
    page = in_scope(
        ctx.notices.notices(scope, NoticeQuery(date_from, date_to, limit, offset)), scope
    )
    audited(request, who, "notices", sum(len(n.addresses) for n in page.notices), scope)
    return {
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "next": None,
        "source": page.source,
        "rows": [
            {
                "notice_id": n.notice_id,
                "sent": n.sent,
                "recipient": n.recipient,
                "channel": n.channel,
                "family": n.family,
                "addresses": [{"ip": a.ip, "asn": a.asn, "cc": a.cc} for a in n.addresses],
                "ticket_id": n.ticket_id,
                "ticket_state": n.ticket_state,
                "ticket_updated": n.ticket_updated,
            }
            for n in page.notices
        ],
    }

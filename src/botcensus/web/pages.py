"""The HTML pages: server-rendered tables (the numbers, from the same documents as the API)
and containers the page's script fills with charts and the map from the API. Sign-in takes
a token once and keeps it in an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from botcensus.web import answers, tokens
from botcensus.web.api import ctx_of
from botcensus.web.auth import COOKIE, resolve, token_of
from botcensus.web.tokens import PUBLIC, Principal

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
SESSION_SECONDS: Final = 12 * 3600
TEXT = Annotated[str | None, Query(max_length=200)]


def _who(request: Request) -> tuple[Principal, str | None]:
    """The caller of a page, and why its token was refused (then it is the public)."""
    ctx = ctx_of(request)
    try:
        return resolve(ctx.dataset, token_of(request, None), request, ctx.failures), None
    except HTTPException as exc:
        return PUBLIC, str(exc.detail)


def _render(
    request: Request,
    name: str,
    who: Principal,
    refused: str | None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    ctx = ctx_of(request)
    meta = answers.meta_doc(ctx, who)
    response = templates.TemplateResponse(
        request,
        name,
        {"who": who, "meta": meta, "refused": refused, "path": request.url.path, **values},
        status_code=401 if refused else status,
    )
    if refused:
        response.delete_cookie(COOKIE, path="/")
    return response


def _day(name: str, text: str | None) -> date | None:
    """A date from a form field: blank is none; anything else must be YYYY-MM-DD."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        from botcensus.web.api import invalid

        raise invalid(name, f"{text!r} is not a date YYYY-MM-DD", text) from None


def _weeks(meta: dict[str, Any], week_ends: str) -> list[date]:
    from botcensus.store.aggregates import week_start

    first, last = meta["first_day"], meta["last_day"]
    if first is None or last is None:
        return []
    out, start = [], week_start(first, week_ends)
    while start <= last:
        out.append(start)
        start += timedelta(days=7)
    return out


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    window: Literal["day", "week"] = "week",
    by: answers.By = "country",
    family: TEXT = None,
    feed: TEXT = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    top: Annotated[int, Query(ge=1, le=50)] = 8,
    week: Annotated[str | None, Query(max_length=10)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Series by country, family or feed; the world map and the network ranking of a week."""
    ctx = ctx_of(request)
    who, refused = _who(request)
    lo, hi, chosen_week = _day("from", date_from), _day("to", date_to), _day("week", week)
    params = answers.CensusParams(
        window,
        by,
        family or None,
        feed or None,
        lo,
        hi,
        None if by == "none" else top,
        None,
        None,
        200,
        offset,
    )
    series = answers.census_doc(ctx, who, params, str(request.url))
    meta = answers.meta_doc(ctx, who)
    weeks = _weeks(meta, ctx.week_ends)
    complete = [
        w
        for w in weeks
        if meta["first_day"] <= w and w.toordinal() + 6 <= meta["last_day"].toordinal()
    ]
    chosen = (
        chosen_week
        if chosen_week in weeks
        else (complete[-1] if complete else (weeks[-1] if weeks else None))
    )
    ranking = mapped = None
    if chosen is not None:
        fam = family or None
        mapped = answers.census_doc(
            ctx,
            who,
            answers.CensusParams(
                "week", "country", fam, feed or None, chosen, chosen, None, None, None, 500, 0
            ),
        )
        before = chosen - timedelta(days=7)  # the week before: the change column
        ranking = answers.census_doc(
            ctx,
            who,
            answers.CensusParams(
                "week", "asn", fam, feed or None, before, chosen, 20, None, None, 100, 0
            ),
        )
        ranking["rows"] = [r for r in ranking["rows"] if r["window_start"] == chosen]
    api = {
        k: v
        for k, v in {
            "window": window,
            "by": by,
            "family": family or "",
            "feed": feed or "",
            "from": lo or "",
            "to": hi or "",
            "top": "" if by == "none" else top,
            "limit": 100000,
        }.items()
        if v != ""
    }
    map_api = None
    if chosen is not None:
        map_query = {
            "window": "week",
            "by": "country",
            "from": chosen,
            "to": chosen,
            "family": family or "",
            "feed": feed or "",
        }
        map_api = "/api/v1/census?" + urlencode({k: v for k, v in map_query.items() if v != ""})
    return _render(
        request,
        "overview.html",
        who,
        refused,
        title="Overview",
        series=series,
        form={
            "window": window,
            "by": by,
            "family": family or "",
            "feed": feed or "",
            "from": lo or "",
            "to": hi or "",
            "top": top,
        },
        series_api="/api/v1/census?" + urlencode(api),
        weeks=weeks,
        week=chosen,
        csv_api="/api/v1/census?"
        + urlencode(
            {**api, "format": "csv"}
            if "limit" not in api
            else {**{k: v for k, v in api.items() if k != "limit"}, "format": "csv"}
        ),
        mapped=mapped,
        ranking=ranking,
        map_api=map_api,
    )


@router.get("/estimates", response_class=HTMLResponse)
def estimates(request: Request) -> Response:
    """Weekly host estimates with their intervals, beside unique addresses."""
    ctx = ctx_of(request)
    who, refused = _who(request)
    overall = answers.estimates_doc(ctx, who, limit=1000)
    by_country = answers.estimates_doc(ctx, who, by="country", limit=100000)
    last = max((r["window_start"] for r in by_country["rows"] if not r["partial"]), default=None)
    latest = sorted(
        (r for r in by_country["rows"] if r["window_start"] == last),
        key=lambda r: (r["suppressed"], -(r.get("hosts_est") or 0)),
    )
    return _render(
        request,
        "estimates.html",
        who,
        refused,
        title="Host estimates",
        overall=overall,
        latest=latest,
        latest_week=last,
    )


@router.get("/cleanup", response_class=HTMLResponse)
def cleanup(request: Request) -> Response:
    """Decay rate, half-life and time to clean-up, overall and per country."""
    ctx = ctx_of(request)
    who, refused = _who(request)
    doc = answers.cleanup_doc(ctx, who)
    return _render(request, "cleanup.html", who, refused, title="Clean-up", doc=doc)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    who, refused = _who(request)
    return _render(request, "login.html", who, refused, title="Sign in", error=None)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    """Check a token and keep it in the session cookie."""
    ctx = ctx_of(request)
    if not _same_origin(request):
        raise HTTPException(403, "sign-in from another site refused")
    found = tokens.verify(ctx.dataset, token.strip())
    if found is None:
        from botcensus.web import audit

        if ctx.failures.allow():
            token_id = tokens.token_id_of(token.strip())
            audit.record(
                ctx.dataset,
                None,
                "sign-in-refused",
                path="/login",
                query=f"token id {token_id}" if token_id else "malformed token",
                status=401,
                client=request.client.host if request.client else None,
            )
        return _render(
            request,
            "login.html",
            PUBLIC,
            None,
            status=401,
            title="Sign in",
            error="That token is not valid (unknown, revoked or expired).",
        )
    target = "/operator" if found.role == "operator" else "/owner"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not _same_origin(request):
        raise HTTPException(403, "sign-out from another site refused")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/owner", response_class=HTMLResponse)
def owner(
    request: Request,
    family: TEXT = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    asn: Annotated[list[int] | None, Query()] = None,
    prefix: Annotated[list[str] | None, Query()] = None,
    country: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """A network owner's infected hosts, downloads, clean-up curve and notifications."""
    from botcensus.web import api_owner

    who, refused = _who(request)
    if not who.ip_level:
        return _render(
            request,
            "login.html",
            who,
            refused,
            status=401,
            title="Sign in",
            error=None if refused else "Sign in with your network's token.",
        )
    lo, hi = _day("from", date_from), _day("to", date_to)
    hosts = api_owner.hosts(
        request, who, family or None, lo, hi, 100, offset, "json", asn, prefix, country
    )
    notices = api_owner.notices(request, who, None, None, 100, 0, asn, prefix, country)
    scope_query = urlencode(
        [("asn", a) for a in asn or []]
        + [("prefix", p) for p in prefix or []]
        + [("country", c) for c in country or []]
    )
    return _render(
        request,
        "owner.html",
        who,
        refused,
        title="Your networks",
        hosts=hosts,
        notices=notices,
        scope_query=scope_query,
        report_formats=[
            ("shadowserver", "Shadowserver event4_sinkhole_http (CSV)"),
            ("shadowserver-sinkhole", "Shadowserver event4_sinkhole (CSV)"),
            ("intelmq", "IntelMQ events (JSON lines)"),
            *([("xarf", "XARF v4 (JSON lines)")] if ctx_of(request).reporter else []),
        ],
        form={"family": family or "", "from": lo or "", "to": hi or ""},
    )


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request) -> Response:
    """Sinkhole health, roll-up, feeds, quarantine, tokens, audit log."""
    from botcensus.web import api_operator

    who, refused = _who(request)
    if who.role != "operator":
        status = 403 if who.role == "owner" else 401
        return _render(
            request,
            "login.html",
            who,
            refused,
            status=status,
            title="Sign in",
            error="This page is the operator's.",
        )
    health = api_operator.health(request, who)
    quarantine = api_operator.quarantine(request, who, 50, 0)
    audit_page = api_operator.audit_log(request, who, 50, 0)
    token_rows = api_operator.token_list(request, who)
    return _render(
        request,
        "operator.html",
        who,
        refused,
        title="Operator",
        health=health,
        quarantine=quarantine,
        audit=audit_page,
        tokens=token_rows,
    )

"""The operator's API: sinkhole health, feed ingest status, roll-up state, the quarantine
(addresses pseudonymised), the audit log, the tokens, and analytic views that need to tell
hosts apart but not know them (pseudonymised hosts and sightings)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from botcensus.measure.census import CensusQuery
from botcensus.store import connect, sightings_view
from botcensus.web import audit, operator_data, owner_data, pseudonym
from botcensus.web.api import MAX_LIMIT, TEXT, csv_response, ctx_of
from botcensus.web.api_owner import CSV_TOO, OWNER_ERRORS, audited
from botcensus.web.auth import Operator
from botcensus.web.models import AuditPage, Health, HostPage, QuarantinePage, TokenDoc
from botcensus.web.scope import EVERYTHING

router = APIRouter(prefix="/api/v1/operator", tags=["operator"], responses=OWNER_ERRORS)
LIMIT = Annotated[int, Query(ge=1, le=10_000)]
OFFSET = Annotated[int, Query(ge=0, le=10**9)]


def _key(request: Request) -> pseudonym.PseudonymKey:
    ctx = ctx_of(request)
    return pseudonym.current_key(ctx.dataset, ctx.settings.pseudonym_rotation_days)


def rollup_state(ctx: Any) -> dict[str, Any]:
    from botcensus.web import products

    state = ctx.census.state()
    kept = {}
    for name in products.NAMES:
        found = ctx.product(name)
        kept[name] = None if found is None else {"built": found.built, "current": found.current}
    return {
        "first_day": state.first_day,
        "last_day": state.last_day,
        "stale_days": sorted(d.isoformat() for d in state.fresh.stale_days),
        "stale_weeks": sorted(d.isoformat() for d in state.fresh.stale_weeks),
        "sketch_only_days": sorted(d.isoformat() for d in state.beyond),
        "products": kept,
    }


@router.get("/health", response_model=Health)
def health(request: Request, who: Operator) -> dict[str, Any]:
    """Sinkhole (requests per second, WAL lag, rejects, from its metrics endpoint named in
    DIR/sinkhole.json), roll-up state, feed ingest status."""
    ctx = ctx_of(request)
    return {
        "sinkhole": ctx.health.read(ctx.dataset),
        "rollup": rollup_state(ctx),
        "feeds": operator_data.feed_status(ctx.dataset),
    }


@router.get("/quarantine", response_model=QuarantinePage)
def quarantine(request: Request, who: Operator, limit: LIMIT = 100, offset: OFFSET = 0) -> Any:
    """Quarantined feed rows, WAL tails and unreadable files with their reasons; addresses in
    them pseudonymised."""
    ctx = ctx_of(request)
    key = _key(request)
    total, rows = operator_data.quarantine(ctx.dataset, key.of, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "next": None, "rows": rows}


@router.get("/audit", response_model=AuditPage)
def audit_log(request: Request, who: Operator, limit: LIMIT = 100, offset: OFFSET = 0) -> Any:
    """Who fetched which IP-level data, when (newest first)."""
    ctx = ctx_of(request)
    total, rows = audit.entries(ctx.dataset, limit=limit, offset=offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "next": None,
        "rows": [asdict(r) for r in rows],
    }


@router.get("/tokens", response_model=list[TokenDoc])
def token_list(request: Request, who: Operator) -> list[dict[str, Any]]:
    """Every token (never its secret): role, label, scope, state."""
    from datetime import UTC, datetime

    from botcensus.web.tokens import list_tokens

    now = datetime.now(UTC)
    return [
        {
            "id": t.id,
            "role": t.role,
            "label": t.label,
            "scope": t.scope.describe(),
            "created": t.created,
            "expires": t.expires,
            "state": t.state(now),
        }
        for t in list_tokens(ctx_of(request).dataset)
    ]


@router.get("/hosts", response_model=HostPage, responses=CSV_TOO)
def hosts(
    request: Request,
    who: Operator,
    family: TEXT = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: OFFSET = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Every infected host, pseudonymised (`source.ip` holds `p<key>-<hmac>`): persistence
    and activity without the addresses. The addresses of a network: the owner routes."""
    ctx = ctx_of(request)
    size = limit or (MAX_LIMIT if format == "csv" else ctx.settings.page_rows)
    key = _key(request)
    expression, params = key.sql("source_ip")
    con = connect()
    try:
        relation = sightings_view(con, ctx.dataset)
        total, table = owner_data.hosts(
            con,
            relation,
            EVERYTHING,
            owner_data.HostQuery(family, date_from, date_to, size, offset),
            address=expression,
            address_params=params,
        )
    finally:
        con.close()
    rows = table.to_pylist()
    audited(request, who, "hosts-pseudonymised", len(rows), EVERYTHING)
    if format == "csv":
        return csv_response(rows, list(owner_data.HOST_COLUMNS), "hosts-pseudonymised")
    return {
        "total": total,
        "limit": size,
        "offset": offset,
        "next": None,
        "scope": "every network (pseudonymised)",
        "notes": [
            f"pseudonyms under key {key.id} (made {key.created:%Y-%m-%d}); "
            "a later key gives other pseudonyms"
        ],
        "rows": rows,
    }


@router.get("/sightings.csv", responses={200: {"content": {"text/csv": {}}}})
def sightings_csv(
    request: Request,
    who: Operator,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    family: TEXT = None,
) -> Response:
    """Daily sightings for analysis, addresses and bot ids pseudonymised (one key for the
    whole file: identities can be followed across its days, not across key periods)."""
    ctx = ctx_of(request)
    key = _key(request)
    ip_sql, params = key.sql("source_ip")
    bot_sql, _ = key.sql("bot_id")
    census = CensusQuery(family=family, date_from=date_from, date_to=date_to)
    condition, census_params = census.where()  # the census's own filter: claimed, family, days
    where, values = [condition], {**params, **census_params}
    sql = f"""SELECT day, {ip_sql} AS "source.pseudonym", {bot_sql} AS "bot_id.pseudonym",
                     malware_family AS "malware.name", source_asn AS "source.asn",
                     source_cc AS "source.geolocation.cc", feed_name AS "feed.name", sensor,
                     first_seen, last_seen, hits
              FROM sightings WHERE {" AND ".join(where)}
              ORDER BY day, "source.pseudonym" """  # noqa: S608 (conditions are ours; values are parameters)
    con = connect()
    try:
        relation = sightings_view(con, ctx.dataset)
        count = con.sql(
            f"SELECT count(*) FROM {relation} WHERE {' AND '.join(where)}",  # noqa: S608
            params={k: v for k, v in values.items() if not k.startswith("pseudo")},
        )
        rows = int(count.fetchall()[0][0])
        audited(request, who, "sightings-pseudonymised", rows, EVERYTHING)
        reader = con.sql(sql, params=values).to_arrow_reader(65_536)
    except BaseException:
        con.close()
        raise

    def stream() -> Iterator[bytes]:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        from botcensus.export.cells import safe_table

        try:
            first = True
            for batch in reader:
                out = pa.BufferOutputStream()
                table = safe_table(pa.Table.from_batches([batch]))
                pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=first))
                first = False
                yield out.getvalue().to_pybytes()
            if first:
                yield (",".join(f'"{n}"' for n in reader.schema.names) + "\n").encode()
        finally:
            con.close()

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="sightings-pseudonymised.csv"'},
    )

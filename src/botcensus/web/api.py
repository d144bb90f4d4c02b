"""The public JSON API: census series, host estimates, clean-up, dataset facts. Open to
anyone; an owner's or the operator's token may be sent (the operator then sees cells below
k too). CSV with `format=csv`: the same rows, spreadsheet-safe."""

from __future__ import annotations

import functools
import io
from datetime import date
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter

from botcensus.web import answers
from botcensus.web.auth import Caller
from botcensus.web.models import CensusPage, CleanupDoc, MetaDoc, Problem, ProductPage

router = APIRouter(prefix="/api/v1", tags=["public"])
Format = Literal["json", "csv"]
MAX_LIMIT = 100_000
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "a token was sent and is not valid"},
}
TEXT = Annotated[str | None, Query(max_length=200)]


def invalid(parameter: str, message: str, value: object = None) -> RequestValidationError:
    """A 422 in FastAPI's own form (what the OpenAPI document promises for 422)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", parameter), "msg": message, "input": value}]
    )


def ctx_of(request: Request) -> Any:
    return request.app.state.ctx


def csv_response(rows: list[dict[str, Any]], columns: list[str], name: str) -> Response:
    """Rows as a spreadsheet-safe CSV download (report.tables.write_csv, as the CLI writes)."""
    from botcensus.report.tables import write_csv

    table = (
        pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
        if rows
        else (pa.table({c: pa.array([], pa.string()) for c in columns}))
    )
    out = io.StringIO()
    write_csv(table, out)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def validated_json(model: type[BaseModel], doc: dict[str, Any]) -> Response:
    """`doc` checked against `model` and written as JSON by pydantic's own serializer (what
    FastAPI does with a response_model, without the detour through Python objects and
    json.dumps: half the CPU for a page of 500 rows)."""
    adapter = _adapter(model)
    body = adapter.dump_json(adapter.validate_python(doc), by_alias=True, exclude_unset=True)
    return Response(body, media_type="application/json")


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def row_columns(rows: list[dict[str, Any]], first: list[str]) -> list[str]:
    names = list(first)
    for row in rows[:1]:
        names += [k for k in row if k not in names]
    return names


@router.get("/meta", response_model=MetaDoc, responses=ERRORS)
def meta(request: Request, who: Caller) -> dict[str, Any]:
    """The dataset's span, families, feeds, countries, units, k, and who is asking."""
    return answers.meta_doc(ctx_of(request), who)


@router.get(
    "/census",
    response_model=CensusPage,
    response_model_exclude_unset=True,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
)
def census(
    request: Request,
    who: Caller,
    window: Literal["day", "week"] = "week",
    by: answers.By = "none",
    family: TEXT = None,
    feed: TEXT = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    top: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
    asn: Annotated[int | None, Query(ge=0, le=4_294_967_295)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    format: Format = "json",
) -> Any:
    """Unique IPs, unique bot ids and hits per day or week, by country, ASN, family or feed:
    the rows `botcensus census` prints for the same query (see `cli`). Weeks are whole
    windows: `from` and `to` widen to the windows that hold them. `country` / `asn` keep one
    group's rows (with `by=country` / `by=asn`)."""
    if date_from and date_to and date_from > date_to:
        raise invalid("to", f"to {date_to} is before from {date_from}", str(date_to))
    params = answers.CensusParams(
        window,
        by,
        family,
        feed,
        date_from,
        date_to,
        top,
        country,
        asn,
        MAX_LIMIT if format == "csv" and limit is None else limit,
        offset,
    )
    doc = answers.census_doc(ctx_of(request), who, params, str(request.url))
    if format == "csv":
        first = ["window_start", "window_end", *doc["query"]["by"]]
        return csv_response(doc["rows"], row_columns(doc["rows"], first), "census")
    return validated_json(CensusPage, doc)


@router.get(
    "/estimates",
    response_model=ProductPage,
    response_model_exclude_unset=True,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}}},
)
def estimates(
    request: Request,
    who: Caller,
    by: Literal["none", "country"] = "none",
    country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    format: Format = "json",
) -> Any:
    """Estimated infected machines per week (hosts_est with its 90% interval hosts_lo ..
    hosts_hi, unit hosts) beside the unique addresses, overall or per country, as
    `botcensus census --window week --estimate` prints them. Kept by `botcensus rollup`."""
    doc = answers.estimates_doc(
        ctx_of(request),
        who,
        by=by,
        country=country,
        limit=MAX_LIMIT if format == "csv" and limit is None else limit,
        offset=offset,
        url=str(request.url),
    )
    if format == "csv":
        first = ["window_start", "window_end", *(["country"] if by == "country" else [])]
        return csv_response(doc["rows"], row_columns(doc["rows"], first), "estimates")
    return validated_json(ProductPage, doc)


@router.get("/cleanup", response_model=CleanupDoc, responses=ERRORS)
def cleanup(request: Request, who: Caller) -> dict[str, Any]:
    """Decay rate and half-life of the weekly counts, overall and per country, and time to
    clean-up, as `botcensus cleanup --by country` prints them. Kept by `botcensus rollup`."""
    return answers.cleanup_doc(ctx_of(request), who)

"""The documents behind the public pages and API: census series, host estimates, clean-up,
dataset facts. Each is a measure/ result (CensusView, the kept products) with the small
cells suppressed for everyone but the operator, the partial windows marked, a page cut out,
and the `botcensus` command that prints the same figures."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final, Literal

import pyarrow as pa
import pyarrow.compute as pc

from botcensus.measure.census import CensusQuery
from botcensus.measure.rollups import window_bounds
from botcensus.times import utc_today
from botcensus.web import products
from botcensus.web.context import WebContext
from botcensus.web.suppress import apply, small_groups, suppress, table_flags
from botcensus.web.tokens import Principal

By = Literal["none", "country", "asn", "family", "feed"]
UNITS: Final = {
    "unique_ip": "distinct source addresses in the window (exact, from raw sightings)",
    "unique_ip_hll": "distinct source addresses, estimated from HLL sketches (about ±3%)",
    "unique_bot_id": "distinct bot ids (families whose check-ins carry one)",
    "hits": "check-ins: sinkhole requests and feed report rows",
    "hosts": "estimated infected machines (hosts_est, 90% interval hosts_lo..hosts_hi)",
}


@dataclass(frozen=True, slots=True)
class CensusParams:
    window: Literal["day", "week"] = "week"
    by: By = "none"
    family: str | None = None
    feed: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    top: int | None = None
    country: str | None = None
    asn: int | None = None
    limit: int | None = None
    offset: int = 0


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no infinity: a value that is not finite (a half-life of a count that does
    not shrink) becomes null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
    }


def _cli_census(query: CensusQuery, top: int | None, estimate: bool = False) -> str:
    parts = ["botcensus census --data DIR", f"--window {query.window}"]
    if query.window == "week":
        parts.append(f"--week-ends {query.week_ends}")
    parts += [f"--by {g}" for g in query.by]
    for flag, value in (
        ("--family", query.family),
        ("--feed", query.feed),
        ("--from", query.date_from),
        ("--to", query.date_to),
        ("--top", top),
    ):
        if value is not None:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    if estimate:
        parts.append("--estimate")
    return " ".join([*parts, "--format json"])


def _cut(
    rows: list[dict[str, Any]], limit: int | None, offset: int, ctx: WebContext, url: str | None
) -> dict[str, Any]:
    size = limit or ctx.settings.page_rows
    page = rows[offset : offset + size]
    following = offset + size < len(rows)
    return {
        "total": len(rows),
        "limit": size,
        "offset": offset,
        "next": _with_offset(url, offset + size) if following and url else None,
        "rows": page,
    }


def _with_offset(url: str, offset: int) -> str:
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "offset"]
    query.append(("offset", str(offset)))
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _protect(
    rows: list[dict[str, Any]], by: tuple[str, ...], who: Principal, ctx: WebContext
) -> tuple[list[dict[str, Any]], int, int | None]:
    """Suppressed for all but the operator: (rows, suppressed, k or None)."""
    if who.role == "operator":
        return [{**r, "suppressed": False} for r in rows], 0, None
    k = ctx.settings.suppress_below
    out, n = suppress(rows, k, by)
    return out, n, k


def census_query(params: CensusParams, week_ends: str) -> CensusQuery:
    """The census the parameters ask for, the range widened to whole windows."""
    by = () if params.by == "none" else (params.by,)
    query = CensusQuery(
        window=params.window,
        week_ends=week_ends,
        by=by,
        date_from=params.date_from,
        date_to=params.date_to,
        family=params.family or None,
        feed=params.feed or None,
    )
    lo, hi = window_bounds(query)
    return replace(query, date_from=lo, date_to=hi, today=utc_today())


@dataclass(frozen=True, slots=True)
class _Rows:
    """A census answer's rows as served (suppressed, filtered), before a page is cut."""

    rows: tuple[dict[str, Any], ...]
    suppressed: int
    unit: str
    source: str
    notes: tuple[str, ...]


def _census_rows(ctx: WebContext, query: CensusQuery, params: CensusParams, k: int | None) -> _Rows:
    answer = ctx.census.answer(query)
    table = answer.rows
    flags = None if k is None else table_flags(table, k, query.by)
    # Suppression looks at every cell of a window; only the rows shown become dicts.
    keep = pa.array(range(table.num_rows), pa.int64())
    if params.top is not None:
        keep = pc.filter(keep, pc.fill_null(pc.less_equal(table["rank"], params.top), False))
    if params.country is not None and "country" in query.by:
        chosen = pc.equal(table["country"], params.country.upper())
        keep = pc.filter(keep, pc.fill_null(pc.take(chosen, keep), False))
    if params.asn is not None and "asn" in query.by:
        chosen = pc.equal(table["asn"], pa.scalar(params.asn, table.schema.field("asn").type))
        keep = pc.filter(keep, pc.fill_null(pc.take(chosen, keep), False))
    shown = table.take(keep)
    covered, partial = ctx.census.coverage(shown)
    rows = []
    for i, row, days, short in zip(
        keep.to_pylist(), shown.to_pylist(), covered, partial, strict=True
    ):
        row["days_covered"] = days
        row["partial"] = short
        if "asn" in query.by:
            row["as_name"] = ctx.census.as_name(row.get("asn"))
        rows.append({**row, "suppressed": False} if flags is None else apply(row, flags, i))
    return _Rows(
        tuple(_finite(r) for r in rows),
        0 if flags is None else flags.count,
        answer.unit,
        answer.source,
        answer.notes,
    )


def census_doc(
    ctx: WebContext, who: Principal, params: CensusParams, url: str | None = None
) -> dict[str, Any]:
    """The census page: rows as `botcensus census --format json` prints them, plus
    partial and suppressed flags (and AS names when by asn). Kept in ctx.answers until the
    data change (web.answer_cache, setting web.answer_cache_rows)."""
    query = census_query(params, ctx.week_ends)
    k = None if who.role == "operator" else ctx.settings.suppress_below
    country = None if params.country is None else params.country.upper()
    key = ("census", query, params.top, country, params.asn, k)
    found = ctx.answers.get(
        ctx.census.generation(), key, lambda: _census_rows(ctx, query, params, k)
    )
    return {
        "query": {
            "window": query.window,
            "week_ends": query.week_ends,
            "by": list(query.by),
            "family": query.family,
            "feed": query.feed,
            "from": query.date_from,
            "to": query.date_to,
            "top": params.top,
            "country": params.country,
            "asn": params.asn,
        },
        "cli": _cli_census(query, params.top),
        "unit": found.unit,
        "source": found.source,
        "notes": list(found.notes),
        "suppress_below": k,
        "suppressed": found.suppressed,
        **_cut(list(found.rows), params.limit, params.offset, ctx, url),
    }


def _product(ctx: WebContext, name: str) -> products.Product | None:
    return ctx.product(name)


def estimates_doc(
    ctx: WebContext,
    who: Principal,
    *,
    by: Literal["none", "country"] = "none",
    country: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    url: str | None = None,
) -> dict[str, Any]:
    """Weekly host estimates with their intervals, as `botcensus census --estimate`."""
    name = products.ESTIMATES_COUNTRY if by == "country" else products.ESTIMATES
    kept = _product(ctx, name)
    if kept is None or kept.rows is None:
        missing = "host estimates not built yet: `botcensus rollup` builds them"
        return {
            "cli": "",
            "unit": None,
            "source": None,
            "notes": [missing],
            "built": "",
            "current": False,
            "suppress_below": None,
            "suppressed": 0,
            **_cut([], limit, offset, ctx, url),
        }
    table = kept.rows
    chosen = None if country is None or by != "country" else country.upper()

    def protected() -> tuple[tuple[dict[str, Any], ...], int, int | None]:
        rows = table.to_pylist()
        covered, partial = ctx.census.coverage(table)
        for row, days, short in zip(rows, covered, partial, strict=True):
            row["days_covered"] = days
            row["partial"] = short
        rows, suppressed, k = _protect(rows, ("country",) if by == "country" else (), who, ctx)
        if chosen is not None:
            rows = [r for r in rows if r.get("country") == chosen]
        return tuple(_finite(r) for r in rows), suppressed, k

    operator = who.role == "operator"
    key = ("estimates", name, kept.built, kept.current, chosen, operator)
    rows, suppressed, k = ctx.answers.get(ctx.census.generation(), key, protected)
    notes = list(kept.notes)
    if not kept.current:
        notes.insert(
            0, f"built {kept.built}; the data or the day changed since (`botcensus rollup`)"
        )
    return {
        "cli": kept.cli,
        "unit": kept.unit,
        "source": kept.source,
        "notes": notes,
        "built": kept.built,
        "current": kept.current,
        "suppress_below": k,
        "suppressed": suppressed,
        **_cut(list(rows), limit, offset, ctx, url),
    }


def cleanup_doc(ctx: WebContext, who: Principal) -> dict[str, Any]:
    """Decay rate and half-life overall and per country, time to clean-up, as `botcensus
    cleanup --by country` prints them; groups below k suppressed. Kept in ctx.answers until
    the data change; each caller gets its own copy of the outer document."""
    kept = _product(ctx, products.CLEANUP)
    if kept is None:
        return _cleanup_doc(ctx, who, kept)
    key = ("cleanup", kept.built, kept.current, who.role == "operator")
    return dict(ctx.answers.get(ctx.census.generation(), key, lambda: _cleanup_doc(ctx, who, kept)))


def _cleanup_doc(ctx: WebContext, who: Principal, kept: products.Product | None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cli": "",
        "unit": None,
        "source": None,
        "built": "",
        "current": False,
        "suppress_below": None,
        "weekly": [],
        "decay": [],
        "marks": [],
        "survival": None,
    }
    if kept is None:
        return {**base, "notes": ["clean-up not built yet: `botcensus rollup` builds it"]}
    notes = list(kept.notes)
    if not kept.current:
        notes.insert(
            0, f"built {kept.built}; the data or the day changed since (`botcensus rollup`)"
        )
    document = kept.document or {}
    k = None if who.role == "operator" else ctx.settings.suppress_below
    decay = [dict(r) for r in document.get("decay", [])]
    for i, row in enumerate(decay):  # the first row is overall; later null groups: no country
        row["group"] = "all" if i == 0 else (row.get("group") or "unknown")
    decay = _withhold(decay[:1], k, ("first_count", "last_count")) + _withhold(
        decay[1:], k, ("first_count", "last_count")
    )
    survival = document.get("survival")
    if survival is not None:
        survival = [{**r, "group": r.get("group") or "all"} for r in survival]
        survival = _withhold(survival, k, ("identities",))
    weekly = [] if kept.rows is None else kept.rows.to_pylist()
    if k is not None:
        for row in weekly:
            for column in ("unique_ip", "unique_ip_hll", "hosts"):
                if row.get(column) is not None and row[column] < k:
                    row[column] = None
    return {
        **base,
        "cli": kept.cli,
        "unit": kept.unit,
        "source": kept.source,
        "notes": notes,
        "built": kept.built,
        "current": kept.current,
        "suppress_below": k,
        "weekly": [_finite(r) for r in weekly],
        "decay": decay,
        "marks": [_finite(m) for m in document.get("marks", [])],
        "survival": survival,
    }


def _withhold(
    rows: list[dict[str, Any]], k: int | None, sizes: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Per-group summary rows with the small groups (and enough others) withheld."""
    if k is None:
        return [_finite({**r, "suppressed": False}) for r in rows]
    hide = small_groups(rows, k, sizes)
    return [
        {"group": r.get("group"), "suppressed": True} if h else _finite({**r, "suppressed": False})
        for r, h in zip(rows, hide, strict=True)
    ]


def meta_doc(ctx: WebContext, who: Principal) -> dict[str, Any]:
    state = ctx.census.state()
    fresh = state.fresh
    return {
        "dataset": ctx.dataset.name,
        "first_day": state.first_day,
        "last_day": state.last_day,
        "week_ends": ctx.week_ends,
        "families": [str(v) for v in ctx.census.values("family")],
        "feeds": [str(v) for v in ctx.census.values("feed")],
        "countries": [str(v) for v in ctx.census.values("country")],
        "suppress_below": ctx.settings.suppress_below,
        "units": UNITS,
        "rollup": {
            "stale_days": len(fresh.stale_days),
            "stale_weeks": len(fresh.stale_weeks),
            "sketch_only_days": len(state.beyond),
        },
        "role": who.role,
        "label": who.label,
        "scope": who.scope.describe() if who.role != "public" else "aggregates only",
    }

"""What the dashboard shows that takes minutes over a full dataset: weekly host estimates
(overall and per country) and the clean-up (decay, half-life, time to clean-up per
country). `botcensus rollup` builds them with the calls the CLI makes (`census --estimate`,
`cleanup --by country`) and keeps the results; the web serves them as kept, saying when the
data changed since.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from botcensus.measure.census import CensusQuery
from botcensus.store import aggregates
from botcensus.times import utc_today

ESTIMATES: Final = "estimates-week"
ESTIMATES_COUNTRY: Final = "estimates-week-country"
CLEANUP: Final = "cleanup-country"
NAMES: Final = (ESTIMATES, ESTIMATES_COUNTRY, CLEANUP)


@dataclass(frozen=True, slots=True)
class Product:
    """A kept result: rows (census-like), or a JSON document (the clean-up)."""

    name: str
    rows: pa.Table | None
    document: dict[str, Any] | None
    unit: str | None
    source: str | None
    notes: tuple[str, ...]
    cli: str
    built: str
    current: bool
    """False when the sightings or sketches changed after it was built, or the day it was
    built in is over and its weeks reach that day (that day was not counted as covered)."""


def _estimates(dataset: Path, week_ends: str, today: date, by: tuple[str, ...]) -> dict[str, Any]:
    from botcensus.measure.census_run import census_of_dataset

    query = CensusQuery(window="week", week_ends=week_ends, by=by, today=today)
    result = census_of_dataset(dataset, query, estimate=True)
    flags = "".join(f" --by {g}" for g in by)
    return {
        "rows": result.rows,
        "unit": result.unit,
        "source": result.source,
        "notes": list(result.notes),
        "cli": f"botcensus census --data DIR --window week --week-ends {week_ends}{flags} "
        "--estimate --format json",
    }


def _cleanup(dataset: Path, week_ends: str, today: date) -> dict[str, Any]:
    from botcensus.measure.cleanup import CleanupQuery, cleanup
    from botcensus.report.cleanup_view import as_json
    from botcensus.store import connect, sightings_view
    from botcensus.store.sketches import read_sketches

    con = connect()
    try:
        query = CleanupQuery(by="country", week_ends=week_ends, today=today)
        try:
            result = cleanup(con, sightings_view(con, dataset), read_sketches(dataset), query)
        except ValueError as exc:  # no data: the page says why
            return {"document": None, "notes": [str(exc)], "unit": None, "source": None}
        document = json.loads(json.dumps(as_json(result), default=str))
        weekly = result.weekly
    finally:
        con.close()
    return {
        "rows": weekly,
        "document": document,
        "unit": result.unit,
        "source": result.source,
        "notes": list(result.notes),
        "cli": f"botcensus cleanup --data DIR --by country --week-ends {week_ends} --format json",
    }


BUILDERS: Final[dict[str, Callable[[Path, str, date], dict[str, Any]]]] = {
    ESTIMATES: lambda d, w, t: _estimates(d, w, t, ()),
    ESTIMATES_COUNTRY: lambda d, w, t: _estimates(d, w, t, ("country",)),
    CLEANUP: _cleanup,
}
"""Each builder gets the dataset, the week's last day and the UTC day it runs in (not over:
CensusQuery.today)."""


def _day_over(meta: dict[str, Any], rows: pa.Table | None, today: date) -> bool:
    """Whether the product was built on a day that is over now and its weeks reach that day:
    the week that held it was partial then and may be whole now."""
    built_on = meta.get("today")
    if not isinstance(built_on, str) or built_on == today.isoformat():
        return False
    if rows is None or "window_end" not in rows.column_names or rows.num_rows == 0:
        return False  # no weeks: none was partial for that day
    # a week within 7 days of that day: the estimates' partial week, or the clean-up's
    # last whole week, which the week holding that day followed
    last = max(rows["window_end"].to_pylist())
    return bool(last + timedelta(days=7) >= date.fromisoformat(built_on))


def _young(meta: dict[str, Any], min_age: float) -> bool:
    """Whether the product was built less than `min_age` seconds ago."""
    built = meta.get("built")
    if not min_age or not isinstance(built, str):
        return False
    try:
        age = (datetime.now(UTC) - datetime.fromisoformat(built)).total_seconds()
    except ValueError:
        return False
    return 0 <= age < min_age


def build_products(
    dataset: Path, week_ends: str = "sat", *, force: bool = False, min_age: float = 0.0
) -> list[str]:
    """Build every product whose data changed since it was built; the names built. One
    builder at a time (PRODUCTS_LOCK): a second waits, then finds them current. `min_age`:
    a product built less than this many seconds ago is kept although its data changed
    (`serve`'s periodic roll-up: a live sinkhole changes the data every turn, and the
    products take minutes at full scale); it is served as not current meanwhile."""
    from botcensus.store.files import locked
    from botcensus.store.layout import PRODUCTS_LOCK

    with locked(dataset / PRODUCTS_LOCK):
        return _build(dataset, week_ends, force, min_age)


def _build(dataset: Path, week_ends: str, force: bool, min_age: float) -> list[str]:
    token = aggregates.data_token(dataset)
    today = utc_today()
    built = []
    for name, builder in BUILDERS.items():
        kept = aggregates.read_product(dataset, name)
        rows, meta = kept if kept else (None, {})
        same = meta.get("week_ends") == week_ends
        if (
            not force
            and same
            and (
                (meta.get("token") == token and not _day_over(meta, rows, today))
                or _young(meta, min_age)
            )
        ):
            continue
        made = builder(dataset, week_ends, today)
        rows = made.pop("rows", None)
        meta = {
            **made,
            "token": token,
            "week_ends": week_ends,
            "today": today.isoformat(),
            "built": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        aggregates.write_product(dataset, name, rows, meta)
        built.append(name)
    return built


def _notes(value: object) -> tuple[str, ...]:
    return tuple(str(n) for n in value) if isinstance(value, list) else ()


def read(dataset: Path, name: str, token: str | None = None) -> Product | None:
    """A kept product, or None when `botcensus rollup` has not built it; `token` (the
    data's, when known) says whether it is current."""
    kept = aggregates.read_product(dataset, name)
    if kept is None:
        return None
    rows, meta = kept
    token = token if token is not None else aggregates.data_token(dataset)
    document = meta.get("document")
    return Product(
        name,
        rows,
        document if isinstance(document, dict) else None,
        None if meta.get("unit") is None else str(meta["unit"]),
        None if meta.get("source") is None else str(meta["source"]),
        _notes(meta.get("notes")),
        str(meta.get("cli", "")),
        str(meta.get("built", "")),
        meta.get("token") == token and not _day_over(meta, rows, utc_today()),
    )

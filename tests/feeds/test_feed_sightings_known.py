"""Feed sightings rolled up with what the ingest saw of the enrichment (one name per ASN, one
geo database) equal the general roll-up's and a text aggregation of the stored events, over
several files, overlapping days, duplicates, re-ingests, merges and a re-read file."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feed_cases import write_report

from botcensus.feeds import fused as feeds_fused
from botcensus.feeds import ingest
from botcensus.model import ADDRESS_KEY
from botcensus.store import as_name_of_asn, connect, sighting_files
from botcensus.store import feed_sightings as sightings_module
from botcensus.store.feed_events import FeedStore, feed_files
from botcensus.store.feed_facts import Facts
from botcensus.store.feed_sightings import rebuild_days

Pair = tuple[int | None, str | None]
ONE_NAME_EACH: list[Pair] = [(None, None), (3, "C-NET"), (7, "B-NET"), (9, None), (15169, "A")]
TWO_NAMES: list[Pair] = [*ONE_NAME_EACH, (3, "A-NET"), (7, None)]
NAMELESS_TWO: list[Pair] = [(None, None), (None, "X"), (5, "E")]


def _enrich(pairs: list[Pair], state: dict[str, Any]) -> Callable[[pa.Table], pa.Table]:
    """A geo database: each address in one (ASN, name) of `pairs` (drawn once per address),
    the database's name from `state` (None: no database); `state["none"]`: addresses left
    without any enrichment."""
    rng = random.Random(7)
    chosen: dict[str, Pair] = {}

    def step(table: pa.Table) -> pa.Table:
        ips = table["source_ip"].to_pylist()
        for ip in ips:
            if ip is not None and ip not in chosen:
                chosen[ip] = rng.choice(pairs)
        found = [chosen[ip] if ip is not None else (None, None) for ip in ips]
        bare = [ip in state.get("none", ()) for ip in ips]
        n = table.num_rows
        columns = {
            "source_cc": pa.array([None if b else "RO" for b in bare], pa.string()),
            "source_asn": pa.array(
                [None if b else f[0] for f, b in zip(found, bare, strict=True)], pa.int64()
            ),
            "source_as_name": pa.array(
                [None if b else f[1] for f, b in zip(found, bare, strict=True)], pa.string()
            ),
            "geo_db": pa.array([None if b else state["geo"] for b in bare], pa.string()),
        }
        for name, column in columns.items():
            at = table.schema.get_field_index(name)
            assert len(column) == n
            table = (
                table.set_column(at, name, column) if at >= 0 else table.append_column(name, column)
            )
        return table

    return step


def _row(rng: random.Random, start: datetime) -> dict[str, object]:
    at = start + timedelta(seconds=rng.randrange(3 * 86_400))  # three days
    n = rng.randrange(40)
    return {
        "timestamp": at.strftime("%Y-%m-%d %H:%M:%S"),
        "protocol": "tcp",
        "src_ip": f"5.14.0.{n + 1}" if n < 30 else f"2001:db8::{n:x}",
        "src_port": 40000 + rng.randrange(3),  # repeats: duplicates within and across files
        "src_asn": 8708,
        "src_geo": "RO",
        "dst_ip": "184.105.3.4",
        "dst_port": 80,
        "infection": rng.choice(["necurs", "andromeda"]),
    }


def _report(tmp_path: Path, name: str, rows: list[dict[str, object]]) -> Path:
    return write_report(tmp_path / f"2024-05-01-event4_sinkhole-{name}.csv", rows)


def _stored(data: Path) -> list[tuple[object, ...]]:
    """The stored sightings without the address key (tests/store/test_sighting_key.py)."""
    tables = [pq.read_table(f).drop_columns(list(ADDRESS_KEY)) for f in sighting_files(data)]
    rows = [r for t in tables for r in t.to_pylist()]
    return sorted((tuple(r.values()) for r in rows), key=str)


def _reference(data: Path) -> list[tuple[object, ...]]:
    """The sightings as text aggregates of every stored event (the rule of every merge)."""
    sql = (
        "SELECT CAST(time_source AS DATE), source_ip, bot_id, malware_name, sensor, feed_name, "  # noqa: S608
        "min(time_source), max(time_source), count(*), max(source_cc), max(source_asn), "
        f"{as_name_of_asn()}, max(geo_db) "
        "FROM read_parquet(?, union_by_name = true) WHERE source_ip IS NOT NULL "
        "GROUP BY ALL"
    )
    found = connect().execute(sql, [[str(f) for f in feed_files(data)]]).fetchall()
    return sorted(found, key=str)


class _Spy:
    """Counts which roll-up form wrote each day's sightings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.known = self.general = 0
        known, general = sightings_module._known_rollup, sightings_module._rollup

        def spy_known(*args: Any) -> Any:
            found = known(*args)
            self.known += found is not None
            return found

        def spy_general(*args: Any) -> Any:
            self.general += 1
            return general(*args)

        monkeypatch.setattr(sightings_module, "_known_rollup", spy_known)
        monkeypatch.setattr(sightings_module, "_rollup", spy_general)

    def take(self) -> tuple[int, int]:
        counts = (self.known, self.general)
        self.known = self.general = 0
        return counts


@pytest.mark.parametrize(
    ("pairs", "geo_later", "known"),
    [
        (ONE_NAME_EACH, "geo 1", True),
        (TWO_NAMES, "geo 1", False),
        (NAMELESS_TWO, "geo 1", False),
        (ONE_NAME_EACH, "geo 0", None),  # a second database later: the merge takes the general form
    ],
    ids=["one name per ASN", "two names for one ASN", "two names without ASN", "two databases"],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_sightings_equal_the_general_roll_up_run_after_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pairs: list[Pair],
    geo_later: str,
    known: bool | None,
    seed: int,
) -> None:
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, 22, tzinfo=UTC)
    rows = [_row(rng, start) for _ in range(300)]
    first = _report(tmp_path, "a", rows[:150] + rows[:20])  # duplicates within the file
    second = _report(tmp_path, "b", rows[100:250])  # and across files, on the same days
    third = _report(tmp_path, "c", rows[200:] + [_row(rng, start) for _ in range(60)])
    state: dict[str, Any] = {"geo": "geo 1", "none": {"5.14.0.2"}}
    enrich = _enrich(pairs, state)
    data = tmp_path / "data"
    spy = _Spy(monkeypatch)

    one = ingest([first, second], data, enrich)
    days = len(one.days)
    assert days >= 3
    assert one.total("duplicate") > 0
    if known is False:  # random addresses: most days hold both names, at least one does
        assert spy.general >= 1
        assert sum(spy.take()) == days
    else:
        assert spy.take() == (days, 0)
    assert _stored(data) == _reference(data)

    again = ingest([first], data, enrich)  # all duplicates: nothing new, nothing rewritten
    assert (again.total("stored"), again.sightings) == (0, 0)
    assert spy.take() == (0, 0)
    assert _stored(data) == _reference(data)

    state["geo"] = geo_later
    three = ingest([third], data, enrich)  # merged into the days' sightings
    assert three.total("stored") > 0
    if known is None:  # the days stored before hold the first database's name
        merged = len(set(three.days) & set(one.days))
        assert merged >= 1
        assert spy.take() == (len(three.days) - merged, merged)
    elif known is False:
        assert spy.general >= 1
        assert sum(spy.take()) == len(three.days)
    else:
        assert spy.take() == (len(three.days), 0)
    after = _stored(data)
    assert after == _reference(data)

    rebuild_days(data, sorted({*one.days, *three.days}))  # the general form from all events
    assert spy.take()[0] == 0
    assert _stored(data) == after


def test_a_re_read_file_keeps_no_facts_of_its_given_up_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's read stores several batches, then a blank line near the end gives it up; the
    database changes before the exact re-read. Only the re-read's rows count: one database, so
    the known form, and rows equal to the reference."""
    monkeypatch.setattr(feeds_fused, "BATCH_ROWS", 7)
    rng = random.Random(5)
    rows = [_row(rng, datetime(2024, 5, 1, tzinfo=UTC)) for _ in range(60)]
    path = _report(tmp_path, "late", rows)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join([*lines[:58], "\n", *lines[58:]]), encoding="utf-8")
    state: dict[str, Any] = {"geo": "given-up read"}
    rollback = FeedStore.rollback

    def changed_database(store: FeedStore, mark: Any) -> None:
        rollback(store, mark)
        state["geo"] = "re-read"

    monkeypatch.setattr(FeedStore, "rollback", changed_database)
    spy = _Spy(monkeypatch)
    data = tmp_path / "data"
    report = ingest([path], data, _enrich(ONE_NAME_EACH, state))
    assert (report.files[0].reader, report.files[0].reread is not None) == ("exact", True)
    assert spy.take() == (len(report.days), 0)
    stored = _stored(data)
    assert stored == _reference(data)
    assert {r[-1] for r in stored} == {"re-read"}


def test_the_store_keeps_facts_of_published_files_only(tmp_path: Path) -> None:
    store = FeedStore(tmp_path, "t")
    day = 19844  # 2024-05-01
    table = pa.table(
        {
            "event_hash": pa.array([bytes(16)], pa.binary(16)),
            "time_source": pa.array([day * 86_400_000_000], pa.timestamp("us", tz="UTC")),
            "source_asn": pa.array([3], pa.int64()),
            "source_as_name": ["C"],
            "geo_db": ["g"],
        }
    )
    mark = store.mark()
    store.write(table, store.new_rows(table)[1], "x")
    store.rollback(mark)
    assert store.commit() == {}
    assert store.written == {}
    store.write(table, store.new_rows(table)[1], "x")
    store.commit()
    names = store.written["2024-05-01"].names()
    assert names is not None
    assert names.to_pylist() == [{"asn": 3, "name": "C"}]
    assert store.written["2024-05-01"].geo_dbs == {"g"}


def test_facts_say_when_an_asn_came_with_two_names() -> None:
    facts = Facts()
    facts.add(
        pa.table({"source_asn": [3, None], "source_as_name": ["C", None], "geo_db": ["g", None]})
    )
    assert facts.names() is not None
    facts.add(pa.table({"source_asn": [3], "source_as_name": [None], "geo_db": ["g"]}))
    assert facts.names() is None  # (3, "C") and (3, none)
    bare = Facts()
    bare.add(pa.table({"source_asn": [3]}))  # rows without the enrichment: unknown
    assert bare.names() is None
    odd = Facts()
    odd.add(pa.table({"source_asn": ["3"], "source_as_name": ["C"], "geo_db": ["g"]}))
    assert odd.names() is None  # an ASN as text: not the enrichment's types, unknown

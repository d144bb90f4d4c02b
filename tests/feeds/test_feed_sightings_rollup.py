"""Feed sightings take the greatest geo database of their events and the AS name that came with
their ASN (compared as text, though the roll-up compares them through a sorted ENUM), however
they were merged."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feed_cases import fake_enrich, sinkhole_row, write_report

from botcensus.feeds import ingest
from botcensus.store import as_name_of_asn, connect, sighting_files
from botcensus.store.feed_events import feed_files
from botcensus.store.feed_sightings import feed_sightings, rebuild_days


def _enrich(as_name: str | None, geo_db: str) -> Callable[[pa.Table], pa.Table]:
    def step(table: pa.Table) -> pa.Table:
        table = fake_enrich(table)
        n = table.num_rows
        for name, value in (("source_as_name", as_name), ("geo_db", geo_db)):
            column = pa.array([value] * n, pa.string())
            table = table.set_column(table.schema.get_field_index(name), name, column)
        return table

    return step


def _sightings(data: Path) -> list[dict[str, object]]:
    rows = [r for f in sighting_files(data) for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: str(r["source_ip"]))


def test_the_greatest_name_and_database_win_in_every_merge(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # one host, one day, three runs enriched differently: names "B-NET" > "A-NET" > "A NET"
    for n, (as_name, geo_db) in enumerate(
        (("A-NET", "geo 2"), ("B-NET", "geo 1"), (None, "geo 10"))
    ):
        path = write_report(
            tmp_path / f"2024-05-01-event4_sinkhole-{n}.csv", [sinkhole_row(1, src_port=n + 1)]
        )
        ingest([path], data, _enrich(as_name, geo_db))
    merged = _sightings(data)
    assert [(r["hits"], r["source_as_name"], r["geo_db"]) for r in merged] == [
        (3, "B-NET", "geo 2")
    ]
    rebuild_days(data, ["2024-05-01"])
    assert _sightings(data) == merged
    whole = feed_sightings(feed_files(data)).to_pylist()
    assert [(r["hits"], r["source_as_name"], r["geo_db"]) for r in whole] == [(3, "B-NET", "geo 2")]


def test_a_day_without_any_name_keeps_it_empty(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-x.csv", [sinkhole_row(2)])
    ingest([path], data, _enrich(None, "geo"))
    assert [(r["source_as_name"], r["geo_db"]) for r in _sightings(data)] == [(None, "geo")]


def _geo_db(asn: int, as_name: str | None, geo_db: str) -> Callable[[pa.Table], pa.Table]:
    """A geo database that puts every address in one AS (as a second database release may)."""

    def step(table: pa.Table) -> pa.Table:
        table = _enrich(as_name, geo_db)(table)
        column = pa.array([asn] * table.num_rows, pa.int64())
        return table.set_column(table.schema.get_field_index("source_asn"), "source_asn", column)

    return step


def test_a_day_enriched_by_two_databases_keeps_each_name_with_its_number(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # the greater ASN comes with the lesser name: separate max() would pair 15169 with "LEVEL3"
    databases = ((3356, "LEVEL3", "geo A"), (15169, "GOOGLE", "geo B"))
    given = {(asn, name) for asn, name, _ in databases}
    for n, database in enumerate(databases):
        path = write_report(
            tmp_path / f"2024-05-01-event4_sinkhole-{n}.csv", [sinkhole_row(1, src_port=n + 1)]
        )
        ingest([path], data, _geo_db(*database))
    merged = _sightings(data)
    assert [(r["hits"], r["source_asn"], r["source_as_name"]) for r in merged] == [
        (2, 15169, "GOOGLE")
    ]
    rebuild_days(data, ["2024-05-01"])
    assert _sightings(data) == merged
    whole = feed_sightings(feed_files(data)).to_pylist()
    assert {(r["source_asn"], r["source_as_name"]) for r in whole} <= given
    assert [(r["source_asn"], r["source_as_name"]) for r in whole] == [(15169, "GOOGLE")]


def test_a_name_missing_from_the_greatest_number_is_not_borrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for n, database in enumerate(((7, None, "geo A"), (3, "THREE", "geo B"))):
        path = write_report(
            tmp_path / f"2024-05-01-event4_sinkhole-{n}.csv", [sinkhole_row(1, src_port=n + 1)]
        )
        ingest([path], data, _geo_db(*database))
    assert [(r["source_asn"], r["source_as_name"]) for r in _sightings(data)] == [(7, None)]
    rebuild_days(data, ["2024-05-01"])
    assert [(r["source_asn"], r["source_as_name"]) for r in _sightings(data)] == [(7, None)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_roll_up_pairs_as_every_other_merge_does(tmp_path: Path, seed: int) -> None:
    """Over random events of a few hosts, the sightings' (ASN, name) equal as_name_of_asn's."""
    rng = random.Random(seed)
    pairs = [(None, None), (None, "X"), (3, None), (3, "C"), (3, "A"), (7, "B"), (7, None)]
    chosen = [rng.choice(pairs) for _ in range(400)]
    start = datetime(2024, 5, 1, tzinfo=UTC)
    events = pa.table(
        {
            "time_source": pa.array([start] * len(chosen), pa.timestamp("us", tz="UTC")),
            "source_ip": [f"192.0.2.{rng.randrange(12)}" for _ in chosen],
            "bot_id": pa.nulls(len(chosen), pa.string()),
            "malware_name": ["necurs"] * len(chosen),
            "sensor": ["s"] * len(chosen),
            "feed_name": ["f"] * len(chosen),
            "source_cc": ["RO"] * len(chosen),
            "source_asn": pa.array([p[0] for p in chosen], pa.int64()),
            "source_as_name": pa.array([p[1] for p in chosen], pa.string()),
            "geo_db": ["geo"] * len(chosen),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(events, path)
    con = connect()
    con.register("e", events)
    expected = con.execute(
        f"SELECT source_ip, max(source_asn), {as_name_of_asn()} FROM e GROUP BY source_ip"  # noqa: S608
    ).fetchall()
    got = feed_sightings([path]).to_pylist()
    assert sorted((r["source_ip"], r["source_asn"], r["source_as_name"]) for r in got) == sorted(
        expected
    )


def test_batches_are_shaped_beside_the_write_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next batch is read and shaped in a helper thread while this one is written: the
    same sightings as a plain loop, in the reader's order."""
    import threading

    from botcensus.store import feed_sightings as sightings_module

    monkeypatch.setattr(sightings_module, "BATCH_ROWS", 8)  # many batches
    shaped_in: set[str] = set()
    shape_known = sightings_module._shape_known

    def spying(*args: object) -> pa.Table:
        shaped_in.add(threading.current_thread().name)
        return shape_known(*args)

    monkeypatch.setattr(sightings_module, "_shape_known", spying)
    (tmp_path / "in").mkdir()
    rows = [sinkhole_row(i) for i in range(100)]
    path = write_report(tmp_path / "in" / "2024-05-01-event4_sinkhole-a.csv", rows)
    data = tmp_path / "data"
    report = ingest([path], data, fake_enrich)
    assert report.sightings == 100
    assert shaped_in
    assert threading.current_thread().name not in shaped_in
    assert [r["source_ip"] for r in _sightings(data)] == sorted(str(r["src_ip"]) for r in rows)
    assert len(_sightings(data)) == 100


def _sixty_without_sightings(tmp_path: Path, why: str) -> tuple[Path, Path]:
    """Ingest a report of 60 rows whose sightings fail to be written (the caller injects
    the failure): every row stored, the error names `why`, no sightings file left. The
    report's path and the dataset."""
    (tmp_path / "in").mkdir()
    path = write_report(
        tmp_path / "in" / "2024-05-01-event4_sinkhole-a.csv", [sinkhole_row(i) for i in range(60)]
    )
    data = tmp_path / "data"
    report = ingest([path], data, fake_enrich)
    assert report.files[0].stored == 60
    assert report.sightings_error is not None
    assert why in report.sightings_error
    assert [p for p in (data / "sightings").rglob("*") if p.is_file()] == []
    return path, data


def test_a_batch_that_fails_to_shape_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botcensus.store import feed_sightings as sightings_module

    monkeypatch.setattr(sightings_module, "BATCH_ROWS", 8)
    calls: list[int] = []
    shape_known = sightings_module._shape_known

    def failing(*args: object) -> pa.Table:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("injected: disk full while shaping")
        return shape_known(*args)

    monkeypatch.setattr(sightings_module, "_shape_known", failing)
    path, data = _sixty_without_sightings(tmp_path, "injected")
    assert sighting_files(data) == []
    monkeypatch.setattr(sightings_module, "_shape_known", shape_known)
    again = ingest([path], data, fake_enrich)  # the next ingest writes them
    assert again.files[0].duplicate == 60
    assert len(_sightings(data)) == 60


def test_a_write_that_fails_part_way_stops_the_helper_and_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sightings' file write fails at its third batch (a full disk) while the helper
    thread is reading the next: nothing is published, nothing is left, and the next ingest
    writes the day."""
    import types

    from botcensus.store import feed_sightings as sightings_module

    monkeypatch.setattr(sightings_module, "BATCH_ROWS", 8)
    writes: list[int] = []

    class Failing(pq.ParquetWriter):  # type: ignore[misc]
        def write_table(self, table: pa.Table, row_group_size: int | None = None) -> None:
            writes.append(1)
            if len(writes) == 3:
                raise OSError(28, "No space left on device (injected)")
            super().write_table(table, row_group_size)

    fake = types.SimpleNamespace(ParquetWriter=Failing, read_metadata=pq.read_metadata)
    monkeypatch.setattr(sightings_module, "pq", fake)
    path, data = _sixty_without_sightings(tmp_path, "No space left")
    writes.clear()  # the disk still full: the pending day cannot be rebuilt either
    blocked = ingest([path], data, fake_enrich)
    assert blocked.files == []  # nothing read, so the mark is not overwritten
    assert blocked.exit_code == 2
    assert blocked.sightings_error is not None
    assert "left pending (2024-05-01) could not be rebuilt" in blocked.sightings_error
    assert "No space left" in blocked.sightings_error
    assert (data / "feeds" / "sightings-pending.json").exists()
    monkeypatch.setattr(sightings_module, "pq", pq)
    again = ingest([path], data, fake_enrich)
    assert len(_sightings(data)) == 60
    assert (again.rebuilt_days, again.rebuilt, again.sightings) == (("2024-05-01",), 60, 0)
    from botcensus.cli.feeds_run import summary

    said = "\n".join(summary(again))
    assert "sightings of 1 day(s) an earlier ingest left pending rebuilt" in said
    assert "(2024-05-01): 60 sightings" in said
    assert ingest([path], data, fake_enrich).rebuilt_days == ()  # the mark is gone

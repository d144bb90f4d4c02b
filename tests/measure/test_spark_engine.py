"""The Spark engine gives the DuckDB engine's answers on the same dataset (issue 15): the exact
census rows (counts, change columns, rank, order, types) and the sketch roll-up's bytes.

Spark runs `local[2]` in one session shared by the test session (tests/conftest.py); where
PySpark or Java is missing these tests skip with the reason, and under CI=true they fail.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from botcensus.cli import main
from botcensus.measure.census import CensusQuery
from botcensus.measure.census_run import census_of_dataset
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store.sightings import sighting_files, write_sightings
from botcensus.store.sketch_build import sketch_sightings
from botcensus.store.sketches import SKETCH_KEYS

FIRST = date(2011, 3, 10)  # a Thursday: the first and last weeks are partial
DAYS = 12
COUNTRIES = ["US", "IN", "BR", "DE", None]
FAMILIES = ["rustock", "rustock", "conficker", None]


def _address(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8::{rng.randrange(1, 400):x}"
    return f"10.{rng.randrange(4)}.{rng.randrange(40)}.{rng.randrange(1, 60)}"


def _sightings(seed: int, sensor: str, feed: str, n: int) -> pa.Table:
    """Random but fixed daily sightings: unique per (day, ip, bot id, family, sensor, feed)."""
    rng = random.Random(seed)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _ in range(n):
        day = FIRST + timedelta(days=rng.randrange(DAYS))
        ip = _address(rng)
        bot = rng.choice([None, None, f"bot-{rng.randrange(300)}"])
        family = rng.choice(FAMILIES)
        seen = datetime(day.year, day.month, day.day, rng.randrange(24), tzinfo=UTC)
        asn = rng.choice([64500, 64501, 64502, None])
        rows[(day, ip, bot, family)] = {
            "day": day, "source_ip": ip, "bot_id": bot, "malware_family": family,
            "sensor": sensor, "feed_name": feed, "first_seen": seen, "last_seen": seen,
            "hits": rng.randrange(1, 50), "source_cc": rng.choice(COUNTRIES),
            "source_asn": asn, "source_as_name": None, "geo_db": "test",
        }  # fmt: skip
    return pa.Table.from_pylist(list(rows.values()), schema=SIGHTING_SCHEMA)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sinkhole sensors and a feed, over twelve days (three partial weeks)."""
    data = tmp_path_factory.mktemp("lake")
    write_sightings(_sightings(1, "sink-a", "botcensus-sinkhole", 1500), data, "sinkhole")
    write_sightings(_sightings(2, "sink-b", "botcensus-sinkhole", 1000), data, "sinkhole-b")
    write_sightings(_sightings(3, "shadowserver", "shadowserver-sinkhole", 1000), data, "feeds")
    return data


QUERIES = {
    "week": CensusQuery(),
    "day-by-country": CensusQuery(window="day", by=("country",)),
    "week-mon-by-asn-family": CensusQuery(week_ends="mon", by=("asn", "family")),
    "week-sun-by-sensor-feed": CensusQuery(week_ends="sun", by=("sensor", "feed")),
    "unclaimed-by-family": CensusQuery(by=("family",), include_unclaimed=True),
    "one-family-one-feed-range": CensusQuery(
        window="day",
        by=("country",),
        family="rustock",
        feed="botcensus-sinkhole",
        date_from=date(2011, 3, 14),
        date_to=date(2011, 3, 27),
    ),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_spark_census_rows_are_duckdbs(spark: Any, dataset: Path, name: str) -> None:
    from botcensus.measure.spark import census_rows

    query = QUERIES[name]
    duck = census_of_dataset(dataset, query).rows
    ours = census_rows(spark, dataset, query)
    assert duck.num_rows >= 3
    assert ours.schema.names == duck.schema.names
    assert ours.schema.types == duck.schema.types
    assert ours.to_pylist() == duck.to_pylist()


def test_spark_top_keeps_the_same_groups(spark: Any, dataset: Path) -> None:
    from botcensus.measure.spark import census_rows

    query = CensusQuery(by=("country",))
    duck = census_of_dataset(dataset, query, top=2).rows
    assert census_rows(spark, dataset, query, top=2).to_pylist() == duck.to_pylist()


def test_spark_census_of_an_empty_dataset_is_empty(spark: Any, tmp_path: Path) -> None:
    from botcensus.measure.spark import census_rows

    rows = census_rows(spark, tmp_path, CensusQuery(by=("country",)))
    assert rows.num_rows == 0
    assert (
        rows.schema.names
        == census_of_dataset(tmp_path, CensusQuery(by=("country",))).rows.schema.names
    )


def test_spark_sketches_are_byte_for_byte_ours(spark: Any, dataset: Path) -> None:
    from botcensus.measure.spark import sketch_rows

    table = pa.concat_tables(pq.read_table(f) for f in sighting_files(dataset))
    ours = sketch_sightings(table.cast(SIGHTING_SCHEMA))
    theirs = sketch_rows(spark, dataset)
    assert theirs.schema == ours.schema
    assert theirs.num_rows == ours.num_rows > 100

    def keyed(rows: pa.Table) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {tuple(r[k] for k in SKETCH_KEYS): r for r in rows.to_pylist()}

    assert keyed(theirs) == keyed(ours)


@pytest.mark.parametrize("days_per_query", [1, 2, 1000])
def test_spark_sketches_a_few_days_per_query_in_key_order(
    spark: Any, dataset: Path, days_per_query: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query's images all come to the driver at once (spark.driver.maxResultSize), so the
    roll-up goes a few days per query: same rows, same bytes, same order, whatever the
    number of days per query."""
    from botcensus.measure import spark as engine

    monkeypatch.setattr(engine, "SKETCH_DAYS_PER_QUERY", days_per_query)
    table = pa.concat_tables(pq.read_table(f) for f in sighting_files(dataset))
    ours = sketch_sightings(table.cast(SIGHTING_SCHEMA))
    assert len(set(ours["day"].to_pylist())) > 2  # several queries when 1 or 2
    assert engine.sketch_rows(spark, dataset).to_pylist() == ours.to_pylist()


def test_sketches_from_either_engine_merge_with_the_others(spark: Any, dataset: Path) -> None:
    """Spark's union of its own images and ours estimates what ours alone does."""
    from botcensus.measure.spark import sketch_rows
    from botcensus.store import sketch_build as sk

    theirs = sketch_rows(spark, dataset)
    half = theirs.num_rows // 2
    table = pa.concat_tables(pq.read_table(f) for f in sighting_files(dataset))
    ours = sketch_sightings(table.cast(SIGHTING_SCHEMA))
    mixed = theirs["ip_hll"].to_pylist()[:half] + ours["ip_hll"].to_pylist()[half:]
    assert sk.hll_union(mixed) == sk.hll_union(ours["ip_hll"].to_pylist())


def test_census_engine_spark_on_the_command_line(spark: Any, dataset: Path) -> None:
    runner = CliRunner()
    args = ["census", "--data", str(dataset), "--by", "country", "--format", "json"]
    duck = runner.invoke(main, args)
    assert duck.exit_code == 0, duck.output
    on_spark = runner.invoke(main, [*args, "--engine", "spark", "--master", "local[2]"])
    assert on_spark.exit_code == 0, on_spark.output
    assert json.loads(on_spark.stdout) == json.loads(duck.stdout)


def test_census_engine_spark_refuses_estimates(dataset: Path) -> None:
    result = CliRunner().invoke(
        main, ["census", "--data", str(dataset), "--engine", "spark", "--estimate"]
    )
    assert result.exit_code == 2
    assert "--estimate runs on --engine duckdb only" in result.output


def test_rollup_engine_spark_writes_our_sketch_files(
    spark: Any, dataset: Path, tmp_path: Path
) -> None:
    """`rollup --engine spark` and `rollup` write the same sketch files, byte for byte in
    every image, day by day; addresses in other spellings are hashed by the same rule."""
    import shutil

    odd = _sightings(4, "sink-c", "botcensus-sinkhole", 60)
    spellings = ["2001:DB8::1", "::ffff:10.0.0.1", "10.0.0.1", "2001:db8:0:0::1"]
    odd = odd.set_column(
        odd.schema.get_field_index("source_ip"),
        "source_ip",
        pa.array([spellings[i % 4] for i in range(odd.num_rows)]),
    )
    runner = CliRunner()
    trees = {}
    for engine in ("duckdb", "spark"):
        data = tmp_path / engine
        shutil.copytree(dataset, data)
        write_sightings(odd, data, "sinkhole-c")
        args = ["rollup", "--data", str(data), "--engine", engine, "--master", "local[2]"]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        trees[engine] = {
            f.relative_to(data).as_posix(): pq.read_table(f).to_pylist()
            for f in sorted((data / "sketches").glob("date=*/*.parquet"))
        }
    assert len(trees["duckdb"]) == DAYS
    assert trees["spark"] == trees["duckdb"]
    # one address in four spellings is one address to both
    assert any(r["sensor"] == "sink-c" for rows in trees["spark"].values() for r in rows)


def _as_version_1(path: Path) -> None:
    """Rewrite a sightings file as version 1 wrote it: no key columns, `sightings/1`."""
    from botcensus.model import ADDRESS_KEY, SCHEMA_KEY

    table = pq.read_table(path).drop_columns(list(ADDRESS_KEY))
    pq.write_table(table.replace_schema_metadata({SCHEMA_KEY: "sightings/1"}), path)


@pytest.fixture(scope="module")
def mixed(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset with one day's files as version 1 (no address key) and the rest version 2."""
    import shutil

    data = tmp_path_factory.mktemp("mixed") / "lake"
    shutil.copytree(dataset, data)
    day = sorted((data / "sightings").iterdir())[3]
    for path in sorted(day.glob("*.parquet")):
        _as_version_1(path)
    return data


def test_a_version_2_dataset_is_counted_by_the_key(spark: Any, dataset: Path) -> None:
    """Every file has the key: both engines count by it, and the text gives the same rows."""
    from botcensus.measure.census import KEY, TEXT
    from botcensus.measure.spark import address_columns, census_rows

    assert address_columns(dataset) == KEY
    query = CensusQuery(by=("country",))
    by_key = census_rows(spark, dataset, query)
    assert by_key.to_pylist() == census_rows(spark, dataset, query, address=TEXT).to_pylist()
    assert by_key.to_pylist() == census_of_dataset(dataset, query).rows.to_pylist()


@pytest.mark.parametrize("name", ["week", "day-by-country", "unclaimed-by-family"])
def test_a_mixed_dataset_falls_back_to_the_text(
    spark: Any, dataset: Path, mixed: Path, name: str
) -> None:
    """Version-1 and version-2 files together: counted by the text, the same rows as the
    all-version-2 dataset, on both engines."""
    from botcensus.measure.census import TEXT
    from botcensus.measure.spark import address_columns, census_rows

    assert address_columns(mixed) == TEXT
    query = QUERIES[name]
    expected = census_of_dataset(dataset, query).rows.to_pylist()
    assert census_rows(spark, mixed, query).to_pylist() == expected
    assert census_of_dataset(mixed, query).rows.to_pylist() == expected


def test_unclaimed_note_is_the_same_by_key_and_by_text(
    spark: Any, dataset: Path, mixed: Path
) -> None:
    from botcensus.measure.census import KEY, TEXT
    from botcensus.measure.spark import _unclaimed, sightings_frame
    from botcensus.measure.spark import census_of_dataset as spark_census

    query = CensusQuery(by=("country",))
    sightings_frame(spark, dataset)
    note = _unclaimed(spark, query, KEY)
    assert note is not None
    assert note.startswith("left out ")
    assert _unclaimed(spark, query, TEXT) == note
    assert note in census_of_dataset(dataset, query).notes
    assert note in spark_census(mixed, query, master="local[2]").notes


def test_sketch_bytes_do_not_depend_on_the_key(spark: Any, dataset: Path, mixed: Path) -> None:
    """Sketches hash the address text: version-1 files sketch to the same bytes."""
    from botcensus.measure.spark import sketch_rows

    v2 = sketch_rows(spark, dataset)
    assert sketch_rows(spark, mixed).to_pylist() == v2.to_pylist()
    v1 = pa.concat_tables(
        pq.read_table(f).drop_columns(["source_ip_hi", "source_ip_lo"])
        for f in sighting_files(dataset)
    )
    assert sketch_sightings(v1).to_pylist() == v2.to_pylist()


def test_spark_census_shuffles_the_rows_once(spark: Any, dataset: Path) -> None:
    """Counted by grouping (census.Dialect.grouped) over rows partitioned by window and
    country: the rows are shuffled once, by those (and the rows with a bot id once, apart),
    no Expand multiplies them, and the only other exchanges move the per-group counts."""
    from botcensus.measure.census import SPARK, census_sql
    from botcensus.measure.spark import address_columns, sightings_frame

    sightings_frame(spark, dataset)
    sql, params = census_sql(
        CensusQuery(by=("country",)), "sightings", SPARK, address=address_columns(dataset)
    )
    plan = spark.sql(f"EXPLAIN {sql}", args=params).collect()[0][0]
    assert sorted(re.findall(r"\bExchange (\w+)\(.*, (\w+), \[plan_id", plan)) == [
        ("hashpartitioning", "ENSURE_REQUIREMENTS"),  # the per-group counts
        ("hashpartitioning", "REPARTITION_BY_COL"),  # the rows
        ("hashpartitioning", "REPARTITION_BY_COL"),  # the rows with a bot id
        ("rangepartitioning", "ENSURE_REQUIREMENTS"),  # ORDER BY, over the result
    ]
    assert "Expand" not in plan


def test_a_damaged_sightings_file_is_quarantined_and_the_rest_counted(
    spark: Any, dataset: Path, tmp_path: Path
) -> None:
    """A truncated sightings file makes Spark's read fail in its JVM: the file goes to
    quarantine with its reason (as the DuckDB engine does) and the census counts the rest,
    the same rows as DuckDB's on what is left, instead of a Java stack trace."""
    import shutil

    from botcensus.measure.spark import census_of_dataset as spark_census
    from botcensus.store import layout

    data = tmp_path / "lake"  # the sightings only: no sketches for DuckDB to fall back on
    shutil.copytree(dataset / layout.SIGHTINGS, data / layout.SIGHTINGS)
    victim = sighting_files(data)[3]
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 2])
    query = CensusQuery(by=("country",))
    ours = spark_census(data, query, master="local[2]")
    assert not victim.exists()
    moved = data / layout.QUARANTINE_PARQUET / layout.SIGHTINGS / victim.parent.name / victim.name
    assert moved.read_bytes() == whole[: len(whole) // 2]
    assert "Parquet" in moved.with_name(moved.name + ".txt").read_text()
    duck = census_of_dataset(data, query).rows
    assert ours.rows.to_pylist() == duck.to_pylist()
    assert ours.rows.num_rows >= 3
    untouched = census_of_dataset(dataset, query).rows  # the file's rows are really gone
    assert ours.rows.to_pylist() != untouched.to_pylist()

"""The Spark engine: the census SQL and the sketch roll-up run by Spark SQL over the dataset.

The SQL is the DuckDB engine's (measure/census.py writes it once, with a `Dialect` for the
few spellings that differ), so both engines give the same exact rows for the same dataset;
the sketches are Spark's own `hll_sketch_agg` / `theta_sketch_agg`, whose images are the
bytes store/sketch_build.py writes (tests/measure/test_spark_engine.py checks both). PySpark
is the optional extra `botcensus[spark]`: nothing here is imported unless it is asked for.

    spark = session("local[*]")          # or "spark://host:7077", "yarn", ...
    rows = census_rows(spark, dataset, CensusQuery(by=("country",)))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from botcensus.measure.census import (
    KEY,
    SPARK,
    TEXT,
    Address,
    CensusQuery,
    census_with_change_sql,
    distinct_addresses,
)
from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import layout
from botcensus.store.files import area_files, day_files, day_partitions
from botcensus.store.sighting_key import all_keyed
from botcensus.store.sketch_images import canonical_hll, canonical_theta
from botcensus.store.sketches import SKETCH_KEYS, SKETCH_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from botcensus.measure.census_run import CensusResult

DEFAULT_MASTER: Final = "local[*]"
SKETCH_LG_K: Final = 12
"""lgK of every sketch image (store/sketch_build.py's HLL_LG_K and THETA_LG_K)."""
MISSING: Final = (
    "the Spark engine needs PySpark and a Java runtime (17 or later): "
    "pip install 'botcensus[spark]'"
)
_SQL_TYPES: Final = {
    pa.date32(): "DATE",
    pa.string(): "STRING",
    pa.int64(): "BIGINT",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP",
}


LOCAL_JAVA_OPTIONS: Final = "-XX:+UseParallelGC"
"""The JVM of a local session (driver and executor in one): the throughput collector, not
G1, for batch queries that allocate many short-lived rows (the census at 3x Rustock: 5-9%
less CPU, BENCHMARKS.md). Read when the JVM starts, so it holds for a session this module
starts; cluster masters keep their own settings."""


class SparkUnavailableError(RuntimeError):
    """PySpark is not installed, or Spark cannot start (no Java)."""


def session(master: str = DEFAULT_MASTER, *, app: str = "botcensus") -> SparkSession:
    """A Spark session on `master` (getOrCreate: a running one is reused) with UTC as its
    time zone, as the census's days are UTC days."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailableError(f"{MISSING} ({exc})") from None
    builder: Any = SparkSession.builder
    if master.startswith("local"):  # one machine: the driver listens on loopback only
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.extraJavaOptions", LOCAL_JAVA_OPTIONS)
        )
    try:
        spark: SparkSession = (
            builder.master(master)
            .appName(app)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.ansi.enabled", "true")
            .getOrCreate()
        )
    except Exception as exc:  # no Java, or the master cannot be reached
        raise SparkUnavailableError(f"Spark did not start on {master}: {exc}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _ddl(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {_SQL_TYPES[f.type]}" for f in schema)


def sightings_frame(
    spark: SparkSession,
    dataset: Path,
    view: str = "sightings",
    *,
    files: list[Path] | None = None,
) -> DataFrame:
    """The dataset's daily sightings as a Spark DataFrame, registered as temporary view
    `view`: the same files the DuckDB engine reads (store's listing of day partitions), or
    only `files` of them."""
    if files is None:
        files = area_files(dataset / layout.SIGHTINGS)
    # file: URIs, so a cluster whose default file system is HDFS reads the shared mount
    # (not Path.as_uri: Hadoop does not decode the %3D it would make of date=)
    uris = [f"file://{f.absolute()}" for f in files]
    if uris:
        # The schema given, not inferred: no job reads every footer first, a column a file
        # lacks reads as null (DuckDB's union_by_name), and no partition column is added.
        frame = spark.read.schema(_ddl(SIGHTING_SCHEMA)).parquet(*uris)
    else:
        frame = spark.createDataFrame([], _ddl(SIGHTING_SCHEMA))
    frame.createOrReplaceTempView(view)
    return frame


def arrow_of(frame: DataFrame) -> pa.Table:
    """A Spark result as Arrow with the types DuckDB gives (Spark hands long-offset text and
    bytes, and marks some columns not null)."""
    table: pa.Table = frame.toArrow()
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind))
    return table.cast(pa.schema(fields))


def address_columns(dataset: Path) -> Address:
    """How to count the dataset's distinct addresses: by the key where every sightings file
    carries it (version 2; its footer says so: the driver reads 95 footers in well under a
    second), by the text otherwise. The counts are the same; the key halves Spark's
    shuffle."""
    return KEY if all_keyed(area_files(dataset / layout.SIGHTINGS)) else TEXT


PARTITION_BYTES: Final = "spark.sql.adaptive.advisoryPartitionSizeInBytes"
CENSUS_PARTITION_BYTES: Final = "8m"
"""What `census_rows` asks of adaptive execution for the census's shuffle partitions
instead of Spark's 64 MiB: the census shuffles every row once, partitioned by window and
group (census.Dialect.grouped), and smaller partitions keep each task's grouping smaller;
10-18% less CPU at 3x Rustock (BENCHMARKS.md)."""


def census_rows(
    spark: SparkSession,
    dataset: Path,
    query: CensusQuery,
    *,
    top: int | None = None,
    address: Address | None = None,
) -> pa.Table:
    """The exact census with its change columns and rank, computed by Spark SQL from the
    dataset's sightings (the rows `census_with_change` gives on DuckDB); `address`: the
    columns counting distinct addresses (default: `address_columns`)."""
    sightings_frame(spark, dataset)
    if address is None:
        address = address_columns(dataset)
    sql, params = census_with_change_sql(query, "sightings", SPARK, covered=True, address=address)
    previous = spark.conf.get(PARTITION_BYTES, None)
    spark.conf.set(PARTITION_BYTES, CENSUS_PARTITION_BYTES)
    try:
        rows = arrow_of(spark.sql(sql, args=params))
    finally:  # the session's own setting again
        if previous is None:
            spark.conf.unset(PARTITION_BYTES)
        else:
            spark.conf.set(PARTITION_BYTES, previous)
    if top is not None:
        import pyarrow.compute as pc

        rows = rows.filter(pc.less_equal(rows["rank"], top))
    return rows


def sketch_sql(view: str = "sightings") -> str:
    """SKETCH_SCHEMA rows from a sightings view, by Spark's own DataSketches functions."""
    keys = ", ".join(SKETCH_KEYS)
    order = ", ".join(f"{k} NULLS LAST" for k in SKETCH_KEYS)
    k = SKETCH_LG_K
    return f"""
        SELECT {keys}, count(*) AS rows, CAST(coalesce(sum(hits), 0) AS BIGINT) AS hits,
               hll_sketch_agg(source_ip, {k}) AS ip_hll,
               theta_sketch_agg(source_ip, {k}) AS ip_theta,
               CASE WHEN count(bot_id) > 0 THEN hll_sketch_agg(bot_id, {k}) END AS bot_id_hll
        FROM {view}
        GROUP BY {keys}
        ORDER BY {order}
    """  # noqa: S608 (constant key names and a view name of ours)


SKETCH_DAYS_PER_QUERY: Final = 7
"""Days of sightings `sketch_rows` sketches per Spark query. A query's images all come to
the driver at once, and Spark refuses more than `spark.driver.maxResultSize` (1 GiB by
default): one query over 95 days of 10x Rustock made 1.06 GiB in 17 of its tasks. A week
of that is about 80 MiB."""


def sketch_rows(spark: SparkSession, dataset: Path) -> pa.Table:
    """The sketch roll-up (store/sketch_build.sketch_sightings) of the dataset's sightings,
    made by Spark: the same keys, counts and sketch bytes, in key order. Sketched a week of
    day partitions per query (every key holds one day, so no key spans two queries)."""
    days = [d for _, d in day_partitions(dataset / layout.SIGHTINGS).days]
    parts = []
    for start in range(0, max(len(days), 1), SKETCH_DAYS_PER_QUERY):
        files = [f for d in days[start : start + SKETCH_DAYS_PER_QUERY] for f in day_files(d)]
        sightings_frame(spark, dataset, files=files)
        table = arrow_of(spark.sql(sketch_sql())).select(SKETCH_SCHEMA.names)
        parts.append(canonical_images(table).cast(SKETCH_SCHEMA))
    return pa.concat_tables(parts)


class SparkSketcher:
    """store.sketches.sketch_days's `build` on Spark (`botcensus rollup --engine spark`): one
    day's sightings in, sketch rows out, the bytes store/sketch_build.sketch_sightings makes.
    The session starts on the first day that needs sketching (none: no JVM is started);
    `close` ends it unless it was running before."""

    def __init__(self, master: str = DEFAULT_MASTER) -> None:
        self.master = master
        self._spark: SparkSession | None = None
        self._ours = False

    def __call__(self, sightings: pa.Table) -> pa.Table:
        from botcensus.ipaddr import canonical_ips

        if self._spark is None:
            from pyspark.sql import SparkSession

            self._ours = SparkSession.getActiveSession() is None
            self._spark = session(self.master)
        table = sightings.select([*SKETCH_KEYS, "source_ip", "bot_id", "hits"])
        at = table.schema.get_field_index("source_ip")
        # the address rule of our writer (ipaddr.canonical_ips), before Spark hashes the text
        table = table.set_column(at, "source_ip", canonical_ips(table["source_ip"]))
        self._spark.createDataFrame(table).createOrReplaceTempView("day_sightings")
        rows = arrow_of(self._spark.sql(sketch_sql("day_sightings")))
        return canonical_images(rows.select(SKETCH_SCHEMA.names)).cast(SKETCH_SCHEMA)

    def close(self) -> None:
        if self._spark is not None and self._ours:
            self._spark.stop()
        self._spark = None


def canonical_images(table: pa.Table) -> pa.Table:
    """Sketch rows with every image in canonical form (store/sketch_images.py): Spark's
    small sketches depend on the order its partitions fed them; ours do not."""
    for name, canonical in (
        ("ip_hll", canonical_hll),
        ("ip_theta", canonical_theta),
        ("bot_id_hll", canonical_hll),
    ):
        images = [None if v is None else canonical(v) for v in table[name].to_pylist()]
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, pa.array(images, pa.binary()))
    return table


def census_of_dataset(
    dataset: Path, query: CensusQuery, *, master: str = DEFAULT_MASTER, top: int | None = None
) -> CensusResult:
    """`botcensus census --engine spark`: the exact census of a dataset's sightings on
    `master`. Days only sketches hold (raw sightings expired) are not counted here: a note
    says which (the DuckDB engine counts them from the sketches)."""
    from pyspark.sql import SparkSession

    from botcensus.measure.census_run import CensusResult, partial_note
    from botcensus.store.sketches import days_beyond_sightings

    running = SparkSession.getActiveSession()
    spark = session(master)
    try:
        address = address_columns(dataset)
        try:
            rows = census_rows(spark, dataset, query, top=top, address=address)
        except Exception:  # Spark's errors come from its JVM, untyped; re-raised
            if not _quarantined_damaged(dataset):
                raise
            address = address_columns(dataset)  # what is left
            rows = census_rows(spark, dataset, query, top=top, address=address)
        notes = []
        beyond = days_beyond_sightings(dataset)
        if beyond:
            notes.append(
                f"{len(beyond)} day(s) have sketches that the raw sightings may lack (expired, "
                "quarantined or changed since the roll-up): the Spark engine counts raw "
                "sightings only; --engine duckdb adds the sketch estimates where they do"
            )
        unclaimed = _unclaimed(spark, query, address)
        if unclaimed:
            notes.append(unclaimed)
        cut = partial_note(rows, query)
        if cut:
            notes.append(cut)
    finally:
        if running is None:  # ours: end it (a caller's session stays theirs)
            spark.stop()
    return CensusResult(rows, "unique_ip", "sightings", "raw sightings (Spark)", tuple(notes))


def _quarantined_damaged(dataset: Path) -> bool:
    """After a Spark census failed: the sightings files that cannot be read moved to
    quarantine and named (store/damaged.py, as the DuckDB engine does when its read fails);
    whether there were any. A failure that no file explains is the caller's to raise."""
    from botcensus.store.damaged import screen
    from botcensus.store.read import SIGHTING_REQUIRED

    files = area_files(dataset / layout.SIGHTINGS)
    return len(screen(dataset, files, required=SIGHTING_REQUIRED)) < len(files)


def _unclaimed(spark: SparkSession, query: CensusQuery, address: Address = TEXT) -> str | None:
    """census_run.unclaimed_note's count, by Spark."""
    from dataclasses import replace

    from botcensus.measure.census_run import unclaimed_message

    if query.include_unclaimed or query.family is not None:
        return None
    where, params = replace(query, include_unclaimed=True).where(dialect=SPARK)
    sql = (
        f"SELECT {distinct_addresses(address, SPARK)} AS ips, "  # noqa: S608
        f"coalesce(sum(hits), 0) AS hits FROM sightings WHERE malware_family IS NULL AND {where}"
    )
    row = spark.sql(sql, args=params).collect()[0]
    return unclaimed_message(int(row["ips"]), int(row["hits"]))

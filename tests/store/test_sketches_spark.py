"""Cross-read with Spark SQL (optional): Spark's DataSketches functions read our sketch
columns and produce the same bytes. Skipped where PySpark or Java is absent (as in CI):
PySpark is not a botcensus dependency. To run it, put PySpark on PYTHONPATH, e.g. from a
throwaway venv: PYTHONPATH=/tmp/venv/lib/python3.11/site-packages pytest this file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from botcensus.store import sketch_build as sk

pyspark = pytest.importorskip("pyspark", reason="PySpark not installed (optional cross-check)")
if shutil.which("java") is None:
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

ADDRESSES = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(6000)] + [
    "2001:db8::1",
    "2001:db8:0:1::7",
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_makes_the_same_bytes(spark: Any) -> None:
    frame = spark.createDataFrame([(ip,) for ip in ADDRESSES], "ip string")
    frame.createOrReplaceTempView("addresses")
    row = spark.sql(
        "SELECT hll_sketch_agg(ip, 12) AS h, theta_sketch_agg(ip, 12) AS t FROM addresses"
    ).collect()[0]
    assert bytes(row.h) == sk.hll_of(ADDRESSES)
    assert bytes(row.t) == sk.theta_of(ADDRESSES)


def test_spark_reads_and_merges_our_sketch_columns(spark: Any, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    halves = [ADDRESSES[:4000], ADDRESSES[3000:]]
    table = pa.table(
        {
            "ip_hll": [sk.hll_of(h) for h in halves],
            "ip_theta": [sk.theta_of(h) for h in halves],
        }
    )
    pq.write_table(table, tmp_path / "sketches.parquet")
    spark.read.parquet(str(tmp_path / "sketches.parquet")).createOrReplaceTempView("ours")
    row = spark.sql(
        """SELECT hll_sketch_estimate(hll_union_agg(ip_hll)) AS h,
                  theta_sketch_estimate(theta_union_agg(ip_theta)) AS t,
                  theta_sketch_estimate(theta_intersection_agg(ip_theta)) AS both
           FROM ours"""
    ).collect()[0]
    assert row.h == pytest.approx(len(ADDRESSES), rel=0.05)
    assert row.t == pytest.approx(len(ADDRESSES), rel=0.05)
    assert row.both == pytest.approx(1000, rel=0.1)
    ours = sk.hll_estimate(sk.hll_union(list(table["ip_hll"].to_pylist())))[0]
    assert row.h == round(ours)

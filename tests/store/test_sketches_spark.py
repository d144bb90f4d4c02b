"""Cross-read with Spark SQL: Spark's DataSketches functions make our sketch bytes (in
canonical form, store/sketch_images.py) and read and merge our sketch columns. Runs on the
test session's local Spark (tests/conftest.py: skips with the reason without PySpark or
Java, fails under CI=true)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from botcensus.store import sketch_build as sk
from botcensus.store.sketch_images import canonical_hll, canonical_theta

ADDRESSES = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(6000)] + [
    "2001:db8::1",
    "2001:db8:0:1::7",
]


def test_spark_makes_the_same_bytes(spark: Any) -> None:
    frame = spark.createDataFrame([(ip,) for ip in ADDRESSES], "ip string")
    frame.createOrReplaceTempView("addresses")
    row = spark.sql(
        "SELECT hll_sketch_agg(ip, 12) AS h, theta_sketch_agg(ip, 12) AS t FROM addresses"
    ).collect()[0]
    assert canonical_hll(bytes(row.h)) == sk.hll_of(ADDRESSES)
    assert canonical_theta(bytes(row.t)) == sk.theta_of(ADDRESSES)


@pytest.mark.parametrize("n", [1, 3, 40, 6002])
def test_spark_on_several_partitions_makes_the_same_bytes(spark: Any, n: int) -> None:
    """Spark's partial aggregates feed the sketch in no fixed order: canonical bytes agree."""
    frame = spark.createDataFrame([(ip,) for ip in ADDRESSES[:n]], "ip string").repartition(4)
    frame.createOrReplaceTempView("spread")
    row = spark.sql(
        "SELECT hll_sketch_agg(ip, 12) AS h, theta_sketch_agg(ip, 12) AS t FROM spread"
    ).collect()[0]
    assert canonical_hll(bytes(row.h)) == sk.hll_of(ADDRESSES[:n])
    assert canonical_theta(bytes(row.t)) == sk.theta_of(ADDRESSES[:n])


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

"""Sketches: DataSketches serialization bytes, hashing of addresses, Spark's own bytes, and
sketch building from sightings."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct

import pyarrow as pa
import pytest

from botcensus.model import SIGHTING_SCHEMA
from botcensus.store import sketch_build as sk
from botcensus.store.sketch_images import canonical_hll

SMALL = ["192.0.2.1", "198.51.100.7", "2001:db8::1"]
BIG = [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(5000)]
# Produced by Spark 4.x (Java DataSketches; 4.3.0 again for issue 15) on one partition with
#   SELECT hll_sketch_agg(ip, 12), theta_sketch_agg(ip, 12) FROM v
# over the same addresses; in canonical form (store/sketch_images.py) they are our bytes.
# tests/measure/test_spark_engine.py checks the same live, group by group, where Spark runs.
SPARK_SMALL_HLL = "0201070c030003089cedf50b365f5205b820f4070000000000000000000000000000000000000000"
SPARK_SMALL_THETA = "0104033e011acc93032e7d72cd7fe841739313ecbe200e6721dd5c3851ab8e3340"
SPARK_BIG_HLL_SHA256 = "82d769caf7be9a6b7b1d9705149f6216ae9ca2057f74e46da4161ac29351c3c3"
SPARK_BIG_CANONICAL_HLL_SHA256 = "ef80e035323ab1e300c224b3cf96f95983c635a8723635134dce90bd9a887661"
SPARK_BIG_THETA_SHA256 = "15b3198a09a70c7c61c12ddfb67785a6cb94c29a2183b2db59936afdfacefdc7"


def test_hll_bytes_equal_sparks_for_a_small_sketch() -> None:
    assert sk.hll_of(SMALL) == canonical_hll(bytes.fromhex(SPARK_SMALL_HLL))


def test_theta_bytes_equal_sparks_for_a_small_sketch() -> None:
    assert sk.theta_of(SMALL).hex() == SPARK_SMALL_THETA


def test_hll_and_theta_bytes_equal_sparks_in_estimation_mode() -> None:
    assert hashlib.sha256(sk.hll_of(BIG)).hexdigest() == SPARK_BIG_CANONICAL_HLL_SHA256
    assert hashlib.sha256(sk.theta_of(BIG)).hexdigest() == SPARK_BIG_THETA_SHA256


# HLL preamble (DataSketches HllSketch): byte 0 preInts, 1 serVer, 2 family, 3 lgK, 4 lgArr,
# 5 flags, 6 list count / curMin, 7 mode = curMode | tgtHllType << 2.
@pytest.mark.parametrize(
    ("values", "pre_ints", "flags", "cur_mode"),
    [
        ([], 2, 0x04, 0),  # empty flag, LIST
        (SMALL, 2, 0x00, 0),  # LIST
        (BIG, 10, 0x00, 2),  # HLL
    ],
)
def test_hll_preamble(values: list[str], pre_ints: int, flags: int, cur_mode: int) -> None:
    image = sk.hll_of(values)
    assert image[0] == pre_ints
    assert image[1] == 1  # serial version
    assert image[2] == sk.HLL_FAMILY_ID
    assert image[3] == sk.HLL_LG_K
    assert image[5] & 0x04 == flags & 0x04
    assert image[5] & 0x08 == 0  # updatable, not compact (Spark's image)
    assert image[7] & 0x03 == cur_mode
    assert image[7] >> 2 == 2  # HLL_8


def test_hll_in_hll_mode_holds_one_byte_per_register() -> None:
    assert len(sk.hll_of(BIG)) == 40 + (1 << sk.HLL_LG_K)


def test_hll_list_mode_counts_its_coupons() -> None:
    assert sk.hll_of(SMALL)[6] == len(SMALL)


# Theta compact preamble: byte 0 preLongs, 1 serVer, 2 family (3 = compact), 5 flags
# (2 read-only, 4 empty, 8 compact, 16 ordered), bytes 6-7 seed hash (little-endian).
def test_theta_preamble_of_a_compressed_sketch() -> None:
    image = sk.theta_of(SMALL)
    assert image[1] == 4  # serial version 4: compressed
    assert image[2] == sk.THETA_FAMILY_ID
    assert image[5] & 0x1A == 0x1A  # read-only, compact, ordered
    assert struct.unpack_from("<H", image, 6)[0] == sk.SEED_HASH


def test_theta_in_estimation_mode_carries_theta() -> None:
    image = sk.theta_of(BIG)
    assert image[0] == 2  # preLongs: preamble, then theta
    theta = struct.unpack_from("<q", image, 8)[0]
    assert 0 < theta < 2**63 - 1


def test_empty_theta_sets_the_empty_flag() -> None:
    image = sk.theta_of([])
    assert image[5] & 0x04
    assert sk.theta_estimate(image)[0] == 0.0


def test_one_host_written_several_ways_is_one_address_in_the_sketch() -> None:
    """botcensus.ipaddr's rule: IPv6 in RFC 5952 text, IPv4-mapped IPv6 as IPv4; unspecified,
    zoned and other text is no address and left out."""
    written = [
        "2001:DB8:0:0::1", "2001:db8::1", "::ffff:192.0.2.1", "192.0.2.1",
        "0.0.0.0", "::", "fe80::1%eth0", "010.0.0.1", "not-an-ip",
    ]  # fmt: skip
    rows = sk.sketch_sightings(_sightings([{"source_ip": ip} for ip in written]))
    assert rows.num_rows == 1
    assert rows["rows"].to_pylist() == [len(written)]
    image = rows["ip_theta"][0].as_py()
    assert sk.theta_estimate(image)[0] == 2.0
    assert image == sk.theta_of(["2001:db8::1", "192.0.2.1"])


def test_repeats_do_not_change_the_bytes() -> None:
    assert sk.hll_of(SMALL) == sk.hll_of([*SMALL, *SMALL])
    assert sk.theta_of(SMALL) == sk.theta_of([*SMALL, *SMALL])


def test_order_does_not_change_hll_registers_or_ordered_theta() -> None:
    # List-mode coupons and the HIP accumulator follow arrival order (in Java too); the
    # registers after the 40-byte preamble do not.
    assert sk.hll_of(BIG)[40:] == sk.hll_of(list(reversed(BIG)))[40:]
    assert sk.theta_of(SMALL) == sk.theta_of(list(reversed(SMALL)))


def test_unions_count_the_union() -> None:
    a, b = BIG[:3000], BIG[2000:]
    assert sk.theta_estimate(sk.theta_union([sk.theta_of(a), sk.theta_of(b)]))[0] == pytest.approx(
        5000, rel=0.05
    )
    est, lo, hi = sk.hll_estimate(sk.hll_union([sk.hll_of(a), sk.hll_of(b)]))
    assert lo <= 5000 <= hi
    assert est == pytest.approx(5000, rel=0.05)


def test_theta_difference_is_exact_for_small_sets() -> None:
    a, b = sk.theta_of(["1.1.1.1", "2.2.2.2", "3.3.3.3"]), sk.theta_of(["3.3.3.3", "4.4.4.4"])
    assert sk.theta_estimate(sk.theta_difference(a, b))[0] == 2.0
    assert sk.theta_estimate(sk.theta_difference(b, a))[0] == 1.0


def _sightings(rows: list[dict[str, object]]) -> pa.Table:
    base = {
        "day": dt.date(2011, 3, 16),
        "bot_id": None,
        "malware_family": "rustock",
        "sensor": "s1",
        "feed_name": "botcensus-sinkhole",
        "first_seen": dt.datetime(2011, 3, 16, tzinfo=dt.UTC),
        "last_seen": dt.datetime(2011, 3, 16, tzinfo=dt.UTC),
        "hits": 1,
        "source_cc": "US",
        "source_asn": 7922,
        "source_as_name": None,
        "geo_db": None,
    }
    return pa.Table.from_pylist([base | r for r in rows], schema=SIGHTING_SCHEMA)


def test_sketch_rows_are_one_per_key_with_exact_rows_and_hits() -> None:
    table = _sightings(
        [
            {"source_ip": "192.0.2.1", "hits": 5},
            {"source_ip": "192.0.2.1", "hits": 2, "sensor": "s2"},
            {"source_ip": "192.0.2.2", "hits": 1},
            {"source_ip": "2001:DB8::1", "malware_family": None, "source_cc": None},
            {"source_ip": "2001:db8::1", "malware_family": None, "source_cc": None},
        ]
    )
    rows = sk.sketch_sightings(table)
    assert rows.schema.equals(sk.SKETCH_SCHEMA)
    got = {
        (r["sensor"], r["source_cc"], r["malware_family"]): (r["rows"], r["hits"])
        for r in rows.to_pylist()
    }
    assert got == {
        ("s1", "US", "rustock"): (2, 6),
        ("s2", "US", "rustock"): (1, 2),
        ("s1", None, None): (2, 2),
    }
    unclaimed = rows.filter(pa.compute.is_null(rows["malware_family"]))
    assert sk.hll_estimate(unclaimed["ip_hll"][0].as_py())[0] == pytest.approx(1.0)


def test_bot_id_sketch_is_null_without_bot_ids() -> None:
    rows = sk.sketch_sightings(
        _sightings(
            [{"source_ip": "192.0.2.1"}, {"source_ip": "192.0.2.9", "sensor": "s2", "bot_id": "b1"}]
        )
    )
    by_sensor = {r["sensor"]: r["bot_id_hll"] for r in rows.to_pylist()}
    assert by_sensor["s1"] is None
    assert sk.hll_estimate(by_sensor["s2"])[0] == pytest.approx(1.0)


def test_no_sightings_give_no_sketch_rows() -> None:
    assert sk.sketch_sightings(SIGHTING_SCHEMA.empty_table()).num_rows == 0

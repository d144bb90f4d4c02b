"""Mergeable sketches of source addresses, a roll-up product: Apache DataSketches HLL and
Theta images built per (day, sensor, feed, country, ASN, family) from daily sightings, and
the set operations that read them (union, difference, estimate); pure functions.

Compatibility is the point: the bytes are exactly what Spark SQL's `hll_sketch_agg(ip, 12)`
and `theta_sketch_agg(ip, 12)` produce for the same addresses (checked byte for byte against
Spark 4.x), so `hll_union_agg`, `theta_union_agg`, `theta_difference` … read them, and so does
any other DataSketches implementation (Java, C++, Python, Druid, BigQuery's UDFs).

- Every address is hashed as the UTF-8 bytes of its canonical text (botcensus.ipaddr's rule:
  IPv4 dotted quad, IPv6 as Python's `ipaddress` writes it (RFC 5952, lower case, `::`);
  what is not an address by that rule is left out),
  with DataSketches' MurmurHash3 and the default seed 9001. Never as an integer: Java, C++
  and Spark widen integers differently.
- HLL: lgK 12, target type HLL_8, the *updatable* image (Spark's format; every reader takes
  it). Relative standard error about 1.6%.
- Theta: lgK 12 (4096 nominal entries), the *compressed compact* image (serial version 4,
  Spark's format). Exact below 4096 retained hashes; about 1.6% beyond.
- Small sketches are written in canonical form (store/sketch_images.py): an HLL list or set
  of coupons does not depend on the order the addresses came in, a one-entry Theta image
  carries Java's SINGLE_ITEM flag. Spark's images, put in the same form, are the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import datasketches as ds  # type: ignore[import-untyped]
import pyarrow as pa

from botcensus.ipaddr import canonical_ips
from botcensus.store.db import connect
from botcensus.store.sketch_images import canonical_hll, canonical_theta
from botcensus.store.sketches import SKETCH_KEYS, SKETCH_SCHEMA

HLL_LG_K: Final = 12
THETA_LG_K: Final = 12
SEED: Final = 9001
"""DataSketches' default update seed: every implementation uses it unless told otherwise."""
SEED_HASH: Final = 0x93CC
"""The 16-bit hash of seed 9001 stored in every Theta image (bytes 6-7, little-endian)."""
HLL_FAMILY_ID: Final = 7
THETA_FAMILY_ID: Final = 3
"""DataSketches family ids in preamble byte 2 (HLL 7; Theta compact 3)."""


def hll_of(values: Iterable[str]) -> bytes:
    """The HLL_8 updatable image of the distinct strings in `values`."""
    sketch = ds.hll_sketch(HLL_LG_K, ds.tgt_hll_type.HLL_8)
    for value in values:
        sketch.update(value)
    return canonical_hll(bytes(sketch.serialize_updatable()))


def theta_of(values: Iterable[str]) -> bytes:
    """The compressed compact Theta image of the distinct strings in `values`."""
    sketch = ds.update_theta_sketch(THETA_LG_K, 1.0, SEED)
    for value in values:
        sketch.update(value)
    sketch.trim()  # down to the nominal 4096 entries, as Java's rebuild() before compact()
    return canonical_theta(bytes(sketch.compact(True).serialize(True)))


def hll_union(images: Iterable[bytes]) -> bytes:
    """One HLL image for the union of several (HLL_8, updatable)."""
    union = ds.hll_union(HLL_LG_K)
    for image in images:
        union.update(ds.hll_sketch.deserialize(image))
    return canonical_hll(bytes(union.get_result(ds.tgt_hll_type.HLL_8).serialize_updatable()))


def theta_union(images: Iterable[bytes]) -> bytes:
    """One Theta image for the union of several."""
    union = ds.theta_union(THETA_LG_K, 1.0, SEED)
    for image in images:
        union.update(ds.compact_theta_sketch.deserialize(image, SEED))
    return canonical_theta(bytes(union.get_result(True).serialize(True)))


def theta_difference(a: bytes, b: bytes) -> bytes:
    """A and not B: the addresses in `a` that `b` does not have (Spark's theta_difference)."""
    result = ds.theta_a_not_b(SEED).compute(
        ds.compact_theta_sketch.deserialize(a, SEED), ds.compact_theta_sketch.deserialize(b, SEED)
    )
    return canonical_theta(bytes(result.serialize(True)))


def hll_estimate(image: bytes, std_devs: int = 2) -> tuple[float, float, float]:
    """(estimate, lower, upper) of an HLL image; bounds at `std_devs` (1, 2 or 3) deviations."""
    sketch = ds.hll_sketch.deserialize(image)
    return (
        float(sketch.get_estimate()),
        float(sketch.get_lower_bound(std_devs)),
        float(sketch.get_upper_bound(std_devs)),
    )


def theta_estimate(image: bytes, std_devs: int = 2) -> tuple[float, float, float]:
    """(estimate, lower, upper) of a Theta image."""
    sketch = ds.compact_theta_sketch.deserialize(image, SEED)
    return (
        float(sketch.get_estimate()),
        float(sketch.get_lower_bound(std_devs)),
        float(sketch.get_upper_bound(std_devs)),
    )


def sketch_sightings(sightings: pa.Table) -> pa.Table:
    """SKETCH_SCHEMA rows from daily sightings (SIGHTING_SCHEMA columns), one per key.

    Addresses are made distinct per key before hashing, so each distinct address costs one
    update per sketch (a Python call: about a second per million distinct addresses)."""
    table = sightings.select([*SKETCH_KEYS, "source_ip", "bot_id", "hits"])
    table = table.set_column(
        table.schema.get_field_index("source_ip"), "source_ip", canonical_ips(table["source_ip"])
    )
    keys = ", ".join(SKETCH_KEYS)
    con = connect()
    con.register("sightings", table)
    grouped = con.sql(
        f"""SELECT {keys}, count(*) AS rows, coalesce(sum(hits), 0)::BIGINT AS hits,
                   list(DISTINCT source_ip) FILTER (WHERE source_ip IS NOT NULL) AS ips,
                   list(DISTINCT bot_id) FILTER (WHERE bot_id IS NOT NULL) AS bots
            FROM sightings GROUP BY ALL ORDER BY ALL"""  # noqa: S608 (constant key names)
    ).to_arrow_table()
    con.close()
    ip_lists = grouped["ips"].to_pylist()
    bot_lists = grouped["bots"].to_pylist()
    columns = {k: grouped[k] for k in (*SKETCH_KEYS, "rows", "hits")}
    columns["ip_hll"] = pa.array([hll_of(v or ()) for v in ip_lists], pa.binary())
    columns["ip_theta"] = pa.array([theta_of(v or ()) for v in ip_lists], pa.binary())
    columns["bot_id_hll"] = pa.array([hll_of(v) if v else None for v in bot_lists], pa.binary())
    return pa.table(columns).select(SKETCH_SCHEMA.names).cast(SKETCH_SCHEMA)

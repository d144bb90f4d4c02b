"""Canonical sketch images: the bytes depend on the set of values, not on their order, and
every DataSketches reader still reads them as the same sketch."""

from __future__ import annotations

import random

import datasketches as ds
import pytest

from botcensus.store import sketch_build as sk
from botcensus.store.sketch_images import canonical_hll, canonical_theta

# LIST (< 8 coupons), SET (up to a few hundred at lgK 12), HLL (registers) modes.
SIZES = {"list": (5, 0), "set": (120, 1), "hll": (4000, 2)}


def _addresses(n: int) -> list[str]:
    return [f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(n)]


def _raw_hll(values: list[str]) -> bytes:
    sketch = ds.hll_sketch(sk.HLL_LG_K, ds.tgt_hll_type.HLL_8)
    for value in values:
        sketch.update(value)
    return bytes(sketch.serialize_updatable())


@pytest.mark.parametrize("mode", sorted(SIZES))
def test_hll_bytes_do_not_depend_on_the_order(mode: str) -> None:
    n, code = SIZES[mode]
    values = _addresses(n)
    shuffled = random.Random(n).sample(values, n)
    assert _raw_hll(values)[7] & 3 == code
    assert _raw_hll(values) != _raw_hll(shuffled)  # what the canonical form is for
    assert sk.hll_of(values) == sk.hll_of(shuffled)
    assert canonical_hll(_raw_hll(shuffled)) == sk.hll_of(values)


@pytest.mark.parametrize("mode", sorted(SIZES))
def test_canonical_hll_reads_as_the_same_sketch(mode: str) -> None:
    n, _ = SIZES[mode]
    values = _addresses(n)
    sketch = ds.hll_sketch.deserialize(sk.hll_of(values))
    assert sketch.get_estimate() == pytest.approx(n, rel=0.05)
    for value in values[:50]:  # values already in it change nothing
        sketch.update(value)
    assert bytes(sketch.serialize_updatable()) != b""
    assert canonical_hll(bytes(sketch.serialize_updatable())) == sk.hll_of(values)


@pytest.mark.parametrize("mode", sorted(SIZES))
def test_a_union_of_canonical_parts_is_the_canonical_whole(mode: str) -> None:
    n, _ = SIZES[mode]
    values = _addresses(n)
    parts = [sk.hll_of(values[: n // 2]), sk.hll_of(values[n // 3 :])]
    assert sk.hll_union(parts) == sk.hll_of(values)


def test_one_value_theta_carries_the_single_item_flag_java_writes() -> None:
    image = sk.theta_of(["192.0.2.1"])
    assert len(image) == 16
    assert image[5] == 0x3A  # read-only, compact, ordered, single item
    assert ds.compact_theta_sketch.deserialize(image, sk.SEED).get_estimate() == 1
    assert canonical_theta(image) == image


@pytest.mark.parametrize("image", [b"", b"\x01\x02", sk.theta_of(_addresses(3))])
def test_what_is_no_small_hll_image_is_left_as_it_is(image: bytes) -> None:
    assert canonical_hll(image) == image
    assert canonical_theta(image) == image

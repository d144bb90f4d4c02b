"""Canonical sketch images: one byte form of a sketch, whatever order its values came in.

DataSketches images are the same across implementations for large sketches, but not for
small ones (found comparing Spark's `hll_sketch_agg` / `theta_sketch_agg` with ours):

- An HLL sketch with few values keeps them as a list or a small hash set of *coupons* in
  the order they arrived (LIST mode) or at hash-table slots that depend on that order when
  two collide (SET mode). Spark feeds values in partition order, we in ours: the same set
  of coupons, different bytes. Canonical: the list sorted, the set rebuilt by inserting the
  coupons in sorted order (DataSketches' own probing), so the bytes depend on the set alone.
- A large HLL sketch (HLL mode) keeps registers, which do not depend on the order, and a
  HIP accumulator, which does (and which a union drops: Spark's partial aggregates are
  unions). Canonical: flagged out of order with the accumulator zeroed, as a union's result;
  estimates then come from the registers (composite estimator, about 1.6% instead of 1.3%).
- A Theta sketch of exactly one value: Java (Spark) sets the SINGLE_ITEM flag (0x20) on its
  16-byte image, C++ (ours) does not. Canonical: the flag set, as Java writes it (C++ reads
  both).

Every reader of DataSketches accepts the canonical images (they are valid images of the same
sketch); Theta images of two or more entries are left as they are (already sorted).
Pure functions on bytes.
"""

from __future__ import annotations

import struct
from typing import Final

_LIST, _SET, _HLL = 0, 1, 2
_OUT_OF_ORDER: Final = 0x10
_HLL_PREAMBLE = {_LIST: 8, _SET: 12}
"""Bytes before the coupons: LIST (2 preamble ints), SET (3: the count is the third)."""
_KEY_MASK_26: Final = (1 << 26) - 1
_THETA_SINGLE_ITEM: Final = 0x20
_THETA_EMPTY: Final = 0x04


def canonical_hll(image: bytes) -> bytes:
    """The image with its LIST or SET coupons in canonical order (others unchanged)."""
    if len(image) < 8 or image[2] != 7:  # not an HLL image (family 7)
        return image
    mode = image[7] & 3
    if mode == _HLL:
        if len(image) < 16:
            return image
        # Marked out of order, as a union's result is: readers then use the registers alone
        # (the composite estimator), not the order-dependent HIP accumulator, zeroed here.
        return image[:5] + bytes([image[5] | _OUT_OF_ORDER]) + image[6:8] + bytes(8) + image[16:]
    if mode not in _HLL_PREAMBLE:
        return image
    start = _HLL_PREAMBLE[mode]
    lg_arr = image[4]
    slots = 1 << lg_arr
    if len(image) != start + 4 * slots:  # a compact image: keep it as it is
        return image
    coupons = sorted(c for c in struct.unpack_from(f"<{slots}I", image, start) if c)
    table = [0] * slots
    if mode == _LIST:
        table[: len(coupons)] = coupons
    else:
        mask = slots - 1
        for coupon in coupons:  # DataSketches' CouponHashSet.find: open addressing
            probe = coupon & mask
            stride = ((coupon & _KEY_MASK_26) >> lg_arr) | 1
            while table[probe]:
                probe = (probe + stride) & mask
            table[probe] = coupon
    return image[:start] + struct.pack(f"<{slots}I", *table)


def canonical_theta(image: bytes) -> bytes:
    """A single-item compact Theta image with its SINGLE_ITEM flag set (others unchanged)."""
    single = (
        len(image) == 16
        and image[0] == 1  # one preamble long
        and image[1] == 3  # serial version 3
        and image[2] == 3  # compact family
        and not image[5] & _THETA_EMPTY
    )
    if not single or image[5] & _THETA_SINGLE_ITEM:
        return image
    return image[:5] + bytes([image[5] | _THETA_SINGLE_ITEM]) + image[6:]

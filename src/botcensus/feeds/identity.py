"""An event's identity hash (event_hash), vectorised: 16 bytes from the mapped fields that
say what was seen, when, between which addresses, of which malware (vocabulary.IDENTITY).

Each distinct text value is hashed once (FNV-1a over its bytes in two 64-bit lanes, all
values of a batch at once, position by position; values longer than LONG bytes with BLAKE2b);
integers and times are taken as they are. Each field's lanes are mixed (splitmix64's
finaliser), weighted by a per-field odd constant and summed; the sums are mixed once more.
The result depends only on this module, not on a library's internal hash, so stored hashes
stay valid across library upgrades. Computed after IPv6 addresses are made canonical, so
one host written two ways is one event.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from botcensus.feeds.vocabulary import IDENTITY, IDENTITY_EXTRAS

LONG: Final = 256
_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_FNV_PRIME: Final = np.uint64(0x100000001B3)
_FNV_BASIS: Final = (np.uint64(0xCBF29CE484222325), np.uint64(0x84222325CBF29CE4))
_U64 = np.dtype(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection on 64-bit words)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def _short_lanes(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """FNV-1a (two bases) of every value, vectorised over the values, one byte position at a
    time; the length is folded in."""
    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)[strings.offset :][: n + 1]
    data_buffer = strings.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(1, np.uint8)
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets)
    lanes = [np.full(n, basis, dtype=_U64) for basis in _FNV_BASIS]
    last = max(len(data) - 1, 0)
    for j in range(int(lengths.max(initial=0))):
        active = lengths > j
        byte = data[np.minimum(starts + j, last)].astype(_U64)
        for k, lane in enumerate(lanes):
            lanes[k] = np.where(active, (lane ^ byte) * _FNV_PRIME, lane)
    width = lengths.astype(_U64)
    return lanes[0] ^ width, lanes[1] ^ (width * _GOLDEN)


def _value_lanes(dictionary: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit words per distinct value."""
    strings = dictionary.cast(pa.string())
    lengths = pc.binary_length(strings).to_numpy(zero_copy_only=False)
    long = lengths > LONG
    if not long.any():
        return _short_lanes(strings)
    first = np.zeros(len(strings), dtype=_U64)
    second = np.zeros(len(strings), dtype=_U64)
    short = np.flatnonzero(~long)
    if len(short):
        a, b = _short_lanes(strings.take(pa.array(short)))
        first[short], second[short] = a, b
    for i in np.flatnonzero(long):
        digest = hashlib.blake2b(strings[int(i)].as_py().encode(), digest_size=16).digest()
        first[i], second[i] = np.frombuffer(digest, dtype="<u8")
    return first, second


def _text_lanes(
    column: pa.Array, encoded: pa.DictionaryArray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if encoded is None:
        encoded = pc.dictionary_encode(column)
    a, b = _value_lanes(encoded.dictionary)
    indices = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return a[indices], b[indices], valid


def _int_lanes(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64).view(_U64)
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return values, values * _GOLDEN, valid


def _as_int(column: pa.Array) -> pa.Array:
    """Times and integers as int64; text holding an integer as that integer, else null."""
    if pa.types.is_timestamp(column.type):
        return column.cast(pa.int64())
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        ok = pc.fill_null(pc.match_substring_regex(column, "^-?[0-9]{1,18}$"), False)
        return pc.if_else(ok, column, pa.scalar(None, pa.string())).cast(pa.int64())
    return column.cast(pa.int64())


def _column(table: pa.Table, names: tuple[str, ...], kind: str) -> pa.Array | None:
    """The first of `names` present, coalesced with the later ones (e.g. the source address,
    else the referring host of a referer report), as int64 or text."""
    found = [table[n].combine_chunks() for n in names if n in table.column_names]
    if not found:
        return None
    found = [_as_int(c) if kind == "int" else c.cast(pa.string()) for c in found]
    return found[0] if len(found) == 1 else pc.coalesce(*found)


def identity_hashes(
    table: pa.Table, report_type: str, encoded: dict[str, pa.DictionaryArray] | None = None
) -> pa.Array:
    """event_hash of each row: 16 bytes from report_type and the IDENTITY fields (an empty
    field adds nothing). `encoded`: text columns already dictionary-encoded (the source
    address, which enrichment looks up per distinct value too)."""
    n = table.num_rows
    seed = np.frombuffer(hashlib.blake2b(report_type.encode(), digest_size=16).digest(), "<u8")
    sums = [np.full(n, seed[0], dtype=_U64), np.full(n, seed[1], dtype=_U64)]
    extras = tuple(sorted(IDENTITY_EXTRAS & set(table.column_names)))
    fields = [*IDENTITY, *((e, "text", (e,)) for e in extras)]
    with np.errstate(over="ignore"):
        for name, kind, names in fields:
            column = _column(table, names, kind)
            if column is None or column.null_count == n:
                continue
            if kind == "int":
                lanes = _int_lanes(column)
            else:
                # a column of its own (not coalesced with another) may come encoded already
                shared = (
                    (encoded or {}).get(names[0])
                    if len(names) == 1 or (not set(names[1:]) & set(table.column_names))
                    else None
                )
                lanes = _text_lanes(column, shared)
            weight = np.frombuffer(hashlib.blake2b(name.encode(), digest_size=16).digest(), "<u8")
            for k in (0, 1):
                # FNV lanes of text are spread already; raw integers are mixed first
                word = _mix(lanes[k] ^ weight[k]) if kind == "int" else lanes[k] ^ weight[k]
                term = word * (weight[1 - k] | np.uint64(1))
                sums[k] += np.where(lanes[2], term, np.uint64(0))
    raw = np.empty((n, 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = _mix(sums[0]), _mix(sums[1] ^ sums[0])
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), n, [None, pa.py_buffer(raw.tobytes())]
    )

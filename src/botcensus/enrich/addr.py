"""IP address text <-> integer keys, vectorised over Arrow arrays (IPv4 as uint32, IPv6 as S16)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
Keys = npt.NDArray[np.bytes_]
"""128-bit keys as 16-byte big-endian 'S16': byte order equals numeric order."""
Mask = npt.NDArray[np.bool_]

# One octet: no leading zeros, as inet_pton and ipaddress require ("010" would be ambiguous).
_OCTET: Final = "0|[1-9][0-9]{0,2}"
_IPV4_RE: Final = "^" + r"\.".join(f"(?P<{n}>{_OCTET})" for n in "abcd") + "$"
_MAPPED_PREFIX: Final = b"\x00" * 10 + b"\xff\xff"


def as_string_array(ips: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Arrow string array, whatever string-like type or chunking came in."""
    if isinstance(ips, pa.ChunkedArray):
        ips = ips.combine_chunks() if ips.num_chunks else pa.array([], pa.string())
    if pa.types.is_dictionary(ips.type):
        ips = ips.dictionary_decode()
    if ips.type != pa.string():
        ips = ips.cast(pa.string())
    return ips


def ipv4_to_int(ips: pa.Array | pa.ChunkedArray) -> tuple[U32, Mask]:
    """Dotted-quad strings to uint32 and a validity mask; anything else (nulls too) is invalid."""
    parts = pc.extract_regex(as_string_array(ips), _IPV4_RE)
    valid = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    value = np.zeros(len(parts), dtype=np.uint32)
    for name in ("a", "b", "c", "d"):
        octet = pc.fill_null(pc.cast(pc.struct_field(parts, name), pa.uint16()), 0).to_numpy()
        valid &= octet <= 255
        value = (value << np.uint32(8)) | (octet & 255).astype(np.uint32)
    value[~valid] = 0
    return value, valid


def ipv4_from_int(a: npt.ArrayLike) -> pa.Array:
    """uint32 addresses to dotted-quad strings (an Arrow string array)."""
    v = np.asarray(a, dtype=np.uint32)
    octets = [pa.array(((v >> np.uint32(s)) & 255).astype(np.uint8)) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*(pc.cast(o, pa.string()) for o in octets), ".")


def ipv6_to_keys(texts: list[Any]) -> tuple[Keys, Mask]:
    """IPv6 strings to S16 keys with a validity mask (a Python loop: call it on unique values)."""
    packed: list[bytes] = []
    valid = np.ones(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        try:
            packed.append(socket.inet_pton(socket.AF_INET6, text))
        except (OSError, TypeError, ValueError):
            packed.append(bytes(16))
            valid[i] = False
    return np.frombuffer(b"".join(packed), dtype="S16"), valid


def keys_from_hilo(hi: U64, lo: U64) -> Keys:
    """Two uint64 halves to S16 keys."""
    pair = np.empty((len(hi), 2), dtype=">u8")
    pair[:, 0], pair[:, 1] = hi, lo
    return pair.view("S16").ravel()


def hilo_from_keys(keys: Keys) -> tuple[U64, U64]:
    """S16 keys to their two uint64 halves (native byte order)."""
    pair = np.ascontiguousarray(keys, dtype="S16").view(">u8").reshape(-1, 2)
    return pair[:, 0].astype(np.uint64), pair[:, 1].astype(np.uint64)


def keys_from_ipv4(v: U32) -> Keys:
    """uint32 IPv4 addresses as S16 keys of the same numeric value (not ::ffff:-mapped)."""
    return keys_from_hilo(np.zeros(len(v), dtype=np.uint64), v.astype(np.uint64))


def ipv4_from_keys(keys: Keys) -> U32:
    """The low 32 bits of S16 keys (for keys made by keys_from_ipv4)."""
    return (hilo_from_keys(keys)[1] & np.uint64(0xFFFFFFFF)).astype(np.uint32)


@dataclass(frozen=True)
class Parsed:
    """Addresses split by family: a row is IPv4, IPv6, or neither (invalid or null)."""

    v4: U32
    is_v4: Mask
    v6: Keys
    is_v6: Mask


def parse_ips(ips: pa.Array) -> Parsed:
    """Parse address strings; IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4."""
    v4, is_v4 = ipv4_to_int(ips)
    v6 = np.zeros(len(ips), dtype="S16")
    is_v6 = np.zeros(len(ips), dtype=bool)
    colon = np.asarray(
        pc.fill_null(pc.match_substring(ips, ":"), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    rows = np.flatnonzero(colon)
    if len(rows):
        keys, ok = ipv6_to_keys(ips.take(pa.array(rows)).to_pylist())
        raw = np.ascontiguousarray(keys).view(np.uint8).reshape(-1, 16)
        mapped = ok & (raw[:, :12] == np.frombuffer(_MAPPED_PREFIX, np.uint8)).all(axis=1)
        v4[rows[mapped]] = ipv4_from_keys(keys[mapped])
        is_v4[rows[mapped]] = True
        v6[rows[ok & ~mapped]] = keys[ok & ~mapped]
        is_v6[rows[ok & ~mapped]] = True
    return Parsed(v4, is_v4, v6, is_v6)

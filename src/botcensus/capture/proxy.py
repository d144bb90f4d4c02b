"""HAProxy PROXY protocol v1/v2: parse the header a load balancer prepends, build one to replay."""

import ipaddress
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from botcensus.times import TIME_RANGE_TEXT, TIME_RANGE_US

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
TrustedNetworks: TypeAlias = tuple[IPNetwork, ...]

REPLAY_TLV_TYPE: Final = 0xE0
"""PP2_TYPE_MIN_CUSTOM; value: big-endian int64s, simulated receive times in µs since the epoch."""
MAX_REPLAY_TIMES: Final = 4096
"""A replayer may pipeline this many requests on one connection, each with its own time; a
replay TLV with more is malformed (proxy_v2_bad_tlv)."""

V1_MAX_LEN: Final = 107
"""Longest v1 line the spec allows, CRLF included."""

REASONS: Final = frozenset(
    {
        "proxy_header_missing",
        "proxy_header_too_long",
        "proxy_v1_malformed",
        "proxy_v2_bad_version",
        "proxy_v2_bad_command",
        "proxy_v2_bad_family",
        "proxy_v2_bad_length",
        "proxy_v2_bad_tlv",
        "proxy_unspecified_address",
    }
)
"""Every ProxyError.reason parse can raise, for the event catalogue."""

_V1_PREFIX: Final = b"PROXY"
_V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_FIXED: Final = struct.Struct("!BBH")  # version/command, family/transport, length of the rest
_V2_FIXED_LEN: Final = 16
_V2_MAX_LEN: Final = _V2_FIXED_LEN + 0xFFFF
_V2_VERSION: Final = 0x2
_CMD_LOCAL: Final = 0x0
_CMD_PROXY: Final = 0x1
_FAM_UNSPEC: Final = 0x00
_FAM_TCP4: Final = 0x11
_FAM_TCP6: Final = 0x21
_V2_ADDRESS_LEN: Final = {_FAM_UNSPEC: 0, _FAM_TCP4: 12, _FAM_TCP6: 36}
_V4_ADDRESSES: Final = struct.Struct("!4s4sHH")
_V6_ADDRESSES: Final = struct.Struct("!16s16sHH")
_TLV_HEAD: Final = struct.Struct("!BH")
_REPLAY_VALUE: Final = struct.Struct("!q")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


class ProxyError(ValueError):
    """A header that cannot be valid; `reason` is the snake_case code recorded in the event."""

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# Addresses are read and checked as packed bytes and spelled by inet_ntop: inet_pton (ISC code
# in glibc and the BSDs) takes exactly the text ipaddress takes for IPv4 (four decimal octets
# without leading zeros, as the spec asks) and for IPv6 without a scope id (which it refuses,
# as the protocol has none), and the pair is ~20x faster than ipaddress. The text is what
# ipaddr.canonical_ip gives (tests/capture/test_proxy.py compares them over random addresses).
_V4_UNSPECIFIED: Final = bytes(4)
_V6_UNSPECIFIED: Final = bytes(16)
_V6_MAPPED_PREFIX: Final = bytes(10) + b"\xff\xff"
"""::ffff:0:0/96, IPv4-mapped IPv6: stored as the IPv4 address, as ipaddr stores it."""


def _stored_v4(packed: bytes, which: str) -> str:
    """A packed IPv4 address as botcensus stores it; the unspecified 0.0.0.0 is refused."""
    if packed == _V4_UNSPECIFIED:
        raise _unspecified(which)
    return socket.inet_ntop(socket.AF_INET, packed)


def _stored_v6(packed: bytes, which: str) -> str:
    """A packed IPv6 address as botcensus stores it (ipaddr.canonical_ip): IPv4-mapped as
    IPv4, anything else in RFC 5952 text; the unspecified `::` is refused."""
    if packed[:12] == _V6_MAPPED_PREFIX:
        return _stored_v4(packed[12:], which)
    if packed == _V6_UNSPECIFIED:
        raise _unspecified(which)
    text = socket.inet_ntop(socket.AF_INET6, packed)
    if "." in text:
        # C libraries print some addresses with a dotted quad (glibc: IPv4-compatible
        # ::a.b.c.d, whose first 96 bits are zero); RFC 5952 and ipaddress write hex groups.
        return ipaddress.IPv6Address(packed).compressed
    return text


def _unspecified(which: str) -> ProxyError:
    # No host has the unspecified address (0.0.0.0, `::`, `::ffff:0.0.0.0`) and no dataset
    # may hold it: a balancer that sends it does not know whom it forwarded.
    return ProxyError("proxy_unspecified_address", f"{which} address is unspecified")


_V1_FAMILIES: Final[dict[bytes, tuple[int, Callable[[bytes, str], str]]]] = {
    b"TCP4": (socket.AF_INET, _stored_v4),
    b"TCP6": (socket.AF_INET6, _stored_v6),
}


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    """What a PROXY header says about the original connection; None means "use the real peer"."""

    source_ip: str | None
    source_port: int | None
    destination_ip: str | None
    destination_port: int | None
    replay_times_us: tuple[int, ...] | None


_NO_ADDRESS: Final = ProxyInfo(None, None, None, None, None)


def parse(buf: bytes | bytearray | memoryview) -> tuple[ProxyInfo, int] | None:
    """Parse a PROXY header at the start of buf: (info, bytes consumed), or None if incomplete.

    Raises ProxyError as soon as the bytes seen cannot begin a valid header. A v1 line is
    checked once its CRLF has arrived; v2 fixed fields are checked as each byte arrives.
    """
    data = bytes(buf[:_V2_MAX_LEN]) if isinstance(buf, memoryview) else buf
    if not data:
        return None
    if data[0] == _V1_PREFIX[0]:
        return _parse_v1(data)
    if data[0] == _V2_SIGNATURE[0]:
        return _parse_v2(data)
    raise ProxyError("proxy_header_missing")


def _parse_v1(data: bytes | bytearray) -> tuple[ProxyInfo, int] | None:
    known = min(len(data), len(_V1_PREFIX))
    if data[:known] != _V1_PREFIX[:known]:
        raise ProxyError("proxy_header_missing")
    if len(data) > known and data[known] != 0x20:
        raise ProxyError("proxy_v1_malformed", "no space after PROXY")
    end = data.find(b"\n", 0, V1_MAX_LEN)
    if end < 0:
        if len(data) >= V1_MAX_LEN:
            raise ProxyError("proxy_header_too_long", f"no CRLF in the first {V1_MAX_LEN} bytes")
        return None
    if data[end - 1] != 0x0D:
        raise ProxyError("proxy_v1_malformed", "line ends in LF without CR")
    fields = bytes(data[: end - 1]).split(b" ")
    if fields[1] == b"UNKNOWN":  # the spec says to ignore whatever follows UNKNOWN
        return _NO_ADDRESS, end + 1
    family = _V1_FAMILIES.get(fields[1])
    if family is None or len(fields) != 6:
        raise ProxyError("proxy_v1_malformed", "expected PROXY TCP4|TCP6 src dst sport dport")
    info = ProxyInfo(
        _v1_address(family, fields[2], "source"),
        _v1_port(fields[4]),
        _v1_address(family, fields[3], "destination"),
        _v1_port(fields[5]),
        None,
    )
    return info, end + 1


def _v1_address(family: tuple[int, Callable[[bytes, str], str]], field: bytes, which: str) -> str:
    af, stored = family
    try:
        packed = socket.inet_pton(af, field.decode("ascii"))
    except (OSError, ValueError):  # inet_pton: OSError (ValueError for a NUL); decode: ValueError
        raise ProxyError("proxy_v1_malformed", f"bad address {field!r}") from None
    return stored(packed, which)


def _v1_port(field: bytes) -> int:
    # bytes.isdigit is ASCII-only, unlike int(), which also takes '+', '_', spaces and non-ASCII.
    if 0 < len(field) <= 5 and field.isdigit() and (field == b"0" or field[0] != 0x30):
        port = int(field)
        if port <= 0xFFFF:
            return port
    raise ProxyError("proxy_v1_malformed", f"bad port {field!r}")


def _parse_v2(data: bytes | bytearray) -> tuple[ProxyInfo, int] | None:
    size = len(data)
    known = min(size, len(_V2_SIGNATURE))
    if data[:known] != _V2_SIGNATURE[:known]:
        raise ProxyError("proxy_header_missing")
    if size > 12:
        version, command = data[12] >> 4, data[12] & 0x0F
        if version != _V2_VERSION:
            raise ProxyError("proxy_v2_bad_version", f"version {version}")
        if command not in (_CMD_LOCAL, _CMD_PROXY):
            raise ProxyError("proxy_v2_bad_command", f"command {command}")
        # LOCAL (a health check) ignores the family byte and everything after it, per the spec.
        if size > 13 and command == _CMD_PROXY and data[13] not in _V2_ADDRESS_LEN:
            raise ProxyError("proxy_v2_bad_family", f"family/transport 0x{data[13]:02x}")
    if size < _V2_FIXED_LEN:
        return None
    ver_cmd, family, length = _V2_FIXED.unpack_from(data, 12)
    total = _V2_FIXED_LEN + length
    address_len = _V2_ADDRESS_LEN[family] if ver_cmd & 0x0F == _CMD_PROXY else 0
    if length < address_len:
        raise ProxyError("proxy_v2_bad_length", f"{length} bytes cannot hold the addresses")
    if size < total:
        return None
    if address_len == 0:  # LOCAL, or PROXY over UNSPEC: the real peer stands
        return _NO_ADDRESS, total
    replay_times_us = _parse_tlvs(data, _V2_FIXED_LEN + address_len, total)
    # v1 and v2 both end in _stored_v4/_stored_v6, so they spell an address the same way.
    if family == _FAM_TCP4:
        src, dst, sport, dport = _V4_ADDRESSES.unpack_from(data, _V2_FIXED_LEN)
        source_ip, destination_ip = _stored_v4(src, "source"), _stored_v4(dst, "destination")
    else:
        src, dst, sport, dport = _V6_ADDRESSES.unpack_from(data, _V2_FIXED_LEN)
        source_ip, destination_ip = _stored_v6(src, "source"), _stored_v6(dst, "destination")
    return ProxyInfo(source_ip, sport, destination_ip, dport, replay_times_us), total


def _parse_tlvs(data: bytes | bytearray, pos: int, end: int) -> tuple[int, ...] | None:
    """Walk the TLVs in data[pos:end]; return the replay times if that TLV is present."""
    replay_times_us: tuple[int, ...] | None = None
    while pos < end:
        if end - pos < _TLV_HEAD.size:
            raise ProxyError("proxy_v2_bad_tlv", f"{end - pos} stray bytes after the last TLV")
        kind, length = _TLV_HEAD.unpack_from(data, pos)
        pos += _TLV_HEAD.size
        if pos + length > end:
            raise ProxyError("proxy_v2_bad_tlv", f"TLV 0x{kind:02x} runs past the header")
        if kind == REPLAY_TLV_TYPE:
            if length == 0 or length % _REPLAY_VALUE.size:
                raise ProxyError(
                    "proxy_v2_bad_tlv", f"replay TLV of {length} bytes, not a multiple of 8"
                )
            if replay_times_us is not None:
                raise ProxyError("proxy_v2_bad_tlv", "replay TLV given twice")
            count = length // _REPLAY_VALUE.size
            if count > MAX_REPLAY_TIMES:
                raise ProxyError(
                    "proxy_v2_bad_tlv", f"replay TLV of {count} times, more than {MAX_REPLAY_TIMES}"
                )
            replay_times_us = struct.unpack_from(f"!{count}q", data, pos)
        pos += length
    return replay_times_us


REPLAY_TIME_RANGE_US: Final = TIME_RANGE_US
"""Replayed receive times must fall in [times.EARLIEST_TIME, times.LATEST_TIME), µs since the
epoch, as every stored event time must: a header carrying one outside is refused rather than
logged (the census's date arithmetic cannot take a year-9999 event)."""


def admit(
    buf: bytes | bytearray, peer_ip: str, trusted: TrustedNetworks, *, replay: bool
) -> tuple[ProxyInfo, int] | None:
    """What a listener taking PROXY headers does with the bytes so far from `peer_ip`: the
    header and its length once complete, None while incomplete. Raises ProxyError (reason
    `proxy_refused` with the why in its message) for an untrusted peer or, in replay mode, a
    replayed time outside REPLAY_TIME_RANGE_US; and for any header that cannot be valid."""
    if not is_trusted(peer_ip, trusted):
        # The reason is a category, not the address: that is in the event's source_ip.
        raise ProxyRefusedError("PROXY header from a peer not in trusted_proxies")
    parsed = parse(buf)
    if parsed is not None and replay and parsed[0].replay_times_us is not None:
        low, high = REPLAY_TIME_RANGE_US
        if not all(low <= t < high for t in parsed[0].replay_times_us):
            raise ProxyRefusedError(f"replay time outside {TIME_RANGE_TEXT}")
    return parsed


class ProxyRefusedError(ProxyError):
    """A header that may be valid but is not taken from this peer, or not with these times;
    its message says why."""

    def __init__(self, why: str) -> None:
        super().__init__("proxy_refused")
        self.args = (why,)


def build_v1(src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """A v1 line for a TCP connection from src to dst; raises ValueError on bad input."""
    source, destination = _address_pair(src[0], dst[0])
    proto = "TCP4" if source.version == 4 else "TCP6"
    sport, dport = _check_port(src[1]), _check_port(dst[1])
    return f"PROXY {proto} {source} {destination} {sport} {dport}\r\n".encode("ascii")


def build_v2(
    src: tuple[str, int], dst: tuple[str, int], *, replay_times_us: Sequence[int] | None = None
) -> bytes:
    """A v2 PROXY-command header for TCP from src to dst, with the replay TLV if times are given
    (one per request the connection will carry, at most MAX_REPLAY_TIMES)."""
    source, destination = _address_pair(src[0], dst[0])
    sport, dport = _check_port(src[1]), _check_port(dst[1])
    if source.version == 4:
        family = _FAM_TCP4
        body = _V4_ADDRESSES.pack(source.packed, destination.packed, sport, dport)
    else:
        family = _FAM_TCP6
        body = _V6_ADDRESSES.pack(source.packed, destination.packed, sport, dport)
    if replay_times_us is not None:
        if not 0 < len(replay_times_us) <= MAX_REPLAY_TIMES:
            raise ValueError(f"{len(replay_times_us)} replay times: give 1 to {MAX_REPLAY_TIMES}")
        for t in replay_times_us:
            if not _INT64_MIN <= t <= _INT64_MAX:
                raise ValueError(f"replay time {t} does not fit in int64")
        body += _TLV_HEAD.pack(REPLAY_TLV_TYPE, _REPLAY_VALUE.size * len(replay_times_us))
        body += struct.pack(f"!{len(replay_times_us)}q", *replay_times_us)
    ver_cmd = _V2_VERSION << 4 | _CMD_PROXY
    return _V2_SIGNATURE + _V2_FIXED.pack(ver_cmd, family, len(body)) + body


def _address_pair(source: str, destination: str) -> tuple[IPAddress, IPAddress]:
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(destination)
    if src.version != dst.version:
        raise ValueError(f"{source} and {destination} are not the same address family")
    for address in (src, dst):
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise ValueError(f"{address} is scoped; a PROXY header has no room for a scope id")
    return src, dst


def _check_port(port: int) -> int:
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} is outside 0-65535")
    return port


def compile_networks(cidrs: Sequence[str]) -> TrustedNetworks:
    """Parse the trusted-proxy CIDRs once; IPv4-mapped IPv6 ranges become IPv4 ranges."""
    if isinstance(cidrs, str):  # a lone string would otherwise be read one character at a time
        raise TypeError("compile_networks takes a sequence of CIDR strings, not one string")
    return tuple(_unmap_network(ipaddress.ip_network(cidr)) for cidr in cidrs)


def _unmap_network(network: IPNetwork) -> IPNetwork:
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def is_trusted(peer_ip: str, networks: TrustedNetworks) -> bool:
    """Whether the real peer may send a PROXY header; unparseable peers are not trusted."""
    try:
        address: IPAddress = ipaddress.ip_address(peer_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket reports v4 peers as ::ffff:a.b.c.d
    return any(address in network for network in networks)

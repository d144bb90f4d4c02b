"""Fuzzing a real `botcensus sinkhole serve` over raw loopback sockets (issue 9).

Hypothesis builds connections out of well-formed, mutated and junk requests, PROXY headers
good and bad, cut at random points and sent with pauses; each connection comes from its own
loopback address (127.x.y.z), so its events can be told apart. The invariants:

- every reply a client read is one recorded event, and the sinkhole recorded no answered
  event whose reply the client did not read (for clients that read to the end);
- no request is recorded twice;
- the sinkhole stays up: a probe is answered after every example, no worker restarts, and it
  stops cleanly.

BOTCENSUS_FUZZ_EXAMPLES (default 150) sets the examples per test; the events are checked once
the sinkhole has stopped and rolled its log.
"""

from __future__ import annotations

import collections
import itertools
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botcensus.capture import proxy
from botcensus.model import EVENT_SCHEMA
from botcensus.simulate.sinkhole import SinkholeProcess
from botcensus.store import iter_events

EXAMPLES = int(os.environ.get("BOTCENSUS_FUZZ_EXAMPLES", "150"))
LIMITS = "[sinkhole.limits]\nmax_header_bytes = 2048\nmax_body_bytes = 4096\n"


# -- what a connection sends --------------------------------------------------------------------
@dataclass(frozen=True)
class Piece:
    """One request-ish thing on a connection: `kind` says how it is built."""

    kind: str
    method: str = "GET"
    body: bytes = b""
    chunked: bool = False
    trailers: int = 0
    close: bool = False
    extra: tuple[tuple[str, str], ...] = ()
    mutation: tuple[str, int, bytes] | None = None
    junk: bytes = b""


@dataclass(frozen=True)
class Conn:
    pieces: tuple[Piece, ...]
    listener: str
    proxy_kind: str
    cuts: tuple[int, ...]
    pause: float
    read: bool
    """Send, half-close and read to EOF; otherwise close without reading (a reset)."""


header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=":"),
    max_size=40,
).map(str.strip)
pieces = st.one_of(
    st.builds(
        Piece,
        kind=st.just("request"),
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "OPTIONS"]),
        body=st.binary(max_size=200),
        chunked=st.booleans(),
        trailers=st.integers(0, 3),
        close=st.booleans(),
        extra=st.lists(
            st.tuples(st.sampled_from(["User-Agent", "X-Bot-Id", "Cookie", "X-Pad"]), header_text),
            max_size=4,
        ).map(tuple),
    ),
    st.builds(
        Piece,
        kind=st.just("mutated"),
        method=st.sampled_from(["GET", "POST"]),
        body=st.binary(max_size=64),
        mutation=st.tuples(
            st.sampled_from(["flip", "insert", "delete", "truncate"]),
            st.integers(0, 300),
            st.binary(min_size=1, max_size=8),
        ),
    ),
    st.builds(Piece, kind=st.just("junk"), junk=st.binary(min_size=1, max_size=200)),
    st.builds(Piece, kind=st.sampled_from(["big-head", "big-body", "huge-length"])),
)
connections = st.builds(
    Conn,
    pieces=st.lists(pieces, min_size=1, max_size=6).map(tuple),
    listener=st.sampled_from(["plain", "plain", "lb"]),
    proxy_kind=st.sampled_from(["v1", "v2", "v2-local", "none", "garbage"]),
    cuts=st.lists(st.integers(1, 4000), max_size=5).map(lambda c: tuple(sorted(set(c)))),
    pause=st.sampled_from([0.0, 0.0, 0.002]),
    read=st.booleans(),
)


def render(piece: Piece, ident: str) -> bytes:
    """The bytes of a piece; its path carries `ident`, unique over the whole test."""
    path = f"/fz/{ident}"
    if piece.kind == "junk":
        return piece.junk
    if piece.kind == "big-head":
        return f"GET {path} HTTP/1.1\r\nHost: h\r\nX-Pad: {'a' * 3000}\r\n\r\n".encode()
    if piece.kind == "big-body":
        return f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n".encode() + (
            b"b" * 5000
        )
    if piece.kind == "huge-length":
        return f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {2**63}\r\n\r\nxyz".encode()
    lines = [f"{piece.method} {path}?q=1 HTTP/1.1", "Host: cnc.example"]
    lines += [f"{name}: {value}" for name, value in piece.extra]
    body = piece.body
    if piece.chunked and piece.kind == "request":
        lines.append("Transfer-Encoding: chunked")
        trailers = "".join(f"X-T{i}: {i}\r\n" for i in range(piece.trailers))
        wire = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 50]), body[i : i + 50]) for i in
                        range(0, len(body), 50))  # fmt: skip
        body = wire + b"0\r\n" + trailers.encode() + b"\r\n"
    elif body or piece.method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    if piece.close:
        lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    if piece.mutation is not None:
        how, at, blob = piece.mutation
        at %= len(data)
        if how == "flip":
            data = data[:at] + bytes([data[at] ^ blob[0]]) + data[at + 1 :]
        elif how == "insert":
            data = data[:at] + blob + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + len(blob) :]
        else:
            data = data[:at]
    return data


def proxy_header(kind: str, n: int) -> bytes:
    src = (f"203.0.113.{n % 250 + 1}", 1024 + n % 60000)
    dst = ("198.51.100.1", 80)
    if kind == "v1":
        return proxy.build_v1(src, dst)
    if kind == "v2":
        return proxy.build_v2(src, dst)
    if kind == "v2-local":
        return proxy.build_v2(src, dst)[:12] + b"\x20\x00\x00\x00"
    if kind == "garbage":
        return b"PROXY TCP4 nonsense\r\n"
    return b""


# -- talking to the sinkhole --------------------------------------------------------------------
def _read_all(sock: socket.socket, into: bytearray) -> None:
    """Read until EOF; a reset ends it too (what came before it is kept)."""
    try:
        while chunk := sock.recv(65536):
            into += chunk
    except OSError:
        pass


def count_replies(data: bytes) -> list[int]:
    """Statuses of the complete responses in data."""
    found, pos = [], 0
    while (end := data.find(b"\r\n\r\n", pos)) >= 0:
        head = data[pos:end].split(b"\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if end + 4 + length > len(data):
            break
        found.append(int(head[0].split(b" ")[1]))
        pos = end + 4 + length
    return found


@dataclass
class Fuzzer:
    sink: SinkholeProcess
    addresses: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    expected: dict[str, tuple[Conn, bool, list[int], bytes]] = field(default_factory=dict)

    def address(self) -> str:
        n = next(self.addresses)
        while n % 256 in (0, 255):  # no network or broadcast-looking host part
            n = next(self.addresses)
        return f"127.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    def run(self, conn: Conn) -> None:
        source = self.address()
        header = proxy_header(conn.proxy_kind, len(self.expected)) if conn.listener == "lb" else b""
        data = header + b"".join(render(p, f"{source}/{i}") for i, p in enumerate(conn.pieces))
        got = bytearray()
        whole = True
        sock = socket.socket()
        try:
            sock.bind((source, 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", self.sink.ports[conn.listener]))
            try:
                start = 0
                for cut in (*conn.cuts, len(data)):
                    if start < min(cut, len(data)):
                        sock.sendall(data[start:cut])
                        start = cut
                        if conn.pause:
                            time.sleep(conn.pause)
                if conn.read:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:  # the sinkhole closed (a reject) while we were still sending
                whole = False
            if conn.read:
                _read_all(sock, got)
            else:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        finally:
            sock.close()
        self.expected[source] = (conn, whole, count_replies(bytes(got)), data)

    def probe(self) -> None:
        got = httpx.get(f"http://127.0.0.1:{self.sink.ports['plain']}/probe", timeout=5)
        assert got.status_code == 404

    def check(self) -> None:
        events = pa.Table.from_batches(
            list(iter_events(self.sink.data_dir)), schema=EVENT_SCHEMA
        ).to_pylist()
        per_conn: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for event in events:
            per_conn[event["proxy_peer_ip"] or event["source_ip"]].append(event)
        # A request whose path names the connection it came on (mutations may garble it).
        own = collections.Counter(
            e["path"]
            for source, found in per_conn.items()
            for e in found
            if e["path"] and e["path"].startswith(f"/fz/{source}/")
        )
        twice = [p for p, n in own.items() if n > 1]
        assert twice == [], f"recorded more than once: {twice[:5]}"
        for source, (conn, whole, replies, data) in self.expected.items():
            answered = collections.Counter(e["status"] for e in per_conn[source] if e["status"])
            read = collections.Counter(replies)
            # Every reply read is a recorded answer...
            assert read <= answered, (source, conn, data[:300])
            if conn.read and whole:
                # ... and a client that sent everything and read to the end read them all.
                assert read == answered, (source, conn, data[:300])


# -- the tests ----------------------------------------------------------------------------------
@pytest.fixture
def fuzzer(tmp_path: Path) -> Any:
    config = tmp_path / "sinkhole.toml"
    config.write_text(
        '[[sinkhole.listeners]]\nname = "plain"\naddress = "127.0.0.1:0"\n'
        '[[sinkhole.listeners]]\nname = "lb"\naddress = "127.0.0.1:0"\nproxy_protocol = true\n'
        + LIMITS
        + "[sinkhole.recorder]\nfsync_interval = 0.05\nsegment_seconds = 0.3\n",
        encoding="utf-8",
    )
    sink = SinkholeProcess(
        tmp_path / "data", ["--config", str(config), "--metrics", "127.0.0.1:0"], workers=2
    )
    sink.start()
    yield Fuzzer(sink)
    if sink.proc is not None and sink.proc.poll() is None:
        sink.kill()


def _finish(fuzzer: Fuzzer) -> None:
    sink = fuzzer.sink
    assert sink.metrics is not None
    text = httpx.get(f"http://{sink.metrics}/metrics", timeout=5).text
    restarts = [
        line
        for line in text.splitlines()
        if line.startswith("botcensus_sinkhole_worker_restarts_total")
    ]
    assert restarts == ["botcensus_sinkhole_worker_restarts_total 0.0"]
    assert sink.stop() == 0
    assert "Traceback" not in sink.log()
    fuzzer.check()


@pytest.mark.slow
def test_fuzzed_connections_are_answered_and_recorded_exactly_once(fuzzer: Fuzzer) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(connections, min_size=1, max_size=3))
    def example(conns: list[Conn]) -> None:
        for conn in conns:
            fuzzer.run(conn)
        fuzzer.probe()

    example()
    _finish(fuzzer)

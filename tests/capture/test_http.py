"""The connection handler on a real loopback port, in process: what it records and answers."""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botcensus.capture import proxy
from botcensus.capture.reply import REJECT_REPLY, UNAVAILABLE_REPLY, Reject, encode
from botcensus.config import LimitSettings, ListenerSettings, RecorderSettings, ReplySettings

NOT_FOUND_KEEP = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
NOT_FOUND_CLOSE = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
RUSTOCK_UA = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"


def _get(path: str = "/", *, close: bool = True, extra: bytes = b"") -> bytes:
    conn = b"Connection: close\r\n" if close else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: cnc.example\r\n" + conn + extra + b"\r\n"


def _reason(event: dict[str, Any]) -> str:
    return str(event["reject_reason"]).partition(":")[0]


# -- the recorded event --------------------------------------------------------------------
def test_every_field_of_a_get_is_recorded(inproc, net):
    server = inproc()
    request = (
        b"GET /gate.php?id=42&v=1 HTTP/1.1\r\nHost: cnc.example:8080\r\n"
        b"User-Agent: TestBot/1.0\r\nX-Custom: yes\r\nConnection: close\r\n\r\n"
    )
    before = time.time_ns() // 1000
    with net.connect(server.port) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(request)
        assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
    after = time.time_ns() // 1000
    [event] = server.events()
    assert before <= event.pop("time_received") <= after
    assert event == {
        "source_ip": "127.0.0.1",
        "source_port": client_port,
        "destination_ip": "127.0.0.1",
        "destination_port": server.port,
        "proxy_peer_ip": None,
        "listener": "main",
        "sensor": "test-sensor",
        "method": "GET",
        "host": "cnc.example:8080",
        "path": "/gate.php",
        "query": "id=42&v=1",
        "user_agent": "TestBot/1.0",
        "header_names": ["Host", "User-Agent", "X-Custom", "Connection"],
        "content_length": None,
        "body_length": 0,
        "body_truncated": False,
        "body_sha256": hashlib.sha256(b"").digest(),
        "body_head": b"",
        "malware_family": None,
        "bot_id": None,
        "status": 404,
        "reject_reason": None,
    }


def test_post_body_fields_are_recorded(inproc, net):
    server = inproc()
    body = bytes(range(200))
    request = (
        b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\nConnection: close\r\n\r\n"
        + body
    )
    assert net.exchange(server.port, request) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert event["method"] == "POST"
    assert event["content_length"] == 200
    assert event["body_length"] == 200
    assert event["body_truncated"] is False
    assert event["body_sha256"] == hashlib.sha256(body).digest()
    assert event["body_head"] == body
    assert event["query"] is None
    assert event["user_agent"] is None


def test_body_head_keeps_only_the_configured_leading_bytes(inproc, net, sink_settings):
    server = inproc(sink_settings(recorder=RecorderSettings(body_head_bytes=16)))
    body = b"A" * 16 + b"B" * 84
    request = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
    net.exchange(server.port, request + body)
    [event] = server.events()
    assert event["body_head"] == b"A" * 16
    assert event["body_sha256"] == hashlib.sha256(body).digest()
    assert event["body_length"] == 100


def test_chunked_body_is_recorded_dechunked(inproc, net):
    server = inproc()
    request = (
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    assert net.exchange(server.port, request) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert event["body_head"] == b"hello world"
    assert event["body_length"] == 11
    assert event["content_length"] is None


def test_header_bytes_that_are_not_utf8_are_kept_escaped(inproc, net):
    server = inproc()
    net.exchange(server.port, _get(extra=b"User-Agent: caf\xe9\r\n"))
    [event] = server.events()
    assert event["user_agent"] == "caf\\xe9"


def test_rustock_check_in_is_decoded(inproc):
    server = inproc()
    body = bytes(range(96))
    headers = {"User-Agent": RUSTOCK_UA, "Content-Type": "application/octet-stream"}
    reply = httpx.post(
        f"http://127.0.0.1:{server.port}/login.php", content=body, headers=headers, timeout=3
    )
    assert reply.status_code == 404
    [event] = server.events()
    assert event["malware_family"] == "rustock"
    assert event["bot_id"] is None
    assert event["method"] == "POST"
    assert event["path"] == "/login.php"
    assert event["body_length"] == 96
    assert event["user_agent"] == RUSTOCK_UA


@pytest.mark.parametrize(
    ("method", "path", "length"),
    [("GET", "/login.php", 0), ("POST", "/login.php", 95), ("POST", "/index.php", 96)],
)
def test_near_misses_are_not_counted_as_rustock(inproc, method, path, length):
    server = inproc()
    url = f"http://127.0.0.1:{server.port}{path}"
    httpx.request(method, url, content=b"x" * length or None, timeout=3)
    [event] = server.events()
    assert event["malware_family"] is None


def test_generic_rule_from_config_decodes_a_bot_id(inproc, sink_settings):
    rule = {"family": "examplebot", "path": "^/gate\\.php$", "bot_id_query": "id"}
    server = inproc(sink_settings(decoders=[rule]))
    httpx.get(f"http://127.0.0.1:{server.port}/gate.php?id=BOT-7", timeout=3)
    [event] = server.events()
    assert (event["malware_family"], event["bot_id"]) == ("examplebot", "BOT-7")


# Bot ids and header values as docs/events.md says they are stored: UTF-8, bytes that are not
# UTF-8 as \xNN, control and format characters escaped (nothing raw reaches a CSV or a terminal).
STORED_IDS = [
    ("%ff%fe", "\\xff\\xfe"),
    ("%fe%ff", "\\xfe\\xff"),
    ("a%00b", "a\\x00b"),
    ("%1b%5b2J%1b%5bH", "\\x1b[2J\\x1b[H"),
    ("a%0d%0a%3dcmd", "a\\x0d\\x0a=cmd"),
    ("abc%e2%80%aegpj.exe", "abc\\u202egpj.exe"),
    ("caf%c3%a9", "caf\u00e9"),
]


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "byte-by-byte"])
def test_bot_ids_from_the_query_are_stored_escaped(inproc, net, sink_settings, split):
    rule = {"family": "examplebot", "path": "^/gate$", "bot_id_query": "id"}
    server = inproc(sink_settings(decoders=[rule]))
    for sent, _ in STORED_IDS:
        request = f"GET /gate?id={sent} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        with net.connect(server.port) as sock:
            for piece in [request[i : i + 1] for i in range(len(request))] if split else [request]:
                sock.sendall(piece.encode())
            assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
    events = server.wait_events(len(STORED_IDS))
    assert [e["bot_id"] for e in events] == [stored for _, stored in STORED_IDS]


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "byte-by-byte"])
def test_control_characters_in_headers_are_stored_escaped(inproc, net, sink_settings, split):
    rule = {"family": "examplebot", "path": "^/gate$", "bot_id_header": "X-Bot-Id"}
    server = inproc(sink_settings(decoders=[rule]))
    value = "a\u202eb\u0085c\td\u200b".encode() + b"\xff"
    request = (
        b"GET /gate HTTP/1.1\r\nHost: h" + value + b"\r\nUser-Agent: " + value
        + b"\r\nX-Bot-Id: " + value + b"\r\nConnection: close\r\n\r\n"
    )  # fmt: skip
    with net.connect(server.port) as sock:
        for piece in [request[i : i + 1] for i in range(len(request))] if split else [request]:
            sock.sendall(piece)
        assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
    [event] = server.events()
    stored = "a\\u202eb\\u0085c\\x09d\\u200b\\xff"
    assert (event["host"], event["user_agent"], event["bot_id"]) == ("h" + stored, stored, stored)


# -- the fixed reply -------------------------------------------------------------------------
def test_keep_alive_request_gets_the_keep_alive_variant(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        sock.sendall(_get(close=False))
        assert net.read_exact(sock, len(server.reply.keep_alive)) == server.reply.keep_alive
    assert server.reply.keep_alive == NOT_FOUND_KEEP


def test_connection_close_request_gets_the_close_variant_and_a_close(inproc, net):
    server = inproc()
    assert net.exchange(server.port, _get(close=True)) == server.reply.close


def test_http_1_0_request_gets_the_close_variant(inproc, net):
    server = inproc()
    assert net.exchange(server.port, b"GET / HTTP/1.0\r\n\r\n") == NOT_FOUND_CLOSE
    [event] = server.events()
    assert event["host"] is None


def test_no_status_page_on_the_sinkhole_port(inproc):
    server = inproc()
    reply = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=3)
    assert (reply.status_code, reply.content) == (404, b"")
    [event] = server.events()
    assert event["path"] == "/metrics"


def test_reply_body_from_file_and_status_200(inproc, tmp_path, sink_settings):
    body_file = tmp_path / "reply.html"
    body_file.write_bytes(b"<html>seized</html>")
    reply = ReplySettings(status=200, body_file=body_file, content_type="text/html")
    server = inproc(sink_settings(ListenerSettings(name="web", address="127.0.0.1:0", reply=reply)))
    body_file.write_bytes(b"changed after start-up")  # read once at start-up
    got = httpx.get(f"http://127.0.0.1:{server.port}/anything?x=1", timeout=3)
    assert got.status_code == 200
    assert got.content == b"<html>seized</html>"
    assert got.headers["content-type"] == "text/html"
    assert server.events()[0]["status"] == 200


def test_reply_has_no_date_or_server_header(inproc):
    server = inproc()
    got = httpx.get(f"http://127.0.0.1:{server.port}/", timeout=3)
    assert set(got.headers) == {"content-length"}


_TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^_`|~"
_TOKEN = st.text(_TCHAR, min_size=1, max_size=20)
_FRAMING = {"connection", "content-length", "transfer-encoding", "upgrade", "expect", "host"}
_HEADERS = st.lists(
    st.tuples(
        _TOKEN.filter(lambda n: n.lower() not in _FRAMING),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    ),
    max_size=8,
)
_PATH = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/%?", max_size=60)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=_PATH,
    headers=_HEADERS,
    body=st.binary(max_size=2000),
    version=st.sampled_from(["1.0", "1.1"]),
    keep_alive=st.booleans(),
    host=st.one_of(st.none(), _TOKEN),
)
def test_reply_never_varies_with_the_request(
    shared_inproc, net, method, path, headers, body, version, keep_alive, host
):
    lines = [f"{method} /{path} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    if version == "1.0" and keep_alive:
        lines.append("Connection: keep-alive")
    elif version == "1.1" and not keep_alive:
        lines.append("Connection: close")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body
    reply = shared_inproc.reply
    with net.connect(shared_inproc.port) as sock:
        sock.sendall(request)
        if keep_alive:
            assert net.read_exact(sock, len(reply.keep_alive)) == reply.keep_alive
        else:
            assert net.read_to_eof(sock) == reply.close


def _strip_replies(data: bytes, allowed: list[bytes]) -> bytes:
    """data with every leading fixed reply removed; what is left was not a fixed reply."""
    progress = True
    while data and progress:
        progress = False
        for reply in allowed:
            if data.startswith(reply):
                data, progress = data[len(reply) :], True
    return data


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(junk=st.binary(min_size=1, max_size=300))
def test_any_bytes_get_only_fixed_replies(shared_inproc, net, junk):
    allowed = [shared_inproc.reply.keep_alive, shared_inproc.reply.close, *REJECT_REPLY.values()]
    with net.connect(shared_inproc.port) as sock:
        sock.sendall(junk)
        sock.shutdown(socket.SHUT_WR)
        assert _strip_replies(net.read_to_eof(sock), allowed) == b""


# -- connections ----------------------------------------------------------------------------
def test_keep_alive_serves_several_requests_on_one_connection(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        port = sock.getsockname()[1]
        for i in range(5):
            sock.sendall(_get(f"/r{i}", close=False))
            assert net.read_exact(sock, len(NOT_FOUND_KEEP)) == NOT_FOUND_KEEP
    events = server.events()
    assert [e["path"] for e in events] == [f"/r{i}" for i in range(5)]
    assert {e["source_port"] for e in events} == {port}


def test_httpx_client_reuses_one_connection(inproc):
    server = inproc()
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=3) as client:
        statuses = [client.get(f"/k{i}").status_code for i in range(4)]
    assert statuses == [404] * 4
    assert len({e["source_port"] for e in server.events()}) == 1
    assert server.stats.connections_total == 1


def test_pipelined_requests_are_each_answered_in_order(inproc, net):
    server = inproc()
    pipeline = b"".join(_get(f"/p{i}", close=False) for i in range(4)) + _get("/last")
    with net.connect(server.port) as sock:
        sock.sendall(pipeline)
        got = net.read_to_eof(sock)
    assert got == NOT_FOUND_KEEP * 4 + NOT_FOUND_CLOSE
    assert [e["path"] for e in server.events()] == ["/p0", "/p1", "/p2", "/p3", "/last"]


def test_pipelined_good_then_malformed_gets_both_replies_in_order(inproc, net):
    server = inproc()
    got = net.exchange(server.port, _get("/good", close=False) + b"NOT HTTP AT ALL\r\n\r\n")
    assert got == NOT_FOUND_KEEP + REJECT_REPLY[Reject.MALFORMED]
    events = server.events()
    assert [(e["path"], e["status"]) for e in events] == [("/good", 404), (None, 400)]


def test_pipelined_requests_split_mid_head_are_reassembled(inproc, net):
    server = inproc()
    pipeline = _get("/one", close=False) + _get("/two")
    with net.connect(server.port) as sock:
        for i in range(0, len(pipeline), 13):
            sock.sendall(pipeline[i : i + 13])
            time.sleep(0.001)
        assert net.read_to_eof(sock) == NOT_FOUND_KEEP + NOT_FOUND_CLOSE
    assert [e["path"] for e in server.events()] == ["/one", "/two"]


def test_repeated_headers_are_all_named_in_order(inproc, net):
    server = inproc()
    net.exchange(server.port, _get(extra=b"Cookie: a=1\r\nCookie: b=2\r\n"))
    assert server.events()[0]["header_names"] == ["Host", "Connection", "Cookie", "Cookie"]


def test_bytes_after_a_close_request_are_ignored(inproc, net):
    server = inproc()
    got = net.exchange(server.port, _get("/first") + _get("/second"))
    assert got == NOT_FOUND_CLOSE
    assert [e["path"] for e in server.events()] == ["/first"]


def test_request_then_half_close_still_gets_its_reply(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        sock.sendall(_get(close=False))
        sock.shutdown(socket.SHUT_WR)
        assert net.read_to_eof(sock) == NOT_FOUND_KEEP
    assert len(server.events()) == 1


def test_connect_method_gets_the_fixed_reply_and_a_close(inproc, net):
    server = inproc()
    request = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"
    got = net.exchange(server.port, request)
    assert got == NOT_FOUND_CLOSE
    [event] = server.events()
    assert event["method"] == "CONNECT"


def test_upgrade_request_gets_the_fixed_reply_and_a_close(inproc, net):
    server = inproc()
    request = _get("/ws", close=False, extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n")
    assert net.exchange(server.port, request) == NOT_FOUND_CLOSE
    assert server.events()[0]["path"] == "/ws"


def test_max_connections_refuses_the_excess_connection(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_connections=1)))
    with net.connect(server.port) as first:
        first.sendall(b"GET / HTTP/1.1\r\n")  # holds the only slot
        time.sleep(0.05)
        with net.connect(server.port) as second:
            second.sendall(_get())
            assert net.read_to_eof(second) == b""
        first.sendall(b"Host: h\r\nConnection: close\r\n\r\n")
        assert net.read_to_eof(first) == NOT_FOUND_CLOSE
    assert server.stats.connections_refused == 1
    assert len(server.events()) == 1


def test_idle_keep_alive_connection_is_closed_without_an_event(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(keepalive_timeout=0.1)))
    with net.connect(server.port) as sock:
        sock.sendall(_get(close=False))
        assert net.read_to_eof(sock) == NOT_FOUND_KEEP
    assert len(server.events()) == 1


def test_silent_connection_is_closed_after_the_header_timeout(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(header_timeout=0.1)))
    with net.connect(server.port) as sock:
        assert net.read_to_eof(sock) == b""
    assert server.events() == []
    assert server.stats.connections_total == 1


# -- malformed, oversized, slow ------------------------------------------------------------
@pytest.mark.parametrize(
    "junk",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_request_gets_400_and_is_recorded(inproc, net, junk):
    server = inproc()
    assert net.exchange(server.port, junk) == REJECT_REPLY[Reject.MALFORMED]
    [event] = server.events()
    assert event["status"] == 400
    assert _reason(event) == "malformed"
    assert event["malware_family"] is None
    assert server.stats.rejects["malformed"] == 1


def test_malformed_request_keeps_what_was_parsed(inproc, net):
    server = inproc()
    net.exchange(server.port, b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")
    [event] = server.events()
    assert (event["method"], event["path"], event["query"]) == ("GET", "/x", "y=1")


def test_oversized_head_gets_431(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_header_bytes=1024)))
    request = _get(extra=b"X-Pad: " + b"a" * 4000 + b"\r\n")
    assert net.exchange(server.port, request) == REJECT_REPLY[Reject.HEADER_TOO_LARGE]
    [event] = server.events()
    assert (event["status"], _reason(event)) == (431, "header_too_large")


def test_oversized_head_sent_in_pieces_gets_431(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_header_bytes=1024)))
    with net.connect(server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(20):
            try:
                sock.sendall(b"X-Pad: " + b"a" * 100 + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.002)
        assert net.read_to_eof(sock).startswith(b"HTTP/1.1 431 ")
    assert _reason(server.events()[0]) == "header_too_large"


@pytest.mark.parametrize("pieces", [1, 7], ids=["one-send", "in-pieces"])
def test_an_oversized_url_is_stored_cut_at_the_limit(inproc, net, pieces):
    server = inproc()  # the default max_header_bytes, 16384
    limit = LimitSettings().max_header_bytes
    request = _get("/" + "a" * 100_000 + "?q=" + "b" * 100)
    with net.connect(server.port) as sock:
        step = -(-len(request) // pieces)
        try:
            for i in range(0, len(request), step):
                sock.sendall(request[i : i + step])
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.HEADER_TOO_LARGE]
    [event] = server.wait_events(1)
    assert event["reject_reason"] == f"header_too_large: head exceeds {limit} bytes"
    assert event["path"] == "/" + "a" * (limit - 1)
    assert event["query"] is None


def test_an_oversized_header_in_one_read_is_stored_cut_at_the_limit(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_header_bytes=1024)))
    request = _get(extra=b"User-Agent: " + b"u" * 4000 + b"\r\nX-After: x\r\n")
    assert net.exchange(server.port, request) == REJECT_REPLY[Reject.HEADER_TOO_LARGE]
    [event] = server.events()
    assert event["reject_reason"] == "header_too_large: head exceeds 1024 bytes"
    assert event["header_names"] == ["Host", "Connection", "User-Agent"]
    kept = len(event["path"]) + len("Host: cnc.example\r\n") + len("Connection: close\r\n")
    assert event["user_agent"] == "u" * (1024 - kept - len("User-Agent: \r\n"))


def test_head_just_under_the_limit_is_answered(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_header_bytes=1024)))
    base = _get(extra=b"X-Pad: \r\n")
    request = base.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (1024 - len(base)))
    assert len(request) == 1024
    assert net.exchange(server.port, request) == NOT_FOUND_CLOSE


def test_oversized_body_gets_413_and_is_recorded_truncated(inproc, net, sink_settings):
    server = inproc(
        sink_settings(
            limits=LimitSettings(max_body_bytes=1000),
            recorder=RecorderSettings(body_head_bytes=4096),
        )
    )
    body = bytes(range(256)) * 8  # 2048 bytes, announced in full
    head = b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 2048\r\n\r\n"
    assert net.exchange(server.port, head + body) == REJECT_REPLY[Reject.BODY_TOO_LARGE]
    [event] = server.events()
    assert (event["status"], _reason(event)) == (413, "body_too_large")
    assert event["content_length"] == 2048
    assert event["body_truncated"] is True
    assert event["body_length"] > 1000
    assert event["body_head"] == body[:1000]
    assert event["body_sha256"] == hashlib.sha256(body[:1000]).digest()


def test_body_of_exactly_the_limit_is_answered(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_body_bytes=1000)))
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
    assert net.exchange(server.port, head + b"x" * 1000) == NOT_FOUND_CLOSE
    assert server.events()[0]["body_truncated"] is False


def test_slow_head_times_out_with_408(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(header_timeout=0.2)))
    started = time.monotonic()
    with net.connect(server.port) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: h\r\n")
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.HEADER_TIMEOUT]
    assert time.monotonic() - started < 2
    [event] = server.wait_events(1)
    assert (event["status"], _reason(event)) == (408, "header_timeout")
    assert (event["method"], event["path"]) == ("GET", "/slow")


def test_slow_body_times_out_with_408(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(body_timeout=0.2)))
    with net.connect(server.port) as sock:
        sock.sendall(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.BODY_TIMEOUT]
    [event] = server.wait_events(1)
    assert (event["status"], _reason(event)) == (408, "body_timeout")
    assert event["body_length"] == 40
    assert event["content_length"] == 100


def test_body_timeout_is_separate_from_header_timeout(inproc, net, sink_settings):
    limits = LimitSettings(header_timeout=0.1, body_timeout=5)
    server = inproc(sink_settings(limits=limits))
    with net.connect(server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n")
        time.sleep(0.3)  # longer than the head may take, shorter than the body may
        sock.sendall(b"abcd")
        assert net.read_exact(sock, len(NOT_FOUND_KEEP)) == NOT_FOUND_KEEP


def test_client_gone_mid_request_is_recorded_as_incomplete(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        sock.sendall(b"POST /gone HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\nabc")
        time.sleep(0.05)
    [event] = server.wait_events(1)
    assert event["status"] == 0
    assert _reason(event) == "incomplete"
    assert (event["path"], event["body_length"]) == ("/gone", 3)


def test_connection_without_a_request_leaves_no_event(inproc, net):
    server = inproc()
    with net.connect(server.port):
        pass
    httpx.get(f"http://127.0.0.1:{server.port}/after", timeout=3)
    assert [e["path"] for e in server.events()] == ["/after"]


def test_failed_log_write_refuses_the_request_with_503(inproc, net, monkeypatch):
    # A stand-in for a full disk, to check the reply byte for byte; the real full disk (a
    # tmpfs, root only) is in test_faults.py and test_wal.py.
    server = inproc()
    assert server.writer is not None

    def broken(events: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(server.writer, "write", broken)
    with net.connect(server.port) as sock:
        sock.sendall(_get())
        assert net.read_to_eof(sock) == UNAVAILABLE_REPLY
    assert server.stats.write_errors == 1


# -- PROXY protocol --------------------------------------------------------------------------
def _proxy_listener(**fields: Any) -> ListenerSettings:
    return ListenerSettings(name="lb", address="127.0.0.1:0", proxy_protocol=True, **fields)


V1 = proxy.build_v1(("203.0.113.9", 51000), ("198.51.100.1", 80))
V2 = proxy.build_v2(("203.0.113.9", 51000), ("198.51.100.1", 80))
V2_V6 = proxy.build_v2(("2001:db8::9", 51000), ("2001:db8::1", 80))


@pytest.mark.parametrize(
    ("header", "source", "destination"),
    [
        (V1, "203.0.113.9", "198.51.100.1"),
        (V2, "203.0.113.9", "198.51.100.1"),
        (V2_V6, "2001:db8::9", "2001:db8::1"),
    ],
    ids=["v1", "v2", "v2-ipv6"],
)
def test_proxy_header_from_trusted_peer_sets_the_source(
    inproc, net, sink_settings, header, source, destination
):
    server = inproc(sink_settings(_proxy_listener()))
    assert net.exchange(server.port, header + _get()) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert (event["source_ip"], event["source_port"]) == (source, 51000)
    assert (event["destination_ip"], event["destination_port"]) == (destination, 80)
    assert event["proxy_peer_ip"] == "127.0.0.1"
    assert event["listener"] == "lb"


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_proxy_header_split_across_packets_is_reassembled(inproc, net, sink_settings, header):
    server = inproc(sink_settings(_proxy_listener()))
    with net.connect(server.port) as sock:
        for i in range(0, len(header), 7):
            sock.sendall(header[i : i + 7])
            time.sleep(0.002)
        sock.sendall(_get())
        assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
    assert server.events()[0]["source_ip"] == "203.0.113.9"


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_proxy_header_from_untrusted_peer_is_rejected(inproc, net, sink_settings, header):
    server = inproc(sink_settings(_proxy_listener(), trusted_proxies=["10.0.0.0/8"]))
    assert net.exchange(server.port, header + _get()) == REJECT_REPLY[Reject.PROXY]
    [event] = server.events()
    assert event["source_ip"] == "127.0.0.1"
    assert event["proxy_peer_ip"] is None
    assert (event["status"], _reason(event)) == (400, "proxy")
    assert event["reject_reason"] == "proxy: PROXY header from a peer not in trusted_proxies"
    # The reason is a category, not personal data: the address is in source_ip only.
    assert "127.0.0.1" not in event["reject_reason"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_get(), "proxy_header_missing"),
        (b"PROXY TCP4 1.2.3.4\r\n" + _get(), "proxy_v1_malformed"),
        (b"PROXY " + b"x" * 120, "proxy_header_too_long"),
        (b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12, "proxy_v2_bad_version"),
    ],
)
def test_bad_proxy_header_from_trusted_peer_is_rejected(inproc, net, sink_settings, data, code):
    server = inproc(sink_settings(_proxy_listener()))
    assert net.exchange(server.port, data) == REJECT_REPLY[Reject.PROXY]
    [event] = server.events()
    assert event["reject_reason"].startswith(f"proxy: {code}")


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP4 0.0.0.0 192.0.2.1 1234 80\r\n",
        b"PROXY TCP6 :: 2001:db8::1 1234 80\r\n",
        b"PROXY TCP4 203.0.113.9 0.0.0.0 1234 80\r\n",
        proxy.build_v2(("0.0.0.0", 1234), ("192.0.2.1", 80)),
        proxy.build_v2(("::", 1234), ("2001:db8::1", 80)),
        proxy.build_v2(("::ffff:0.0.0.0", 1234), ("2001:db8::1", 80)),
    ],
    ids=["v1", "v1-tcp6", "v1-destination", "v2", "v2-tcp6", "v2-mapped"],
)
def test_proxy_header_with_the_unspecified_address_is_refused(inproc, net, sink_settings, header):
    server = inproc(sink_settings(_proxy_listener()))
    with net.connect(server.port) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(header + _get())
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.PROXY]
    [event] = server.events()
    assert event["reject_reason"] == "proxy: proxy_unspecified_address"
    assert (event["source_ip"], event["source_port"]) == ("127.0.0.1", client_port)
    assert (event["destination_ip"], event["proxy_peer_ip"]) == ("127.0.0.1", None)


@pytest.mark.parametrize(
    "header",
    [
        b"PROXY TCP6 ::ffff:203.0.113.9 ::ffff:198.51.100.1 51000 80\r\n",
        proxy.build_v2(("::ffff:203.0.113.9", 51000), ("::ffff:198.51.100.1", 80)),
    ],
    ids=["v1", "v2"],
)
def test_proxy_header_with_ipv4_mapped_addresses_records_ipv4(inproc, net, sink_settings, header):
    server = inproc(sink_settings(_proxy_listener()))
    assert net.exchange(server.port, header + _get()) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert (event["source_ip"], event["destination_ip"]) == ("203.0.113.9", "198.51.100.1")


def test_replay_tlv_with_more_than_the_maximum_of_times_is_refused(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener(), replay=True))
    header = proxy.build_v2(("203.0.113.9", 1), ("198.51.100.1", 80), replay_times_us=[REPLAY_US])
    times = struct.pack("!q", REPLAY_US) * 8000
    tlv = struct.pack("!BH", proxy.REPLAY_TLV_TYPE, len(times)) + times
    header = header[:14] + struct.pack("!H", 12 + len(tlv)) + header[16:28] + tlv
    assert net.exchange(server.port, header + _get()) == REJECT_REPLY[Reject.PROXY]
    [event] = server.events()
    assert event["reject_reason"] == "proxy: proxy_v2_bad_tlv"


def test_proxy_header_on_a_plain_listener_is_malformed_http(inproc, net):
    server = inproc()
    assert net.exchange(server.port, V1 + _get()) == REJECT_REPLY[Reject.MALFORMED]
    assert server.events()[0]["source_ip"] == "127.0.0.1"


def test_proxy_v2_local_command_keeps_the_real_peer(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener()))
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    assert net.exchange(server.port, local + _get()) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert event["source_ip"] == "127.0.0.1"
    assert event["proxy_peer_ip"] is None


def test_proxy_header_applies_to_every_request_on_the_connection(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener()))
    net.exchange(server.port, V2 + _get("/a", close=False) + _get("/b"))
    assert [(e["path"], e["source_ip"]) for e in server.events()] == [
        ("/a", "203.0.113.9"),
        ("/b", "203.0.113.9"),
    ]


def test_slow_proxy_header_times_out(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener(), limits=LimitSettings(header_timeout=0.1)))
    with net.connect(server.port) as sock:
        sock.sendall(V1[:10])
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.HEADER_TIMEOUT]
    assert _reason(server.wait_events(1)[0]) == "header_timeout"


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_connection_closed_mid_proxy_header_is_recorded_as_incomplete(
    inproc, net, sink_settings, header
):
    server = inproc(sink_settings(_proxy_listener()))
    with net.connect(server.port) as sock:
        sock.sendall(header[:10])
        time.sleep(0.1)
    [event] = server.wait_events(1)
    assert (event["status"], _reason(event)) == (0, "incomplete")
    assert event["reject_reason"] == "incomplete: connection closed mid-PROXY-header"
    assert event["source_ip"] == "127.0.0.1"
    assert event["path"] is None


def test_connection_closed_before_any_byte_on_a_proxy_listener_leaves_no_event(
    inproc, net, sink_settings
):
    server = inproc(sink_settings(_proxy_listener()))
    with net.connect(server.port):
        pass
    httpx.get(f"http://127.0.0.1:{server.port}/", timeout=3)  # refused: no PROXY header
    assert [_reason(e) for e in server.wait_events(1)] == ["proxy"]


REPLAY_US = 1_300_233_600_123_456


@pytest.mark.parametrize(("replay", "recorded"), [(True, REPLAY_US), (False, None)])
def test_replay_time_is_honoured_only_when_enabled(inproc, net, sink_settings, replay, recorded):
    server = inproc(sink_settings(_proxy_listener(), replay=replay))
    header = proxy.build_v2(("203.0.113.9", 1), ("198.51.100.1", 80), replay_times_us=[REPLAY_US])
    net.exchange(server.port, header + _get())
    [event] = server.events()
    if recorded is None:
        assert abs(event["time_received"] - time.time_ns() // 1000) < 60_000_000
    else:
        assert event["time_received"] == recorded


def test_pipelined_replayed_requests_get_one_time_each(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener(), replay=True))
    times = [REPLAY_US, REPLAY_US + 300_000_000]
    header = proxy.build_v2(("203.0.113.9", 1), ("198.51.100.1", 80), replay_times_us=times)
    keep = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    net.exchange(server.port, header + keep + keep + _get())
    events = server.wait_events(3)
    # A request beyond the list takes the list's last time.
    assert [e["time_received"] for e in events] == [*times, times[-1]]


# -- listeners -------------------------------------------------------------------------------
def test_several_listeners_record_their_names(inproc, sink_settings):
    server = inproc(
        sink_settings(
            ListenerSettings(name="cnc-a", address="127.0.0.1:0"),
            ListenerSettings(name="cnc-b", address="127.0.0.1:0"),
        )
    )
    for name, port in server.ports.items():
        httpx.get(f"http://127.0.0.1:{port}/{name}", timeout=3)
    assert {(e["listener"], e["path"], e["destination_port"]) for e in server.events()} == {
        ("cnc-a", "/cnc-a", server.ports["cnc-a"]),
        ("cnc-b", "/cnc-b", server.ports["cnc-b"]),
    }


def test_each_listener_answers_with_its_own_reply(inproc, tmp_path, sink_settings):
    page = tmp_path / "page"
    page.write_bytes(b"ok")
    server = inproc(
        sink_settings(
            ListenerSettings(name="plain", address="127.0.0.1:0"),
            ListenerSettings(
                name="page", address="127.0.0.1:0", reply=ReplySettings(status=200, body_file=page)
            ),
        )
    )
    plain = httpx.get(f"http://127.0.0.1:{server.ports['plain']}/", timeout=3)
    paged = httpx.get(f"http://127.0.0.1:{server.ports['page']}/", timeout=3)
    assert (plain.status_code, plain.content) == (404, b"")
    assert (paged.status_code, paged.content) == (200, b"ok")
    assert server.replies["page"].close == encode(200, b"ok", "text/plain", close=True)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")


@needs_ipv6
def test_ipv6_listener_records_ipv6_addresses(inproc, net, sink_settings):
    server = inproc(sink_settings("[::1]:0"))
    with net.connect(server.port, "::1") as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(_get())
        assert net.read_to_eof(sock) == NOT_FOUND_CLOSE
    [event] = server.events()
    assert (event["source_ip"], event["source_port"]) == ("::1", client_port)
    assert (event["destination_ip"], event["destination_port"]) == ("::1", server.port)


@needs_ipv6
def test_ipv6_listener_with_httpx(inproc, sink_settings):
    server = inproc(sink_settings("[::1]:0"))
    assert httpx.get(f"http://[::1]:{server.port}/v6", timeout=3).status_code == 404
    assert server.events()[0]["path"] == "/v6"


def test_stats_count_requests_and_bytes(inproc, net):
    server = inproc()
    request = _get()
    for _ in range(3):
        net.exchange(server.port, request)
    assert server.stats.requests == 3
    assert server.stats.bytes_in == 3 * len(request)
    assert server.stats.connections_total == 3


def test_events_are_in_the_log_before_the_reply_is_sent(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        sock.sendall(_get(close=False))
        net.read_exact(sock, len(NOT_FOUND_KEEP))
        # Read while the connection is still open: the event must already be there.
        assert len(server.events()) == 1


def test_stopping_records_a_request_in_flight_as_incomplete(inproc, net):
    server = inproc()
    with net.connect(server.port) as sock:
        sock.sendall(b"GET /half HTTP/1.1\r\n")
        time.sleep(0.05)
        server.stop()
    assert [(e["path"], _reason(e)) for e in server.events()] == [("/half", "incomplete")]


def test_v2_header_with_trailing_tlv_is_accepted(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener()))
    tlv = struct.pack("!BH", 0x04, 3) + b"abc"  # PP2_TYPE_NOOP
    header = proxy.build_v2(("203.0.113.9", 51000), ("198.51.100.1", 80))
    header = header[:14] + struct.pack("!H", struct.unpack("!H", header[14:16])[0] + 6)
    header += proxy.build_v2(("203.0.113.9", 51000), ("198.51.100.1", 80))[16:] + tlv
    assert net.exchange(server.port, header + _get()) == NOT_FOUND_CLOSE


# -- values from the network are range-checked before they are logged (issue 9, item 1) ------
@pytest.mark.parametrize("length", [2**63, 2**64 - 1])
def test_content_length_beyond_int64_is_logged_as_unknown(inproc, net, length):
    from botcensus.store import events_table

    server = inproc()
    head = f"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {length}\r\n\r\nabc".encode()
    with net.connect(server.port) as sock:
        sock.sendall(head)
        time.sleep(0.1)
    [event] = server.wait_events(1)
    assert event["content_length"] is None
    assert event["body_length"] == 3
    assert _reason(event) == "incomplete"
    events_table([list(event.values())])  # converts: no value out of its column's range


@pytest.mark.parametrize(
    "bad_time",
    [
        2**63 - 1,
        -(2**63),
        -1,
        253_402_300_800_000_000,
        253_402_300_799_000_000,  # 9999-12-31T23:59:59: took the weekly census out of range
        4_102_444_800_000_000,  # 2100-01-01, times.LATEST_TIME
    ],
    ids=str,
)
def test_replay_time_out_of_range_is_refused(inproc, net, sink_settings, bad_time):
    server = inproc(sink_settings(_proxy_listener(), replay=True))
    times = [REPLAY_US, bad_time]
    header = proxy.build_v2(("203.0.113.9", 1), ("198.51.100.1", 80), replay_times_us=times)
    assert net.exchange(server.port, header + _get()) == REJECT_REPLY[Reject.PROXY]
    [event] = server.events()
    assert event["reject_reason"] == "proxy: replay time outside 1970-01-01 to 2099-12-31"
    assert abs(event["time_received"] - time.time_ns() // 1000) < 60_000_000


def test_replay_time_on_the_last_day_allowed_is_recorded(inproc, net, sink_settings):
    server = inproc(sink_settings(_proxy_listener(), replay=True))
    last = 4_102_444_800_000_000 - 1  # 2099-12-31T23:59:59.999999
    header = proxy.build_v2(("203.0.113.9", 1), ("198.51.100.1", 80), replay_times_us=[last])
    assert net.exchange(server.port, header + _get()) == NOT_FOUND_CLOSE
    assert server.events()[0]["time_received"] == last


# -- trailers and bursts are bounded (issue 9, item 2) ----------------------------------------
_CHUNKED_HEAD = (
    b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
)


def test_trailers_count_against_the_header_limit(inproc, net, sink_settings):
    server = inproc(sink_settings(limits=LimitSettings(max_header_bytes=1024)))
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(40))
    with net.connect(server.port) as sock:
        sock.sendall(_CHUNKED_HEAD + trailers + b"\r\n")
        assert net.read_to_eof(sock) == REJECT_REPLY[Reject.HEADER_TOO_LARGE]
    [event] = server.wait_events(1)
    assert _reason(event) == "header_too_large"
    assert event["body_head"] == b"abc"
    assert sum(len(n) for n in event["header_names"]) < 1024


def test_one_endless_trailer_name_is_cut_off_on_the_wire(inproc, net, sink_settings):
    limits = LimitSettings(max_header_bytes=1024, max_body_bytes=1024)
    server = inproc(sink_settings(limits=limits))
    with net.connect(server.port) as sock:
        sock.sendall(_CHUNKED_HEAD)
        try:
            for _ in range(100):  # 400 kB of one trailer name, never finished
                sock.sendall(b"N" * 4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = net.read_to_eof(sock)
    assert got == REJECT_REPLY[Reject.BODY_TOO_LARGE]
    [event] = server.wait_events(1)
    assert _reason(event) == "body_too_large"
    assert "on the wire" in event["reject_reason"]


def test_chunked_body_within_the_limits_is_still_answered(inproc, net, sink_settings):
    limits = LimitSettings(max_header_bytes=1024, max_body_bytes=1024)
    server = inproc(sink_settings(limits=limits))
    chunks = b"".join(b"10\r\n" + b"x" * 16 + b"\r\n" for _ in range(64))  # 1024 body bytes
    request = (
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunks
        + b"0\r\nX-Sum: 1\r\n\r\n"
    )
    assert net.exchange(server.port, request) == NOT_FOUND_CLOSE
    [event] = server.wait_events(1)
    assert event["body_length"] == 1024
    assert "X-Sum" in event["header_names"]


def test_a_burst_of_pipelined_requests_is_logged_in_bounded_records(inproc, net):
    server = inproc()
    count = 12_000
    burst = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n" * (count - 1) + _get("/last")
    with net.connect(server.port, timeout=30) as sock:
        sock.sendall(burst)
        got = net.read_to_eof(sock)
    assert got.count(b"HTTP/1.1 404") == count
    assert len(server.wait_events(count)) == count
    from botcensus.capture import wal

    for path in wal.segments(server.wal_dir, include_open=True):
        sizes = _record_event_counts(path)
        assert max(sizes) <= wal.RECORD_MAX_EVENTS


def _record_event_counts(path) -> list[int]:
    import msgpack

    from botcensus.capture import wal

    data, pos, sizes = path.read_bytes(), len(wal.MAGIC), []
    while pos < len(data):
        length, _ = struct.unpack_from("<II", data, pos)
        sizes.append(len(msgpack.unpackb(data[pos + 8 : pos + 8 + length])))
        pos += 8 + length
    return sizes


# -- flow control (issue 9, item 5) ------------------------------------------------------------
def test_a_pipeline_longer_than_a_slice_then_half_close_gets_every_reply(inproc, net):
    server = inproc()
    count = 5000  # about 145 kB: several slices and loop turns
    pipeline = b"GET /h HTTP/1.1\r\nHost: h\r\n\r\n" * count
    with net.connect(server.port, timeout=30) as sock:
        sock.sendall(pipeline)
        sock.shutdown(socket.SHUT_WR)
        got = net.read_to_eof(sock)
    assert got == NOT_FOUND_KEEP * count
    assert len(server.wait_events(count)) == count


def test_a_client_that_does_not_read_stops_being_read(inproc, net, tmp_path, sink_settings):
    page = tmp_path / "page"
    page.write_bytes(b"p" * 4096)
    reply = ReplySettings(status=200, body_file=page)
    server = inproc(sink_settings(ListenerSettings(name="big", address="127.0.0.1:0", reply=reply)))
    with net.connect(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        chunk = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n" * 1000
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.01)
        [conn] = server.call(lambda: list(server.connections))
        buffered = server.call(lambda: conn.transport.get_write_buffer_size())
        # Replies waiting for the client: about one slice's worth, not everything it sent.
        assert buffered < 4 * 1024 * 1024
        assert server.call(lambda: conn.reading_paused)


# -- shutdown waits for every connection's end (issue 9, item 6) -------------------------------
def test_closing_connections_waits_for_a_transport_still_sending(inproc, net, tmp_path):
    import asyncio

    from botcensus.capture.worker import close_connections

    page = tmp_path / "page"
    page.write_bytes(b"p" * (8 * 1024 * 1024))
    reply = ReplySettings(status=200, body_file=page)
    listener = ListenerSettings(name="big", address="127.0.0.1:0", reply=reply)
    server = inproc(sink_settings_with(listener))
    assert server.loop is not None
    with net.connect(server.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        [conn] = _connections_once(server, 1)
        # Let the 8 MB reply sit in the transport without pausing reading, as a reply just
        # under the high-water mark would: the transport cannot finish closing while it waits.
        server.call(lambda: conn.transport.set_write_buffer_limits(high=64 * 1024 * 1024))
        sock.sendall(_get("/first", close=False))
        time.sleep(0.2)
        sock.sendall(b"GET /in-flight HTTP/1.1\r\n")
        _until(lambda: server.call(lambda: conn.phase) == 1)
        done = asyncio.run_coroutine_threadsafe(
            close_connections(server.connections, server.loop.time, linger=0.3), server.loop
        )
        done.result(10)
        assert server.call(lambda: len(server.connections)) == 0
    events = {e["path"]: e for e in server.wait_events(2)}
    assert _reason(events["/in-flight"]) == "incomplete"


def sink_settings_with(listener: ListenerSettings):
    from botcensus.config import SinkholeSettings

    return SinkholeSettings(sensor="test-sensor", listeners=[listener])


def _connections_once(server, n: int, timeout: float = 5.0) -> list:
    _until(lambda: len(server.call(lambda: list(server.connections))) >= n, timeout)
    return server.call(lambda: list(server.connections))


def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_request_and_the_clients_half_close_in_one_read_still_get_the_reply(inproc, net):
    # Request and FIN together: the transport learns of the end of input in the same I/O
    # phase as the request, before the turn's replies are written.
    server = inproc()
    missing = 0
    for i in range(200):
        with net.connect(server.port) as sock:
            sock.sendall(_get(f"/hc{i}", close=False))
            sock.shutdown(socket.SHUT_WR)
            missing += net.read_to_eof(sock) != NOT_FOUND_KEEP
    assert missing == 0
    assert len(server.wait_events(200)) == 200

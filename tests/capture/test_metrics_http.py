"""The metrics listener: one thread, bounded waits, fixed answers (a real server on loopback)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from botcensus.capture.metrics_http import MetricsServer


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    registry = CollectorRegistry()
    Counter("probe_things", "Things probed", registry=registry).inc(3)
    srv = MetricsServer("127.0.0.1", 0, registry, timeout=0.3, max_connections=4)
    srv.start()
    yield srv
    srv.stop()


def test_get_metrics_is_the_prometheus_text(server):
    got = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert got.status_code == 200
    assert "probe_things_total 3.0" in got.text
    assert got.headers["content-type"].startswith("text/plain; version=")
    assert got.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/other", 404), ("POST", "/metrics", 405), ("GET", "/", 200)],
)
def test_other_requests_get_fixed_answers(server, method, path, status):
    got = httpx.request(method, f"http://127.0.0.1:{server.port}{path}", timeout=5)
    assert got.status_code == status


def test_an_idle_connection_is_closed_after_the_timeout(server, net):
    with net.connect(server.port, timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # never finished
        assert net.read_to_eof(sock) == b""
        assert time.monotonic() - started < 2


def test_a_head_over_8_kib_is_refused(server, net):
    with net.connect(server.port, timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
        assert net.read_to_eof(sock) == b""


def test_connections_beyond_the_maximum_are_closed_at_once(server, net):
    held = [net.connect(server.port, timeout=5) for _ in range(4)]
    try:
        time.sleep(0.05)
        with net.connect(server.port, timeout=5) as extra:
            extra.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            assert net.read_to_eof(extra) == b""
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.05)
    assert httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).status_code == 200


def test_a_port_in_use_is_reported_by_start(server):
    other = MetricsServer("127.0.0.1", server.port, CollectorRegistry())
    with pytest.raises(OSError, match="address already in use"):
        other.start()

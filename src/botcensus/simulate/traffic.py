"""Request shapes seen at a sinkhole: Rustock check-ins, ordinary web noise, broken clients."""

from __future__ import annotations

import random
from collections.abc import Iterator

from botcensus.simulate.drive import Shot, http_request

RUSTOCK_USER_AGENT = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
_NOISE_PATHS = ("/", "/favicon.ico", "/robots.txt", "/index.php", "/wp-login.php", "/.env")
_NOISE_AGENTS = ("Mozilla/5.0 (compatible; Googlebot/2.1)", "curl/7.88.1", "zgrab/0.x", "")


def rustock_checkin(rng: random.Random, host: str) -> bytes:
    """A Rustock-like check-in: POST /login.php with a 96-byte (encrypted-looking) body."""
    body = rng.randbytes(96)
    headers = [("User-Agent", RUSTOCK_USER_AGENT), ("Content-Type", "application/octet-stream")]
    return http_request("POST", "/login.php", host=host, headers=headers, body=body)


def ordinary(rng: random.Random, host: str) -> bytes:
    """A scanner or browser-like request that no decoder claims."""
    agent = rng.choice(_NOISE_AGENTS)
    headers = [("User-Agent", agent)] if agent else []
    return http_request("GET", rng.choice(_NOISE_PATHS), host=host, headers=headers)


def malformed(rng: random.Random, host: str) -> bytes:
    """Bytes that are not HTTP/1.1."""
    return rng.choice(
        [
            b"GARBAGE\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ]
    )


def oversized(rng: random.Random, host: str, max_body: int) -> bytes:
    """A POST whose body is larger than the sinkhole keeps."""
    return http_request("POST", "/upload", host=host, body=rng.randbytes(max_body + 4096))


def mixed(
    rng: random.Random, host: str, n: int, *, max_body: int = 64 * 1024
) -> Iterator[tuple[str, Shot]]:
    """`n` requests: about 60% Rustock, 30% ordinary, 5% malformed, 5% oversized."""
    for _ in range(n):
        roll = rng.random()
        if roll < 0.60:
            yield "rustock", Shot(rustock_checkin(rng, host))
        elif roll < 0.90:
            yield "ordinary", Shot(ordinary(rng, host))
        elif roll < 0.95:
            yield "malformed", Shot(malformed(rng, host))
        else:
            yield "oversized", Shot(oversized(rng, host, max_body))

"""Memory with idle connections: RSS of each worker while both servers hold them."""

from __future__ import annotations

import os
import selectors
import socket
import time
from pathlib import Path

from sinkhole_parts.servers import nginx, rss_mb, sinkhole, sinkhole_workers

RSS_GOAL_MB = 200.0


def open_idle(port: int, count: int, batch: int = 500) -> list[socket.socket]:
    """Open `count` connections to 127.0.0.1:port, a batch of non-blocking connects at a time."""
    held: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        while len(held) < count:
            for _ in range(min(batch, count - len(held))):
                s = socket.socket()
                held.append(s)
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                sel.register(s, selectors.EVENT_WRITE)
            deadline = time.monotonic() + 10
            while sel.get_map() and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    sel.unregister(sock)
                    if err := sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        raise OSError(err, os.strerror(err))
            if sel.get_map():
                raise TimeoutError(f"{len(sel.get_map())} connects unfinished after 10 s")
    return held


def idle_rss(server: str, port: int, workers: list[int], count: int) -> float:
    """Hold `count` idle connections; print each worker's RSS before and while holding them
    and how many it accepted (its new file descriptors). Returns the largest RSS, in MB."""
    before = [rss_mb(p) for p in workers]
    fds = [len(os.listdir(f"/proc/{p}/fd")) for p in workers]
    held: list[socket.socket] = []
    try:
        held = open_idle(port, count)
        deadline = time.monotonic() + 15  # workers accept asynchronously
        while time.monotonic() < deadline:
            now = [len(os.listdir(f"/proc/{p}/fd")) for p in workers]
            accepted = [n - m for n, m in zip(now, fds, strict=True)]
            if sum(accepted) >= count:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        during = [rss_mb(p) for p in workers]
    finally:
        for s in held:
            s.close()
    per_conn_kb = (sum(during) - sum(before)) * 1024 / count
    each = ", ".join(f"{b:.1f} → {d:.1f}" for b, d in zip(before, during, strict=True))
    print(f"  {server:8} RSS per worker {each} MB; connections accepted per worker {accepted}; "
          f"{per_conn_kb:.1f} kB per connection")  # fmt: skip
    return max(during)


def memory_phase(count: int, scratch: Path) -> None:
    print(f"\n{count:,} idle connections held:")
    # The sinkhole closes a connection that sends nothing after header_timeout (10 s by
    # default); raise it so that a busy machine cannot close them before the reading.
    env = {"BOTCENSUS_SINKHOLE__LIMITS__HEADER_TIMEOUT": "120"}
    with sinkhole(scratch, env) as sink:
        worst = idle_rss("sinkhole", sink.port, sinkhole_workers(sink), count)
    met = "met" if worst < RSS_GOAL_MB else "MISSED"
    print(f"  goal < {RSS_GOAL_MB:.0f} MB per sinkhole worker: {met}")
    with nginx(scratch) as (port, workers, _):
        idle_rss("nginx", port, workers, count)

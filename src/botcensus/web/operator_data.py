"""What the operator's view reads besides the census: the sinkhole's health from its
Prometheus endpoint (found in DIR/sinkhole.json), the feeds' ingest status, the quarantine
with its reasons (addresses in quarantined rows pseudonymised), the roll-up's state."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from botcensus.store.files import area_files, day_partitions

RUN_FILE: Final = "sinkhole.json"
"""capture.supervisor.RUN_FILE: written by a running sinkhole (pid, ports, metrics address)."""
SCRAPE_TIMEOUT: Final = 2.0
PREFIX: Final = "botcensus_sinkhole_"
_IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6: Final = re.compile(
    r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])"
)


# -- sinkhole health -----------------------------------------------------------------------
@dataclass(slots=True)
class _Sample:
    at: float
    requests: float


@dataclass(slots=True)
class HealthProbe:
    """Scrapes the sinkhole's metrics; remembers the last sample for a request rate."""

    last: _Sample | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, dataset: Path, fetch: Callable[[str], str] | None = None) -> dict[str, Any]:
        run = dataset / RUN_FILE
        out: dict[str, Any] = {"run_file": str(run), "running": False, "metrics_url": None}
        try:
            info = json.loads(run.read_text(encoding="utf-8"))
        except FileNotFoundError:
            out["problem"] = "no sinkhole is recording into this dataset (no sinkhole.json)"
            return out
        except (OSError, ValueError) as exc:
            out["problem"] = f"{run}: cannot be read ({exc})"
            return out
        pid = info.get("pid")
        out["pid"] = pid if isinstance(pid, int) else None
        out["running"] = isinstance(pid, int) and _alive(pid)
        out["workers"] = info.get("workers")
        out["listeners"] = [
            {"name": str(x.get("name")), "host": str(x.get("host")), "port": x.get("port")}
            for x in info.get("listeners", [])
            if isinstance(x, dict)
        ]
        address = info.get("metrics")
        if not isinstance(address, str) or not address:
            out["problem"] = "the sinkhole runs without --metrics: no health figures"
            return out
        url = f"http://{_loopback_if_wildcard(address)}/metrics"
        out["metrics_url"] = url
        try:
            text = (fetch or _fetch)(url)
        except OSError as exc:
            out["problem"] = f"{url}: cannot be read ({exc})"
            return out
        figures = parse_metrics(text)
        now = time.monotonic()
        with self.lock:
            rate = None
            if self.last is not None and 0 < now - self.last.at < 600:
                rate = max(
                    0.0, (figures["requests_total"] - self.last.requests) / (now - self.last.at)
                )
            self.last = _Sample(now, figures["requests_total"])
        out.update(figures)
        out["requests_per_second"] = rate
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loopback_if_wildcard(address: str) -> str:
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "", "[::]"):
        return f"127.0.0.1:{port}" if host != "[::]" else f"[::1]:{port}"
    return address


def _fetch(url: str) -> str:
    if not url.startswith("http://"):
        raise OSError(f"{url}: only http metrics endpoints are read")
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as reply:  # noqa: S310 (http only, checked above)
        return str(reply.read(4_000_000).decode("utf-8", "replace"))


def parse_metrics(text: str) -> dict[str, Any]:
    """The figures the operator view shows, from a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    maxima: dict[str, float] = {}
    rejects: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removeprefix(PREFIX)
            if not sample.name.startswith(PREFIX):
                continue
            if name.startswith("rejects"):
                if name.endswith("_total") or name == "rejects":
                    reason = sample.labels.get("reason", "")
                    rejects[reason] = rejects.get(reason, 0.0) + sample.value
                continue
            sums[name] = sums.get(name, 0.0) + sample.value
            maxima[name] = max(maxima.get(name, sample.value), sample.value)

    def total(name: str) -> float:
        return sums.get(f"{name}_total", sums.get(name, 0.0))

    return {
        "requests_total": total("requests"),
        "events_logged_total": total("events_logged"),
        "write_errors_total": total("write_errors"),
        "connections_open": sums.get("connections_open", 0.0),
        "connections_refused_total": total("connections_refused"),
        "wal_lag_bytes": maxima.get("wal_lag_bytes", 0.0),
        "wal_lag_seconds": maxima.get("wal_lag_seconds", 0.0),
        "segments_pending": sums.get("segments_pending", 0.0),
        "worker_restarts_total": total("worker_restarts"),
        "events_rolled_total": total("events_rolled"),
        "rejects": dict(sorted(rejects.items())),
        "rejects_total": sum(rejects.values()),
    }


# -- feeds ---------------------------------------------------------------------------------
def feed_status(dataset: Path) -> dict[str, Any]:
    """Per feed: events stored, days, first and last event day, when its days were last
    ingested; days whose sightings are pending; quarantined rows per source file."""
    import duckdb

    from botcensus.store.db import connect
    from botcensus.store.ledger import read_ledger

    files = area_files(dataset / "feeds")
    feeds: list[dict[str, Any]] = []
    problem = None
    if files:
        con = connect()
        try:
            rows = con.sql(
                "SELECT feed_name, count(*) AS events, count(DISTINCT CAST(time_source AS DATE)) "
                "AS days, min(CAST(time_source AS DATE)) AS first_day, "
                "max(CAST(time_source AS DATE)) AS last_day, list(DISTINCT CAST(time_source AS "
                "DATE)) AS day_list FROM read_parquet($files, union_by_name = true, "
                "hive_partitioning = false) GROUP BY feed_name ORDER BY feed_name",
                params={"files": [str(f) for f in files]},
            ).fetchall()
        except duckdb.Error as exc:
            rows, problem = [], f"feed events cannot be read: {exc}"
        finally:
            con.close()
        stamps = read_ledger(dataset).get("feeds", {})
        for name, events, days, first, last, day_list in rows:
            times = [stamps[d.isoformat()] for d in day_list if d.isoformat() in stamps]
            feeds.append(
                {
                    "feed": name,
                    "events": int(events),
                    "days": int(days),
                    "first_day": first.isoformat() if first else None,
                    "last_day": last.isoformat() if last else None,
                    "last_ingest": max(times) if times else None,
                }
            )
    pending_path = dataset / "feeds" / "sightings-pending.json"
    try:
        pending = list(json.loads(pending_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pending = []
    quarantined = []
    for path in sorted((dataset / "quarantine" / "feeds").glob("*.jsonl")):
        with path.open("rb") as handle:
            count = sum(1 for _ in handle)
        quarantined.append({"file": path.name, "rows": count})
    return {
        "feeds": feeds,
        "pending_days": [str(d) for d in pending],
        "quarantine_files": quarantined,
        "problem": problem,
    }


# -- quarantine ----------------------------------------------------------------------------
def _masked(value: Any, pseudonym: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, pseudonym) for v in value]
    if isinstance(value, str):

        def swap(match: re.Match[str]) -> str:
            try:
                ipaddress.ip_address(match.group(0))
            except ValueError:
                return match.group(0)
            return pseudonym(match.group(0))

        return _IPV6.sub(swap, _IPV4.sub(swap, value))
    return value


def quarantine(
    dataset: Path, pseudonym: Callable[[str], str], *, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    """Quarantined feed rows, WAL tails and unreadable files, each with where it came from
    and why; anything that looks like an address replaced by its pseudonym."""
    items: list[dict[str, Any]] = []
    for path in sorted((dataset / "quarantine" / "parquet").rglob("*.txt")):
        note = _note(path)
        items.append(
            {
                "kind": "file",
                "source": note.get("path", str(path)),
                "line": None,
                "reason": note.get("reason", ""),
                "detail": {"moved": note.get("moved"), "bytes": note.get("bytes")},
            }
        )
    for path in sorted((dataset / "quarantine" / "wal").glob("*.tail.txt")):
        note = _note(path)
        items.append(
            {
                "kind": "wal",
                "source": note.get("segment", path.name),
                "line": None,
                "reason": note.get("reason", ""),
                "detail": {"offset": note.get("offset"), "bytes": note.get("bytes")},
            }
        )
    for path in sorted((dataset / "quarantine" / "feeds").glob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for text in handle:
                try:
                    record = json.loads(text)
                except ValueError:
                    continue
                items.append(
                    {
                        "kind": "feed-row",
                        "source": str(record.get("file", path.name)),
                        "line": record.get("line"),
                        "reason": str(record.get("reason", "")),
                        "detail": {k: record[k] for k in ("row", "text") if k in record},
                    }
                )
    page = items[offset : offset + limit]
    return len(items), [_masked(item, pseudonym) for item in page]


def _note(path: Path) -> dict[str, str]:
    values = {}
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                values[key.strip()] = value.strip()
    except OSError:
        pass
    return values


# -- roll-up -------------------------------------------------------------------------------
def days_in(dataset: Path, area: str) -> list[str]:
    return [d for d, _ in day_partitions(dataset / area).days]

"""Shadowserver's Reports API as Shadowserver documents it: every call is an HTTP POST of a
JSON object carrying `apikey`, authenticated by the header `HMAC2`, the hex HMAC-SHA256 of
the request body under the client's secret. `reports/list` (fields `reports`, `date` as
`YYYY-MM-DD:YYYY-MM-DD`, `type`) answers a JSON array of reports (`id`, `report`, `type`,
`file`, `timestamp`, ...); `reports/download` (field `id`) answers the report's CSV. An error
is a JSON object with `error`.

`fetch` downloads the reports not downloaded yet into an inbox directory, each under its own
file name (checked: a bare name, no path), written under a temporary dot-name and renamed
when complete, so `botcensus feeds collect` never reads half a report. The ids fetched are
kept in DIR/feeds/collect/fetched.json.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from botcensus.store.atomic import Pending, open_private, private_dir, write_json
from botcensus.store.layout import FETCHED

DEFAULT_URL: Final = "https://transform.shadowserver.org/api2/"
SAFE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
MAX_REPORT_BYTES: Final = 8 << 30
CHUNK: Final = 1 << 20


class ApiError(Exception):
    """The API refused a call or answered something that is not what it documents."""


def signature(secret: str, body: bytes) -> str:
    """HMAC2: the hex HMAC-SHA256 of the request body under the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ReportsApi:
    """A client of the Reports API (url ends with /api2/)."""

    key: str
    secret: str
    url: str = DEFAULT_URL
    timeout: float = 120.0

    def _post(self, method: str, fields: dict[str, Any]) -> Any:
        body = json.dumps({"apikey": self.key, **fields}).encode()
        request = urllib.request.Request(  # noqa: S310 (an https or loopback URL from settings)
            self.url.rstrip("/") + "/" + method,
            data=body,
            headers={"HMAC2": signature(self.secret, body), "Content-Type": "application/json"},
            method="POST",
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode("utf-8", "replace").strip()
            raise ApiError(f"{method}: HTTP {exc.code}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"{method}: {exc}") from None

    def list(
        self, first: date, last: date, reports: Sequence[str] = (), types: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The reports of these days (Shadowserver's `date` range), optionally of some lists
        (`reports`) and report types."""
        fields: dict[str, Any] = {"date": f"{first.isoformat()}:{last.isoformat()}"}
        if reports:
            fields["reports"] = list(reports)
        with self._post("reports/list", fields) as response:
            try:
                answer = json.loads(response.read(64 << 20))
            except ValueError:
                raise ApiError("reports/list: the answer is not JSON") from None
        if isinstance(answer, dict) and "error" in answer:
            raise ApiError(f"reports/list: {answer['error']}")
        if not isinstance(answer, list) or not all(
            isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("file"), str)
            for r in answer
        ):
            raise ApiError("reports/list: the answer is not a list of reports with id and file")
        return [r for r in answer if not types or r.get("type") in types]

    def download(self, report_id: str, target: Path) -> int:
        """Stream a report into `target` (created 0600; made durable when it is published,
        see `fetch`); the bytes written."""
        written = 0
        with self._post("reports/download", {"id": report_id}) as response:
            kind = response.headers.get("Content-Type", "")
            with os.fdopen(open_private(target), "wb") as out:
                while chunk := response.read(CHUNK):
                    written += len(chunk)
                    if written > MAX_REPORT_BYTES:
                        raise ApiError(f"reports/download {report_id}: larger than 8 GiB")
                    out.write(chunk)
        if "json" in kind:
            try:
                error = json.loads(target.read_bytes()).get("error")
            except (ValueError, AttributeError):
                error = None
            if error:
                target.unlink()
                raise ApiError(f"reports/download {report_id}: {error}")
        return written


@dataclass
class FetchReport:
    """What one fetch did."""

    listed: int = 0
    downloaded: list[Path] = field(default_factory=list)
    already: int = 0
    refused: list[str] = field(default_factory=list)
    """Reports not downloaded, with why (a file name that is not a bare name, an error)."""


def _fetched(dataset: Path) -> dict[str, str]:
    path = dataset / FETCHED
    if not path.exists():
        return {}
    body = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in body.items()}


def _save_fetched(dataset: Path, fetched: dict[str, str]) -> None:
    write_json(fetched, dataset / FETCHED)


def fetch(
    api: ReportsApi,
    inbox: Path,
    dataset: Path,
    *,
    today: date,
    days: int = 2,
    reports: Sequence[str] = (),
    types: Sequence[str] = (),
) -> FetchReport:
    """Download the reports of the last `days` days (and tomorrow's, as IntelMQ's collector
    asks, against clock skew) that were not downloaded before."""
    result = FetchReport()
    fetched = _fetched(dataset)
    listed = api.list(today - timedelta(days=days), today + timedelta(days=1), reports, types)
    result.listed = len(listed)
    private_dir(inbox)
    for item in listed:
        report_id, name = item["id"], item["file"]
        if report_id in fetched:
            result.already += 1
            continue
        if not SAFE_NAME.match(name) or name.startswith("."):
            result.refused.append(f"{report_id}: file name {name!r} is not a bare file name")
            continue
        pending = Pending(inbox / name)  # dot-named until whole: collect skips it
        try:
            api.download(report_id, pending.tmp)
        except ApiError as exc:
            pending.discard()
            result.refused.append(str(exc))
            continue
        except BaseException:
            pending.discard()
            raise
        target = pending.publish()
        fetched[report_id] = name
        _save_fetched(dataset, fetched)
        result.downloaded.append(target)
    return result

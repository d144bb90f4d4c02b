"""The Reports API collector against a server on loopback that stands in for Shadowserver's
remote API (no test reaches the internet): it follows the documented protocol (HTTP POST of
a JSON object with `apikey`, header HMAC2 = hex HMAC-SHA256 of the body under the secret,
reports/list and reports/download, errors as {"error": ...}) and refuses a request whose
signature does not match. The reports it serves are the real sample reports."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from feed_cases import fake_enrich

from botcensus.cli import main
from botcensus.feeds.collect import collect
from botcensus.feeds.reports_api import ApiError, ReportsApi, fetch

REAL = Path(__file__).parent / "cases" / "intelmq"
KEY, SECRET = "test-key", "test-secret"
HTTP_REPORT = "2021-03-04-event4_sinkhole_http-my-country.csv"
REPORTS: dict[str, tuple[str, str, Path | None]] = {
    "r1": (HTTP_REPORT, "event4_sinkhole_http", REAL / "event4_sinkhole_http.csv"),
    "r2": (
        "2021-03-04-event4_sinkhole-my-country.csv",
        "event4_sinkhole",
        REAL / "event4_sinkhole.csv",
    ),
    "r3": ("2021-03-04-scan_http-my-country.csv", "scan_http", None),
}


class _StandIn(BaseHTTPRequestHandler):
    """Shadowserver's Reports API as documented, on loopback."""

    listing: Any = None
    seen: Any = None

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get("HMAC2", ""), expected):
            self._answer(401, b'{"error": "HMAC verification failed"}')
            return
        request = json.loads(body)
        if request.get("apikey") != KEY:
            self._answer(401, b'{"error": "Invalid API key"}')
            return
        type(self).seen.append({"path": self.path, **request})
        if self.path == "/api2/reports/list":
            self._answer(200, json.dumps(type(self).listing).encode())
        elif self.path == "/api2/reports/download":
            entry = REPORTS.get(request.get("id", ""))
            if entry is None:
                self._answer(200, b'{"error": "report not found"}')
                return
            content = entry[2].read_bytes() if entry[2] else b'"timestamp","ip"\n'
            self._answer(200, content, "text/csv")
        else:
            self._answer(404, b'{"error": "no such method"}')


@pytest.fixture
def api() -> Iterator[str]:
    _StandIn.listing = [
        {"id": i, "report": "my-country", "type": t, "file": f, "timestamp": "2021-03-04T10:00:00Z"}
        for i, (f, t, _) in REPORTS.items()
    ]
    _StandIn.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api2/"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_each_report_once_then_collect_reads_them(api: str, tmp_path: Path) -> None:
    inbox, data = tmp_path / "inbox", tmp_path / "data"
    client = ReportsApi(KEY, SECRET, api)
    first = fetch(client, inbox, data, today=date(2021, 3, 4), days=2, reports=["my-country"])
    assert (first.listed, len(first.downloaded), first.refused) == (3, 3, [])
    listed = _StandIn.seen[0]
    assert listed == {
        "path": "/api2/reports/list",
        "apikey": KEY,
        "date": "2021-03-02:2021-03-05",
        "reports": ["my-country"],
    }
    again = fetch(client, inbox, data, today=date(2021, 3, 4))
    assert (again.already, again.downloaded) == (3, [])
    assert not list(inbox.glob(".*"))  # no partial downloads left behind
    result = collect(inbox, data, fake_enrich, settle=0)
    stored = {f.path.name: f.stored for f in result.ingest.files}
    assert stored == {
        "2021-03-04-event4_sinkhole_http-my-country.csv": 5,
        "2021-03-04-event4_sinkhole-my-country.csv": 6,
        "2021-03-04-scan_http-my-country.csv": 0,
    }


def test_a_wrong_secret_is_refused_by_the_documented_check(api: str, tmp_path: Path) -> None:
    with pytest.raises(ApiError, match=r"HTTP 401.*HMAC verification failed"):
        fetch(ReportsApi(KEY, "wrong", api), tmp_path / "in", tmp_path / "d", today=date.today())


def test_types_filter_the_list(api: str, tmp_path: Path) -> None:
    client = ReportsApi(KEY, SECRET, api)
    got = fetch(
        client, tmp_path / "in", tmp_path / "d", today=date.today(), types=["event4_sinkhole"]
    )
    assert [p.name for p in got.downloaded] == ["2021-03-04-event4_sinkhole-my-country.csv"]


@pytest.mark.parametrize(
    "name", ["../../escape.csv", "/etc/cron.d/x.csv", ".hidden.csv", "a/b.csv", "x" * 300]
)
def test_a_hostile_file_name_is_refused_and_nothing_written_outside(
    name: str, api: str, tmp_path: Path
) -> None:
    _StandIn.listing = [{"id": "r1", "report": "x", "type": "t", "file": name}]
    inbox = tmp_path / "in"
    got = fetch(ReportsApi(KEY, SECRET, api), inbox, tmp_path / "d", today=date.today())
    assert got.downloaded == []
    assert "is not a bare file name" in got.refused[0]
    assert list(inbox.iterdir()) == []
    assert not (tmp_path / "escape.csv").exists()


@pytest.mark.parametrize(
    ("listing", "words"),
    [
        ({"error": "Invalid date range"}, "Invalid date range"),
        ([{"file": "x.csv"}], "not a list of reports with id and file"),
        ("not a list", "not a list of reports"),
    ],
)
def test_an_answer_that_is_not_as_documented_is_an_error(
    listing: Any, words: str, api: str, tmp_path: Path
) -> None:
    _StandIn.listing = listing
    with pytest.raises(ApiError, match=words):
        fetch(ReportsApi(KEY, SECRET, api), tmp_path / "in", tmp_path / "d", today=date.today())


def test_a_download_error_is_named_and_the_others_still_fetched(api: str, tmp_path: Path) -> None:
    _StandIn.listing = [
        {"id": "gone", "report": "x", "type": "t", "file": "2021-03-04-event4_sinkhole-a.csv"},
        {"id": "r2", "report": "x", "type": "t", "file": "2021-03-04-event4_sinkhole-b.csv"},
    ]
    got = fetch(ReportsApi(KEY, SECRET, api), tmp_path / "in", tmp_path / "d", today=date.today())
    assert [p.name for p in got.downloaded] == ["2021-03-04-event4_sinkhole-b.csv"]
    assert "report not found" in got.refused[0]


def test_cli_collect_fetch_with_credentials_from_the_environment(api: str, tmp_path: Path) -> None:
    env = {
        "BOTCENSUS_SHADOWSERVER__API_URL": api,
        "BOTCENSUS_SHADOWSERVER__API_KEY": KEY,
        "BOTCENSUS_SHADOWSERVER__SECRET": SECRET,
    }
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    done = CliRunner(env=env).invoke(
        main,
        [
            "feeds",
            "collect",
            str(inbox),
            "--data",
            str(tmp_path / "data"),
            "--fetch",
            "--settle",
            "0",
        ],
    )
    assert done.exit_code == 0, done.output
    assert "fetch: 3 reports listed, 3 downloaded" in done.output
    assert "skipped: " in done.output
    assert SECRET not in done.output


def test_cli_fetch_without_credentials_says_what_is_missing(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        main, ["feeds", "fetch", str(tmp_path / "in"), "--data", str(tmp_path)]
    )
    assert done.exit_code == 2
    assert "no Reports API key and secret" in done.output

"""IntelMQ itself as a test oracle (intelmq is a test dependency): its harmonisation checks
the events botcensus exports, its own Shadowserver parser bot maps the real sample reports.

IntelMQ runs in a child process of the same virtualenv (it imports pkg_resources, which
warns at import, and keeps module-level parser state), fed with JSON on standard input.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from botcensus.feeds.mapping import DEFAULT_MAPPING, _bundled_bodies

VALIDATE = r"""
import json, os, sys
import intelmq
from intelmq.lib.message import Event
conf = os.path.join(os.path.dirname(intelmq.__file__), "etc", "harmonization.conf")
harmonization = json.load(open(conf))
errors = []
for n, line in enumerate(sys.stdin):
    event = Event(harmonization=harmonization)
    for key, value in json.loads(line).items():
        try:
            event.add(key, value, sanitize=False)
        except Exception as exc:
            errors.append(f"line {n + 1}: {key}={value!r}: {type(exc).__name__}: {exc}")
print(json.dumps(errors))
"""

PARSE = r"""
import base64, json, sys
from intelmq.lib.bot import BotLibSettings
import intelmq.bots.parsers.shadowserver._config as config
from intelmq.bots.parsers.shadowserver.parser import ShadowserverParserBot
job = json.load(sys.stdin)
state = getattr(config, "__config")
state.schema_file = state.schema_active = job["schema"]
bot = ShadowserverParserBot("parser", settings=BotLibSettings | {"logging_level": "CRITICAL"})
found = {}
for sample, report_type in job["samples"]:
    data = open(sample, "rb").read()
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raw = data.decode("latin-1")
    name = f"2000-01-01-{report_type}-sample.csv"
    out = bot.process_message({"__type": "Report", "extra.file_name": name,
                               "raw": base64.b64encode(raw.encode()).decode()})
    found[sample] = [dict(e) for e in out["output"]]
print(json.dumps(found))
"""


def run(code: str, payload: str) -> Any:
    """Run IntelMQ code in a child of this virtualenv's python; its last stdout line as JSON."""
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def harmonization_errors(lines: str) -> list[str]:
    """What IntelMQ's harmonisation refuses in these JSON lines (empty: all valid)."""
    return list(run(VALIDATE, lines))


def schema_from_mappings(path: Path) -> Path:
    """IntelMQ's schema file for the bundled report types (our mapping files are in its
    format, with the columns added): the current one and the legacy reports."""
    bodies = _bundled_bodies()
    schema: dict[str, Any] = {"_meta": {"date_created": "2024-09-24", "change_log": []}}
    for name in ("shadowserver-legacy", DEFAULT_MAPPING):
        for report_type, entry in bodies[name]["reports"].items():
            keep = {k: v for k, v in entry.items() if k not in ("columns", "conditions")}
            schema[report_type] = {**keep, "file_name": report_type}
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def parse(schema: Path, samples: list[tuple[Path, str]]) -> dict[str, list[dict[str, Any]]]:
    """IntelMQ's Shadowserver parser bot's events for each sample (path, report type)."""
    job = {"schema": str(schema), "samples": [(str(p), t) for p, t in samples]}
    return dict(run(PARSE, json.dumps(job)))

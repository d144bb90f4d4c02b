"""Host names (source.reverse_dns, destination.reverse_dns, destination.fqdn) are kept where
IntelMQ's FQDN type takes them, and set aside under extra.<column> where it does not, so every
exported line is valid under IntelMQ's harmonisation: an empty label (`example..com`), a label
longer than 63 characters, a name not in punycode (`bücher.example`), a 20 MB cell. IntelMQ's
own FQDN.is_valid is the oracle. The reports are from a CERT analyst's trial
(cases/hostile/README.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from feed_cases import CASES, fake_enrich, sinkhole_row, stored_events, write_report
from intelmq_oracle import harmonization_errors, run

from botcensus.export import ExportQuery, export_events
from botcensus.feeds import ingest

HOSTNAMES = CASES / "hostile" / "2025-03-05-event4_sinkhole-de-hostnames.csv"
FQDN_VALID = r"""
import json, sys
from intelmq.lib.harmonization import FQDN
out = []
for value in json.load(sys.stdin):
    try:
        out.append(FQDN.is_valid(value))
    except UnicodeError:  # what Python's idna codec raises for an empty or long label
        out.append(False)
print(json.dumps(out))
"""
FQDN_FIELDS = ("source.reverse_dns", "destination.reverse_dns", "destination.fqdn")
LABEL = "a" * 63
# Names where botcensus and IntelMQ's FQDN.is_valid agree (after the lower case and the outer
# dots dropped that both apply).
AGREE = [
    "dyn-84-137-1-2.telekom.de", "Mail.Example.COM.", ".lead.example", "localhost",
    "host_name.example.com", "-bad.example.com", "xn--bcher-kva.example",
    f"{LABEL}.example.com", f"{LABEL}a.example.com", f"example.{LABEL}a", "example..com",
    "a...b", "bücher.example", "ex\u00e4mple.com", "1.2.3.4", "10.0.0.1:8080",
    "evil.example/x", "h.example?q", "h.example#f", "a" * 300,
]  # fmt: skip
# Names IntelMQ's type takes and botcensus does not: white space, control characters, @, \.
STRICTER = ["host name.example.com", "tab\there.example", "user@host.example", "back\\slash"]


def _fqdn_valid(values: list[str]) -> list[bool]:
    return list(run(FQDN_VALID, json.dumps(values)))


def _ingest_names(tmp_path: Path, names: list[str]) -> dict[int, dict[str, object]]:
    rows = [sinkhole_row(n, src_hostname=name) for n, name in enumerate(names)]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-names.csv", rows)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.stored, report.quarantined) == (len(names), 0)
    return {int(str(e["source_line"])) - 2: e for e in stored_events(tmp_path / "data")}


def _export(data: Path) -> str:
    out = io.BytesIO()
    export_events(data, ExportQuery(include_unclaimed=True), "intelmq", out, fake_enrich)
    return out.getvalue().decode()


def test_a_name_is_kept_where_intelmqs_fqdn_type_takes_it(tmp_path: Path) -> None:
    """Before: `example..com`, a 64-character label and `bücher.example` were kept as
    source.reverse_dns, and IntelMQ refused the exported events."""
    events = _ingest_names(tmp_path, AGREE)
    theirs = _fqdn_valid([name.lower().strip(".") for name in AGREE])
    for n, name in enumerate(AGREE):
        kept = events[n].get("source_reverse_dns")
        assert (kept is not None) == theirs[n], name
        assert events[n].get("extra.src_hostname") == (None if theirs[n] else name)


def test_botcensus_is_stricter_only_where_it_says(tmp_path: Path) -> None:
    events = _ingest_names(tmp_path, STRICTER)
    assert _fqdn_valid(STRICTER) == [True] * len(STRICTER)
    assert [e.get("extra.src_hostname") for _, e in sorted(events.items())] == STRICTER


def test_intelmq_takes_every_exported_name_of_the_trials_report(tmp_path: Path) -> None:
    """The trial's report of hostile names, exported: IntelMQ's own FQDN validation over every
    host-name value, and its harmonisation over every line."""
    report = ingest([HOSTNAMES], tmp_path / "data", fake_enrich).files[0]
    assert (report.stored, report.quarantined) == (10, 0)
    lines = _export(tmp_path / "data")
    events = [json.loads(line) for line in lines.splitlines()]
    names = [e[f] for e in events for f in FQDN_FIELDS if f in e]
    assert len(names) == 10  # five names kept, each as source and destination reverse DNS
    assert _fqdn_valid(names) == [True] * len(names)
    assert harmonization_errors(lines) == []
    set_aside = {e["extra.src_hostname"] for e in events if "extra.src_hostname" in e}
    assert set_aside == {
        "a" * 64 + ".example.com", "host name.example.com", "example..com", "bücher.example",
        "1.2.3.4",
    }  # fmt: skip


@pytest.mark.parametrize("size", [20 << 20])
def test_a_huge_host_name_cell_leaves_as_an_extra_intelmq_takes(tmp_path: Path, size: int) -> None:
    """A 20 MB host name: before, exported as source.reverse_dns, it made IntelMQ fail with
    UnicodeError (label too long)."""
    rows = [sinkhole_row(0), sinkhole_row(1, src_hostname="A" * size)]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-hugecell.csv", rows)
    report = ingest([path], tmp_path / "data", fake_enrich).files[0]
    assert (report.stored, report.quarantined) == (2, 0)
    lines = _export(tmp_path / "data")
    events = [json.loads(line) for line in lines.splitlines()]
    assert [len(e.get("extra.src_hostname", "")) for e in events] == [0, size]
    assert not any("source.reverse_dns" in e for e in events)
    assert harmonization_errors(lines) == []


def test_names_an_older_botcensus_stored_leave_as_extras_intelmq_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset ingested before the check agreed with IntelMQ's holds `example..com` as
    source.reverse_dns: the export checks it again and sends it as extra.source.reverse_dns."""
    import botcensus.feeds.convert as convert

    def older(name: str) -> str:  # the check of botcensus before: breakers and IPv4 only
        return (
            f"CASE WHEN NOT regexp_matches({name}, '[\\s:/?#@\\\\]') "
            f"AND NOT regexp_full_match({name}, {convert.lit(convert.IPV4_RE)}) "
            f"THEN nullif({name}, '') END"
        )

    names = ["example..com", "bücher.example", "good.example"]
    rows = [sinkhole_row(n, src_hostname=name) for n, name in enumerate(names)]
    path = write_report(tmp_path / "2024-05-01-event4_sinkhole-old.csv", rows)
    with monkeypatch.context() as m:
        m.setattr(convert, "fqdn_sql", older)
        ingest([path], tmp_path / "data", fake_enrich)
    stored = [e.get("source_reverse_dns") for e in stored_events(tmp_path / "data")]
    assert stored == names  # as the older check kept them
    lines = _export(tmp_path / "data")
    events = [json.loads(line) for line in lines.splitlines()]
    assert [(e.get("source.reverse_dns"), e.get("extra.source.reverse_dns")) for e in events] == [
        (None, "example..com"),
        (None, "bücher.example"),
        ("good.example", None),
    ]
    assert harmonization_errors(lines) == []

"""The feeds package's public surface, and docs/feeds.md kept honest about it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from feed_cases import CURRENT, LEGACY

import botcensus.feeds as feeds
from botcensus.export import FORMATS as EXPORT_FORMATS
from botcensus.export import ExportQuery
from botcensus.feeds import bundled_mappings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "feeds.md").read_text(encoding="utf-8")


def test_public_names_exist_once() -> None:
    assert len(set(feeds.__all__)) == len(feeds.__all__)
    for name in feeds.__all__:
        assert hasattr(feeds, name)


@pytest.mark.parametrize("name", sorted(bundled_mappings()))
def test_every_bundled_mapping_is_documented(name: str) -> None:
    assert f"`{name}`" in DOC


@pytest.mark.parametrize("report_type", CURRENT + LEGACY)
def test_every_report_type_is_documented(report_type: str) -> None:
    assert f"`{report_type}`" in DOC


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_export_format_is_documented(fmt: str) -> None:
    assert f"--format {fmt}" in DOC


# `keep` is the web's row filter for a network owner's scope (a callable), not a CLI option.
@pytest.mark.parametrize("field", [f.name for f in fields(ExportQuery) if f.name != "keep"])
def test_every_export_filter_is_documented(field: str) -> None:
    option = {
        "countries": "country",
        "asns": "asn",
        "prefixes": "prefix",
        "families": "family",
        "feeds": "feed",
    }.get(field, field).replace("_", "-")
    assert f"--{option}" in DOC


@pytest.mark.parametrize("code", ["| 0 |", "| 1 |", "| 2 |"])
def test_exit_codes_are_documented(code: str) -> None:
    assert code in DOC


@pytest.mark.parametrize("command", ["botcensus ingest", "botcensus export"])
def test_commands_are_documented(command: str) -> None:
    assert command in DOC

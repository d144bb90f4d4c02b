"""The docs and the code agree: event columns, reject kinds, settings, CLI commands."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from botcensus import config
from botcensus.capture.reply import Reject
from botcensus.cli import main
from botcensus.model import EVENT_COLUMNS, intelmq_name

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("column", EVENT_COLUMNS)
def test_every_event_column_is_documented_with_its_intelmq_name(column: str) -> None:
    rows = [line for line in _read("events.md").splitlines() if line.startswith(f"| `{column}` |")]
    assert rows, f"docs/events.md has no row for column {column}"
    assert f"`{intelmq_name(column)}`" in rows[0]


@pytest.mark.parametrize("reason", [r.value for r in Reject])
def test_every_reject_kind_is_in_the_event_catalogue(reason: str) -> None:
    assert f"| `{reason}` |" in _read("events.md")


def _setting_paths(model: type[BaseModel], prefix: str) -> list[tuple[str, str]]:
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _setting_paths(annotation, f"{prefix}{name}.")
        else:
            found.append((prefix.rstrip("."), name))
    return found


LISTS = {"listeners": config.ListenerSettings, "decoders": config.GenericRule}


def _all_settings() -> list[tuple[str, str]]:
    paths = _setting_paths(config.Settings, "")
    for name, model in LISTS.items():
        paths += _setting_paths(model, f"sinkhole.{name}.")
    paths += _setting_paths(config.ReplySettings, "sinkhole.listeners.reply.")
    return paths


@pytest.mark.parametrize(("section", "name"), _all_settings())
def test_every_setting_appears_in_operations_doc(section: str, name: str) -> None:
    text = _read("operations.md")
    if name in LISTS:
        assert f"[[{section}.{name}]]" in text
        return
    assert f"{name} =" in text or f"{name} = " in text or f"{{ {name} =" in text, (
        f"setting {section}.{name} is missing from docs/operations.md"
    )


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            names += _commands(command, f"{full} ")
        else:
            names.append(full)
    return names


@pytest.mark.parametrize("command", _commands(main))
def test_every_cli_command_is_documented(command: str) -> None:
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in [*DOCS.glob("*.md"), DOCS.parent / "README.md"]
    )
    assert f"botcensus {command}" in text


def _readme_commands() -> str:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    return readme.split("## Commands", 1)[1].split("```")[1]


@pytest.mark.parametrize("command", _commands(main))
def test_every_cli_command_is_in_the_readme_list(command: str) -> None:
    """One line per group of commands: `botcensus feeds collect ... | feeds fetch ...`."""
    lines = _readme_commands().splitlines()
    words = command.split()
    assert any(
        f"botcensus {command}" in line
        or (len(words) > 1 and f"| {command}" in line and f"botcensus {words[0]}" in line)
        or f"| botcensus {command}" in line
        or _alternatives(line, words)
        for line in lines
    ), f"README's command list lacks `botcensus {command}`"


def _alternatives(line: str, words: list[str]) -> bool:
    """`botcensus web token add|list|revoke ...` lists three subcommands."""
    *group, last = words
    head = " ".join(group)
    for start in (f"botcensus {head} ", f"| {head} "):
        at = line.find(start)
        if group and at >= 0:
            options = line[at + len(start) :].split(" ", 1)[0]
            if last in options.split("|"):
                return True
    return False


def test_the_readme_stays_one_screenful() -> None:
    lines = (DOCS.parent / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 70
    assert max(len(line) for line in lines) <= 100

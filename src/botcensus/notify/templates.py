"""Mail texts from Jinja2 templates: `<name>.<language>.txt`, first line `Subject: ...`, then
a blank line and the body. The operator's directory is searched before the bundled one."""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import Any

import jinja2

BUNDLED = Path(str(importlib.resources.files("botcensus.notify") / "templates"))
"""The bundled templates (`default` in English and German)."""


@functools.cache
def _environment(user_dir: Path | None) -> jinja2.Environment:
    paths = [str(user_dir)] if user_dir is not None else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*paths, str(BUNDLED)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 (plain-text mail: there is no HTML to escape)
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_file(name: str, language: str) -> str:
    return f"{name}.{language}.txt"


def missing_templates(user_dir: Path | None, name: str, language: str) -> list[str]:
    """What is wrong with using this template in this language (empty: nothing)."""
    file = template_file(name, language)
    try:
        _environment(user_dir).get_template(file)
    except jinja2.TemplateNotFound:
        where = f"{user_dir} or the bundled templates" if user_dir else "the bundled templates"
        return [f"template {name!r} in language {language!r}: no {file} in {where}"]
    except jinja2.TemplateSyntaxError as exc:
        return [f"template {exc.filename or file}:{exc.lineno}: {exc.message}"]
    return []


def render_text(
    user_dir: Path | None, name: str, language: str, context: dict[str, Any]
) -> tuple[str, str]:
    """(subject, body) of a template rendered with `context`."""
    text = _environment(user_dir).get_template(template_file(name, language)).render(context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:") or "\n" in head:
        raise ValueError(
            f"{template_file(name, language)}: must start with one 'Subject:' line and a blank line"
        )
    subject = " ".join(head.removeprefix("Subject:").split())
    return subject, body.rstrip("\n") + "\n"

"""Renderers: plan documents and environment diffs as text, markdown and JSON; one registry per document.

A new output format is one function `(document, color=...) -> str` added to the registry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vapiops.output import envdiff
from vapiops.output.json import render_json
from vapiops.output.markdown import render_markdown
from vapiops.output.text import render_text

Renderer = Callable[[dict[str, Any], bool], str]  # (document, color) -> what to print

PLAN_FORMATS: dict[str, Renderer] = {
    "text": lambda doc, color: render_text(doc, color=color),
    "markdown": lambda doc, _color: render_markdown(doc),
    "json": lambda doc, _color: render_json(doc),
}
ENV_DIFF_FORMATS: dict[str, Renderer] = {
    "text": lambda doc, color: envdiff.render_text(doc, color=color),
    "json": lambda doc, _color: envdiff.render_json(doc),
}


def render_plan(doc: dict[str, Any], fmt: str, *, color: bool = False) -> str:
    """A plan document in one of PLAN_FORMATS."""
    return PLAN_FORMATS[fmt](doc, color)


def render_env_diff(doc: dict[str, Any], fmt: str, *, color: bool = False) -> str:
    """An environment diff document in one of ENV_DIFF_FORMATS."""
    return ENV_DIFF_FORMATS[fmt](doc, color)


__all__ = [
    "ENV_DIFF_FORMATS",
    "PLAN_FORMATS",
    "render_env_diff",
    "render_json",
    "render_markdown",
    "render_plan",
    "render_text",
]

"""include(): reading one project file for a template, never outside the project, never a hidden file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from vapiops.errors import TemplateError


def read_include(root: Path, name: Any) -> str:
    """The text of the project file `name` (relative to `root`); never outside it, never hidden files."""
    if not isinstance(name, str) or not name:
        raise TemplateError("include() takes a file path relative to the project root")
    if (
        PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
    ):
        raise TemplateError(
            f"include({name!r}): absolute paths are not allowed; use a path relative to the project root"
        )
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise TemplateError(f"include({name!r}): the path leads outside the project root")
    # .env files and .git/config hold credentials a plan would print: hidden files are off limits.
    if any(part.startswith(".") for part in target.relative_to(root).parts):
        raise TemplateError(f"include({name!r}): hidden files and folders are not allowed")
    if not target.is_file():
        raise TemplateError(f"include({name!r}): no such file in the project")
    try:
        return target.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"include({name!r}): not UTF-8 text") from exc

"""include(): reading one project file for a template, never outside the project, never a hidden file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from vapiops.errors import TemplateError


def read_include(root: Path, name: Any) -> str:
    """The text of the project file `name` (relative to `root`); never outside it, never hidden files."""
    if not isinstance(name, str) or not name:
        raise TemplateError("include() takes a file path relative to the project root")
    target = project_file(root, name, f"include({name!r})")
    try:
        return target.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"include({name!r}): not UTF-8 text") from exc


def project_file(root: Path, name: str, what: str) -> Path:
    """The resolved path of project file `name` (relative to the resolved `root`): a TemplateError
    starting with `what` for an absolute path, one leading outside (`..`, a symlink), a hidden file
    or folder, or no such file."""
    if (
        PurePosixPath(name).is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
    ):
        raise TemplateError(
            f"{what}: absolute paths are not allowed; use a path relative to the project root"
        )
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise TemplateError(f"{what}: the path leads outside the project root")
    # .env files and .git/config hold credentials a plan would print: hidden files are off limits.
    if any(part.startswith(".") for part in target.relative_to(root).parts):
        raise TemplateError(f"{what}: hidden files and folders are not allowed")
    if not target.is_file():
        raise TemplateError(f"{what}: no such file in the project")
    return target

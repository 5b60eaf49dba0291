"""The one error hierarchy: every failure a user can cause or meet, with where it happened."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


def did_you_mean(word: object, choices: Iterable[object], *, cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close.

    Case, '-' and '_' do not count (prevent_destroy, PreventDestroy and prevent-destroy all mean
    preventDestroy); a higher cutoff suits a long list of choices (the properties of a Vapi DTO).
    """
    if not isinstance(word, str):
        return ""

    def norm(text: str) -> str:
        return text.replace("_", "").replace("-", "").lower()

    by_norm = {norm(c): c for c in choices if isinstance(c, str)}
    close = (
        [norm(word)]
        if norm(word) in by_norm
        else difflib.get_close_matches(norm(word), list(by_norm), n=1, cutoff=cutoff)
    )
    return f" (did you mean {by_norm[close[0]]!r}?)" if close else ""


@dataclass(frozen=True)
class Location:
    """A place in a manifest or config file (line is 1-based; 0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class VapiopsError(Exception):
    """Base of every error vapiops reports as one clear message and exit code 1.

    `where` is a Location or an address such as "assistant/support"; `hint` says what to do.
    """

    def __init__(self, message: str, where: Location | str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ManifestError(VapiopsError):
    """A manifest or vapiops.yaml that cannot be read: bad YAML, bad wrapper keys, bad names."""


class TemplateError(ManifestError):
    """A `${{ }}` template that fails to render: undefined name, bad include, missing secret."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where, the JSON path inside spec, and what is wrong."""

    where: Location | str
    path: str
    message: str

    def __str__(self) -> str:
        inside = f" at {self.path}" if self.path else ""
        return f"{self.where}{inside}: {self.message}"


class ValidationError(VapiopsError):
    """One or more problems found offline; all are reported at once."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        if count == 1:
            super().__init__(str(self.problems[0]))
        else:
            super().__init__(f"{count} problems found:\n" + "\n".join(f"  {p}" for p in self.problems))


class ApiError(VapiopsError):
    """A Vapi API call that failed: carries method, path, status and Vapi's own message."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        where: str | None = None,
        hint: str | None = None,
    ):
        self.method = method
        self.path = path
        self.status = status
        self.api_message = message
        shown = f"{method} {path} failed"
        shown += f" with {status}" if status is not None else ""
        shown += f": {message}" if message else ""
        super().__init__(shown, where=where, hint=hint)


class StateError(VapiopsError):
    """A state file that is unreadable, of an unknown version, or locked by another run."""


class UnsafePlan(VapiopsError):
    """A plan refused by a safety rule (bulk delete, preventDestroy) or a stale saved plan."""

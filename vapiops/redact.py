"""The redaction layer: every secret value of the run, and the scrubbing every output passes through.

`secret()` rendering and the reading of API keys register values here; the CLI wraps stdout and
stderr in `ScrubbingStream` for the whole command, and the client scrubs API error messages, so a
value registered anywhere in the run never reaches a terminal, a PR comment or a log, even when
a server echoes a request body back in its error.

Scrubbing replaces exact text (and its JSON/repr-escaped forms). It cannot recognise a transformed
secret (`secret('X')|lower`): messages about a field whose value came from `secret()` therefore
never quote the value at all (see project/validate.py and project/template.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any, TextIO

MASK = "(sensitive)"
# Shorter values are not scrubbed from free text: replacing every "1" of a message would garble it
# without protecting anything (such a value is masked structurally: plans print (sensitive)).
MIN_SCRUB_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret containing another is replaced whole


def register(value: Any) -> None:
    """Remember a secret value of this run (and its escaped forms) so no output ever shows it."""
    if not isinstance(value, str) or len(value) < MIN_SCRUB_LENGTH:
        return
    forms = {value, json.dumps(value)[1:-1], repr(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    global _ordered
    with _lock:
        new = forms - _values
        if not new:
            return
        _values.update(new)
        _ordered = sorted(_values, key=len, reverse=True)


def registered() -> list[str]:
    with _lock:
        return list(_ordered)


def forget_all() -> None:
    """Start a fresh run (tests run many commands in one process)."""
    global _ordered
    with _lock:
        _values.clear()
        _ordered = []


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """text with every registered secret value (and the extra ones) replaced by (sensitive)."""
    values = registered()
    extra = [e for e in extra if isinstance(e, str) and len(e) >= MIN_SCRUB_LENGTH]
    if extra:
        values = sorted(set(values) | set(extra), key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


class ScrubbingStream:
    """A text stream that scrubs every write before passing it on; everything else is delegated."""

    def __init__(self, inner: TextIO):
        self._inner = inner

    @property
    def inner(self) -> TextIO:
        return self._inner

    def write(self, text: str) -> int:
        self._inner.write(scrub(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

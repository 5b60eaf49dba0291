"""Secrets on plain values: which paths hold them, their hashes for state, and redaction for display."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from vapiops import kinds
from vapiops.model import ABSENT, SENSITIVE
from vapiops.paths import Path, format_path, get, has, with_values

Hasher = Callable[[Any], str]


def is_mask(value: Any) -> bool:
    """Whether a live value is the API hiding a secret: "****", a string ending in "****"
    ("sk-1****"), or a string of asterisks only. Such a value is never written back, never
    reported as drift and never exported (docs/plan.md, Secrets)."""
    # The first character first: a prompt of kilobytes is then never scanned whole.
    return (
        isinstance(value, str)
        and bool(value)
        and (value.endswith("****") or (value[0] == "*" and not value.strip("*")))
    )


def masked_paths(value: Any, at: Path = ()) -> list[Path]:
    """Every path in value holding a mask, in document order."""
    if is_mask(value):
        return [at]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in masked_paths(v, at + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in masked_paths(v, at + (i,))]
    return []


def default_hash(value: Any) -> str:
    """A stable fingerprint of a secret value (the state module supplies a salted one in real runs)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=65536)
def is_secret(path: Path) -> bool:
    """kinds.is_secret_path, cached: the same paths recur in every resource of a kind."""
    return kinds.is_secret_path(path)


def sensitive_paths(value: Any, marked: Iterable[Path] = ()) -> frozenset[Path]:
    """The paths in value holding secrets: the marked ones present in value and every known secret field.

    A secret field whose value is an object (a whole auth plan under a secret key) is one secret.
    """
    found: set[Path] = set()
    _find_secrets(value, (), found)
    for p in marked:
        if has(value, tuple(p)):
            found.add(tuple(p))
    return frozenset(found)


def _find_secrets(value: Any, at: Path, found: set[Path]) -> None:
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for k, v in items:
        p = at + (k,)
        if is_secret(p):
            found.add(p)
        elif isinstance(v, (dict, list)):  # a scalar has nothing below it: no call
            _find_secrets(v, p, found)


def hash_secrets(
    value: dict[str, Any], sensitive: Iterable[Path], hash_secret: Hasher = default_hash
) -> tuple[dict[str, Any], dict[str, str]]:
    """value with every sensitive path's value replaced by its hash, and {dotted path: hash}.

    Only the objects and lists on a sensitive path are copied; the rest is shared with value (value
    itself when nothing is sensitive), which is never mutated: a caller that keeps the result and
    may change it copies it (apply copies what it records in state).
    """
    digests: list[tuple[Path, str]] = []
    hashes: dict[str, str] = {}
    # Outer paths first, so a secret nested in a secret object is hashed as part of its parent.
    for p in sorted(sensitive, key=len):
        if not p or not has(value, p) or any(p[: len(q)] == q for q, _ in digests):
            continue
        digest = hash_secret(get(value, p))
        digests.append((p, digest))
        hashes[format_path(p)] = digest
    return with_values(value, digests), hashes


def secret_values(value: Any, sensitive: Iterable[Path]) -> frozenset[str]:
    """Every non-empty string at or under a sensitive path: scrubbed from anything shown."""
    found: set[str] = set()

    def collect(v: Any) -> None:
        if isinstance(v, str) and v:
            found.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x)
        elif isinstance(v, list):
            for x in v:
                collect(x)

    for p in sensitive:
        if has(value, p):
            collect(get(value, p))
    return frozenset(found)


class Redactor:
    """Replaces secrets in a value about to be shown by SENSITIVE.

    A value is secret when its path is a known secret field, a path marked sensitive, a path whose
    hash the state holds, or when it contains the text of a desired secret (which also catches a
    secret that sits at another position of a reordered list).
    """

    def __init__(
        self, sensitive: Iterable[Path] = (), secret_dotted: Iterable[str] = (), values: Iterable[str] = ()
    ):
        self.paths = frozenset(tuple(p) for p in sensitive)
        self.dotted = frozenset(secret_dotted)
        self.values = tuple(v for v in values if v)

    def is_secret_at(self, path: Path) -> bool:
        return bool(path) and (path in self.paths or is_secret(path) or format_path(path) in self.dotted)

    def __call__(self, value: Any, at: Path) -> Any:
        if value is ABSENT:
            return value
        if self.is_secret_at(at):
            return SENSITIVE
        if isinstance(value, dict):
            return {k: self(v, at + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, at + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str) and any(s in value for s in self.values):
            return SENSITIVE
        return value

"""Paths into JSON-like values: parse, format, match against patterns, get, set and delete.

A concrete path is a tuple of dict keys (str) and list indexes (int): ("model", "messages", 0).
It is shown dotted with list indexes, e.g. `model.messages[0].content`.
A pattern is written the same way with wildcards: `[]` any index, `*` any key, `**` any depth
(zero or more steps), e.g. `hooks[].do[].toolId`, `**.server.headers.*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]
ANY_INDEX = "[]"
ANY_KEY = "*"
ANY_DEPTH = "**"

_TOKEN = re.compile(r"\[(\d*)\]|([^.\[\]]+)")


def format_path(path: Path) -> str:
    """("model", "messages", 0, "content") -> "model.messages[0].content"."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def parse_path(text: str) -> Path:
    """Parse a dotted path or pattern; `[3]` becomes 3, `[]` stays the wildcard token "[]"."""
    steps: list[str | int] = []
    for index, key in _TOKEN.findall(text):
        if key:
            steps.append(key)
        elif index == "":
            steps.append(ANY_INDEX)
        else:
            steps.append(int(index))
    return tuple(steps)


def matches(pattern: Path | str, path: Path) -> bool:
    """True when the concrete path is matched entirely by the pattern."""
    pat = parse_path(pattern) if isinstance(pattern, str) else pattern
    return _match(pat, path)


def _match(pat: Path, path: Path) -> bool:
    if not pat:
        return not path
    head, rest = pat[0], pat[1:]
    if head == ANY_DEPTH:
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    if head == ANY_INDEX:
        ok = isinstance(step, int)
    elif head == ANY_KEY:
        ok = isinstance(step, str)
    else:
        ok = head == step
    return ok and _match(rest, path[1:])


def find(value: Any, pattern: Path | str, _at: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Yield (concrete path, value) for every place in `value` that the pattern matches."""
    pat = parse_path(pattern) if isinstance(pattern, str) else pattern
    if not pat:
        yield _at, value
        return
    head, rest = pat[0], pat[1:]
    if head == ANY_DEPTH:
        yield from find(value, rest, _at)
        for step, child in _children(value):
            yield from find(child, pat, _at + (step,))
        return
    if head == ANY_INDEX:
        if isinstance(value, list):
            for i, child in enumerate(value):
                yield from find(child, rest, _at + (i,))
    elif head == ANY_KEY:
        if isinstance(value, dict):
            for key, child in value.items():
                yield from find(child, rest, _at + (key,))
    elif isinstance(head, int):
        if isinstance(value, list) and 0 <= head < len(value):
            yield from find(value[head], rest, _at + (head,))
    elif isinstance(value, dict) and head in value:
        yield from find(value[head], rest, _at + (head,))


def _children(value: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from enumerate(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-like value (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


_MISSING = object()


def get(value: Any, path: Path, default: Any = None) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not 0 <= step < len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return default
            value = value[step]
    return value


def has(value: Any, path: Path) -> bool:
    return get(value, path, _MISSING) is not _MISSING


def set_(value: Any, path: Path, new: Any) -> None:
    """Set `new` at path, creating intermediate dicts; list indexes must exist."""
    for step in path[:-1]:
        if isinstance(step, int):
            value = value[step]
        else:
            value = value.setdefault(step, {})
    value[path[-1]] = new


def delete(value: Any, path: Path) -> None:
    """Remove the key or list element at path if it is there."""
    parent = get(value, path[:-1])
    last = path[-1]
    if isinstance(last, int) and isinstance(parent, list) and 0 <= last < len(parent):
        del parent[last]
    elif isinstance(parent, dict):
        parent.pop(last, None)
